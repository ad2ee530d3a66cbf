"""fetch_missing against a real HTTP server on 127.0.0.1 serving a few small files."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from housing_kb.ingest.fetch import fetch_missing
from housing_kb.ingest.manifest import Manifest, ManifestEntry

GOOD = b"Everyone has the right to adequate housing.\n"
OTHER = b"Toda persona tiene derecho a una vivienda adecuada.\n"


class _Server:
    """Where the test server lives and which paths it was asked for."""

    def __init__(self, base_url: str, requests: list[str]) -> None:
        self.base_url = base_url
        self.requests = requests


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    served = tmp_path / "served"
    served.mkdir()
    (served / "good.txt").write_bytes(GOOD)
    (served / "other doc.txt").write_bytes(OTHER)
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield _Server(f"http://127.0.0.1:{httpd.server_address[1]}", requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _entry(doc_id: str, *, path: str | None, url: str | None, data: bytes) -> ManifestEntry:
    return ManifestEntry(
        id=doc_id,
        path=path,
        url=url,
        sha256=hashlib.sha256(data).hexdigest(),
        title=doc_id,
        document_type="rights_text",
        regions=["global"],
    )


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*.part"))


def test_downloads_a_missing_document_and_verifies_it(server: _Server, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    manifest = Manifest(
        documents=[
            _entry("udhr-en", path="rights/udhr_en.txt", url=f"{server.base_url}/good.txt", data=GOOD),
            # Space in the served name: the manifest carries it percent-encoded, as real URLs must.
            _entry("udhr-es", path=None, url=f"{server.base_url}/other%20doc.txt", data=OTHER),
        ]
    )
    report = fetch_missing(manifest, corpus, progress=False)
    assert report.fetched == ["udhr-en", "udhr-es"]
    assert report.ok and report.failed == []
    assert (corpus / "rights" / "udhr_en.txt").read_bytes() == GOOD
    assert (corpus / "downloads" / "udhr-es.txt").read_bytes() == OTHER
    assert _leftovers(corpus) == []


def test_wrong_checksum_is_reported_and_leaves_no_file(server: _Server, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    entry = _entry(
        "tampered", path="t/tampered.txt", url=f"{server.base_url}/good.txt", data=b"something else"
    )
    report = fetch_missing(Manifest(documents=[entry]), corpus, progress=False)
    assert report.fetched == []
    [problem] = report.failed
    actual = hashlib.sha256(GOOD).hexdigest()
    assert str(problem) == f"entry tampered: checksum mismatch (expected {entry.sha256}, got {actual})"
    assert not (corpus / "t" / "tampered.txt").exists()
    assert _leftovers(corpus) == []
    assert not report.ok


def test_http_404_is_reported_and_the_rest_continue(server: _Server, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    manifest = Manifest(
        documents=[
            _entry("gone", path="a/gone.txt", url=f"{server.base_url}/gone.txt", data=GOOD),
            _entry("here", path="a/here.txt", url=f"{server.base_url}/good.txt", data=GOOD),
        ]
    )
    report = fetch_missing(manifest, corpus, progress=False)
    assert [str(p) for p in report.failed] == [f"entry gone: HTTP 404 from {server.base_url}/gone.txt"]
    assert report.fetched == ["here"]
    assert not (corpus / "a" / "gone.txt").exists()
    assert _leftovers(corpus) == []


def test_present_files_are_not_downloaded_again(server: _Server, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "a").mkdir(parents=True)
    (corpus / "a" / "good.txt").write_bytes(GOOD)
    entry = _entry("present", path="a/good.txt", url=f"{server.base_url}/good.txt", data=GOOD)
    report = fetch_missing(Manifest(documents=[entry]), corpus, progress=False)
    assert report.already_present == ["present"] and report.fetched == []
    assert report.ok
    assert server.requests == []


def test_offline_when_everything_is_present(tmp_path: Path) -> None:
    # The url points at a closed port: any connection attempt would show up as a failure.
    corpus = tmp_path / "corpus"
    (corpus / "a").mkdir(parents=True)
    (corpus / "a" / "good.txt").write_bytes(GOOD)
    entry = _entry("present", path="a/good.txt", url=f"http://127.0.0.1:{_closed_port()}/x", data=GOOD)
    report = fetch_missing(Manifest(documents=[entry]), corpus, progress=False)
    assert report.ok and report.already_present == ["present"]


def test_modified_local_file_is_reported_not_overwritten(server: _Server, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "a").mkdir(parents=True)
    (corpus / "a" / "good.txt").write_bytes(b"edited locally")
    entry = _entry("edited", path="a/good.txt", url=f"{server.base_url}/good.txt", data=GOOD)
    report = fetch_missing(Manifest(documents=[entry]), corpus, progress=False)
    [problem] = report.modified
    assert problem.id == "edited" and "checksum mismatch" in problem.reason
    assert (corpus / "a" / "good.txt").read_bytes() == b"edited locally"
    assert server.requests == []
    assert "local file left untouched" in report.problem_lines()[0]


def test_missing_without_url_and_unreachable_server(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    url = f"http://127.0.0.1:{_closed_port()}/x.txt"
    manifest = Manifest(
        documents=[
            ManifestEntry(
                id="local-only", path="a/x.md", title="x", document_type="other", regions=["global"]
            ),
            _entry("unreachable", path="a/y.txt", url=url, data=GOOD),
        ]
    )
    report = fetch_missing(manifest, corpus, progress=False)
    assert report.no_url_missing == ["local-only"]
    [problem] = report.failed
    assert problem.id == "unreachable" and problem.reason.startswith(f"network error downloading {url}")
    lines = report.summary_lines()
    assert lines[0] == "fetched 0, already present 0, failed 1, missing without url 1, present but modified 0"
    assert lines[1].startswith("entry unreachable: network error")
    assert lines[2] == "entry local-only: missing locally and the manifest gives no url"


def _closed_port() -> int:
    """A local port that nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
