"""Search latency over HTTP: a real uvicorn server on loopback, concurrent clients, p50 / p95 / QPS.

For each index (the real corpus index, and a synthetic one of ``--synthetic`` passages, built by
:mod:`housing_kb.evaluation.synthetic_index`) the bench starts ``housing-kb serve`` on 127.0.0.1 at a
free port in a subprocess, waits for ``/health``, then sends ``GET /search`` requests from
``--clients`` threads (one httpx client each) until ``--requests`` have been answered
(:mod:`housing_kb.evaluation.http_load`), per scenario: hybrid, dense and lexical mode, without and
with a region filter (API defaults otherwise: k=10, highlighting on, no facets). Latency is measured by
the client around each request. Queries are the dev questions, cycled:

- ``unique``: each request's query gets a distinct suffix `` (n)``, so the server embeds every
  query with the real e5 model (its query-vector cache never hits). The headline figure.
- ``repeated``: the plain questions, cycled, so after one pass the query vectors are cached.

In both, the server's cache of word translations is off (``HOUSING_KB_TRANSLATION_CACHE=0``), so
every hybrid request translates its question's words afresh, as a question of new words would.

The server's RSS (and peak RSS) is read after each index's scenarios. When a p95 misses the target
(or with ``--profile``) the search is profiled in-process, stage by stage and with cProfile
(:mod:`housing_kb.evaluation.search_profile`).

    python -m housing_kb.evaluation.bench_search --synthetic 100000 --clients 4 --requests 200

>>> percentile([5.0, 1.0, 3.0], 50)
3.0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from housing_kb.config import Settings
from housing_kb.evaluation.eval_retrieval import (
    EvalError,
    default_questions_path,
    load_questions,
    percentile,
    render_table,
)
from housing_kb.evaluation.http_load import BenchError, LoadResult, Scenario, rss_bytes, run_load, serve
from housing_kb.evaluation.search_profile import profile_search
from housing_kb.evaluation.synthetic_index import _second_embedder, build_synthetic_index

TARGET_P95_MS = 50.0
MODES = ("hybrid", "dense", "lexical")


def pick_region_filter(index_dir: Path) -> tuple[str, int, int]:
    """The region whose passages are closest to a fifth of the index: a filter that really filters.

    Returns (region, passages in it, all passages)."""
    from housing_kb.index.query.filters import REGIONS, FilterTable
    from housing_kb.index.store.index_store import IndexStore

    table = FilterTable.from_store(IndexStore.open(index_dir, readonly=True))
    total = len(table)
    counts = {r: int(((table.region_mask >> i) & 1).sum()) for i, r in enumerate(REGIONS)}
    region = min((r for r in counts if counts[r]), key=lambda r: abs(counts[r] - total / 5))
    return region, counts[region], total


@dataclass
class IndexBench:
    name: str
    index_dir: Path
    passages: int
    filter_desc: str
    startup_seconds: float
    rss_after_load: int
    rss_end: int
    rss_peak: int
    results: list[LoadResult] = field(default_factory=list)


def bench_index(
    name: str,
    index_dir: Path,
    queries: Sequence[str],
    clients: int,
    requests: int,
    threads: int | None = None,
) -> IndexBench:
    """Every scenario against one server on one index."""
    region, n_region, total = pick_region_filter(index_dir)
    filter_params = {"region": region}
    print(f"[{name}] starting server on {index_dir} ...", file=sys.stderr, flush=True)
    with serve(index_dir, threads=threads) as server:
        rss_load, _ = rss_bytes(server.process.pid)
        bench = IndexBench(
            name,
            index_dir,
            total,
            f"region={region} ({n_region} of {total} passages)",
            server.startup_seconds,
            rss_load,
            0,
            0,
        )
        # Warm-up (not counted): first requests pay for lazy imports and allocations.
        run_load(
            server.base_url,
            queries,
            Scenario("hybrid", True, True),
            filter_params,
            clients=clients,
            requests=8,
            offset=10**6,
        )
        offset = 0
        for unique in (True, False):
            if not unique:
                # One uncounted pass so "repeated" measures cached query vectors from its first request.
                warm = Scenario("dense", False, False)
                run_load(
                    server.base_url, queries, warm, filter_params, clients=clients, requests=len(queries)
                )
            for mode in MODES:
                for filtered in (False, True):
                    scenario = Scenario(mode, filtered, unique)
                    result = run_load(
                        server.base_url,
                        queries,
                        scenario,
                        filter_params,
                        clients=clients,
                        requests=requests,
                        offset=offset,
                    )
                    offset += requests
                    bench.results.append(result)
                    print(
                        f"[{name}] {scenario.label}: p50 {statistics.median(result.latencies_ms or [math.nan]):.1f} ms, "
                        f"p95 {percentile(result.latencies_ms, 95):.1f} ms, {result.qps:.1f} QPS, {result.errors} errors",
                        file=sys.stderr,
                        flush=True,
                    )
        bench.rss_end, bench.rss_peak = rss_bytes(server.process.pid)
    return bench


# ---------------------------------------------------------------------------------- report


def report(benches: Sequence[IndexBench], clients: int, markdown: bool, threads: int | None = None) -> str:
    headers = ["index", "mode", "filter", "queries", "n", "p50 ms", "p95 ms", "QPS", "errors", "p95 target"]
    rows = []
    for b in benches:
        for r in b.results:
            p95 = percentile(r.latencies_ms, 95)
            rows.append(
                [
                    f"{b.name} ({b.passages} passages)",
                    r.scenario.mode,
                    "region" if r.scenario.filtered else "none",
                    "unique" if r.scenario.unique else "repeated",
                    str(len(r.latencies_ms)),
                    f"{statistics.median(r.latencies_ms or [math.nan]):.1f}",
                    f"{p95:.1f}",
                    f"{r.qps:.1f}",
                    str(r.errors),
                    "PASS" if p95 <= TARGET_P95_MS else "FAIL",
                ]
            )
    parts = [render_table(headers, rows, markdown), ""]
    mem_rows = [
        [
            b.name,
            str(b.passages),
            b.filter_desc,
            f"{b.startup_seconds:.1f}",
            f"{b.rss_after_load / 2**20:.0f}",
            f"{b.rss_end / 2**20:.0f}",
            f"{b.rss_peak / 2**20:.0f}",
        ]
        for b in benches
    ]
    parts.append(
        render_table(
            [
                "index",
                "passages",
                "filter used",
                "startup s",
                "RSS loaded MiB",
                "RSS end MiB",
                "peak RSS MiB",
            ],
            mem_rows,
            markdown,
        )
    )
    parts.append(
        f"\nMethod: uvicorn (1 worker) on 127.0.0.1, {clients} client threads with httpx on the same 2-core machine, "
        "GET /search k=10 with highlighting, latency measured by the client per request; server OMP_NUM_THREADS="
        f"{threads or os.environ.get('OMP_NUM_THREADS', 'unset (all cores)')}."
    )
    return "\n".join(parts)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m housing_kb.evaluation.bench_search",
        description="Latency of /search over HTTP on loopback, at the real index and a synthetic large one.",
    )
    p.add_argument("--index", type=Path, help="the real index (default: settings / HOUSING_KB_INDEX)")
    p.add_argument("--questions", type=Path, help="queries to cycle (default: the dev questions)")
    p.add_argument("--synthetic", type=int, default=100_000, help="passages in the synthetic index (0: skip)")
    p.add_argument(
        "--synthetic-dir", type=Path, help="keep (and reuse) the synthetic index here, not in a temp dir"
    )
    p.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (default 4)")
    p.add_argument("--requests", type=int, default=200, help="requests per scenario (default 200)")
    p.add_argument(
        "--server-threads", type=int, help="OMP_NUM_THREADS for the server (default: inherit the environment)"
    )
    p.add_argument("--skip-real", action="store_true", help="only the synthetic index")
    p.add_argument("--profile", action="store_true", help="profile even when the target is met")
    p.add_argument("--markdown", action="store_true", help="markdown tables")
    p.add_argument("--json", type=Path, dest="json_out", help="write the figures here")
    args = p.parse_args(argv)
    if args.clients < 1 or args.clients > 64:
        p.error(f"--clients must be between 1 and 64, got {args.clients}")
    if args.requests < 1 or args.requests > 100_000:
        p.error(f"--requests must be between 1 and 100000, got {args.requests}")
    if args.synthetic < 0:
        p.error(f"--synthetic must be >= 0, got {args.synthetic}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    settings = Settings.from_env()
    if args.index:
        settings = settings.with_(index_dir=args.index)
    try:
        questions = load_questions(args.questions or default_questions_path(settings))
        if not (settings.index_dir / "index.json").exists():
            raise BenchError(
                f"no index at {settings.index_dir} (build one with `housing-kb ingest`, or pass --index)"
            )
        return _run(args, settings, [str(q["query"]) for q in questions])
    except (EvalError, BenchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: Settings, queries: list[str]) -> int:
    benches: list[IndexBench] = []
    if not args.skip_real:
        benches.append(
            bench_index(
                "corpus", settings.index_dir, queries, args.clients, args.requests, args.server_threads
            )
        )
    tmp: str | None = None
    if args.synthetic:
        if args.synthetic_dir:
            synth_dir = args.synthetic_dir
        else:
            tmp = tempfile.mkdtemp(prefix="hkb-synthetic-")
            synth_dir = Path(tmp) / "index"
        try:
            build_synthetic_index(
                settings.index_dir, synth_dir, args.synthetic, embedder2=_second_embedder(settings)
            )
            benches.append(
                bench_index("synthetic", synth_dir, queries, args.clients, args.requests, args.server_threads)
            )
            print("\n## /search latency over HTTP\n")
            print(report(benches, args.clients, args.markdown, args.server_threads))
            worst = max(percentile(r.latencies_ms, 95) for r in benches[-1].results)
            if args.profile or worst > TARGET_P95_MS:
                region = benches[-1].filter_desc.split()[0].split("=", 1)[1]
                print(f"\n## Profile at {benches[-1].passages} passages (worst p95 {worst:.1f} ms)\n")
                print(profile_search(synth_dir, queries, region))
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("\n## /search latency over HTTP\n")
        print(report(benches, args.clients, args.markdown, args.server_threads))
    if args.json_out:
        _write_json(args.json_out, benches)
    return 0


def _write_json(path: Path, benches: Sequence[IndexBench]) -> None:
    payload = []
    for b in benches:
        payload.append(
            {
                "name": b.name,
                "index": str(b.index_dir),
                "passages": b.passages,
                "filter": b.filter_desc,
                "startup_seconds": b.startup_seconds,
                "rss_after_load": b.rss_after_load,
                "rss_end": b.rss_end,
                "rss_peak": b.rss_peak,
                "scenarios": [
                    {
                        "mode": r.scenario.mode,
                        "filtered": r.scenario.filtered,
                        "unique_queries": r.scenario.unique,
                        "n": len(r.latencies_ms),
                        "p50_ms": statistics.median(r.latencies_ms) if r.latencies_ms else None,
                        "p95_ms": percentile(r.latencies_ms, 95),
                        "qps": r.qps,
                        "errors": r.errors,
                        "mean_hits": r.hits / len(r.latencies_ms) if r.latencies_ms else 0,
                    }
                    for r in b.results
                ],
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {path}")


__all__ = ["IndexBench", "bench_index", "main", "pick_region_filter", "report"]

if __name__ == "__main__":
    raise SystemExit(main())
