"""``/search`` and ``/facets``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from housing_kb.api.deps import get_engine, gists, hit_out
from housing_kb.api.schemas import (
    KIND_DESCRIPTION,
    KIND_VALUES,
    MAX_K,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    TRANSLATE_DESCRIPTION,
    ErrorOut,
    FacetsResponse,
    GistLanguage,
    GistOut,
    SearchMode,
    SearchRequest,
    SearchResponse,
    TranslationOut,
    enum_items,
)
from housing_kb.index.query.engine import SearchEngine
from housing_kb.index.query.filters import COMPONENTS, DOCUMENT_TYPES, REGIONS, STAGES, Filters
from housing_kb.index.query.hits import SearchResult

router = APIRouter(tags=["search"])
_ERRORS = {422: {"model": ErrorOut, "description": "Invalid parameter (the message names it)."}}


def _filters(req: SearchRequest) -> Filters:
    return Filters.from_params(
        component=req.component,
        region=req.region,
        country=req.country,
        document_type=req.document_type,
        language=req.language,
        year_from=req.year_from,
        year_to=req.year_to,
        stage=req.stage,
        min_confidence=req.min_confidence,
        kind=req.kind,
    )


def run_search(req: SearchRequest, engine: SearchEngine) -> SearchResponse:
    result = _search(req, engine)
    made, note = gists(engine, [(h.text, h.language) for h in result.hits], req.translate_to)
    return _response(req, result, made, note)


def _search(req: SearchRequest, engine: SearchEngine) -> SearchResult:
    return engine.search(
        req.q,
        k=req.k,
        offset=req.offset,
        filters=_filters(req),
        mode=req.mode,
        group_by_document=req.group_by_document,
        max_per_document=req.max_per_document,
        one_edition_per_work=req.one_edition_per_work,
        highlight=req.highlight,
        with_facets=req.facets,
        boost_places=req.boost_places,
    )


def _response(req: SearchRequest, result: SearchResult, made: list, note: str | None) -> SearchResponse:
    return SearchResponse(
        query=req.q,
        mode=req.mode,
        k=req.k,
        offset=req.offset,
        total=result.total,
        relevance=result.relevance.to_dict() if result.relevance else None,
        query_language=result.query_language,
        boosted_countries=result.boosted_countries,
        boosted_regions=result.boosted_regions,
        query_translations=[TranslationOut(**asdict(t)) for t in result.translations],
        hits=[
            hit_out(h).model_copy(update={"gist": GistOut(**g) if g else None})
            for h, g in zip(result.hits, made, strict=True)
        ],
        translation_note=note,
        facets=result.facets if req.facets else None,
    )


@router.get("/search", response_model=SearchResponse, responses=_ERRORS, summary="Search passages")
def search_get(
    engine: Annotated[SearchEngine, Depends(get_engine)],
    q: Annotated[
        str,
        Query(min_length=1, max_length=MAX_QUERY_CHARS, description="Question or keywords, any language."),
    ],
    component: Annotated[
        list[str],
        Query(
            description="Adequacy component filter (repeatable).", json_schema_extra=enum_items(COMPONENTS)
        ),
    ] = [],  # noqa: B006
    stage: Annotated[
        list[str],
        Query(
            description="Housing supply-chain stage filter (repeatable).",
            json_schema_extra=enum_items(STAGES),
        ),
    ] = [],  # noqa: B006
    min_confidence: Annotated[
        float | None,
        Query(ge=0.0, le=1.0, description="With component or stage: the tagger probability a passage needs."),
    ] = None,
    region: Annotated[
        list[str],
        Query(description="UN-Habitat region filter (repeatable).", json_schema_extra=enum_items(REGIONS)),
    ] = [],  # noqa: B006
    country: Annotated[list[str], Query(description="ISO alpha-3 country filter (repeatable).")] = [],  # noqa: B006
    document_type: Annotated[
        list[str],
        Query(description="Document type filter (repeatable).", json_schema_extra=enum_items(DOCUMENT_TYPES)),
    ] = [],  # noqa: B006
    language: Annotated[list[str], Query(description="Passage language filter (repeatable).")] = [],  # noqa: B006
    kind: Annotated[
        list[str], Query(description=KIND_DESCRIPTION, json_schema_extra=enum_items(KIND_VALUES))
    ] = [],  # noqa: B006
    translate_to: Annotated[GistLanguage | None, Query(description=TRANSLATE_DESCRIPTION)] = None,
    year_from: Annotated[
        int | None, Query(ge=1900, le=2100, description="Earliest document year (inclusive).")
    ] = None,
    year_to: Annotated[
        int | None, Query(ge=1900, le=2100, description="Latest document year (inclusive).")
    ] = None,
    mode: Annotated[SearchMode, Query(description="lexical, dense or hybrid.")] = "hybrid",
    k: Annotated[int, Query(ge=1, le=MAX_K, description="Number of hits to return.")] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Number of hits to skip (paging).")] = 0,
    group_by_document: Annotated[int | None, Query(ge=1, le=20, description="Max hits per document.")] = None,
    max_per_document: Annotated[
        int | None,
        Query(
            ge=0,
            le=10,
            description="At most this many of the first 10 hits from one document (default 6; 0: off).",
        ),
    ] = None,
    one_edition_per_work: Annotated[
        bool, Query(description="One edition of each work, in the query's language when there is one.")
    ] = True,
    highlight: Annotated[bool, Query(description="Mark matched terms with <mark> in `highlighted`.")] = True,
    facets: Annotated[bool, Query(description="Also return facet counts for the query and filters.")] = False,
    boost_places: Annotated[
        bool, Query(description="Favour documents about a country the query names (ignored with `country`).")
    ] = True,
) -> SearchResponse:
    """Cited, highlighted passages for a question in any UN language, with exact filters.

    Filters are ORed within a parameter and ANDed across parameters."""
    req = SearchRequest(
        q=q,
        component=component,
        stage=stage,
        min_confidence=min_confidence,
        region=region,
        country=country,
        document_type=document_type,
        language=language,
        kind=kind,
        translate_to=translate_to,
        year_from=year_from,
        year_to=year_to,
        mode=mode,
        k=k,
        offset=offset,
        group_by_document=group_by_document,
        max_per_document=max_per_document,
        one_edition_per_work=one_edition_per_work,
        highlight=highlight,
        facets=facets,
        boost_places=boost_places,
    )
    return run_search(req, engine)


@router.post(
    "/search", response_model=SearchResponse, responses=_ERRORS, summary="Search passages (JSON body)"
)
def search_post(req: SearchRequest, engine: Annotated[SearchEngine, Depends(get_engine)]) -> SearchResponse:
    """The same as ``GET /search`` with the parameters in a JSON body."""
    return run_search(req, engine)


@router.get("/facets", response_model=FacetsResponse, responses=_ERRORS, summary="Facet counts")
def facets(
    engine: Annotated[SearchEngine, Depends(get_engine)],
    q: Annotated[
        str | None, Query(max_length=MAX_QUERY_CHARS, description="Optional query; omitted = all passages.")
    ] = None,
    component: Annotated[
        list[str],
        Query(
            description="Adequacy component filter (repeatable).", json_schema_extra=enum_items(COMPONENTS)
        ),
    ] = [],  # noqa: B006
    stage: Annotated[
        list[str],
        Query(
            description="Housing supply-chain stage filter (repeatable).",
            json_schema_extra=enum_items(STAGES),
        ),
    ] = [],  # noqa: B006
    min_confidence: Annotated[
        float | None,
        Query(ge=0.0, le=1.0, description="With component or stage: the tagger probability a passage needs."),
    ] = None,
    region: Annotated[
        list[str],
        Query(description="UN-Habitat region filter (repeatable).", json_schema_extra=enum_items(REGIONS)),
    ] = [],  # noqa: B006
    country: Annotated[list[str], Query(description="ISO alpha-3 country filter (repeatable).")] = [],  # noqa: B006
    document_type: Annotated[
        list[str],
        Query(description="Document type filter (repeatable).", json_schema_extra=enum_items(DOCUMENT_TYPES)),
    ] = [],  # noqa: B006
    language: Annotated[list[str], Query(description="Passage language filter (repeatable).")] = [],  # noqa: B006
    kind: Annotated[
        list[str], Query(description=KIND_DESCRIPTION, json_schema_extra=enum_items(KIND_VALUES))
    ] = [],  # noqa: B006
    year_from: Annotated[
        int | None, Query(ge=1900, le=2100, description="Earliest document year (inclusive).")
    ] = None,
    year_to: Annotated[
        int | None, Query(ge=1900, le=2100, description="Latest document year (inclusive).")
    ] = None,
    mode: Annotated[
        SearchMode, Query(description="Retrieval mode of the query's candidate pool (unused without q).")
    ] = "hybrid",
) -> FacetsResponse:
    """Counts per component, region, country, document type, language and year.

    With ``q``: over the query's candidate pool (the top passages that pass the filters). Without: over every
    passage that passes the filters."""
    f = Filters.from_params(
        component=component,
        stage=stage,
        min_confidence=min_confidence,
        region=region,
        country=country,
        document_type=document_type,
        language=language,
        year_from=year_from,
        year_to=year_to,
        kind=kind,
    )
    total, counts = engine.facets(q, f, mode=mode)
    return FacetsResponse(query=q, total=total, facets=counts)
