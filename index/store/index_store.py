"""The persistent index: SQLite metadata and embedding cache, plus FAISS files derived from them.

Layout of an index directory::

    index.json            model id, dimension, chunker configuration, schema version
    meta.sqlite           documents, page texts, passages, tags, embedding cache (WAL mode)
    vectors.<gen>.faiss   IndexIDMap2 over passage ids, for generation <gen>: a flat inner-product
                          index, or from 50k passages an HNSW graph (exact flat storage kept)
    vectors2.<gen>.faiss  the same for the second dense channel, when there is one
    lexical/              BM25 channel (see index/lexical/bm25.py)

This module holds the SQLite side: the schema, transactions, documents, pages, passages, tags, state
and country data. Beside it: ``index/store/records.py`` turns rows into records, ``index/store/embedding_cache.py``
is the ``embeddings`` table (``store.embeddings``), and ``index/dense/files.py`` manages the FAISS
files behind :meth:`IndexStore.dense_channel`.

Why this shape (PITFALLS 2, 3, 4, 10):
- SQLite is the single source of truth. Each document is replaced in one transaction, so a run
  killed at any point leaves every committed document intact and never a half-written one.
- Vectors live in SQLite too (the embedding cache, keyed by model and passage hash), so the FAISS
  file is only a derived artefact. It carries the generation it was built from in its file name;
  when it is missing or stale (a crash between a commit and the FAISS write) it is rebuilt from
  SQLite on open. Passage ids are SQLite AUTOINCREMENT rowids: stable, never reused, so
  ``remove_ids`` never shifts anything.
- ``index.json`` stamps the model and chunker; opening with another configuration is refused.

We do not use llama-index's ``VectorStoreIndex``/``FaissVectorStore`` here: its FAISS store has no
deletes by document, persists the whole docstore as one JSON blob, and ignores metadata filters
(llama_index #14982, #6250) — exactly the failures this module exists to avoid.

>>> store = IndexStore.open(Path("data/index"), IndexConfig("e5", 384, {"v": 1}))  # doctest: +SKIP
>>> store.stats()["passages"]                                                       # doctest: +SKIP
9132
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from housing_kb.files import atomic_write_bytes
from housing_kb.index.dense.files import DenseFiles, language_neutral
from housing_kb.index.dense.language_neutral import project_out
from housing_kb.index.store.context import passage_context
from housing_kb.index.store.embedding_cache import EmbeddingCache
from housing_kb.index.store.records import (
    DOCUMENT_FIELDS,
    document_from_row,
    document_values,
    page_from_row,
    passage_fields,
    passage_from_row,
    to_json,
)
from housing_kb.schema.indicators import IndicatorData, Observation
from housing_kb.schema.records import DocumentRecord, Page, Passage, PassageRecord, PassageTagsRecord

if TYPE_CHECKING:
    from housing_kb.index.adapters.faiss_vectors import FaissVectorIndex

SCHEMA_VERSION = 1
#: State key recording which passage-type detectors (ingest/passage_kinds.py) set the stored kinds.
KINDS_STATE_KEY = "passage_kinds"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    path TEXT, url TEXT, source_url TEXT,
    title TEXT NOT NULL,
    document_type TEXT NOT NULL,
    countries TEXT NOT NULL DEFAULT '[]',
    regions TEXT NOT NULL DEFAULT '[]',
    language TEXT, year INTEGER, publisher TEXT, licence TEXT,
    sha256 TEXT NOT NULL,
    pipeline_key TEXT NOT NULL,
    n_pages INTEGER NOT NULL DEFAULT 0,
    empty_pages TEXT NOT NULL DEFAULT '[]',
    warnings TEXT NOT NULL DEFAULT '[]',
    tag_summary TEXT NOT NULL DEFAULT '{}',
    ingested_at REAL NOT NULL,
    work_id TEXT
);
CREATE TABLE IF NOT EXISTS pages (
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    page_no INTEGER,
    text TEXT NOT NULL,
    empty INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (doc_id, seq)
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    passage_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    language TEXT NOT NULL,
    page_start INTEGER, page_end INTEGER,
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
    paragraphs TEXT NOT NULL DEFAULT '[]',
    heading_path TEXT NOT NULL DEFAULT '[]',
    token_count INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT NOT NULL,
    components TEXT NOT NULL DEFAULT '[]',
    countries TEXT NOT NULL DEFAULT '[]',
    regions TEXT NOT NULL DEFAULT '[]',
    component_scores TEXT NOT NULL DEFAULT '{}',
    tags_version TEXT,
    stages TEXT NOT NULL DEFAULT '[]',
    stage_scores TEXT NOT NULL DEFAULT '{}',
    kind TEXT NOT NULL DEFAULT 'body',
    articles TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id, ordinal);
CREATE TABLE IF NOT EXISTS embeddings (
    model_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, content_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS indicator_imports (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    retrieved TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    imported_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS indicator_values (
    series TEXT NOT NULL,
    area INTEGER NOT NULL,
    location TEXT NOT NULL,
    year INTEGER NOT NULL,
    value REAL NOT NULL,
    text TEXT NOT NULL,
    nature TEXT NOT NULL,
    import_id INTEGER NOT NULL REFERENCES indicator_imports(id),
    PRIMARY KEY (series, area, location, year)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS indicator_areas (area INTEGER PRIMARY KEY, name TEXT NOT NULL);
"""

#: Columns added after the first schema, with their definitions: added in place by a writable open.
_ADDED_COLUMNS = {
    "documents": {"work_id": "TEXT"},
    "passages": {
        "stages": "TEXT NOT NULL DEFAULT '[]'",
        "stage_scores": "TEXT NOT NULL DEFAULT '{}'",
        "kind": "TEXT NOT NULL DEFAULT 'body'",
        "articles": "TEXT NOT NULL DEFAULT '[]'",
    },
}


class IndexError_(Exception):
    """Base class for index problems; the message is meant for the user."""


class IndexConfigMismatch(IndexError_):
    """The index on disk was built with another model or configuration."""


class IndexNotFound(IndexError_):
    """No index at the given directory."""


@dataclass(frozen=True)
class IndexConfig:
    """What an index is built with. Two indexes are compatible only when these are equal."""

    model_id: str
    dim: int
    chunker: dict[str, Any]
    schema_version: int = SCHEMA_VERSION

    def differences(self, other: IndexConfig) -> list[str]:
        out = []
        for name in ("schema_version", "model_id", "dim", "chunker"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name}: index has {theirs!r}, configuration asks for {mine!r}")
        return out


class IndexStore:
    """An open index directory. Open with :meth:`open`; use one instance per process.

    Reads are safe from several threads (each thread gets its own SQLite connection); writes
    happen from the ingesting process only.
    """

    def __init__(self, directory: Path, config: IndexConfig, *, readonly: bool) -> None:
        #: The path the index was opened by (``data/index``: a symlink to its current version after
        #: a rebuild), and the real directory behind it, which this instance reads and writes for
        #: good. A rebuild points the path at a new version; readers of the old one are unaffected
        #: (see :meth:`is_current`).
        self.location = Path(directory)
        self.directory = self.location.resolve()
        self.config = config
        self.readonly = readonly
        self._local = threading.local()
        #: Vectors by model and passage hash, in this store's SQLite file.
        self.embeddings = EmbeddingCache(self)
        self._dense = DenseFiles(self)
        #: Whether the e5 channel's vectors (and its queries) are made language-neutral; from
        #: HOUSING_KB_LANGUAGE_NEUTRAL. The evaluation flips it to measure the difference.
        self.language_neutral = language_neutral()

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        directory: Path,
        expected: IndexConfig | None = None,
        *,
        readonly: bool = False,
        create: bool = True,
    ) -> IndexStore:
        """Open (or create) the index at ``directory``.

        ``expected`` is the configuration the caller will write or query with; an index built
        with anything else is refused with :class:`IndexConfigMismatch`. ``expected=None``
        opens whatever is there (for stats and read-only tools).
        """
        location = Path(directory)
        directory = location.resolve()  # one version of the index for this instance's whole life
        manifest = directory / "index.json"
        if manifest.exists():
            try:
                raw = json.loads(manifest.read_text(encoding="utf-8"))
                on_disk = IndexConfig(
                    model_id=raw["model_id"],
                    dim=int(raw["dim"]),
                    chunker=raw["chunker"],
                    schema_version=int(raw["schema_version"]),
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise IndexError_(f"{manifest}: unreadable index manifest ({exc})") from None
            if expected is not None:
                diffs = expected.differences(on_disk)
                if diffs:
                    raise IndexConfigMismatch(
                        f"The index at {directory} was built with a different configuration and "
                        "will not be mixed:\n  - "
                        + "\n  - ".join(diffs)
                        + "\nUse another --index directory, or rebuild it with `housing-kb ingest --rebuild`."
                    )
            config = on_disk
        else:
            if readonly or not create or expected is None:
                raise IndexNotFound(
                    f"No index at {location}. Build one with `housing-kb ingest` "
                    "(or point --index / HOUSING_KB_INDEX at an existing one)."
                )
            directory.mkdir(parents=True, exist_ok=True)
            config = expected
            payload = asdict(config) | {"created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            atomic_write_bytes(manifest, json.dumps(payload, indent=2, ensure_ascii=False).encode())
        store = cls(directory, config, readonly=readonly)
        store.location = location
        if not readonly:
            with store._conn() as conn:
                conn.executescript(_SCHEMA)
                conn.execute("INSERT OR IGNORE INTO state(key, value) VALUES ('generation', '0')")
                for table, columns in _ADDED_COLUMNS.items():
                    have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                    for name, definition in columns.items():
                        if name not in have:
                            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")
        elif (directory / "meta.sqlite").exists():
            lacking = []
            for table, columns in _ADDED_COLUMNS.items():
                have = {r[1] for r in store._conn().execute(f"PRAGMA table_info({table})")}
                lacking += [c for c in columns if have and c not in have]
            if lacking:
                raise IndexError_(
                    f"The index at {location} is from an older housing-kb (no {', '.join(lacking)}); "
                    "run `housing-kb ingest` once to upgrade it (nothing is re-embedded)."
                )
        return store

    def is_current(self) -> bool:
        """False once ``location`` leads to another index (``ingest --rebuild`` swapped it in)."""
        try:
            return self.location.resolve(strict=True) == self.directory
        except OSError:
            return True  # mid-swap, or gone: keep serving what this instance has open

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            path = self.directory / "meta.sqlite"
            if self.readonly:
                if not path.exists():
                    raise IndexNotFound(f"No index database at {path}. Run `housing-kb ingest` first.")
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            else:
                conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all."""
        if self.readonly:
            raise IndexError_("this index was opened read-only")
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("UPDATE state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ state
    @property
    def generation(self) -> int:
        row = self._conn().execute("SELECT value FROM state WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def get_state(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str) -> None:
        self._conn().execute(
            "INSERT INTO state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # ------------------------------------------------------------------ country data (SDG series)
    def import_indicators(self, data: IndicatorData) -> int:
        """Store an export in one transaction: each (series, area) it holds replaces the stored values of
        that series for that area; everything else stays. Returns the import's id (each value keeps it,
        so every figure can name its own source and retrieval date)."""
        with self.transaction() as conn:
            import_id = _inserted_id(
                conn.execute(
                    "INSERT INTO indicator_imports(source, retrieved, sha256, imported_at) VALUES (?, ?, ?, ?)",
                    (data.source, data.retrieved, data.sha256, time.time()),
                )
            )
            pairs = sorted({(o.series, o.area) for o in data.observations})
            conn.executemany("DELETE FROM indicator_values WHERE series = ? AND area = ?", pairs)
            conn.executemany(
                "INSERT INTO indicator_values VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (o.series, o.area, o.location, o.year, o.value, o.text, o.nature, import_id)
                    for o in data.observations
                ],
            )
            conn.executemany("INSERT OR REPLACE INTO indicator_areas VALUES (?, ?)", data.areas.items())
        return import_id

    def copy_indicators_from(self, other: IndexStore) -> int:
        """Copy another index's country data as it is (imports, values, area names); returns the values."""
        imports, observations, areas = (
            other.indicator_imports(),
            other.indicator_observations(),
            other.indicator_areas(),
        )
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO indicator_imports(id, source, retrieved, sha256, imported_at) VALUES (?, ?, ?, ?, ?)",
                [(i, m["source"], m["retrieved"], m["sha256"], m["imported_at"]) for i, m in imports.items()],
            )
            conn.executemany(
                "INSERT INTO indicator_values VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (o.series, o.area, o.location, o.year, o.value, o.text, o.nature, o.import_id)
                    for o in observations
                ],
            )
            conn.executemany("INSERT OR REPLACE INTO indicator_areas VALUES (?, ?)", areas.items())
        return len(observations)

    def indicator_observations(self) -> list[Observation]:
        """Every stored value; none in an index written before country data existed."""
        if not self._has_table("indicator_values"):
            return []
        rows = self._conn().execute(
            "SELECT series, area, location, year, value, text, nature, import_id FROM indicator_values"
        )
        return [Observation(*r) for r in rows]

    def indicator_imports(self) -> dict[int, dict[str, Any]]:
        """Every import still stored: its source line, retrieval date, file checksum and time."""
        if not self._has_table("indicator_imports"):
            return {}
        rows = self._conn().execute(
            "SELECT id, source, retrieved, sha256, imported_at FROM indicator_imports"
        )
        return {
            int(r["id"]): {
                "source": r["source"],
                "retrieved": r["retrieved"],
                "sha256": r["sha256"],
                "imported_at": r["imported_at"],
            }
            for r in rows
        }

    def indicator_areas(self) -> dict[int, str]:
        if not self._has_table("indicator_areas"):
            return {}
        return {int(a): n for a, n in self._conn().execute("SELECT area, name FROM indicator_areas")}

    def _has_table(self, name: str) -> bool:
        row = (
            self._conn()
            .execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
            .fetchone()
        )
        return row is not None

    # ------------------------------------------------------------------ documents
    def document(self, doc_id: str) -> DocumentRecord | None:
        row = self._conn().execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return document_from_row(row) if row else None

    def documents(self) -> list[DocumentRecord]:
        rows = self._conn().execute("SELECT * FROM documents ORDER BY doc_id").fetchall()
        return [document_from_row(r) for r in rows]

    def document_ids(self) -> set[str]:
        return {r[0] for r in self._conn().execute("SELECT doc_id FROM documents")}

    def pages(self, doc_id: str) -> list[Page]:
        rows = (
            self._conn()
            .execute("SELECT page_no, text, empty FROM pages WHERE doc_id = ? ORDER BY seq", (doc_id,))
            .fetchall()
        )
        return [page_from_row(r) for r in rows]

    def replace_document(
        self,
        record: DocumentRecord,
        pages: Sequence[Page],
        passages: Sequence[Passage],
        vectors: np.ndarray,
        tags: Sequence[PassageTagsRecord] | None = None,
        tags_version: str | None = None,
    ) -> list[int]:
        """Atomically replace a document, its pages, passages, tags and vectors. Returns new ids."""
        if len(passages) != len(vectors):
            raise ValueError("one vector per passage is required")
        if tags is not None and len(tags) != len(passages):
            raise ValueError("one tag record per passage is required")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(passages) and vectors.shape[1] != self.config.dim:
            raise IndexConfigMismatch(
                f"vector dimension {vectors.shape[1]} does not match the index ({self.config.dim})"
            )
        new_ids: list[int] = []
        with self.transaction() as conn:
            conn.execute("DELETE FROM documents WHERE doc_id = ?", (record.doc_id,))
            cols = [f.name for f in fields(record)]
            conn.execute(
                f"INSERT INTO documents ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                document_values(record, cols),
            )
            conn.executemany(
                "INSERT INTO pages (doc_id, seq, page_no, text, empty) VALUES (?, ?, ?, ?, ?)",
                [(record.doc_id, i, p.number, p.text, int(p.empty)) for i, p in enumerate(pages)],
            )
            for i, passage in enumerate(passages):
                t = tags[i] if tags is not None else None
                cur = conn.execute(
                    """INSERT INTO passages (passage_id, doc_id, ordinal, text, language, page_start,
                       page_end, char_start, char_end, paragraphs, heading_path, token_count,
                       content_hash, components, countries, regions, component_scores, tags_version,
                       stages, stage_scores, kind, articles)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        passage.passage_id,
                        record.doc_id,
                        passage.ordinal,
                        passage.text,
                        passage.language,
                        passage.page_start,
                        passage.page_end,
                        passage.char_start,
                        passage.char_end,
                        to_json(passage.paragraphs),
                        to_json(passage.heading_path),
                        passage.token_count,
                        passage.content_hash,
                        to_json(t.components if t else []),
                        to_json(t.countries if t else []),
                        to_json(t.regions if t else []),
                        to_json(t.component_scores if t else {}),
                        tags_version if t else None,
                        to_json(t.stages if t else []),
                        to_json(t.stage_scores if t else {}),
                        passage.kind,
                        to_json(passage.articles),
                    ),
                )
                new_ids.append(_inserted_id(cur))
            self.embeddings.insert(
                conn, [(p.content_hash, v) for p, v in zip(passages, vectors, strict=True)]
            )
        return new_ids

    def update_document_metadata(self, record: DocumentRecord, *, stale_tags: bool = False) -> None:
        """Refresh manifest fields (title, year, ...) without touching passages' text or vectors.

        ``stale_tags`` marks the document's passage tags out of date in the same commit, for a change
        the tagger reads (the document's countries): the next ``retag_stale`` re-tags them."""
        with self.transaction() as conn:
            sets = ", ".join(f"{c} = ?" for c in DOCUMENT_FIELDS)
            values = document_values(record, DOCUMENT_FIELDS)
            conn.execute(f"UPDATE documents SET {sets} WHERE doc_id = ?", [*values, record.doc_id])
            if stale_tags:
                conn.execute("UPDATE passages SET tags_version = NULL WHERE doc_id = ?", (record.doc_id,))

    def delete_documents(self, doc_ids: Iterable[str]) -> int:
        ids = list(doc_ids)
        if not ids:
            return 0
        with self.transaction() as conn:
            conn.executemany("DELETE FROM documents WHERE doc_id = ?", [(d,) for d in ids])
        return len(ids)

    def compact(self) -> None:
        """Give the space of deleted rows back to the file system (SQLite ``VACUUM``)."""
        if self.readonly:
            raise IndexError_("this index was opened read-only")
        conn = self._conn()
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # VACUUM wrote through the WAL

    # ------------------------------------------------------------------ passages
    def passages(self, ids: Sequence[int] | np.ndarray) -> dict[int, PassageRecord]:
        """The passages with these row ids, by id (ids no longer in the index are left out)."""
        return {int(r["id"]): passage_from_row(r) for r in self._rows_by_id(ids, "*")}

    def passage_texts(self, ids: Sequence[int] | np.ndarray) -> dict[int, str]:
        """The text of each of these passages, by id: for scans that read nothing else."""
        return {int(r["id"]): r["text"] for r in self._rows_by_id(ids, "id, text")}

    def _rows_by_id(self, ids: Sequence[int] | np.ndarray, columns: str) -> Iterator[sqlite3.Row]:
        conn = self._conn()
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            yield from conn.execute(
                f"SELECT {columns} FROM passages WHERE id IN ({', '.join('?' * len(chunk))})", chunk
            )

    def passage(self, passage_id: str) -> PassageRecord | None:
        """The passage with this public id (``doc:0003:1a2b3c4d``)."""
        row = self._conn().execute("SELECT * FROM passages WHERE passage_id = ?", (passage_id,)).fetchone()
        return None if row is None else passage_from_row(row)

    def passages_of(self, doc_id: str) -> list[PassageRecord]:
        rows = self._conn().execute("SELECT * FROM passages WHERE doc_id = ? ORDER BY ordinal", (doc_id,))
        return [passage_from_row(r) for r in rows]

    def iter_passages(self, columns: str = "*", batch: int = 2000) -> Iterator[dict[str, Any]]:
        """Every passage in row-id order, as the selected fields (JSON fields decoded): for scans over
        the whole index that need a few fields of each passage, not the records."""
        cur = self._conn().execute(f"SELECT {columns} FROM passages ORDER BY id")
        while rows := cur.fetchmany(batch):
            yield from (passage_fields(r) for r in rows)

    def document_counts(self) -> dict[str, tuple[int, int]]:
        """(passages, pages) per document id."""
        conn = self._conn()
        passages = dict(conn.execute("SELECT doc_id, COUNT(*) FROM passages GROUP BY doc_id").fetchall())
        pages = dict(conn.execute("SELECT doc_id, COUNT(*) FROM pages GROUP BY doc_id").fetchall())
        return {d: (passages.get(d, 0), pages.get(d, 0)) for d in self.document_ids()}

    def vectors_for(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of these passages, in the given order."""
        by_id = {int(r["id"]): r["content_hash"] for r in self._rows_by_id(ids, "id, content_hash")}
        hashes = [by_id[int(i)] for i in ids]
        cache = self.embeddings.vectors(hashes)
        return np.vstack([cache[h] for h in hashes]) if hashes else np.zeros((0, self.config.dim), np.float32)

    def update_tags(self, items: Sequence[tuple[int, PassageTagsRecord]], tags_version: str) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE passages SET components = ?, countries = ?, regions = ?, component_scores = ?, "
                "stages = ?, stage_scores = ?, tags_version = ? WHERE id = ?",
                [
                    (
                        to_json(t.components),
                        to_json(t.countries),
                        to_json(t.regions),
                        to_json(t.component_scores),
                        to_json(t.stages),
                        to_json(t.stage_scores),
                        tags_version,
                        pid,
                    )
                    for pid, t in items
                ],
            )

    def update_kinds(self, items: Sequence[tuple[int, str]], version: str) -> None:
        """Set passages' kinds (id, kind) and record which detectors decided them."""
        with self.transaction() as conn:
            conn.executemany("UPDATE passages SET kind = ? WHERE id = ?", [(k, pid) for pid, k in items])
            conn.execute(
                "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (KINDS_STATE_KEY, version)
            )

    def set_tag_summary(self, doc_id: str, summary: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE documents SET tag_summary = ? WHERE doc_id = ?", (to_json(summary), doc_id))

    # ------------------------------------------------------------------ dense channels
    # One FAISS file per dense channel (index/dense/files.py): the index's own model, plus an
    # optional second model (e.g. USE-multilingual) whose vectors sit in the same embedding cache.
    @property
    def secondary_model_id(self) -> str | None:
        """Model of the optional second dense channel, when its vectors are complete."""
        return self.get_state("secondary_model_id")

    def set_secondary_model(self, model_id: str | None, dim: int | None = None) -> None:
        if model_id is None:
            self._conn().execute("DELETE FROM state WHERE key IN ('secondary_model_id', 'secondary_dim')")
        else:
            self.set_state("secondary_model_id", model_id)
            self.set_state("secondary_dim", str(dim))

    def dense_channel(self, model_id: str | None) -> tuple[FaissVectorIndex, np.ndarray]:
        """A channel's FAISS index for the current generation, loaded or rebuilt as needed, and the
        directions projected out of its vectors (see :meth:`language_basis`)."""
        channel: tuple[FaissVectorIndex, np.ndarray]
        if model_id is None or model_id == self.config.model_id:
            channel = self._dense.channel(self.config.model_id, self.config.dim, primary=True)
        elif model_id != self.secondary_model_id:
            raise IndexError_(f"this index has no vectors for {model_id}")
        else:
            channel = self._dense.channel(model_id, int(self.get_state("secondary_dim") or 0), primary=False)
        return channel

    def vector_count(self, model_id: str | None = None) -> int:
        """How many passages a dense channel's FAISS index holds."""
        return self.faiss_index(model_id).count()

    def faiss_index(self, model_id: str | None = None) -> FaissVectorIndex:
        """The FAISS index of a channel for the current generation, loaded or rebuilt as needed."""
        return self.dense_channel(model_id)[0]

    def language_basis(self) -> np.ndarray:
        """The directions removed from the e5 channel's vectors (index/dense/language_neutral.py); no rows
        when ``language_neutral`` is off or the index holds fewer than two languages."""
        return self.dense_channel(None)[1]

    def sync_faiss(self) -> FaissVectorIndex:
        """Bring the FAISS files up to the current generation (called at the end of an ingest)."""
        if self.secondary_model_id:
            self.faiss_index(self.secondary_model_id)
        return self.faiss_index()

    def search_dense(
        self,
        query: np.ndarray,
        k: int,
        allowed_ids: np.ndarray | None = None,
        *,
        model_id: str | None = None,
    ) -> list[tuple[int, float]]:
        """Top-k passage ids by inner product. With ``allowed_ids`` the filter is applied inside
        FAISS, so every allowed passage can be returned and nothing else is."""
        index, basis = self.dense_channel(model_id)
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if basis.size:
            q = project_out(q, basis)  # the same projection as the channel's passage vectors
        hits: list[tuple[int, float]] = index.search(q, k, allowed_ids)
        return hits

    def passage_contexts(self) -> dict[int, str]:
        """Passage id -> its context (``title > headings``; index/store/context.py), for the passages that
        have one."""
        texts: dict[tuple[str, str], str] = {}
        out: dict[int, str] = {}
        for pid, title, headings in self._conn().execute(
            "SELECT p.id, d.title, p.heading_path FROM passages p JOIN documents d ON d.doc_id = p.doc_id"
        ):
            key = (title, headings)
            if key not in texts:
                texts[key] = passage_context(title, json.loads(headings))
            if texts[key]:
                out[int(pid)] = texts[key]
        return out

    # ------------------------------------------------------------------ stats
    def passage_count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM passages").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        conn = self._conn()

        def breakdown(sql: str) -> dict[str, int]:
            return {str(k): int(v) for k, v in conn.execute(sql).fetchall()}

        countries: dict[str, int] = {}
        for (raw,) in conn.execute("SELECT countries FROM documents"):
            for c in json.loads(raw) or ["(none)"]:
                countries[c] = countries.get(c, 0) + 1
        return {
            "index": str(self.directory),
            "model_id": self.config.model_id,
            "dim": self.config.dim,
            "documents": conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0],
            "passages": self.passage_count(),
            "pages": conn.execute("SELECT COUNT(*) FROM pages").fetchone()[0],
            "passages_by_language": breakdown(
                "SELECT language, COUNT(*) FROM passages GROUP BY language ORDER BY 2 DESC"
            ),
            "documents_by_language": breakdown(
                "SELECT COALESCE(language, 'und'), COUNT(*) FROM documents GROUP BY 1 ORDER BY 2 DESC"
            ),
            "documents_by_type": breakdown(
                "SELECT document_type, COUNT(*) FROM documents GROUP BY 1 ORDER BY 2 DESC"
            ),
            "passages_by_type": breakdown(
                "SELECT d.document_type, COUNT(*) FROM passages p JOIN documents d USING (doc_id) "
                "GROUP BY 1 ORDER BY 2 DESC"
            ),
            "documents_by_country": dict(sorted(countries.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


def _inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid an INSERT just gave; the type allows None, which only other statements leave."""
    if cur.lastrowid is None:
        raise IndexError_("an INSERT gave no row id")
    return cur.lastrowid
