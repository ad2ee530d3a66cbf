"""Cleaning steps on small synthetic pages, plus the Chinese UN-Habitat report."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from housing_kb.ingest.cleaning import (
    clean_pages,
    join_hyphenated_words,
    normalise_compatibility_forms,
    normalise_whitespace,
    remove_repeated_headers_footers,
    remove_spaces_between_cjk,
)
from housing_kb.ingest.loaders import load_document
from housing_kb.schema.records import Page

CORPUS = Path(
    os.environ.get("HOUSING_KB_CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
CJK_SPACE_CJK = re.compile(r"[\u4e00-\u9fff，。、；：（）][ \t]+[\u4e00-\u9fff，。、；：（）]")


def _report_pages(count: int) -> list[Page]:
    return [
        Page(
            number=n,
            text=f"E/2025/60\nPage {n} of {count}\nParagraph {n} talks about topic {'abcdefgh'[n % 8]}.\n"
            f"Closing words {'xyzuvwqr'[n % 8] * n}.\nGE.25-07292",
        )
        for n in range(1, count + 1)
    ]


def test_repeated_headers_and_footers_removed_with_digits_normalised() -> None:
    cleaned = remove_repeated_headers_footers(_report_pages(6))
    assert cleaned[2].text == "Paragraph 3 talks about topic d.\nClosing words uuu."
    assert all("E/2025/60" not in p.text and "Page" not in p.text for p in cleaned)


def test_headers_kept_when_too_few_pages() -> None:
    pages = _report_pages(2)
    assert [p.text for p in remove_repeated_headers_footers(pages)] == [p.text for p in pages]


def test_body_lines_that_differ_are_kept() -> None:
    pages = [Page(n, f"Header\nUnique body {chr(65 + n)} text") for n in range(1, 5)]
    assert remove_repeated_headers_footers(pages)[0].text == "Unique body B text"


def test_hyphenation_joined_only_before_lower_case() -> None:
    page = Page(
        1,
        "adequate hous-\ning; the Asia-\nPacific forum; 2019-\n2020; capacity-\nbuilding, capacity-building",
    )
    text = join_hyphenated_words([page])[0].text
    assert (
        text == "adequate housing; the Asia-Pacific forum; 2019-\n2020; capacity-building, capacity-building"
    )


def test_whitespace_keeps_paragraphs_and_numbered_lines() -> None:
    raw = "  The right to\nadequate   housing.\n53. Numbered\nparagraph text\n(a) item one;\n- bullet\n\n\n\nNext\tparagraph "
    text = normalise_whitespace([Page(1, raw)])[0].text
    assert text == (
        "The right to adequate housing.\n53. Numbered paragraph text\n(a) item one;\n- bullet\n\nNext paragraph"
    )


def test_whitespace_keeps_line_before_cjk_paragraph_number() -> None:
    text = normalise_whitespace([Page(None, "前一段结束。\n53.据此，工作组讨论了前进方向。")])[0].text
    assert text == "前一段结束。\n53.据此，工作组讨论了前进方向。"


def test_spaces_between_cjk_removed_but_not_around_latin_or_digits() -> None:
    text = remove_spaces_between_cjk([Page(None, "专家工作组 第一次会议， 2024 年 Edna Vega（墨西哥）")])[
        0
    ].text
    assert text == "专家工作组第一次会议，2024 年 Edna Vega（墨西哥）"


def test_arabic_presentation_forms_and_ligatures_normalised_only() -> None:
    page = Page(1, "ﺍﻹﺳﻜﺎﻥ ﺍﻟﻤﻴﺴﺮ ﬁnance，（住房）")
    text = normalise_compatibility_forms([page])[0].text
    assert text == "الإسكان الميسر finance，（住房）"  # full-width CJK punctuation untouched


def test_heading_offsets_follow_the_text() -> None:
    text = "Intro   text\nwrapped.\n\n\nChapter  II\n\nBody ﬁnal."
    page = Page(None, text, headings=[(text.index("Chapter"), 1, "Chapter  II")])
    cleaned = clean_pages([page])[0]
    assert cleaned.text == "Intro text wrapped.\n\nChapter II\n\nBody final."
    offset, level, title = cleaned.headings[0]
    assert (level, title) == (1, "Chapter II")
    assert cleaned.text[offset : offset + len(title)] == title


def test_page_emptied_by_cleaning_is_flagged() -> None:
    assert clean_pages([Page(3, " \n\u200b\n ")])[0].empty


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")
def test_chinese_report_has_no_spaces_between_cjk_characters() -> None:
    doc = load_document(CORPUS / "un_habitat" / "HSP-OEWG-H.2024-8.zh.txt")
    assert CJK_SPACE_CJK.search(doc.pages[0].text)  # the raw text has the artefact ...
    text = clean_pages(doc.pages)[0].text
    assert not CJK_SPACE_CJK.search(text)  # ... the cleaned one does not
    assert "\n53. 据此，政府间专家工作组" in text
    assert "2024 年 12 月 9 日" in text
