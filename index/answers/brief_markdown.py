"""A brief in Markdown, every quoted or typed text made inert."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from housing_kb import __version__
from housing_kb.index.answers.brief_common import (
    cite,
    context_header,
    figure_text,
    gist_label,
    reference_text,
)
from housing_kb.index.answers.extractive import (
    component_label,
    region_label,
)
from housing_kb.index.answers.gaps import short_component
from housing_kb.schema.indicators import SERIES

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from housing_kb.index.answers.briefs import Brief


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
        lines.append(f"- {_md_escape(s.text)} ({s.language}) — {cite(brief, s.citation)}")
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
                        f"{cite(brief, ex.citation)}"
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
            f"| {e.country_name} | {region_label(e.region)} | {comps} | {excerpt} | {cite(brief, e.citation)} |"
        )
    lines += ["", "## 4. Evidence-gap map", ""]
    lines.append(
        f"Passages among the topic's {brief.gaps.passages} best matches, by region and component "
        f"({brief.gaps.untagged} carry no component tag). Zero cells are where the corpus is thin."
    )
    lines.append("")
    if heatmap_path:
        lines += [f"![Evidence-gap heatmap]({heatmap_path})", ""]
    lines.append("| Region | " + " | ".join(short_component(c) for c in brief.gaps.components) + " |")
    lines.append("|---|" + "---:|" * len(brief.gaps.components))
    for r, row in zip(brief.gaps.regions, brief.gaps.counts, strict=True):
        lines.append(f"| {region_label(r)} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "## 5. Context: housing conditions in the cited countries", ""]
    if brief.context:
        lines.append(
            "Latest value (year) of each SDG housing series, in % of the population (11.1.1: of the urban population)."
        )
        lines.append("")
        lines.append("| Country | " + " | ".join(context_header()) + " |")
        lines.append("|---|" + "---:|" * len(SERIES))
        for context_row in brief.context:
            cells = [figure_text(context_row["figures"][s]) for s in SERIES]
            lines.append(f"| {_md_escape(context_row['name'])} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += [f"Source: {_md_escape(src)}." for src in brief.context_sources]
    else:
        lines.append("_The brief cites no country._")
    lines += ["", "## 6. References", ""]
    for ref in brief.references:
        lines.append(f"{ref.number}. {reference_text(ref)}")
    return "\n".join(lines) + "\n"
