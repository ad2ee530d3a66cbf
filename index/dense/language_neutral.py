"""Language-neutral e5 vectors: remove the directions that only say which language a passage is in.

multilingual-e5 places passages of one language around their own centroid, and a query lands near
its language's centroid too, so a query ranks passages in its own language first whatever they say
(README, "language bias"). The centroids differ along a handful of directions: for L languages the
L centroids, minus their mean, span at most L - 1 of e5's 384 dimensions. Projecting those
directions out of every passage vector and every query vector, then re-normalising, leaves what the
text is about and drops which language it is in. The basis is computed from the index's own passages
(each language's centroid over its passages), so it needs no labels and adapts to what was ingested.

Measured on the dev set (60 questions, the same run, only this changed; README, "language-neutral
e5"): dense nDCG@10 0.322 -> 0.392, hybrid 0.488 -> 0.512, cross-lingual 0.436 -> 0.473.

Only the e5 channel gets it: USE-multilingual is trained to be language-neutral already, and the
same projection on its vectors lowered hybrid nDCG@10 (0.507 -> 0.496).

>>> rng = np.random.default_rng(0)
>>> topics = rng.normal(size=(40, 8)).astype(np.float32)
>>> offset = {"en": np.eye(8, dtype=np.float32)[0] * 3, "fr": np.eye(8, dtype=np.float32)[1] * 3}
>>> langs = ["en"] * 20 + ["fr"] * 20
>>> vecs = normalise(topics + np.stack([offset[lang] for lang in langs]))
>>> basis = language_basis(vecs, langs, min_passages=10)
>>> basis.shape
(1, 8)
>>> neutral = project_out(vecs, basis)
>>> gap = neutral[:20].mean(0) - neutral[20:].mean(0)
>>> bool(np.abs(gap @ basis[0]) < 1e-5)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: A language's centroid counts once it has this many passages; fewer give a noisy direction. On the
#: corpus the smallest languages that count are French (28 passages) and Dutch (26).
MIN_PASSAGES = 20
#: Written beside the FAISS file; a file built under another recipe is rebuilt, never mixed.
RECIPE = "language-centroids-v1"


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def language_basis(
    vectors: np.ndarray, languages: Sequence[str], *, min_passages: int = MIN_PASSAGES
) -> np.ndarray:
    """An orthonormal basis (rows) of the span of the language centroids' differences.

    Each language with at least ``min_passages`` passages ("und" excepted) gives its centroid minus
    the mean of all passages; the singular vectors of those rows with a non-negligible singular
    value form the basis. Fewer than two such languages give an empty basis (nothing to remove).
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    langs = np.asarray(list(languages))
    counted = [
        lang
        for lang in sorted(set(langs.tolist()))
        if lang != "und" and int((langs == lang).sum()) >= min_passages
    ]
    if len(counted) < 2:
        return np.zeros((0, dim), dtype=np.float32)
    mean = vectors.mean(axis=0, dtype=np.float64)
    rows = np.stack([vectors[langs == lang].mean(axis=0, dtype=np.float64) - mean for lang in counted])
    # The rows sum to zero only when every passage counted; either way L centroids give at most L - 1
    # directions worth removing, and a numerically tiny one would be noise.
    _, singular, vt = np.linalg.svd(rows, full_matrices=False)
    keep = (singular > singular[0] * 1e-6)[: len(counted) - 1]
    return np.ascontiguousarray(vt[: len(keep)][keep], dtype=np.float32)


def project_out(vectors: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``vectors`` (one or many rows) with ``basis``'s directions removed, re-normalised."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if basis.size == 0:
        return vectors
    return normalise(vectors - (vectors @ basis.T) @ basis)
