"""The persistent store: atomic document replacement, exact filtered search, refusal of a
mismatched configuration, and recovery of a stale FAISS file."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import document_record

from housing_kb.index.dense.files import ANN_MIN_DEFAULT, ann_threshold
from housing_kb.index.query.filters import Filters, FilterTable, InvalidFilter
from housing_kb.index.store.index_store import (
    IndexConfig,
    IndexConfigMismatch,
    IndexNotFound,
    IndexStore,
    PassageTagsRecord,
)
from housing_kb.schema.records import Page, Passage

DIM = 8
CONFIG = IndexConfig(model_id="test-model", dim=DIM, chunker={"target": 10})


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _doc(doc_id: str, countries: list[str], regions: list[str], n: int, seed: int, year: int = 2020):
    record = document_record(doc_id, countries=countries, regions=regions, language="en", year=year)
    pages = [Page(number=1, text=" ".join(f"sentence {doc_id} {i}." for i in range(n)))]
    passages = [Passage(doc_id, i, f"sentence {doc_id} {i}.", 1, 1, 0, 10, language="en") for i in range(n)]
    vectors = np.vstack([_unit(seed * 1000 + i) for i in range(n)])
    tags = [PassageTagsRecord(["affordability"] if i % 2 else [], countries, regions, {}) for i in range(n)]
    return record, pages, passages, vectors, tags


def test_replace_search_and_filters_are_exact(tmp_path):
    store = IndexStore.open(tmp_path / "idx", CONFIG)
    for args in (
        _doc("ken-law", ["KEN"], ["africa"], 40, 1),
        _doc("bra-law", ["BRA"], ["latin_america_caribbean"], 40, 2, year=2009),
        _doc("zaf-law", ["ZAF"], ["africa"], 3, 3),
    ):
        store.replace_document(*args, tags_version="v1")
    assert store.stats()["passages"] == 83

    table = FilterTable.from_store(store)
    q = _unit(999)
    # a filter with few matches returns all of them, and nothing outside it
    allowed = table.allowed_ids(Filters(countries=["ZAF"]))
    hits = store.search_dense(q, 10, allowed)
    assert len(hits) == 3
    rows = store.passages([h for h, _ in hits])
    assert {rows[h].doc_id for h, _ in hits} == {"zaf-law"}

    africa = table.allowed_ids(Filters(regions=["africa"], components=["affordability"]))
    hits = store.search_dense(q, 100, africa)
    docs = {store.passages([h])[h].doc_id for h, _ in hits}
    assert docs == {"ken-law", "zaf-law"} and len(hits) == 20 + 1
    assert len(store.search_dense(q, 10, table.allowed_ids(Filters(year_to=2010)))) == 10
    # the table knows each passage's document, as the store does (an unknown id is left out)
    some = [int(i) for i in table.ids[::7]]
    assert table.documents_of([*some, 10**9]) == {pid: p.doc_id for pid, p in store.passages(some).items()}

    with pytest.raises(InvalidFilter, match="valid values: .*africa"):
        table.validate(Filters(regions=["mars"]))


def test_replacing_a_document_leaves_no_duplicates(tmp_path):
    store = IndexStore.open(tmp_path / "idx", CONFIG)
    store.replace_document(*_doc("a", ["KEN"], ["africa"], 5, 1))
    first_ids = {r.id for r in store.passages_of("a")}
    store.replace_document(*_doc("a", ["KEN"], ["africa"], 4, 7))
    rows = store.passages_of("a")
    assert len(rows) == 4 and store.faiss_index().count() == 4
    assert first_ids.isdisjoint(r.id for r in rows)  # ids are never reused
    store.delete_documents(["a"])
    assert store.faiss_index().count() == 0 and store.pages("a") == []


def test_mismatched_model_is_refused(tmp_path):
    IndexStore.open(tmp_path / "idx", CONFIG).close()
    other = IndexConfig(model_id="another-model", dim=512, chunker={"target": 10})
    with pytest.raises(IndexConfigMismatch, match="model_id.*test-model.*another-model"):
        IndexStore.open(tmp_path / "idx", other)
    with pytest.raises(IndexNotFound, match="housing-kb ingest"):
        IndexStore.open(tmp_path / "nothing", readonly=True)


def test_stale_faiss_file_is_rebuilt_from_sqlite(tmp_path):
    store = IndexStore.open(tmp_path / "idx", CONFIG)
    store.replace_document(*_doc("a", ["KEN"], ["africa"], 5, 1))
    store.sync_faiss()
    # simulate a crash between a commit and the FAISS write: the file lags one generation
    store.replace_document(*_doc("b", ["BRA"], ["latin_america_caribbean"], 6, 2))
    for f in (tmp_path / "idx").glob("vectors.*.faiss"):
        f.unlink()
    reopened = IndexStore.open(tmp_path / "idx", readonly=True)
    assert reopened.faiss_index().count() == 11


def test_embedding_cache_round_trip(tmp_path):
    store = IndexStore.open(tmp_path / "idx", CONFIG)
    v = _unit(5)
    store.embeddings.add([("h1", v)])
    got = store.embeddings.vectors(["h1", "h2"])
    assert list(got) == ["h1"] and np.allclose(got["h1"], v)


def test_large_channels_use_hnsw_and_filtered_search_stays_exact(tmp_path, monkeypatch):
    """From HOUSING_KB_ANN_MIN passages a channel is an HNSW graph; unfiltered search finds the true
    neighbours on this small set, and a filtered search is an exact scan of the allowed rows."""
    monkeypatch.setenv("HOUSING_KB_ANN_MIN", "50")
    store = IndexStore.open(tmp_path / "idx", CONFIG)
    for args in (
        _doc("ken-law", ["KEN"], ["africa"], 60, 1),
        _doc("bra-law", ["BRA"], ["latin_america_caribbean"], 40, 2),
    ):
        store.replace_document(*args, tags_version="v1")
    store.sync_faiss()
    assert store.faiss_index().is_ann

    ids, vectors = [], []
    for row in store.iter_passages("id, content_hash"):
        ids.append(row["id"])
        vectors.append(store.embeddings.vectors([row["content_hash"]])[row["content_hash"]])
    ids_arr, matrix = np.array(ids), np.vstack(vectors)
    q = _unit(7)
    exact = ids_arr[np.argsort(-(matrix @ q))]
    assert [i for i, _ in store.search_dense(q, 10)] == exact[:10].tolist()

    allowed = FilterTable.from_store(store).allowed_ids(Filters(countries=["BRA"]))
    hits = store.search_dense(q, 100, allowed)
    assert len(hits) == len(allowed) == 40  # every allowed passage, nothing else
    assert [i for i, _ in hits] == [i for i in exact.tolist() if i in set(allowed.tolist())]
    # The same files under a threshold that makes them flat are rebuilt, not mixed.
    monkeypatch.setenv("HOUSING_KB_ANN_MIN", "0")
    reopened = IndexStore.open(tmp_path / "idx", readonly=True)
    assert not reopened.faiss_index().is_ann
    assert [i for i, _ in reopened.search_dense(q, 10)] == exact[:10].tolist()


def test_gc_drops_only_the_cached_vectors_nothing_uses(tmp_path):
    from typer.testing import CliRunner

    from housing_kb.api.cli import app
    from housing_kb.index.store.context import context_key

    store = IndexStore.open(tmp_path / "idx", CONFIG)
    store.replace_document(*_doc("a", ["KEN"], ["africa"], 5, 1))
    gone = _doc("b", ["BRA"], ["latin_america_caribbean"], 3, 2)
    store.replace_document(*gone)
    store.embeddings.add([(context_key("Title a"), _unit(7)), (context_key("Title b"), _unit(8))])
    store.delete_documents(["b"])
    b_hashes = [p.content_hash for p in gone[2]]
    a_hashes = [r.content_hash for r in store.passages_of("a")]
    # a deleted document's vectors stay cached, so putting it back would re-embed nothing ...
    assert len(store.embeddings.vectors(b_hashes)) == 3

    result = CliRunner().invoke(app, ["gc", "--index", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    assert "removed 4 unused cached vectors" in result.output  # b's three passages and its context

    # ... until gc: then only what live passages use remains, and the index rebuilds from it
    assert (
        store.embeddings.vectors(b_hashes) == {} and store.embeddings.vectors([context_key("Title b")]) == {}
    )
    assert len(store.embeddings.vectors(a_hashes)) == 5 and store.embeddings.vectors([context_key("Title a")])
    for f in (tmp_path / "idx").glob("vectors.*.faiss"):
        f.unlink()
    reopened = IndexStore.open(tmp_path / "idx", readonly=True)
    assert reopened.faiss_index().count() == 5
    hits = reopened.search_dense(_unit(1000), 1, None)
    assert reopened.passages([hits[0][0]])[hits[0][0]].doc_id == "a"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", ANN_MIN_DEFAULT), (" 1000 ", 1000), ("0", 1 << 62), ("-3", 1 << 62)],
)
def test_ann_threshold_reads_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("HOUSING_KB_ANN_MIN", raw)
    assert ann_threshold() == expected


def test_an_ann_threshold_that_is_not_a_number_is_named(monkeypatch):
    monkeypatch.setenv("HOUSING_KB_ANN_MIN", "lots")
    with pytest.raises(ValueError, match="HOUSING_KB_ANN_MIN='lots' is not a whole number"):
        ann_threshold()
