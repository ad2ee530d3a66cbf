"""Download the manifest's documents that are missing locally, verifying every byte.

Only documents with a ``url`` and no local file are downloaded. Each download streams into a
temporary file beside its target, is checked against the manifest's SHA-256, and only then is
renamed into place, so a half-written or wrong file never appears under the corpus root. A local
file whose checksum differs is reported, never overwritten. When nothing is missing no network
connection is opened at all, so the step is safe to run offline.

>>> report = fetch_missing(load_manifest(settings.manifest_path), settings.corpus_dir)  # doctest: +SKIP
>>> report.summary()                                                                     # doctest: +SKIP
'fetched 0, already present 60, failed 0, missing without url 0, present but modified 0'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from tqdm import tqdm

from housing_kb.ingest.manifest import Manifest, ManifestEntry, sha256_file

#: Connect quickly or give up; allow slow servers a while between chunks of a large PDF.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=15.0)
_CHUNK_SIZE = 1 << 16
_USER_AGENT = "housing-kb-fetch/0.1"


@dataclass(frozen=True)
class FetchProblem:
    """A document that could not be fetched or verified, with one user-facing reason.

    >>> str(FetchProblem("x-doc", "HTTP 404 from https://example.org/x.pdf"))
    'entry x-doc: HTTP 404 from https://example.org/x.pdf'
    """

    id: str
    reason: str

    def __str__(self) -> str:
        return f"entry {self.id}: {self.reason}"


@dataclass
class FetchReport:
    """What ``fetch_missing`` did, one list per outcome, each holding document ids."""

    fetched: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    failed: list[FetchProblem] = field(default_factory=list)
    #: Missing locally and the manifest gives no ``url`` to fetch it from.
    no_url_missing: list[str] = field(default_factory=list)
    #: Present locally but the checksum differs from the manifest; left untouched.
    modified: list[FetchProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every document is now present and matches its checksum."""
        return not (self.failed or self.no_url_missing or self.modified)

    def summary(self) -> str:
        """One line of counts, e.g. for a CLI."""
        return (
            f"fetched {len(self.fetched)}, already present {len(self.already_present)}, "
            f"failed {len(self.failed)}, missing without url {len(self.no_url_missing)}, "
            f"present but modified {len(self.modified)}"
        )

    def summary_lines(self) -> list[str]:
        """The counts line followed by one line per problem, ready to print."""
        return [self.summary(), *self.problem_lines()]

    def problem_lines(self) -> list[str]:
        """One line per problem, naming the entry."""
        lines = [str(p) for p in self.failed]
        lines += [f"entry {i}: missing locally and the manifest gives no url" for i in self.no_url_missing]
        lines += [f"{p} (local file left untouched)" for p in self.modified]
        return lines


def fetch_missing(
    manifest: Manifest,
    corpus_dir: Path,
    *,
    client: httpx.Client | None = None,
    progress: bool = True,
    verify_present: bool = True,
) -> FetchReport:
    """Download every document that has a ``url`` and is missing under ``corpus_dir``.

    ``client`` lets callers supply their own ``httpx.Client`` (proxies, transports in tests);
    otherwise one is opened only if something needs downloading. With ``verify_present``
    the checksums of files already present are checked too (reported, never overwritten).

    >>> fetch_missing(manifest, Path("/data/corpus"), progress=False).ok   # doctest: +SKIP
    True
    """
    report = FetchReport()
    to_fetch: list[tuple[ManifestEntry, Path]] = []
    for entry in manifest.documents:
        target = entry.resolve(corpus_dir)
        if target.is_file():
            report.already_present.append(entry.id)
            if verify_present and entry.sha256 is not None:
                actual = sha256_file(target)
                if actual != entry.sha256:
                    report.modified.append(FetchProblem(entry.id, _mismatch(entry.sha256, actual)))
        elif entry.url is None:
            report.no_url_missing.append(entry.id)
        else:
            to_fetch.append((entry, target))
    if not to_fetch:
        return report  # nothing to download: stay offline

    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(
                httpx.Client(
                    timeout=DEFAULT_TIMEOUT, follow_redirects=True, headers={"User-Agent": _USER_AGENT}
                )
            )
        for entry, target in tqdm(to_fetch, desc="fetching", unit="doc", disable=not progress):
            problem = download_verified(client, entry, target, progress=progress)
            if problem is None:
                report.fetched.append(entry.id)
            else:
                report.failed.append(FetchProblem(entry.id, problem))
    return report


def download_verified(
    client: httpx.Client, entry: ManifestEntry, target: Path, *, progress: bool
) -> str | None:
    """Stream ``entry.url`` to ``target`` through a temporary file; the reason on failure, else None.

    >>> download_verified(httpx.Client(), entry, Path("corpus/a.pdf"), progress=False)  # doctest: +SKIP
    """
    assert entry.url is not None and entry.sha256 is not None  # guaranteed by the manifest schema
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Same directory as the target, so the final rename is atomic (one filesystem).
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        return f"cannot write to {target.parent}: {exc.strerror or exc}"
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            actual = _stream_to(client, entry.url, handle, label=entry.id, progress=progress)
        if actual != entry.sha256:
            return _mismatch(entry.sha256, actual)
        os.replace(temp_path, target)
        return None
    except httpx.HTTPStatusError as exc:
        return f"HTTP {exc.response.status_code} from {entry.url}"
    except httpx.TimeoutException:
        return f"timed out downloading {entry.url}"
    except httpx.HTTPError as exc:
        return f"network error downloading {entry.url}: {exc or type(exc).__name__}"
    except OSError as exc:
        return f"cannot write {target}: {exc.strerror or exc}"
    finally:
        # After a successful rename the temp name no longer exists; otherwise remove the leftover.
        temp_path.unlink(missing_ok=True)


def _stream_to(client: httpx.Client, url: str, handle: IO[bytes], *, label: str, progress: bool) -> str:
    """Write the response body to ``handle`` chunk by chunk and return its SHA-256."""
    digest = hashlib.sha256()
    with client.stream("GET", url) as response:
        response.raise_for_status()
        total = _content_length(response)
        with tqdm(
            total=total, desc=label, unit="B", unit_scale=True, leave=False, disable=not progress
        ) as bar:
            for chunk in response.iter_bytes(_CHUNK_SIZE):
                handle.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    return digest.hexdigest()


def _content_length(response: httpx.Response) -> int | None:
    """Declared body size for the progress bar; None when absent or malformed."""
    try:
        return int(response.headers["Content-Length"]) or None
    except (KeyError, ValueError):
        return None


def _mismatch(expected: str, actual: str) -> str:
    return f"checksum mismatch (expected {expected}, got {actual})"
