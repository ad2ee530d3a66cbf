"""``/suggest`` and ``/health``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from housing_kb.api.deps import get_engine
from housing_kb.api.schemas import ErrorOut, HealthResponse, Suggestion, SuggestResponse
from housing_kb.index.answers.synthesis import LLMConfig, SynthesisError
from housing_kb.index.query.engine import SearchEngine
from housing_kb.schema.labels import load_labels

router = APIRouter(tags=["meta"])


@router.get(
    "/suggest",
    response_model=SuggestResponse,
    responses={422: {"model": ErrorOut, "description": "Invalid parameter (the message names it)."}},
    summary="Typeahead",
)
def suggest(
    engine: Annotated[SearchEngine, Depends(get_engine)],
    q: Annotated[str, Query(min_length=1, max_length=100, description="What the user has typed so far.")],
    limit: Annotated[int, Query(ge=1, le=50, description="Most suggestions to return.")] = 10,
) -> SuggestResponse:
    """Completions over document titles, country names and adequacy components, in any UN language."""
    return SuggestResponse(q=q, suggestions=[Suggestion(**s) for s in engine.suggest(q, limit=limit)])


@router.get("/labels", summary="Display names of every filter vocabulary, in seven languages")
def labels() -> dict[str, dict[str, dict[str, str]]]:
    """Names of the adequacy components, UN-Habitat regions, supply-chain stages, document types and SDG
    series in ar, en, es, fr, pt, ru and zh, keyed ``{section: {key: {language: name}}}``; ``short_names``
    holds shorter forms (for chips and table headers) keyed like the names they shorten."""
    return load_labels()


@router.get("/health", response_model=HealthResponse, summary="Liveness and index state")
def health(engine: Annotated[SearchEngine, Depends(get_engine)]) -> HealthResponse:
    return HealthResponse(
        status="ok",
        documents=len(engine.documents),
        passages=len(engine.filter_table),
        model_id=engine.store.config.model_id,
        generation=engine.view.generation,
        channels_catching_up=engine.view.catching_up,
        index_refused=engine.refused_swap,
        tagged=engine.filter_table.tagged,
        lexical=engine.has_lexical,
        query_engine=engine.query_engine_name,
        language_directions_removed=int(engine.store.language_basis().shape[0]),
        translation_words=len(engine.translator.lexicon) if engine.translator else 0,
        machine_translation=_translation_configured(engine),
    )


def _translation_configured(engine: SearchEngine) -> bool:
    try:
        return LLMConfig.from_settings(engine.settings) is not None
    except SynthesisError:  # half configured: translate_to will say why
        return False
