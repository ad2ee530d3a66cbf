"""A running server and ``ingest --rebuild``: every request sees the old index or the new one, never a
mix, and the first request after the swap sees the new one (issue 16, defect 1).

Before the fix the server kept reading the deleted old database: the new document never appeared,
/health mixed the two indexes' counts, and lexical searches for a word only the new document holds
returned other passages.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from conftest import manifest_entry, serve_in_thread, write_manifest

from housing_kb.api.app import create_app
from housing_kb.config import Settings
from housing_kb.index.query.engine import SearchEngine
from housing_kb.ingest.pipeline import run_ingest

pytestmark = pytest.mark.model

#: A word no real document holds, in a note that only the rebuilt index has.
FLAG = "quokkaflagword"
NOTE = (
    f"Housing cooperatives in the {FLAG} programme pool their members' savings to buy land, and the "
    "cooperative, not the member, holds the title, so no household can be evicted for a missed payment."
)


# Own index for each test: each rebuilds it and swaps its versions.
@pytest.fixture
def settings(tmp_path: Path, corpus_dir: Path, model_settings: Settings) -> Settings:
    root = tmp_path / "corpus"
    root.mkdir()
    for lang, (first, stop) in {
        "eng": ("Article 12", "Article 14"),
        "fra": ("Article 12", "Article 14"),
    }.items():
        text = (corpus_dir / "rights_udhr_6lang" / f"udhr_{lang}.txt").read_text(encoding="utf-8")
        (root / f"udhr_{lang}.txt").write_text(text[text.find(first) : text.find(stop)], encoding="utf-8")
    (root / "note.txt").write_text(NOTE, encoding="utf-8")
    entries = [
        manifest_entry(f"udhr-{lang}", f"udhr_{lang}.txt", root, document_type="rights_text")
        for lang in ("eng", "fra")
    ]
    return model_settings.with_(
        corpus_dir=root,
        manifest_path=write_manifest(tmp_path / "manifest.yaml", entries),
        index_dir=tmp_path / "index",
    )


def _state(client: httpx.Client) -> tuple[int, int, int]:
    health = client.get("/v1/health").json()
    return health["documents"], health["passages"], health["generation"]


def test_requests_during_a_rebuild_see_one_index_and_the_next_sees_the_new(settings, e5_embedder):
    assert run_ingest(settings, embedder=e5_embedder, show_progress=False).ok
    engine = SearchEngine.open(settings, embedder=e5_embedder)
    app = create_app(settings, engine=engine)
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        old = _state(client)
        seen_states: set[tuple[int, int, int]] = set()
        flag_hits: list[list[str]] = []
        failures: list[str] = []
        stop = threading.Event()

        def reader() -> None:
            with httpx.Client(base_url=base_url, timeout=60) as own:
                while not stop.is_set():
                    r = own.get("/v1/search", params={"q": FLAG, "mode": "lexical", "k": 5})
                    if r.status_code != 200:
                        failures.append(f"search {r.status_code}: {r.text[:200]}")
                        continue
                    flag_hits.append([h["document"]["id"] for h in r.json()["hits"]])
                    h = own.get("/v1/health")
                    if h.status_code != 200:
                        failures.append(f"health {h.status_code}")
                        continue
                    body = h.json()
                    seen_states.add((body["documents"], body["passages"], body["generation"]))

        readers = [threading.Thread(target=reader) for _ in range(8)]
        for t in readers:
            t.start()
        entries = [
            manifest_entry(
                f"udhr-{lang}", f"udhr_{lang}.txt", settings.corpus_dir, document_type="rights_text"
            )
            for lang in ("eng", "fra")
        ] + [manifest_entry("coop-note", "note.txt", settings.corpus_dir, document_type="research")]
        write_manifest(settings.manifest_path, entries)
        assert run_ingest(settings, embedder=e5_embedder, rebuild=True, show_progress=False).ok

        # the first request after the rebuild returns sees the new index
        after = client.get("/v1/search", params={"q": FLAG, "mode": "lexical", "k": 5}).json()
        new = _state(client)
        stop.set()
        for t in readers:
            t.join(60)

    assert [h["document"]["id"] for h in after["hits"]] == ["coop-note"]
    assert new[0] == old[0] + 1 and new[1] > old[1]
    assert not failures, failures[:3]
    # every reader saw the old state or the new one, never a mix of the two
    assert seen_states <= {old, new}, seen_states
    assert all(ids in ([], ["coop-note"]) for ids in flag_hits), [
        i for i in flag_hits if i not in ([], ["coop-note"])
    ]
    assert len(flag_hits) > 8
    # the rebuilt index is a version beside the path, which now leads to it
    assert settings.index_dir.is_symlink() and settings.index_dir.resolve().name == "index.v1"
    assert (settings.index_dir.parent / "index.v0").is_dir()  # the version in-flight requests may hold


def test_a_rebuild_keeps_one_earlier_version_and_drops_older_ones(settings, e5_embedder):
    assert run_ingest(settings, embedder=e5_embedder, tagger=None, show_progress=False).ok
    for _ in range(3):
        assert run_ingest(settings, embedder=e5_embedder, tagger=None, rebuild=True, show_progress=False).ok
    versions = sorted(p.name for p in settings.index_dir.parent.glob("index.v*"))
    assert versions == ["index.v2", "index.v3"] and settings.index_dir.resolve().name == "index.v3"
