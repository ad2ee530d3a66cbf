"""The passage store on Milvus: what a hit shows, read from the deployment instead of the index files.

An API server on the Milvus backend reads documents, pages and passages from here
(``SearchEngine.passages``), so every server behind a load balancer shows what the one deployment
holds. The sync (``index/adapters/milvus.py``) writes them next to the search channels:

- passages: the ``record`` of each row of ``<prefix>_e5`` (every stored field of the passage);
- documents: ``<prefix>_documents``, one row per document with its record and its passage and page counts;
- pages: ``<prefix>_pages``, each page's text in parts that fit Milvus's VARCHAR limit, joined on the
  way out.

The records are the ones the embedded store gives (``PassageStore`` in ``index/protocols.py``):
``tests/test_milvus.py`` compares the two on the same index.

:class:`MilvusServedIndex` adds what a server derives from the whole index (the filter table's
fields, the language basis, the stored vectors, the configuration, the country series and the word
lexicon, the last three from ``<prefix>_state``), so a server on the Milvus backend opens no index
directory: any number of them serve one deployment.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from housing_kb.index.adapters.milvus import MilvusConfigMismatch, MilvusIndex, MilvusTarget, string_literal
from housing_kb.index.store.index_store import IndexConfig
from housing_kb.schema.indicators import Observation
from housing_kb.schema.records import DocumentRecord, Page, PassageRecord

#: Rows per page of a query iterator.
QUERY_BATCH = 1000
#: Rows per page when the rows are text parts of up to 60 KB (a page of results stays a few MB).
PART_BATCH = 50

log = logging.getLogger(__name__)


class MilvusPassageStore:
    """Documents, pages and passages as typed records, from one Milvus deployment (read-only: the
    embedded index stays the source every write goes to, and the sync copies it here)."""

    def __init__(self, index: MilvusIndex) -> None:
        self.index = index
        self._client = index.client
        self._passages = index.loaded(index.channel("e5")).name
        self._documents = index.loaded(index.collection("documents")).name
        self._pages = index.loaded(index.collection("pages")).name

    def document(self, doc_id: str) -> DocumentRecord | None:
        rows = self._client.get(self._documents, ids=[doc_id], output_fields=["record"])
        return DocumentRecord(**rows[0]["record"]["document"]) if rows else None

    def documents(self) -> list[DocumentRecord]:
        rows = self._query_all(self._documents, "", ["record"])
        return sorted((DocumentRecord(**r["record"]["document"]) for r in rows), key=lambda d: d.doc_id)

    def pages(self, doc_id: str) -> list[Page]:
        parts = sorted(
            self._query_all(self._pages, _equals("doc_id", doc_id), ["seq", "record", "text"], PART_BATCH),
            key=lambda r: (r["seq"], r["record"]["part"]),
        )
        pages: list[Page] = []
        for r in parts:
            if r["record"]["part"] == 0:
                pages.append(Page(number=r["record"]["number"], text="", empty=r["record"]["empty"]))
            pages[-1].text += r["text"]
        return pages

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRecord]:
        if not len(ids):
            return {}
        rows = self._client.get(self._passages, ids=[int(i) for i in ids], output_fields=["record"])
        return {int(r["id"]): PassageRecord(**r["record"]) for r in rows}

    def passage(self, passage_id: str) -> PassageRecord | None:
        where = _equals("passage_id", passage_id)
        if where is None:
            return None
        rows = self._client.query(self._passages, filter=where, output_fields=["record"], limit=1)
        return PassageRecord(**rows[0]["record"]) if rows else None

    def passages_of(self, doc_id: str) -> list[PassageRecord]:
        rows = self._query_all(self._passages, _equals("doc_id", doc_id), ["record"])
        return sorted((PassageRecord(**r["record"]) for r in rows), key=lambda p: p.ordinal)

    def document_counts(self) -> dict[str, tuple[int, int]]:
        rows = self._query_all(self._documents, "", ["record"])
        return {r["id"]: (r["record"]["passages"], r["record"]["pages"]) for r in rows}

    def passage_count(self) -> int:
        rows = self._client.query(self._passages, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def _query_all(
        self, collection: str, where: str | None, fields: list[str], batch: int = QUERY_BATCH
    ) -> Iterator[dict[str, Any]]:
        """Every row matching ``where`` (None: none), in pages (a plain query stops at Milvus's
        result window)."""
        if where is None:
            return
        pages = self._client.query_iterator(collection, batch_size=batch, filter=where, output_fields=fields)
        try:
            while page := pages.next():
                yield from page
        finally:
            pages.close()


class MilvusServedIndex(MilvusPassageStore):
    """One state of the index as a server reads it from Milvus: what ``IndexStore`` gives a search
    engine (``SearchEngine.open`` on ``HOUSING_KB_BACKEND=milvus``), with no index directory.

    It stands for the state the e5 collection's stamp named when it was opened; once the stamp
    moves (a sync finished, or a rebuild replaced the collections) :meth:`is_current` is False and
    the engine opens the new state, as it does when an ingest commits to an index directory."""

    def __init__(self, index: MilvusIndex, stamp: dict[str, Any]) -> None:
        super().__init__(index)
        self.stamp = stamp
        self._state = index.loaded(index.collection("state")).name

    @classmethod
    def open(cls, target: MilvusTarget, index: MilvusIndex | None = None) -> MilvusServedIndex:
        index = index or MilvusIndex.connect(target)
        stamp = index.stamp()
        if stamp is None or not index.client.has_collection(index.collection("state").name):
            raise MilvusConfigMismatch(
                f"Milvus at {target.uri} holds no housing-kb index under the prefix {target.prefix!r}: "
                "run `housing-kb migrate --to milvus` (or an ingest with HOUSING_KB_BACKEND=milvus)"
            )
        return cls(index, stamp)

    @property
    def location(self) -> str:
        return f"{self.index.target.uri} (collections {self.index.target.prefix}_*)"

    @property
    def generation(self) -> int:
        return int(self.stamp.get("generation", -1))

    def is_current(self) -> bool:
        """False once the deployment holds another state than the one this was opened at."""
        return self.index.stamp() == self.stamp

    @cached_property
    def _settings(self) -> dict[str, Any]:
        value: dict[str, Any] = self.state("config") or {}
        return value

    @property
    def config(self) -> IndexConfig:
        return IndexConfig(**self._settings["config"])

    @property
    def secondary_model_id(self) -> str | None:
        return self._settings.get("secondary_model_id") or None

    def state(self, name: str) -> Any:
        """A named value of ``<prefix>_state`` (``index/adapters/milvus.py``, ``state_rows``), or None."""
        parts = sorted(
            self._query_all(self._state, _equals("doc_id", name), ["seq", "text"], PART_BATCH),
            key=lambda r: r["seq"],
        )
        return json.loads("".join(r["text"] for r in parts)) if parts else None

    # -- what the engine derives from the whole index ---------------------------------------------
    def iter_passages(self, columns: str = "*") -> Iterator[dict[str, Any]]:
        """Every passage in id order as the selected fields, like ``IndexStore.iter_passages``."""
        wanted = None if columns.strip() == "*" else [c.strip() for c in columns.split(",")]
        rows = sorted(self._query_all(self._passages, "", ["record"]), key=lambda r: int(r["id"]))
        for r in rows:
            record = r["record"]
            yield record if wanted is None else {c: record[c] for c in wanted}

    def passage_texts(self, ids: Sequence[int] | np.ndarray) -> dict[int, str]:
        return {pid: p.text for pid, p in self.passages([int(i) for i in ids]).items()}

    def vectors_for(self, ids: Sequence[int]) -> np.ndarray:
        """The e5 vectors of these passages as embedded (before the channel's projection), in the
        given order, like ``IndexStore.vectors_for``."""
        if not len(ids):
            return np.zeros((0, self.config.dim), np.float32)
        rows = self._client.get(self._passages, ids=[int(i) for i in ids], output_fields=["stored_vector"])
        by_id = {int(r["id"]): r["stored_vector"] for r in rows}
        return np.asarray([by_id[int(i)] for i in ids], dtype=np.float32)

    def vector_count(self, model_id: str | None = None) -> int:
        name = "use" if model_id and model_id != self.config.model_id else "e5"
        return self.index.channel(name).count()

    @cached_property
    def _basis(self) -> np.ndarray:
        basis = self.index.vectors("e5").basis
        return basis if basis.size else np.zeros((0, self.config.dim), np.float32)

    def language_basis(self) -> np.ndarray:
        return self._basis

    def lexical_index(self) -> Any:
        """The BM25 channel, or None when the index has none."""
        has_bm25 = self._client.has_collection(self.index.channel("bm25").name)
        return self.index.lexical() if has_bm25 else None

    def word_lexicon(self) -> Any:
        """(the word lexicon, the generation it was built at), or None."""
        from housing_kb.index.lexical.translation import TranslationError, WordLexicon

        value = self.state("lexicon")
        if value is None:
            return None
        try:
            return WordLexicon.from_json(value)
        except TranslationError as exc:
            log.warning("%s; questions are not translated for BM25 until the next sync", exc)
            return None

    @cached_property
    def _countries(self) -> dict[str, Any]:
        value: dict[str, Any] = self.state("countries") or {}
        return value

    def indicator_observations(self) -> list[Observation]:
        return [Observation(**o) for o in self._countries.get("observations", [])]

    def indicator_imports(self) -> dict[int, dict[str, Any]]:
        return {int(k): v for k, v in self._countries.get("imports", {}).items()}


def _equals(field: str, value: str) -> str | None:
    """The expression ``field == value``; None for a value no stored field can hold."""
    literal = string_literal(value)
    return None if literal is None else f"{field} == {literal}"
