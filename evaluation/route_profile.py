"""What the ``/search`` route costs beyond ``SearchEngine.search``, in-process: the route's function
with the JSON it returns, against the engine's search on the same questions, query vectors cached,
``k=10`` with highlighting; then cProfile over the route.

    python -m housing_kb.evaluation.route_profile --index data/index
    python -m housing_kb.evaluation.route_profile --index /tmp/synthetic-300k --questions 30

"First time" is each question's first pass through the route (tag evidence not yet kept for its
hits); "seen before" is the second pass.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from housing_kb.config import REPO_ROOT, Settings
from housing_kb.evaluation.eval_retrieval import percentile


def _timed(questions: Sequence[str], call: Callable[[str], object]) -> tuple[float, float]:
    """(p50, p95) ms of ``call`` over the questions, one call each."""
    ms = []
    for q in questions:
        t0 = time.perf_counter()
        call(q)
        ms.append(1000 * (time.perf_counter() - t0))
    return percentile(ms, 50), percentile(ms, 95)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m housing_kb.evaluation.route_profile", description=__doc__)
    p.add_argument("--index", type=Path, help="the index (default: settings / HOUSING_KB_INDEX)")
    p.add_argument("--questions", type=int, default=30, help="dev questions to use (default 30)")
    p.add_argument("--top", type=int, default=15, help="cProfile lines to print")
    args = p.parse_args(argv)

    from housing_kb.api.routers.search import run_search
    from housing_kb.api.schemas import SearchRequest
    from housing_kb.index.query.engine import SearchEngine

    settings = Settings.from_env()
    if args.index:
        settings = settings.with_(index_dir=args.index)
    engine = SearchEngine.open(settings)
    engine.warm_up()
    dev = REPO_ROOT.parent / "shared" / "eval" / "questions_dev.jsonl"
    lines = dev.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["query"] for line in lines if line.strip()][: args.questions]
    for q in questions:  # the query vectors, cached as a server's would be
        engine.pinned().search(q, k=10, highlight=True)

    def route(q: str) -> object:
        return run_search(SearchRequest(q=q, k=10, highlight=True), engine.pinned()).model_dump_json()

    first, again = _timed(questions, route), _timed(questions, route)
    search = _timed(questions, lambda q: engine.pinned().search(q, k=10, highlight=True))
    print(
        f"index {settings.index_dir}: {engine.view.table.ids.size} passages, {len(questions)} dev questions"
    )
    print("p50 / p95 ms")
    print(f"  route + JSON, first time:  {first[0]:.1f} / {first[1]:.1f}")
    print(f"  route + JSON, seen before: {again[0]:.1f} / {again[1]:.1f}")
    print(f"  SearchEngine.search:       {search[0]:.1f} / {search[1]:.1f}")
    profile = cProfile.Profile()
    profile.enable()
    for q in questions:
        route(q)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
