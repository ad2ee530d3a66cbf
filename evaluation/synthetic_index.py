"""A synthetic large index for the search benches, replicated from a real one.

The synthetic index is built directly with IndexStore and the lexical sync (no embedding model over
its texts): real passages replicated with small perturbations (dropped and swapped words, dropped
characters for unspaced scripts), each copy under a synthetic document that keeps a real
document's metadata (type, countries, regions, year +/- 3) and its passages' tags, vectors = the
real passage's vector plus Gaussian noise, re-normalised. Query embedding still runs the real model.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from housing_kb.config import Settings
from housing_kb.evaluation.http_load import BenchError

SYNTHETIC_STAMP = "synthetic.json"
SYNTHETIC_TAGS_VERSION = "synthetic"


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
    from housing_kb.index.lexical.sync import sync_lexical
    from housing_kb.index.lexical.translation import LEXICON_FILE, sync_lexicon
    from housing_kb.index.store.index_store import IndexStore
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
        hashes = [r.content_hash for r in rows[d.doc_id]]
        vectors.update(source.embeddings.vectors(hashes))
    secondary = source.secondary_model_id
    vectors2: dict[str, np.ndarray] = {}
    if secondary:
        for d in docs:
            vectors2.update(source.embeddings.vectors([r.content_hash for r in rows[d.doc_id]], secondary))
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
                text = perturb_text(r.text, rng) if copy else r.text
                passages.append(
                    Passage(
                        document_id=doc_id,
                        ordinal=r.ordinal,
                        text=text,
                        page_start=r.page_start,
                        page_end=r.page_end,
                        char_start=r.char_start,
                        char_end=r.char_end,
                        paragraphs=r.paragraphs,
                        heading_path=r.heading_path,
                        language=r.language,
                        token_count=r.token_count,
                    )
                )
                base = vectors[r.content_hash]
                vecs.append(noisy_unit(base, nrng) if copy else base)
                base2 = vectors2.get(r.content_hash)
                if base2 is not None:
                    vecs2.append((passages[-1].content_hash, noisy_unit(base2, nrng) if copy else base2))
                tagged = r.tags_version is not None
                tags.append(
                    PassageTagsRecord(
                        components=r.components if tagged else _random_components(rng),
                        countries=r.countries if tagged else list(d.countries),
                        regions=r.regions if tagged else list(d.regions),
                        component_scores={},
                    )
                )
            # Page texts only for the first copy: search never reads them, and 29 copies would be gigabytes.
            pages = source.pages(d.doc_id) if copy == 0 else []
            target.replace_document(record, pages, passages, np.vstack(vecs), tags, SYNTHETIC_TAGS_VERSION)
            if vecs2:
                target.embeddings.add(vecs2, model_id=secondary)
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
    from housing_kb.index.query.filters import COMPONENTS

    return rng.sample(COMPONENTS, rng.choice((0, 1, 1, 2)))


__all__ = ["SYNTHETIC_STAMP", "SYNTHETIC_TAGS_VERSION", "build_synthetic_index", "noisy_unit", "perturb_text"]
