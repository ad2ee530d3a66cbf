"""Durable file writes: a reader sees the old file or the new one, never half of it, even after a crash."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, synced, then renamed.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "manifest.json"
    >>> atomic_write_bytes(target, b"{}")
    >>> target.read_bytes()
    b'{}'
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
