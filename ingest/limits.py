"""What one document may cost, and where a manifest path may lead.

Every bound here exists because a hostile or broken file would otherwise take the whole run down:
a symlink to ``/etc/passwd`` indexed as text, a FIFO or ``/dev/zero`` that never ends, a DOCX whose
1.5 MB inflate to gigabytes, a 100 MB text file that takes hours. A document over a limit fails with
kind ``too_large`` (or ``unsafe_path``) and a message naming the limit and its setting; the rest of
the run goes on.

>>> limits = DocumentLimits()
>>> limits.max_pages
2000
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from housing_kb.config import Settings
from housing_kb.ingest.documents import DocumentError


@dataclass(frozen=True)
class DocumentLimits:
    """Per-document limits; each has an environment variable (the corpus's largest document is a
    2.4 MB PDF of 120 pages, so the defaults leave real documents far inside them)."""

    #: File size in MB (HOUSING_KB_MAX_DOCUMENT_MB).
    max_mb: int = 100
    #: PDF pages (HOUSING_KB_MAX_PAGES).
    max_pages: int = 2000
    #: Characters of extracted text (HOUSING_KB_MAX_CHARS).
    max_chars: int = 5_000_000
    #: Passages after chunking (HOUSING_KB_MAX_PASSAGES).
    max_passages: int = 5000
    #: Uncompressed size of one member of a DOCX (zip) file, in MB (HOUSING_KB_MAX_ZIP_MEMBER_MB).
    max_zip_member_mb: int = 64
    #: Uncompressed size of all members of a DOCX file together, in MB (HOUSING_KB_MAX_ZIP_TOTAL_MB).
    max_zip_total_mb: int = 256
    #: Members of a DOCX file (HOUSING_KB_MAX_ZIP_MEMBERS).
    max_zip_members: int = 5000

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentLimits:
        """The limits ``settings`` set (HOUSING_KB_MAX_*).

        >>> DocumentLimits.from_settings(Settings(max_pages=7)).max_pages
        7
        """
        return cls(
            max_mb=settings.max_document_mb,
            max_pages=settings.max_pages,
            max_chars=settings.max_chars,
            max_passages=settings.max_passages,
            max_zip_member_mb=settings.max_zip_member_mb,
            max_zip_total_mb=settings.max_zip_total_mb,
            max_zip_members=settings.max_zip_members,
        )

    def check_chars(self, name: str, chars: int) -> None:
        if chars > self.max_chars:
            raise too_large(
                name, f"{chars:,} characters of text", f"{self.max_chars:,}", "HOUSING_KB_MAX_CHARS"
            )

    def check_passages(self, name: str, passages: int) -> None:
        if passages > self.max_passages:
            raise too_large(
                name, f"{passages:,} passages", f"{self.max_passages:,}", "HOUSING_KB_MAX_PASSAGES"
            )

    def check_pages(self, name: str, pages: int) -> None:
        if pages > self.max_pages:
            raise too_large(name, f"{pages:,} pages", f"{self.max_pages:,}", "HOUSING_KB_MAX_PAGES")


def too_large(name: str, what: str, limit: str, setting: str) -> DocumentError:
    """The failure of a document over a limit, naming the limit and the setting that raises it.

    >>> too_large("a.txt", "9 pages", "5", "HOUSING_KB_MAX_PAGES").reason
    'a.txt: too large: 9 pages, over the limit of 5 (HOUSING_KB_MAX_PAGES)'
    """
    return DocumentError(
        f"{name}: too large: {what}, over the limit of {limit} ({setting})", kind="too_large"
    )


def corpus_file(root: Path, relative: str, limits: DocumentLimits | None = None) -> Path:
    """The real path of a manifest ``path`` under the corpus ``root``, checked before anything reads it.

    Refused with kind ``unsafe_path``: a path whose real location (symlinks followed) is outside the
    root, and anything that is not a regular file (a FIFO or a device would block or never end).
    Refused with ``too_large``: a file over ``limits.max_mb``. A missing file raises kind ``missing``.
    """
    limits = limits or DocumentLimits()
    base = Path(root).resolve()
    candidate = base / relative
    real = candidate.resolve()
    if not real.is_relative_to(base):
        raise DocumentError(
            f"{relative}: leads outside the corpus root (a symlink?); refused", kind="unsafe_path"
        )
    try:
        info = os.stat(real)
    except FileNotFoundError:
        raise DocumentError(f"file not found: {candidate}", kind="missing") from None
    except OSError as exc:
        raise DocumentError(f"{relative}: cannot read file ({exc.strerror})", kind="unreadable") from None
    if not stat.S_ISREG(info.st_mode):
        raise DocumentError(
            f"{relative}: not a regular file (a directory, device or pipe); refused", kind="unsafe_path"
        )
    if info.st_size > limits.max_mb << 20:
        raise too_large(
            relative, f"{info.st_size / 2**20:.1f} MB", f"{limits.max_mb} MB", "HOUSING_KB_MAX_DOCUMENT_MB"
        )
    return real


def check_zip_members(path: Path, limits: DocumentLimits | None = None) -> None:
    """Refuse a zip container (DOCX) whose directory declares too many or too large members, before
    anything is inflated. Python's zipfile never inflates a member past its declared size, so the
    directory bounds what reading it can cost."""
    limits = limits or DocumentLimits()
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentError(
            f"{path.name}: not a readable .docx file (damaged zip container: {exc})", kind="corrupt"
        ) from None
    if len(members) > limits.max_zip_members:
        raise too_large(
            path.name, f"{len(members):,} parts", f"{limits.max_zip_members:,}", "HOUSING_KB_MAX_ZIP_MEMBERS"
        )
    member_cap = limits.max_zip_member_mb << 20
    for member in members:
        if member.file_size > member_cap:
            raise too_large(
                path.name,
                f"part {member.filename[:60]} inflates to {member.file_size / 2**20:,.0f} MB",
                f"{limits.max_zip_member_mb} MB",
                "HOUSING_KB_MAX_ZIP_MEMBER_MB",
            )
    total = sum(m.file_size for m in members)
    if total > limits.max_zip_total_mb << 20:
        raise too_large(
            path.name,
            f"its parts inflate to {total / 2**20:,.0f} MB",
            f"{limits.max_zip_total_mb} MB",
            "HOUSING_KB_MAX_ZIP_TOTAL_MB",
        )
