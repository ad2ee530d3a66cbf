"""Cited evidence briefs on a topic, rendered as Markdown, HTML, PDF or DOCX.

A brief gathers, for one topic: an extractive summary (cited sentences), a section per adequacy
component with verbatim excerpts arranged by region and country, comparable country examples, an
evidence-gap map (passage counts by region x component over the topic's candidate pool, as a table
and a heatmap) and the reference list. Everything quoted is verbatim text of the cited page.

The HTML is a Jinja2 template in ``prompts/briefs/``; the PDF is that HTML laid out by WeasyPrint,
so the two look the same; the DOCX is written with python-docx.

>>> brief = build_brief(engine, "slum upgrading")                 # doctest: +SKIP
>>> data, media_type, ext = render_brief(brief, "pdf")             # doctest: +SKIP
>>> media_type, data[:4]                                           # doctest: +SKIP
('application/pdf', b'%PDF')
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from housing_kb.index.answers.countries import context_rows, context_sources
from housing_kb.index.answers.examples import ExamplesResult, best_excerpt, example_country, find_examples
from housing_kb.index.answers.extractive import (
    Answer,
    Citation,
    PageCache,
    answer_question,
    component_label,
    country_name,
    region_label,
)
from housing_kb.index.answers.gaps import GapMap, gap_map_from_hits
from housing_kb.index.query.filters import COMPONENTS, Filters
from housing_kb.index.query.hits import Hit
from housing_kb.schema.vocabulary import REGIONS

if TYPE_CHECKING:
    from housing_kb.index.query.engine import SearchEngine

BriefFormat = Literal["md", "html", "pdf", "docx"]
FORMATS: dict[str, tuple[str, str]] = {
    "md": ("text/markdown; charset=utf-8", "md"),
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
}


# ---------------------------------------------------------------- the brief


@dataclass
class Excerpt:
    text: str
    language: str
    country: str
    country_name: str
    region: str
    citation: Citation


@dataclass
class CountryEvidence:
    country: str
    name: str
    excerpts: list[Excerpt]


@dataclass
class RegionEvidence:
    region: str
    label: str
    countries: list[CountryEvidence]


@dataclass
class ComponentSection:
    component: str
    label: str
    #: Passages of the topic pool tagged with this component.
    passages: int
    regions: list[RegionEvidence]


@dataclass
class Reference:
    number: int
    document_id: str
    title: str
    publisher: str | None
    year: int | None
    pages: list[int]
    url: str | None
    path: str | None

    @property
    def pages_label(self) -> str:
        if not self.pages:
            return ""
        return ("p. " if len(self.pages) == 1 else "pp. ") + ", ".join(str(p) for p in self.pages)


@dataclass
class Brief:
    topic: str
    generated: str
    summary: Answer
    sections: list[ComponentSection]
    examples: ExamplesResult
    gaps: GapMap
    references: list[Reference] = field(default_factory=list)
    #: Latest SDG housing figures of the countries the brief cites (index/countries.context_rows).
    context: list[dict[str, Any]] = field(default_factory=list)
    context_sources: list[str] = field(default_factory=list)
    #: Machine translations of quoted texts in another language (translate_to), by quoted text:
    #: {"language", "text", "model", "machine_translation"}; see :meth:`with_gists`.
    gists: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Why translate_to added no gist (no endpoint, or it failed); None when none was asked or all were made.
    translation_note: str | None = None

    def cited_countries(self) -> list[str]:
        """Countries of the quoted evidence, in the order the brief first cites them."""
        found = [c for s in self.summary.sentences for c in s.countries]
        found += [c.country for s in self.sections for r in s.regions for c in r.countries]
        found += [e.country for e in self.examples.examples]
        return [c for c in dict.fromkeys(found) if c != "global"]

    def reference_number(self, document_id: str) -> int:
        return next(r.number for r in self.references if r.document_id == document_id)

    def _quotations(self) -> list[tuple[str, str, Citation]]:
        """Every quoted text in the brief, in reading order, with its language and citation."""
        out = [(s.text, s.language, s.citation) for s in self.summary.sentences]
        out += [
            (e.text, e.language, e.citation)
            for s in self.sections
            for r in s.regions
            for c in r.countries
            for e in c.excerpts
        ]
        out += [(e.excerpt, e.language, e.citation) for e in self.examples.examples]
        return out

    def citations(self) -> list[tuple[str, Citation]]:
        """Every (quoted text, citation) pair in the brief, for checking and for the reference list."""
        return [(text, citation) for text, _, citation in self._quotations()]

    def quoted(self) -> list[tuple[str, str]]:
        """Every quoted text with its language, once each: what a translation of the brief covers."""
        return list(dict.fromkeys((text, language) for text, language, _ in self._quotations()))

    def with_gists(
        self, translate: Callable[[list[tuple[str, str]]], tuple[list[dict[str, Any] | None], str | None]]
    ) -> Brief:
        """A copy of the brief with a machine translation beside each quotation in another language.

        ``translate`` maps (text, language) pairs to their gists (None for a text already in the target
        language) and a note when none could be made, as ``api.deps.gists`` does. The brief itself
        stays as gathered: briefs are cached, and one brief serves every ``translate_to``."""
        quoted = self.quoted()
        made, note = translate(quoted)
        gists = {text: g for (text, _), g in zip(quoted, made, strict=True) if g}
        return replace(self, gists=gists, translation_note=note)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = self.summary.to_dict()
        data["examples"] = self.examples.to_dict()
        data["gaps"] = self.gaps.to_dict()
        return data


def _excerpt(hit: Hit, topic: str, pages: PageCache) -> Excerpt:
    text, page = best_excerpt(hit, topic, pages)
    country = example_country(hit, set()) or "global"
    region = next((r for r in hit.regions if r != "global"), "global")
    return Excerpt(
        text=text,
        language=hit.language,
        country=country,
        country_name=country_name(country) if country != "global" else "Global / no country",
        region=region,
        citation=Citation.from_hit(hit, page),
    )


def component_sections(
    topic: str, pool: list[Hit], pages: PageCache, per_component: int
) -> list[ComponentSection]:
    """For each component: its best pool passages (at most one per document), by region and country."""
    sections = []
    for component in COMPONENTS:
        tagged = [h for h in pool if component in h.components]
        chosen: list[Hit] = []
        for h in tagged:
            if len(chosen) < per_component and all(c.document.id != h.document.id for c in chosen):
                chosen.append(h)
        regions: dict[str, dict[str, list[Excerpt]]] = {}
        for h in chosen:
            ex = _excerpt(h, topic, pages)
            regions.setdefault(ex.region, {}).setdefault(ex.country, []).append(ex)
        blocks = [
            RegionEvidence(
                region=r,
                label=region_label(r),
                countries=[
                    CountryEvidence(c, excerpts[0].country_name, excerpts)
                    for c, excerpts in countries.items()
                ],
            )
            for r, countries in sorted(regions.items(), key=lambda kv: REGIONS.index(kv[0]))
        ]
        sections.append(ComponentSection(component, component_label(component), len(tagged), blocks))
    return sections


def _references(brief: Brief, engine: SearchEngine) -> list[Reference]:
    pages: dict[str, set[int]] = {}
    first: dict[str, Citation] = {}
    for _, citation in brief.citations():
        pages.setdefault(citation.document_id, set())
        first.setdefault(citation.document_id, citation)
        if citation.page is not None:
            pages[citation.document_id].add(citation.page)
    refs = []
    for number, doc_id in enumerate(pages, 1):
        d = engine.documents.get(doc_id) or engine.passages.document(doc_id)
        if d is None:
            # removed from the index since it was searched: every citation still needs its number,
            # so the reference keeps the record the citation was made from
            c = first[doc_id]
            title, publisher, year, url, path = c.title, c.publisher, c.year, c.url, c.path
        else:
            title, publisher, year, url, path = d.title, d.publisher, d.year, d.url or d.source_url, d.path
        refs.append(
            Reference(
                number=number,
                document_id=doc_id,
                title=title,
                publisher=publisher,
                year=year,
                pages=sorted(pages[doc_id]),
                url=url,
                path=path,
            )
        )
    return refs


class NoGoodMatch(ValueError):
    """The collection holds no good match for a brief's topic."""

    parameter = "topic"

    def __init__(self, topic: str, best: float) -> None:
        super().__init__(
            f"topic: the collection holds no good match for {topic[:80]!r} (relevance {best:.2f}, label none); "
            "no brief was written. Try other words, or force=true to write one from the closest passages."
        )


def build_brief(
    engine: SearchEngine,
    topic: str,
    *,
    summary_sentences: int = 6,
    per_component: int = 3,
    examples: int = 8,
    per_country: int = 2,
    pool: int = 100,
    filters: Filters | None = None,
    force: bool = False,
) -> Brief:
    """Gather the evidence for a brief on ``topic`` (one pool search, one answer, one examples query).

    A topic the collection holds no good match for raises :class:`NoGoodMatch` unless ``force``: a
    polished brief built from irrelevant passages would mislead whoever reads it."""
    topic = topic.strip()
    if not topic:
        raise ValueError("topic: must not be empty")
    result = engine.search(topic, k=pool, filters=filters)
    if result.relevance is not None and result.relevance.label == "none" and not force:
        raise NoGoodMatch(topic, result.relevance.best)
    hits = result.hits
    pages = PageCache(engine.passages)
    brief = Brief(
        topic=topic,
        generated=dt.date.today().isoformat(),
        summary=answer_question(
            engine, topic, max_sentences=summary_sentences, group_by="none", filters=filters, force=True
        ),
        sections=component_sections(topic, hits, pages, per_component),
        examples=find_examples(engine, topic, per_country=per_country, k=examples, pool=pool),
        gaps=gap_map_from_hits(topic, hits),
    )
    brief.references = _references(brief, engine)
    brief.context = context_rows(engine.country_data, brief.cited_countries())
    brief.context_sources = context_sources(engine.country_data)
    return brief


def slug(topic: str) -> str:
    """A file-name-safe form of a topic.

    >>> slug("Security of tenure: renters!")
    'security-of-tenure-renters'
    """
    return re.sub(r"[^\w]+", "-", topic.lower(), flags=re.UNICODE).strip("-")[:60] or "brief"


def render_brief(brief: Brief, fmt: str, *, heatmap_name: str | None = None) -> tuple[bytes, str, str]:
    """(content, media type, file extension) of the brief in ``fmt`` (md, html, pdf or docx)."""
    if fmt not in FORMATS:
        raise ValueError(f"format: must be one of {', '.join(FORMATS)} (got {fmt!r})")
    media_type, ext = FORMATS[fmt]
    from housing_kb.index.answers.brief_docx import to_docx
    from housing_kb.index.answers.brief_html import to_html, to_pdf
    from housing_kb.index.answers.brief_markdown import to_markdown

    if fmt == "md":
        return to_markdown(brief, heatmap_path=heatmap_name).encode("utf-8"), media_type, ext
    if fmt == "html":
        return to_html(brief).encode("utf-8"), media_type, ext
    if fmt == "pdf":
        return to_pdf(brief), media_type, ext
    return to_docx(brief), media_type, ext
