"""Keeping the search backend in step with the index.

The embedded backend searches the index itself. Milvus holds a copy, and every writer of the index
(an ingest, a rebuild, an editor's unpublish or delete) brings that copy up to date before it lets go
of the writer lock: a server never searches collections that a finished write has left behind, and
two writers never sync at once. Only rows whose fingerprint changed are written
(``index/adapters/milvus.py``).
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from housing_kb.config import Settings
from housing_kb.index.store.lock import IndexLocked, writer_lock


class SearchBackendError(RuntimeError):
    """The index was written but the search backend could not be brought in step with it."""


def sync_search_backend(
    settings: Settings, *, target: Any = None, replace: bool = False, show_progress: bool = True
) -> str | None:
    """Write the index's current state into Milvus when it is the backend (or ``target`` is given);
    ``replace`` rebuilds its collections. Returns a line saying what was written, None when the
    embedded backend needs nothing."""
    if settings.backend != "milvus" and target is None:
        return None
    try:
        from housing_kb.index.adapters.milvus import MilvusTarget, sync_settings
    except ImportError as exc:
        raise SearchBackendError(
            "HOUSING_KB_BACKEND=milvus needs pymilvus and milvus-lite: pip install pymilvus milvus-lite"
        ) from exc
    bars: dict[str, tqdm] = {}

    def advance(channel: str, done: int, total: int) -> None:
        bar = bars.setdefault(
            channel,
            tqdm(
                total=total, desc=f"milvus {channel}", unit="passage", disable=not show_progress, leave=False
            ),
        )
        bar.update(done - bar.n)

    target = target or MilvusTarget.from_settings(settings)
    try:
        _, report = sync_settings(settings, target=target, replace=replace, progress=advance)
    except Exception as exc:  # any client or server failure: the index itself is committed and intact
        raise SearchBackendError(
            f"Milvus at {target.uri}: {exc}. The index is written; run the same command again to sync it."
        ) from exc
    finally:
        for bar in bars.values():
            bar.close()
    return f"Milvus at {target.uri} (prefix {target.prefix}): {report.summary()}"


def catch_up_search_backend(settings: Settings) -> str | None:
    """Sync Milvus if it holds another state of the index than the one on disk: a write whose sync did
    not finish (an ingest killed after its last commit, a Milvus that was down) leaves it behind, and
    servers keep answering from that older state until a sync. Returns what was written, None when
    Milvus is in step, the backend is embedded, or a writer holds the index (its own sync will follow)."""
    if settings.backend != "milvus" or not settings.index_dir.is_dir():
        return None
    from housing_kb.index.adapters.milvus import MilvusIndex, MilvusTarget, milvus_stamp
    from housing_kb.index.store.index_store import IndexStore

    store = IndexStore.open(settings.index_dir, readonly=True)
    try:
        expected = milvus_stamp(store)
    finally:
        store.close()
    index = MilvusIndex.connect(MilvusTarget.from_settings(settings))
    try:
        in_step = index.stamp() == expected
    finally:
        index.client.close()
    if in_step:
        return None
    try:
        with writer_lock(settings.index_dir, what="Milvus catch-up"):
            return sync_search_backend(settings, show_progress=False)
    except IndexLocked:
        return None
