"""The embedding cache: every vector the index has computed, keyed by model and passage hash.

It lives in the index's SQLite file (the ``embeddings`` table of ``index/store/index_store.py``), so vectors
survive a crash, a re-chunk or a deleted document, and every FAISS file is derived from it
(``index/dense/files.py``). Keys are a passage's ``content_hash``, or ``ctx:<hash>`` for a passage
context's vector (``index/store/context.py``); a second model's rows sit beside the index model's own.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from housing_kb.index.store.context import context_key

if TYPE_CHECKING:
    from housing_kb.index.store.index_store import IndexStore

log = logging.getLogger("housing_kb.index")

#: Hashes per ``IN (...)`` query, well under SQLite's limit on bound parameters.
_CHUNK = 500


class EmbeddingCache:
    """The cache of one open :class:`~housing_kb.index.store.index_store.IndexStore`: it reads through the
    store's per-thread connection and writes in the store's transactions. ``model_id=None`` means
    the index's own model throughout."""

    def __init__(self, store: IndexStore) -> None:
        self._store = store

    def _model(self, model_id: str | None) -> str:
        return model_id or self._store.config.model_id

    def vectors(self, hashes: Sequence[str], model_id: str | None = None) -> dict[str, np.ndarray]:
        """Vectors already computed for these passage hashes by this model."""
        model = self._model(model_id)
        out: dict[str, np.ndarray] = {}
        conn = self._store._conn()
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            rows = conn.execute(
                f"SELECT content_hash, vector FROM embeddings WHERE model_id = ? "
                f"AND content_hash IN ({', '.join('?' * len(chunk))})",
                [model, *chunk],
            ).fetchall()
            for h, blob in rows:
                out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def cached(self, hashes: Sequence[str], model_id: str | None = None) -> set[str]:
        """Which of these passage hashes already have a vector from this model (vectors not read)."""
        model = self._model(model_id)
        unique = list(dict.fromkeys(hashes))
        found: set[str] = set()
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            found.update(
                r[0]
                for r in self._store._conn().execute(
                    f"SELECT content_hash FROM embeddings WHERE model_id = ? "
                    f"AND content_hash IN ({', '.join('?' * len(chunk))})",
                    [model, *chunk],
                )
            )
        return found

    def add(self, items: Sequence[tuple[str, np.ndarray]], model_id: str | None = None) -> None:
        """Store freshly computed vectors so a crash or a re-chunk never recomputes them."""
        conn = self._store._conn()
        conn.execute("BEGIN IMMEDIATE")  # not store.transaction(): no passage changes, so no new generation
        try:
            self.insert(conn, items, model_id)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def insert(
        self, conn: sqlite3.Connection, items: Sequence[tuple[str, np.ndarray]], model_id: str | None = None
    ) -> None:
        """Add vectors inside a transaction the caller holds (a document's replacement); a hash
        already cached keeps its vector."""
        model = self._model(model_id)
        conn.executemany(
            "INSERT OR IGNORE INTO embeddings (model_id, content_hash, vector) VALUES (?, ?, ?)",
            [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items],
        )

    def passage_vectors(self, model_id: str, dim: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(ids, vectors, languages) of every passage with a vector from this model, by id: what a
        dense channel is built from."""
        ids: list[np.ndarray] = []
        vectors: list[np.ndarray] = []
        languages: list[str] = []
        cur = self._store._conn().execute(
            "SELECT p.id, e.vector, p.language FROM passages p JOIN embeddings e "
            "ON e.content_hash = p.content_hash AND e.model_id = ? ORDER BY p.id",
            (model_id,),
        )
        while rows := cur.fetchmany(5000):
            ids.append(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
            vectors.append(
                np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            )
            languages.extend(r[2] for r in rows)
        all_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        all_vectors = np.vstack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
        return all_ids, all_vectors, languages

    def prune(self) -> int:
        """Drop cached vectors no passage uses any more (``housing-kb gc``); returns how many.

        Ingest keeps the vectors of deleted or re-cut passages, so that putting a document back, or
        returning to an earlier chunking, re-embeds nothing. Context vectors (``ctx:`` keys) stay
        while some passage still has that context."""
        with self._store.transaction() as conn:
            cur: sqlite3.Cursor = conn.execute(
                "DELETE FROM embeddings WHERE content_hash NOT LIKE 'ctx:%' AND NOT EXISTS "
                "(SELECT 1 FROM passages p WHERE p.content_hash = embeddings.content_hash)"
            )
            used = {context_key(text) for text in set(self._store.passage_contexts().values())}
            stale = [
                (k,)
                for (k,) in conn.execute(
                    "SELECT DISTINCT content_hash FROM embeddings WHERE content_hash LIKE 'ctx:%'"
                )
                if k not in used
            ]
            conn.executemany("DELETE FROM embeddings WHERE content_hash = ?", stale)
            return cur.rowcount + len(stale)

    def seed_from(self, other_index: Path) -> int:
        """Copy another index's cached vectors into this one's cache; returns how many were new.

        A rebuild (another chunker, a changed rule) then embeds only the passages whose text is new:
        vectors are keyed by model and text hash, so another model's rows are simply never read.
        A missing or unreadable other index seeds nothing."""
        source = Path(other_index) / "meta.sqlite"
        if not source.exists() or source.resolve() == (self._store.directory / "meta.sqlite").resolve():
            return 0
        conn = self._store._conn()
        attached = False
        try:
            conn.execute("ATTACH DATABASE ? AS seed", (str(source),))
            attached = True
            with self._store.transaction() as tx:
                cur: sqlite3.Cursor = tx.execute(
                    "INSERT OR IGNORE INTO embeddings (model_id, content_hash, vector) "
                    "SELECT model_id, content_hash, vector FROM seed.embeddings"
                )
                return max(cur.rowcount, 0)
        except sqlite3.Error as exc:
            log.warning("could not read cached vectors from %s (%s); embedding from scratch", source, exc)
            return 0
        finally:
            if attached:
                conn.execute("DETACH DATABASE seed")
