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
        from housing_kb.index.adapters.milvus import sync_settings
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

    where = getattr(target, "uri", None) or settings.milvus_target_uri
    try:
        target, report = sync_settings(settings, target=target, replace=replace, progress=advance)
    except Exception as exc:  # any client or server failure: the index itself is committed and intact
        raise SearchBackendError(
            f"Milvus at {where}: {exc}. The index is written; run the same command again to sync it."
        ) from exc
    finally:
        for bar in bars.values():
            bar.close()
    return f"Milvus at {target.uri} (prefix {target.prefix}): {report.summary()}"
