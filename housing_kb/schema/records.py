"""The typed units that flow from ingestion into the index: pages, passages cut from them, their
tags, and the document row the index keeps.

A ``Page`` is the cleaned text of one PDF page, or of a whole non-paginated document
(``number is None``). A ``Passage`` keeps the exact place it came from so every search hit can be
cited (document, pages, paragraph numbers, character offsets).

>>> Passage("ke-mukuru", 3, "Tenure is secure.", None, None, 0, 17).passage_id
'ke-mukuru:0003:b8ad7d35'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Page:
    """Cleaned text of one page. ``number`` is 1-based for PDFs, ``None`` for flowing text."""

    number: int | None
    text: str
    #: True when extraction yielded no text (scanned/image-only page).
    empty: bool = False
    #: Heading spans found on this page: (char_offset, level, heading text), in order.
    headings: list[tuple[int, int, str]] = field(default_factory=list)


@dataclass
class Passage:
    """A chunk of a document ready to embed, with everything needed to cite it."""

    document_id: str
    ordinal: int
    text: str
    page_start: int | None
    page_end: int | None
    #: Offset of the first character in the text of ``page_start`` (or of the whole document).
    char_start: int
    #: Offset one past the last character in the text of ``page_end``.
    char_end: int
    #: UN-style paragraph numbers the passage covers ("53", "54"); empty when the document has none.
    paragraphs: list[str] = field(default_factory=list)
    #: Heading path, outermost first, e.g. ["Chapter II", "Security of tenure"].
    heading_path: list[str] = field(default_factory=list)
    language: str = "und"
    token_count: int = 0
    #: Articles of a law the passage covers, as the law names them ("Статья 89", "第三十条").
    articles: list[str] = field(default_factory=list)
    #: What the passage is: body text, or a reference list, contents page, ... (:data:`housing_kb.schema.vocabulary.KINDS`).
    kind: str = "body"

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)

    @property
    def passage_id(self) -> str:
        """Stable, readable id: document id, ordinal and a short content hash."""
        return f"{self.document_id}:{self.ordinal:04d}:{self.content_hash[:8]}"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class DocumentRecord:
    """A document as the index stores it (manifest metadata, what extraction found, the tag summary)."""

    doc_id: str
    title: str
    document_type: str
    sha256: str
    pipeline_key: str
    path: str | None = None
    url: str | None = None
    source_url: str | None = None
    countries: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    language: str | None = None
    year: int | None = None
    publisher: str | None = None
    licence: str | None = None
    n_pages: int = 0
    empty_pages: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tag_summary: dict[str, Any] = field(default_factory=dict)
    ingested_at: float = 0.0
    #: The work this document is an edition of (manifest ``work_id``); None: a work of its own.
    work_id: str | None = None


@dataclass
class PassageTagsRecord:
    """What the taggers say of one passage: components and stages with their scores, and places."""

    components: list[str]
    countries: list[str]
    regions: list[str]
    component_scores: dict[str, float]
    stages: list[str] = field(default_factory=list)
    stage_scores: dict[str, float] = field(default_factory=dict)


@dataclass
class PassageRecord:
    """A passage as the index stores it: the cut :class:`Passage`, its row id, and its tags.

    ``tags_version`` is ``None`` until the taggers have run on it; an untagged passage's places are
    its document's (``housing_kb.index.query.hits.hit_from_record``).
    """

    id: int
    passage_id: str
    doc_id: str
    ordinal: int
    text: str
    language: str
    page_start: int | None
    page_end: int | None
    char_start: int
    char_end: int
    content_hash: str
    paragraphs: list[str] = field(default_factory=list)
    heading_path: list[str] = field(default_factory=list)
    token_count: int = 0
    components: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    component_scores: dict[str, float] = field(default_factory=dict)
    tags_version: str | None = None
    stages: list[str] = field(default_factory=list)
    stage_scores: dict[str, float] = field(default_factory=dict)
    kind: str = "body"
    articles: list[str] = field(default_factory=list)
