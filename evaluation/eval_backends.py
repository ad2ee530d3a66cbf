"""Parity of the Milvus backend with the embedded one, on the corpus index, in one run.

    python -m housing_kb.evaluation.eval_backends [--index data/index] [--milvus var/parity-milvus.db]

1. Copies the index into a fresh milvus-lite file with ``migrate`` (no re-embedding), timed.
2. For every dev question, and for each filter in ``FILTERS``, runs each channel (e5, USE, BM25) on
   both backends through the protocols (``index/protocols.py``): the FAISS and bm25s channels get
   the filter as an id set, Milvus as an expression. It counts the questions whose top 10 are the
   same passages in the same order, and the mean overlap of the top 10.
3. Hybrid retrieval on each backend: the three channels fused by the engine's reciprocal-rank
   fusion (``index/query/fusion.py``), judged against the gold quotes with the metrics of
   ``eval_retrieval``; and the full engine (query translation, per-language lists, place intent,
   the relevance model) on the embedded channels and on Milvus's: every restriction the engine
   makes (the filter, each language's list, a named place) reaches Milvus as an expression; on
   Milvus the hits' documents and passages are read from its collections too (``MilvusPassageStore``).
4. The full engine's ``search`` (``k=10``, query vectors cached, one call per question, after the
   runs above) timed on the embedded backend, with Milvus's channels and the index's records, and
   with Milvus's channels and records: what each part of the move costs a request.

The dev questions are a test set here: nothing is tuned on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from housing_kb.config import Settings
from housing_kb.evaluation.eval_retrieval import (
    DEPTH,
    default_questions_path,
    engine_ranker,
    load_questions,
    percentile,
    run_system,
)
from housing_kb.index.protocols import LexicalIndex, VectorIndex
from housing_kb.index.query.fusion import fuse

FILTERS: dict[str, dict[str, Any]] = {
    "none (default passage types)": {},
    "region africa": {"regions": ["africa"]},
    "language es or pt": {"languages": ["es", "pt"]},
    "law or national strategy, from 2010": {
        "document_types": ["law", "national_strategy"],
        "year_from": 2010,
    },
    "component security of tenure": {"components": ["security_of_tenure"]},
    "country KEN, every passage type": {"countries": ["KEN"], "kinds": ["all"]},
}
POOL = 100


def _channels(engine: Any, index: Any) -> dict[str, tuple[VectorIndex | LexicalIndex, Any]]:
    """(embedded, Milvus) per channel name."""
    from housing_kb.index.adapters.faiss_vectors import FaissChannel
    from housing_kb.index.lexical.bm25 import LexicalChannel

    store, table = engine.store, engine.filter_table
    e5, basis = store.dense_channel(None)
    out: dict[str, Any] = {"e5": (FaissChannel(e5, table, basis), index.vectors("e5"))}
    if engine.secondary is not None:
        use, basis2 = store.dense_channel(store.secondary_model_id)
        out["use"] = (FaissChannel(use, table, basis2), index.vectors("use"))
    out["bm25"] = (LexicalChannel(engine.lexical, table), index.lexical())
    return out


def _search(channel: Any, name: str, inputs: dict[str, Any], k: int, filters: Any) -> list[tuple[int, float]]:
    if name == "bm25":
        return channel.search(inputs["query"], k, filters=filters, language=inputs["language"])
    return channel.search(inputs[name], k, filters)


def _inputs(engine: Any, query: str) -> dict[str, Any]:
    from housing_kb.index.lexical.analysis import detect_query_language

    out = {"query": query, "language": detect_query_language(query), "e5": engine.query_vector(query)}
    if engine.secondary is not None:
        out["use"] = engine.secondary.embed_queries([query])[0]
    return out


def _hybrid_ranker(
    engine: Any, channels: dict[str, Any], side: int, inputs_of: Callable[[str], dict[str, Any]]
) -> Callable[[str], list[tuple[str, str, str | None]]]:
    from housing_kb.index.query.filters import Filters

    def rank(query: str) -> list[tuple[str, str, str | None]]:
        inputs = inputs_of(query)
        lists = {name: _search(pair[side], name, inputs, POOL, Filters()) for name, pair in channels.items()}
        fused = fuse(lists, "rrf", {})[:DEPTH]
        rows = engine.store.passages([pid for pid, _ in fused])
        out = []
        for pid, _ in fused:
            row = rows[pid]
            doc = engine.store.document(row.doc_id)
            out.append((doc.path if doc else "", row.text, row.language))
        return out

    return rank


def _search_ms(engine: Any, questions: Sequence[dict[str, Any]]) -> list[float]:
    """Milliseconds of one hybrid ``search`` per question (its query vector already cached)."""
    out = []
    for q in questions:
        started = time.perf_counter()
        engine.search(str(q["query"]), k=10, mode="hybrid")
        out.append(1000 * (time.perf_counter() - started))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from housing_kb.index.adapters.milvus import MilvusIndex, MilvusTarget, migrate
    from housing_kb.index.adapters.milvus_store import MilvusPassageStore
    from housing_kb.index.query.engine import SearchEngine
    from housing_kb.index.query.filters import Filters

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--index", type=Path, help="index directory (default: the configured one)")
    p.add_argument("--milvus", type=Path, default=Path("var/parity-milvus.db"), help="milvus-lite file")
    p.add_argument("--questions", type=Path, help="questions JSONL (default: the dev set)")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    if args.index:
        settings = settings.with_(index_dir=args.index)
    questions = load_questions(args.questions or default_questions_path(settings))
    engine = SearchEngine.open(settings)
    store = engine.store
    args.milvus.parent.mkdir(parents=True, exist_ok=True)
    if args.milvus.is_dir():  # milvus-lite keeps its data in a directory of that name
        shutil.rmtree(args.milvus)
    args.milvus.unlink(missing_ok=True)
    target = MilvusTarget(uri=str(args.milvus), prefix="parity")
    started = time.perf_counter()
    written = migrate(store, engine.filter_table, engine.lexical, target)
    migrate_s = time.perf_counter() - started
    index = MilvusIndex.connect(target)
    channels = _channels(engine, index)
    print(f"migrated {written} in {migrate_s:.1f} s", file=sys.stderr, flush=True)

    cache: dict[str, dict[str, Any]] = {}

    def inputs_of(query: str) -> dict[str, Any]:
        if query not in cache:
            cache[query] = _inputs(engine, query)
        return cache[query]

    same: dict[tuple[str, str], list[bool]] = {}
    overlap: dict[tuple[str, str], list[float]] = {}
    for n, q in enumerate(questions, 1):
        inputs = inputs_of(str(q["query"]))
        for label, spec in FILTERS.items():
            filters = Filters(**spec)
            for name, (embedded, distributed) in channels.items():
                want = [pid for pid, _ in _search(embedded, name, inputs, 10, filters)]
                got = [pid for pid, _ in _search(distributed, name, inputs, 10, filters)]
                same.setdefault((label, name), []).append(want == got)
                overlap.setdefault((label, name), []).append(
                    len(set(want) & set(got)) / len(want) if want else float(not got)
                )
        if n % 20 == 0:
            print(f"  channels: {n}/{len(questions)} questions", file=sys.stderr, flush=True)

    runs = [
        run_system(
            "hybrid (RRF of the channels), embedded",
            _hybrid_ranker(engine, channels, 0, inputs_of),
            questions,
        ),
        run_system(
            "hybrid (RRF of the channels), Milvus", _hybrid_ranker(engine, channels, 1, inputs_of), questions
        ),
        run_system("full engine, embedded", engine_ranker(engine, "hybrid"), questions),
    ]
    channels_only = engine.pinned()  # one view for the run: the index does not change meanwhile
    channels_only._view = dataclasses.replace(channels_only.view, channels=index.search_channels())
    on_milvus = engine.pinned()
    on_milvus._view = dataclasses.replace(channels_only.view, passages=MilvusPassageStore(index))
    runs.append(
        run_system(
            "full engine, channels and records on Milvus", engine_ranker(on_milvus, "hybrid"), questions
        )
    )
    timed = {
        "embedded": engine.pinned(),
        "channels on Milvus, records from the index": channels_only,
        "channels and records on Milvus": on_milvus,
    }
    latency = {name: _search_ms(variant, questions) for name, variant in timed.items()}
    stats = store.stats()
    print(
        f"\n### Backend parity (`python -m housing_kb.evaluation.eval_backends`, {date.today().isoformat()})\n"
    )
    print(
        f"Index: {stats['documents']} documents, {stats['passages']} passages; {len(questions)} dev questions; "
        f"Milvus: milvus-lite (embedded), FLAT dense and SPARSE_INVERTED_INDEX collections; migrated "
        f"{', '.join(f'{k} {v}' for k, v in written.items())} rows in {migrate_s:.1f} s without re-embedding.\n"
    )
    print("| filter | channel | same top 10, same order | mean top-10 overlap |\n|---|---|---:|---:|")
    for (label, name), flags in same.items():
        share = sum(flags) / len(flags)
        print(
            f"| {label} | {name} | {sum(flags)}/{len(flags)} ({share:.0%}) | {statistics.mean(overlap[label, name]):.3f} |"
        )
    print("\n| system | nDCG@10 | recall@10 | MRR@10 |\n|---|---:|---:|---:|")
    for run in runs:
        s = run.summary().get((), {})
        print(
            f"| {run.name} | {s.get('ndcg@10', 0):.3f} | {s.get('recall@10', 0):.3f} | {s.get('mrr@10', 0):.3f} |"
        )
    print("\n| full engine `search`, k=10 | p50 ms | p95 ms |\n|---|---:|---:|")
    for name, ms in latency.items():
        print(f"| {name} | {percentile(ms, 50):.1f} | {percentile(ms, 95):.1f} |")
    print(
        f"\nMilvus minus embedded, nDCG@10: channel fusion {runs[1].overall() - runs[0].overall():+.4f}, "
        f"full engine {runs[3].overall() - runs[2].overall():+.4f}."
    )
    index.client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
