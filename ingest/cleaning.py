"""Cleaning steps for extracted pages, each a small callable ``Sequence[Page] -> list[Page]``.

Steps compose like a pipeline (the pattern of Climate Policy Radar's chunk processors), and
:func:`clean_pages` runs :data:`DEFAULT_STEPS` in order:

1. :func:`normalise_compatibility_forms` - NFKC on Arabic presentation forms and Latin ligatures only;
2. :func:`remove_repeated_headers_footers` - running heads, page numbers, document symbols;
3. :func:`collapse_duplicated_lines` - a line (or run of lines) that extraction printed twice;
4. :func:`join_hyphenated_words` - "hous-\\ning" -> "housing";
5. :func:`normalise_whitespace` - paragraphs as "\\n\\n", wrapped lines joined, list lines kept;
6. :func:`remove_spaces_between_cjk` - "住房 政策" -> "住房政策".

Heading offsets stay valid: each step marks heading starts with a sentinel character before
rewriting the text and reads the new offsets back from where the sentinels ended up.

>>> clean_pages([Page(None, "Adequate hous-\\ning is a\\nright.\\n\\n\\n53. It includes tenure.")])[0].text
'Adequate housing is a right.\\n\\n53. It includes tenure.'
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace

from housing_kb.schema.records import Page

CleaningStep = Callable[[Sequence[Page]], list[Page]]

#: Marks a heading start while a step rewrites the text (a Unicode noncharacter: never real text).
_MARK = "\uffff"


def _rewrite_pages(
    pages: Sequence[Page], rewrite: Callable[[str], str], *, rewrite_titles: bool = True
) -> list[Page]:
    """Apply a text-to-text function to every page, carrying heading offsets through it."""
    result: list[Page] = []
    for page in pages:
        text = page.text.replace(_MARK, "")
        if not page.headings:
            result.append(replace(page, text=rewrite(text)))
            continue
        marked = _insert_marks(text, [offset for offset, _, _ in page.headings])
        new_text = rewrite(marked)
        offsets = [m.start() - i for i, m in enumerate(re.finditer(_MARK, new_text))]
        new_text = new_text.replace(_MARK, "")
        headings = [
            # A heading's own text is cleaned the same way so it still matches the page text.
            (offset, level, rewrite(title).strip() if rewrite_titles else title)
            for offset, (_, level, title) in zip(offsets, page.headings, strict=False)
        ]
        result.append(replace(page, text=new_text, headings=headings))
    return result


def _insert_marks(text: str, offsets: list[int]) -> str:
    pieces: list[str] = []
    previous = 0
    for offset in sorted(offsets):
        pieces.append(text[previous:offset])
        pieces.append(_MARK)
        previous = offset
    pieces.append(text[previous:])
    return "".join(pieces)


# ---------------------------------------------------------------- compatibility forms

#: Arabic presentation forms A and B, and the Latin ligatures ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ.
_COMPATIBILITY_FORMS = re.compile(r"[\ufb00-\ufb06\ufb50-\ufdff\ufe70-\ufefe]+")


def normalise_compatibility_forms(pages: Sequence[Page]) -> list[Page]:
    """NFKC only where PDFs use display forms: Arabic presentation forms and Latin ligatures.

    Whole-text NFKC would also turn full-width CJK punctuation (，：（）) into ASCII, changing
    Chinese text, so it is applied to these code point ranges alone.

    >>> normalise_compatibility_forms([Page(1, "ﬁnance ﻟﻺﺳﻜﺎﻥ，")])[0].text
    'finance للإسكان，'
    """

    def rewrite(text: str) -> str:
        return _COMPATIBILITY_FORMS.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)

    return _rewrite_pages(pages, rewrite)


# ---------------------------------------------------------------- headers and footers

#: How many lines at the top and bottom of a page can be a running head or foot.
EDGE_LINES = 3
#: A line is a running head/foot when it recurs on at least this share of the pages ...
REPEAT_SHARE = 0.5
#: ... and on at least this many pages.
REPEAT_MIN_PAGES = 3


def _line_key(line: str) -> str:
    """Compare lines ignoring digits, case and spacing, so "Page 3 of 40" matches "Page 4 of 40"."""
    return re.sub(r"\d+", "#", " ".join(line.split()).lower())


def _edge_lines(lines: list[str]) -> list[int]:
    """Indices of the first and last few non-blank lines of a page."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return sorted(set(filled[:EDGE_LINES] + filled[-EDGE_LINES:]))


def remove_repeated_headers_footers(pages: Sequence[Page]) -> list[Page]:
    """Drop lines at page edges that recur on a large share of the pages.

    Needs several pages to judge, so flowing-text documents (one page) pass through unchanged.

    >>> pages = [Page(n, f"E/2025/60\\n{n}\\nBody text {n * 'x'}.") for n in range(1, 5)]
    >>> [p.text for p in remove_repeated_headers_footers(pages)][:2]
    ['Body text x.', 'Body text xx.']
    """
    with_text = [p for p in pages if p.text.strip()]
    if len(with_text) < REPEAT_MIN_PAGES:
        return list(pages)
    counts: Counter[str] = Counter()
    for page in with_text:
        lines = page.text.split("\n")
        counts.update({_line_key(lines[i]) for i in _edge_lines(lines)})
    threshold = max(REPEAT_MIN_PAGES, REPEAT_SHARE * len(with_text))
    repeated = {key for key, n in counts.items() if n >= threshold}
    if not repeated:
        return list(pages)

    def rewrite(text: str) -> str:
        lines = text.split("\n")
        # Judge the line without a heading mark, so a marked line still matches its peers.
        drop = {i for i in _edge_lines(lines) if _line_key(lines[i].replace(_MARK, "")) in repeated}
        # A dropped line disappears (no blank line left behind) except for any heading mark on it.
        kept = (line if i not in drop else _MARK * line.count(_MARK) for i, line in enumerate(lines))
        return "\n".join(line for i, line in enumerate(kept) if line or i not in drop)

    return _rewrite_pages(pages, rewrite, rewrite_titles=False)


# ---------------------------------------------------------------- duplicated lines

#: The longest run of lines that can be printed twice in a row (a question wrapped over 3 lines).
DUPLICATE_RUN_LINES = 3
#: A repeated line shorter than this (in letters) can be real: table cells, "Yes", list markers.
DUPLICATE_MIN_LETTERS = 12
_LETTER = re.compile(r"[^\W\d_]")


def _same_lines(a: list[str], b: list[str]) -> bool:
    return [" ".join(x.replace(_MARK, "").split()) for x in a] == [
        " ".join(x.replace(_MARK, "").split()) for x in b
    ]


def _collapse_duplicated_text(text: str) -> str:
    lines = text.split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        for run in range(DUPLICATE_RUN_LINES, 0, -1):
            block, previous = lines[i : i + run], kept[-run:]
            if (
                len(block) == run
                and len(previous) == run
                and all(line.strip() for line in block)
                and len(_LETTER.findall("".join(block))) >= DUPLICATE_MIN_LETTERS
                and _same_lines(block, previous)
            ):
                # The copy goes; a heading mark on it moves to the line before, which starts the same text.
                marks = "".join(_MARK * line.count(_MARK) for line in block)
                kept[-run] = marks + kept[-run].replace(_MARK, "") if marks else kept[-run]
                i += run
                break
        else:
            kept.append(lines[i])
            i += 1
    return "\n".join(kept)


def collapse_duplicated_lines(pages: Sequence[Page]) -> list[Page]:
    """Drop a line, or a run of up to three lines, that directly repeats the one before it.

    Some PDFs draw a bold question twice (once per font layer), so extraction yields every FAQ
    question twice in a row; a title can repeat the same way. Short lines are left alone: two
    table cells may well read the same.

    >>> collapse_duplicated_lines([Page(1, "2. What is the period of PMAY-U?\\n2. What is the period of PMAY-U?\\nFive years.")])[0].text
    '2. What is the period of PMAY-U?\\nFive years.'
    >>> collapse_duplicated_lines([Page(1, "Yes\\nYes\\nNo")])[0].text
    'Yes\\nYes\\nNo'
    """
    return _rewrite_pages(pages, _collapse_duplicated_text, rewrite_titles=False)


# ---------------------------------------------------------------- hyphenation

_LINE_END_HYPHEN = re.compile(r"([^\W\d_]+)-[ \t]*\n[ \t]*(?=([^\W\d_]+))")
_HYPHENATED_WORD = re.compile(r"[^\W\d_]+-[^\W\d_]+")


def join_hyphenated_words(pages: Sequence[Page]) -> list[Page]:
    """Join a word split by a hyphen at a line end when the next line starts in lower case.

    A compound that the document also writes with a hyphen inside a line ("capacity-building")
    keeps its hyphen; only the line break goes. Before a capital ("Asia-\\nPacific") the hyphen
    is real, so it stays and only the line break goes.

    >>> join_hyphenated_words([Page(1, "secure hous-\\ning and capacity-\\nbuilding; capacity-building")])[0].text
    'secure housing and capacity-building; capacity-building'
    """
    compounds = {m.group().lower() for p in pages for m in _HYPHENATED_WORD.finditer(p.text)}

    def join(match: re.Match[str]) -> str:
        left, right = match.group(1), match.group(2)
        if not (right[0].islower() or right[0].isupper()):
            return match.group()  # scripts without case: the hyphen may be a dash
        keep_hyphen = right[0].isupper() or f"{left}-{right}".lower() in compounds
        return f"{left}-" if keep_hyphen else left

    return _rewrite_pages(pages, lambda text: _LINE_END_HYPHEN.sub(join, text))


# ---------------------------------------------------------------- white space

#: A line that must keep its own line: UN paragraph numbers ("53.", "53.住房"), list items
#: ("(a)", "a)", "1)", "-", "•", "（一）", "一、") and table rows ("a | b").
KEEP_LINE_BREAK_BEFORE = re.compile(
    r"""^(?:
        \d{1,3}\.(?:\s|(?=[\u3400-\u9fff]))          # 53. Text  /  53.住房
      | \(?(?:\d{1,3}|[a-z]{1,2}|[ivxlc]{1,6})\)\s   # (a) a) 1) (iv)
      | [-•*·▪◦‣–—]\s                                # bullets
      | [（(][一二三四五六七八九十百]+[）)]            # （一）
      | [一二三四五六七八九十百]+、                    # 一、
      | 第[一二三四五六七八九十百零〇\d]+[条章节编]    # 第五条
      | .*\s\|\s                                     # table row
    )""",
    re.X,
)
_SPACES = re.compile(r"[^\S\n]+")
_INVISIBLE = re.compile(r"[\u00ad\u200b\u200c\u200e\u200f\u2060\ufeff]")
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
_CJK_CHAR = r"[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]"


def _join_lines(lines: list[str]) -> str:
    pieces: list[str] = []
    for line in lines:
        if not pieces:
            pieces.append(line)
        elif KEEP_LINE_BREAK_BEFORE.match(line.replace(_MARK, "")):
            pieces.append("\n" + line)
        else:
            pieces.append(" " + line)
    return "".join(pieces)


def _normalise_whitespace_text(text: str) -> str:
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACES.sub(" ", text)
    paragraphs = []
    for block in _PARAGRAPH_BREAK.split(text):
        lines = [line.strip(" ") for line in block.split("\n")]
        lines = [line for line in lines if line]
        if lines:
            paragraphs.append(_join_lines(lines))
    return "\n\n".join(paragraphs)


def normalise_whitespace(pages: Sequence[Page]) -> list[Page]:
    """Collapse spaces; blank lines become one "\\n\\n"; wrapped lines are joined with a space.

    A line break survives before numbered paragraphs, list items and table rows, since they
    mark structure that sentence splitting and paragraph numbering rely on.

    >>> normalise_whitespace([Page(1, "The right\\n to  housing\\n(a) tenure;\\n\\n\\n 2. Next")])[0].text
    'The right to housing\\n(a) tenure;\\n\\n2. Next'
    """
    return _rewrite_pages(pages, _normalise_whitespace_text)


# ---------------------------------------------------------------- CJK spacing

_FULL_WIDTH_PUNCTUATION = "，。、；：！？（）「」『』【】《》〈〉"
#: Between two CJK characters, or next to full-width punctuation (which carries its own space).
_SPACE_BETWEEN_CJK = re.compile(
    rf"(?<={_CJK_CHAR})[ \t]+(?={_CJK_CHAR})"
    rf"|(?<=[{_FULL_WIDTH_PUNCTUATION}])[ \t]+|[ \t]+(?=[{_FULL_WIDTH_PUNCTUATION}])"
)


def remove_spaces_between_cjk(pages: Sequence[Page]) -> list[Page]:
    """Remove spaces between two CJK characters (an extraction artefact; Chinese uses none).

    Spaces between CJK and Latin letters or digits ("2024 年") are kept: UN Chinese texts use
    them. Spaces next to full-width punctuation go: that punctuation has its own spacing.

    >>> remove_spaces_between_cjk([Page(1, "工作组 第一次会议， 2024 年")])[0].text
    '工作组第一次会议，2024 年'
    """
    return _rewrite_pages(pages, lambda text: _SPACE_BETWEEN_CJK.sub("", text))


# ---------------------------------------------------------------- all together

DEFAULT_STEPS: tuple[CleaningStep, ...] = (
    normalise_compatibility_forms,
    remove_repeated_headers_footers,
    collapse_duplicated_lines,
    join_hyphenated_words,
    normalise_whitespace,
    remove_spaces_between_cjk,
)


def clean_pages(pages: Sequence[Page], steps: Sequence[CleaningStep] = DEFAULT_STEPS) -> list[Page]:
    """Run the cleaning steps in order; pages left without text are flagged ``empty``.

    >>> clean_pages([Page(None, "ﬁrst  line\\nsecond")])[0].text
    'first line second'
    """
    result = list(pages)
    for step in steps:
        result = step(result)
    return [replace(p, empty=p.empty or not p.text.strip()) for p in result]
