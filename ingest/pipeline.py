"""The ingest run: manifest -> documents -> pages -> passages -> tags -> vectors -> index.

Re-running only does the work that changed:

- a document whose sha256 and pipeline configuration are unchanged is skipped (its manifest
  metadata is refreshed if edited);
- a changed document is re-chunked, and only passages whose text is new are embedded (the
  embedding cache is keyed by model and passage hash);
- a document gone from the manifest is deleted;
- passages tagged by an older vocabulary are re-tagged from their stored vectors.

Every document is committed in its own transaction, and freshly computed vectors are cached as
each batch finishes, so ``kill -9`` at any point loses at most the batch in flight. A document
that fails (missing, checksum mismatch, corrupt, encrypted, image-only, ...) is reported on one
line, and whatever was indexed for it before stays.

We do not use llama-index's ``IngestionPipeline`` here: its docstore-based dedup keys on node
ids rather than on (model, text) and cannot keep our per-page citations; see index/store/index_store.py.

>>> report = run_ingest(Settings.from_env())   # doctest: +SKIP
>>> report.ok                                   # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from tqdm import tqdm

from housing_kb.config import Settings
from housing_kb.files import atomic_write_bytes
from housing_kb.index.lexical.translation import sync_lexicon
from housing_kb.index.store.context import CONTEXT_RECIPE, CONTEXT_STATE_KEY, context_key, passage_context
from housing_kb.index.store.index_store import KINDS_STATE_KEY, IndexConfig, IndexStore
from housing_kb.index.store.lock import writer_lock
from housing_kb.ingest.chunking import ChunkerConfig, chunk_document
from housing_kb.ingest.cleaning import clean_pages
from housing_kb.ingest.documents import DocumentError
from housing_kb.ingest.language import detect_document_language
from housing_kb.ingest.limits import DocumentLimits, corpus_file
from housing_kb.ingest.loaders import load_document
from housing_kb.ingest.manifest import Manifest, ManifestEntry, clip, load_manifest, sha256_file
from housing_kb.ingest.passage_kinds import (
    DETECTORS_VERSION,
    PassageContext,
    classify_passage,
    mark_passage_kinds,
)
from housing_kb.ingest.search_backend import sync_search_backend
from housing_kb.ingest.tokens import TokenCounter
from housing_kb.ingest.uploads import UPLOADS_DIR
from housing_kb.models.base import Embedder
from housing_kb.schema.indicators import bundled_dir, read_indicators
from housing_kb.schema.records import DocumentRecord, Page, Passage, PassageTagsRecord

log = logging.getLogger("housing_kb.ingest")

#: Bump when loading or cleaning changes in a way that alters passages.
PIPELINE_VERSION = "3"
#: Texts embedded and cached at a time; bounds the work a crash inside a long document can lose.
EMBED_GROUP = 256


@dataclass
class DocumentFailure:
    document_id: str
    kind: str
    reason: str
    path: str | None = None

    def line(self) -> str:
        return f"{self.document_id}: {self.reason}"


@dataclass
class IngestReport:
    index_dir: str
    model_id: str
    started_at: float
    seconds: float = 0.0
    documents_in_manifest: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    metadata_refreshed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[DocumentFailure] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    passages_written: int = 0
    passages_embedded: int = 0
    passages_from_cache: int = 0
    passages_retagged: int = 0
    passages_embedded_secondary: int = 0
    words_embedded: int = 0
    #: SDG housing series loaded into an index that had none (the bundled copy, or the replaced index's).
    country_series_loaded: list[str] = field(default_factory=list)
    extract_seconds: float = 0.0
    embed_seconds: float = 0.0
    #: What the sync of the search backend wrote (Milvus), "" for the embedded backend.
    search_backend: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary_lines(self) -> list[str]:
        lines = [
            f"Index {self.index_dir} ({self.model_id}): {self.documents_in_manifest} documents in the manifest; "
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.deleted)} deleted, {len(self.failed)} failed.",
            f"Passages: {self.passages_written} written, {self.passages_embedded} embedded, "
            f"{self.passages_from_cache} from the embedding cache, {self.passages_retagged} re-tagged. "
            f"Took {self.seconds:.1f}s (extraction {self.extract_seconds:.1f}s, embedding {self.embed_seconds:.1f}s).",
        ]
        if self.country_series_loaded:
            lines.append(f"Country data: {len(self.country_series_loaded)} SDG housing series loaded.")
        if self.search_backend:
            lines.append(self.search_backend)
        for doc_id, notes in sorted(self.warnings.items()):
            lines.extend(f"  note  {doc_id}: {n}" for n in notes)
        lines.extend(f"  FAILED {f.line()}" for f in self.failed)
        return lines

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


@dataclass
class _Pending:
    entry: ManifestEntry
    record: DocumentRecord
    pages: list[Page]
    passages: list[Passage]
    is_new: bool


def pipeline_key(sha256: str, chunker: ChunkerConfig) -> str:
    """What must be equal for a stored document to be reused as is."""
    payload = json.dumps(
        {"sha": sha256, "chunker": chunker.as_dict(), "pipeline": PIPELINE_VERSION}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _record_for(
    entry: ManifestEntry, sha: str, key: str, pages: Sequence[Page], language: str | None
) -> DocumentRecord:
    return DocumentRecord(
        doc_id=entry.id,
        title=entry.title,
        document_type=str(entry.document_type),
        sha256=sha,
        pipeline_key=key,
        path=entry.path,
        url=str(entry.url) if entry.url else None,
        source_url=str(entry.source_url) if entry.source_url else None,
        countries=list(entry.countries),
        regions=[str(r) for r in entry.regions],
        language=entry.language or language,
        year=entry.year,
        publisher=entry.publisher,
        licence=entry.licence,
        work_id=entry.work_id,
        n_pages=sum(1 for p in pages if p.number is not None),
        empty_pages=[p.number for p in pages if p.empty and p.number is not None],
        ingested_at=time.time(),
    )


def _metadata_changed(stored: DocumentRecord, entry: ManifestEntry) -> bool:
    fresh = _record_for(entry, stored.sha256, stored.pipeline_key, [], stored.language)
    fields = (
        "path",
        "url",
        "source_url",
        "title",
        "document_type",
        "countries",
        "regions",
        "year",
        "publisher",
        "licence",
        "work_id",
    )
    return any(getattr(fresh, f) != getattr(stored, f) for f in fields)


def load_tagger(embedder: Embedder | None, secondary: Embedder | None = None):  # -> Tagger | None
    """The passage tagger, or None when tagging is unavailable (logged once)."""
    from housing_kb.ingest.tagging.learned import TaggerModelError
    from housing_kb.ingest.tagging.tagger import Tagger

    try:
        return Tagger(embedder=embedder, secondary=secondary)
    except TaggerModelError as exc:
        log.warning("tagging unavailable (%s); passages are indexed without tags", exc)
        return None


def index_config(embedder: Embedder, chunker: ChunkerConfig) -> IndexConfig:
    return IndexConfig(model_id=embedder.model_id, dim=int(embedder.dim), chunker=chunker.as_dict())


def run_ingest(
    settings: Settings,
    *,
    embedder: Embedder,
    manifest: Manifest | None = None,
    chunker: ChunkerConfig | None = None,
    tagger: Any = "auto",
    rebuild: bool = False,
    only: set[str] | None = None,
    show_progress: bool = True,
    on_committed: Callable[[str], None] | None = None,
    secondary: Embedder | None = None,
    limits: DocumentLimits | None = None,
    seed_from: Path | None = None,
    on_stage: Callable[[str, str], None] | None = None,
) -> IngestReport:
    """Bring the index at ``settings.index_dir`` in line with the manifest.

    ``only`` restricts the run to some document ids (others are neither touched nor deleted).
    ``rebuild`` builds a fresh index beside the old one and swaps it in only when done.
    ``secondary`` is the optional second dense channel (its vectors are cached like the main ones).
    ``seed_from`` is another index whose cached vectors are taken over first (a contribution's
    staging index when it is published: nothing is embedded twice). ``on_stage(stage, document_id)``
    hears "extracting" and "embedding" as each document reaches them.
    The run holds the index's writer lock (index/store/lock.py) from start to end.
    """
    started = time.time()
    manifest = manifest or load_manifest(settings.manifest_path, strict=False)
    chunker = chunker or ChunkerConfig()
    limits = limits or DocumentLimits.from_settings(settings)
    if chunker.max_tokens + 8 > embedder.max_tokens:
        raise ValueError(
            f"chunker max_tokens={chunker.max_tokens} does not fit the model's {embedder.max_tokens}-token input"
        )
    with writer_lock(settings.index_dir):
        return _run_locked(
            settings,
            embedder,
            manifest,
            chunker,
            tagger,
            rebuild,
            only,
            show_progress,
            on_committed,
            secondary,
            limits,
            started,
            seed_from,
            on_stage or (lambda stage, document_id: None),
        )


def _run_locked(
    settings: Settings,
    embedder: Embedder,
    manifest: Manifest,
    chunker: ChunkerConfig,
    tagger: Any,
    rebuild: bool,
    only: set[str] | None,
    show_progress: bool,
    on_committed: Callable[[str], None] | None,
    secondary: Embedder | None,
    limits: DocumentLimits,
    started: float,
    seed_from: Path | None,
    on_stage: Callable[[str, str], None],
) -> IngestReport:
    target_dir = settings.index_dir
    if rebuild:
        target_dir = next_version_dir(settings.index_dir)
    store = IndexStore.open(target_dir, index_config(embedder, chunker), create=True)
    seeds = [settings.index_dir] if rebuild else []
    if seed_from is not None:
        seeds.append(seed_from)
    for source in seeds:
        seeded = store.embeddings.seed_from(source)
        if seeded:
            log.info("%d cached vectors taken over from %s", seeded, source)
    if tagger == "auto":
        tagger = load_tagger(embedder, secondary)
    tags_version = getattr(tagger, "vocabulary_version", None)

    report = IngestReport(index_dir=str(settings.index_dir), model_id=embedder.model_id, started_at=started)
    entries = [e for e in manifest.documents if only is None or e.id in only]
    report.documents_in_manifest = len(manifest.documents) + len(manifest.rejected)
    for bad in manifest.rejected:
        if only is None or bad.id in only:
            report.failed.append(DocumentFailure(bad.id or bad.label, "invalid_entry", bad.line()))
    stored = {d.doc_id: d for d in store.documents()}
    counter = TokenCounter()
    if secondary is not None:
        _declare_secondary(store, secondary)

    # ---- 1. each document: decide what changed, load, clean, chunk, embed, tag, commit. One at a
    # time, so a crash (or a document that kills the process) loses at most the document in flight,
    # and only its text is held in memory.
    bar = tqdm(entries, desc="ingesting", unit="doc", disable=not show_progress, leave=False)
    ebar = tqdm(desc="embedding", unit="passage", disable=not show_progress, leave=False)
    for entry in bar:
        bar.set_postfix_str(entry.id[:40])
        on_stage("extracting", entry.id)
        t0 = time.time()
        item = _extract(entry, settings, chunker, limits, counter, stored, store, report)
        report.extract_seconds += time.time() - t0
        if item is not None:
            on_stage("embedding", entry.id)
            t1 = time.time()
            _commit(store, item, embedder, secondary, tagger, tags_version, report, ebar)
            report.embed_seconds += time.time() - t1
            if on_committed:
                on_committed(entry.id)
    bar.close()
    ebar.close()

    # ---- 2. deletions, re-tagging, derived indexes ----------------------------------------
    if only is None:
        # a rejected entry's document stays: fixing a typo in the manifest must not cost its index
        gone = sorted(set(stored) - manifest.declared_ids())
        store.delete_documents(gone)
        report.deleted.extend(gone)
    if tagger is not None:
        report.passages_retagged = retag_stale(store, tagger, show_progress=show_progress)
    refresh_passage_kinds(store)
    if secondary is not None:
        report.passages_embedded_secondary += sync_secondary(store, secondary, show_progress=show_progress)
    report.country_series_loaded = ensure_country_data(store, settings.index_dir if rebuild else None)
    store.sync_faiss()
    _sync_lexical(store, show_progress)
    if secondary is not None:
        # The word lexicon that translates questions for BM25 (index/lexical/translation.py); only words
        # it lacked are embedded.
        report.words_embedded = sync_lexicon(store, secondary, show_progress=show_progress)

    if rebuild:
        _swap_in(target_dir, settings.index_dir)
    report.search_backend = sync_search_backend(settings, show_progress=show_progress) or ""
    report.seconds = time.time() - started
    atomic_write_bytes(
        settings.index_dir / "ingest_report.json",
        json.dumps(report.to_json(), indent=2, ensure_ascii=False).encode(),
    )
    return report


def remove_documents(settings: Settings, doc_ids: Sequence[str]) -> int:
    """Take documents out of the index (an editor's unpublish or delete) in one commit, with the
    vector and BM25 channels brought in line; searches see the index before or after, never between."""
    with writer_lock(settings.index_dir, what="delete"):
        store = IndexStore.open(settings.index_dir)
        known = {d.doc_id for d in store.documents()}
        removed = store.delete_documents([d for d in doc_ids if d in known])
        store.sync_faiss()
        _sync_lexical(store, show_progress=False)
        synced = sync_search_backend(settings, show_progress=False)
        if synced:
            log.info("%s", synced)
        return removed


def ensure_country_data(store: IndexStore, previous: Path | None = None) -> list[str]:
    """Give an index without country data the series of the index it replaces, else the bundled copy,
    so that a rebuild keeps a newer ``housing-kb data import``. Returns the series loaded."""
    if store.indicator_imports():
        return []
    if previous is not None and (previous / "meta.sqlite").exists():
        old = IndexStore.open(previous, readonly=True)
        try:
            if store.copy_indicators_from(old):
                return sorted({o.series for o in store.indicator_observations()})
        finally:
            old.close()
    data = read_indicators(bundled_dir())
    store.import_indicators(data)
    return data.series


def document_root(settings: Settings, entry: ManifestEntry) -> Path:
    """Contributions (paths under ``uploads/``) live in the data directory; the rest in the corpus."""
    if PurePosixPath(entry.relative_path).parts[0] == UPLOADS_DIR:
        return settings.data_dir
    return settings.corpus_dir


def _extract(
    entry: ManifestEntry,
    settings: Settings,
    chunker: ChunkerConfig,
    limits: DocumentLimits,
    counter: TokenCounter,
    stored: dict[str, DocumentRecord],
    store: IndexStore,
    report: IngestReport,
) -> _Pending | None:
    """One document loaded, cleaned and chunked, or None when it is unchanged or failed (both
    recorded in ``report``)."""
    try:
        try:
            path = corpus_file(document_root(settings, entry), entry.relative_path, limits)
        except DocumentError as exc:
            if exc.kind == "missing" and entry.url:
                exc.reason += " (run `housing-kb fetch` to download it)"
            raise
        sha = sha256_file(path)
        if entry.sha256 and sha != entry.sha256:
            raise DocumentError(
                f"checksum mismatch for {entry.path}: manifest says {entry.sha256[:12]}…, file is {sha[:12]}…",
                kind="checksum",
            )
        key = pipeline_key(sha, chunker)
        old = stored.get(entry.id)
        # Two fields shape the passages themselves: a declared language that differs is the fallback of
        # every passage whose own language cannot be detected (ingest/chunking.py), and the document
        # type is read by the passage-kind detectors. Either processes the document again, from cached
        # vectors; any other field is only metadata.
        reshaped = old is not None and (
            (bool(entry.language) and entry.language != old.language)
            or str(entry.document_type) != old.document_type
        )
        if old is not None and old.pipeline_key == key and not reshaped:
            if _metadata_changed(old, entry):
                fresh = _record_for(entry, sha, key, [], old.language)
                store.update_document_metadata(fresh, stale_tags=fresh.countries != old.countries)
                report.metadata_refreshed.append(entry.id)
            report.unchanged.append(entry.id)
            return None
        loaded = load_document(path, limits)
        pages = clean_pages(loaded.pages)
        language = entry.language or detect_document_language(pages)
        passages = chunk_document(entry.id, pages, counter, chunker, language)
        if not passages:
            raise DocumentError("no text could be extracted", kind="empty")
        mark_passage_kinds(passages, entry.document_type)
        limits.check_passages(entry.relative_path, len(passages))
        if loaded.warnings:
            report.warnings[entry.id] = list(loaded.warnings)
        record = _record_for(entry, sha, key, pages, language)
        record.warnings = list(loaded.warnings)
        return _Pending(entry, record, pages, passages, is_new=old is None)
    except DocumentError as exc:
        report.failed.append(DocumentFailure(entry.id, exc.kind, exc.reason, entry.path))
    except Exception as exc:  # one broken document never stops the run
        log.debug("unexpected error on %s", entry.id, exc_info=True)
        report.failed.append(
            DocumentFailure(
                entry.id,
                "unreadable",
                clip(f"could not be read ({type(exc).__name__}: {exc})", 300),
                entry.path,
            )
        )
    return None


def _declare_secondary(store: IndexStore, secondary: Embedder) -> None:
    """Record the second channel's model before its vectors are written, so a reader of a half-done
    run sees which channel is catching up (IndexStore.channel_coverage) instead of no channel."""
    if store.secondary_model_id != secondary.model_id or store.get_state(CONTEXT_STATE_KEY) != CONTEXT_RECIPE:
        with store.transaction():
            store.set_secondary_model(secondary.model_id, int(secondary.dim))
            store.set_state(CONTEXT_STATE_KEY, CONTEXT_RECIPE)


def _commit(
    store: IndexStore,
    item: _Pending,
    embedder: Embedder,
    secondary: Embedder | None,
    tagger: Any,
    tags_version: str | None,
    report: IngestReport,
    bar: tqdm,
) -> None:
    """Embed what the document's passages lack (from the cache otherwise), tag them, commit."""
    texts = {p.content_hash: p.text for p in item.passages}
    cached = len(store.embeddings.cached(list(texts)))
    report.passages_from_cache += cached
    report.passages_embedded += _cache_missing(store, embedder, texts, progress=bar.update)
    if secondary is not None:
        # the second channel's vectors (and those of the passages' contexts) go in before the
        # document commits, so every committed generation has both channels complete
        report.passages_embedded_secondary += _cache_missing(store, secondary, texts)
        contexts = {passage_context(item.record.title, p.heading_path) for p in item.passages}
        _cache_missing(store, secondary, {context_key(c): c for c in contexts if c})
    vectors = store.embeddings.vectors(list(texts))
    vecs = np.vstack([vectors[p.content_hash] for p in item.passages])
    tags = None
    if tagger is not None:
        vecs2 = _stored_second_vectors(store, tagger, [p.content_hash for p in item.passages])
        inputs = [_tag_input(p.passage_id, p.text, p.language, item.record.countries) for p in item.passages]
        tags = _tag(tagger, inputs, vecs, vecs2)
        item.record.tag_summary = _aggregate(tags)
    store.replace_document(item.record, item.pages, item.passages, vecs, tags, tags_version)
    report.passages_written += len(item.passages)
    (report.added if item.is_new else report.updated).append(item.entry.id)


def _cache_missing(store: IndexStore, embedder: Embedder, texts: dict[str, str], progress: Any = None) -> int:
    """Embed the texts (cache key -> text) this model has no cached vector for; returns how many."""
    have = store.embeddings.cached(list(texts), model_id=embedder.model_id)
    missing = [k for k in texts if k not in have]
    for start in range(0, len(missing), EMBED_GROUP):
        part = missing[start : start + EMBED_GROUP]
        vectors = embedder.embed_passages([texts[k] for k in part], progress=progress)
        store.embeddings.add(list(zip(part, vectors, strict=True)), model_id=embedder.model_id)
    return len(missing)


def _stored_second_vectors(store: IndexStore, tagger: Any, hashes: list[str]) -> np.ndarray | None:
    """The second channel's stored vectors of these passages, when the tagger reads that model's
    vectors and every passage has one; else None (the tagger then uses its e5 model)."""
    model_id = getattr(tagger, "use_model_id", None)
    if not model_id:
        return None
    found = store.embeddings.vectors(hashes, model_id=model_id)
    if len(found) < len(set(hashes)):
        return None
    return np.vstack([found[h] for h in hashes])


def _tag_input(passage_id: str, text: str, language: str | None, countries: list[str]) -> Any:
    from housing_kb.ingest.tagging.tagger import TagInput

    return TagInput(id=passage_id, text=text, language=language, document_countries=countries)


def _tag(
    tagger: Any, items: Sequence[Any], vectors: np.ndarray, vectors2: np.ndarray | None
) -> list[PassageTagsRecord]:
    """Tag records of passages from their stored vectors (the second channel's, when complete)."""
    return list(tagger.tag(items, vectors, vectors2, second_channel=vectors2 is not None))


def _aggregate(tags: Sequence[PassageTagsRecord]) -> dict[str, Any]:
    from housing_kb.ingest.tagging.tagger import aggregate_document_tags

    return aggregate_document_tags(tags)


def refresh_passage_kinds(store: IndexStore) -> int:
    """Re-derive every passage's kind from its stored text when the detectors changed since the
    index last did (a few seconds of regular expressions: nothing is re-embedded). Returns how many
    passages changed kind."""
    if store.get_state(KINDS_STATE_KEY) == DETECTORS_VERSION:
        return 0
    docs = {d.doc_id: d.document_type for d in store.documents()}
    rows = list(store.iter_passages("id, doc_id, ordinal, text, kind"))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["doc_id"]] = counts.get(row["doc_id"], 0) + 1
    kinds = [
        classify_passage(
            row["text"], PassageContext(row["ordinal"], counts[row["doc_id"]], docs.get(row["doc_id"]))
        )
        for row in rows
    ]
    store.update_kinds([(int(r["id"]), k) for r, k in zip(rows, kinds, strict=True)], DETECTORS_VERSION)
    return sum(r["kind"] != k for r, k in zip(rows, kinds, strict=True))


def retag_stale(store: IndexStore, tagger: Any, *, force: bool = False, show_progress: bool = True) -> int:
    """Re-tag passages whose tags come from another tagger version, from their stored vectors (the
    second channel's too, where the index has them all). Never re-embeds."""
    version = tagger.vocabulary_version
    docs = {d.doc_id: d for d in store.documents()}
    stale: dict[str, list[Any]] = {}
    for row in store.iter_passages("id, doc_id, passage_id, text, language, content_hash, tags_version"):
        if force or row["tags_version"] != version:
            stale.setdefault(row["doc_id"], []).append(row)
    total = sum(len(v) for v in stale.values())
    if not total:
        return 0
    bar = tqdm(total=total, desc="tagging", unit="passage", disable=not show_progress, leave=False)
    for doc_id, rows in stale.items():
        ids = [int(r["id"]) for r in rows]
        vectors = store.vectors_for(ids)
        vectors2 = _stored_second_vectors(store, tagger, [r["content_hash"] for r in rows])
        countries = docs[doc_id].countries if doc_id in docs else []
        items = [_tag_input(r["passage_id"], r["text"], r["language"], countries) for r in rows]
        tags = _tag(tagger, items, vectors, vectors2)
        store.update_tags(list(zip(ids, tags, strict=True)), version)
        bar.update(len(rows))
    bar.close()
    # document aggregates from all of each document's passages
    for doc_id in stale:
        tags = [
            PassageTagsRecord(p.components, p.countries, p.regions, {}, p.stages)
            for p in store.passages_of(doc_id)
        ]
        store.set_tag_summary(doc_id, _aggregate(tags))
    return total


def sync_secondary(store: IndexStore, embedder: Embedder, *, show_progress: bool = True) -> int:
    """Give every passage (and every passage context) a vector from the second dense channel;
    returns how many passages were embedded. Ingest embeds each group's vectors before committing it,
    so this only catches up on an index built without the channel, or by an older version."""
    hashes: dict[str, str] = {}
    for row in store.iter_passages("content_hash, text"):
        hashes.setdefault(row["content_hash"], row["text"])
    todo = len(hashes) - len(store.embeddings.cached(list(hashes), model_id=embedder.model_id))
    bar = tqdm(
        total=todo,
        desc="embedding (2nd channel)",
        unit="passage",
        disable=not show_progress or not todo,
        leave=False,
    )
    embedded = _cache_missing(store, embedder, hashes, progress=bar.update)
    bar.close()
    contexts = {context_key(text): text for text in set(store.passage_contexts().values())}
    _cache_missing(store, embedder, contexts)
    _declare_secondary(store, embedder)
    if embedded:
        with store.transaction():
            pass  # a new generation, so readers rebuild the channel's FAISS file with these vectors
    return embedded


def _sync_lexical(store: IndexStore, show_progress: bool) -> None:
    """Bring the BM25 channel in line with the passages (only changed passages are analysed)."""
    try:
        from housing_kb.index.lexical.sync import sync_lexical
    except ImportError:
        return
    sync_lexical(store, show_progress=show_progress)


def _versions(index_dir: Path) -> list[tuple[int, Path]]:
    """The version directories ``<index>.v<N>`` beside ``index_dir``, oldest first."""
    found = []
    for path in index_dir.parent.glob(f"{index_dir.name}.v*"):
        number = path.name[len(index_dir.name) + 2 :]
        if number.isdigit() and path.is_dir():
            found.append((int(number), path))
    return sorted(found)


def next_version_dir(index_dir: Path) -> Path:
    """A fresh, empty ``<index>.v<N>`` for a rebuild (an unfinished earlier one is cleared first)."""
    index_dir = index_dir.absolute()
    current = index_dir.resolve() if index_dir.is_symlink() else None
    versions = _versions(index_dir)
    for _, path in versions:
        if path.resolve() != current and not (path / "meta.sqlite").exists():
            shutil.rmtree(path, ignore_errors=True)  # a rebuild killed before its swap
    number = max((n for n, _ in versions), default=0) + 1
    target = index_dir.with_name(f"{index_dir.name}.v{number}")
    shutil.rmtree(target, ignore_errors=True)
    return target


def _swap_in(new_dir: Path, index_dir: Path) -> None:
    """Point ``index_dir`` at ``new_dir`` in one step (a symlink replaced by ``rename``).

    A server that has the old version open keeps reading it, and every request after it notices the
    change reads the new one: old state or new, never a mix. So the previous version stays on disk
    until the next rebuild; older ones are deleted now."""
    index_dir = index_dir.absolute()
    previous = index_dir.resolve() if index_dir.exists() else None
    if index_dir.exists() and not index_dir.is_symlink():
        # An index from before versioned rebuilds: it becomes a version, its path a symlink.
        previous = index_dir.with_name(f"{index_dir.name}.v0")
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(index_dir, previous)
    link = index_dir.with_name(f".{index_dir.name}.link-{os.getpid()}")
    link.unlink(missing_ok=True)
    os.symlink(new_dir.name, link)
    os.replace(link, index_dir)
    keep = {new_dir.resolve(), previous.resolve() if previous else None}
    for _, path in _versions(index_dir):
        if path.resolve() not in keep:
            shutil.rmtree(path, ignore_errors=True)
