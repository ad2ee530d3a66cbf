"""A brief as a Word document (python-docx)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from housing_kb import __version__
from housing_kb.index.answers.brief_common import (
    cite,
    context_header,
    direction,
    figure_text,
    gist_label,
    reference_text,
)
from housing_kb.index.answers.extractive import (
    Citation,
    region_label,
)
from housing_kb.index.answers.gaps import heatmap_png, short_component
from housing_kb.schema.indicators import SERIES

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from housing_kb.index.answers.briefs import Brief


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
        tail = paragraph.add_run(f"  ({language}) {cite(brief, citation)}")
        tail.font.size = Pt(8)
        tail.font.color.rgb = RGBColor(0x55, 0x5F, 0x6B)
        if direction(language) == "rtl":
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
            cite(brief, e.citation),
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
        cell.text = short_component(c)
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
        for cell, title in zip(context.rows[0].cells, ["Country", *context_header()], strict=True):
            cell.text = title
        for row in brief.context:
            cells = context.add_row().cells
            cells[0].text = row["name"]
            for cell, series in zip(cells[1:], SERIES, strict=True):
                cell.text = figure_text(row["figures"][series])
        for src in brief.context_sources:
            doc.add_paragraph(f"Source: {src}.").runs[0].font.size = Pt(8)
    else:
        doc.add_paragraph("The brief cites no country.").runs[0].italic = True
    doc.add_heading("6. References", level=1)
    for ref in brief.references:
        doc.add_paragraph(f"[{ref.number}] {reference_text(ref)}")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
