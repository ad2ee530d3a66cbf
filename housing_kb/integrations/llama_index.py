"""housing-kb inside LlamaIndex: a retriever over our hybrid multilingual search, and a reader that hands
out our cleaned, cited passages.

>>> from llama_index.core.vector_stores import MetadataFilter, MetadataFilters
>>> retriever = HousingKBRetriever(index_dir="data/index", similarity_top_k=5,        # doctest: +SKIP
...     filters=MetadataFilters(filters=[MetadataFilter(key="country", value="KEN")]))
>>> [n.node.metadata["citation"] for n in retriever.retrieve("security of tenure")]  # doctest: +SKIP
['Kenya National Housing Policy 2016 — p. 14 — 2016 [ke-housing-policy-2016:0031:8d2f11aa]', ...]

The retriever runs the product's own search (BM25 + e5 + USE, exact filters) in-process on an index
folder, or against a running server (``server_url``); either way a node's metadata carries the
citation, the tags, the language and the passage id. llama-index ``MetadataFilters`` map onto the exact
filters; one that has no exact equivalent is an error, never silently dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import (
    Document,
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from housing_kb.config import Settings
from housing_kb.index.query.filters import Filters
from housing_kb.index.query.hits import Hit

#: llama-index metadata keys -> our filter fields (singular and plural both accepted).
_LIST_KEYS = {
    "component": "components",
    "components": "components",
    "stage": "stages",
    "stages": "stages",
    "region": "regions",
    "regions": "regions",
    "country": "countries",
    "countries": "countries",
    "document_type": "document_types",
    "language": "languages",
    "document_id": "document_ids",
}
_MEMBERSHIP = (FilterOperator.EQ, FilterOperator.IN, FilterOperator.ANY, FilterOperator.CONTAINS)
SUPPORTED_KEYS = (*sorted(_LIST_KEYS), "year")

#: Metadata an LLM prompt does not need (the citation and title say where a text comes from).
_NOT_FOR_LLM = [
    "passage_id",
    "document_id",
    "url",
    "page_start",
    "page_end",
    "component_confidence",
    "stages",
    "regions",
    "document_type",
]


class UnsupportedFilter(ValueError):
    """A llama-index filter with no exact housing-kb equivalent; the message says which and why."""


def to_filters(metadata_filters: MetadataFilters | None) -> Filters:
    """Our exact :class:`Filters` for llama-index ``MetadataFilters``.

    Values of one key are ORed (``EQ`` twice under ``OR``, or ``IN``); keys are ANDed. ``year``
    takes ``EQ``, ``GT``/``GTE`` and ``LT``/``LTE``.

    >>> to_filters(MetadataFilters(filters=[MetadataFilter(key="country", value="KEN")])).countries
    ['KEN']
    >>> to_filters(MetadataFilters(filters=[MetadataFilter(key="year", value=2015, operator=">=")])).year_from
    2015
    """
    out = Filters()
    if metadata_filters is None:
        return out
    items = list(metadata_filters.filters)
    if any(isinstance(f, MetadataFilters) for f in items):
        raise UnsupportedFilter("nested MetadataFilters are not supported: give one flat list of filters")
    condition = metadata_filters.condition or FilterCondition.AND
    keys = {f.key for f in items}
    if condition == FilterCondition.OR and len(keys) > 1:
        raise UnsupportedFilter(
            f"condition OR across different keys ({', '.join(sorted(keys))}) has no exact equivalent: "
            "values of one key are ORed, different keys are ANDed"
        )
    if condition not in (FilterCondition.AND, FilterCondition.OR):
        raise UnsupportedFilter(f"condition {condition.value!r} is not supported (use AND or OR)")
    seen: dict[str, int] = {}
    for f in items:
        if f.key == "year":
            _year(out, f)
            continue
        field_name = _LIST_KEYS.get(f.key)
        if field_name is None:
            raise UnsupportedFilter(f"unknown filter key {f.key!r}; supported: {', '.join(SUPPORTED_KEYS)}")
        if f.operator not in _MEMBERSHIP:
            raise UnsupportedFilter(
                f"filter {f.key!r}: operator {f.operator.value!r} is not supported "
                "(use ==, in, any or contains)"
            )
        seen[f.key] = seen.get(f.key, 0) + 1
        if seen[f.key] > 1 and condition == FilterCondition.AND:
            raise UnsupportedFilter(
                f"filter {f.key!r} given twice under AND: a passage would need both values; "
                "give the values in one filter with operator 'in' (any of them)"
            )
        values = f.value if isinstance(f.value, list) else [f.value]
        if not values or not all(isinstance(v, str) for v in values):
            raise UnsupportedFilter(f"filter {f.key!r}: values must be strings (got {f.value!r})")
        getattr(out, field_name).extend(values)
    out.countries = [c.upper() for c in out.countries]
    return out


def _year(out: Filters, f: MetadataFilter) -> None:
    if not isinstance(f.value, int) or isinstance(f.value, bool):
        raise UnsupportedFilter(f"filter 'year': the value must be an integer year (got {f.value!r})")
    year, op = f.value, f.operator
    lower = {FilterOperator.EQ: year, FilterOperator.GTE: year, FilterOperator.GT: year + 1}
    upper = {FilterOperator.EQ: year, FilterOperator.LTE: year, FilterOperator.LT: year - 1}
    if op not in lower and op not in upper:
        raise UnsupportedFilter(
            f"filter 'year': operator {op.value!r} is not supported (use ==, >, >=, <, <=)"
        )
    if op in lower:
        out.year_from = max(out.year_from or lower[op], lower[op])
    if op in upper:
        out.year_to = min(out.year_to or upper[op], upper[op])


def _params(filters: Filters) -> dict[str, Any]:
    """The same filters as the API's query parameters."""
    if filters.document_ids:
        raise UnsupportedFilter(
            "filter 'document_id' works in-process only (index_dir), not against a server"
        )
    return {
        "component": filters.components,
        "stage": filters.stages,
        "region": filters.regions,
        "country": filters.countries,
        "document_type": filters.document_types,
        "language": filters.languages,
        "year_from": filters.year_from,
        "year_to": filters.year_to,
    }


def passage_metadata(hit: Hit) -> dict[str, Any]:
    """What a node carries about its passage: the citation, the tags, the language and the ids."""
    doc = hit.document
    meta: dict[str, Any] = {
        "passage_id": hit.passage_id,
        "document_id": doc.id,
        "title": doc.title,
        "citation": hit.citation_line(),
        "page_start": hit.page_start,
        "page_end": hit.page_end,
        "paragraphs": list(hit.paragraphs),
        "url": doc.url or doc.source_url,
        "year": doc.year,
        "document_type": doc.document_type,
        "language": hit.language,
        "components": list(hit.components),
        "component_confidence": dict(hit.component_scores),
        "stages": list(hit.stages),
        "countries": list(hit.countries),
        "regions": list(hit.regions),
    }
    articles = getattr(hit, "articles", None)
    if articles:
        meta["articles"] = list(articles)
    return meta


def passage_node(hit: Hit) -> TextNode:
    """A passage as a llama-index ``TextNode`` (its id is the passage id)."""
    return TextNode(
        id_=hit.passage_id,
        text=hit.text,
        metadata=passage_metadata(hit),
        excluded_llm_metadata_keys=list(_NOT_FOR_LLM),
        excluded_embed_metadata_keys=[k for k in passage_metadata(hit) if k != "title"],
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=hit.document.id)},
    )


class HousingKBRetriever(BaseRetriever):
    """housing-kb's hybrid search as a llama-index retriever, in-process or against a server.

    >>> retriever = HousingKBRetriever(server_url="http://127.0.0.1:8000", similarity_top_k=3)  # doctest: +SKIP
    >>> retriever.retrieve("desalojos forzosos")[0].node.metadata["language"]                   # doctest: +SKIP
    'es'
    """

    def __init__(
        self,
        index_dir: str | Path | None = None,
        server_url: str | None = None,
        similarity_top_k: int = 10,
        filters: MetadataFilters | None = None,
        mode: str = "hybrid",
        **kwargs: Any,
    ) -> None:
        if index_dir is not None and server_url is not None:
            raise ValueError("give index_dir or server_url, not both")
        if similarity_top_k < 1:
            raise ValueError(f"similarity_top_k must be >= 1 (got {similarity_top_k})")
        self.similarity_top_k = similarity_top_k
        self.mode = mode
        self._filters = to_filters(filters)  # checked now, so a bad filter fails at construction
        self._server = None
        self._engine = None
        if server_url is not None:
            from housing_kb.api.remote import Server

            self._server = Server.from_option(server_url, Settings.from_env())
            _params(self._filters)
        else:
            from housing_kb.index.query.engine import SearchEngine
            from housing_kb.models.registry import load_query_embedder

            settings = Settings.from_env()
            if index_dir is not None:
                settings = settings.with_(index_dir=Path(index_dir))
            self._engine = SearchEngine.open(settings, load_query_embedder(settings))
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [
            NodeWithScore(node=passage_node(h), score=h.score) for h in self._hits(query_bundle.query_str)
        ]

    def _hits(self, query: str) -> list[Hit]:
        if self._server is not None:
            from housing_kb.api.remote import hit_from_api

            params = _params(self._filters) | {"q": query, "k": self.similarity_top_k, "mode": self.mode}
            data = self._server.get_json("/v1/search", params | {"highlight": False})
            return [hit_from_api(h) for h in data["hits"]]
        engine = self._engine.pinned()  # type: ignore[union-attr]
        return engine.search(query, k=self.similarity_top_k, mode=self.mode, filters=self._filters).hits  # type: ignore[arg-type]


class HousingKBReader(BaseReader):
    """Our passages (cleaned, chunked, tagged, cited) as llama-index ``Document``s or ``TextNode``s, to
    build an index of one's own. Reads the index folder; loads no model.

    >>> docs = HousingKBReader("data/index").load_data(document_ids=["un-cescr-general-comment-4-1991"])  # doctest: +SKIP
    >>> docs[0].metadata["citation"]                                                                        # doctest: +SKIP
    'CESCR General Comment No. 4 (1991): The right to adequate housing — para. 1 — 1991 [...]'
    """

    def __init__(self, index_dir: str | Path | None = None) -> None:
        self.index_dir = Path(index_dir) if index_dir is not None else Settings.from_env().index_dir

    def _hits(self, document_ids: Iterable[str] | None) -> Iterator[Hit]:
        from housing_kb.index.query.hits import hit_from_record
        from housing_kb.index.store.index_store import IndexStore

        store = IndexStore.open(self.index_dir, readonly=True)
        docs = {d.doc_id: d for d in store.documents()}
        wanted = list(document_ids) if document_ids is not None else sorted(docs)
        unknown = [d for d in wanted if d not in docs]
        if unknown:
            raise ValueError(f"no document with id {', '.join(map(repr, unknown))} in {self.index_dir}")
        for doc_id in wanted:
            for passage in store.passages_of(doc_id):
                yield hit_from_record(passage, docs[doc_id])

    def lazy_load_data(self, document_ids: Iterable[str] | None = None) -> Iterator[Document]:
        """One ``Document`` per passage (its id is the passage id), in document and passage order."""
        for hit in self._hits(document_ids):
            node = passage_node(hit)
            yield Document(
                id_=node.id_,
                text=node.text,
                metadata=node.metadata,
                excluded_llm_metadata_keys=node.excluded_llm_metadata_keys,
                excluded_embed_metadata_keys=node.excluded_embed_metadata_keys,
            )

    def load_nodes(self, document_ids: Iterable[str] | None = None) -> list[TextNode]:
        """The passages as ``TextNode``s linked to their document (SOURCE) and to their neighbours
        (PREVIOUS / NEXT), ready for a llama-index ``VectorStoreIndex(nodes)``."""
        nodes = [passage_node(h) for h in self._hits(document_ids)]
        for before, after in itertools.pairwise(nodes):
            if before.ref_doc_id == after.ref_doc_id:
                before.relationships[NodeRelationship.NEXT] = RelatedNodeInfo(node_id=after.node_id)
                after.relationships[NodeRelationship.PREVIOUS] = RelatedNodeInfo(node_id=before.node_id)
        return nodes
