"""Shared dependencies: the one read-only SearchEngine per process, and model conversions."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import asdict
from functools import cache, lru_cache
from pathlib import Path

from fastapi import Request

from housing_kb.api.schemas import CitationOut, DocumentOut, HitOut, PassageOut, TranslationOut
from housing_kb.index.answers.gists import TranslationCache, translate
from housing_kb.index.answers.synthesis import LLMConfig, SynthesisError
from housing_kb.index.query.engine import SearchEngine
from housing_kb.index.query.hits import DocumentRef, Hit
from housing_kb.schema.records import DocumentRecord, PassageRecord
from housing_kb.schema.vocabulary import COMPONENT_KEYS


def get_engine(request: Request) -> SearchEngine:
    """The shared engine pinned to the index's current state for this request: a rebuild or an ingest
    committing meanwhile never shows the request half of one state and half of another."""
    return request.app.state.engine.pinned()


_TRANSLATION_CACHES: dict[Path, TranslationCache] = {}
_CACHES_LOCK = threading.Lock()


def translation_cache(engine: SearchEngine) -> TranslationCache:
    """The machine-translation cache beside the engine's index, opened once per index directory. A
    server on Milvus keeps it in its own cache directory: it is a cache of the translation endpoint's
    answers, not index state."""
    with _CACHES_LOCK:
        directory = getattr(engine.store, "directory", None)
        if directory is None:
            directory = engine.settings.cache_dir / "translations" / engine.settings.milvus_prefix
            directory.mkdir(parents=True, exist_ok=True)
        if directory not in _TRANSLATION_CACHES:
            _TRANSLATION_CACHES[directory] = TranslationCache(directory)
        return _TRANSLATION_CACHES[directory]


def gists(
    engine: SearchEngine, texts: list[tuple[str, str]], language: str | None
) -> tuple[list, str | None]:
    """Machine translations of (text, language) into ``language`` as plain dicts, and a note when
    none could be made: no endpoint configured, or the endpoint failed (the response still stands)."""
    if not language or not texts:
        return [None] * len(texts), None
    try:
        config = LLMConfig.from_settings(engine.settings)
    except SynthesisError as exc:
        return [None] * len(texts), str(exc)
    if config is None:
        return [None] * len(texts), "no translation: HOUSING_KB_LLM_BASE_URL is not configured"
    try:
        made = translate(translation_cache(engine), texts, language, config)
    except SynthesisError as exc:
        return [None] * len(texts), f"no translation: {exc}"
    except sqlite3.Error as exc:  # e.g. an index directory the server may not write to
        return [None] * len(texts), f"no translation: the cache beside the index is unusable ({exc})"
    return [g.to_dict() if g else None for g in made], None


def document_out(d: DocumentRef | DocumentRecord) -> DocumentOut:
    ref = DocumentRef.from_record(d) if isinstance(d, DocumentRecord) else d
    return DocumentOut(**vars(ref))


def citation_out(hit: Hit) -> CitationOut:
    d = hit.document
    return CitationOut(
        document_id=d.id,
        title=d.title,
        page_start=hit.page_start,
        page_end=hit.page_end,
        paragraphs=hit.paragraphs,
        articles=hit.articles,
        path=d.path,
        url=d.url or d.source_url,
        publisher=d.publisher,
        year=d.year,
        label=hit.citation_line(),
    )


@cache
def _vocabularies():  # the component vocabularies, loaded once per process
    from housing_kb.ingest.tagging.components import ComponentClassifier

    return ComponentClassifier()


def tag_evidence(hit: Hit) -> dict[str, list[str]]:
    """The vocabulary terms of the hit's text that support each of its components."""
    components = tuple(c for c in hit.components if c in COMPONENT_KEYS)
    if not components:
        return {}
    found = _evidence(hit.text, hit.language, components)
    return {c: list(terms) for c, terms in found.items()}


@lru_cache(maxsize=8192)
def _evidence(text: str, language: str | None, components: tuple[str, ...]) -> dict[str, list[str]]:
    # Matching the vocabularies is a regex pass per component over the whole text, for every hit of
    # every response: the same passages come back often, so a passage's evidence is kept.
    return _vocabularies().terms(text, language, components)


def hit_out(hit: Hit) -> HitOut:
    return HitOut(
        passage_id=hit.passage_id,
        score=round(hit.score, 6),
        text=hit.text,
        highlighted=hit.highlighted,
        language=hit.language,
        page_start=hit.page_start,
        page_end=hit.page_end,
        paragraphs=hit.paragraphs,
        articles=hit.articles,
        kind=hit.kind,
        editions=hit.editions,
        matched_translations=[TranslationOut(**asdict(t)) for t in hit.matched_translations],
        heading_path=hit.heading_path,
        components=hit.components,
        component_confidence=hit.component_scores,
        tag_evidence=tag_evidence(hit),
        stages=hit.stages,
        stage_confidence=hit.stage_scores,
        countries=hit.countries,
        regions=hit.regions,
        citation=citation_out(hit),
        document=document_out(hit.document),
    )


def passage_out(p: PassageRecord) -> PassageOut:
    return PassageOut(
        passage_id=p.passage_id,
        ordinal=p.ordinal,
        text=p.text,
        language=p.language,
        page_start=p.page_start,
        page_end=p.page_end,
        char_start=p.char_start,
        char_end=p.char_end,
        paragraphs=p.paragraphs,
        articles=p.articles,
        kind=p.kind,
        heading_path=p.heading_path,
        components=p.components,
        countries=p.countries,
        regions=p.regions,
        component_scores=p.component_scores,
    )
