"""``/ask``, ``/examples``, ``/gaps``, ``/gaps.png`` and ``/brief``: answers, comparable examples and
cited briefs, thin layers over index/answers/extractive.py, index/answers/examples.py and index/answers/briefs.py."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from housing_kb.api.deps import get_engine, gists
from housing_kb.api.schemas import (
    KIND_DESCRIPTION,
    KIND_VALUES,
    MAX_QUERY_CHARS,
    TRANSLATE_DESCRIPTION,
    ErrorOut,
    GistLanguage,
    enum_items,
    enum_or_null,
)
from housing_kb.api.schemas_answers import (
    AnswerResponse,
    AskRequest,
    BriefFormatKey,
    BriefRequest,
    ExamplesResponse,
    GapsResponse,
    GroupByKey,
)
from housing_kb.api.throttle import WorkGate
from housing_kb.config import Settings
from housing_kb.index.answers.briefs import Brief, build_brief, render_brief, slug
from housing_kb.index.answers.examples import ExampleRequestError, find_examples
from housing_kb.index.answers.extractive import answer_question
from housing_kb.index.answers.gaps import gap_map, heatmap_png
from housing_kb.index.answers.synthesis import LLMConfig, SynthesisError
from housing_kb.index.query.engine import SearchEngine
from housing_kb.index.query.filters import COMPONENTS, REGIONS, Filters

router = APIRouter(tags=["answers"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorOut, "description": "Invalid parameter (the message names it)."}
}
_FILES = {
    200: {
        "content": {
            "application/pdf": {},
            "text/html": {},
            "text/markdown": {},
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {},
        },
        "description": "The brief.",
    },
    503: {
        "model": ErrorOut,
        "description": "Too many briefs are being made at once; the Retry-After header says when to try again.",
    },
}


def limit_briefs(settings: Settings) -> WorkGate:
    """Briefs run a pool search, an answer, examples and a renderer (WeasyPrint for PDF): this many at
    once (HOUSING_KB_BRIEF_WORKERS), this many more waiting (HOUSING_KB_BRIEF_QUEUE), and the rest
    refused with 503 so that search and health keep their threads. One gate per process: the app
    factory sets it from its settings."""
    global BRIEFS_AT_ONCE
    BRIEFS_AT_ONCE = WorkGate(slots=settings.brief_workers, queue=settings.brief_queue, what="brief")
    return BRIEFS_AT_ONCE


BRIEFS_AT_ONCE = WorkGate(
    slots=Settings.model_fields["brief_workers"].default,
    queue=Settings.model_fields["brief_queue"].default,
    what="brief",
)

# Briefs take seconds to gather; the page's "brief" button and a format switch reuse the last ones.
_BRIEFS: OrderedDict[tuple, Brief] = OrderedDict()
_BRIEFS_LOCK = threading.Lock()
_BRIEF_CACHE_SIZE = 8


def _invalid(exc: ValueError) -> JSONResponse:
    message = str(exc)
    parameter = getattr(exc, "parameter", None) or (message.split(":", 1)[0] if ":" in message else None)
    return JSONResponse(
        status_code=422, content={"error": "invalid_parameter", "message": message, "parameter": parameter}
    )


def _llm(engine: SearchEngine) -> LLMConfig | None:
    """The endpoint the engine's settings configure (HOUSING_KB_LLM_*), None when there is none."""
    try:
        return LLMConfig.from_settings(engine.settings)
    except SynthesisError:
        return None


def run_ask(req: AskRequest, engine: SearchEngine) -> AnswerResponse:
    filters = Filters.from_params(
        component=req.component, region=req.region, country=req.country, language=req.language, kind=req.kind
    )
    answer = answer_question(
        engine,
        req.q,
        passages=req.passages,
        max_sentences=req.max_sentences,
        filters=filters,
        group_by=req.group_by,
        per_group=req.per_group,
        llm=_llm(engine) if req.synthesis else None,
        force=req.force,
    )
    data = answer.to_dict()
    if req.translate_to:
        # Each quoted sentence, wherever it is listed (the answer, its groups), gets its gist.
        listed = [s for s in data["sentences"]] + [s for g in data["groups"] for s in g["sentences"]]
        made, data["translation_note"] = gists(
            engine, [(s["text"], s["language"]) for s in listed], req.translate_to
        )
        for sentence, gist in zip(listed, made, strict=True):
            sentence["gist"] = gist
    return AnswerResponse.model_validate(data)


@router.get("/ask", response_model=AnswerResponse, responses=_ERRORS, summary="Answer a policy question")
def ask_get(
    engine: Annotated[SearchEngine, Depends(get_engine)],
    q: Annotated[
        str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="A policy question, any language.")
    ],
    passages: Annotated[int, Query(ge=1, le=30, description="Top passages to draw sentences from.")] = 10,
    max_sentences: Annotated[
        int,
        Query(
            ge=1,
            le=20,
            description="Sentences in the answer; with grouping, the most groups (of per_group sentences each).",
        ),
    ] = 6,
    group_by: Annotated[GroupByKey, Query(description="auto, country, component or none.")] = "auto",
    per_group: Annotated[
        int, Query(ge=1, le=10, description="With grouping: sentences per country or component.")
    ] = 2,
    synthesis: Annotated[
        bool, Query(description="Add an LLM synthesis when an endpoint is configured.")
    ] = True,
    component: Annotated[
        list[str],
        Query(
            description="Adequacy component filter (repeatable).", json_schema_extra=enum_items(COMPONENTS)
        ),
    ] = [],  # noqa: B006
    region: Annotated[
        list[str],
        Query(description="UN-Habitat region filter (repeatable).", json_schema_extra=enum_items(REGIONS)),
    ] = [],  # noqa: B006
    country: Annotated[list[str], Query(description="ISO alpha-3 country filter (repeatable).")] = [],  # noqa: B006
    language: Annotated[list[str], Query(description="Passage language filter (repeatable).")] = [],  # noqa: B006
    kind: Annotated[
        list[str], Query(description=KIND_DESCRIPTION, json_schema_extra=enum_items(KIND_VALUES))
    ] = [],  # noqa: B006
    force: Annotated[
        bool, Query(description="Answer from the closest passages even when none is a good match.")
    ] = False,
    translate_to: Annotated[GistLanguage | None, Query(description=TRANSLATE_DESCRIPTION)] = None,
) -> AnswerResponse:
    """An extractive answer: the most relevant sentences of the top passages, verbatim and cited (document,
    page, paragraph, passage id), each in its source language. Comparative questions ("which countries...",
    "comparer...") are grouped by country or component. With ``HOUSING_KB_LLM_BASE_URL`` configured, a
    synthesis whose every sentence cites a retrieved passage is added (uncited sentences are dropped and
    counted)."""
    req = AskRequest(
        q=q,
        passages=passages,
        max_sentences=max_sentences,
        group_by=group_by,
        per_group=per_group,
        synthesis=synthesis,
        component=component,
        region=region,
        country=country,
        language=language,
        kind=kind,
        force=force,
        translate_to=translate_to,
    )
    return run_ask(req, engine)


@router.post(
    "/ask", response_model=AnswerResponse, responses=_ERRORS, summary="Answer a policy question (JSON body)"
)
def ask_post(req: AskRequest, engine: Annotated[SearchEngine, Depends(get_engine)]) -> AnswerResponse:
    """The same as ``GET /ask`` with the parameters in a JSON body."""
    return run_ask(req, engine)


@router.get(
    "/examples",
    response_model=ExamplesResponse,
    responses=_ERRORS | {404: {"model": ErrorOut, "description": "Unknown passage_id."}},
    summary="Comparable examples from other countries",
)
def examples(
    engine: Annotated[SearchEngine, Depends(get_engine)],
    q: Annotated[
        str | None,
        Query(max_length=MAX_QUERY_CHARS, description="Topic or question (optional with passage_id)."),
    ] = None,
    country: Annotated[
        str | None, Query(description="Reference country (ISO alpha-3): examples come from others.")
    ] = None,
    region: Annotated[
        str | None, Query(description="Reference region.", json_schema_extra=enum_or_null(REGIONS))
    ] = None,
    component: Annotated[
        str | None,
        Query(
            description="Only passages tagged with this component.",
            json_schema_extra=enum_or_null(COMPONENTS),
        ),
    ] = None,
    passage_id: Annotated[
        str | None, Query(description="Reference passage: its countries, regions and components.")
    ] = None,
    per_country: Annotated[
        int, Query(ge=1, le=10, description="At most this many examples per country.")
    ] = 2,
    k: Annotated[int, Query(ge=1, le=50, description="Number of examples.")] = 10,
    same_region: Annotated[bool, Query(description="Only countries of the reference's region(s).")] = False,
    shared_components: Annotated[
        bool, Query(description="Only passages sharing the reference's components.")
    ] = False,
) -> Any:
    """The best passages on a topic from countries other than the reference, at most ``per_country`` each,
    diversified by maximal marginal relevance. Each example carries country, region, components, a verbatim
    excerpt and its citation."""
    try:
        result = find_examples(
            engine,
            q,
            country=country,
            region=region,
            component=component,
            passage_id=passage_id,
            per_country=per_country,
            k=k,
            same_region=same_region,
            shared_components=shared_components,
        )
    except ExampleRequestError as exc:
        if str(exc).startswith("passage_id: no passage"):
            return JSONResponse(status_code=404, content={"error": "not_found", "message": str(exc)})
        return _invalid(exc)
    return ExamplesResponse.model_validate(result.to_dict())


@router.get("/gaps", response_model=GapsResponse, responses=_ERRORS, summary="Evidence-gap map (counts)")
def gaps(
    engine: Annotated[SearchEngine, Depends(get_engine)],
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="Topic or query.")],
    pool: Annotated[int, Query(ge=10, le=500, description="Size of the topic's candidate pool.")] = 100,
) -> GapsResponse:
    """Passages on the topic (its ``pool`` best hybrid matches) counted by region x adequacy component."""
    return GapsResponse.model_validate(gap_map(engine, q, pool).to_dict())


@router.get(
    "/gaps.png",
    responses=_ERRORS | {200: {"content": {"image/png": {}}, "description": "The heatmap."}},
    response_class=Response,
    summary="Evidence-gap heatmap (PNG)",
)
def gaps_png(
    engine: Annotated[SearchEngine, Depends(get_engine)],
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="Topic or query.")],
    pool: Annotated[int, Query(ge=10, le=500, description="Size of the topic's candidate pool.")] = 100,
) -> Response:
    """The evidence-gap map as a heatmap image, for an ``<img src="/gaps.png?q=...">``."""
    png = heatmap_png(gap_map(engine, q, pool), dpi=110)
    return Response(content=png, media_type="image/png", headers={"Cache-Control": "max-age=300"})


def _brief(engine: SearchEngine, req: BriefRequest) -> Brief:
    key = (
        engine.store.generation,
        req.topic.strip().lower(),
        req.summary_sentences,
        req.per_component,
        req.examples,
        req.per_country,
        req.force,
    )
    with _BRIEFS_LOCK:
        cached = _BRIEFS.get(key)
        if cached is not None:
            _BRIEFS.move_to_end(key)
            return cached
    brief = build_brief(
        engine,
        req.topic,
        summary_sentences=req.summary_sentences,
        per_component=req.per_component,
        examples=req.examples,
        per_country=req.per_country,
        force=req.force,
    )
    with _BRIEFS_LOCK:
        _BRIEFS[key] = brief
        while len(_BRIEFS) > _BRIEF_CACHE_SIZE:
            _BRIEFS.popitem(last=False)
    return brief


def _file(engine: SearchEngine, req: BriefRequest) -> Response:
    try:
        with BRIEFS_AT_ONCE.enter():
            brief = _brief(engine, req)
            if req.translate_to:
                brief = brief.with_gists(lambda quoted: gists(engine, quoted, req.translate_to))
            data, media_type, ext = render_brief(brief, req.format)
    except ValueError as exc:
        return _invalid(exc)
    name = f"brief-{slug(req.topic)}.{ext}"
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return Response(content=data, media_type=media_type, headers={"Content-Disposition": disposition})


@router.post(
    "/brief", response_class=Response, responses=_ERRORS | _FILES, summary="A cited brief (JSON body)"
)
def brief_post(req: BriefRequest, engine: Annotated[SearchEngine, Depends(get_engine)]) -> Response:
    """A cited evidence brief on a topic as a file (md, html, pdf or docx): evidence summary, a section per
    adequacy component by region and country, comparable examples, evidence-gap map and references."""
    return _file(engine, req)


@router.get("/brief", response_class=Response, responses=_ERRORS | _FILES, summary="Download a cited brief")
def brief_get(
    engine: Annotated[SearchEngine, Depends(get_engine)],
    topic: Annotated[
        str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="e.g. 'slum upgrading'.")
    ],
    format: Annotated[BriefFormatKey, Query(description="md, html, pdf or docx.")] = "pdf",
    force: Annotated[
        bool, Query(description="Write the brief even when the collection holds no good match for the topic.")
    ] = False,
    translate_to: Annotated[GistLanguage | None, Query(description=TRANSLATE_DESCRIPTION)] = None,
) -> Response:
    """The same as ``POST /brief``, for a plain link or button: ``/brief?topic=slum+upgrading&format=pdf``.

    A topic with no good match in the collection is a 422 (``parameter: topic``) unless ``force=true``."""
    return _file(engine, BriefRequest(topic=topic, format=format, force=force, translate_to=translate_to))
