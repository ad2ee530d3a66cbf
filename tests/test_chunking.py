"""Chunking of real corpus documents: page offsets, paragraph numbers, languages, sizes."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from housing_kb.ingest.chunking import ChunkerConfig, chunk_document, find_paragraph_sequence
from housing_kb.ingest.cleaning import clean_pages
from housing_kb.ingest.language import detect_document_language, detect_language
from housing_kb.ingest.loaders import load_document
from housing_kb.ingest.tokens import TokenCounter
from housing_kb.schema.records import Page, Passage
from housing_kb.text.sentences import split_sentences

CORPUS = Path(
    os.environ.get("HOUSING_KB_CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
CONFIG = ChunkerConfig()
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


def _chunk(
    path: Path, counter: TokenCounter, max_chars: int | None = None
) -> tuple[list[Page], list[Passage]]:
    pages = clean_pages(load_document(path).pages)
    if max_chars is not None:  # keep big documents fast: their first paragraphs are enough
        cut = pages[0].text.rfind("\n\n", 0, max_chars)
        pages = [
            replace(pages[0], text=pages[0].text[:cut], headings=[h for h in pages[0].headings if h[0] < cut])
        ]
    language = detect_document_language(pages)
    return pages, chunk_document(path.stem, pages, counter, CONFIG, language)


def _assert_offsets_exact(pages: list[Page], passages: list[Passage]) -> None:
    by_number = {p.number: p for p in pages}
    for passage in passages:
        if passage.page_start == passage.page_end:
            page = by_number[passage.page_start]
            assert passage.text == page.text[passage.char_start : passage.char_end]
        else:
            assert passage.text.startswith(by_number[passage.page_start].text[passage.char_start :])
            assert passage.text.endswith(by_number[passage.page_end].text[: passage.char_end])


# ---------------------------------------------------------------- units


def test_sentences_split_in_several_scripts_but_not_after_abbreviations() -> None:
    text = "See Art. 5 and e.g. para. 3. Done! 住房权。平等？ هل هذا حق؟ نعم۔ Ст. 5 т.е. так. Fin…"
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == [
        "See Art. 5 and e.g. para. 3.",
        "Done!",
        "住房权。",
        "平等？",
        "هل هذا حق؟",
        "نعم۔",
        "Ст. 5 т.е. так.",
        "Fin…",
    ]


def test_paragraph_number_and_decimal_do_not_end_a_sentence() -> None:
    text = "53. The rate rose 1.5 points. Then it fell."
    assert [text[s:e] for s, e in split_sentences(text)] == ["53. The rate rose 1.5 points.", "Then it fell."]


def test_paragraph_sequence_ignores_lists_and_restarting_law_items() -> None:
    un_report = [1, 2, 3, 4, 5, 1, 2, 3, 6, 7, 8, 9, 10]
    assert find_paragraph_sequence(un_report) == [True] * 5 + [False] * 3 + [True] * 5
    law_code = [1, 2, 3, 1, 2, 1, 2, 3, 4, 1, 2, 1, 2, 3]
    assert not any(find_paragraph_sequence(law_code))


def test_config_rejects_sizes_beyond_the_model() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        ChunkerConfig(max_tokens=600)
    assert ChunkerConfig().as_dict()["version"] == CONFIG.version


def test_overlong_text_without_stops_is_split_below_max(counter: TokenCounter) -> None:
    table_row = " | ".join(f"cell{n} 住房{n}" for n in range(600))  # no sentence end at all
    passages = chunk_document("t", [Page(None, table_row)], counter, CONFIG, "en")
    assert len(passages) > 1
    assert max(p.token_count for p in passages) <= CONFIG.max_tokens
    assert all(p.text == table_row[p.char_start : p.char_end] for p in passages)


def test_heading_path_follows_heading_levels(counter: TokenCounter) -> None:
    text = "Chapter I\n\nIntro text here.\n\nSection A\n\nBody of section A.\n\nChapter II\n\nMore text."
    headings = [
        (text.index(t), level, t) for t, level in (("Chapter I", 1), ("Section A", 2), ("Chapter II", 1))
    ]
    small = ChunkerConfig(target_tokens=8, max_tokens=20, min_tokens=2, overlap_tokens=0)
    passages = chunk_document("t", [Page(None, text, headings=headings)], counter, small, "en")
    paths = {p.text: p.heading_path for p in passages}
    assert paths["Section A\n\nBody of section A."] == ["Chapter I", "Section A"]
    assert paths["Chapter II\n\nMore text."] == ["Chapter II"]


def test_an_article_opening_stays_with_its_continuation(counter: TokenCounter) -> None:
    filler = " ".join(f"Sentence {n} of an earlier article on municipal land." for n in range(6))
    text = (
        f"Art. 25. {filler}\n\n"
        "Art. 26. The right of pre-emption is exercised when the municipality needs land for:\n\n"
        "I - land regularisation;\n\nII - social housing programmes;\n\n"
        f"Art. 27. The owner shall notify the municipality. {filler}"
    )
    small = ChunkerConfig(target_tokens=120, max_tokens=160, min_tokens=20, overlap_tokens=10)
    passages = chunk_document("t", [Page(None, text)], counter, small, "en")
    holding = [p for p in passages if "I - land regularisation" in p.text]
    assert len(holding) == 1 and holding[0].text.startswith("Art. 26.")
    assert not any(p.text.rstrip().endswith("needs land for:") for p in passages)
    assert all(p.text == text[p.char_start : p.char_end] for p in passages)
    # an article that the next paragraph does not continue closes a passage as before
    complete = text.replace("I - land regularisation;\n\nII - social housing programmes;\n\n", "")
    passages = chunk_document("t", [Page(None, complete)], counter, small, "en")
    assert any(p.text.rstrip().endswith("needs land for:") for p in passages)


# ---------------------------------------------------------------- real documents


@needs_corpus
def test_pdf_sentence_is_cited_on_its_page(counter: TokenCounter) -> None:
    pages, passages = _chunk(CORPUS / "un_ohchr_escr_report" / "E_2025_60.en.pdf", counter)
    sentence = "OHCHR co-organized the fourteenth World Human Rights Cities Forum in Gwangju"
    assert sentence in pages[2].text and pages[2].number == 3
    hits = [p for p in passages if sentence in p.text]
    assert hits and all(p.page_start == 3 for p in hits)
    assert all("7" in p.paragraphs for p in hits)
    _assert_offsets_exact(pages, passages)
    assert any(p.page_start != p.page_end for p in passages)  # paragraphs run over page breaks
    assert all(p.token_count <= CONFIG.max_tokens and p.language == "en" for p in passages)


@needs_corpus
def test_chinese_un_report_keeps_paragraph_numbers(counter: TokenCounter) -> None:
    pages, passages = _chunk(CORPUS / "un_habitat" / "HSP-OEWG-H.2024-8.zh.txt", counter)
    start = next(p for p in passages if "53. 据此，政府间专家工作组" in p.text)
    assert "53" in start.paragraphs and start.paragraphs[0] in {"52", "53"}
    # The agenda list "1." ... "9." inside paragraph 10 is not mistaken for paragraphs 1-9.
    agenda = next(p for p in passages if "8. 其他事项。" in p.text)
    assert "10" in agenda.paragraphs and "8" not in agenda.paragraphs
    assert all(p.language == "zh" and p.token_count <= CONFIG.max_tokens for p in passages)
    _assert_offsets_exact(pages, passages)


@needs_corpus
def test_arabic_law_loads_and_chunks(counter: TokenCounter) -> None:
    pages, passages = _chunk(CORPUS / "saudi_arabia_housing_ar" / "نظام التمويل العقاري.md", counter)
    assert detect_document_language(pages) == "ar"
    assert passages and all(p.language == "ar" for p in passages)
    assert all(p.token_count <= CONFIG.max_tokens for p in passages)
    assert passages[0].heading_path[0] == "نظام التمويل العقاري"
    _assert_offsets_exact(pages, passages)


@needs_corpus
def test_russian_code_loads_and_chunks(counter: TokenCounter) -> None:
    path = CORPUS / "russia_housing_code" / "Жилищный кодекс Российской Федерации.docx"
    pages, passages = _chunk(path, counter, max_chars=20_000)
    assert detect_document_language(pages) == "ru"
    assert len(passages) >= 5 and all(p.language == "ru" for p in passages)
    assert all(p.token_count <= CONFIG.max_tokens for p in passages)
    assert not any(p.paragraphs for p in passages)  # article parts "1." restart: not UN paragraphs
    expected_path = [
        "Раздел I. ОБЩИЕ ПОЛОЖЕНИЯ",
        "Глава 1. ОСНОВНЫЕ ПОЛОЖЕНИЯ. ЖИЛИЩНОЕ ЗАКОНОДАТЕЛЬСТВО",
        "Статья 3. Неприкосновенность жилища и недопустимость его произвольного лишения",
    ]
    assert any(p.heading_path == expected_path for p in passages)
    _assert_offsets_exact(pages, passages)


def test_short_text_falls_back() -> None:
    assert detect_language("Art. 5", fallback="pt") == "pt"
    assert detect_language("Art. 5") == "und"
