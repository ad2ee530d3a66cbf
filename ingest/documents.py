"""What a loader gives back (pages and what it noticed), and the error of a document that cannot be
ingested. Pages and passages themselves are shared with the index (:mod:`housing_kb.schema.records`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from housing_kb.schema.records import Page


@dataclass
class LoadedDocument:
    """What a loader returns: the pages, plus what it noticed along the way."""

    pages: list[Page]
    #: Human-readable notes, e.g. "pages 3, 7 yielded no text (scanned?)".
    warnings: list[str] = field(default_factory=list)

    @property
    def text_chars(self) -> int:
        return sum(len(p.text) for p in self.pages)


class DocumentError(Exception):
    """A document that cannot be ingested. ``reason`` is one short, user-facing line."""

    def __init__(self, reason: str, *, kind: str = "unreadable") -> None:
        super().__init__(reason)
        self.reason = reason
        #: One of: missing, checksum, corrupt, encrypted, empty, image_only, unsupported, unreadable.
        self.kind = kind
