"""End-to-end ingest on a small multilingual subset of the real corpus: citations with pages and
paragraph numbers, incremental re-runs, bad input, refusal of another model, and kill -9.

The fixture corpus is built in a temp dir from real documents in ../shared/corpus (whole small
files, and excerpts of two larger ones), so the suite embeds only a few dozen passages.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import copy_into, index_env, milvus_prefix, private_copy
from conftest import file_sha256 as _sha
from conftest import manifest_entry as _entry
from conftest import write_manifest as _write_manifest

from housing_kb.config import Settings
from housing_kb.index.lexical.sync import open_lexical
from housing_kb.index.lexical.translation import open_lexicon
from housing_kb.index.store.context import (
    CONTEXT_RECIPE,
    CONTEXT_STATE_KEY,
    context_key,
    passage_context,
    with_context,
)
from housing_kb.index.store.index_store import IndexConfigMismatch, IndexStore
from housing_kb.ingest.chunking import ChunkerConfig
from housing_kb.ingest.pipeline import run_ingest
from housing_kb.models.registry import load_embedder

pytestmark = pytest.mark.model

RAD_PDF = "usa_virginia_housing/RADResidentFactSheet_13_RADandLow-IncomeTaxCredits.pdf"
SAUDI_MD = (
    "saudi_arabia_housing_ar/أمر ملكي رقم (أ ٣٢٢) ضم وزارة الإسكان إلى وزارة الشؤون البلدية والقروية.md"
)
ENTREPATIOS = "undp_acclabs_case_studies/entrepatios__housing_cooperative.md"
UDHR_RU = "rights_udhr_6lang/udhr_rus.txt"
UN_HABITAT_ZH = "un_habitat/HSP-OEWG-H.2024-8.zh.txt"


@pytest.fixture(scope="module")
def fixture_corpus(tmp_path_factory, corpus_dir: Path) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("corpus")
    for rel in (RAD_PDF, SAUDI_MD, ENTREPATIOS):
        copy_into(corpus_dir, root, rel)
    # Excerpts of two longer documents keep the suite fast: UDHR (ru) preamble and articles 1-5,
    # and paragraphs 50-56 of the Chinese UN-Habitat report, which numbers its paragraphs (enough of
    # them for the chunker to recognise a numbered sequence).
    ru = (corpus_dir / UDHR_RU).read_text(encoding="utf-8")
    (root / "ru").mkdir()
    (root / "ru/udhr_rus_excerpt.txt").write_text(ru[: ru.find("Статья 6")], encoding="utf-8")
    zh = (corpus_dir / UN_HABITAT_ZH).read_text(encoding="utf-8")
    start, end = zh.find("\n50. "), zh.find("\n57. ")
    assert 0 < start < end, "paragraphs 50-57 of the UN-Habitat report moved"
    (root / "zh").mkdir()
    (root / "zh/un_habitat_excerpt.txt").write_text(zh[start + 1 : end], encoding="utf-8")
    entries = [
        _entry(
            "rad-fact-sheet",
            RAD_PDF,
            root,
            document_type="programme_guideline",
            countries=["USA"],
            regions=["western_europe_others"],
            year=2019,
        ),
        _entry(
            "sa-royal-order", SAUDI_MD, root, document_type="law", countries=["SAU"], regions=["arab_states"]
        ),
        _entry(
            "entrepatios",
            ENTREPATIOS,
            root,
            document_type="case_study",
            countries=["ESP"],
            regions=["western_europe_others"],
        ),
        _entry("udhr-ru", "ru/udhr_rus_excerpt.txt", root, document_type="rights_text"),
        _entry("unh-zh", "zh/un_habitat_excerpt.txt", root, document_type="un_habitat_report"),
    ]
    return root, entries


@pytest.fixture(scope="module")
def base_index(tmp_path_factory, fixture_corpus, e5_embedder, model_settings) -> tuple[Settings, object]:
    corpus, entries = fixture_corpus
    work = tmp_path_factory.mktemp("base")
    settings = model_settings.with_(
        corpus_dir=corpus,
        manifest_path=_write_manifest(work / "manifest.yaml", entries),
        index_dir=work / "index",
        milvus_prefix=milvus_prefix(work),
    )
    use = load_embedder("use-multilingual", settings)
    report = run_ingest(settings, embedder=e5_embedder, secondary=use, show_progress=False)
    return settings, report


@pytest.fixture
def workspace(tmp_path, base_index, fixture_corpus) -> Settings:
    """A private copy of the base index and corpus that a test may change."""
    return private_copy(base_index[0], tmp_path)


def _cli(settings: Settings, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = index_env(settings)
    return subprocess.run(
        [sys.executable, "-m", "housing_kb.api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_ingest_indexes_every_language_with_citations(base_index):
    settings, report = base_index
    assert report.ok, report.summary_lines()
    assert sorted(report.added) == ["entrepatios", "rad-fact-sheet", "sa-royal-order", "udhr-ru", "unh-zh"]
    stats = IndexStore.open(settings.index_dir, readonly=True).stats()
    assert {"ar", "en", "ru", "zh"} <= set(stats["passages_by_language"])
    assert stats["passages"] == report.passages_written == report.passages_embedded
    assert json.loads((settings.index_dir / "ingest_report.json").read_text())["ok"] is True
    # the second dense channel has a vector for every passage
    store = IndexStore.open(settings.index_dir, readonly=True)
    assert store.secondary_model_id and report.passages_embedded_secondary == stats["passages"]
    assert store.faiss_index(store.secondary_model_id).count() == stats["passages"]
    # and the word lexicon that translates questions for BM25 holds the words of each language
    lexicon = open_lexicon(store, store.secondary_model_id)
    assert lexicon is not None and report.words_embedded > 0
    assert {"ar", "en", "ru", "zh"} <= set(lexicon.languages)


def test_search_json_cites_the_pdf_page(base_index):
    settings, _ = base_index
    sentence = "HUD requires the property to remain affordable permanently"
    proc = _cli(settings, "search", sentence, "-k", "3", "--json", "--mode", "dense")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["query"] == sentence
    top = out["hits"][0]
    assert set(top) >= {
        "passage_id",
        "score",
        "text",
        "language",
        "page_start",
        "page_end",
        "paragraphs",
        "document",
        "components",
        "countries",
        "regions",
    }
    assert set(top["document"]) >= {"id", "title", "path", "document_type", "countries", "regions", "year"}
    assert top["document"]["id"] == "rad-fact-sheet" and top["document"]["path"] == RAD_PDF
    assert sentence in " ".join(top["text"].split())
    # the cited pages hold the sentence: it is on page 2 (the passage may start at the end of page 1)
    assert top["page_start"] <= 2 == top["page_end"]
    page2 = IndexStore.open(settings.index_dir, readonly=True).pages("rad-fact-sheet")[1]
    assert page2.number == 2 and sentence in " ".join(page2.text.split())


def test_chinese_paragraph_is_cited_with_its_number(base_index):
    settings, _ = base_index
    store = IndexStore.open(settings.index_dir, readonly=True)
    rows = store.passages_of("unh-zh")
    hit = next(r for r in rows if "据此，政府间专家工作组在所提供的文件" in r.text)
    assert "53" in hit.paragraphs
    assert hit.page_start is None and hit.language == "zh"
    # the cited offsets point at the passage in the stored document text
    page_text = store.pages("unh-zh")[0].text
    assert page_text[hit.char_start : hit.char_end] == hit.text


def test_rerun_of_unchanged_corpus_does_no_work(workspace, e5_embedder):
    before = IndexStore.open(workspace.index_dir).generation
    report = run_ingest(workspace, embedder=e5_embedder, show_progress=False)
    assert report.ok and len(report.unchanged) == 5
    assert report.passages_embedded == report.passages_written == 0
    assert IndexStore.open(workspace.index_dir).generation == before


def test_changed_document_alone_is_reembedded(workspace, e5_embedder):
    doc = workspace.corpus_dir / ENTREPATIOS
    doc.write_text(
        doc.read_text(encoding="utf-8") + "\n\nThe cooperative also runs a shared kitchen.\n",
        encoding="utf-8",
    )
    manifest = yaml.safe_load(workspace.manifest_path.read_text(encoding="utf-8"))
    for e in manifest["documents"]:
        if e["id"] == "entrepatios":
            e["sha256"] = _sha(doc)
    _write_manifest(workspace.manifest_path, manifest["documents"])
    store = IndexStore.open(workspace.index_dir)
    others = {
        d: [r.passage_id for r in store.passages_of(d)] for d in store.document_ids() if d != "entrepatios"
    }

    report = run_ingest(workspace, embedder=e5_embedder, show_progress=False)
    assert report.updated == ["entrepatios"] and len(report.unchanged) == 4
    n_new = len(store.passages_of("entrepatios"))
    assert 1 <= report.passages_embedded <= n_new
    assert {d: [r.passage_id for r in store.passages_of(d)] for d in others} == others
    assert store.faiss_index().count() == store.stats()["passages"]


def test_bad_inputs_are_reported_and_the_rest_is_kept(workspace, e5_embedder, tmp_path):
    from pypdf import PdfWriter

    c = workspace.corpus_dir
    (c / "bad").mkdir()
    (c / "bad/corrupt.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(2000))
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password="secret", owner_password="owner")
    with open(c / "bad/encrypted.pdf", "wb") as fh:
        writer.write(fh)
    blank = PdfWriter()
    blank.add_blank_page(width=200, height=200)
    with open(c / "bad/scanned.pdf", "wb") as fh:
        blank.write(fh)
    (c / "bad/empty.txt").write_bytes(b"")
    (c / "bad/table.xyz").write_text("not a supported format")
    (c / "bad/tampered.txt").write_text("Housing text whose checksum no longer matches.")
    manifest = yaml.safe_load(workspace.manifest_path.read_text(encoding="utf-8"))["documents"]
    fake_sha = "0" * 64
    manifest += [
        _entry("bad-corrupt", "bad/corrupt.pdf", c),
        _entry("bad-encrypted", "bad/encrypted.pdf", c),
        _entry("bad-scanned", "bad/scanned.pdf", c),
        _entry("bad-empty", "bad/empty.txt", c),
        _entry("bad-format", "bad/table.xyz", c),
        _entry("bad-checksum", "bad/tampered.txt", c) | {"sha256": fake_sha},
        {
            "id": "bad-missing",
            "path": "bad/missing.pdf",
            "title": "Missing",
            "document_type": "other",
            "countries": [],
            "regions": ["global"],
        },
    ]
    # an already indexed document whose file is now broken keeps its passages
    (c / RAD_PDF).write_bytes(b"%PDF-1.4 truncated")
    _write_manifest(workspace.manifest_path, manifest)
    before = len(IndexStore.open(workspace.index_dir).passages_of("rad-fact-sheet"))

    proc = _cli(workspace, "ingest", "--no-progress")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = {
        f["document_id"]: f
        for f in json.loads((workspace.index_dir / "ingest_report.json").read_text())["failed"]
    }
    assert set(failed) == {
        "bad-corrupt",
        "bad-encrypted",
        "bad-scanned",
        "bad-empty",
        "bad-format",
        "bad-checksum",
        "bad-missing",
        "rad-fact-sheet",
    }
    assert failed["bad-encrypted"]["kind"] == "encrypted"
    assert failed["bad-scanned"]["kind"] == "image_only"
    assert failed["bad-checksum"]["kind"] == "checksum"
    assert failed["bad-missing"]["kind"] == "missing"
    assert failed["bad-format"]["kind"] == "unsupported"
    for doc_id in failed:  # one line per failure, naming the document
        assert any(line.strip().startswith(f"FAILED {doc_id}:") for line in proc.stdout.splitlines()), doc_id
    assert "Traceback" not in proc.stderr
    store = IndexStore.open(workspace.index_dir, readonly=True)
    assert len(store.passages_of("rad-fact-sheet")) == before
    assert {"entrepatios", "sa-royal-order", "udhr-ru", "unh-zh"} <= store.document_ids()


class _OtherModel:
    model_id, dim, max_tokens = "some-other-model", 384, 512

    def embed_passages(self, texts, **_):
        return np.zeros((len(texts), 384), np.float32)

    def embed_queries(self, texts):
        return np.zeros((len(texts), 384), np.float32)


def test_index_built_by_another_model_is_refused(workspace):
    with pytest.raises(IndexConfigMismatch, match="model_id"):
        run_ingest(workspace, embedder=_OtherModel(), show_progress=False, tagger=None)


def test_index_of_an_older_chunker_is_refused_or_rebuilt_from_its_cached_vectors(workspace):
    # An index cut by an earlier chunking rule, as after an upgrade of housing-kb.
    meta = workspace.index_dir / "index.json"
    config = json.loads(meta.read_text(encoding="utf-8"))
    config["chunker"]["version"] = "sentence-v0"
    meta.write_text(json.dumps(config), encoding="utf-8")
    n_passages = IndexStore.open(workspace.index_dir, readonly=True).stats()["passages"]

    refused = _cli(workspace, "ingest", "--no-progress")
    assert refused.returncode == 2 and "sentence-v0" in refused.stderr and "--rebuild" in refused.stderr
    assert "Traceback" not in refused.stderr

    rebuilt = _cli(workspace, "ingest", "--no-progress", "--rebuild-if-changed")
    assert rebuilt.returncode == 0, rebuilt.stderr
    report = json.loads((workspace.index_dir / "ingest_report.json").read_text(encoding="utf-8"))
    # these fixture texts cut the same under both rules: every vector comes from the old index's cache
    assert report["passages_written"] == n_passages and report["passages_embedded"] == 0
    config = json.loads(meta.read_text(encoding="utf-8"))
    assert config["chunker"]["version"] == ChunkerConfig().version
    store = IndexStore.open(workspace.index_dir, readonly=True)
    assert store.faiss_index().count() == n_passages
    assert not workspace.index_dir.with_name("index.rebuild").exists()


def test_kill_9_during_ingest_keeps_the_committed_index(workspace, corpus_dir, e5_embedder):
    store = IndexStore.open(workspace.index_dir, readonly=True)
    before = {d: len(store.passages_of(d)) for d in store.document_ids()}
    store.close()
    # enough new text that the run is still embedding when it is killed
    extra = []
    for name in ("udhr_eng.txt", "udhr_fra.txt", "udhr_spa.txt"):
        shutil.copy(corpus_dir / "rights_udhr_6lang" / name, workspace.corpus_dir / name)
        extra.append(
            _entry(
                name.removesuffix(".txt").replace("_", "-"),
                name,
                workspace.corpus_dir,
                document_type="rights_text",
            )
        )
    manifest = yaml.safe_load(workspace.manifest_path.read_text(encoding="utf-8"))["documents"]
    _write_manifest(workspace.manifest_path, manifest + extra)

    env = index_env(workspace)
    proc = subprocess.Popen(
        [sys.executable, "-m", "housing_kb.api.cli", "ingest"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    seen = ""
    while time.time() < deadline and "embedding" not in seen:
        seen += proc.stderr.read(64) or ""
        if proc.poll() is not None:
            break
    assert "embedding" in seen, f"ingest never reached the embedding step: {seen[-500:]}"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    store = IndexStore.open(workspace.index_dir, readonly=True)
    assert {d: len(store.passages_of(d)) for d in before} == before
    assert store.faiss_index().count() == store.stats()["passages"]
    store.close()

    report = run_ingest(workspace, embedder=e5_embedder, show_progress=False)
    assert report.ok
    final = IndexStore.open(workspace.index_dir, readonly=True)
    assert {e["id"] for e in extra} <= final.document_ids()
    assert final.faiss_index().count() == final.stats()["passages"]


def _second_channel_vector(store: IndexStore, passage_id: int) -> np.ndarray:
    return store.faiss_index(store.secondary_model_id).vector(passage_id)


def test_second_channel_reads_each_passage_in_its_document_context(base_index):
    settings, _ = base_index
    store = IndexStore.open(settings.index_dir, readonly=True)
    assert store.get_state(CONTEXT_STATE_KEY) == CONTEXT_RECIPE
    # every passage has a context (its document's title at least), embedded once per distinct text
    keys = {pid: context_key(text) for pid, text in store.passage_contexts().items()}
    assert len(keys) == store.stats()["passages"]
    assert store.embeddings.cached(sorted(set(keys.values())), model_id=store.secondary_model_id) == set(
        keys.values()
    )

    use = load_embedder("use-multilingual", settings)
    doc = store.document("sa-royal-order")
    row = store.passages_of("sa-royal-order")[-1]
    context = passage_context(doc.title, row.heading_path)
    assert context.startswith(doc.title)
    own = use.embed_passages([row.text])
    expected = with_context(own, use.embed_passages([context]), np.array([True]))[0]
    stored = _second_channel_vector(store, row.id)
    assert np.allclose(stored, expected, atol=1e-4)
    assert float(stored @ own[0]) < 0.99  # the context really moved it
    # the main (e5) channel keeps the passage text alone: the tagger reads those vectors
    e5 = store.faiss_index().vector(row.id)
    assert np.allclose(e5, store.vectors_for([row.id])[0], atol=1e-6)


def test_a_new_title_re_embeds_only_its_context(workspace, e5_embedder):
    use = load_embedder("use-multilingual", workspace)
    store = IndexStore.open(workspace.index_dir)
    first = store.passages_of("entrepatios")[0]
    pid, headings = first.id, first.heading_path
    before = _second_channel_vector(store, pid)
    untouched = store.passages_of("udhr-ru")[0].id
    before_other = _second_channel_vector(store, untouched)
    assert open_lexical(store).search("cohousing", k=50) == []  # not a word of the text
    manifest = yaml.safe_load(workspace.manifest_path.read_text(encoding="utf-8"))
    for e in manifest["documents"]:
        if e["id"] == "entrepatios":
            e["title"] = "Entrepatios: a cohousing cooperative in Madrid on public land"
    _write_manifest(workspace.manifest_path, manifest["documents"])

    report = run_ingest(workspace, embedder=e5_embedder, secondary=use, show_progress=False)
    assert report.metadata_refreshed == ["entrepatios"]
    assert report.passages_embedded == report.passages_embedded_secondary == 0
    assert report.words_embedded == 0  # a title is not a passage's words
    store = IndexStore.open(workspace.index_dir, readonly=True)
    new_title = "Entrepatios: a cohousing cooperative in Madrid on public land"
    assert store.passage_contexts()[pid] == passage_context(new_title, headings)
    after = _second_channel_vector(store, pid)
    assert not np.allclose(after, before, atol=1e-4)
    assert np.allclose(_second_channel_vector(store, untouched), before_other, atol=1e-6)
    # BM25 reads the context too: a word only the new title has now finds every passage of it
    entrepatios = {r.id for r in store.passages_of("entrepatios")}
    hits = open_lexical(store).search("cohousing", k=50)
    assert {h for h, _ in hits} == entrepatios


def test_lexical_index_of_an_older_version_is_caught_up_then_rebuilt(workspace, e5_embedder):
    import sqlite3

    from housing_kb.index.lexical import bm25 as lexical

    tokens = workspace.index_dir / "lexical" / lexical.TOKENS_FILE
    with sqlite3.connect(tokens) as conn:
        conn.execute("UPDATE meta SET value = 'housing-kb-analysis/0' WHERE key = 'stamp'")
    store = IndexStore.open(workspace.index_dir)
    n = store.stats()["passages"]
    # a server opened on it still searches every passage (rebuilt in memory), not an empty index
    assert len(open_lexical(store)) == n
    report = run_ingest(workspace, embedder=e5_embedder, show_progress=False)
    assert report.ok and report.passages_embedded == 0
    rebuilt = lexical.LexicalIndex.load(workspace.index_dir / "lexical")  # raises if still the old stamp
    assert len(rebuilt) == n


def _set_fields(settings: Settings, document_id: str, **fields) -> None:
    manifest = yaml.safe_load(settings.manifest_path.read_text(encoding="utf-8"))
    for e in manifest["documents"]:
        if e["id"] == document_id:
            e.update(fields)
    _write_manifest(settings.manifest_path, manifest["documents"])


def test_new_countries_re_tag_the_document_from_its_stored_vectors(workspace, e5_embedder):
    store = IndexStore.open(workspace.index_dir)
    before = [r.countries for r in store.passages_of("udhr-ru")]
    assert not any("RUS" in c for c in before)  # a global text: its passages inherit nothing
    _set_fields(workspace, "udhr-ru", countries=["RUS"], regions=["eastern_europe_central_asia"])

    report = run_ingest(workspace, embedder=e5_embedder, show_progress=False)
    assert report.metadata_refreshed == ["udhr-ru"]
    assert report.passages_embedded == 0
    assert report.passages_retagged == len(before)  # that document's passages, no other
    after = [r.countries for r in store.passages_of("udhr-ru")]
    # passages that name no country now inherit the document's (what the country filter reads)
    assert sum("RUS" in c for c in after) > 0
    assert store.document("udhr-ru").countries == ["RUS"]


def test_a_declared_language_that_differs_processes_the_document_again(workspace, e5_embedder):
    store = IndexStore.open(workspace.index_dir)
    assert store.document("entrepatios").language == "en"
    _set_fields(workspace, "entrepatios", language="es")  # a wrong declaration is still obeyed

    report = run_ingest(workspace, embedder=e5_embedder, show_progress=False)
    assert report.updated == ["entrepatios"] and report.metadata_refreshed == []
    assert report.passages_embedded == 0  # the same words: every vector comes from the cache
    assert store.document("entrepatios").language == "es"


def test_a_new_document_type_processes_the_document_again(workspace, e5_embedder):
    """The passage-kind detectors read the document type, so its passages are cut and typed again."""
    store = IndexStore.open(workspace.index_dir)
    assert store.document("entrepatios").document_type == "case_study"
    _set_fields(workspace, "entrepatios", document_type="research")

    report = run_ingest(workspace, embedder=e5_embedder, show_progress=False)
    assert report.updated == ["entrepatios"] and report.metadata_refreshed == []
    assert report.passages_embedded == 0
    assert store.document("entrepatios").document_type == "research"
