"""The persistent index: SQLite metadata and embedding cache, plus a FAISS file derived from them.

Layout of an index directory::

    index.json            model id, dimension, chunker configuration, schema version
    meta.sqlite           documents, page texts, passages, tags, embedding cache (WAL mode)
    vectors.<gen>.faiss   IndexIDMap2 over passage ids, for generation <gen>: a flat inner-product
                          index, or from 50k passages an HNSW graph (exact flat storage kept)
    vectors2.<gen>.faiss  the same for the second dense channel, when there is one
    lexical/              BM25 channel (see index/lexical.py)

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

import io
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from housing_kb.config import current_settings
from housing_kb.files import atomic_write_bytes
from housing_kb.index.adapters.faiss_vectors import FaissVectorIndex
from housing_kb.index.context import CONTEXT_RECIPE, context_key, passage_context, with_context
from housing_kb.index.language_neutral import RECIPE as NEUTRAL_RECIPE
from housing_kb.index.language_neutral import language_basis, project_out
from housing_kb.schema.indicators import IndicatorData, Observation
from housing_kb.schema.records import DocumentRecord, Page, Passage, PassageTagsRecord

log = logging.getLogger("housing_kb.index")

SCHEMA_VERSION = 1
#: State key recording which context recipe (index/context.py) the second channel's vectors use.
CONTEXT_STATE_KEY = "secondary_context"
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

#: Columns of ``documents`` that come from the manifest entry.
DOCUMENT_FIELDS = (
    "path",
    "url",
    "source_url",
    "title",
    "document_type",
    "countries",
    "regions",
    "language",
    "year",
    "publisher",
    "licence",
    "work_id",
)
_JSON_DOC = {"countries", "regions", "empty_pages", "warnings", "tag_summary"}
_JSON_PASSAGE = {
    "paragraphs",
    "heading_path",
    "components",
    "countries",
    "regions",
    "component_scores",
    "stages",
    "stage_scores",
    "articles",
}
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


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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
        self._faiss: dict[str, tuple[int, FaissVectorIndex, np.ndarray, str | None]] = {}
        self._faiss_lock = threading.Lock()
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
            import_id = conn.execute(
                "INSERT INTO indicator_imports(source, retrieved, sha256, imported_at) VALUES (?, ?, ?, ?)",
                (data.source, data.retrieved, data.sha256, time.time()),
            ).lastrowid
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
        return int(import_id)

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
        return _document_from_row(row) if row else None

    def documents(self) -> list[DocumentRecord]:
        rows = self._conn().execute("SELECT * FROM documents ORDER BY doc_id").fetchall()
        return [_document_from_row(r) for r in rows]

    def document_ids(self) -> set[str]:
        return {r[0] for r in self._conn().execute("SELECT doc_id FROM documents")}

    def pages(self, doc_id: str) -> list[Page]:
        rows = (
            self._conn()
            .execute("SELECT page_no, text, empty FROM pages WHERE doc_id = ? ORDER BY seq", (doc_id,))
            .fetchall()
        )
        return [Page(number=r["page_no"], text=r["text"], empty=bool(r["empty"])) for r in rows]

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
            row = asdict(record)
            cols = list(row)
            conn.execute(
                f"INSERT INTO documents ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [_dumps(row[c]) if c in _JSON_DOC else row[c] for c in cols],
            )
            conn.executemany(
                "INSERT INTO pages (doc_id, seq, page_no, text, empty) VALUES (?, ?, ?, ?, ?)",
                [(record.doc_id, i, p.number, p.text, int(p.empty)) for i, p in enumerate(pages)],
            )
            for i, (passage, vector) in enumerate(zip(passages, vectors, strict=True)):
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
                        _dumps(passage.paragraphs),
                        _dumps(passage.heading_path),
                        passage.token_count,
                        passage.content_hash,
                        _dumps(t.components if t else []),
                        _dumps(t.countries if t else []),
                        _dumps(t.regions if t else []),
                        _dumps(t.component_scores if t else {}),
                        tags_version if t else None,
                        _dumps(t.stages if t else []),
                        _dumps(t.stage_scores if t else {}),
                        passage.kind,
                        _dumps(passage.articles),
                    ),
                )
                new_ids.append(int(cur.lastrowid))
                conn.execute(
                    "INSERT OR IGNORE INTO embeddings (model_id, content_hash, vector) VALUES (?, ?, ?)",
                    (self.config.model_id, passage.content_hash, vector.tobytes()),
                )
        return new_ids

    def update_document_metadata(self, record: DocumentRecord, *, stale_tags: bool = False) -> None:
        """Refresh manifest fields (title, year, ...) without touching passages' text or vectors.

        ``stale_tags`` marks the document's passage tags out of date in the same commit, for a change
        the tagger reads (the document's countries): the next ``retag_stale`` re-tags them."""
        with self.transaction() as conn:
            sets = ", ".join(f"{c} = ?" for c in DOCUMENT_FIELDS)
            values = [
                _dumps(getattr(record, c)) if c in _JSON_DOC else getattr(record, c) for c in DOCUMENT_FIELDS
            ]
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

    # ------------------------------------------------------------------ embedding cache
    def cached_vectors(self, hashes: Sequence[str], model_id: str | None = None) -> dict[str, np.ndarray]:
        """Vectors already computed for these passage hashes by this model."""
        model_id = model_id or self.config.model_id
        out: dict[str, np.ndarray] = {}
        conn = self._conn()
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows = conn.execute(
                f"SELECT content_hash, vector FROM embeddings WHERE model_id = ? "
                f"AND content_hash IN ({', '.join('?' * len(chunk))})",
                [model_id, *chunk],
            ).fetchall()
            for h, blob in rows:
                out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def cached_hashes(self, hashes: Sequence[str], model_id: str | None = None) -> set[str]:
        """Which of these passage hashes already have a vector from this model (vectors not read)."""
        model_id = model_id or self.config.model_id
        unique = list(dict.fromkeys(hashes))
        found: set[str] = set()
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            found.update(
                r[0]
                for r in self._conn().execute(
                    f"SELECT content_hash FROM embeddings WHERE model_id = ? "
                    f"AND content_hash IN ({', '.join('?' * len(chunk))})",
                    [model_id, *chunk],
                )
            )
        return found

    def cache_vectors(self, items: Sequence[tuple[str, np.ndarray]], model_id: str | None = None) -> None:
        """Store freshly computed vectors so a crash or a re-chunk never recomputes them."""
        model_id = model_id or self.config.model_id
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR IGNORE INTO embeddings (model_id, content_hash, vector) VALUES (?, ?, ?)",
                [(model_id, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items],
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def prune_embedding_cache(self) -> int:
        """Drop cached vectors no passage uses any more (``housing-kb gc``); returns how many.

        Ingest keeps the vectors of deleted or re-cut passages, so that putting a document back, or
        returning to an earlier chunking, re-embeds nothing. Context vectors (``ctx:`` keys) stay
        while some passage still has that context."""
        with self.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM embeddings WHERE content_hash NOT LIKE 'ctx:%' AND NOT EXISTS "
                "(SELECT 1 FROM passages p WHERE p.content_hash = embeddings.content_hash)"
            )
            used = {context_key(text) for text in set(self.passage_contexts().values())}
            stale = [
                (k,)
                for (k,) in conn.execute(
                    "SELECT DISTINCT content_hash FROM embeddings WHERE content_hash LIKE 'ctx:%'"
                )
                if k not in used
            ]
            conn.executemany("DELETE FROM embeddings WHERE content_hash = ?", stale)
            return cur.rowcount + len(stale)

    def seed_embedding_cache(self, other_index: Path) -> int:
        """Copy another index's cached vectors into this one's cache; returns how many were new.

        A rebuild (another chunker, a changed rule) then embeds only the passages whose text is new:
        vectors are keyed by model and text hash, so another model's rows are simply never read.
        A missing or unreadable other index seeds nothing."""
        source = Path(other_index) / "meta.sqlite"
        if not source.exists() or source.resolve() == (self.directory / "meta.sqlite").resolve():
            return 0
        conn = self._conn()
        attached = False
        try:
            conn.execute("ATTACH DATABASE ? AS seed", (str(source),))
            attached = True
            with self.transaction() as tx:
                cur = tx.execute(
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

    def compact(self) -> None:
        """Give the space of deleted rows back to the file system (SQLite ``VACUUM``)."""
        if self.readonly:
            raise IndexError_("this index was opened read-only")
        conn = self._conn()
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # VACUUM wrote through the WAL

    # ------------------------------------------------------------------ passages
    def passage_rows(self, ids: Sequence[int]) -> dict[int, sqlite3.Row]:
        out: dict[int, sqlite3.Row] = {}
        conn = self._conn()
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(
                f"SELECT * FROM passages WHERE id IN ({', '.join('?' * len(chunk))})", chunk
            ).fetchall()
            out.update({int(r["id"]): r for r in rows})
        return out

    def passage_by_public_id(self, passage_id: str) -> sqlite3.Row | None:
        return self._conn().execute("SELECT * FROM passages WHERE passage_id = ?", (passage_id,)).fetchone()

    def passages_of(self, doc_id: str) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute("SELECT * FROM passages WHERE doc_id = ? ORDER BY ordinal", (doc_id,))
            .fetchall()
        )

    def iter_passages(self, columns: str = "*", batch: int = 2000) -> Iterator[sqlite3.Row]:
        cur = self._conn().execute(f"SELECT {columns} FROM passages ORDER BY id")
        while rows := cur.fetchmany(batch):
            yield from rows

    def vectors_for(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of these passages, in the given order."""
        rows = self.passage_rows(ids)
        hashes = [rows[int(i)]["content_hash"] for i in ids]
        cache = self.cached_vectors(hashes)
        return np.vstack([cache[h] for h in hashes]) if hashes else np.zeros((0, self.config.dim), np.float32)

    def update_tags(self, items: Sequence[tuple[int, PassageTagsRecord]], tags_version: str) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE passages SET components = ?, countries = ?, regions = ?, component_scores = ?, "
                "stages = ?, stage_scores = ?, tags_version = ? WHERE id = ?",
                [
                    (
                        _dumps(t.components),
                        _dumps(t.countries),
                        _dumps(t.regions),
                        _dumps(t.component_scores),
                        _dumps(t.stages),
                        _dumps(t.stage_scores),
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
            conn.execute("UPDATE documents SET tag_summary = ? WHERE doc_id = ?", (_dumps(summary), doc_id))

    # ------------------------------------------------------------------ FAISS
    # One FAISS file per dense channel: the index's own model, plus an optional second model
    # (e.g. USE-multilingual) whose vectors sit in the same embedding cache.
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

    def _channel(self, model_id: str | None) -> tuple[str, int, str]:
        """(model id, dimension, file prefix) of a dense channel."""
        if model_id is None or model_id == self.config.model_id:
            return self.config.model_id, self.config.dim, "vectors"
        if model_id != self.secondary_model_id:
            raise IndexError_(f"this index has no vectors for {model_id}")
        return model_id, int(self.get_state("secondary_dim") or 0), "vectors2"

    def _faiss_path(self, generation: int, prefix: str = "vectors") -> Path:
        return self.directory / f"{prefix}.{generation}.faiss"

    def faiss_index(self, model_id: str | None = None) -> FaissVectorIndex:
        """The FAISS index of a channel for the current generation, loaded or rebuilt as needed."""
        return self.dense_channel(model_id)[0]

    def language_basis(self) -> np.ndarray:
        """The directions removed from the e5 channel's vectors (index/language_neutral.py); no rows
        when ``language_neutral`` is off or the index holds fewer than two languages."""
        return self.dense_channel(None)[1]

    def dense_channel(self, model_id: str | None) -> tuple[FaissVectorIndex, np.ndarray]:
        model, dim, prefix = self._channel(model_id)
        # Only the index's own model (e5) is made language-neutral; the second channel (USE) is
        # language-neutral by training, and the projection measured lower on it.
        recipe = (NEUTRAL_RECIPE if self.language_neutral else "raw") if prefix == "vectors" else None
        gen = self.generation
        with self._faiss_lock:
            cached = self._faiss.get(prefix)
            if cached is not None and cached[0] == gen and cached[3] == recipe:
                return cached[1], cached[2]
            path = self._faiss_path(gen, prefix)
            index = FaissVectorIndex.from_bytes(path.read_bytes()) if path.exists() else None
            if index is not None and index.is_ann != (index.count() >= ann_threshold()):
                index = None  # built under another HOUSING_KB_ANN_MIN: rebuild rather than mix kinds
            basis = np.zeros((0, dim), dtype=np.float32)
            if index is not None and recipe is not None:
                stored = self._read_basis(gen, prefix)
                if stored is None or stored[0] != recipe:
                    index = None  # built before the recipe existed, or under the other setting
                else:
                    basis = stored[1]
            if index is None:
                index, basis = self._build_faiss(model, dim, neutral=recipe == NEUTRAL_RECIPE)
                if not self.readonly:
                    if recipe is not None:
                        self._write_basis(gen, prefix, recipe, basis)
                    self._write_faiss(index, gen, prefix)
            self._faiss[prefix] = (gen, index, basis, recipe)
            return index, basis

    def _build_faiss(
        self, model_id: str, dim: int, *, neutral: bool = False
    ) -> tuple[FaissVectorIndex, np.ndarray]:
        ids, vectors, languages = [], [], []
        cur = self._conn().execute(
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
        if model_id == self.secondary_model_id and self.get_state(CONTEXT_STATE_KEY) == CONTEXT_RECIPE:
            all_vectors = self._with_passage_context(all_ids, all_vectors, model_id)
        basis = np.zeros((0, dim), dtype=np.float32)
        if neutral and len(all_ids):
            basis = language_basis(all_vectors, languages)
            all_vectors = project_out(all_vectors, basis)
        return FaissVectorIndex.build(all_vectors, all_ids, ann_min=ann_threshold()), basis

    def _basis_path(self, generation: int, prefix: str) -> Path:
        return self.directory / f"{prefix}.{generation}.neutral.npz"

    def _read_basis(self, generation: int, prefix: str) -> tuple[str, np.ndarray] | None:
        path = self._basis_path(generation, prefix)
        try:
            with np.load(path, allow_pickle=False) as data:
                return str(data["recipe"]), np.asarray(data["basis"], dtype=np.float32)
        except (OSError, KeyError, ValueError):
            return None

    def _write_basis(self, generation: int, prefix: str, recipe: str, basis: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, recipe=np.array(recipe), basis=basis)
        self._replace_generation_file(self._basis_path(generation, prefix), buf.getvalue())

    def passage_contexts(self) -> dict[int, str]:
        """Passage id -> its context (``title > headings``; index/context.py), for the passages that
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

    def _with_passage_context(self, ids: np.ndarray, vectors: np.ndarray, model_id: str) -> np.ndarray:
        # Passages whose context has no vector yet (an ingest without this channel's model) keep
        # their own vector alone; the next ingest with the model embeds the context.
        contexts = self.passage_contexts()
        keys = {text: context_key(text) for text in set(contexts.values())}
        found = self.cached_vectors(sorted(keys.values()), model_id=model_id)
        mixed_in = np.zeros_like(vectors)
        has = np.zeros(len(ids), dtype=bool)
        for row, pid in enumerate(ids.tolist()):
            vec = found.get(keys.get(contexts.get(pid, ""), ""))
            if vec is not None:
                mixed_in[row] = vec
                has[row] = True
        return with_context(vectors, mixed_in, has)

    def _write_faiss(self, index: FaissVectorIndex, generation: int, prefix: str) -> None:
        self._replace_generation_file(self._faiss_path(generation, prefix), index.to_bytes())

    def _replace_generation_file(self, target: Path, data: bytes) -> None:
        """Write ``<prefix>.<generation>.<suffix>`` atomically and drop the other generations' files."""
        prefix, _, suffix = target.name.split(".", 2)
        atomic_write_bytes(target, data)
        for old in self.directory.glob(f"{prefix}.*.{suffix}"):
            if old.name != target.name:
                old.unlink(missing_ok=True)

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
        return index.search(q, k, allowed_ids)

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


# ---------------------------------------------------------------------- dense index kinds
#: Passages from which a channel also gets an HNSW graph: below it an exact flat scan is already
#: fast enough (docs/results.md, search latency).
ANN_MIN_DEFAULT = 50_000


def ann_threshold() -> int:
    """Passages from which dense channels use HNSW (HOUSING_KB_ANN_MIN; 0 turns it off)."""
    value = current_settings().ann_min
    return value if value > 0 else 1 << 62


def language_neutral() -> bool:
    """Whether the e5 channel's vectors are made language-neutral (HOUSING_KB_LANGUAGE_NEUTRAL, on
    unless 0 / false / no / off; index/language_neutral.py). Changing it rebuilds the FAISS file."""
    return current_settings().language_neutral


def _document_from_row(row: sqlite3.Row) -> DocumentRecord:
    data = {k: row[k] for k in row.keys()}  # noqa: SIM118 - sqlite3.Row has no items()
    for key in _JSON_DOC:
        data[key] = json.loads(data[key]) if data.get(key) else ([] if key != "tag_summary" else {})
    return DocumentRecord(**data)


def passage_row_to_dict(row: sqlite3.Row) -> dict[str, Any]:
    """A passage row with JSON columns decoded."""
    data = {k: row[k] for k in row.keys()}  # noqa: SIM118
    for key in _JSON_PASSAGE:
        if key in data:
            data[key] = json.loads(data[key]) if data[key] else ({} if key.endswith("_scores") else [])
    return data
