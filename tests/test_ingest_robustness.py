"""Ingest under hostile input and abrupt ends: files outside the corpus root, documents over a limit,
bad manifest entries, a second writer, and a run that dies part-way (issue 16).

A small corpus of real UDHR excerpts (English, French, Spanish) keeps each run to a few passages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import manifest_entry, milvus_prefix, write_manifest

from housing_kb.config import Settings
from housing_kb.index.query.engine import SearchEngine
from housing_kb.index.store.index_store import IndexStore
from housing_kb.index.store.lock import IndexLocked, writer_lock
from housing_kb.ingest.limits import DocumentLimits
from housing_kb.ingest.pipeline import run_ingest
from housing_kb.models.registry import load_embedder

pytestmark = pytest.mark.model

#: Articles 2-11 of each (a few passages per document).
UDHR = {
    "eng": ("Article 2", "Article 12"),
    "fra": ("Article 2", "Article 12"),
    "spa": ("Artículo 2", "Artículo 12"),
}


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory, corpus_dir: Path) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("corpus")
    entries = []
    for lang, (first, stop) in UDHR.items():
        text = (corpus_dir / "rights_udhr_6lang" / f"udhr_{lang}.txt").read_text(encoding="utf-8")
        start, end = text.find(first), text.find(stop)
        assert 0 < start < end, f"UDHR {lang} articles moved"
        (root / f"udhr_{lang}.txt").write_text(text[start:end], encoding="utf-8")
        entries.append(manifest_entry(f"udhr-{lang}", f"udhr_{lang}.txt", root, document_type="rights_text"))
    return root, entries


@pytest.fixture
def settings(tmp_path: Path, small_corpus, model_settings: Settings) -> Settings:
    root, entries = small_corpus
    corpus = tmp_path / "corpus"
    shutil.copytree(root, corpus)
    return model_settings.with_(
        corpus_dir=corpus,
        manifest_path=write_manifest(tmp_path / "manifest.yaml", entries),
        index_dir=tmp_path / "index",
        milvus_prefix=milvus_prefix(tmp_path),
    )


def _entries(settings: Settings) -> list[dict]:
    import yaml

    return yaml.safe_load(settings.manifest_path.read_text(encoding="utf-8"))["documents"]


def test_files_leading_outside_the_corpus_are_refused_and_the_rest_indexed(settings, e5_embedder, tmp_path):
    corpus = settings.corpus_dir
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    os.mkfifo(corpus / "pipe.txt")
    (corpus / "zero.txt").symlink_to("/dev/zero")
    hostile = [
        {
            "id": name.split(".")[0],
            "path": name,
            "title": name,
            "document_type": "other",
            "regions": ["global"],
        }
        for name in ("passwd.txt", "pipe.txt", "zero.txt")
    ]
    write_manifest(settings.manifest_path, _entries(settings) + hostile)

    report = run_ingest(settings, embedder=e5_embedder, tagger=None, show_progress=False)  # returns: no hang
    assert sorted(report.added) == ["udhr-eng", "udhr-fra", "udhr-spa"]
    failed = {f.document_id: f for f in report.failed}
    assert set(failed) == {"passwd", "pipe", "zero"}
    assert all(f.kind == "unsafe_path" for f in failed.values())
    assert "outside the corpus root" in failed["passwd"].reason
    assert "not a regular file" in failed["pipe"].reason
    store = IndexStore.open(settings.index_dir, readonly=True)
    texts = " ".join(r["text"] for r in store.iter_passages("text"))
    assert "nologin" not in texts and "root:" not in texts


def test_a_document_over_a_limit_fails_by_name_and_the_rest_goes_on(settings, e5_embedder):
    limits = DocumentLimits(max_passages=2)
    report = run_ingest(settings, embedder=e5_embedder, tagger=None, show_progress=False, limits=limits)
    too_large = [f for f in report.failed if f.kind == "too_large"]
    assert too_large, "no UDHR excerpt went over 2 passages"
    assert all("HOUSING_KB_MAX_PASSAGES" in f.reason for f in too_large)
    assert len(report.added) + len(too_large) == 3


def test_a_bad_manifest_entry_fails_alone_and_its_indexed_copy_stays(settings, e5_embedder):
    assert run_ingest(settings, embedder=e5_embedder, tagger=None, show_progress=False).ok
    entries = _entries(settings)
    entries[0]["document_type"] = "lawz"  # a typo in one entry
    write_manifest(settings.manifest_path, entries)

    report = run_ingest(settings, embedder=e5_embedder, tagger=None, show_progress=False)
    (failure,) = report.failed
    assert (
        failure.document_id == "udhr-eng" and failure.kind == "invalid_entry" and "'lawz'" in failure.reason
    )
    assert sorted(report.unchanged) == ["udhr-fra", "udhr-spa"] and report.deleted == []
    assert "udhr-eng" in IndexStore.open(settings.index_dir, readonly=True).document_ids()


def test_a_second_ingest_is_refused_while_one_holds_the_index(settings, e5_embedder):
    with writer_lock(settings.index_dir), pytest.raises(IndexLocked, match=r"another ingest \(pid \d+\)"):
        run_ingest(settings, embedder=e5_embedder, tagger=None, show_progress=False)


def test_documents_committed_before_a_run_dies_are_kept(settings, e5_embedder, monkeypatch):
    from housing_kb.ingest import pipeline

    real_load = pipeline.load_document

    def dies_on_spanish(path, limits=None):
        if path.name == "udhr_spa.txt":
            raise KeyboardInterrupt  # what an OOM kill or Ctrl-C on the third document does to the run
        return real_load(path, limits)

    monkeypatch.setattr(pipeline, "load_document", dies_on_spanish)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(settings, embedder=e5_embedder, tagger=None, show_progress=False)
    store = IndexStore.open(settings.index_dir, readonly=True)
    assert store.document_ids() == {"udhr-eng", "udhr-fra"}
    assert store.faiss_index().count() == store.passage_count()

    # the next run does only what is left
    monkeypatch.setattr(pipeline, "load_document", real_load)
    report = run_ingest(settings, embedder=e5_embedder, tagger=None, show_progress=False)
    assert report.added == ["udhr-spa"] and sorted(report.unchanged) == ["udhr-eng", "udhr-fra"]
    assert report.passages_embedded == len(IndexStore.open(settings.index_dir).passages_of("udhr-spa"))


class _DiesAfter:
    """A second-channel embedder that dies on its ``calls``-th batch, like a kill during its step."""

    def __init__(self, inner, calls: int) -> None:
        self.inner, self.calls = inner, calls
        self.model_id, self.dim, self.max_tokens = inner.model_id, inner.dim, inner.max_tokens

    def embed_passages(self, texts, **kwargs):
        self.calls -= 1
        if self.calls <= 0:
            raise KeyboardInterrupt
        return self.inner.embed_passages(texts, **kwargs)

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)


@pytest.mark.embedded
def test_every_committed_document_has_both_channels_after_a_kill(settings, e5_embedder):
    use = load_embedder("use-multilingual", settings)
    with pytest.raises(KeyboardInterrupt):
        # dies on the second document's USE vectors: after one document committed
        run_ingest(
            settings, embedder=e5_embedder, secondary=_DiesAfter(use, 3), tagger=None, show_progress=False
        )
    store = IndexStore.open(settings.index_dir, readonly=True)
    assert store.document_ids() == {"udhr-eng"}
    hashes = [r["content_hash"] for r in store.iter_passages("content_hash")]
    assert store.embeddings.cached(hashes, model_id=use.model_id) == set(hashes)
    engine = SearchEngine(store, e5_embedder, settings, use)
    assert engine.secondary is use and engine.view.catching_up == {}


@pytest.mark.embedded
def test_a_channel_still_catching_up_is_left_out_and_named(settings, e5_embedder):
    use = load_embedder("use-multilingual", settings)
    assert run_ingest(settings, embedder=e5_embedder, secondary=use, tagger=None, show_progress=False).ok
    store = IndexStore.open(settings.index_dir)
    some = [r["content_hash"] for r in store.iter_passages("content_hash")][:2]
    with store.transaction() as conn:  # as an ingest of an older version, killed mid-channel, left it
        conn.executemany(
            "DELETE FROM embeddings WHERE model_id = ? AND content_hash = ?",
            [(use.model_id, h) for h in some],
        )
    engine = SearchEngine(IndexStore.open(settings.index_dir, readonly=True), e5_embedder, settings, use)
    total = engine.view.table.ids.size
    assert engine.secondary is None
    assert engine.view.catching_up == {"dense2": f"{total - 2} of {total} passages"}
    assert engine.search("freedom of movement", k=3).hits  # searches without it


def test_ingest_reports_a_broken_manifest_before_loading_any_model(settings, tmp_path):
    settings.manifest_path.write_text("version: 1\ndocuments: [\n  - id: x\n", encoding="utf-8")
    env = os.environ | {
        "HOUSING_KB_INDEX": str(settings.index_dir),
        "HOUSING_KB_CORPUS_DIR": str(settings.corpus_dir),
        "HOUSING_KB_MANIFEST": str(settings.manifest_path),
        "HOUSING_KB_CACHE": str(tmp_path / "no-models-here"),  # loading a model would fail differently
        "HOUSING_KB_EMBEDDER": str(tmp_path / "no-such-model"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "housing_kb.api.cli", "ingest", "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "manifest.yaml: line" in done.stderr and "invalid YAML" in done.stderr
    assert "Traceback" not in done.stderr
