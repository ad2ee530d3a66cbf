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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from housing_kb.index.adapters.milvus import MilvusIndex, string_literal
from housing_kb.schema.records import DocumentRecord, Page, PassageRecord

#: Rows per page of a query iterator.
QUERY_BATCH = 1000


class MilvusPassageStore:
    """Documents, pages and passages as typed records, from one Milvus deployment (read-only: the
    embedded index stays the source every write goes to, and the sync copies it here)."""

    def __init__(self, index: MilvusIndex) -> None:
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
            self._query_all(self._pages, _equals("doc_id", doc_id), ["seq", "record", "text"]),
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

    def _query_all(self, collection: str, where: str | None, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row matching ``where`` (None: none), in pages (a plain query stops at Milvus's
        result window)."""
        if where is None:
            return
        pages = self._client.query_iterator(
            collection, batch_size=QUERY_BATCH, filter=where, output_fields=fields
        )
        try:
            while page := pages.next():
                yield from page
        finally:
            pages.close()


def _equals(field: str, value: str) -> str | None:
    """The expression ``field == value``; None for a value no stored field can hold."""
    literal = string_literal(value)
    return None if literal is None else f"{field} == {literal}"
