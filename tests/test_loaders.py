"""Loaders read real corpus files and fail loudly, with the right kind, on bad input."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from housing_kb.ingest.documents import DocumentError
from housing_kb.ingest.loaders import html_to_page, load_document, markdown_to_page

CORPUS = Path(
    os.environ.get("HOUSING_KB_CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
OHCHR_PDF = CORPUS / "un_ohchr_escr_report" / "E_2025_60.en.pdf"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")


@needs_corpus
def test_pdf_keeps_one_numbered_page_per_pdf_page() -> None:
    doc = load_document(OHCHR_PDF)
    assert [p.number for p in doc.pages] == list(range(1, 14))
    assert "fourteenth World Human Rights Cities" in doc.pages[2].text
    assert not any(p.empty for p in doc.pages)


@needs_corpus
def test_pdf_loading_does_not_spam_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        load_document(OHCHR_PDF)
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]


@needs_corpus
def test_markdown_front_matter_removed_and_headings_recorded() -> None:
    path = CORPUS / "saudi_arabia_housing_ar" / "تنظيم الدعم السكني.md"
    page = load_document(path).pages[0]
    assert page.number is None
    assert not page.text.startswith("---") and "source_url" not in page.text
    offset, level, title = page.headings[0]
    assert (level, title) == (1, "تنظيم الدعم السكني")
    assert page.text[offset : offset + len(title)] == title


@needs_corpus
def test_docx_heading_styles_become_leveled_headings() -> None:
    path = CORPUS / "russia_housing_code" / "Жилищный кодекс Российской Федерации.docx"
    page = load_document(path).pages[0]
    titles = {title: level for _, level, title in page.headings}
    assert titles["Раздел I. ОБЩИЕ ПОЛОЖЕНИЯ"] == 1
    assert titles["Глава 1. ОСНОВНЫЕ ПОЛОЖЕНИЯ. ЖИЛИЩНОЕ ЗАКОНОДАТЕЛЬСТВО"] == 2  # two lines, one heading
    assert titles["Статья 1. Основные начала жилищного законодательства"] == 4
    for offset, _, title in page.headings[:50]:
        assert page.text[offset : offset + len(title)] == title


def test_markdown_inline_markup_stripped() -> None:
    page = markdown_to_page(
        "## Lei\n\n**Art. 1º** Ver [o site](http://x.org) e `código`.\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert page.text == "Lei\n\nArt. 1º Ver o site e código.\n\na | b\n1 | 2"
    assert page.headings == [(0, 2, "Lei")]


def test_html_drops_scripts_and_navigation() -> None:
    page = html_to_page(
        "<html><head><title>t</title></head><body><nav>Menu</nav><h1>Housing</h1>"
        "<p>Right to <em>adequate</em> housing.</p><script>var x;</script></body></html>"
    )
    assert page.text == "Housing\n\nRight to adequate housing."
    assert page.headings == [(0, 1, "Housing")]


# ---------------------------------------------------------------- bad input


def _kind(path: Path) -> str:
    with pytest.raises(DocumentError) as info:
        load_document(path)
    assert "\n" not in info.value.reason and path.name in info.value.reason
    return info.value.kind


def test_corrupt_pdf(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage \x00\x01")
    assert _kind(path) == "corrupt"


def test_encrypted_pdf(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    writer.write(path)
    assert _kind(path) == "encrypted"


@needs_corpus
def test_pdf_with_empty_user_password_opens(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_page(PdfReader(OHCHR_PDF).pages[2])
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "print-protected.pdf"
    writer.write(path)
    assert "Gwangju" in load_document(path).pages[0].text


def test_image_only_pdf(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_blank_page(200, 200)
    path = tmp_path / "scan.pdf"
    writer.write(path)
    assert _kind(path) == "image_only"


@needs_corpus
def test_partly_empty_pdf_warns_with_page_numbers(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_page(PdfReader(OHCHR_PDF).pages[2])
    writer.add_blank_page(200, 200)
    path = tmp_path / "mixed.pdf"
    writer.write(path)
    doc = load_document(path)
    assert [p.empty for p in doc.pages] == [False, True]
    assert "page 2 yielded no text (scanned?)" in doc.warnings


@pytest.mark.parametrize("name", ["empty.txt", "empty.md", "empty.pdf", "empty.docx", "blank.html"])
def test_empty_files(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"" if name != "blank.html" else b"<html><body>  </body></html>")
    assert _kind(path) == "empty"


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "notes.odt"
    path.write_text("text")
    assert _kind(path) == "unsupported"


def test_corrupt_docx(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    assert _kind(path) == "corrupt"
