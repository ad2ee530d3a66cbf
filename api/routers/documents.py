"""``/documents``, ``/documents/{id}`` and ``/passages/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from housing_kb.api.deps import citation_out, document_out, get_engine, passage_out
from housing_kb.api.schemas import (
    MAX_LIST_OFFSET,
    DocumentDetail,
    DocumentsResponse,
    DocumentSummary,
    ErrorOut,
    PassageDetail,
    enum_items,
)
from housing_kb.index.query.engine import SearchEngine
from housing_kb.index.query.filters import DOCUMENT_TYPES, REGIONS
from housing_kb.schema.records import DocumentRecord

router = APIRouter(tags=["documents"])
MAX_DOCUMENTS_PAGE = 1000
_422 = {422: {"model": ErrorOut, "description": "Invalid parameter (the message names it)."}}
_404 = _422 | {404: {"model": ErrorOut, "description": "No such document or passage."}}


def _summary(engine: SearchEngine, d: DocumentRecord) -> dict:
    counts = engine.document_counts()
    passages, pages = counts.get(d.doc_id, (0, 0))
    return document_out(d).model_dump() | {"passages": passages, "pages": pages, "tag_summary": d.tag_summary}


@router.get("/documents", response_model=DocumentsResponse, responses=_422, summary="List documents")
def list_documents(
    engine: Annotated[SearchEngine, Depends(get_engine)],
    document_type: Annotated[
        list[str],
        Query(description="Only these document types.", json_schema_extra=enum_items(DOCUMENT_TYPES)),
    ] = [],  # noqa: B006
    country: Annotated[
        list[str], Query(description="Only documents about these countries (ISO alpha-3).")
    ] = [],  # noqa: B006
    region: Annotated[
        list[str],
        Query(description="Only documents of these regions.", json_schema_extra=enum_items(REGIONS)),
    ] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=MAX_DOCUMENTS_PAGE, description="Documents per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET, description="Documents to skip.")] = 0,
) -> DocumentsResponse:
    """The indexed documents with their metadata, passage count and tag summary, a page at a time."""
    engine.refresh()
    docs = [
        d
        for _, d in sorted(engine.documents.items())
        if (not document_type or d.document_type in document_type)
        and (not country or set(c.upper() for c in country) & set(d.countries))
        and (not region or set(region) & set(d.regions))
    ]
    page = docs[offset : offset + limit]
    return DocumentsResponse(
        total=len(docs),
        limit=limit,
        offset=offset,
        documents=[DocumentSummary(**_summary(engine, d)) for d in page],
    )


@router.get("/documents/{doc_id}", response_model=DocumentDetail, responses=_404, summary="One document")
def get_document(
    doc_id: Annotated[str, Path(description="Document id (see /documents).")],
    engine: Annotated[SearchEngine, Depends(get_engine)],
) -> DocumentDetail:
    """A document's metadata, its passages (in order, with pages and tags) and its tag summary."""
    engine.refresh()
    d = engine.documents.get(doc_id)
    if d is None:
        raise HTTPException(404, detail=f"no document with id {doc_id!r}")
    passages = [passage_out(p) for p in engine.passages.passages_of(doc_id)]
    return DocumentDetail(
        **_summary(engine, d),
        licence=d.licence,
        empty_pages=d.empty_pages,
        warnings=d.warnings,
        passage_list=passages,
    )


@router.get("/passages/{passage_id}", response_model=PassageDetail, responses=_404, summary="One passage")
def get_passage(
    passage_id: Annotated[
        str, Path(description="Passage id, as hits give it: <document id>:<ordinal>:<hash prefix>.")
    ],
    engine: Annotated[SearchEngine, Depends(get_engine)],
) -> PassageDetail:
    """A passage with its full citation and tags."""
    engine.refresh()
    passage = engine.passages.passage(passage_id)
    hit = engine.hit(passage) if passage is not None else None
    if passage is None or hit is None:  # unknown, or its document was removed meanwhile
        raise HTTPException(404, detail=f"no passage with id {passage_id!r}")
    p = passage_out(passage)
    return PassageDetail(**p.model_dump(), citation=citation_out(hit), document=document_out(hit.document))
