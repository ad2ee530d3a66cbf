"""The embedded dense channel: a FAISS index keyed by passage id (the ``VectorIndex`` protocol).

The index is an ``IndexIDMap2`` over a flat inner-product index, or, from ``ann_min`` vectors, over
an HNSW graph. The HNSW graph keeps its vectors in a flat storage in id order, so a filtered search
is still exact over that storage: only unfiltered searches are approximate. Filters reach FAISS as
an id set, the passages that pass them (``FilterTable.allowed_ids``).

>>> import numpy as np
>>> ix = FaissVectorIndex.build(np.eye(3, dtype=np.float32), np.array([5, 7, 9]), ann_min=2)
>>> ix.is_ann, ix.count()
(True, 3)
>>> ix.search(np.array([0, 1, 0], dtype=np.float32), 2, allowed_ids=np.array([7, 9]))[0][0]
7
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

from housing_kb.index.dense.language_neutral import project_out

if TYPE_CHECKING:
    from housing_kb.index.protocols import PassageFields
    from housing_kb.index.query.filters import Filters, FilterTable

#: HNSW graph degree, build-time and search-time beam widths (chosen by ``bench_search --profile``).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256


class FaissVectorIndex:
    """One dense channel's vectors in FAISS, searched by inner product."""

    def __init__(self, index: faiss.Index) -> None:
        # FAISS's bundled stubs describe only the base classes, not the IndexIDMap2 / HNSW members
        # used here (id_map, storage, downcasts): the index is typed loosely.
        self.index: Any = index

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, *, ann_min: int) -> FaissVectorIndex:
        """A flat index over ``vectors`` keyed by ``ids`` (ascending), HNSW from ``ann_min`` vectors."""
        dim = vectors.shape[1]
        inner: Any
        if len(ids) >= ann_min:
            inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        else:
            inner = faiss.IndexFlatIP(dim)
        out = cls(faiss.IndexIDMap2(inner))
        out.add(ids, vectors)
        return out

    @classmethod
    def from_bytes(cls, data: bytes) -> FaissVectorIndex:
        return cls(faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)))

    def to_bytes(self) -> bytes:
        return faiss.serialize_index(self.index).tobytes()

    @property
    def is_ann(self) -> bool:
        """True when the index holds an HNSW graph (its unfiltered searches are approximate)."""
        return isinstance(faiss.downcast_index(self.index.index), faiss.IndexHNSW)

    def count(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )

    def delete(self, ids: np.ndarray) -> int:
        return int(self.index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def vector(self, passage_id: int) -> np.ndarray:
        """The stored vector of one passage (after any projection the channel applies)."""
        vector: np.ndarray = self.index.reconstruct(int(passage_id))
        return vector

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every stored passage, in storage order: what a migration copies."""
        inner = faiss.downcast_index(self.index.index)
        storage = faiss.downcast_index(inner.storage) if isinstance(inner, faiss.IndexHNSW) else inner
        n = storage.ntotal
        matrix = storage.reconstruct_n(0, n) if n else np.zeros((0, storage.d), dtype=np.float32)
        return self.ids(), np.asarray(matrix, dtype=np.float32)

    def search(
        self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k ``(passage id, inner product)``. With ``allowed_ids`` the filter is applied inside
        FAISS, so every allowed passage can be returned and nothing else is."""
        if self.count() == 0 or k <= 0 or (allowed_ids is not None and len(allowed_ids) == 0):
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if self.is_ann:
            return self._search_ann(q, k, allowed_ids)
        params = None
        if allowed_ids is not None:
            selector = faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
            k = min(k, len(allowed_ids))
        scores, ids = self.index.search(q, min(k, self.count()), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _search_ann(self, q: np.ndarray, k: int, allowed_ids: np.ndarray | None) -> list[tuple[int, float]]:
        """HNSW without a filter; with one, exact inner products with the allowed rows of the HNSW's
        own (flat) storage."""
        k = min(k, self.count())
        if allowed_ids is None:
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, 3 * k))  # type: ignore[attr-defined]
            scores, ids = self.index.search(q, k, params=params)
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        id_map = faiss.vector_to_array(self.index.id_map)  # row -> passage id, ascending
        allowed = np.asarray(allowed_ids, dtype=np.int64)
        rows = np.searchsorted(id_map, allowed)
        rows = rows[(rows < len(id_map)) & (id_map[np.minimum(rows, len(id_map) - 1)] == allowed)]
        if len(rows) > 1 and not np.all(rows[1:] > rows[:-1]):
            rows = np.unique(rows)  # filters hand over sorted ids, so this is rarely paid
        if len(rows) == 0:
            return []
        hnsw: Any = faiss.downcast_index(self.index.index)
        storage = faiss.downcast_index(hnsw.storage)
        # A bitmap of the allowed rows is the cheapest selector to test during FAISS's own scan of
        # the flat storage (docs/experiments.md, the filtered-search entries).
        mask = np.zeros(storage.ntotal, dtype=bool)
        mask[rows] = True
        bits = np.packbits(mask, bitorder="little")  # must outlive the search: FAISS reads it in place
        params = faiss.SearchParameters(sel=faiss.IDSelectorBitmap(storage.ntotal, faiss.swig_ptr(bits)))  # type: ignore[call-arg]
        scores, found = storage.search(q, min(k, len(rows)), params=params)
        del bits
        return [(int(id_map[r]), float(s)) for r, s in zip(found[0], scores[0], strict=True) if r >= 0]


class BinarySignatureIndex:
    """Hamming-distance neighbours over packed binary signatures (the word-translation lexicon)."""

    def __init__(self, bits: int) -> None:
        self.index = faiss.IndexBinaryFlat(bits)

    def add(self, signatures: np.ndarray) -> None:
        self.index.add(np.ascontiguousarray(signatures, dtype=np.uint8))

    def count(self) -> int:
        return int(self.index.ntotal)

    def search(self, signatures: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, rows) of the ``k`` nearest stored signatures to each query signature."""
        return self.index.search(np.ascontiguousarray(signatures, dtype=np.uint8), k)


_threads_set = threading.local()


def single_threaded(threads: int = 1) -> None:
    """``threads`` OpenMP threads for FAISS in the calling thread, set once per thread. For a single
    query vector FAISS's threads cost more than they give on a small machine, and concurrent
    requests supply the parallelism instead (docs/results.md, search profile). OpenMP keeps the
    setting per thread, so every request thread makes the call."""
    if getattr(_threads_set, "done", False):
        return
    faiss.omp_set_num_threads(threads)
    _threads_set.done = True


def set_threads(threads: int) -> int:
    """Set FAISS's OpenMP threads in this thread; returns the previous count (benchmarks)."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    return previous


class FaissChannel:
    """A :class:`FaissVectorIndex` behind the ``VectorIndex`` protocol (``index/protocols.py``): its
    filters become the id set of the passages that pass them, from the index's filter table."""

    def __init__(self, index: FaissVectorIndex, table: FilterTable, basis: np.ndarray | None = None) -> None:
        self.index = index
        self.table = table
        #: Directions projected out of queries, as out of the channel's passages (language_neutral.py).
        self.basis = basis if basis is not None else np.zeros((0, 0), dtype=np.float32)

    def add(self, ids: np.ndarray, vectors: np.ndarray, fields: Sequence[PassageFields] = ()) -> None:
        self.index.add(ids, vectors)  # the filter table is read from the store, not from ``fields``

    def delete(self, ids: np.ndarray) -> int:
        return self.index.delete(ids)

    def count(self) -> int:
        return self.index.count()

    def search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if self.basis.size:
            q = project_out(q, self.basis)
        allowed = self.table.allowed_ids(filters) if filters is not None else None
        return self.index.search(q, k, allowed)
