"""Request and response models of ``/ask``, ``/examples``, ``/gaps`` and ``/brief``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from housing_kb.api.schemas import (
    KIND_DESCRIPTION,
    KIND_VALUES,
    MAX_QUERY_CHARS,
    TRANSLATE_DESCRIPTION,
    GistLanguage,
    GistOut,
    RelevanceOut,
    enum_items,
)
from housing_kb.api.schemas_countries import ValueOut
from housing_kb.index.query.filters import COMPONENTS, REGIONS

GroupByKey = Literal["auto", "country", "component", "none"]
BriefFormatKey = Literal["md", "html", "pdf", "docx"]


class CitationRef(BaseModel):
    passage_id: str = Field(description="Stable passage id (see /passages/{id}).")
    document_id: str = Field(description="Id of the cited document.")
    title: str = Field(description="Title of the cited document.")
    page: int | None = Field(description="Page (1-based) the text is on; null for flowing-text documents.")
    paragraphs: list[str] = Field(description="UN-style paragraph numbers of the passage.")
    articles: list[str] = Field(
        default_factory=list,
        description='Articles of a law the passage covers ("Статья 89"); empty otherwise.',
    )
    year: int | None = Field(description="Publication year; null when unknown.")
    publisher: str | None = Field(description="Publishing organisation; null when unknown.")
    url: str | None = Field(
        description="Public address of the document (its download address, else its source); null when "
        "neither is known."
    )
    path: str | None = Field(description="Path of the document relative to the corpus root.")
    label: str = Field(description="Human-readable citation.")


class AnswerSentenceOut(BaseModel):
    text: str = Field(description="A sentence quoted verbatim from the cited page.")
    language: str = Field(description="Language of the sentence (ISO 639-1); sentences are never translated.")
    score: float = Field(description="Relevance to the question (0-1 mixed scale).")
    citation: CitationRef = Field(description="Where the sentence is: document, page, paragraphs, passage.")
    countries: list[str] = Field(description="Countries of the sentence's passage (ISO alpha-3).")
    regions: list[str] = Field(description="UN-Habitat regions of the sentence's passage.")
    components: list[str] = Field(description="Adequacy components of the sentence's passage.")
    gist: GistOut | None = Field(
        None, description="A machine translation of the sentence, when translate_to asks."
    )


class AnswerGroupOut(BaseModel):
    key: str = Field(
        description="ISO alpha-3 country code or component key ('global' / 'general' when none)."
    )
    label: str = Field(description="Display name of the country or component (English).")
    sentences: list[AnswerSentenceOut] = Field(
        description="The group's best sentences (at most per_group), best first."
    )


class SynthesisSentenceOut(BaseModel):
    text: str = Field(description="Generated sentence, with its [p:ID] citations.")
    passage_ids: list[str] = Field(description="Retrieved passages it cites.")


class SynthesisOut(BaseModel):
    model: str = Field(description="The LLM that wrote the synthesis.")
    sentences: list[SynthesisSentenceOut] = Field(
        description="The generated sentences kept: each cites a retrieved passage."
    )
    dropped: int = Field(description="Generated sentences dropped because they cited no retrieved passage.")
    dropped_sentences: list[str] = Field(description="The text of the dropped sentences.")


class AnswerResponse(BaseModel):
    question: str = Field(description="The question as asked.")
    query_language: str | None = Field(
        description="Detected language of the question (ISO 639-1); null when it cannot be told (see /search)."
    )
    mode: Literal["extractive", "synthesis"] = Field(
        description="extractive: quoted sentences only; synthesis: an LLM synthesis was added."
    )
    languages: list[str] = Field(description="Languages of the quoted sentences, most frequent first.")
    sentences: list[AnswerSentenceOut] = Field(description="The cited sentences (all groups, in order).")
    grouped_by: Literal["country", "component"] | None = Field(
        description="How the sentences are grouped (a comparative question, or group_by); null: not grouped."
    )
    groups: list[AnswerGroupOut] = Field(
        description="The sentences per country or component, ordered by their best sentence; empty when "
        "not grouped."
    )
    passages_considered: int = Field(
        description="Passages the sentences were drawn from (more for a question grouped by country); 0 when "
        "nothing is quoted for want of a good match."
    )
    synthesis: SynthesisOut | None = Field(
        None, description="Present when an LLM endpoint is configured and asked for."
    )
    synthesis_error: str | None = Field(
        None,
        description="Why no synthesis came back although an endpoint is configured (the extractive answer "
        "stands); null otherwise.",
    )
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
        6,
        ge=1,
        le=20,
        description="Sentences in the answer; with grouping, the most groups (of per_group sentences each).",
    )
    group_by: GroupByKey = Field(
        "auto", description="auto groups comparative questions by country or component."
    )
    per_group: int = Field(2, ge=1, le=10, description="With grouping: sentences per country or component.")
    synthesis: bool = Field(True, description="Add an LLM synthesis when an endpoint is configured.")
    force: bool = Field(False, description="Answer from the closest passages even when none is a good match.")
    translate_to: GistLanguage | None = Field(None, description=TRANSLATE_DESCRIPTION)
    component: list[str] = Field(
        default_factory=list,
        description=f"Adequacy components (any of): {', '.join(COMPONENTS)}.",
        json_schema_extra=enum_items(COMPONENTS),
    )
    region: list[str] = Field(
        default_factory=list,
        description=f"UN-Habitat regions (any of): {', '.join(REGIONS)}.",
        json_schema_extra=enum_items(REGIONS),
    )
    country: list[str] = Field(default_factory=list, description="ISO 3166 alpha-3 country codes (any of).")
    language: list[str] = Field(default_factory=list, description="Passage languages, ISO 639-1 (any of).")
    kind: list[str] = Field(
        default_factory=list, description=KIND_DESCRIPTION, json_schema_extra=enum_items(KIND_VALUES)
    )


class ExampleReferenceOut(BaseModel):
    countries: list[str] = Field(description="Reference countries (ISO alpha-3): examples come from others.")
    regions: list[str] = Field(description="Reference regions (what same_region keeps to).")
    components: list[str] = Field(description="Reference components (what shared_components keeps to).")
    passage_id: str | None = Field(description="The reference passage; null without passage_id.")
    document_id: str | None = Field(
        description="The reference passage's document, which gives no examples; null without passage_id."
    )


class ExampleOut(BaseModel):
    country: str = Field(description="ISO alpha-3 code of the country the passage exemplifies.")
    country_name: str = Field(description="Country name (English).")
    region: str = Field(description="UN-Habitat region key of the country.")
    components: list[str] = Field(description="Adequacy components of the passage.")
    excerpt: str = Field(description="Verbatim excerpt of the cited page.")
    language: str = Field(description="Language of the excerpt (ISO 639-1).")
    relevance: float = Field(description="Cosine similarity to the topic.")
    citation: CitationRef = Field(description="Where the excerpt is: document, page, paragraphs, passage.")
    figures: dict[str, ValueOut | None] = Field(
        default_factory=dict,
        description="The country's latest SDG housing figures: series code -> value with year; null is no data.",
    )


class ExamplesResponse(BaseModel):
    query: str = Field(description="The topic searched: q, or the reference passage's text without q.")
    reference: ExampleReferenceOut = Field(description="What the examples are compared with.")
    per_country: int = Field(description="At most this many examples per country (as asked).")
    same_region: bool = Field(description="Whether examples were kept to the reference's regions (as asked).")
    shared_components: bool = Field(
        description="Whether examples were kept to the reference's components (as asked)."
    )
    countries: list[str] = Field(description="Distinct countries of the examples, in order.")
    examples: list[ExampleOut] = Field(
        description="The examples, best first, diversified by maximal marginal relevance."
    )
    figure_sources: list[str] = Field(
        default_factory=list,
        description="Source lines of the figures beside each example (see /v1/countries).",
    )


class GapsResponse(BaseModel):
    topic: str = Field(description="The topic (q) as asked.")
    regions: list[str] = Field(description="The rows of counts: UN-Habitat region keys, in order.")
    components: list[str] = Field(description="The columns of counts: adequacy component keys, in order.")
    counts: list[list[int]] = Field(description="counts[i][j]: passages of region i tagged with component j.")
    passages: int = Field(description="Passages in the topic's candidate pool.")
    untagged: int = Field(description="Pool passages with no component tag.")
    region_labels: dict[str, str] = Field(description="Region key -> region name (English).")
    component_labels: dict[str, str] = Field(description="Component key -> component name (English).")


class BriefRequest(BaseModel):
    """Body of ``POST /brief``."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, description="e.g. 'slum upgrading'.")
    format: BriefFormatKey = Field("pdf", description="md, html, pdf or docx.")
    summary_sentences: int = Field(6, ge=1, le=20, description="Sentences in the evidence summary.")
    per_component: int = Field(
        3,
        ge=1,
        le=10,
        description="At most this many passages (one per document) in each adequacy component's section.",
    )
    examples: int = Field(8, ge=1, le=30, description="Comparable examples from other countries.")
    per_country: int = Field(2, ge=1, le=10, description="At most this many examples per country.")

    force: bool = Field(
        False, description="Write the brief even when the collection holds no good match for the topic."
    )
    translate_to: GistLanguage | None = Field(None, description=TRANSLATE_DESCRIPTION)
