"""Read a document file into raw pages, failing loudly on anything we cannot read.

One loader per format, chosen by file suffix. PDFs keep one :class:`Page` per PDF page (so
citations can name the page); every other format is flowing text and becomes a single page
with ``number=None``. Headings found on the way (Markdown ``#``, DOCX heading styles, HTML
``h1``-``h6``) are recorded as ``(offset, level, text)`` so passages can carry a heading path.

Bad input raises :class:`DocumentError` with a one-line reason and a ``kind`` the pipeline can
report: ``corrupt``, ``encrypted``, ``empty``, ``image_only`` or ``unsupported``.

>>> doc = load_document(Path("udhr_eng.txt"))  # doctest: +SKIP
>>> doc.pages[0].number is None  # doctest: +SKIP
True
"""

from __future__ import annotations

import logging
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from housing_kb.ingest.documents import DocumentError, LoadedDocument
from housing_kb.ingest.limits import DocumentLimits, check_zip_members, too_large
from housing_kb.schema.records import Page

#: A compound-file (OLE) header: an encrypted Office file, or the old binary .doc format.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class _TextBuilder:
    """Accumulates blocks of text separated by blank lines, recording heading offsets."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self.headings: list[tuple[int, int, str]] = []

    def add_block(self, text: str, heading_level: int | None = None) -> None:
        text = text.strip()
        if not text:
            return
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        if heading_level is not None:
            self.headings.append((self._length, heading_level, " ".join(text.split())))
        self._parts.append(text)
        self._length += len(text)

    def extend_heading(self, text: str) -> None:
        """Append a continuation line to the heading just added ("Глава 1." + "ЖИЛИЩНОЕ ...")."""
        text = " ".join(text.split())
        offset, level, title = self.headings[-1]
        self._parts[-1] += " " + text
        self._length += len(text) + 1
        self.headings[-1] = (offset, level, f"{title} {text}")

    def page(self) -> Page:
        return Page(number=None, text="".join(self._parts), headings=list(self.headings))


def _one_page_document(path: Path, builder: _TextBuilder, limits: DocumentLimits) -> LoadedDocument:
    page = builder.page()
    if not page.text.strip():
        raise DocumentError(f"{path.name}: no text found", kind="empty")
    limits.check_chars(path.name, len(page.text))
    return LoadedDocument(pages=[page])


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError(f"{path}: file not found", kind="missing") from exc
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read file ({exc.strerror})", kind="unreadable") from exc
    if not data.strip():
        raise DocumentError(f"{path.name}: file is empty", kind="empty")
    return data


def _read_text_file(path: Path, limits: DocumentLimits) -> tuple[str, list[str]]:
    """A text-format file decoded, refused unread when its size alone puts it over the character
    limit (UTF-8 spends at most 4 bytes on a character)."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # _read_bytes reports it
    if size > 4 * limits.max_chars:
        raise too_large(
            path.name,
            f"{size / 2**20:.1f} MB of text",
            f"{limits.max_chars:,} characters",
            "HOUSING_KB_MAX_CHARS",
        )
    text, notes = _decode_text(path, _read_bytes(path))
    limits.check_chars(path.name, len(text))
    return text, notes


#: Share of a decoded text that may be replacement characters (U+FFFD) before UTF-8 is given up.
MAX_INVALID_UTF8_SHARE = 0.001
#: charset-normalizer's "mess" ratio above which a guessed decoding is taken for mojibake.
MAX_DECODING_MESS = 0.1


def _decode_text(path: Path, data: bytes) -> tuple[str, list[str]]:
    """Decode text bytes: UTF-8 (with or without BOM), UTF-16 with BOM, else a code page that
    charset-normalizer is confident of. A few invalid bytes in otherwise UTF-8 text are replaced and
    noted; text that no encoding decodes plausibly fails rather than being indexed as mojibake."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), []
    if b"\x00" in data[:4096]:
        raise DocumentError(f"{path.name}: binary data in a text file", kind="corrupt")
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    lenient = data.decode("utf-8-sig", errors="replace")
    invalid = lenient.count("\ufffd")
    if invalid <= max(1, MAX_INVALID_UTF8_SHARE * len(lenient)):
        return lenient, [f"{invalid} invalid UTF-8 byte sequence(s) replaced by U+FFFD"]
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.chaos > MAX_DECODING_MESS:
        guess = f" (best guess {best.encoding}, {best.chaos:.0%} implausible characters)" if best else ""
        raise DocumentError(
            f"{path.name}: text encoding could not be determined{guess}; save the file as UTF-8",
            kind="corrupt",
        )
    return str(best), [f"not UTF-8; decoded as {best.encoding} ({1 - best.chaos:.0%} plausible)"]


# ---------------------------------------------------------------- PDF


@contextmanager
def _quiet_pypdf() -> Iterator[list[str]]:
    """Collect pypdf's log messages and warnings instead of letting them flood the log.

    Real PDFs trigger many harmless pypdf complaints (odd xref tables, font widths); we keep
    them as data and report a one-line summary in ``LoadedDocument.warnings``.
    """
    collected: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            collected.append(record.getMessage())

    logger = logging.getLogger("pypdf")
    handler = _Collect(level=logging.WARNING)
    saved_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield collected
        collected.extend(str(w.message) for w in caught)
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved_propagate


def _page_list(numbers: list[int]) -> str:
    """ "page 4" or "pages 2, 4, 6"."""
    return ("page " if len(numbers) == 1 else "pages ") + ", ".join(str(n) for n in numbers)


def load_pdf(path: Path, limits: DocumentLimits | None = None) -> LoadedDocument:
    """One page per PDF page, numbered from 1; pages without text are flagged ``empty``.

    An encrypted PDF is opened with the empty user password first (permission-only "protected" PDFs,
    which every viewer opens, AES ones included); only when that fails does it need a password.

    >>> load_pdf(Path("E_2025_60.en.pdf")).pages[1].number  # doctest: +SKIP
    2
    """
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    limits = limits or DocumentLimits()
    _read_bytes(path)  # raises for a missing or empty file before pypdf sees it
    doc_warnings: list[str] = []
    with _quiet_pypdf() as pypdf_messages:
        try:
            reader = PdfReader(path)
            if reader.is_encrypted:
                try:
                    # Many "protected" PDFs only restrict printing and open with an empty password.
                    opened = reader.decrypt("")
                except (DependencyError, NotImplementedError) as exc:
                    raise DocumentError(
                        f"{path.name}: encrypted PDF that this installation cannot decrypt ({exc})",
                        kind="encrypted",
                    ) from exc
                if not opened:
                    raise DocumentError(f"{path.name}: encrypted: needs a password", kind="encrypted")
            limits.check_pages(path.name, len(reader.pages))
            raw_pages = list(reader.pages)
        except DocumentError:
            raise
        except FileNotDecryptedError as exc:
            raise DocumentError(f"{path.name}: encrypted: needs a password", kind="encrypted") from exc
        except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            raise DocumentError(f"{path.name}: not a readable PDF ({exc})", kind="corrupt") from exc
        if not raw_pages:
            raise DocumentError(f"{path.name}: PDF has no pages", kind="empty")

        pages: list[Page] = []
        failed: list[int] = []
        chars = 0
        for number, raw in enumerate(raw_pages, start=1):
            try:
                text = raw.extract_text() or ""
            except Exception:  # one broken page must not lose the whole document
                failed.append(number)
                text = ""
            text = text.replace("\x00", "")
            chars += len(text)
            limits.check_chars(path.name, chars)  # stop extracting as soon as the text is over
            pages.append(Page(number=number, text=text, empty=not text.strip()))

    empty = [p.number for p in pages if p.empty and p.number is not None]
    if len(empty) == len(pages):
        raise DocumentError(
            f"{path.name}: no extractable text on any of {len(pages)} pages (scanned/image-only PDF?)",
            kind="image_only",
        )
    if failed:
        doc_warnings.append(f"text extraction failed on {_page_list(failed)}")
    if empty:
        doc_warnings.append(f"{_page_list(empty)} yielded no text (scanned?)")
    if pypdf_messages:
        doc_warnings.append(f"pypdf reported {len(pypdf_messages)} problem(s), first: {pypdf_messages[0]}")
    return LoadedDocument(pages=pages, warnings=doc_warnings)


# ---------------------------------------------------------------- DOCX

#: Heading tiers by their first word, for custom title styles that carry no level
#: (e.g. "ConsPlusTitle" in Russian codes): part > chapter > section > article.
_HEADING_TIERS: tuple[tuple[str, ...], ...] = (
    ("part", "partie", "parte", "título", "titre", "раздел", "الباب"),
    ("chapter", "chapitre", "capítulo", "глава", "الفصل"),
    ("section", "sección", "seção", "параграф", "§"),
    ("article", "artículo", "artigo", "art.", "статья", "المادة"),
)
_CJK_HEADING_TIERS = (("编",), ("章",), ("节",), ("条",))


def _heading_level_from_text(text: str) -> int:
    """Guess a heading level from its first word ("Глава 1" -> 2); 1 when nothing matches."""
    words = text.split(maxsplit=1)
    first = words[0].lower() if words else ""
    for level, tier in enumerate(_HEADING_TIERS, start=1):
        if first in tier:
            return level
    match = re.match(r"第[一二三四五六七八九十百零〇\d]+(.)", text)
    if match:
        for level, tier in enumerate(_CJK_HEADING_TIERS, start=1):
            if match.group(1) in tier:
                return level
    return 1


def _docx_heading_level(style_name: str, text: str) -> int | None:
    """Heading level from a paragraph style: "Heading 2" -> 2, "Title" -> 1, body text -> None."""
    name = style_name.strip().lower()
    match = re.fullmatch(r"heading\s*(\d)", name)
    if match:
        return int(match.group(1))
    if name == "title":
        return 1
    if name == "subtitle":
        return 2
    if "heading" in name or "title" in name:
        return _heading_level_from_text(text)
    return None


def load_docx(path: Path, limits: DocumentLimits | None = None) -> LoadedDocument:
    """Paragraphs and tables in document order; heading styles become headings.

    The zip directory is checked against the limits before anything is inflated (zip bombs).

    >>> load_docx(Path("lei_14620.docx")).pages[0].number is None  # doctest: +SKIP
    True
    """
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    data = _read_bytes(path)
    if data.startswith(_OLE_MAGIC):
        raise DocumentError(
            f"{path.name}: password-protected or old binary Word file (save it as .docx)", kind="encrypted"
        )
    limits = limits or DocumentLimits()
    check_zip_members(path, limits)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError) as exc:
        raise DocumentError(f"{path.name}: not a readable .docx file ({exc})", kind="corrupt") from exc
    except (ValueError, SyntaxError) as exc:  # lxml's XMLSyntaxError is a SyntaxError
        # lxml's own words ("try XML_PARSE_HUGE", "Opening and ending tag mismatch") mean nothing to a
        # contributor: say what is wrong with the file instead.
        raise DocumentError(
            f"{path.name}: not a readable .docx file (its XML content is damaged or not Word XML)",
            kind="corrupt",
        ) from exc

    builder = _TextBuilder()
    previous_was_heading = False
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            builder.add_block(_docx_table_text(block))
            previous_was_heading = False
            continue
        if not block.text.strip():
            continue
        style_name = (block.style.name if block.style is not None else "") or ""
        level = _docx_heading_level(style_name, block.text)
        if level is not None and previous_was_heading and _is_heading_continuation(style_name, block.text):
            builder.extend_heading(block.text)
            continue
        builder.add_block(block.text, level)
        previous_was_heading = level is not None
    return _one_page_document(path, builder, limits)


def _is_heading_continuation(style_name: str, text: str) -> bool:
    """A custom title line without a tier word right after a heading continues that heading."""
    custom = not re.fullmatch(r"heading\s*\d|title|subtitle", style_name.strip().lower())
    return custom and _heading_level_from_text(text) == 1 and not _starts_with_tier_word(text)


def _starts_with_tier_word(text: str) -> bool:
    words = text.split(maxsplit=1)
    first = words[0].lower() if words else ""
    return any(first in tier for tier in _HEADING_TIERS) or bool(re.match(r"第.+?[编章节条]", text))


def _docx_table_text(table: object) -> str:
    """A table as one line per row, cells joined by " | " (merged cells only once)."""
    rows: list[str] = []
    for row in table.rows:  # type: ignore[attr-defined]
        seen: set[int] = set()
        cells: list[str] = []
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = " ".join(cell.text.split())
            if text:
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)


# ---------------------------------------------------------------- Markdown

_FRONT_MATTER = re.compile(r"\A\ufeff?(?:---|\+\+\+)[ \t]*\n.*?\n(?:---|\+\+\+|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_RULE = re.compile(r"^[ \t]*(?:(?:[-*_][ \t]*){3,})$")
_TABLE_SEPARATOR = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
_INLINE_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images: alt text is rarely useful prose
    (re.compile(r"\[\[[^\]]*\]\]"), ""),  # wiki-style metadata tags such as [[year:2013]]
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url) -> text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref] -> text
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),
    (re.compile(r"<br\s*/?>", re.I), "\n"),
    (re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>"), ""),  # inline HTML tags
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *italic*
    (re.compile(r"(?<!\w)_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)"), r"\1"),  # _italic_
    (re.compile(r"`+([^`\n]*)`+"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>])"), r"\1"),  # backslash escapes
    (re.compile(r"&nbsp;"), " "),
    (re.compile(r"&amp;"), "&"),
)


def _strip_inline_markdown(line: str) -> str:
    for pattern, replacement in _INLINE_RULES:
        line = pattern.sub(replacement, line)
    return line


def _markdown_table_row(line: str) -> str:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return " | ".join(c for c in cells if c)


def markdown_to_page(markdown: str) -> Page:
    """Minimal Markdown stripping: keep the words and paragraph breaks, record headings.

    >>> page = markdown_to_page("---\\ntitle: x\\n---\\n# Tenure\\n\\nSecurity of **tenure**.")
    >>> page.text, page.headings
    ('Tenure\\n\\nSecurity of tenure.', [(0, 1, 'Tenure')])
    """
    text = _FRONT_MATTER.sub("", markdown, count=1)
    text = _HTML_COMMENT.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.split("\n")
    builder = _TextBuilder()
    paragraph: list[str] = []

    def flush() -> None:
        builder.add_block("\n".join(paragraph))
        paragraph.clear()

    in_fence = False
    for index, raw in enumerate(lines):
        if _FENCE.match(raw):
            in_fence = not in_fence
            flush()
            continue
        if in_fence:
            paragraph.append(raw)
            continue
        heading = _ATX_HEADING.match(raw)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if heading:
            flush()
            builder.add_block(_strip_inline_markdown(heading.group(2)), len(heading.group(1)))
        elif (
            raw.strip()
            and not paragraph
            and _SETEXT_UNDERLINE.match(following)
            and not _TABLE_SEPARATOR.match(raw)
        ):
            level = 1 if following.strip().startswith("=") else 2
            builder.add_block(_strip_inline_markdown(raw), level)
        elif _SETEXT_UNDERLINE.match(raw) and index > 0 and lines[index - 1].strip() and not paragraph:
            continue  # the underline of a setext heading handled on the previous line
        elif "|" in raw and _TABLE_SEPARATOR.match(raw):
            continue  # the |---|---| line under a table header row
        elif not raw.strip() or _RULE.match(raw) or _TABLE_SEPARATOR.match(raw):
            flush()
        else:
            line = re.sub(r"^ {0,3}>[ \t]?", "", raw)  # block quotes
            if line.lstrip().startswith("|"):
                line = _markdown_table_row(line)
            paragraph.append(_strip_inline_markdown(line))
    flush()
    return builder.page()


def load_markdown(path: Path, limits: DocumentLimits | None = None) -> LoadedDocument:
    """A Markdown file as one page; front matter removed, ``#`` headings recorded."""
    text, notes = _read_text_file(path, limits or DocumentLimits())
    page = markdown_to_page(text)
    if not page.text.strip():
        raise DocumentError(f"{path.name}: no text found", kind="empty")
    return LoadedDocument(pages=[page], warnings=notes)


# ---------------------------------------------------------------- HTML

_DROP_TAGS = ("script", "style", "nav", "noscript", "template", "svg", "iframe", "head")
_HEADING_TAGS = {f"h{n}": n for n in range(1, 7)}
_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "caption", "dd", "div", "dl", "dt"),
        *("figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "ol", "p", "pre"),
        *("section", "table", "tbody", "tfoot", "thead", "tr", "ul"),
    }
)


def html_to_page(html: str) -> Page:
    """Visible text of an HTML page, one block per element; ``h1``-``h6`` become headings.

    >>> html_to_page("<h2>Evictions</h2><p>Forced <b>evictions</b></p><script>x()</script>").text
    'Evictions\\n\\nForced evictions'
    """
    from bs4 import BeautifulSoup, Comment, NavigableString, Tag

    try:
        soup = BeautifulSoup(html, "lxml")
    except Exception:  # lxml missing or choking: the stdlib parser is slower but forgiving
        soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()

    builder = _TextBuilder()
    inline: list[str] = []

    def flush() -> None:
        lines = (" ".join(line.split()) for line in "".join(inline).split("\n"))
        builder.add_block("\n".join(line.removesuffix(" |") for line in lines if line))
        inline.clear()

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                inline.append(re.sub(r"\s+", " ", str(child)))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if name in _HEADING_TAGS:
                flush()
                builder.add_block(child.get_text(" ", strip=True), _HEADING_TAGS[name])
            elif name == "br":
                inline.append("\n")
            elif name in ("td", "th"):
                walk(child)
                inline.append(" | ")
            elif name in _BLOCK_TAGS:
                flush()
                walk(child)
                flush()
            else:
                walk(child)

    walk(soup)
    flush()
    return builder.page()


def load_html(path: Path, limits: DocumentLimits | None = None) -> LoadedDocument:
    """An HTML file as one page, without scripts, styles and navigation."""
    text, notes = _read_text_file(path, limits or DocumentLimits())
    page = html_to_page(text)
    if not page.text.strip():
        raise DocumentError(f"{path.name}: no visible text found", kind="empty")
    return LoadedDocument(pages=[page], warnings=notes)


# ---------------------------------------------------------------- plain text


def load_text(path: Path, limits: DocumentLimits | None = None) -> LoadedDocument:
    """A plain-text file as one page, line breaks kept for the cleaning step."""
    text, notes = _read_text_file(path, limits or DocumentLimits())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DocumentError(f"{path.name}: no text found", kind="empty")
    return LoadedDocument(pages=[Page(number=None, text=text)], warnings=notes)


# ---------------------------------------------------------------- dispatch

LOADERS: dict[str, Callable[[Path, DocumentLimits], LoadedDocument]] = {
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".txt": load_text,
}


def load_document(path: Path, limits: DocumentLimits | None = None) -> LoadedDocument:
    """Load any supported file, choosing the loader by suffix, within ``limits``.

    >>> load_document(Path("notes.xyz"))
    Traceback (most recent call last):
    ...
    housing_kb.ingest.documents.DocumentError: notes.xyz: unsupported file type '.xyz' (supported: .docx, .htm, .html, .markdown, .md, .pdf, .txt)
    """
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        supported = ", ".join(sorted(LOADERS))
        raise DocumentError(
            f"{path.name}: unsupported file type '{path.suffix or '(none)'}' (supported: {supported})",
            kind="unsupported",
        )
    return loader(path, limits or DocumentLimits())
