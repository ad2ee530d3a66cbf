"""API keys and their roles, kept beside the index (``data/platform.sqlite``), never inside one index
version: a rebuild swaps the index, not the people allowed to use it.

A key is shown once, when it is made. The store keeps its public id, its name, its role, a random salt
and the SHA-256 of salt and secret. The secret is 256 random bits, so there is no dictionary to slow
an attacker down against and a plain salted hash is as strong as a stretched one, at a cost per
request a stretched hash would not allow.

>>> import tempfile, pathlib
>>> keys = KeyStore(pathlib.Path(tempfile.mkdtemp()) / "platform.sqlite")
>>> made = keys.create(role="editor", name="Nairobi desk", by="cli")
>>> keys.verify(made.secret).role
'editor'
>>> keys.revoke(made.key.key_id, by="cli")
True
>>> keys.verify(made.secret) is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

Role = Literal["reader", "contributor", "editor", "admin"]
#: Each role can do what the roles before it can.
ROLES: tuple[Role, ...] = get_args(Role)
KEY_PREFIX = "hkb_"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id     TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    salt       BLOB NOT NULL,
    digest     BLOB NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS audit_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def role_allows(role: str, needed: Role) -> bool:
    """Whether a key of ``role`` may do what needs ``needed``.

    >>> role_allows("admin", "editor"), role_allows("contributor", "editor")
    (True, False)
    """
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)  # type: ignore[arg-type]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    created_at: str
    created_by: str
    revoked_at: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names whoever used this key."""
        return f"key:{self.key_id} ({self.name})"


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    #: The whole key to send as ``Authorization: Bearer ...``; it is not stored and cannot be shown again.
    secret: str


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    target: str
    details: str


class KeyStore:
    """The keys table and the append-only audit log of ``platform.sqlite``."""

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
            with db:  # one transaction: committed on success, rolled back on error
                yield db
        finally:
            db.close()

    def create(self, *, role: str, name: str, by: str) -> NewKey:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)} (got {role!r})")
        name = name.strip()
        if not name or len(name) > 100:
            raise ValueError("name must be 1 to 100 characters: who or what the key is for")
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        salt = secrets.token_bytes(16)
        key = ApiKey(key_id, name, role, _now(), by)  # type: ignore[arg-type]
        with self._connect() as db:
            db.execute(
                "INSERT INTO api_keys (key_id, name, role, salt, digest, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key_id, name, role, salt, _digest(salt, secret), key.created_at, by),
            )
            self._audit(db, by, "key.create", key_id, f"role={role} name={name}")
        return NewKey(key, secret)

    def verify(self, secret: str) -> ApiKey | None:
        """The live key this secret belongs to, or None (unknown, malformed or revoked)."""
        if not secret.startswith(KEY_PREFIX):
            return None
        key_id = secret[len(KEY_PREFIX) :].split("_", 1)[0]
        with self._connect() as db:
            row = db.execute(
                "SELECT key_id, name, role, created_at, created_by, revoked_at, salt, digest"
                " FROM api_keys WHERE key_id = ?",
                (key_id,),
            ).fetchone()
        if row is None or row[5] is not None:
            return None
        if not hmac.compare_digest(_digest(row[6], secret), row[7]):
            return None
        return ApiKey(*row[:6])

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        sql = "SELECT key_id, name, role, created_at, created_by, revoked_at FROM api_keys"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        with self._connect() as db:
            return [ApiKey(*row) for row in db.execute(sql + " ORDER BY created_at, key_id")]

    def revoke(self, key_id: str, *, by: str) -> bool:
        """Revoke a key by its public id; False when there is no live key with that id."""
        with self._connect() as db:
            changed = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (_now(), key_id)
            ).rowcount
            if changed:
                self._audit(db, by, "key.revoke", key_id)
        return bool(changed)

    def audit(self, actor: str, action: str, target: str, details: str = "") -> None:
        with self._connect() as db:
            self._audit(db, actor, action, target, details)

    @staticmethod
    def _audit(db: sqlite3.Connection, actor: str, action: str, target: str, details: str = "") -> None:
        db.execute(
            "INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)",
            (_now(), actor, action, target, details),
        )

    def audit_entries(self, *, limit: int = 100, offset: int = 0) -> tuple[int, list[AuditEntry]]:
        """The newest entries first, and how many there are in all."""
        with self._connect() as db:
            total = db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
            rows = db.execute(
                "SELECT seq, at, actor, action, target, details FROM audit_log ORDER BY seq DESC"
                " LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return total, [AuditEntry(*r) for r in rows]
