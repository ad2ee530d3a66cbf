"""How the channels' ranked lists become one: fusion (weighted min-max or reciprocal rank), the
per-language dense merge, one edition per work, and the per-document spread and grouping.

>>> fuse({"dense": [(1, 0.9)], "lexical": [(1, 3.0), (2, 1.0)]}, "rrf", {})[0][0]
1
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from housing_kb.index.query.hits import DocumentRef
from housing_kb.schema.records import DocumentRecord

Fusion = Literal["rrf", "weighted"]
RRF_K = 60


def other_editions(
    document: DocumentRef, works: dict[str, list[DocumentRecord]]
) -> list[dict[str, str | None]]:
    """The other editions of a hit's work, as the API lists them."""
    if not document.work_id:
        return []
    return [
        {"document_id": d.doc_id, "language": d.language}
        for d in works.get(document.work_id, [])
        if d.doc_id != document.id
    ]


def choose_editions(
    ranked: list[tuple[int, float]],
    doc_of: dict[int, str],
    works: dict[str, list[DocumentRecord]],
    language: str | None,
) -> list[tuple[int, float]]:
    """One edition per work: the places its editions' passages hold go, in order, to the passages
    of the chosen edition (the one in ``language`` when it has candidates, else the best-ranked),
    and the places left over are dropped. So the work keeps its best rank, shown in the reader's
    language."""
    if not works:
        return ranked
    work_of = {d.doc_id: w for w, ds in works.items() for d in ds}
    language_of = {d.doc_id: d.language for ds in works.values() for d in ds}
    present: dict[str, list[str]] = {}  # work -> its editions among the candidates, best first
    for pid, _ in ranked:
        doc = doc_of.get(pid)
        if doc in work_of and doc not in present.setdefault(work_of[doc], []):
            present[work_of[doc]].append(doc)
    chosen = {
        w: next((d for d in editions if language_of[d] == language), editions[0])
        for w, editions in present.items()
    }
    queues = {w: [(pid, sc) for pid, sc in ranked if doc_of.get(pid) == doc] for w, doc in chosen.items()}
    out = []
    for pid, score in ranked:
        doc = doc_of.get(pid)
        work = work_of.get(doc) if doc is not None else None
        if work is None:
            out.append((pid, score))
        elif queues[work]:
            out.append((queues[work].pop(0)[0], score))
    return out


def spread(
    ranked: list[tuple[int, float]], doc_of: dict[int, str], per_doc: int, window: int
) -> list[tuple[int, float]]:
    """At most ``per_doc`` hits of one document in the first ``window``; the others keep their order
    after them. Only hits within the first three windows move up: a passage ranked further down is
    no better for being from another document.

    >>> spread([(1, .9), (2, .8), (3, .7), (4, .6)], {1: "a", 2: "a", 3: "a", 4: "b"}, 2, 3)
    [(1, 0.9), (2, 0.8), (4, 0.6), (3, 0.7)]
    """
    first: list[tuple[int, float]] = []
    rest: list[tuple[int, float]] = []
    seen: dict[str | None, int] = {}
    for rank, (pid, score) in enumerate(ranked):
        doc = doc_of.get(pid)
        if len(first) < window and rank < 3 * window and seen.get(doc, 0) < per_doc:
            first.append((pid, score))
            seen[doc] = seen.get(doc, 0) + 1
        else:
            rest.append((pid, score))
    return first + rest


def group_per_document(
    ranked: list[tuple[int, float]], doc_of: dict[int, str], per_doc: int
) -> list[tuple[int, float]]:
    seen: dict[str, int] = {}
    out = []
    for pid, score in ranked:
        d = doc_of.get(pid)
        if d is None:
            continue
        if seen.get(d, 0) < per_doc:
            out.append((pid, score))
            seen[d] = seen.get(d, 0) + 1
    return out


def fuse(
    channels: dict[str, list[tuple[int, float]]], method: Fusion, weights: dict[str, float]
) -> list[tuple[int, float]]:
    """Merge ranked lists. RRF uses ranks only; ``weighted`` min-max normalises each channel's scores
    first so no scale dominates (PITFALLS: weighted-sum fusion).

    >>> fuse({"dense": [(1, 0.9), (2, 0.5)], "lexical": [(2, 7.0)]}, "weighted", {"dense": 0.6, "lexical": 0.4})
    [(1, 0.6), (2, 0.4)]
    """
    scores: dict[int, float] = {}
    if method == "rrf":
        for ranked in channels.values():
            for rank, (pid, _) in enumerate(ranked, 1):
                scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + rank)
    else:
        for name, ranked in channels.items():
            if not ranked:
                continue
            w = weights.get(name, 0.0)
            vals = np.array([s for _, s in ranked], dtype=np.float64)
            lo, hi = float(vals.min()), float(vals.max())
            for pid, sc in ranked:
                # a channel with one hit (or all equal) gives each its full weight
                norm = (sc - lo) / (hi - lo) if hi > lo else 1.0
                scores[pid] = scores.get(pid, 0.0) + w * norm
    return sorted(scores.items(), key=lambda kv: -kv[1])


def merge_language_lists(
    lists: list[tuple[str, list[tuple[int, float]]]], strategy: str, pool: int
) -> list[tuple[int, float]]:
    """Merge per-language dense lists: by reciprocal rank, or by per-language standardised score."""
    merged: dict[int, float] = {}
    for _, ranked in lists:
        if not ranked:
            continue
        if strategy == "per_language_rrf":
            for rank, (pid, _) in enumerate(ranked, 1):
                merged[pid] = 1.0 / (RRF_K + rank)
        else:
            vals = np.array([s for _, s in ranked], dtype=np.float64)
            mu, sd = float(vals.mean()), float(vals.std()) or 1.0
            for pid, sc in ranked:
                merged[pid] = (sc - mu) / sd
    return sorted(merged.items(), key=lambda kv: -kv[1])[:pool]
