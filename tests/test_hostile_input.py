"""Hostile and broken input is bounded and named: YAML bombs, symlinks and special files, zip bombs,
oversized documents, encrypted PDFs, undecidable encodings, and the messages users see for each.

Each test reproduces a defect of the reliability probe (issue 16) that the code before the fix
let through: a hang, gigabytes of memory, a file outside the corpus indexed, or a raw library message.
"""

from __future__ import annotations

import io
import os
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from housing_kb.api.throttle import Busy, WorkGate
from housing_kb.config import Settings
from housing_kb.index.answers.brief_markdown import _md_escape
from housing_kb.index.query.highlight import has_words
from housing_kb.index.store.lock import IndexLocked, writer_lock
from housing_kb.ingest.documents import DocumentError
from housing_kb.ingest.limits import DocumentLimits, corpus_file
from housing_kb.ingest.loaders import load_document
from housing_kb.ingest.manifest import ManifestError, load_manifest

CORPUS = Path(
    os.environ.get("HOUSING_KB_CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
OHCHR_PDF = CORPUS / "un_ohchr_escr_report" / "E_2025_60.en.pdf"
RUSSIAN_CODE_DOCX = CORPUS / "russia_housing_code" / "Жилищный кодекс Российской Федерации.docx"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")

ENTRY = "  - {{id: {id}, path: {path}, title: T, document_type: law, regions: [global]}}\n"


def _failure(path: Path, limits: DocumentLimits | None = None) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        load_document(path, limits)
    return caught.value


# ---------------------------------------------------------------- manifest


def test_yaml_alias_bomb_is_refused_at_once_and_small(tmp_path: Path) -> None:
    # 9 levels of 9 aliases: a 600-byte file that expands to 387 million strings once constructed
    lines = ['version: 1\nx0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n']
    for level in range(1, 9):
        lines.append(f"x{level}: &x{level} [" + ", ".join([f"*x{level - 1}"] * 9) + "]\n")
    lines.append("documents:\n  - {id: a, path: a.txt, title: T, document_type: *x8, regions: [global]}\n")
    path = tmp_path / "bomb.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    assert path.stat().st_size < 1000
    tracemalloc.start()
    try:
        with pytest.raises(ManifestError, match="aliases") as caught:
            load_manifest(path, strict=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20
    assert len(str(caught.value)) < 300


def test_every_manifest_problem_line_is_short(tmp_path: Path) -> None:
    huge = "x" * 1_000_000
    path = tmp_path / "m.yaml"
    path.write_text(
        f"version: 1\ndocuments:\n  - {{id: ok, path: a.txt, title: T, document_type: {huge}, regions: [{huge}]}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert caught.value.problems and all(len(line) <= 400 for line in caught.value.problems)
    assert "document_type" in str(caught.value) and "regions" in str(caught.value)


def test_a_bad_entry_is_rejected_alone_and_keeps_its_id(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\ndocuments:\n"
        + ENTRY.format(id="good", path="a.txt")
        + "  - {id: typo-doc, path: b.txt, title: T, document_type: lawz, regions: [global]}\n",
        encoding="utf-8",
    )
    manifest = load_manifest(path, strict=False)
    assert [d.id for d in manifest.documents] == ["good"]
    (bad,) = manifest.rejected
    assert bad.id == "typo-doc" and "document_type" in bad.line() and "'lawz'" in bad.line()
    assert manifest.declared_ids() == {"good", "typo-doc"}  # its indexed copy is not deleted
    with pytest.raises(ManifestError, match="lawz"):
        load_manifest(path)  # strict (fetch, tests) still refuses


def test_oversized_manifest_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    with path.open("wb") as fh:
        fh.truncate(17 << 20)
    with pytest.raises(ManifestError, match="over the 16 MB limit"):
        load_manifest(path)


# ---------------------------------------------------------------- where a manifest path may lead


def test_symlinks_out_of_the_corpus_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (root / "inside").mkdir(parents=True)
    (root / "inside" / "ok.txt").write_text("fine", encoding="utf-8")
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "s.txt").write_text("secret", encoding="utf-8")
    (root / "passwd.txt").symlink_to("/etc/passwd")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "alias.txt").symlink_to(root / "inside" / "ok.txt")
    for rel in ("passwd.txt", "escape/s.txt"):
        with pytest.raises(DocumentError, match="outside the corpus root") as caught:
            corpus_file(root, rel)
        assert caught.value.kind == "unsafe_path"
    assert corpus_file(root, "alias.txt") == (root / "inside" / "ok.txt").resolve()


def test_fifos_and_devices_are_refused_without_reading(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    os.mkfifo(root / "pipe.txt")
    (root / "zero.txt").symlink_to("/dev/zero")
    (root / "folder.txt").mkdir()
    for rel in ("pipe.txt", "folder.txt"):
        with pytest.raises(DocumentError, match="not a regular file") as caught:
            corpus_file(root, rel)
        assert caught.value.kind == "unsafe_path"
    with pytest.raises(DocumentError, match="outside the corpus root"):
        corpus_file(root, "zero.txt")


def test_file_over_the_size_limit_is_named(tmp_path: Path) -> None:
    root = tmp_path
    (root / "big.pdf").write_bytes(b"%PDF" + b"0" * (2 << 20))
    with pytest.raises(DocumentError, match=r"too large: 2\.0 MB.*HOUSING_KB_MAX_DOCUMENT_MB") as caught:
        corpus_file(root, "big.pdf", DocumentLimits(max_mb=1))
    assert caught.value.kind == "too_large"


# ---------------------------------------------------------------- documents over a limit


def _docx_bytes(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buf.getvalue()


@needs_corpus
def test_docx_with_a_huge_image_part_is_refused_before_inflating(tmp_path: Path) -> None:
    with zipfile.ZipFile(RUSSIAN_CODE_DOCX) as real:
        parts = {name: real.read(name) for name in real.namelist()}
    parts["word/media/image1.png"] = b"\0" * (10 << 20)  # inflates to 10 MB from a few kB
    path = tmp_path / "bomb.docx"
    path.write_bytes(_docx_bytes(parts))
    assert path.stat().st_size < 2 << 20
    error = _failure(path, DocumentLimits(max_zip_member_mb=8))
    assert error.kind == "too_large"
    assert (
        "word/media/image1.png inflates to 10 MB" in error.reason
        and "HOUSING_KB_MAX_ZIP_MEMBER_MB" in error.reason
    )


@needs_corpus
def test_docx_whose_parts_together_inflate_too_far_is_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(RUSSIAN_CODE_DOCX) as real:
        parts = {name: real.read(name) for name in real.namelist()}
    for n in range(4):
        parts[f"word/media/image{n}.png"] = b"\0" * (2 << 20)
    path = tmp_path / "bomb.docx"
    path.write_bytes(_docx_bytes(parts))
    error = _failure(path, DocumentLimits(max_zip_member_mb=8, max_zip_total_mb=9))
    assert error.kind == "too_large" and "HOUSING_KB_MAX_ZIP_TOTAL_MB" in error.reason


@needs_corpus
def test_docx_of_too_much_valid_text_stops_at_the_character_limit() -> None:
    error = _failure(RUSSIAN_CODE_DOCX, DocumentLimits(max_chars=100_000))
    assert error.kind == "too_large" and "HOUSING_KB_MAX_CHARS" in error.reason


def test_damaged_docx_xml_is_described_in_plain_words(tmp_path: Path) -> None:
    content_types = (
        b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        b'wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        b'officeDocument" Target="word/document.xml"/></Relationships>'
    )
    path = tmp_path / "damaged.docx"
    path.write_bytes(
        _docx_bytes(
            {
                "[Content_Types].xml": content_types,
                "_rels/.rels": rels,
                "word/document.xml": b"<w:document><w:body><w:p>unclosed",
            }
        )
    )
    error = _failure(path)
    assert error.kind == "corrupt" and "XML content is damaged" in error.reason
    assert "XML_PARSE" not in error.reason and "line 1" not in error.reason


@needs_corpus
def test_pdf_over_the_page_limit_is_refused_before_extraction(tmp_path: Path) -> None:
    error = _failure(OHCHR_PDF, DocumentLimits(max_pages=5))
    assert error.kind == "too_large" and "13 pages" in error.reason and "HOUSING_KB_MAX_PAGES" in error.reason


def test_text_file_far_over_the_character_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("housing " * 200_000, encoding="utf-8")  # 1.6 MB
    error = _failure(path, DocumentLimits(max_chars=100_000))
    assert error.kind == "too_large" and "HOUSING_KB_MAX_CHARS" in error.reason


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOUSING_KB_MAX_PAGES", "7")
    monkeypatch.setenv("HOUSING_KB_MAX_ZIP_MEMBER_MB", "3")
    limits = DocumentLimits.from_settings(Settings.from_env())
    assert (limits.max_pages, limits.max_zip_member_mb, limits.max_chars) == (
        7,
        3,
        DocumentLimits().max_chars,
    )


# ---------------------------------------------------------------- encrypted PDFs


@needs_corpus
@pytest.mark.parametrize("algorithm", ["AES-128", "AES-256"])
def test_aes_pdf_with_empty_user_password_opens(tmp_path: Path, algorithm: str) -> None:
    writer = PdfWriter()
    writer.add_page(PdfReader(OHCHR_PDF).pages[2])
    writer.encrypt(user_password="", owner_password="owner", algorithm=algorithm)
    path = tmp_path / "permissions-only.pdf"
    writer.write(path)
    assert "Gwangju" in load_document(path).pages[0].text


def test_aes_pdf_with_a_user_password_says_so(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    path = tmp_path / "locked.pdf"
    writer.write(path)
    error = _failure(path)
    assert error.kind == "encrypted" and error.reason.endswith("encrypted: needs a password")


# ---------------------------------------------------------------- text encodings


def test_a_few_invalid_bytes_in_utf8_text_are_replaced_and_noted(tmp_path: Path) -> None:
    path = tmp_path / "mostly.txt"
    path.write_bytes(("Droit au logement convenable. " * 200).encode() + b"\xff" + "Fin é.".encode())
    doc = load_document(path)
    assert doc.pages[0].text.endswith("\ufffdFin é.")
    assert doc.warnings == ["1 invalid UTF-8 byte sequence(s) replaced by U+FFFD"]


def test_a_legacy_code_page_is_decoded_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    text = "Le droit à un logement décent et la sécurité d'occupation des ménages modestes. " * 20
    path.write_bytes(text.encode("cp1252"))
    doc = load_document(path)
    assert "sécurité" in doc.pages[0].text
    assert doc.warnings and doc.warnings[0].startswith("not UTF-8; decoded as")


def test_bytes_no_encoding_makes_plausible_fail_instead_of_mojibake(tmp_path: Path) -> None:
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes((i * 37 + 11) % 256 for i in range(1, 20000) if (i * 37 + 11) % 256))
    error = _failure(path)
    assert error.kind == "corrupt" and "encoding could not be determined" in error.reason


# ---------------------------------------------------------------- one writer per index


def test_a_second_writer_is_refused_naming_the_first(tmp_path: Path) -> None:
    index = tmp_path / "index"
    refused = pytest.raises(IndexLocked, match=rf"another ingest \(pid {os.getpid()}\) holds the index")
    with writer_lock(index), refused, writer_lock(index, what="retag"):
        pass
    with writer_lock(index, what="retag"):  # released: the next writer gets it
        pass


# ---------------------------------------------------------------- queries, briefs, expensive work


def test_queries_of_only_white_space_or_control_characters_have_no_words() -> None:
    assert not any(has_words(q) for q in ("", "   ", "\x00\x00", "\t\n\u200b", "\ufeff"))
    assert all(has_words(q) for q in ("tenure", "住房", "سكن", "x"))


def test_markdown_brief_text_cannot_inject_markup() -> None:
    hostile = "tenure\n# Heading\n<script>alert(1)</script> [click](javascript:alert(1)) | cell"
    safe = _md_escape(hostile)
    assert "\n" not in safe and "<script>" not in safe and "](javascript:" not in safe
    assert "&lt;script&gt;" in safe and "\\[click\\]" in safe and "\\|" in safe


def test_work_gate_refuses_past_its_queue_and_admits_again() -> None:
    gate = WorkGate(slots=1, queue=1, what="brief", retry_after=7)
    release = threading.Event()
    entered = threading.Event()

    def hold() -> None:
        with gate.enter():
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(10)

    def wait_in_queue() -> None:
        with gate.enter():  # blocks on the slot, holding the one queue place meanwhile
            pass

    waiter = threading.Thread(target=wait_in_queue)
    waiter.start()
    deadline = time.time() + 10
    while not gate.busy() and time.time() < deadline:
        time.sleep(0.01)
    with pytest.raises(Busy, match="try again in 7 s") as caught, gate.enter():
        pass
    assert caught.value.retry_after == 7
    release.set()
    holder.join(10)
    waiter.join(10)


def test_the_hosts_served_are_loopback_the_bound_address_or_the_configured_ones() -> None:
    from housing_kb.api.guards import allowed_hosts

    assert allowed_hosts("127.0.0.1", "") == ["localhost", "127.0.0.1", "::1"]
    assert allowed_hosts("10.0.0.5", "") == ["localhost", "127.0.0.1", "::1", "10.0.0.5"]
    assert allowed_hosts("0.0.0.0", " kb.example.org ,*.example.org") == ["kb.example.org", "*.example.org"]
    assert allowed_hosts("0.0.0.0", "") == ["*"]  # every interface, nothing configured: said in the log
