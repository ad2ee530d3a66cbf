"""The Milvus backend (through milvus-lite, embedded in this process) answers as the embedded one:
the same hits for the same filters on the dense and BM25 channels, after a migration that copies
the embedded index without re-embedding; collections of another configuration are refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import document_record, manifest_entry, write_manifest

from housing_kb.index.adapters.faiss_vectors import FaissChannel
from housing_kb.index.lexical.bm25 import LexicalChannel
from housing_kb.index.lexical.sync import open_lexical, sync_lexical
from housing_kb.index.protocols import LexicalIndex, PassageStore, VectorIndex
from housing_kb.index.query.filters import Filters, FilterTable
from housing_kb.index.query.intent import filter_table_with_mentions
from housing_kb.index.store.index_store import IndexConfig, IndexStore, PassageTagsRecord
from housing_kb.schema.records import Page, Passage

milvus = pytest.importorskip(
    "housing_kb.index.adapters.milvus", reason="pymilvus / milvus-lite not installed"
)
MilvusPassageStore = pytest.importorskip("housing_kb.index.adapters.milvus_store").MilvusPassageStore

DIM = 8
CONFIG = IndexConfig(model_id="test-model", dim=DIM, chunker={"target": 10})
WORDS = {
    "en": ["tenure", "security", "eviction", "rent", "housing", "informal", "settlement", "Africa"],
    "es": ["tenencia", "seguridad", "desalojo", "alquiler", "vivienda", "informal", "asentamiento"],
    "zh": ["住房", "公积金", "租赁", "保障", "棚户区", "改造"],
}


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _doc(doc_id, language, countries, regions, n, rng, year):
    words = WORDS[language]
    sep = "" if language == "zh" else " "
    texts = [
        sep.join(rng.choice(words, size=6).tolist()) + ("。" if language == "zh" else ".") for _ in range(n)
    ]
    record = document_record(doc_id, countries=countries, regions=regions, language=language, year=year)
    pages = [Page(number=1, text=sep.join(texts))]
    passages = [Passage(doc_id, i, t, 1, 1, 0, len(t), language=language) for i, t in enumerate(texts)]
    vectors = np.vstack([_unit(rng) for _ in range(n)])
    tags = [
        PassageTagsRecord(
            ["affordability"] if i % 2 else ["security_of_tenure"],
            countries,
            regions,
            {"affordability": 0.9 if i % 2 else 0.2, "security_of_tenure": 0.1 if i % 2 else 0.8},
        )
        for i in range(n)
    ]
    return record, pages, passages, vectors, tags


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    """An embedded index of four documents in three languages, and its copy in milvus-lite."""
    root = tmp_path_factory.mktemp("milvus")
    store = IndexStore.open(root / "idx", CONFIG)
    rng = np.random.default_rng(7)
    for args in (
        ("ken-law", "en", ["KEN"], ["africa"], 30, rng, 2012),
        ("bra-plan", "es", ["BRA"], ["latin_america_caribbean"], 25, rng, 2008),
        ("chn-reg", "zh", ["CHN"], ["asia_pacific"], 20, rng, 2019),
        ("zaf-case", "en", ["ZAF"], ["africa"], 5, rng, 0),
    ):
        store.replace_document(*_doc(*args), tags_version="v1")
    store.sync_faiss()
    sync_lexical(store, show_progress=False)
    table, _ = filter_table_with_mentions(store)
    lexical = open_lexical(store)
    target = milvus.MilvusTarget(uri=str(root / "milvus.db"), prefix="t")
    written = milvus.migrate(store, table, lexical, target)
    index = milvus.MilvusIndex.connect(target)
    yield store, table, lexical, index, written
    index.client.close()
    store.close()


FILTERS = [
    None,
    Filters(countries=["KEN"]),
    Filters(regions=["africa"], components=["affordability"]),
    Filters(languages=["es", "zh"], year_from=2010),
    Filters(year_to=2010),
    Filters(year_from=2000),  # excludes the document of unknown year
    Filters(document_ids=["chn-reg", "zaf-case"]),
    Filters(components=["security_of_tenure"], min_confidence=0.5),
    Filters(countries=["FRA"]),  # valid, no passage
    # the restrictions the engine adds for a query's place intent
    Filters(document_countries=["KEN", "BRA"]),
    Filters(named_regions=["africa"]),
]


def test_migration_copies_every_channel(backends):
    store, _, lexical, index, written = backends
    assert written.pop("state") >= 2  # the configuration and the (empty) country series
    assert written == {"documents": 4, "pages": 4, "e5": 80, "bm25": len(lexical)}
    assert index.vectors("e5").count() == store.passage_count() == 80
    passage = MilvusPassageStore(index).passages([1])[1]
    assert passage == store.passages([1])[1] and passage.doc_id == "ken-law"


@pytest.mark.model
def test_the_passage_store_on_milvus_gives_the_embedded_records(api_settings, tmp_path, monkeypatch):  # noqa: F811
    """Documents, pages (stored in parts, here made small so that long pages span several) and
    passages read from Milvus are the embedded store's, record for record."""
    monkeypatch.setattr(milvus, "PAGE_PART_BYTES", 5000)
    store = IndexStore.open(api_settings.index_dir, readonly=True)
    table, _ = filter_table_with_mentions(store)
    target = milvus.MilvusTarget(uri=str(tmp_path / "records.db"), prefix="records")
    written = milvus.migrate(store, table, open_lexical(store), target)
    index = milvus.MilvusIndex.connect(target)
    on_milvus = MilvusPassageStore(index)
    assert isinstance(on_milvus, PassageStore) and isinstance(store, PassageStore)
    documents = store.documents()
    assert on_milvus.documents() == documents and len(documents) > 3
    assert written["pages"] > sum(len(store.pages(d.doc_id)) for d in documents)  # some pages in parts
    assert on_milvus.document_counts() == store.document_counts()
    assert on_milvus.passage_count() == store.passage_count()
    for d in documents:
        assert on_milvus.document(d.doc_id) == d
        assert on_milvus.pages(d.doc_id) == store.pages(d.doc_id)
        passages = store.passages_of(d.doc_id)
        assert on_milvus.passages_of(d.doc_id) == passages
        assert on_milvus.passage(passages[-1].passage_id) == passages[-1]
    ids = [*(p.id for p in store.passages_of(documents[0].doc_id)[:5]), 10**9]
    assert on_milvus.passages(ids) == store.passages(ids)  # an unknown id is left out by both
    assert on_milvus.document("no-such-doc") is None and on_milvus.passage("no:0000:00000000") is None
    for hostile in ('x" or passage_id != "', "P\u00af:\x0f", "住房\\", ""):  # quoted, or matching nothing
        assert on_milvus.passage(hostile) is None and on_milvus.passages_of(hostile) == []
    index.client.close()


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_dense_channel_gives_the_same_hits_for_the_same_filters(backends, filters):
    store, table, _, index, _ = backends
    embedded, basis = store.dense_channel(None)
    faiss_channel = FaissChannel(embedded, table, basis)
    milvus_channel = index.vectors("e5")
    assert isinstance(faiss_channel, VectorIndex) and isinstance(milvus_channel, VectorIndex)
    for seed in range(5):
        q = _unit(np.random.default_rng(100 + seed))
        want = faiss_channel.search(q, 10, filters)
        got = milvus_channel.search(q, 10, filters)
        assert [pid for pid, _ in got] == [pid for pid, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-4)


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
@pytest.mark.parametrize(
    ("query", "language"), [("security of tenure", "en"), ("vivienda alquiler", "es"), ("住房公积金", "zh")]
)
def test_bm25_channel_gives_the_same_hits_for_the_same_filters(backends, filters, query, language):
    _, table, lexical, index, _ = backends
    embedded = LexicalChannel(lexical, table)
    distributed = index.lexical()
    assert isinstance(embedded, LexicalIndex) and isinstance(distributed, LexicalIndex)
    want = embedded.search(query, 10, filters=filters, language=language)
    got = distributed.search(query, 10, filters=filters, language=language)
    assert np.allclose([s for _, s in got], [s for _, s in want], rtol=1e-4)
    # equal scores may fall on either side of the cut at k: compare the ids above the last score
    if want:
        cut = want[-1][1]
        assert {p for p, s in got if s > cut + 1e-4} == {p for p, s in want if s > cut + 1e-4}


def test_some_passages_name_a_region(backends):
    _, table, _, _, _ = backends
    named = table.allowed_ids(Filters(named_regions=["africa"]))
    assert 0 < len(named) < len(table)  # the region filter above is not vacuous


def test_a_filter_value_with_a_quote_stays_a_literal(backends):
    _, _, _, index, _ = backends
    hostile = Filters(document_ids=['ken-law" or doc_id != "'])
    assert index.vectors("e5").search(np.ones(DIM, dtype=np.float32), 10, hostile) == []


def test_collections_of_another_configuration_are_refused(backends):
    store, _, _, index, _ = backends
    index.check(milvus.milvus_stamp(store))
    other = {**milvus.milvus_stamp(store), "model": "another-model"}
    with pytest.raises(milvus.MilvusConfigMismatch, match="model"):
        index.check(other)


def _changed(store: IndexStore) -> tuple[FilterTable, LexicalChannel | None]:
    """What an ingest leaves behind: FAISS files and BM25 in step with the records."""
    store.sync_faiss()
    sync_lexical(store, show_progress=False)
    table, _ = filter_table_with_mentions(store)
    return table, open_lexical(store)


def test_a_sync_writes_only_what_the_index_changed(tmp_path):
    """Ingest's sync: unchanged passages are skipped, new ones written, removed ones deleted, retagged
    ones rewritten; the stamp's generation moves last, and the channel then answers as FAISS does."""
    store = IndexStore.open(tmp_path / "idx", CONFIG)
    rng = np.random.default_rng(11)
    store.replace_document(*_doc("ken-law", "en", ["KEN"], ["africa"], 12, rng, 2012), tags_version="v1")
    store.replace_document(*_doc("chn-reg", "zh", ["CHN"], ["asia_pacific"], 8, rng, 2019), tags_version="v1")
    target = milvus.MilvusTarget(uri=str(tmp_path / "sync.db"), prefix="s")
    first = milvus.sync(store, *_changed(store), target)
    assert first.written["e5"] == 20 and first.recreated == ["documents", "pages", "state", "e5", "bm25"]
    assert (first.written["documents"], first.written["pages"]) == (2, 2)

    again = milvus.sync(store, *_changed(store), target)
    assert (again.written["e5"], again.unchanged["e5"], again.deleted["e5"]) == (0, 20, 0)
    assert not again.recreated

    store.replace_document(*_doc("zaf-case", "en", ["ZAF"], ["africa"], 5, rng, 2001), tags_version="v1")
    store.delete_documents(["chn-reg"])
    table, lexical = _changed(store)
    index = milvus.MilvusIndex.connect(target)
    assert not index.holds(milvus.milvus_stamp(store))  # servers keep their last state meanwhile
    report = milvus.sync(store, table, lexical, target)
    assert (report.written["e5"], report.deleted["e5"], report.unchanged["e5"]) == (5, 8, 12)
    for records in ("documents", "pages"):  # one document added, one removed, one unchanged
        assert (report.written[records], report.deleted[records], report.unchanged[records]) == (1, 1, 1)
    assert index.holds(milvus.milvus_stamp(store))
    index.check(milvus.milvus_stamp(store))
    assert index.vectors("e5").count() == store.passage_count() == 17
    assert report.written["bm25"] + report.unchanged["bm25"] == len(lexical)

    first_passage = store.passages_of("ken-law")[0].id
    store.update_tags([(first_passage, PassageTagsRecord(["habitability"], ["KEN"], ["africa"], {}))], "v2")
    table, lexical = _changed(store)
    retagged = milvus.sync(store, table, lexical, target)
    assert retagged.written["e5"] == 1 and retagged.written["documents"] == 0
    embedded, basis = store.dense_channel(None)
    faiss_channel = FaissChannel(embedded, table, basis)
    query = _unit(np.random.default_rng(3))
    for filters in (None, Filters(components=["habitability"]), Filters(countries=["ZAF"])):
        want = faiss_channel.search(query, 10, filters)
        got = index.vectors("e5").search(query, 10, filters)
        assert [pid for pid, _ in got] == [pid for pid, _ in want], filters
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-4)
    assert [pid for pid, _ in index.vectors("e5").search(query, 5, Filters(components=["habitability"]))] == [
        first_passage
    ]
    index.client.close()
    store.close()


def test_an_idle_worker_brings_a_lagging_milvus_in_step(tmp_path):
    """A write whose sync never ran (an ingest killed after its last commit, Milvus down) leaves the
    collections behind the index; the worker, when idle, notices and syncs, and leaves an index in
    step alone."""
    from housing_kb.api.worker import Worker
    from housing_kb.config import Settings

    store = IndexStore.open(tmp_path / "index", CONFIG)
    rng = np.random.default_rng(5)
    store.replace_document(*_doc("ken-law", "en", ["KEN"], ["africa"], 6, rng, 2012), tags_version="v1")
    _changed(store)
    settings = Settings(
        index_dir=tmp_path / "index",
        data_root=tmp_path / "data",
        backend="milvus",
        milvus_uri=str(tmp_path / "lag.db"),
        milvus_prefix="lag",
    )
    target = milvus.MilvusTarget(uri=settings.milvus_uri, prefix="lag")
    milvus.sync(store, *_changed(store), target)
    store.replace_document(*_doc("zaf-case", "en", ["ZAF"], ["africa"], 4, rng, 2001), tags_version="v1")
    _changed(store)  # committed, but no sync followed

    def in_step() -> bool:
        index = milvus.MilvusIndex.connect(target)
        try:
            return index.stamp() == milvus.milvus_stamp(store) and index.vectors("e5").count() == 10
        finally:
            index.client.close()

    assert not in_step()
    Worker(settings).catch_up()
    assert in_step()
    from housing_kb.ingest.search_backend import catch_up_search_backend

    assert catch_up_search_backend(settings) is None  # in step: nothing written
    store.close()


# ----------------------------------------------------------------------------- the engine on Milvus
from test_api import api_settings  # noqa: E402, F401  (the small real index of the API tests)

ENGINE_QUERIES = [
    ("How do residents of Mukuru face eviction?", None),
    ("租赁合同登记备案", None),
    ("وزارة الإسكان", None),
    ("cooperativa de vivienda", None),
    ("informal settlements in Kenya", None),  # place intent: a country
    ("informal settlements in Africa", None),  # place intent: a region
    ("flooding", Filters(countries=["UGA", "KEN"])),
    ("housing law", Filters(document_types=["law"], year_from=2020)),
    ("housing", Filters(languages=["zh", "ar"])),
]


@pytest.mark.model
@pytest.mark.slow
def test_the_search_engine_answers_alike_on_both_backends(api_settings, e5_embedder, tmp_path):  # noqa: F811
    """The whole engine (translation, per-language lists, place intent, relevance) on Milvus's
    channels, every restriction pushed down as an expression, gives the embedded engine's hits."""
    import dataclasses

    from housing_kb.index.query.engine import SearchEngine

    engine = SearchEngine.open(api_settings.with_(backend="embedded"), embedder=e5_embedder)
    target = milvus.MilvusTarget(uri=str(tmp_path / "engine.db"), prefix="engine")
    milvus.migrate(engine.store, engine.filter_table, engine.lexical, target)
    index = milvus.MilvusIndex.connect(target)
    embedded = engine.pinned()
    on_milvus = engine.pinned()
    on_milvus._view = dataclasses.replace(
        on_milvus.view, channels=index.search_channels(), passages=MilvusPassageStore(index)
    )
    assert set(on_milvus.view.channels) == set(embedded.view.channels) == {"e5", "use", "bm25"}
    boosted: set[str] = set()
    for query, filters in ENGINE_QUERIES:
        for mode in ("hybrid", "dense", "lexical"):
            want = embedded.search(query, k=10, filters=filters, mode=mode)
            got = on_milvus.search(query, k=10, filters=filters, mode=mode)
            assert [h.passage_id for h in got.hits] == [h.passage_id for h in want.hits], (query, mode)
            # every field of every hit (read from Milvus's records) but the score, a float sum
            assert [dataclasses.replace(h, score=0.0) for h in got.hits] == [
                dataclasses.replace(h, score=0.0) for h in want.hits
            ]
            assert got.boosted_countries == want.boosted_countries
            assert got.boosted_regions == want.boosted_regions
            assert got.total == want.total
            boosted |= set(got.boosted_countries) | set(got.boosted_regions)
    assert {"KEN", "africa"} <= boosted  # the place-intent restrictions were exercised
    index.client.close()


@pytest.mark.model
@pytest.mark.slow
def test_a_server_on_milvus_reads_nothing_from_the_index_directory(api_settings, e5_embedder, tmp_path):  # noqa: F811
    """An engine opened on the Milvus backend with no index directory at all (the deployment alone)
    answers as the embedded engine: hits, totals, facets, suggestions, translation, the language
    basis and the country series; and it moves to the deployment's next state, but not to one whose
    collections are still being rebuilt."""
    import dataclasses

    from conftest import private_copy

    from housing_kb.index.query.engine import SearchEngine
    from housing_kb.schema.indicators import bundled_dir, read_indicators

    settings = private_copy(api_settings.with_(backend="embedded"), tmp_path / "copy")
    store = IndexStore.open(settings.index_dir, create=False)
    store.import_indicators(read_indicators(bundled_dir()))
    store.close()
    target = milvus.MilvusTarget(uri=str(tmp_path / "served.db"), prefix="served")
    milvus.sync_settings(settings, target=target, replace=True)
    embedded = SearchEngine.open(settings, embedder=e5_embedder)
    served = SearchEngine.open(
        settings.with_(backend="milvus", milvus_uri=target.uri, milvus_prefix=target.prefix,
                       index_dir=tmp_path / "no-index-here" / "index"),
        embedder=e5_embedder,
    )  # fmt: skip
    assert not (tmp_path / "no-index-here").exists()
    assert type(served.store).__name__ == "MilvusServedIndex"
    assert served.view.generation == embedded.view.generation
    assert served.store.config == embedded.store.config
    assert served.translator is not None and embedded.translator is not None
    assert len(served.translator.lexicon) == len(embedded.translator.lexicon)
    assert np.array_equal(served.store.language_basis(), embedded.store.language_basis())
    assert served.country_data.series == embedded.country_data.series and served.country_data.series
    assert served.documents == embedded.documents
    assert served.facets(None, Filters()) == embedded.facets(None, Filters())
    assert served.suggest("hous") == embedded.suggest("hous")
    for query, filters in ENGINE_QUERIES:
        want = embedded.search(query, k=10, filters=filters)
        got = served.search(query, k=10, filters=filters, with_facets=True)
        assert [dataclasses.replace(h, score=0.0) for h in got.hits] == [
            dataclasses.replace(h, score=0.0) for h in want.hits
        ], query
        assert got.total == want.total and got.translations == want.translations
    # the deployment's stamp moves: mid-rebuild (generation -1) the server keeps its state, then moves
    index = milvus.MilvusIndex.connect(target)
    e5 = index.channel("e5")
    stamp = e5.stamp()
    e5.set_stamp({**stamp, "generation": -1})
    served.refresh()
    assert served.view.generation == stamp["generation"]
    e5.set_stamp({**stamp, "generation": stamp["generation"] + 1})
    served.refresh()
    assert served.view.generation == stamp["generation"] + 1
    assert [h.passage_id for h in served.search("eviction", k=5).hits]
    index.client.close()


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


@pytest.mark.model
@pytest.mark.slow
def test_two_api_processes_on_one_milvus_answer_identically(api_settings, e5_embedder, tmp_path):  # noqa: F811
    """milvus-lite as a local server, the index migrated into it over gRPC, and two `housing-kb serve`
    processes with HOUSING_KB_BACKEND=milvus, each with an empty directory of its own (no shared
    index files): the same requests get the same answers, which are the embedded engine's."""
    from conftest import free_port, serve_in_thread

    from housing_kb.index.query.engine import SearchEngine

    milvus_port = free_port()
    uri = f"http://127.0.0.1:{milvus_port}"
    lite = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "milvus-lite"),
            "server",
            "--data-dir",
            str(tmp_path / "lite"),
            "--host",
            "127.0.0.1",
            "--port",
            str(milvus_port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    servers: list[subprocess.Popen] = []
    try:
        engine = SearchEngine.open(api_settings.with_(backend="embedded"), embedder=e5_embedder)
        deadline = time.time() + 60
        while True:  # the gRPC server is up when a client connects
            try:
                milvus.migrate(
                    engine.store, engine.filter_table, engine.lexical, milvus.MilvusTarget(uri=uri)
                )
                break
            except Exception:
                if time.time() > deadline or lite.poll() is not None:
                    raise
                time.sleep(0.5)
        env = os.environ | {
            "HOUSING_KB_CACHE": str(api_settings.cache_dir),
            "HOUSING_KB_BACKEND": "milvus",
            "HOUSING_KB_MILVUS_URI": uri,
            "HOUSING_KB_RATE_LIMIT": "off",
            "HOUSING_KB_WORKER": "off",
        }
        urls = []
        for n in range(2):
            port = free_port()
            # each server's own empty directory: it reads the index from Milvus alone
            own = {"HOUSING_KB_INDEX": str(tmp_path / f"server{n}" / "index")}
            servers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "housing_kb.api.cli", "serve", "--port", str(port)],
                    env=env | own,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, servers, strict=True):
            _wait_for(f"{url}/v1/health", process)
        requests = [
            {"q": "How do residents of Mukuru face eviction?"},
            {"q": "租赁合同登记备案", "language": "zh"},
            {"q": "informal settlements in Kenya", "region": "africa"},
            {"q": "housing law", "document_type": "law", "year_from": 2020},
        ]
        from housing_kb.api.app import create_app

        with serve_in_thread(create_app(engine.settings, engine=engine, worker=False)) as embedded_url:
            for params in requests:
                answers = [
                    httpx.get(f"{url}/v1/search", params=params, timeout=120).json()
                    for url in [*urls, embedded_url]
                ]
                ids = [[h["passage_id"] for h in a["hits"]] for a in answers]
                assert ids[0] and ids[0] == ids[1] == ids[2], params
                assert [h["score"] for h in answers[0]["hits"]] == [h["score"] for h in answers[1]["hits"]]
            for path in ("/v1/documents", f"/v1/passages/{ids[0][0]}", "/v1/facets"):
                answers = [httpx.get(f"{url}{path}", timeout=120).json() for url in [*urls, embedded_url]]
                assert answers[0] == answers[1] == answers[2], path
            health = [httpx.get(f"{url}/v1/health", timeout=60).json() for url in [*urls, embedded_url]]
            for field in ("documents", "passages", "model_id", "generation", "translation_words"):
                assert health[0][field] == health[1][field] == health[2][field], field
    finally:
        for process in [*servers, lite]:
            process.terminate()
        for process in [*servers, lite]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.model
def test_ingest_keeps_milvus_in_step(tmp_path, monkeypatch, model_settings, e5_model_dir):
    """`housing-kb ingest` with the Milvus backend writes the run's changes into the collections:
    everything the first time, nothing for an unchanged corpus, then only an edited document's
    passages."""
    from typer.testing import CliRunner

    from housing_kb.api.cli import app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    law = corpus / "tenure-act.md"
    law.write_text(
        "# Tenure Act\n\nArticle 1. Every household in an informal settlement may apply for a title.\n\n"
        "Article 2. No eviction shall take place without notice and consultation.\n",
        encoding="utf-8",
    )
    manifest = write_manifest(
        tmp_path / "manifest.yaml", [manifest_entry("tenure-act", "tenure-act.md", corpus)]
    )
    db = tmp_path / "milvus.db"
    for name, value in {
        "HOUSING_KB_INDEX": tmp_path / "index",
        "HOUSING_KB_CORPUS_DIR": corpus,
        "HOUSING_KB_MANIFEST": manifest,
        "HOUSING_KB_CACHE": model_settings.cache_dir,
        "HOUSING_KB_SECOND_EMBEDDER": "none",
        "HOUSING_KB_BACKEND": "milvus",
        "HOUSING_KB_MILVUS_URI": db,
    }.items():
        monkeypatch.setenv(name, str(value))

    def ingest() -> str:
        result = CliRunner().invoke(app, ["ingest", "--no-progress"])
        assert result.exit_code == 0, result.output
        return result.output

    first = ingest()
    assert "e5 " in first and "(new collection)" in first
    assert "e5 0 written, 0 deleted" in ingest()

    law.write_text(law.read_text(encoding="utf-8") + "\nArticle 3. Rents are registered.\n", encoding="utf-8")
    write_manifest(manifest, [manifest_entry("tenure-act", "tenure-act.md", corpus)])
    edited = ingest()
    assert "(new collection)" not in edited and "e5 0 written" not in edited
    store = IndexStore.open(tmp_path / "index", readonly=True)
    index = milvus.MilvusIndex.connect(milvus.MilvusTarget(uri=str(db)))
    index.check(milvus.milvus_stamp(store))
    assert index.vectors("e5").count() == store.passage_count()
    index.client.close()
    store.close()
