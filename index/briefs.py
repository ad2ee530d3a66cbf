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

import base64
import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from housing_kb import __version__
from housing_kb.index.answers import (
    Answer,
    Citation,
    PageCache,
    answer_question,
    component_label,
    country_name,
    region_label,
)
from housing_kb.index.countries import context_rows, context_sources
from housing_kb.index.examples import ExamplesResult, best_excerpt, example_country, find_examples
from housing_kb.index.filters import COMPONENTS, REGIONS, Filters
from housing_kb.index.hits import Hit, articles_label
from housing_kb.schema.indicators import SERIES
from housing_kb.schema.labels import label

if TYPE_CHECKING:
    from housing_kb.index.search import SearchEngine

BriefFormat = Literal["md", "html", "pdf", "docx"]
FORMATS: dict[str, tuple[str, str]] = {
    "md": ("text/markdown; charset=utf-8", "md"),
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
}
_RTL = {"ar", "fa", "he", "ur"}


# ---------------------------------------------------------------- the evidence-gap map


@dataclass
class GapMap:
    """Passages on a topic counted by region (rows) and adequacy component (columns)."""

    topic: str
    regions: list[str]
    components: list[str]
    counts: list[list[int]]
    #: Passages in the topic's candidate pool (a passage counts once per region and component it has).
    passages: int
    #: Pool passages carrying no component tag.
    untagged: int

    def cell(self, region: str, component: str) -> int:
        return self.counts[self.regions.index(region)][self.components.index(component)]

    def empty_cells(self) -> list[tuple[str, str]]:
        """(region, component) pairs with no passage: where the corpus is thin for this topic."""
        return [(r, c) for r in self.regions for c in self.components if self.cell(r, c) == 0]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "region_labels": {r: region_label(r) for r in self.regions},
            "component_labels": {c: component_label(c) for c in self.components},
        }


def gap_map_from_hits(topic: str, hits: list[Hit]) -> GapMap:
    """Cross-tabulate the hits' regions and components.

    >>> gap_map_from_hits("x", []).passages
    0
    """
    regions, components = list(REGIONS), list(COMPONENTS)
    counts = [[0] * len(components) for _ in regions]
    untagged = 0
    for h in hits:
        if not h.components:
            untagged += 1
        for r in h.regions or ["global"]:
            if r not in regions:
                continue
            for c in h.components:
                if c in components:
                    counts[regions.index(r)][components.index(c)] += 1
    return GapMap(topic, regions, components, counts, len(hits), untagged)


def topic_pool(
    engine: SearchEngine, topic: str, pool: int = 100, filters: Filters | None = None
) -> list[Hit]:
    """The topic's candidate pool: its ``pool`` best hybrid hits (the set /facets counts too)."""
    return engine.search(topic, k=pool, filters=filters).hits


def gap_map(engine: SearchEngine, topic: str, pool: int = 100, filters: Filters | None = None) -> GapMap:
    """The gap map of a topic's candidate pool.

    >>> gap_map(engine, "slum upgrading").cell("africa", "security_of_tenure")   # doctest: +SKIP
    12
    """
    return gap_map_from_hits(topic, topic_pool(engine, topic, pool, filters))


def _short_component(key: str) -> str:
    return {"availability_of_services": "Services & infrastructure", "sustainability": "Sustainability"}.get(
        key, component_label(key)
    )


def heatmap_png(gaps: GapMap, *, dpi: int = 150) -> bytes:
    """The gap map as a PNG heatmap: darker cells hold more passages, empty cells are marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in servers and threads that never touch pyplot
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.2, 3.9), dpi=dpi)
    ax = fig.subplots()
    data = gaps.counts
    peak = max((v for row in data for v in row), default=0) or 1
    image = ax.imshow(data, cmap="YlGnBu", vmin=0, vmax=peak, aspect="auto")
    for i, row in enumerate(data):
        for j, value in enumerate(row):
            colour = "white" if value > peak * 0.6 else ("#b0413e" if value == 0 else "#1b2a3a")
            ax.text(j, i, str(value) if value else "0", ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(gaps.components)))
    ax.set_xticklabels([_short_component(c) for c in gaps.components], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(gaps.regions)))
    ax.set_yticklabels([region_label(r) for r in gaps.regions], fontsize=8)
    ax.set_title(f"Passages on “{gaps.topic}” by region and adequacy component", fontsize=10, loc="left")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    bar.ax.tick_params(labelsize=7)
    bar.set_label("passages", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


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

    def citations(self) -> list[tuple[str, Citation]]:
        """Every (quoted text, citation) pair in the brief, for checking and for the reference list."""
        out = [(s.text, s.citation) for s in self.summary.sentences]
        out += [
            (e.text, e.citation)
            for s in self.sections
            for r in s.regions
            for c in r.countries
            for e in c.excerpts
        ]
        out += [(e.excerpt, e.citation) for e in self.examples.examples]
        return out

    def quoted(self) -> list[tuple[str, str]]:
        """Every quoted text with its language, once each: what a translation of the brief covers."""
        out = [(s.text, s.language) for s in self.summary.sentences]
        out += [
            (e.text, e.language)
            for s in self.sections
            for r in s.regions
            for c in r.countries
            for e in c.excerpts
        ]
        out += [(e.excerpt, e.language) for e in self.examples.examples]
        return list(dict.fromkeys(out))

    def with_gists(
        self, translate: Callable[[list[tuple[str, str]]], tuple[list[dict | None], str | None]]
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
    for _, citation in brief.citations():
        pages.setdefault(citation.document_id, set())
        if citation.page is not None:
            pages[citation.document_id].add(citation.page)
    refs = []
    for number, doc_id in enumerate(pages, 1):
        d = engine.documents.get(doc_id) or engine.store.document(doc_id)
        refs.append(
            Reference(
                number=number,
                document_id=doc_id,
                title=d.title,
                publisher=d.publisher,
                year=d.year,
                pages=sorted(pages[doc_id]),
                url=d.url or d.source_url,
                path=d.path,
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
    pages = PageCache(engine.store)
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


def _figure_text(v: dict[str, Any] | None) -> str:
    return f"{v['shown']} ({v['year']})" if v else "no data"


def _context_header() -> list[str]:
    return [f"{label('series', s)} ({SERIES[s][0]})" for s in SERIES]


# ---------------------------------------------------------------- rendering


@cache
def _template_dir() -> Path:
    return Path(str(resources.files("housing_kb.prompts"))) / "briefs"


def _direction(language: str) -> str:
    return "rtl" if language.split("-")[0] in _RTL else "ltr"


def slug(topic: str) -> str:
    """A file-name-safe form of a topic.

    >>> slug("Security of tenure: renters!")
    'security-of-tenure-renters'
    """
    return re.sub(r"[^\w]+", "-", topic.lower(), flags=re.UNICODE).strip("-")[:60] or "brief"


def _cite(brief: Brief, c: Citation) -> str:
    parts = [f"[{brief.reference_number(c.document_id)}]"]
    if c.articles:
        parts.append(articles_label(c.articles))
    if c.page is not None:
        parts.append(f"p. {c.page}")
    if c.paragraphs:
        parts.append("para. " + ", ".join(c.paragraphs))
    return " ".join(parts) + f" · {c.passage_id}"


def to_html(brief: Brief, *, heatmap: bytes | None = None, for_pdf: bool = False) -> str:
    """The brief as one self-contained HTML page (stylesheet and heatmap inlined)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(_template_dir()), autoescape=select_autoescape(["html"]))
    png = heatmap if heatmap is not None else heatmap_png(brief.gaps)
    return env.get_template("brief.html").render(
        brief=brief,
        css=(_template_dir() / "brief.css").read_text(encoding="utf-8"),
        heatmap_uri="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        cite=lambda c: _cite(brief, c),
        direction=_direction,
        component_label=component_label,
        short_component=_short_component,
        region_label=region_label,
        version=__version__,
        for_pdf=for_pdf,
        documents=len({c.document_id for _, c in brief.citations()}),
        series=list(SERIES),
        context_header=_context_header(),
        figure_text=_figure_text,
        gist_label=gist_label,
    )


def to_pdf(brief: Brief, *, heatmap: bytes | None = None) -> bytes:
    """The HTML brief laid out on A4 pages by WeasyPrint."""
    from weasyprint import HTML

    return HTML(
        string=to_html(brief, heatmap=heatmap, for_pdf=True), base_url=str(_template_dir())
    ).write_pdf()


_MD_SPECIAL = re.compile(r"([\\`*_\[\]()#!|~])")


def _md_escape(text: str) -> str:
    """Text as inert inline Markdown: one line, no HTML, no emphasis, links, code or table cells.

    A topic is typed by whoever calls the API, and passages come from contributed documents: neither
    may start a heading, inject ``<script>`` or make a ``javascript:`` link in the rendered brief.

    >>> _md_escape("x\\n# <b>[a](javascript:1)</b> | y")
    'x \\\\# &lt;b&gt;\\\\[a\\\\]\\\\(javascript:1\\\\)&lt;/b&gt; \\\\| y'
    """
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def gist_label(gist: dict[str, Any]) -> str:
    """How every rendering labels a gist, so that no reader takes it for the source text."""
    return f"Machine translation ({gist['model']}), not the source text"


def _md_gist(brief: Brief, text: str) -> list[str]:
    gist = brief.gists.get(text)
    return [f"  - _{gist_label(gist)}:_ {_md_escape(gist['text'])}"] if gist else []


def to_markdown(brief: Brief, *, heatmap_path: str | None = None) -> str:
    """The brief in Markdown; the heatmap is linked when ``heatmap_path`` is given (the table always is)."""
    lines = [
        f"# Evidence brief: {_md_escape(brief.topic)}",
        "",
        f"_Generated {brief.generated} by housing-kb {__version__}._",
        "",
    ]
    if brief.translation_note:
        lines += [f"_{_md_escape(brief.translation_note)}._", ""]
    lines += ["## 1. Evidence summary", ""]
    for s in brief.summary.sentences:
        lines.append(f"- {_md_escape(s.text)} ({s.language}) — {_cite(brief, s.citation)}")
        lines += _md_gist(brief, s.text)
    if not brief.summary.sentences:
        lines.append("_No passage in the corpus answers this topic directly._")
    lines += ["", "## 2. Evidence by adequacy component", ""]
    for section in brief.sections:
        lines.append(f"### {section.label} ({section.passages} passages)")
        lines.append("")
        if not section.regions:
            lines += ["_No passage on this topic is tagged with this component: an evidence gap._", ""]
            continue
        for region in section.regions:
            lines.append(f"**{region.label}**")
            lines.append("")
            for country in region.countries:
                for ex in country.excerpts:
                    lines.append(
                        f"- _{_md_escape(country.name)}_: “{_md_escape(ex.text)}” ({ex.language}) — "
                        f"{_cite(brief, ex.citation)}"
                    )
                    lines += _md_gist(brief, ex.text)
            lines.append("")
    lines += [
        "## 3. Comparable examples",
        "",
        "| Country | Region | Components | Excerpt | Source |",
        "|---|---|---|---|---|",
    ]
    for e in brief.examples.examples:
        comps = ", ".join(component_label(c) for c in e.components) or "—"
        excerpt = _md_escape(e.excerpt)
        if gist := brief.gists.get(e.excerpt):
            excerpt += f" — _{gist_label(gist)}:_ {_md_escape(gist['text'])}"
        lines.append(
            f"| {e.country_name} | {region_label(e.region)} | {comps} | {excerpt} | {_cite(brief, e.citation)} |"
        )
    lines += ["", "## 4. Evidence-gap map", ""]
    lines.append(
        f"Passages among the topic's {brief.gaps.passages} best matches, by region and component "
        f"({brief.gaps.untagged} carry no component tag). Zero cells are where the corpus is thin."
    )
    lines.append("")
    if heatmap_path:
        lines += [f"![Evidence-gap heatmap]({heatmap_path})", ""]
    lines.append("| Region | " + " | ".join(_short_component(c) for c in brief.gaps.components) + " |")
    lines.append("|---|" + "---:|" * len(brief.gaps.components))
    for r, row in zip(brief.gaps.regions, brief.gaps.counts, strict=True):
        lines.append(f"| {region_label(r)} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "## 5. Context: housing conditions in the cited countries", ""]
    if brief.context:
        lines.append(
            "Latest value (year) of each SDG housing series, in % of the population (11.1.1: of the urban population)."
        )
        lines.append("")
        lines.append("| Country | " + " | ".join(_context_header()) + " |")
        lines.append("|---|" + "---:|" * len(SERIES))
        for row in brief.context:
            cells = [_figure_text(row["figures"][s]) for s in SERIES]
            lines.append(f"| {_md_escape(row['name'])} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += [f"Source: {_md_escape(src)}." for src in brief.context_sources]
    else:
        lines.append("_The brief cites no country._")
    lines += ["", "## 6. References", ""]
    for ref in brief.references:
        lines.append(f"{ref.number}. {_reference_text(ref)}")
    return "\n".join(lines) + "\n"


def _reference_text(ref: Reference) -> str:
    bits = [ref.title]
    if ref.publisher:
        bits.append(ref.publisher)
    if ref.year:
        bits.append(str(ref.year))
    if ref.pages_label:
        bits.append(ref.pages_label)
    bits.append(ref.url or ref.path or ref.document_id)
    return ". ".join(bits) + "."


def to_docx(brief: Brief, *, heatmap: bytes | None = None) -> bytes:
    """The brief as a Word document, with the heatmap picture and the gap table."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt, RGBColor

    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Calibri"
    style.font.size = Pt(10.5)
    doc.add_heading(f"Evidence brief: {brief.topic}", level=0)
    meta = doc.add_paragraph(
        f"Generated {brief.generated} by housing-kb {__version__}. Every quotation is verbatim."
    )
    meta.runs[0].font.color.rgb = RGBColor(0x55, 0x5F, 0x6B)
    if brief.translation_note:
        doc.add_paragraph(brief.translation_note + ".").runs[0].italic = True

    def cited(paragraph: Any, text: str, citation: Citation, language: str) -> None:
        paragraph.add_run(text)
        tail = paragraph.add_run(f"  ({language}) {_cite(brief, citation)}")
        tail.font.size = Pt(8)
        tail.font.color.rgb = RGBColor(0x55, 0x5F, 0x6B)
        if _direction(language) == "rtl":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        if gist := brief.gists.get(text):
            paragraph.add_run("\n" + gist_label(gist) + ": ").italic = True
            paragraph.add_run(gist["text"])

    doc.add_heading("1. Evidence summary", level=1)
    for s in brief.summary.sentences:
        cited(doc.add_paragraph(style="List Bullet"), s.text, s.citation, s.language)
    doc.add_heading("2. Evidence by adequacy component", level=1)
    for section in brief.sections:
        doc.add_heading(f"{section.label} ({section.passages} passages)", level=2)
        if not section.regions:
            doc.add_paragraph(
                "No passage on this topic is tagged with this component: an evidence gap."
            ).runs[0].italic = True
        for region in section.regions:
            doc.add_heading(region.label, level=3)
            for country in region.countries:
                for ex in country.excerpts:
                    p = doc.add_paragraph(style="List Bullet")
                    p.add_run(f"{country.name}: ").bold = True
                    cited(p, ex.text, ex.citation, ex.language)
    doc.add_heading("3. Comparable examples", level=1)
    table = doc.add_table(rows=1, cols=4)
    table.style = "Light Grid Accent 1"
    for cell, title in zip(table.rows[0].cells, ("Country", "Region", "Excerpt", "Source"), strict=True):
        cell.text = title
    for e in brief.examples.examples:
        row = table.add_row().cells
        gist = brief.gists.get(e.excerpt)
        row[0].text, row[1].text, row[2].text, row[3].text = (
            e.country_name,
            region_label(e.region),
            e.excerpt + (f"\n{gist_label(gist)}: {gist['text']}" if gist else ""),
            _cite(brief, e.citation),
        )
    doc.add_heading("4. Evidence-gap map", level=1)
    doc.add_paragraph(
        f"Passages among the topic's {brief.gaps.passages} best matches, by region and component. "
        "Zero cells are where the corpus is thin."
    )
    doc.add_picture(io.BytesIO(heatmap if heatmap is not None else heatmap_png(brief.gaps)), width=Cm(16))
    grid = doc.add_table(rows=1, cols=len(brief.gaps.components) + 1)
    grid.style = "Light Grid Accent 1"
    grid.rows[0].cells[0].text = "Region"
    for cell, c in zip(grid.rows[0].cells[1:], brief.gaps.components, strict=True):
        cell.text = _short_component(c)
    for r, counts in zip(brief.gaps.regions, brief.gaps.counts, strict=True):
        cells = grid.add_row().cells
        cells[0].text = region_label(r)
        for cell, v in zip(cells[1:], counts, strict=True):
            cell.text = str(v)
    doc.add_heading("5. Context: housing conditions in the cited countries", level=1)
    if brief.context:
        doc.add_paragraph(
            "Latest value (year) of each SDG housing series, in % of the population (11.1.1: of the urban population)."
        )
        context = doc.add_table(rows=1, cols=len(SERIES) + 1)
        context.style = "Light Grid Accent 1"
        for cell, title in zip(context.rows[0].cells, ["Country", *_context_header()], strict=True):
            cell.text = title
        for row in brief.context:
            cells = context.add_row().cells
            cells[0].text = row["name"]
            for cell, series in zip(cells[1:], SERIES, strict=True):
                cell.text = _figure_text(row["figures"][series])
        for src in brief.context_sources:
            doc.add_paragraph(f"Source: {src}.").runs[0].font.size = Pt(8)
    else:
        doc.add_paragraph("The brief cites no country.").runs[0].italic = True
    doc.add_heading("6. References", level=1)
    for ref in brief.references:
        doc.add_paragraph(f"[{ref.number}] {_reference_text(ref)}")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def render_brief(brief: Brief, fmt: str, *, heatmap_name: str | None = None) -> tuple[bytes, str, str]:
    """(content, media type, file extension) of the brief in ``fmt`` (md, html, pdf or docx)."""
    if fmt not in FORMATS:
        raise ValueError(f"format: must be one of {', '.join(FORMATS)} (got {fmt!r})")
    media_type, ext = FORMATS[fmt]
    if fmt == "md":
        return to_markdown(brief, heatmap_path=heatmap_name).encode("utf-8"), media_type, ext
    if fmt == "html":
        return to_html(brief).encode("utf-8"), media_type, ext
    if fmt == "pdf":
        return to_pdf(brief), media_type, ext
    return to_docx(brief), media_type, ext
