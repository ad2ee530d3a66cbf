"""Language-neutral e5 vectors: the language directions are found from the index's own passages,
removed from passages and queries alike, persisted beside the FAISS file, and never mixed with an
index built under the other setting."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import document_record

from housing_kb.index.dense.language_neutral import RECIPE, language_basis, normalise, project_out
from housing_kb.index.store.index_store import IndexConfig, IndexStore
from housing_kb.schema.records import Page, Passage, PassageTagsRecord

DIM = 16
CONFIG = IndexConfig(model_id="test-model", dim=DIM, chunker={"target": 10})
RNG = np.random.default_rng(42)
#: Topics shared by both languages, and a strong per-language offset (e5's language bias, caricatured).
TOPICS = RNG.normal(size=(30, DIM)).astype(np.float32)
OFFSET = {"en": np.eye(DIM, dtype=np.float32)[0] * 4, "fr": np.eye(DIM, dtype=np.float32)[1] * 4}


def _vector(topic: int, lang: str, noise: int) -> np.ndarray:
    jitter = np.random.default_rng(noise).normal(scale=0.05, size=DIM).astype(np.float32)
    return normalise(TOPICS[topic] + OFFSET[lang] + jitter)


def _doc(doc_id: str, lang: str, topics: range):
    record = document_record(doc_id, language=lang)
    texts = [f"{lang} passage on topic {t}." for t in topics]
    pages = [Page(number=1, text=" ".join(texts))]
    passages = [Passage(doc_id, i, text, 1, 1, 0, 10, language=lang) for i, text in enumerate(texts)]
    vectors = np.vstack([_vector(t, lang, hash((doc_id, t)) % 1000) for t in topics])
    tags = [PassageTagsRecord([], [], [], {}) for _ in topics]
    return record, pages, passages, vectors, tags


def _store(tmp_path) -> IndexStore:
    """English passages on topics 0-24, French ones on topics 5-29: topics 25-29 exist only in French."""
    store = IndexStore.open(tmp_path / "idx", CONFIG)
    store.replace_document(*_doc("en-doc", "en", range(25)), tags_version="v1")
    store.replace_document(*_doc("fr-doc", "fr", range(5, 30)), tags_version="v1")
    store.sync_faiss()
    return store


def _french_only_topic_rank(store: IndexStore, topic: int = 27) -> int:
    """Rank of the French passage on a French-only topic for an *English* query on that topic."""
    fr_ids = {r["id"]: r["text"] for r in store.iter_passages("id, text") if r["text"].startswith("fr ")}
    query = _vector(topic, "en", 999)
    ranked = [pid for pid, _ in store.search_dense(query, 60)]
    target = next(pid for pid, text in fr_ids.items() if text == f"fr passage on topic {topic}.")
    return ranked.index(target)


def test_basis_spans_the_centroid_differences_and_ignores_small_or_unknown_languages():
    langs = ["en"] * 25 + ["fr"] * 25 + ["nl"] * 5 + ["und"] * 30
    topics = np.vstack([TOPICS[:25], TOPICS[5:30], TOPICS[:5], TOPICS[:30]])
    offsets = np.vstack([OFFSET.get(lang, np.eye(DIM, dtype=np.float32)[2] * 4) for lang in langs])
    vecs = normalise(topics + offsets)

    basis = language_basis(vecs, langs)
    assert basis.shape == (1, DIM)  # en and fr count; nl (5 passages) and und do not
    assert np.allclose(basis @ basis.T, np.eye(1), atol=1e-5)
    neutral = project_out(vecs, basis)
    en, fr = neutral[:25].mean(0), neutral[25:50].mean(0)
    assert abs(float((en - fr) @ basis[0])) < 1e-5
    assert np.allclose(np.linalg.norm(neutral, axis=1), 1.0, atol=1e-5)

    assert language_basis(vecs, langs, min_passages=5).shape == (2, DIM)  # nl counts now
    assert language_basis(vecs[:25], langs[:25]).shape == (0, DIM)  # one language: nothing to remove
    assert np.array_equal(project_out(vecs[:3], np.zeros((0, DIM), np.float32)), vecs[:3])


def test_a_query_finds_the_passage_in_the_other_language(tmp_path, monkeypatch):
    store = _store(tmp_path)
    assert store.language_basis().shape == (1, DIM)
    assert _french_only_topic_rank(store) == 0
    # The raw vectors put every English passage first: the French one on the query's topic is 26th.
    monkeypatch.setenv("HOUSING_KB_LANGUAGE_NEUTRAL", "0")
    raw = IndexStore.open(tmp_path / "idx", readonly=True)
    assert raw.language_basis().shape == (0, DIM)
    assert _french_only_topic_rank(raw) >= 25


def test_the_basis_is_persisted_and_an_index_of_another_recipe_is_rebuilt(tmp_path, monkeypatch):
    store = _store(tmp_path)
    gen = store.generation
    sidecar = tmp_path / "idx" / f"vectors.{gen}.neutral.npz"
    with np.load(sidecar) as data:
        assert str(data["recipe"]) == RECIPE
        saved = data["basis"].copy()

    reader = IndexStore.open(tmp_path / "idx", readonly=True)
    assert np.array_equal(reader.language_basis(), saved)

    # A FAISS file written without the sidecar (an index from before this recipe) is rebuilt, and
    # a reader never serves neutral queries against raw vectors or the other way round.
    sidecar.unlink()
    assert _french_only_topic_rank(IndexStore.open(tmp_path / "idx", readonly=True)) == 0
    writer = IndexStore.open(tmp_path / "idx", CONFIG)
    writer.sync_faiss()
    assert sidecar.exists()

    monkeypatch.setenv("HOUSING_KB_LANGUAGE_NEUTRAL", "off")
    writer = IndexStore.open(tmp_path / "idx", CONFIG)
    writer.sync_faiss()
    with np.load(sidecar) as data:
        assert str(data["recipe"]) == "raw" and data["basis"].shape == (0, DIM)
    assert _french_only_topic_rank(writer) >= 25
    monkeypatch.delenv("HOUSING_KB_LANGUAGE_NEUTRAL")
    assert _french_only_topic_rank(IndexStore.open(tmp_path / "idx", readonly=True)) == 0


@pytest.mark.parametrize("value", ["0", "false", "No", "OFF"])
def test_the_setting_can_be_switched_off(tmp_path, monkeypatch, value):
    monkeypatch.setenv("HOUSING_KB_LANGUAGE_NEUTRAL", value)
    assert not IndexStore.open(tmp_path / "idx", CONFIG).language_neutral
