"""Matched words marked in a passage's text, by the same analysis BM25 uses."""

from __future__ import annotations

import html
import unicodedata

from housing_kb.index.lexical.analysis import match_spans


def has_words(text: str) -> bool:
    """Whether ``text`` holds anything besides white space and control or format characters.

    >>> has_words(" \\x00\\t"), has_words("住房")
    (False, True)
    """
    return any(not ch.isspace() and unicodedata.category(ch)[0] != "C" for ch in text)


def highlight_text(text: str, language: str, terms: set[str]) -> str:
    """HTML-escaped text with the spans whose analysed term is a query term wrapped in <mark>.

    >>> highlight_text("Adequate housing & land", "en", {"hous"})
    'Adequate <mark>housing</mark> &amp; land'
    >>> highlight_text("人居署的住房项目", "zh", {"人居", "署", "住房"})
    '<mark>人居署</mark>的<mark>住房</mark>项目'
    """
    if not terms:
        return html.escape(text)
    spans: list[list[int]] = []
    for start, end in match_spans(text, language, terms):
        if spans and start == spans[-1][1]:
            spans[-1][1] = end  # touching matches (人居 + 署) make one mark
        elif not spans or start >= spans[-1][1]:
            spans.append([start, end])
    out, pos = [], 0
    for start, end in spans:
        out.append(html.escape(text[pos:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)
