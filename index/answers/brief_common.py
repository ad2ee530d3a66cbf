"""What every rendering of a brief shares: its citations, reference lines, gists, figures and the
briefs' template folder."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from housing_kb.index.answers.extractive import (
    Citation,
)
from housing_kb.index.query.hits import articles_label
from housing_kb.schema.indicators import SERIES
from housing_kb.schema.labels import label

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from housing_kb.index.answers.briefs import Brief, Reference


_RTL = {"ar", "fa", "he", "ur"}


@cache
def template_dir() -> Path:
    return Path(str(resources.files("housing_kb.prompts"))) / "briefs"


def direction(language: str) -> str:
    return "rtl" if language.split("-")[0] in _RTL else "ltr"


def cite(brief: Brief, c: Citation) -> str:
    parts = [f"[{brief.reference_number(c.document_id)}]"]
    if c.articles:
        parts.append(articles_label(c.articles))
    if c.page is not None:
        parts.append(f"p. {c.page}")
    if c.paragraphs:
        parts.append("para. " + ", ".join(c.paragraphs))
    return " ".join(parts) + f" · {c.passage_id}"


def gist_label(gist: dict[str, Any]) -> str:
    """How every rendering labels a gist, so that no reader takes it for the source text."""
    return f"Machine translation ({gist['model']}), not the source text"


def reference_text(ref: Reference) -> str:
    bits = [ref.title]
    if ref.publisher:
        bits.append(ref.publisher)
    if ref.year:
        bits.append(str(ref.year))
    if ref.pages_label:
        bits.append(ref.pages_label)
    bits.append(ref.url or ref.path or ref.document_id)
    return ". ".join(bits) + "."


def figure_text(v: dict[str, Any] | None) -> str:
    return f"{v['shown']} ({v['year']})" if v else "no data"


def context_header() -> list[str]:
    return [f"{label('series', s)} ({SERIES[s][0]})" for s in SERIES]
