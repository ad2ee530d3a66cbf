"""The context a passage is read in: its document's title and the headings above it.

A passage cut from the middle of a law or a report rarely says what it belongs to ("2. The
tenant shall ..." in article 89 of the Russian Housing Code). The second dense channel
(USE-multilingual, language-neutral) therefore indexes each passage as

    normalise(v(passage text) + CONTEXT_WEIGHT * v(title > heading > sub-heading))

so a question finds the right document and section even when the passage alone does not name
them. Only the context's vector is extra work: one short text per distinct context (436 on the
dev corpus of 3,521 passages), cached under a ``ctx:`` key in the embedding cache.

Measured on the dev set (README, "contextual vectors"): hybrid nDCG@10 0.427 -> 0.457. Adding
the context to e5 as well, or embedding "context + text" as one input, did no better; the
headings alone (no title) did worse (0.419), and e5 vectors also feed the component tagger, so
e5 keeps the passage text alone.

>>> passage_context("Housing Code (RU)", ["Housing Code (RU)", "Chapter 8", "Article 89"])
'Housing Code (RU) > Chapter 8 > Article 89'
>>> context_key("Housing Code (RU)")[:12]
'ctx:7d769d89'
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

#: Weight of the context vector added to the passage vector (dev set sweep: 0.3 -> 0.435,
#: 0.5 -> 0.451, 0.7 -> 0.457, 0.8 -> 0.459, 1.0 -> 0.445, 1.5 -> 0.439; 0.7 sits mid-plateau).
CONTEXT_WEIGHT = 0.7
#: Stamped into the index state; a change makes the next ingest rebuild the channel's FAISS file.
CONTEXT_RECIPE = f"title+headings@{CONTEXT_WEIGHT}"
#: The index state key that records which recipe the second channel's stored vectors use.
CONTEXT_STATE_KEY = "secondary_context"
#: Longer contexts are cut (a runaway heading must not drown the passage).
MAX_CONTEXT_CHARS = 400
_KEY_PREFIX = "ctx:"


def passage_context(title: str, heading_path: Sequence[str]) -> str:
    """``title > heading > sub-heading``, without headings that repeat the title, at most
    :data:`MAX_CONTEXT_CHARS` characters; empty when there is nothing to say."""
    parts = [p.strip() for p in [title, *heading_path] if p and p.strip()]
    kept = [p for i, p in enumerate(parts) if p not in parts[:i]]
    return " > ".join(kept)[:MAX_CONTEXT_CHARS].strip()


def context_key(context: str) -> str:
    """Embedding-cache key of a context (never equal to a passage's content hash)."""
    return _KEY_PREFIX + hashlib.sha256(context.encode("utf-8")).hexdigest()


def with_context(vectors: np.ndarray, contexts: np.ndarray, has_context: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` with ``CONTEXT_WEIGHT * contexts`` added where ``has_context``, re-normalised.

    >>> v = np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    >>> c = np.array([[0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    >>> with_context(v, c, np.array([True, False])).astype(np.float64).round(3).tolist()
    [[0.819, 0.573], [1.0, 0.0]]
    """
    out = vectors.astype(np.float32, copy=True)
    rows = np.flatnonzero(has_context)
    if len(rows):
        mixed = out[rows] + CONTEXT_WEIGHT * contexts[rows]
        norms = np.linalg.norm(mixed, axis=1, keepdims=True)
        out[rows] = mixed / np.where(norms > 0, norms, 1.0)
    return out
