"""The BM25 channel: multilingual hits, exact filters, persistence and incremental updates."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from housing_kb.index.lexical import bm25 as lexical
from housing_kb.index.lexical.analysis import analyze, analyze_query
from housing_kb.index.lexical.bm25 import LexicalIndex, LexicalIndexError, LexicalStampMismatch

# The UDHR in six languages: article 25 (the right to housing) in each, among all other articles.
_UDHR = {
    "ar": "udhr_arb.txt",
    "zh": "udhr_cmn_hans.txt",
    "en": "udhr_eng.txt",
    "fr": "udhr_fra.txt",
    "ru": "udhr_rus.txt",
    "es": "udhr_spa.txt",
}
_ZH_LAW = "china_laws_zh/住房公积金管理条例(2019-03-24).md"


def _paragraphs(path: Path) -> list[str]:
    return [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if len(p.strip()) > 20]


@pytest.fixture(scope="module")
def corpus_index(corpus_dir: Path) -> tuple[LexicalIndex, dict[int, tuple[str, str]]]:
    """About 500 real paragraphs: the six UDHR versions and a Chinese housing-fund regulation."""
    passages: dict[int, tuple[str, str]] = {}
    sources = [(f"rights_udhr_6lang/{name}", lang) for lang, name in _UDHR.items()] + [(_ZH_LAW, "zh")]
    items: list[tuple[int, str, str]] = []
    for doc, lang in sources:
        for text in _paragraphs(corpus_dir / doc):
            passages[len(passages) + 1] = (doc, text)
            items.append((len(passages), text, lang))
    index = LexicalIndex()
    index.upsert(items)
    return index, passages


def _top_doc(index: LexicalIndex, passages: dict[int, tuple[str, str]], query: str) -> tuple[str, str]:
    hits = index.search(query, k=3)
    assert hits, f"no hit for {query!r}"
    return passages[hits[0][0]]


def test_chinese_query_finds_the_chinese_passage(corpus_index) -> None:
    index, passages = corpus_index
    doc, text = _top_doc(index, passages, "住房公积金的增值收益可以用来做什么")
    assert doc == _ZH_LAW and "增值收益" in text
    doc, text = _top_doc(index, passages, "衣着 住房 医疗")
    assert doc.endswith("udhr_cmn_hans.txt") and "住房" in text


@pytest.mark.parametrize("query", ["المسكن والعناية الطبية", "المَسْكَن و العنايه الطبيه", "مسكن عناية طبية"])
def test_arabic_query_in_other_written_forms_finds_the_passage(corpus_index, query: str) -> None:
    index, passages = corpus_index
    doc, text = _top_doc(index, passages, query)
    assert doc.endswith("udhr_arb.txt") and "والمسكن" in text


@pytest.mark.parametrize(
    ("query", "language", "marker"),
    [
        ("logements et soins médicaux", "fr", "le logement"),
        ("viviendas y asistencia médica", "es", "la vivienda"),
        ("жилища и медицинского ухода", "ru", "жилище"),
    ],
)
def test_stemmed_query_finds_the_inflected_passage(
    corpus_index, query: str, language: str, marker: str
) -> None:
    index, passages = corpus_index
    doc, text = _top_doc(index, passages, query)
    assert doc.endswith(_UDHR[language]) and marker in text


def _small() -> LexicalIndex:
    index = LexicalIndex()
    index.upsert(
        [
            (10, "Security of tenure protects tenants against forced eviction.", "en"),
            (20, "Forced evictions are prima facie incompatible with the Covenant.", "en"),
            (30, "Affordable housing finance for low-income households.", "en"),
            (40, "Las familias desalojadas tienen derecho a una vivienda adecuada.", "es"),
            (50, "The eviction of informal settlers requires due process.", "en"),
        ]
    )
    return index


def test_filter_is_exact_and_returns_every_allowed_match() -> None:
    index = _small()
    hits = index.search("forced eviction", k=10, allowed_ids=np.array([20, 30, 40, 999]))
    # 30 and 40 share no term with the query; 999 is not in the index.
    assert [pid for pid, _ in hits] == [20]
    everything = {pid for pid, _ in index.search("eviction", k=10)}
    assert everything == {10, 20, 50}
    # Fewer allowed matches than k: all of them, and nothing else, even when better hits exist.
    hits = index.search("eviction", k=2, allowed_ids=np.array([50, 30]))
    assert [pid for pid, _ in hits] == [50]


def test_k_caps_results_and_scores_are_descending() -> None:
    hits = _small().search("forced eviction tenure", k=2)
    assert len(hits) == 2 and hits[0][1] >= hits[1][1] and hits[0][0] == 10


def test_empty_filter_and_unknown_terms_give_no_hits() -> None:
    index = _small()
    assert index.search("eviction", k=5, allowed_ids=np.array([], dtype=np.int64)) == []
    assert index.search("zzzyyxx", k=5) == []
    assert LexicalIndex().search("eviction", k=5) == []


def test_bad_k_is_refused() -> None:
    with pytest.raises(ValueError, match="k must be a positive integer"):
        _small().search("eviction", k=0)


def test_upsert_reanalyses_only_changed_passages_and_delete_removes() -> None:
    index = _small()
    same = [(10, "Security of tenure protects tenants against forced eviction.", "en")]
    assert index.upsert(same) == 0
    assert index.upsert([(30, "Eviction moratoria during the pandemic.", "en")]) == 1
    assert 30 in {pid for pid, _ in index.search("eviction", k=10)}
    assert index.search("affordable", k=5) == []
    assert index.delete([10, 20, 12345]) == 2
    assert len(index) == 3
    assert {pid for pid, _ in index.search("eviction", k=10)} == {30, 50}


def test_save_load_round_trip(tmp_path: Path) -> None:
    index = _small()
    index.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    assert len(loaded) == 5 and loaded.ids().tolist() == [10, 20, 30, 40, 50]
    for query in ("forced eviction", "vivienda adecuada", "housing finance"):
        assert loaded.search(query, k=5) == index.search(query, k=5)


def test_a_reader_whose_matrix_a_writer_removes_meanwhile_loads_the_new_one(tmp_path, monkeypatch) -> None:
    """A server re-opening the index while an ingest saves it (the reliability run's one 500)."""
    import bm25s

    target = tmp_path / "lexical"
    _small().save(target)
    real_load = bm25s.BM25.load
    raced = []

    def save_in_between(path, **kwargs):
        if not raced:  # the reader has read the old name; the writer saves and removes it now
            raced.append(path)
            writer = LexicalIndex.load(target)
            writer.upsert([(60, "Community land trusts keep housing affordable.", "en")])
            writer.save(target)
        return real_load(path, **kwargs)

    monkeypatch.setattr(bm25s.BM25, "load", save_in_between)
    loaded = LexicalIndex.load(target)
    assert raced and loaded.ids().tolist() == [10, 20, 30, 40, 50, 60]


def test_a_reader_that_loaded_before_a_save_still_finds_the_passages_it_saved(tmp_path: Path) -> None:
    # The race the write-path load run found: the server loads the matrix, the worker saves a new
    # generation (terms and matrix), then the server catches up from the store; the terms it reads
    # already hold the new passage, so nothing looks changed, yet its matrix predates it.
    first = LexicalIndex()
    first.upsert([(1, "Security of tenure for renters", "en")])
    first.save(tmp_path)
    reader = LexicalIndex.load(tmp_path)
    writer = LexicalIndex.load(tmp_path)
    writer.upsert([(1, "Security of tenure for renters", "en"), (2, "Community land trusts in Voi", "en")])
    writer.save(tmp_path)
    analysed = reader.upsert(
        [(1, "Security of tenure for renters", "en"), (2, "Community land trusts in Voi", "en")]
    )
    assert analysed == 0
    assert [pid for pid, _ in reader.search("land trust", k=3)] == [2]


def test_incremental_save_after_load(tmp_path: Path) -> None:
    target = tmp_path / "lexical"
    _small().save(target)
    index = LexicalIndex.load(target)
    index.delete([20])
    index.upsert([(60, "Community land trusts keep housing affordable.", "en")])
    index.save(target)
    again = LexicalIndex.load(target)
    assert again.ids().tolist() == [10, 30, 40, 50, 60]
    assert [pid for pid, _ in again.search("community land trust", k=3)] == [60]
    # One matrix generation is left on disk, no temporary files.
    entries = sorted(p.name for p in target.iterdir())
    assert len(entries) == 2 and entries[0].startswith("bm25-") and entries[1] == lexical.TOKENS_FILE


def test_missing_matrix_is_rebuilt_from_the_stored_terms(tmp_path: Path) -> None:
    target = tmp_path / "lexical"
    _small().save(target)
    for entry in target.glob("bm25-*"):
        for f in entry.iterdir():
            f.unlink()
        entry.rmdir()
    assert [pid for pid, _ in LexicalIndex.load(target).search("housing finance", k=1)] == [30]


def test_index_from_another_analyser_version_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "lexical"
    _small().save(target)
    with sqlite3.connect(target / lexical.TOKENS_FILE) as conn:
        conn.execute("UPDATE meta SET value = 'housing-kb-analysis/0' WHERE key = 'stamp'")
    with pytest.raises(LexicalStampMismatch, match=r"built with analyser 'housing-kb-analysis/0'.*rebuild"):
        LexicalIndex.load(target)


def test_loading_a_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LexicalIndexError, match="no lexical index"):
        LexicalIndex.load(tmp_path / "nowhere")


def test_matrix_equals_the_one_bm25s_builds(corpus_index) -> None:
    """Our numpy builder must give bm25s's own "lucene" scores for every query."""
    import bm25s

    index, passages = corpus_index
    ids = index.ids()
    corpus = [analyze(passages[int(pid)][1], _language_of_doc(passages[int(pid)][0])) for pid in ids]
    reference = bm25s.BM25(k1=index.k1, b=index.b, method="lucene")
    reference.index(corpus, show_progress=False)
    for query in ("住房公积金 增值收益", "logement soins médicaux", "المسكن", "жилище"):
        ours = index.search(query, k=20)
        terms = [t for t in analyze_query(query) if t in reference.vocab_dict]
        scores = reference.get_scores(terms)
        order = np.argsort(-scores, kind="stable")[: len(ours)]
        assert [int(ids[i]) for i in order] == [pid for pid, _ in ours]
        assert np.allclose(scores[order], [s for _, s in ours], rtol=1e-5)


def _language_of_doc(doc: str) -> str:
    return "zh" if doc == _ZH_LAW else next(lang for lang, name in _UDHR.items() if doc.endswith(name))


def test_passages_without_terms_are_indexed_but_never_hit() -> None:
    index = LexicalIndex()
    index.upsert([(1, "— … ! ،", "ar")])
    assert index.search("housing", k=5) == [] and len(index) == 1
    index.upsert([(2, "Housing", "en")])
    assert [pid for pid, _ in index.search("housing", k=5)] == [2]
