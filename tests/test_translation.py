"""Cross-lingual BM25: the word lexicon (words per language in their own script, embedded with
USE-multilingual), its incremental and atomic persistence, and the translation of a question's words
that joins the BM25 query."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from conftest import document_record

from housing_kb.config import Settings
from housing_kb.index.lexical.bm25 import LexicalIndex
from housing_kb.index.lexical.translation import (
    LEXICON_FILE,
    QueryTranslator,
    TranslationError,
    WordLexicon,
    build_lexicon,
    content_words,
    open_lexicon,
    query_language,
    sync_lexicon,
    translation_terms,
    words_of,
)
from housing_kb.index.store.index_store import IndexConfig, IndexStore
from housing_kb.models.registry import load_embedder
from housing_kb.schema.records import Page, Passage, PassageTagsRecord

CONFIG = IndexConfig(model_id="test-model", dim=4, chunker={"target": 10})


class CountingEmbedder:
    """Deterministic unit vectors from a word's hash; counts what it was asked to embed."""

    model_id = "counting-v1"
    dim = 8

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def _vectors(self, texts) -> np.ndarray:
        self.embedded.extend(texts)
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:32], np.uint8)[: self.dim] for t in texts]
        out = np.array(rows, dtype=np.float32).reshape(len(texts), self.dim) - 127.5
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_passages(self, texts, *, batch_size: int = 32, progress=None) -> np.ndarray:
        return self._vectors(list(texts))

    def embed_queries(self, texts) -> np.ndarray:
        return self._vectors(list(texts))


@pytest.fixture(scope="module")
def use():
    return load_embedder("use-multilingual", Settings.from_env())


def _add(store: IndexStore, doc_id: str, language: str, texts: list[str]) -> None:
    record = document_record(doc_id, language=language)
    pages = [Page(number=1, text=" ".join(texts))]
    passages = [Passage(doc_id, i, t, 1, 1, 0, len(t), language=language) for i, t in enumerate(texts)]
    vectors = np.tile(np.array([1, 0, 0, 0], np.float32), (len(texts), 1))
    tags = [PassageTagsRecord([], [], [], {}) for _ in texts]
    store.replace_document(record, pages, passages, vectors, tags, "v1")


def test_words_are_taken_in_their_languages_script():
    assert words_of("租赁登记备案 (PMAY) 住房", "zh") == ["租赁", "登记", "备案", "住房"]
    # harakat and tatweel do not split an Arabic word; Latin words in Arabic text are not Arabic
    assert words_of("الإسكـــان الْعَام UN-Habitat", "ar") == ["الإسكان", "العام"]
    assert words_of("Жилищный кодекс (Housing Code)", "ru") == ["жилищный", "кодекс"]
    assert words_of("Les expulsions forcées, 2021", "fr") == ["les", "expulsions", "forcées"]
    assert content_words("les expulsions et les expulsions forcées", "fr") == ["expulsions", "forcées"]
    # the Arabic stop list holds normalised forms: "على" is listed as "علي"
    assert content_words("على حماية المستأجرين", "ar") == ["حماية", "المستأجرين"]


@pytest.mark.parametrize(
    ("query", "language"),
    [
        ("ما هي حماية المستأجرين من الإخلاء؟", "ar"),  # detect_query_language names only Latin text
        ("Какие меры поддержки молодых семей?", "ru"),
        ("住房公积金如何支持低收入家庭？", "zh"),
        ("¿Qué dice la ley sobre los desalojos forzosos?", "es"),
        ("slum upgrading", None),  # too short to tell: not translated
    ],
)
def test_query_language_comes_from_the_script_when_the_latin_part_says_nothing(query, language):
    assert query_language(query) == language


def test_use_translates_question_words_into_the_other_languages(use):
    english = [f"Families need support when eviction threatens their housing ({i})." for i in range(3)]
    spanish = [f"Las familias necesitan apoyo frente al desalojo de su vivienda ({i})." for i in range(3)]
    lexicon, embedded = build_lexicon([(t, "en") for t in english] + [(t, "es") for t in spanish], use)
    assert "families" in lexicon.words["en"] and "desalojo" in lexicon.words["es"]
    assert "their" not in lexicon.words["en"]  # stop words are left out
    assert embedded == len(lexicon)

    words = content_words("Как поддержать семьи?", "ru")
    found = lexicon.translate(words, use.embed_queries(words), "ru")
    pairs = {(t.source, t.language, t.word) for t in found}
    assert ("семьи", "en", "families") in pairs and ("семьи", "es", "familias") in pairs
    assert all(t.cosine >= 0.8 and t.language != "ru" for t in found)
    # each translation is analysed in its own language; English and Spanish agree on the stem,
    # which then counts twice in the BM25 query
    assert translation_terms([t for t in found if t.source == "семьи"]).count("famili") == 2


def test_translator_embeds_the_query_with_its_words_and_caches_translations():
    embedder = CountingEmbedder()
    lexicon, _ = build_lexicon([("tenure security tenure security", "en")] * 2, embedder)
    translator = QueryTranslator(lexicon, embedder)
    embedder.embedded.clear()
    vector, _ = translator.embed_and_translate("seguridad de la tenencia", "es", threshold=-1.0)
    assert embedder.embedded == ["seguridad de la tenencia", "seguridad", "tenencia"]
    np.testing.assert_allclose(vector, embedder.embed_queries(["seguridad de la tenencia"])[0])
    embedder.embedded.clear()
    _, again = translator.embed_and_translate("tenencia y seguridad", "es", threshold=-1.0)
    assert embedder.embedded == ["tenencia y seguridad"]  # both words' translations were cached
    assert {t.source for t in again} == {"tenencia", "seguridad"} and {t.language for t in again} == {"en"}
    uncached = QueryTranslator(lexicon, embedder, cache_size=0)  # as the latency benchmark runs
    for _ in range(2):
        embedder.embedded.clear()
        uncached.embed_and_translate("tenencia y seguridad", "es", threshold=-1.0)
        assert embedder.embedded == ["tenencia y seguridad", "tenencia", "seguridad"]
    with pytest.raises(TranslationError, match="counting-v1"):
        QueryTranslator(WordLexicon("other-model", {}, {}), embedder)


def test_the_lexicon_is_persisted_updated_incrementally_and_rebuilt_when_unusable(tmp_path, caplog):
    store = IndexStore.open(tmp_path / "idx", CONFIG)
    _add(store, "en-doc", "en", [f"Tenure security for renters and owners, case {i}." for i in range(25)])
    _add(store, "fr-doc", "fr", ["Sécurité d'occupation pour les locataires."] * 3)
    _add(store, "und-doc", "und", ["Tenure tenure tenure", "Sécurité sécurité"])  # could be any language
    embedder = CountingEmbedder()
    assert sync_lexicon(store, embedder, show_progress=False) == 8
    lexicon = open_lexicon(store, embedder.model_id)
    assert lexicon is not None and lexicon.languages == ["en", "fr"]
    assert sorted(lexicon.words["en"]) == ["case", "owners", "renters", "security", "tenure"]
    assert sorted(lexicon.words["fr"]) == [
        "locataires",
        "occupation",
        "sécurité",
    ]  # "pour", "les": stop words

    assert sync_lexicon(store, embedder, show_progress=False) == 0  # nothing changed: not even read again
    _add(store, "en-doc-2", "en", ["Security of tenure protects tenants from eviction."] * 2)
    embedder.embedded.clear()
    assert sync_lexicon(store, embedder, show_progress=False) == 3  # only the new words
    assert sorted(embedder.embedded) == ["eviction", "protects", "tenants"]
    saved = open_lexicon(store, embedder.model_id)
    assert saved is not None and len(saved) == 11
    assert not [p for p in store.directory.iterdir() if p.name.startswith(f".{LEXICON_FILE}")]

    # queries embedded by another model cannot be compared with these words
    assert open_lexicon(store, "use-multilingual-v9") is None
    assert "use-multilingual-v9" in caplog.text
    # a damaged file is rebuilt from the passages by the next sync, never half-used
    (store.directory / LEXICON_FILE).write_bytes(b"not a lexicon")
    assert open_lexicon(store, embedder.model_id) is None
    _add(store, "en-doc-3", "en", ["Renters and landlords."] * 2)
    assert sync_lexicon(store, embedder, show_progress=False) == 12
    rebuilt = open_lexicon(store, embedder.model_id)
    assert rebuilt is not None and "landlords" in rebuilt.words["en"]


def test_translated_terms_count_as_often_as_they_are_given():
    index = LexicalIndex()
    index.upsert([(1, "protection of tenants", "en"), (2, "eviction of tenants", "en")])
    once = dict(index.search("x", 5, extra_terms=["protect", "evict"]))
    twice = dict(index.search("x", 5, extra_terms=["protect", "protect", "evict"]))
    assert once[1] == pytest.approx(once[2])
    assert twice[1] == pytest.approx(2 * once[1]) and twice[2] == pytest.approx(once[2])
    assert index.search("x", 5) == []  # the extra terms alone made those hits
