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
ids rather than on (model, text) and cannot keep our per-page citations; see index/store.py.

>>> report = run_ingest(Settings.from_env())   # doctest: +SKIP
>>> report.ok
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
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from housing_kb.config import Settings
from housing_kb.index.context import CONTEXT_RECIPE, context_key
from housing_kb.index.store import (
    CONTEXT_STATE_KEY,
    DocumentRecord,
    IndexConfig,
    IndexStore,
    PassageTagsRecord,
    _atomic_write_bytes,
)
from housing_kb.index.translation import sync_lexicon
from housing_kb.ingest.chunking import ChunkerConfig, chunk_document
from housing_kb.ingest.cleaning import clean_pages
from housing_kb.ingest.documents import DocumentError, Page, Passage
from housing_kb.ingest.embedders.base import Embedder
from housing_kb.ingest.language import detect_document_language
from housing_kb.ingest.loaders import load_document
from housing_kb.ingest.manifest import Manifest, ManifestEntry, load_manifest, sha256_file
from housing_kb.ingest.tokens import TokenCounter

log = logging.getLogger("housing_kb.ingest")

#: Bump when loading or cleaning changes in a way that alters passages.
PIPELINE_VERSION = "2"
#: Texts embedded between two commits; bounds the work a crash can lose.
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
    extract_seconds: float = 0.0
    embed_seconds: float = 0.0

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
    )
    if entry.language and entry.language != stored.language:
        return True
    return any(getattr(fresh, f) != getattr(stored, f) for f in fields)


def load_tagger(embedder: Embedder | None):  # -> Tagger | None
    """The passage tagger, or None when tagging is unavailable (logged once)."""
    try:
        from housing_kb.ingest.tagging.tagger import Tagger
    except ImportError as exc:  # pragma: no cover - tagging ships with the package
        log.warning("tagging unavailable (%s); passages are indexed without tags", exc)
        return None
    return Tagger(embedder=embedder)


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
) -> IngestReport:
    """Bring the index at ``settings.index_dir`` in line with the manifest.

    ``only`` restricts the run to some document ids (others are neither touched nor deleted).
    ``rebuild`` builds a fresh index beside the old one and swaps it in only when done.
    ``secondary`` is the optional second dense channel (its vectors are cached like the main ones).
    """
    started = time.time()
    manifest = manifest or load_manifest(settings.manifest_path)
    chunker = chunker or ChunkerConfig()
    if chunker.max_tokens + 8 > embedder.max_tokens:
        raise ValueError(
            f"chunker max_tokens={chunker.max_tokens} does not fit the model's {embedder.max_tokens}-token input"
        )
    target_dir = settings.index_dir
    if rebuild:
        target_dir = settings.index_dir.with_name(settings.index_dir.name + ".rebuild")
        shutil.rmtree(target_dir, ignore_errors=True)
    store = IndexStore.open(target_dir, index_config(embedder, chunker), create=True)
    if rebuild:
        seeded = store.seed_embedding_cache(settings.index_dir)
        if seeded:
            log.info("rebuild: %d cached vectors taken over from %s", seeded, settings.index_dir)
    if tagger == "auto":
        tagger = load_tagger(embedder)
    tags_version = getattr(tagger, "vocabulary_version", None)

    report = IngestReport(index_dir=str(settings.index_dir), model_id=embedder.model_id, started_at=started)
    entries = [e for e in manifest.documents if only is None or e.id in only]
    report.documents_in_manifest = len(manifest.documents)
    stored = {d.doc_id: d for d in store.documents()}
    counter = TokenCounter()

    # ---- 1. extraction: decide what changed, load, clean, chunk --------------------------
    t0 = time.time()
    pending: list[_Pending] = []
    bar = tqdm(entries, desc="extracting", unit="doc", disable=not show_progress, leave=False)
    for entry in bar:
        bar.set_postfix_str(entry.id[:40])
        path = entry.resolve(settings.corpus_dir)
        try:
            if not path.exists():
                hint = " (run `housing-kb fetch` to download it)" if entry.url else ""
                raise DocumentError(f"file not found: {path}{hint}", kind="missing")
            sha = sha256_file(path)
            if entry.sha256 and sha != entry.sha256:
                raise DocumentError(
                    f"checksum mismatch for {entry.path}: manifest says {entry.sha256[:12]}…, file is {sha[:12]}…",
                    kind="checksum",
                )
            key = pipeline_key(sha, chunker)
            old = stored.get(entry.id)
            if old is not None and old.pipeline_key == key:
                if _metadata_changed(old, entry):
                    store.update_document_metadata(_record_for(entry, sha, key, [], old.language))
                    report.metadata_refreshed.append(entry.id)
                report.unchanged.append(entry.id)
                continue
            loaded = load_document(path)
            pages = clean_pages(loaded.pages)
            language = entry.language or detect_document_language(pages)
            passages = chunk_document(entry.id, pages, counter, chunker, language)
            if not passages:
                raise DocumentError("no text could be extracted", kind="empty")
            if loaded.warnings:
                report.warnings[entry.id] = list(loaded.warnings)
            record = _record_for(entry, sha, key, pages, language)
            record.warnings = list(loaded.warnings)
            pending.append(_Pending(entry, record, pages, passages, is_new=old is None))
        except DocumentError as exc:
            report.failed.append(DocumentFailure(entry.id, exc.kind, exc.reason, entry.path))
        except Exception as exc:  # one broken document never stops the run
            log.debug("unexpected error on %s", entry.id, exc_info=True)
            report.failed.append(
                DocumentFailure(
                    entry.id, "unreadable", f"could not be read ({type(exc).__name__}: {exc})", entry.path
                )
            )
    report.extract_seconds = time.time() - t0

    # ---- 2. embedding + tagging + commit, a group of documents at a time -----------------
    t1 = time.time()
    all_hashes = {p.content_hash for item in pending for p in item.passages}
    to_embed_total = len(all_hashes - store.cached_hashes(list(all_hashes)))
    ebar = tqdm(
        total=to_embed_total, desc="embedding", unit="passage", disable=not show_progress, leave=False
    )
    group: list[_Pending] = []
    for i, item in enumerate(pending):
        group.append(item)
        if sum(len(g.passages) for g in group) >= EMBED_GROUP or i == len(pending) - 1:
            _commit_group(store, group, embedder, tagger, tags_version, report, ebar, on_committed)
            group = []
    ebar.close()
    report.embed_seconds = time.time() - t1

    # ---- 3. deletions, re-tagging, derived indexes ----------------------------------------
    if only is None:
        manifest_ids = {e.id for e in manifest.documents}
        gone = sorted(set(stored) - manifest_ids)
        store.delete_documents(gone)
        report.deleted.extend(gone)
    if tagger is not None:
        report.passages_retagged = retag_stale(store, tagger, show_progress=show_progress)
    if secondary is not None:
        report.passages_embedded_secondary = sync_secondary(store, secondary, show_progress=show_progress)
    store.sync_faiss()
    _sync_lexical(store, show_progress)
    if secondary is not None:
        # The word lexicon that translates questions for BM25 (index/translation.py); only words
        # it lacked are embedded.
        report.words_embedded = sync_lexicon(store, secondary, show_progress=show_progress)

    if rebuild:
        _swap_in(target_dir, settings.index_dir)
    report.seconds = time.time() - started
    _atomic_write_bytes(
        settings.index_dir / "ingest_report.json",
        json.dumps(report.to_json(), indent=2, ensure_ascii=False).encode(),
    )
    return report


def _commit_group(
    store: IndexStore,
    group: list[_Pending],
    embedder: Embedder,
    tagger: Any,
    tags_version: str | None,
    report: IngestReport,
    bar: tqdm,
    on_committed: Callable[[str], None] | None,
) -> None:
    hashes = [p.content_hash for item in group for p in item.passages]
    vectors = store.cached_vectors(hashes)
    missing: dict[str, str] = {}
    for item in group:
        for p in item.passages:
            if p.content_hash not in vectors:
                missing.setdefault(p.content_hash, p.text)
    report.passages_from_cache += sum(1 for h in hashes if h in vectors)
    keys = list(missing)
    for start in range(0, len(keys), EMBED_GROUP):
        # cache each slice as soon as it is embedded: a crash loses at most one slice
        part = keys[start : start + EMBED_GROUP]
        fresh = embedder.embed_passages([missing[h] for h in part], progress=bar.update)
        store.cache_vectors(list(zip(part, fresh, strict=True)))
        vectors.update(zip(part, fresh, strict=True))
        report.passages_embedded += len(part)
    for item in group:
        vecs = np.vstack([vectors[p.content_hash] for p in item.passages])
        tags = None
        if tagger is not None:
            tags = _tag(tagger, item.passages, item.record.countries, vecs)
            item.record.tag_summary = _aggregate(tags)
        store.replace_document(item.record, item.pages, item.passages, vecs, tags, tags_version)
        report.passages_written += len(item.passages)
        (report.added if item.is_new else report.updated).append(item.entry.id)
        if on_committed:
            on_committed(item.entry.id)


def _tag(tagger: Any, passages: Sequence[Passage], document_countries: list[str], vectors: np.ndarray):
    from housing_kb.ingest.tagging.tagger import TagInput

    items = [
        TagInput(id=p.passage_id, text=p.text, language=p.language, document_countries=document_countries)
        for p in passages
    ]
    return [
        PassageTagsRecord(
            t.components,
            t.countries,
            t.regions,
            {k: round(float(v), 4) for k, v in t.component_scores.items()},
        )
        for t in tagger.tag(items, vectors)
    ]


def _aggregate(tags: Sequence[PassageTagsRecord]) -> dict[str, Any]:
    from housing_kb.ingest.tagging.tagger import PassageTags, aggregate_document_tags

    return aggregate_document_tags(
        [PassageTags(t.components, t.countries, t.regions, t.component_scores) for t in tags]
    )


def retag_stale(store: IndexStore, tagger: Any, *, force: bool = False, show_progress: bool = True) -> int:
    """Re-tag passages whose tags come from another vocabulary version. Never re-embeds."""
    version = tagger.vocabulary_version
    docs = {d.doc_id: d for d in store.documents()}
    stale: dict[str, list[Any]] = {}
    for row in store.iter_passages("id, doc_id, passage_id, text, language, tags_version"):
        if force or row["tags_version"] != version:
            stale.setdefault(row["doc_id"], []).append(row)
    total = sum(len(v) for v in stale.values())
    if not total:
        return 0
    from housing_kb.ingest.tagging.tagger import TagInput

    bar = tqdm(total=total, desc="tagging", unit="passage", disable=not show_progress, leave=False)
    for doc_id, rows in stale.items():
        ids = [int(r["id"]) for r in rows]
        vectors = store.vectors_for(ids)
        countries = docs[doc_id].countries if doc_id in docs else []
        items = [
            TagInput(id=r["passage_id"], text=r["text"], language=r["language"], document_countries=countries)
            for r in rows
        ]
        tags = [
            PassageTagsRecord(
                t.components,
                t.countries,
                t.regions,
                {k: round(float(v), 4) for k, v in t.component_scores.items()},
            )
            for t in tagger.tag(items, vectors)
        ]
        store.update_tags(list(zip(ids, tags, strict=True)), version)
        bar.update(len(rows))
    bar.close()
    # document aggregates from all of each document's passages
    for doc_id in stale:
        rows = store.passages_of(doc_id)
        tags = [
            PassageTagsRecord(
                json.loads(r["components"]), json.loads(r["countries"]), json.loads(r["regions"]), {}
            )
            for r in rows
        ]
        store.set_tag_summary(doc_id, _aggregate(tags))
    return total


def sync_secondary(store: IndexStore, embedder: Embedder, *, show_progress: bool = True) -> int:
    """Give every passage a vector from the second dense channel; returns how many were embedded.

    Vectors go to the same embedding cache (keyed by that model), a slice at a time, so this is
    incremental and crash-safe like the main channel."""
    hashes: dict[str, str] = {}
    for row in store.iter_passages("content_hash, text"):
        hashes.setdefault(row["content_hash"], row["text"])
    have = store.cached_hashes(list(hashes), model_id=embedder.model_id)
    missing = [h for h in hashes if h not in have]
    bar = tqdm(
        total=len(missing),
        desc="embedding (2nd channel)",
        unit="passage",
        disable=not show_progress,
        leave=False,
    )
    for start in range(0, len(missing), EMBED_GROUP):
        part = missing[start : start + EMBED_GROUP]
        vectors = embedder.embed_passages([hashes[h] for h in part], progress=bar.update)
        store.cache_vectors(list(zip(part, vectors, strict=True)), model_id=embedder.model_id)
    bar.close()
    _embed_contexts(store, embedder)
    if store.secondary_model_id != embedder.model_id or store.get_state(CONTEXT_STATE_KEY) != CONTEXT_RECIPE:
        # a new channel or context recipe: bump the generation so readers rebuild FAISS
        with store.transaction():
            store.set_secondary_model(embedder.model_id, int(embedder.dim))
            store.set_state(CONTEXT_STATE_KEY, CONTEXT_RECIPE)
    return len(missing)


def _embed_contexts(store: IndexStore, embedder: Embedder) -> None:
    """Embed the passage contexts (title > headings; index/context.py) this channel lacks.

    Short texts, one per distinct context (436 for the 3,521 dev-corpus passages), so no progress
    bar of their own. A changed title only adds its new context here; the generation bump of the
    metadata update makes readers rebuild the FAISS file with it."""
    contexts = {context_key(text): text for text in set(store.passage_contexts().values())}
    have = store.cached_hashes(list(contexts), model_id=embedder.model_id)
    missing = sorted(k for k in contexts if k not in have)
    for start in range(0, len(missing), EMBED_GROUP):
        part = missing[start : start + EMBED_GROUP]
        vectors = embedder.embed_passages([contexts[k] for k in part])
        store.cache_vectors(list(zip(part, vectors, strict=True)), model_id=embedder.model_id)


def _sync_lexical(store: IndexStore, show_progress: bool) -> None:
    """Bring the BM25 channel in line with the passages (only changed passages are analysed)."""
    try:
        from housing_kb.index.lexical_sync import sync_lexical
    except ImportError:
        return
    sync_lexical(store, show_progress=show_progress)


def _swap_in(new_dir: Path, index_dir: Path) -> None:
    old = index_dir.with_name(index_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if index_dir.exists():
        os.replace(index_dir, old)
    os.replace(new_dir, index_dir)
    shutil.rmtree(old, ignore_errors=True)
