"""Dense search at scale on one machine: FAISS index types at 1M passages, milvus-lite at 100k.

The passages are synthetic, made from the real index's stored e5 vectors (``data/index``, read
through :class:`IndexStore`): copy 0 of each real passage is its vector as stored, every further
copy is that vector plus Gaussian noise (sigma 0.02 per dimension), re-normalised, the recipe of
``synthetic_index.noisy_unit`` (cosine to the original ~0.93 at dim 384), vectorised. Unlike
synthetic_index the noise is added to the stored vector, after the channel's language-neutral
projection. Each synthetic passage gets a random country: ``AAA`` for ~10 % of them, ``BBB`` for
~1 %, one of 30 others for the rest, so a country filter selects ~10 % or ~1 %.

Queries: the dev questions (``../shared/eval/questions_dev.jsonl``) embedded by the server's query
embedder and projected like the channel's passages, topped up to ``--queries`` with real passage
vectors held back from the synthetic copies (none of their copies is indexed), perturbed by the same
noise. Every search is one query at a time, k=10, with FAISS on one OpenMP thread (as the server runs
it); builds use every core. Recall@10 is against exact search over the same passages and filter.

Measured per index: build time, index size (FAISS: serialised bytes; Milvus: the growth of the
milvus-lite process), process RSS after the build (psutil; this process plus milvus-lite's), latency
p50/p95 of unfiltered and filtered (10 %, 1 %) searches, recall@10 for each.

- Flat and HNSW are the project's :class:`FaissVectorIndex` (``index/adapters/faiss_vectors.py``),
  searched by its ``search(q, k, allowed_ids)``: HNSW is M=32, efConstruction=80, efSearch=256, and a
  filtered HNSW search is an exact scan of the HNSW's flat storage under a bitmap.
- IVF-PQ is raw FAISS (the adapter does not offer it): nlist trained on a 100k sample, PQ 48 or 96
  bytes, nprobe 16/32/64, and PQ48 with an exact re-rank (``IndexRefineFlat``); a filter is an
  ``IDSelectorBitmap`` in ``SearchParametersIVF``, built from the allowed ids inside the timed call.
- Milvus: milvus-lite collections (FLAT, HNSW, IVF_FLAT) with the project's field types; a filter is
  ``array_contains_any(countries, [...])``, as ``index/adapters/milvus.py`` pushes a country down.

HNSW at 1M takes several minutes to build on 2 cores, so by default it is built on a ``--hnsw-passages``
slice and its 1M build time is extrapolated (n log n), marked as such in the table.

    python -m housing_kb.evaluation.bench_scale --passages 1000000 --milvus-passages 100000 --markdown
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss  # noqa: TID251 -- the bench compares raw FAISS index types the adapter does not offer
import numpy as np
import psutil
from tqdm import tqdm

from housing_kb.config import Settings
from housing_kb.evaluation.eval_retrieval import default_questions_path, load_questions, percentile
from housing_kb.index.adapters.faiss_vectors import (
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    FaissVectorIndex,
)
from housing_kb.index.dense.language_neutral import project_out
from housing_kb.index.store.index_store import IndexStore

K = 10
#: A hit scoring within this of the exact 10th score counts for the tie-tolerant recall: the synthetic
#: copies of one passage are near-ties, and which of them fills the exact top 10 is arbitrary.
TIE_EPS = 1e-3
SIGMA = 0.02  # synthetic_index.noisy_unit's default
FILTERS = {"10 %": "AAA", "1 %": "BBB"}
OTHER_COUNTRIES = [f"C{i:02d}" for i in range(30)]
BUILD_THREADS = os.cpu_count() or 1


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb(pid: int | None = None) -> float:
    """RSS of this process (or ``pid``) and its children, MiB."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a child that just exited
            total += child.memory_info().rss
    return total / 2**20


# ---------------------------------------------------------------------------------- data


@dataclass
class Corpus:
    """Synthetic passages: ids 0..n-1, unit vectors, a country each, and the filters' id sets."""

    vectors: np.ndarray
    countries: np.ndarray
    allowed: dict[str, np.ndarray]  # filter label -> sorted allowed ids

    @property
    def ids(self) -> np.ndarray:
        return np.arange(len(self.vectors), dtype=np.int64)


def wait_for_index(index_dir: Path, ingest_log: Path, timeout: float = 3600.0) -> None:
    """Block until the ingest has written ``index.json`` and its log says it finished."""
    started = time.monotonic()
    while True:
        text = ingest_log.read_text(errors="replace") if ingest_log.exists() else ""
        done = not ingest_log.exists() or "Run report:" in text
        if done and (index_dir / "index.json").exists():
            return
        if time.monotonic() - started > timeout:
            raise SystemExit(f"the index at {index_dir} is not ready after {timeout:.0f} s")
        log(f"waiting for the ingest ({ingest_log}) to finish ...")
        time.sleep(30)


def load_real(index_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(stored e5 vectors, the channel's projection basis) of the real index."""
    store = IndexStore.open(index_dir, readonly=True)
    faiss_index, basis = store.dense_channel(None)
    _, vectors = faiss_index.vectors()
    return np.ascontiguousarray(vectors, dtype=np.float32), basis


def noisy(vectors: np.ndarray, rng: np.random.Generator, sigma: float = SIGMA) -> np.ndarray:
    """Each row plus Gaussian noise, re-normalised (synthetic_index.noisy_unit, vectorised)."""
    v = vectors + rng.normal(0.0, sigma, size=vectors.shape).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float32, copy=False)


def make_corpus(source: np.ndarray, n: int, seed: int, sigma: float = SIGMA) -> Corpus:
    """``n`` synthetic passages from ``source``: copy 0 as is, further copies noisy, with countries."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, source.shape[1]), dtype=np.float32)
    with tqdm(total=n, desc=f"synthetic {n:,}", unit="vec", file=sys.stderr) as bar:
        for copy, start in enumerate(range(0, n, len(source))):
            stop = min(n, start + len(source))
            block = source[: stop - start]
            out[start:stop] = block if copy == 0 else noisy(block, rng, sigma)
            bar.update(stop - start)
    u = rng.random(n)
    countries = rng.choice(np.array(OTHER_COUNTRIES), size=n)
    countries[u < 0.10] = "AAA"
    countries[(u >= 0.10) & (u < 0.11)] = "BBB"
    allowed = {label: np.flatnonzero(countries == code).astype(np.int64) for label, code in FILTERS.items()}
    return Corpus(out, countries, allowed)


def make_queries(
    settings: Settings, real: np.ndarray, basis: np.ndarray, count: int, seed: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """(query vectors, the real passages left for the corpus, a description of the queries)."""
    rng = np.random.default_rng(seed)
    parts, notes = [], []
    try:
        from housing_kb.models.registry import load_query_embedder

        questions = [q["query"] for q in load_questions(default_questions_path(settings))][:count]
        embedder = load_query_embedder(settings)
        dev = np.asarray(embedder.embed_queries(questions), dtype=np.float32)
        parts.append(project_out(dev, basis) if basis.size else dev)
        notes.append(f"{len(questions)} dev questions embedded by the server's query embedder")
    except Exception as exc:  # the bench still runs without the model, on held-back passages
        log(f"dev questions not embedded ({type(exc).__name__}: {exc}); using held-back passages only")
    held = max(0, count - sum(len(p) for p in parts))
    order = rng.permutation(len(real))
    if held:
        parts.append(noisy(real[order[:held]], rng))
        notes.append(f"{held} real passage vectors held back from the corpus, noise sigma {SIGMA}")
    keep = np.sort(order[held:])
    return np.ascontiguousarray(np.vstack(parts)), real[keep], " + ".join(notes)


# ---------------------------------------------------------------------------------- measuring


@dataclass
class Result:
    backend: str
    index: str
    n: int
    build_s: float
    index_mb: float
    rss_mb: float
    latency: dict[str, tuple[float, float]] = field(default_factory=dict)  # filter -> (p50, p95) ms
    recall: dict[str, float] = field(default_factory=dict)  # filter -> recall@10
    tie_recall: dict[str, float] = field(default_factory=dict)  # filter -> recall@10 within TIE_EPS
    note: str = ""


Search = Callable[[np.ndarray, np.ndarray | None], list[int]]


def exact_top(corpus: Corpus, queries: np.ndarray) -> dict[str, np.ndarray]:
    """Exact top-k ids per query, unfiltered and under each filter (numpy, all cores)."""
    out: dict[str, np.ndarray] = {}
    for label, allowed in [("none", None), *corpus.allowed.items()]:
        rows = corpus.vectors if allowed is None else corpus.vectors[allowed]
        tops = []
        for start in tqdm(range(0, len(queries), 50), desc=f"exact top-{K} ({label})", file=sys.stderr):
            scores = queries[start : start + 50] @ rows.T
            part = np.argpartition(-scores, K, axis=1)[:, :K]
            ordered = np.take_along_axis(part, np.argsort(-np.take_along_axis(scores, part, 1), 1), 1)
            tops.append(ordered if allowed is None else allowed[ordered])
        out[label] = np.vstack(tops)
    return out


def measure_search(
    result: Result, search: Search, corpus: Corpus, queries: np.ndarray, truth: dict[str, np.ndarray]
) -> Result:
    """Single-query latency p50/p95 and recall@10, unfiltered and under each filter."""
    for label, allowed in [("none", None), *corpus.allowed.items()]:
        for q in queries[:5]:  # warm-up
            search(q, allowed)
        times, hits, near = [], 0, 0
        for i, q in enumerate(
            tqdm(queries, desc=f"  {result.index} ({label})", file=sys.stderr, leave=False)
        ):
            t0 = time.perf_counter()
            found = search(q, allowed)
            times.append(1000 * (time.perf_counter() - t0))
            hits += len(set(found[:K]) & set(truth[label][i].tolist()))
            tenth = float(corpus.vectors[truth[label][i][-1]] @ q)
            if found:
                near += int(np.sum(corpus.vectors[np.asarray(found[:K])] @ q >= tenth - TIE_EPS))
        result.latency[label] = (percentile(times, 50), percentile(times, 95))
        result.recall[label] = hits / (K * len(queries))
        result.tie_recall[label] = near / (K * len(queries))
    log(
        f"{result.index} @ {result.n:,}: "
        + ", ".join(f"{k} {v[0]:.2f}/{v[1]:.2f} ms" for k, v in result.latency.items())
    )
    return result


def serialized_mb(index: Any) -> float:
    return len(faiss.serialize_index(index)) / 2**20


def faiss_project_index(corpus: Corpus, kind: str) -> tuple[FaissVectorIndex, float]:
    """The project's flat or HNSW index over the corpus, built in chunks for the progress bar."""
    n, dim = corpus.vectors.shape
    t0 = time.perf_counter()
    if kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    else:
        inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index = FaissVectorIndex(faiss.IndexIDMap2(inner))
    step = 20_000 if kind == "hnsw" else 200_000
    for start in tqdm(range(0, n, step), desc=f"build {kind} {n:,}", file=sys.stderr):
        index.add(corpus.ids[start : start + step], corpus.vectors[start : start + step])
    return index, time.perf_counter() - t0


def bench_faiss_project(
    corpus: Corpus, queries: np.ndarray, truth: dict[str, np.ndarray], kind: str, note: str = ""
) -> Result:
    """Flat or HNSW through FaissVectorIndex.search (the engine's path, filters included)."""
    faiss.omp_set_num_threads(BUILD_THREADS)
    index, build_s = faiss_project_index(corpus, kind)
    name = "Flat (exact)" if kind == "flat" else f"HNSW{HNSW_M} efC{HNSW_EF_CONSTRUCTION} efS{HNSW_EF_SEARCH}"
    result = Result(
        "FAISS", name, len(corpus.vectors), build_s, serialized_mb(index.index), rss_mb(), note=note
    )
    faiss.omp_set_num_threads(1)

    def search(q: np.ndarray, allowed: np.ndarray | None) -> list[int]:
        return [i for i, _ in index.search(q, K, allowed)]

    return measure_search(result, search, corpus, queries, truth)


def train_ivf(corpus: Corpus, nlist: int, train_n: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(coarse centroids, training sample, seconds): k-means over a ``train_n`` sample, all cores."""
    faiss.omp_set_num_threads(BUILD_THREADS)
    rng = np.random.default_rng(seed)
    sample = corpus.vectors[
        np.sort(rng.choice(len(corpus.vectors), min(train_n, len(corpus.vectors)), replace=False))
    ]
    log(f"k-means: {nlist} lists over {len(sample):,} vectors ...")
    t0 = time.perf_counter()
    km = faiss.Kmeans(sample.shape[1], nlist, niter=20, spherical=True, seed=seed, verbose=False)
    km.train(sample)
    return km.centroids, sample, time.perf_counter() - t0


def build_ivfpq(
    corpus: Corpus, centroids: np.ndarray, sample: np.ndarray, m: int, refine: bool, pq_train: int
) -> tuple[tuple[Any, Any, Any], float]:
    """IVF-PQ over the corpus on given coarse centroids (PQ trained on the sample), ids = rows."""
    faiss.omp_set_num_threads(BUILD_THREADS)
    dim, nlist = corpus.vectors.shape[1], len(centroids)
    t0 = time.perf_counter()
    quantizer = faiss.IndexFlatIP(dim)
    quantizer.add(centroids)
    ivf = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    ivf.by_residual = True
    ivf.train(sample[:pq_train])  # the quantizer is already filled: only the PQ is trained (slow here)
    index: Any = faiss.IndexRefineFlat(ivf) if refine else ivf
    n = len(corpus.vectors)
    for start in tqdm(
        range(0, n, 100_000), desc=f"build IVF{nlist},PQ{m}{'+rerank' if refine else ''}", file=sys.stderr
    ):
        index.add(corpus.vectors[start : start + 100_000])
    return (index, quantizer, ivf), time.perf_counter() - t0  # the SWIG objects the index points into


def bench_ivfpq(
    corpus: Corpus,
    queries: np.ndarray,
    truth: dict[str, np.ndarray],
    centroids: np.ndarray,
    sample: np.ndarray,
    train_s: float,
    m: int,
    nprobes: Sequence[int],
    refine: bool = False,
    k_factor: int = 10,
    pq_train: int = 25_000,
) -> list[Result]:
    """IVF-PQ (optionally with an exact re-rank) at each nprobe; filters as an IDSelectorBitmap."""
    (index, *_keep), build_s = build_ivfpq(corpus, centroids, sample, m, refine, pq_train)
    size, rss = serialized_mb(index), rss_mb()
    n = len(corpus.vectors)
    faiss.omp_set_num_threads(1)
    out = []
    for nprobe in nprobes:

        def search(q: np.ndarray, allowed: np.ndarray | None, nprobe: int = nprobe) -> list[int]:
            bits = None
            if allowed is None:
                ivf_params = faiss.SearchParametersIVF(nprobe=nprobe)
            else:
                mask = np.zeros(n, dtype=bool)
                mask[allowed] = True
                bits = np.packbits(mask, bitorder="little")  # must outlive the search
                sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
                ivf_params = faiss.SearchParametersIVF(nprobe=nprobe, sel=sel)
            params: Any = ivf_params
            if refine:
                params = faiss.IndexRefineSearchParameters(k_factor=k_factor, base_index_params=ivf_params)
            _, ids = index.search(q.reshape(1, -1), K, params=params)
            del bits
            return [int(i) for i in ids[0] if i >= 0]

        name = f"IVF{len(centroids)},PQ{m}{f' + flat re-rank x{k_factor}' if refine else ''} nprobe {nprobe}"
        result = Result(
            "FAISS", name, n, train_s + build_s, size, rss, note=f"k-means {train_s:.0f} s of the build"
        )
        out.append(measure_search(result, search, corpus, queries, truth))
    return out


def bench_ivfpq_family(
    corpus: Corpus, queries: np.ndarray, truth: dict[str, np.ndarray], args: Any
) -> list[Result]:
    """IVF-PQ at each ``--pq`` size and nprobe, and the first size with an exact re-rank."""
    results: list[Result] = []
    centroids, sample, train_s = train_ivf(
        corpus, min(args.nlist, len(corpus.vectors) // 39), args.train, args.seed
    )
    nprobes = [int(x) for x in args.nprobe.split(",")]
    for m in (int(x) for x in args.pq.split(",")):
        results += bench_ivfpq(
            corpus, queries, truth, centroids, sample, train_s, m, nprobes, pq_train=args.pq_train
        )
    results += bench_ivfpq(
        corpus,
        queries,
        truth,
        centroids,
        sample,
        train_s,
        int(args.pq.split(",")[0]),
        nprobes[:2],
        refine=True,
        pq_train=args.pq_train,
    )
    del sample
    return results


# ---------------------------------------------------------------------------------- milvus-lite


MILVUS_INDEXES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # index_type -> (build params, search params)
    "FLAT": ({}, {}),
    "HNSW": ({"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}, {"ef": HNSW_EF_SEARCH}),
    "IVF_FLAT": ({"nlist": 1024}, {"nprobe": 32}),
}


def bench_milvus(
    corpus: Corpus, queries: np.ndarray, truth: dict[str, np.ndarray], index_type: str, db_dir: Path
) -> Result:
    """One milvus-lite collection with this index type: insert, flush, index; then searches."""
    from pymilvus import DataType, MilvusClient  # noqa: TID251 -- the bench drives milvus-lite directly

    build_params, search_params = MILVUS_INDEXES[index_type]
    before = rss_mb()
    client = MilvusClient(str(db_dir / f"bench_{index_type.lower()}.db"))
    base = rss_mb()
    name = f"bench_{index_type.lower()}"
    n, dim = corpus.vectors.shape
    t0 = time.perf_counter()
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field(
        "countries", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=256, max_length=16
    )
    params = client.prepare_index_params()
    params.add_index("vector", index_type=index_type, metric_type="IP", params=build_params)
    client.create_collection(name, schema=schema, index_params=params)
    batch = 1000
    for start in tqdm(range(0, n, batch), desc=f"milvus {index_type} insert {n:,}", file=sys.stderr):
        stop = min(n, start + batch)
        rows = [
            {"id": int(i), "vector": corpus.vectors[i].tolist(), "countries": [str(corpus.countries[i])]}
            for i in range(start, stop)
        ]
        client.insert(name, rows)
    client.flush(name)
    while True:
        info = client.describe_index(name, "vector")
        if int(info.get("pending_index_rows", 0)) == 0 and int(info.get("indexed_rows", n)) >= n:
            break
        time.sleep(1)
    client.load_collection(name)
    build_s = time.perf_counter() - t0
    rss = rss_mb()
    label = f"{index_type} " + " ".join(f"{k}={v}" for k, v in {**build_params, **search_params}.items())
    result = Result(
        "milvus-lite",
        label.strip(),
        n,
        build_s,
        rss - base,
        rss,
        note=f"index state {info.get('state')}; RSS before the client {before:.0f} MiB",
    )

    def search(q: np.ndarray, allowed: np.ndarray | None) -> list[int]:
        where = "" if allowed is None else f'array_contains_any(countries, ["{_code(corpus, allowed)}"])'
        found = client.search(
            name,
            [q.tolist()],
            anns_field="vector",
            limit=K,
            filter=where,
            output_fields=[],
            search_params={"metric_type": "IP", "params": search_params},
        )
        return [int(h["id"]) for h in found[0]]

    measure_search(result, search, corpus, queries, truth)
    client.drop_collection(name)
    client.close()
    return result


def _code(corpus: Corpus, allowed: np.ndarray) -> str:
    return str(corpus.countries[allowed[0]])


# ---------------------------------------------------------------------------------- report


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def render(results: Sequence[Result], header: dict[str, str]) -> str:
    lines = ["## Dense search at scale (bench_scale)", ""]
    lines += [f"- {k}: {v}" for k, v in header.items()]
    lines += [
        "",
        "Latency: ms, p50 / p95, one query at a time, k=10, FAISS on 1 thread. "
        "Filters: a random country holding ~10 % or ~1 % of the passages. "
        "Recall@10 against exact search on the same passages and filter: the share of the exact top-10 ids "
        f"found, then (in brackets) the share of hits scoring within {TIE_EPS:g} of the exact 10th score.",
        "",
        "| backend | index | passages | build s | index MiB | RSS MiB | unfiltered | filter 10 % | filter 1 % "
        "| recall@10 unf. | recall@10 10 % | recall@10 1 % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lat = [f"{r.latency[k][0]:.2f} / {r.latency[k][1]:.2f}" for k in ("none", *FILTERS)]
        rec = [f"{r.recall[k]:.3f} ({r.tie_recall.get(k, float('nan')):.3f})" for k in ("none", *FILTERS)]
        lines.append(
            f"| {r.backend} | {r.index} | {r.n:,} | {r.build_s:.0f} | {r.index_mb:.0f} | {r.rss_mb:.0f} | "
            + " | ".join(lat + rec)
            + " |"
        )
    notes = [f"- {r.backend} {r.index} @ {r.n:,}: {r.note}" for r in results if r.note]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"


def hnsw_extrapolation(result: Result, target: int) -> Result:
    """An n log n extrapolation of an HNSW slice's build time to ``target`` passages (no searches)."""
    factor = (target / result.n) * (math.log(target) / math.log(result.n))
    est = Result(
        result.backend,
        result.index + " (EXTRAPOLATED build)",
        target,
        result.build_s * factor,
        result.index_mb * target / result.n,
        float("nan"),
        latency={k: (float("nan"), float("nan")) for k in result.latency},
        recall={k: float("nan") for k in result.recall},
        note=f"extrapolated n log n from the {result.n:,} slice (x{factor:.1f}); not built, not searched",
    )
    return est


# ---------------------------------------------------------------------------------- main


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench_scale", description=__doc__.split("\n", 1)[0])
    p.add_argument(
        "--index-dir", type=Path, default=Path("data/index"), help="the real index (source vectors)"
    )
    p.add_argument(
        "--ingest-log", type=Path, default=Path("/tmp/ingest.log"), help="wait for this ingest to finish"
    )
    p.add_argument(
        "--passages", type=int, default=1_000_000, help="synthetic passages for the FAISS comparison"
    )
    p.add_argument("--indexes", default="flat,ivfpq,hnsw", help="FAISS index types at --passages")
    p.add_argument(
        "--hnsw-passages", type=int, default=200_000, help="HNSW slice at the large size (0: full)"
    )
    p.add_argument(
        "--milvus-passages", type=int, default=100_000, help="passages for milvus-lite and FAISS (0: skip)"
    )
    p.add_argument("--milvus-indexes", default="FLAT,HNSW,IVF_FLAT", help="milvus-lite index types")
    p.add_argument(
        "--queries", type=int, default=200, help="queries (dev questions first, then held-back passages)"
    )
    p.add_argument("--nlist", type=int, default=4096)
    p.add_argument("--train", type=int, default=100_000, help="k-means sample for IVF")
    p.add_argument("--pq", default="48", help="PQ code bytes to try (comma-separated, e.g. 48,96)")
    p.add_argument(
        "--pq-train", type=int, default=25_000, help="PQ training sample (its k-means is slow here)"
    )
    p.add_argument(
        "--milvus-queries", type=int, default=40, help="queries for milvus-lite (its filters are slow)"
    )
    p.add_argument("--nprobe", default="16,32,64")
    p.add_argument("--seed", type=int, default=20)
    p.add_argument(
        "--sigma",
        type=float,
        default=SIGMA,
        help="noise per dimension of the synthetic copies: the smaller, the nearer the copies of a passage",
    )
    p.add_argument("--markdown", action="store_true", help="print the markdown section to stdout")
    p.add_argument("--out", type=Path, default=Path("var/bench_scale.md"))
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    started, date = time.perf_counter(), dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    wait_for_index(args.index_dir, args.ingest_log)
    settings = Settings.from_env()
    real, basis = load_real(args.index_dir)
    log(f"real e5 vectors: {real.shape[0]:,} x {real.shape[1]}")
    queries, source, described = make_queries(settings, real, basis, args.queries, args.seed)
    log(f"queries: {described}")
    results: list[Result] = []
    indexes = set(args.indexes.split(","))

    big = make_corpus(source, args.passages, args.seed, args.sigma)
    truth = exact_top(big, queries)
    if "flat" in indexes:
        results.append(bench_faiss_project(big, queries, truth, "flat"))
    if "ivfpq" in indexes:
        results += bench_ivfpq_family(big, queries, truth, args)
    if "hnsw" not in indexes:
        del big
    elif args.hnsw_passages and args.hnsw_passages < args.passages:
        sl = Corpus(big.vectors[: args.hnsw_passages], big.countries[: args.hnsw_passages], {})
        sl.allowed = {k: v[v < args.hnsw_passages] for k, v in big.allowed.items()}
        del big
        gc.collect()
        hnsw = bench_faiss_project(
            sl,
            queries,
            exact_top(sl, queries),
            "hnsw",
            note=f"built and searched on the first {len(sl.vectors):,} only",
        )
        results += [hnsw, hnsw_extrapolation(hnsw, args.passages)]
        del sl
    else:
        results.append(bench_faiss_project(big, queries, truth, "hnsw"))
        del big
    gc.collect()

    if args.milvus_passages:
        small = make_corpus(source, args.milvus_passages, args.seed + 1, args.sigma)
        truth = exact_top(small, queries)
        results.append(bench_faiss_project(small, queries, truth, "flat"))
        results.append(bench_faiss_project(small, queries, truth, "hnsw"))
        db_dir = Path(tempfile.mkdtemp(prefix="hkb-bench-milvus-"))
        try:
            mq = args.milvus_queries
            mtruth = {k: v[:mq] for k, v in truth.items()}
            for index_type in args.milvus_indexes.split(","):
                try:
                    results.append(bench_milvus(small, queries[:mq], mtruth, index_type.strip(), db_dir))
                except Exception as exc:  # one index type failing should not lose the others
                    log(f"milvus-lite {index_type} failed: {type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(db_dir, ignore_errors=True)

    header = {
        "date": date,
        "machine": machine() + " (shared with other work while measured)",
        "threads": f"builds on {BUILD_THREADS} OpenMP threads, searches on 1 (faiss.omp_set_num_threads(1))",
        "faiss": faiss.__version__,
        "source": f"{real.shape[0]:,} real e5 passage vectors (dim {real.shape[1]}) of {args.index_dir}",
        "synthetic passages": f"copy 0 = the stored vector, further copies + N(0, {args.sigma}^2) per dim, re-normalised "
        "(synthetic_index.noisy_unit's recipe, applied after the language-neutral projection)",
        "queries": f"{len(queries)}: {described}; milvus-lite rows: the first {args.milvus_queries} of them",
        "wall time": f"{(time.perf_counter() - started) / 60:.1f} min",
        "command": "python -m housing_kb.evaluation.bench_scale "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }
    text = render(results, header)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    log(f"written {args.out}")
    if args.markdown:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
