"""Request and response models of ``/ask``, ``/examples``, ``/gaps`` and ``/brief``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from housing_kb.api.schemas import (
    KIND_DESCRIPTION,
    MAX_QUERY_CHARS,
    TRANSLATE_DESCRIPTION,
    GistLanguage,
    GistOut,
    RelevanceOut,
)
from housing_kb.api.schemas_countries import ValueOut

GroupByKey = Literal["auto", "country", "component", "none"]
BriefFormatKey = Literal["md", "html", "pdf", "docx"]


class CitationRef(BaseModel):
    passage_id: str = Field(description="Stable passage id (see /passages/{id}).")
    document_id: str
    title: str
    page: int | None = Field(description="Page (1-based) the text is on; null for flowing-text documents.")
    paragraphs: list[str] = Field(description="UN-style paragraph numbers of the passage.")
    articles: list[str] = Field(
        default_factory=list,
        description='Articles of a law the passage covers ("Статья 89"); empty otherwise.',
    )
    year: int | None
    publisher: str | None
    url: str | None
    path: str | None = Field(description="Path of the document relative to the corpus root.")
    label: str = Field(description="Human-readable citation.")


class AnswerSentenceOut(BaseModel):
    text: str = Field(description="A sentence quoted verbatim from the cited page.")
    language: str = Field(description="Language of the sentence (ISO 639-1); sentences are never translated.")
    score: float = Field(description="Relevance to the question (0-1 mixed scale).")
    citation: CitationRef
    countries: list[str]
    regions: list[str]
    components: list[str]
    gist: GistOut | None = Field(
        None, description="A machine translation of the sentence, when translate_to asks."
    )


class AnswerGroupOut(BaseModel):
    key: str = Field(
        description="ISO alpha-3 country code or component key ('global' / 'general' when none)."
    )
    label: str
    sentences: list[AnswerSentenceOut]


class SynthesisSentenceOut(BaseModel):
    text: str = Field(description="Generated sentence, with its [p:ID] citations.")
    passage_ids: list[str] = Field(description="Retrieved passages it cites.")


class SynthesisOut(BaseModel):
    model: str
    sentences: list[SynthesisSentenceOut]
    dropped: int = Field(description="Generated sentences dropped because they cited no retrieved passage.")
    dropped_sentences: list[str]


class AnswerResponse(BaseModel):
    question: str
    query_language: str | None
    mode: Literal["extractive", "synthesis"]
    languages: list[str] = Field(description="Languages of the quoted sentences, most frequent first.")
    sentences: list[AnswerSentenceOut] = Field(description="The cited sentences (all groups, in order).")
    grouped_by: Literal["country", "component"] | None
    groups: list[AnswerGroupOut]
    passages_considered: int
    synthesis: SynthesisOut | None = Field(
        None, description="Present when an LLM endpoint is configured and asked for."
    )
    synthesis_error: str | None = None
    relevance: RelevanceOut | None = Field(None, description="How good the best match is (see /search).")
    no_answer: str | None = Field(
        None, description="Why no sentence is quoted: the collection holds no good match (unless force=true)."
    )
    translation_note: str | None = Field(None, description="Why translate_to added no gist.")


class AskRequest(BaseModel):
    """Body of ``POST /ask``."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(
        ..., min_length=1, max_length=MAX_QUERY_CHARS, description="A policy question, any language."
    )
    passages: int = Field(10, ge=1, le=30, description="Top passages to draw sentences from.")
    max_sentences: int = Field(
        6, ge=1, le=20, description="Sentences in the answer (per group: see per_group)."
    )
    group_by: GroupByKey = Field(
        "auto", description="auto groups comparative questions by country or component."
    )
    per_group: int = Field(2, ge=1, le=10)
    synthesis: bool = Field(True, description="Add an LLM synthesis when an endpoint is configured.")
    force: bool = Field(False, description="Answer from the closest passages even when none is a good match.")
    translate_to: GistLanguage | None = Field(None, description=TRANSLATE_DESCRIPTION)
    component: list[str] = Field(default_factory=list)
    region: list[str] = Field(default_factory=list)
    country: list[str] = Field(default_factory=list)
    language: list[str] = Field(default_factory=list)
    kind: list[str] = Field(default_factory=list, description=KIND_DESCRIPTION)


class ExampleReferenceOut(BaseModel):
    countries: list[str]
    regions: list[str]
    components: list[str]
    passage_id: str | None
    document_id: str | None


class ExampleOut(BaseModel):
    country: str = Field(description="ISO alpha-3 code of the country the passage exemplifies.")
    country_name: str
    region: str
    components: list[str]
    excerpt: str = Field(description="Verbatim excerpt of the cited page.")
    language: str
    relevance: float = Field(description="Cosine similarity to the topic.")
    citation: CitationRef
    figures: dict[str, ValueOut | None] = Field(
        default_factory=dict,
        description="The country's latest SDG housing figures: series code -> value with year; null is no data.",
    )


class ExamplesResponse(BaseModel):
    query: str
    reference: ExampleReferenceOut
    per_country: int
    same_region: bool
    shared_components: bool
    countries: list[str] = Field(description="Distinct countries of the examples, in order.")
    examples: list[ExampleOut]
    figure_sources: list[str] = Field(
        default_factory=list,
        description="Source lines of the figures beside each example (see /v1/countries).",
    )


class GapsResponse(BaseModel):
    topic: str
    regions: list[str]
    components: list[str]
    counts: list[list[int]] = Field(description="counts[i][j]: passages of region i tagged with component j.")
    passages: int = Field(description="Passages in the topic's candidate pool.")
    untagged: int = Field(description="Pool passages with no component tag.")
    region_labels: dict[str, str]
    component_labels: dict[str, str]


class BriefRequest(BaseModel):
    """Body of ``POST /brief``."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, description="e.g. 'slum upgrading'.")
    format: BriefFormatKey = Field("pdf", description="md, html, pdf or docx.")
    summary_sentences: int = Field(6, ge=1, le=20)
    per_component: int = Field(3, ge=1, le=10)
    examples: int = Field(8, ge=1, le=30)
    per_country: int = Field(2, ge=1, le=10)
    force: bool = Field(
        False, description="Write the brief even when the collection holds no good match for the topic."
    )
    translate_to: GistLanguage | None = Field(None, description=TRANSLATE_DESCRIPTION)
