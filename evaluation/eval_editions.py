"""Can editions of one work be found without the manifest saying so?

    python -m housing_kb.evaluation.eval_editions [--markdown]

The manifest declares which documents are editions of one work (``work_id``: the UDHR in six
languages, the PMAY FAQ as PDF and as Markdown); search collapses those. This measures whether
cross-lingual vector similarity would find the same pairs on its own, two ways, both on the
USE-multilingual passage vectors (USE places translations close together whatever the language):

- ``mean``: the cosine of the two documents' mean passage vectors;
- ``aligned``: how well each document's passages find a counterpart in the other (the mean, over a
  document's passages, of the best cosine to a passage of the other; the lower of the two
  directions). Two reports on one topic are alike on average but have few passages in common; a
  translation has a counterpart for nearly every passage.

A pair of documents scoring at least the threshold is called one work. Precision and recall are
over pairs of documents, against the declared works.
Pairs found but not declared are printed: candidates for a ``work_id``, or near-duplicates.
"""

from __future__ import annotations

import argparse
import json
from itertools import combinations
from pathlib import Path

import numpy as np

THRESHOLDS = (0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90)


def passage_vectors(store, model_id: str) -> dict[str, np.ndarray]:
    """Each document's passage vectors of ``model_id`` (rows, normalised)."""
    out = {}
    for document in store.documents():
        rows = store.passages_of(document.doc_id)
        cache = store.embeddings.vectors([r.content_hash for r in rows], model_id=model_id)
        vectors = [cache[r.content_hash] for r in rows if r.content_hash in cache]
        if vectors:
            matrix = np.vstack(vectors).astype(np.float32)
            out[document.doc_id] = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)
    return out


def mean_score(a: np.ndarray, b: np.ndarray) -> float:
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    return float(ma @ mb / ((np.linalg.norm(ma) * np.linalg.norm(mb)) or 1.0))


def aligned_score(a: np.ndarray, b: np.ndarray) -> float:
    sims = a @ b.T
    return float(min(sims.max(axis=1).mean(), sims.max(axis=0).mean()))


def pair_scores(vectors: dict[str, np.ndarray], score) -> list[tuple[str, str, float]]:
    return [(a, b, score(vectors[a], vectors[b])) for a, b in combinations(sorted(vectors), 2)]


def evaluate(pairs: list[tuple[str, str, float]], work_of: dict[str, str], threshold: float) -> dict:
    gold = {(a, b) for a, b, _ in pairs if work_of.get(a) and work_of.get(a) == work_of.get(b)}
    found = {(a, b) for a, b, s in pairs if s >= threshold}
    hit = gold & found
    return {
        "threshold": threshold,
        "declared_pairs": len(gold),
        "found_pairs": len(found),
        "precision": len(hit) / len(found) if found else None,
        "recall": len(hit) / len(gold) if gold else None,
        "undeclared": sorted(found - gold),
        "missed": sorted(gold - found),
    }


def main(argv: list[str] | None = None) -> None:
    from housing_kb.config import Settings
    from housing_kb.index.store.index_store import IndexStore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.index is not None:
        settings = settings.with_(index_dir=args.index)
    store = IndexStore.open(settings.index_dir, readonly=True)
    if store.secondary_model_id is None:
        raise SystemExit("the index has no USE channel: run `housing-kb ingest` first")
    work_of = {d.doc_id: d.work_id for d in store.documents() if d.work_id}
    vectors = passage_vectors(store, store.secondary_model_id)
    report = {}
    for name, score in (("mean", mean_score), ("aligned", aligned_score)):
        pairs = pair_scores(vectors, score)
        report[name] = [evaluate(pairs, work_of, t) for t in THRESHOLDS]
    if not args.markdown:
        print(json.dumps(report, indent=2))
        return
    declared = report["mean"][0]["declared_pairs"]
    print(f"{len(vectors) * (len(vectors) - 1) // 2} document pairs, {declared} declared as one work.\n")
    print("| method | threshold | pairs found | precision | recall |\n|---|---:|---:|---:|---:|")
    for name, results in report.items():
        for r in results:
            p = "–" if r["precision"] is None else f"{r['precision']:.2f}"
            print(f"| {name} | {r['threshold']:.2f} | {r['found_pairs']} | {p} | {r['recall']:.2f} |")
    best = max(report["aligned"], key=lambda r: ((r["precision"] or 0) + (r["recall"] or 0), r["threshold"]))
    print(
        f"\nAligned at {best['threshold']:.2f}: found but not declared: {best['undeclared'] or 'none'}; "
        f"declared but not found: {best['missed'] or 'none'}."
    )


if __name__ == "__main__":
    main()
