"""One writer per index: an exclusive lock that every command writing to an index takes first.

Two ingests on one index used to both exit 0, with deletions lost and a FAISS file missing a sixth
of its passages. The lock is an ``flock`` on ``.<index name>.lock`` beside the index directory (not
inside it: ``ingest --rebuild`` swaps the directory itself). The kernel releases it when its holder
exits, even under ``kill -9``, so a crashed ingest never leaves a stale lock behind.

>>> with writer_lock(Path("data/index")):   # doctest: +SKIP
...     run_the_ingest()
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from housing_kb.index.store.index_store import IndexError_


class IndexLocked(IndexError_):
    """Another process is writing to this index."""


def lock_path(index_dir: Path) -> Path:
    index_dir = Path(index_dir).absolute()
    return index_dir.with_name(f".{index_dir.name}.lock")


@contextmanager
def writer_lock(index_dir: Path, *, what: str = "ingest") -> Iterator[None]:
    """Hold the index's writer lock for the block, or raise :class:`IndexLocked` naming the holder."""
    path = lock_path(index_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise IndexLocked(
                f"another {holder} holds the index at {index_dir}; wait for it to finish "
                "(or stop it) and run this again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what} (pid {os.getpid()})\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
