"""Contributions and their jobs, kept in ``platform.sqlite`` beside the index.

A submission is one contribution (the document: its file, metadata and contact) and one job, whose
state is what ``GET /v1/jobs/{id}`` reports:

    queued -> extracting -> embedding -> review -> publishing -> published
                                           |-> rejected          (an editor's note)
    any step -> failed                                           (a reason in the user's terms)

An editor's "unpublish" takes a published job back to review; "delete" is a job of its own
(queued -> deleting -> deleted), and so is an admin's re-index of the whole collection, "rebuild"
or "update" (queued -> reindexing -> reindexed), whose document is COLLECTION. The worker (api/worker.py) claims the jobs in the active states.
A claim carries the worker's host and process id and a heartbeat, so the job of a worker that was
killed is taken up again by the next one (from the start of its step: each step is idempotent).

>>> import tempfile, pathlib
>>> store = ContributionStore(pathlib.Path(tempfile.mkdtemp()) / "platform.sqlite")
>>> job = store.submit(document_id="ke-settlement-note", sha256="ab" * 32, path="uploads/x.md",
...     filename="note.md", metadata={"title": "Note"}, contact={}, submitted_by="cli")
>>> store.job(job.job_id).state
'queued'
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from housing_kb.ingest.manifest import Manifest, ManifestEntry, load_manifest

JobState = Literal[
    "queued",
    "extracting",
    "embedding",
    "review",
    "publishing",
    "published",
    "unpublishing",
    "rejected",
    "failed",
    "deleting",
    "deleted",
    "reindexing",
    "reindexed",
]
JobAction = Literal["submit", "delete", "rebuild", "update"]
#: States a worker acts on; the rest wait for an editor (review) or are final.
ACTIVE: tuple[JobState, ...] = (
    "queued",
    "extracting",
    "embedding",
    "publishing",
    "unpublishing",
    "deleting",
    "reindexing",
)
#: The document of a re-index job: all of them.
COLLECTION = "*"
#: A claim whose heartbeat is older than this is abandoned (its worker died on another host).
STALE_AFTER_S = 60.0
#: Claims of one job before it fails: a document that kills its worker every time must stop somewhere.
MAX_ATTEMPTS = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS contributions (
    document_id  TEXT PRIMARY KEY,
    sha256       TEXT NOT NULL UNIQUE,
    path         TEXT NOT NULL,
    filename     TEXT NOT NULL,
    metadata     TEXT NOT NULL,
    contact      TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    job_id       TEXT NOT NULL,
    review       TEXT,
    note         TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id       TEXT PRIMARY KEY,
    document_id  TEXT NOT NULL,
    action       TEXT NOT NULL,
    state        TEXT NOT NULL,
    reason       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    claimed_by   TEXT,
    heartbeat    REAL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def worker_name() -> str:
    """How a claim names its worker: ``host:pid/thread``."""
    return f"{socket.gethostname()}:{os.getpid()}/{threading.get_ident() % 100_000}"


def _claimant_is_dead(claimed_by: str | None) -> bool:
    """True for a claim by a process of this host that no longer runs."""
    if not claimed_by:
        return True
    host, _, pid = claimed_by.split("/")[0].rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class Job:
    job_id: str
    document_id: str
    action: JobAction
    state: JobState
    reason: str | None
    attempts: int
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Contribution:
    document_id: str
    sha256: str
    path: str
    filename: str
    metadata: dict[str, Any]
    contact: dict[str, Any]
    submitted_by: str
    submitted_at: str
    job_id: str
    review: dict[str, Any] | None
    note: str | None
    state: JobState

    def manifest_fields(self) -> dict[str, Any]:
        """The manifest entry this contribution is: its metadata, its id, stored path and checksum."""
        return {"id": self.document_id, **self.metadata, "path": self.path, "sha256": self.sha256}


_JOB_COLUMNS = "job_id, document_id, action, state, reason, attempts, created_at, updated_at"
_CONTRIBUTION_COLUMNS = (
    "c.document_id, c.sha256, c.path, c.filename, c.metadata, c.contact, c.submitted_by, c.submitted_at,"
    " c.job_id, c.review, c.note, j.state"
)


def _contribution(row: tuple) -> Contribution:
    values = list(row)
    values[4] = json.loads(values[4])
    values[5] = json.loads(values[5])
    values[9] = json.loads(values[9]) if values[9] else None
    return Contribution(*values)


def published_entries(store: ContributionStore) -> list[ManifestEntry]:
    """The published contributions as manifest entries: with the corpus manifest, the live collection."""
    return [ManifestEntry(**c.manifest_fields()) for c in store.in_state("published", "unpublishing")]


def collection_manifest(manifest_path: Path, platform_db: Path) -> Manifest:
    """The corpus manifest (a bad entry fails alone, listed as rejected) with the published
    contributions: what an ingest of the whole collection reads, so it never deletes a contribution."""
    declared = load_manifest(manifest_path, strict=False)
    if not platform_db.exists():
        return declared
    contributed = published_entries(ContributionStore(platform_db))
    return Manifest(documents=[*declared.documents, *contributed], rejected=declared.rejected)


class ContributionStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                yield db
        finally:
            db.close()

    # ------------------------------------------------------------------ submissions
    def submit(
        self,
        *,
        document_id: str,
        sha256: str,
        path: str,
        filename: str,
        metadata: dict[str, Any],
        contact: dict[str, Any],
        submitted_by: str,
    ) -> Job:
        job_id = "job-" + secrets.token_hex(8)
        now = _now()
        with self._connect() as db:
            db.execute(
                "INSERT INTO contributions (document_id, sha256, path, filename, metadata, contact,"
                " submitted_by, submitted_at, job_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    document_id,
                    sha256,
                    path,
                    filename,
                    json.dumps(metadata, ensure_ascii=False),
                    json.dumps(contact, ensure_ascii=False),
                    submitted_by,
                    now,
                    job_id,
                ),
            )
            db.execute(
                "INSERT INTO jobs (job_id, document_id, action, state, created_at, updated_at)"
                " VALUES (?, ?, 'submit', 'queued', ?, ?)",
                (job_id, document_id, now, now),
            )
        return self.job(job_id)  # type: ignore[return-value]

    def by_sha256(self, sha256: str) -> Contribution | None:
        return self._one("c.sha256 = ?", sha256)

    def get(self, document_id: str) -> Contribution | None:
        return self._one("c.document_id = ?", document_id)

    def _one(self, where: str, value: str) -> Contribution | None:
        with self._connect() as db:
            row = db.execute(
                f"SELECT {_CONTRIBUTION_COLUMNS} FROM contributions c JOIN jobs j ON j.job_id = c.job_id"
                f" WHERE {where}",
                (value,),
            ).fetchone()
        return _contribution(row) if row else None

    def in_state(self, *states: JobState) -> list[Contribution]:
        marks = ", ".join("?" * len(states))
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {_CONTRIBUTION_COLUMNS} FROM contributions c JOIN jobs j ON j.job_id = c.job_id"
                f" WHERE j.state IN ({marks}) ORDER BY c.submitted_at, c.document_id",
                states,
            ).fetchall()
        return [_contribution(r) for r in rows]

    def set_review(self, document_id: str, review: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE contributions SET review = ? WHERE document_id = ?",
                (json.dumps(review, ensure_ascii=False), document_id),
            )

    def set_metadata(self, document_id: str, metadata: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE contributions SET metadata = ? WHERE document_id = ?",
                (json.dumps(metadata, ensure_ascii=False), document_id),
            )

    def set_note(self, document_id: str, note: str | None) -> None:
        with self._connect() as db:
            db.execute("UPDATE contributions SET note = ? WHERE document_id = ?", (note, document_id))

    def remove(self, document_id: str) -> None:
        """Forget a deleted contribution (its jobs stay, so their state can still be asked for)."""
        with self._connect() as db:
            db.execute("DELETE FROM contributions WHERE document_id = ?", (document_id,))

    # ------------------------------------------------------------------ jobs
    def job(self, job_id: str) -> Job | None:
        with self._connect() as db:
            row = db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return Job(*row) if row else None

    def open_job(self, *actions: JobAction) -> Job | None:
        """The oldest job of these actions that is not finished yet."""
        with self._connect() as db:
            row = db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE action IN ({', '.join('?' * len(actions))})"
                f" AND state IN ({', '.join('?' * len(ACTIVE))}) ORDER BY created_at LIMIT 1",
                [*actions, *ACTIVE],
            ).fetchone()
        return Job(*row) if row else None

    def new_job(self, document_id: str, action: JobAction) -> Job:
        job_id = "job-" + secrets.token_hex(8)
        now = _now()
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (job_id, document_id, action, state, created_at, updated_at)"
                " VALUES (?, ?, ?, 'queued', ?, ?)",
                (job_id, document_id, action, now, now),
            )
        return self.job(job_id)  # type: ignore[return-value]

    def move(
        self, job_id: str, state: JobState, *, reason: str | None = None, expect: tuple[str, ...] = ()
    ) -> bool:
        """Set a job's state (and release its claim when the state needs no worker); with ``expect``,
        only from one of those states. False when the job was not in them."""
        release = state not in ACTIVE
        sql = "UPDATE jobs SET state = ?, reason = ?, updated_at = ?"
        if release:
            sql += ", claimed_by = NULL, heartbeat = NULL, attempts = 0"
        sql += " WHERE job_id = ?"
        params: list[Any] = [state, reason, _now(), job_id]
        if expect:
            sql += f" AND state IN ({', '.join('?' * len(expect))})"
            params += list(expect)
        with self._connect() as db:
            return db.execute(sql, params).rowcount == 1

    def request(self, job_id: str, state: JobState, *, expect: tuple[str, ...]) -> bool:
        """An editor's request for the worker (publishing, unpublishing): unclaimed, from ``expect`` only."""
        with self._connect() as db:
            return (
                db.execute(
                    f"UPDATE jobs SET state = ?, reason = NULL, claimed_by = NULL, heartbeat = NULL, attempts = 0,"
                    f" updated_at = ? WHERE job_id = ? AND state IN ({', '.join('?' * len(expect))})",
                    [state, _now(), job_id, *expect],
                ).rowcount
                == 1
            )

    def claim(self, worker: str, *, stale_after: float = STALE_AFTER_S) -> Job | None:
        """The oldest active job nobody works on (or whose worker is gone), now claimed by ``worker``.

        A job claimed MAX_ATTEMPTS times without finishing fails instead, naming its step."""
        now = time.time()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # one claimant at a time across processes
            rows = db.execute(
                f"SELECT {_JOB_COLUMNS}, claimed_by, heartbeat FROM jobs WHERE state IN ({', '.join('?' * len(ACTIVE))})"
                " ORDER BY created_at, job_id",
                ACTIVE,
            ).fetchall()
            for row in rows:
                job, claimed_by, heartbeat = Job(*row[:8]), row[8], row[9]
                free = (
                    claimed_by is None
                    or _claimant_is_dead(claimed_by)
                    or now - (heartbeat or 0) > stale_after
                )
                if not free:
                    continue
                if job.attempts >= MAX_ATTEMPTS:
                    db.execute(
                        "UPDATE jobs SET state = 'failed', reason = ?, claimed_by = NULL, updated_at = ?"
                        " WHERE job_id = ?",
                        (
                            f"the worker stopped {job.attempts} times while {job.state}; see its log",
                            _now(),
                            job.job_id,
                        ),
                    )
                    continue
                db.execute(
                    "UPDATE jobs SET claimed_by = ?, heartbeat = ?, attempts = attempts + 1 WHERE job_id = ?",
                    (worker, now, job.job_id),
                )
                return job
        return None

    def heartbeat(self, job_id: str, worker: str) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET heartbeat = ? WHERE job_id = ? AND claimed_by = ?",
                (time.time(), job_id, worker),
            )

    def release(self, job_id: str, worker: str) -> None:
        """Give a claimed job back untouched (its worker is stopping, or the index is busy)."""
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET claimed_by = NULL, heartbeat = NULL, attempts = MAX(attempts - 1, 0)"
                " WHERE job_id = ? AND claimed_by = ?",
                (job_id, worker),
            )
