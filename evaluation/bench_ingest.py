"""Ingest benchmark: full-corpus ingest into a fresh index, then in the same run

- passages per second overall, and for the embedding step alone;
- raw ``SentenceTransformer.encode`` on the same passages (same batch size), as a ratio;
- peak RSS of the process;
- a re-ingest of the unchanged corpus, as a fraction of the full ingest time;
- e5 against USE-multilingual throughput on the same passages.

    python -m housing_kb.evaluation.bench_ingest [--index DIR] [--only ID ...] [--json OUT]

Everything runs in one process on this machine's cores; nothing is cached between runs (a fresh
temp index unless --index is given, and that directory is wiped first).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from housing_kb.config import Settings
from housing_kb.index.store.index_store import IndexStore
from housing_kb.ingest.pipeline import run_ingest
from housing_kb.models.registry import load_embedder


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _encode_rate(fn, texts: list[str]) -> tuple[float, float]:
    t = time.perf_counter()
    fn(texts)
    secs = time.perf_counter() - t
    return secs, len(texts) / secs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, help="Index directory to build (wiped first); default a temp dir.")
    ap.add_argument("--only", action="append", help="Restrict to these document ids (repeatable).")
    ap.add_argument("--no-use", action="store_true", help="Skip the USE-multilingual comparison.")
    ap.add_argument("--json", type=Path, help="Write the figures as JSON here too.")
    args = ap.parse_args(argv)

    base = Settings.from_env()
    tmp = None
    if args.index:
        shutil.rmtree(args.index, ignore_errors=True)
        index_dir = args.index
    else:
        tmp = tempfile.mkdtemp(prefix="hkb-bench-")
        index_dir = Path(tmp) / "index"
    settings = base.with_(index_dir=index_dir)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
        f"{torch.get_num_threads()}; corpus {settings.corpus_dir}",
        flush=True,
    )

    t_load = time.perf_counter()
    e5 = load_embedder("e5-small", settings)
    load_secs = time.perf_counter() - t_load

    print("1/4 full ingest into a fresh index ...", flush=True)
    full = run_ingest(settings, embedder=e5, only=set(args.only) if args.only else None, show_progress=True)
    store = IndexStore.open(index_dir, readonly=True)
    texts = [r["text"] for r in store.iter_passages("text")]
    n = len(texts)

    print("2/4 re-ingest of the unchanged corpus ...", flush=True)
    again = run_ingest(settings, embedder=e5, only=set(args.only) if args.only else None, show_progress=False)

    print(f"3/4 raw model.encode on the same {n} passages ...", flush=True)
    model = e5._model  # the underlying SentenceTransformer
    raw_secs, raw_rate = _encode_rate(
        lambda ts: model.encode(["passage: " + t for t in ts], batch_size=32, normalize_embeddings=True),
        texts,
    )

    use_secs = use_rate = None
    if not args.no_use:
        print(f"4/4 USE-multilingual on the same {n} passages ...", flush=True)
        use = load_embedder("use-multilingual", settings)
        use_secs, use_rate = _encode_rate(lambda ts: use.embed_passages(ts), texts)

    figures = {
        "documents": len(full.added) + len(full.updated),
        "failed": [f.line() for f in full.failed],
        "passages": n,
        "model_load_s": round(load_secs, 2),
        "full_ingest_s": round(full.seconds, 1),
        "extract_chunk_tag_s": round(full.extract_seconds, 1),
        "embed_commit_s": round(full.embed_seconds, 1),
        "passages_per_s_overall": round(n / full.seconds, 2),
        "passages_per_s_embedding_step": round(n / full.embed_seconds, 2) if full.embed_seconds else None,
        "raw_encode_s": round(raw_secs, 1),
        "raw_encode_passages_per_s": round(raw_rate, 2),
        "embedding_step_vs_raw_encode": round(raw_secs / full.embed_seconds, 3)
        if full.embed_seconds
        else None,
        "reingest_unchanged_s": round(again.seconds, 2),
        "reingest_fraction_of_full": round(again.seconds / full.seconds, 4),
        "use_encode_s": round(use_secs, 1) if use_secs else None,
        "use_passages_per_s": round(use_rate, 2) if use_rate else None,
        "use_vs_e5_speed": round(use_rate / raw_rate, 2) if use_rate else None,
        "peak_rss_mb": round(_peak_rss_mb(), 0),
    }
    print()
    print("| measure | value |")
    print("|---|---|")
    rows = [
        ("passages (documents)", f"{n} ({figures['documents']})"),
        ("full ingest", f"{figures['full_ingest_s']} s = {figures['passages_per_s_overall']} passages/s"),
        ("  load + clean + chunk (+ tag)", f"{figures['extract_chunk_tag_s']} s"),
        (
            "  embedding step (embed + tag + commit)",
            f"{figures['embed_commit_s']} s = {figures['passages_per_s_embedding_step']} passages/s",
        ),
        (
            "raw model.encode, same passages",
            f"{figures['raw_encode_s']} s = {figures['raw_encode_passages_per_s']} passages/s",
        ),
        ("raw encode time / embedding step time", f"{figures['embedding_step_vs_raw_encode']}"),
        (
            "re-ingest, unchanged corpus",
            f"{figures['reingest_unchanged_s']} s = "
            f"{100 * figures['reingest_fraction_of_full']:.2f} % of the full ingest",
        ),
        (
            "USE-multilingual encode, same passages",
            f"{figures['use_encode_s']} s = {figures['use_passages_per_s']} passages/s"
            if use_rate
            else "skipped",
        ),
        ("USE / e5 throughput", f"{figures['use_vs_e5_speed']}x" if use_rate else "skipped"),
        ("peak RSS", f"{figures['peak_rss_mb']:.0f} MB"),
    ]
    for name, value in rows:
        print(f"| {name} | {value} |")
    if figures["failed"]:
        print("failed documents:", *figures["failed"], sep="\n  ")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
