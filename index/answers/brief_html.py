"""A brief as one self-contained HTML page (the Jinja2 template in ``prompts/briefs/``), and as PDF:
the same HTML laid out by WeasyPrint, so the two look the same."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from housing_kb import __version__
from housing_kb.index.answers.brief_common import (
    cite,
    context_header,
    direction,
    figure_text,
    gist_label,
    template_dir,
)
from housing_kb.index.answers.extractive import (
    component_label,
    region_label,
)
from housing_kb.index.answers.gaps import heatmap_png, short_component
from housing_kb.schema.indicators import SERIES

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from housing_kb.index.answers.briefs import Brief


def to_html(brief: Brief, *, heatmap: bytes | None = None, for_pdf: bool = False) -> str:
    """The brief as one self-contained HTML page (stylesheet and heatmap inlined)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(template_dir()), autoescape=select_autoescape(["html"]))
    png = heatmap if heatmap is not None else heatmap_png(brief.gaps)
    return env.get_template("brief.html").render(
        brief=brief,
        css=(template_dir() / "brief.css").read_text(encoding="utf-8"),
        heatmap_uri="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        cite=lambda c: cite(brief, c),
        direction=direction,
        component_label=component_label,
        short_component=short_component,
        region_label=region_label,
        version=__version__,
        for_pdf=for_pdf,
        documents=len({c.document_id for _, c in brief.citations()}),
        series=list(SERIES),
        context_header=context_header(),
        figure_text=figure_text,
        gist_label=gist_label,
    )


def to_pdf(brief: Brief, *, heatmap: bytes | None = None) -> bytes:
    """The HTML brief laid out on A4 pages by WeasyPrint."""
    from weasyprint import HTML

    pdf: bytes = HTML(  # WeasyPrint is untyped; write_pdf() without a target returns the bytes
        string=to_html(brief, heatmap=heatmap, for_pdf=True), base_url=str(template_dir())
    ).write_pdf()
    return pdf
