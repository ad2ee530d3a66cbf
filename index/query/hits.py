"""What a search answers: hits with their full citation, the document each comes from, and the
result around them. The API, the CLI, answers, briefs and the integrations all read these.

>>> articles_label(["Art. 4", "Art. 5", "Art. 6"])
'Art. 4–Art. 6'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from housing_kb.index.lexical.translation import Translation
from housing_kb.index.query.relevance import Relevance
from housing_kb.schema.records import DocumentRecord, PassageRecord


@dataclass
class DocumentRef:
    id: str
    title: str
    path: str | None
    url: str | None
    source_url: str | None
    document_type: str
    countries: list[str]
    regions: list[str]
    year: int | None
    publisher: str | None
    language: str | None
    work_id: str | None = None

    @classmethod
    def from_record(cls, d: DocumentRecord) -> DocumentRef:
        return cls(
            id=d.doc_id,
            title=d.title,
            path=d.path,
            url=d.url,
            source_url=d.source_url,
            document_type=d.document_type,
            countries=list(d.countries),
            regions=list(d.regions),
            year=d.year,
            publisher=d.publisher,
            language=d.language,
            work_id=d.work_id,
        )


@dataclass
class Hit:
    internal_id: int
    passage_id: str
    score: float
    text: str
    language: str
    page_start: int | None
    page_end: int | None
    paragraphs: list[str]
    heading_path: list[str]
    char_start: int
    char_end: int
    components: list[str]
    countries: list[str]
    regions: list[str]
    document: DocumentRef
    highlighted: str | None = None
    channel_ranks: dict[str, int] = field(default_factory=dict)
    #: The tagger's probability for every component and stage (empty for an untagged passage).
    component_scores: dict[str, float] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)
    stage_scores: dict[str, float] = field(default_factory=dict)
    #: Articles of a law the passage covers ("Статья 89"); empty for other documents.
    articles: list[str] = field(default_factory=list)
    #: body, or the kind of furniture (reference_list, table_of_contents, ...) a kind filter asked for.
    kind: str = "body"
    #: The other editions of the hit's work (translations, copies): [{document_id, language}].
    editions: list[dict[str, str | None]] = field(default_factory=list)
    #: For a hit in another language than the query's: the query's words it matched in translation.
    matched_translations: list[Translation] = field(default_factory=list)

    def pages_label(self) -> str:
        if self.page_start is None:
            return ""
        if self.page_end and self.page_end != self.page_start:
            return f"pp. {self.page_start}-{self.page_end}"
        return f"p. {self.page_start}"

    def citation_line(self) -> str:
        parts = [self.document.title]
        if self.articles:
            parts.append(articles_label(self.articles))
        if self.pages_label():
            parts.append(self.pages_label())
        if self.paragraphs:
            parts.append("para. " + ", ".join(self.paragraphs))
        if self.document.year:
            parts.append(str(self.document.year))
        return " — ".join(parts) + f" [{self.passage_id}]"

    def to_cli_json(self) -> dict[str, Any]:
        """The stable ``search --json`` hit shape (other tools read it)."""
        return {
            "passage_id": self.passage_id,
            "score": round(float(self.score), 6),
            "text": self.text,
            "language": self.language,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "paragraphs": list(self.paragraphs),
            "articles": list(self.articles),
            "kind": self.kind,
            "editions": list(self.editions),
            "matched_translations": [asdict(t) for t in self.matched_translations],
            "citation": self.citation_line(),
            "components": list(self.components),
            "component_confidence": dict(self.component_scores),
            "stages": list(self.stages),
            "countries": list(self.countries),
            "regions": list(self.regions),
            "document": {
                "id": self.document.id,
                "title": self.document.title,
                "path": self.document.path,
                "document_type": self.document.document_type,
                "countries": list(self.document.countries),
                "regions": list(self.document.regions),
                "year": self.document.year,
            },
        }


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]
    total_candidates: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    query_language: str | None = None
    #: Countries the query names whose documents were boosted (empty when none, or when turned off).
    boosted_countries: list[str] = field(default_factory=list)
    #: Regions the query names (and no country) whose mentions were boosted.
    boosted_regions: list[str] = field(default_factory=list)
    #: The query's words translated for BM25 (hybrid mode; see SearchConfig.translate_from).
    translations: list[Translation] = field(default_factory=list)
    #: How good the best match is (index/query/relevance.py); None without a fitted model for this index.
    relevance: Relevance | None = None
    #: Matches: candidates (of the first ``SearchConfig.pool``) whose own relevance passes the floor.
    total: int = 0


def hit_from_record(p: PassageRecord, doc: DocumentRecord, score: float = 0.0) -> Hit:
    """A stored passage of ``doc`` as a :class:`Hit` (an untagged passage takes its document's places)."""
    tagged = p.tags_version is not None
    return Hit(
        internal_id=p.id,
        passage_id=p.passage_id,
        score=float(score),
        text=p.text,
        language=p.language,
        page_start=p.page_start,
        page_end=p.page_end,
        paragraphs=p.paragraphs,
        heading_path=p.heading_path,
        char_start=p.char_start,
        char_end=p.char_end,
        components=p.components,
        countries=p.countries if tagged else list(doc.countries),
        regions=p.regions if tagged else list(doc.regions),
        document=DocumentRef.from_record(doc),
        component_scores=p.component_scores,
        stages=p.stages,
        stage_scores=p.stage_scores,
        articles=p.articles,
        kind=p.kind,
    )


def articles_label(articles: list[str]) -> str:
    """The articles of a citation: all of them, or the first and last of a long run.

    >>> articles_label(["Статья 89"]), articles_label(["Art. 4", "Art. 5", "Art. 6"])
    ('Статья 89', 'Art. 4–Art. 6')
    """
    if len(articles) <= 2:
        return ", ".join(articles)
    return f"{articles[0]}–{articles[-1]}"
