"""Objects that take seconds to build from packaged data, kept built on disk for the next process.

A query-time process (a CLI search, the MCP server) answers one question and exits; building the place
gazetteer or parsing a tokenizer's vocabulary would be most of its time. Each object is stored under
the project's git-ignored cache folder (``HOUSING_KB_CACHE``) with a key over everything it is built
from, so a change to any of its inputs builds it anew; a missing or unreadable entry is rebuilt, and
writes are atomic (a half-written entry is never read).

>>> cached("example", ["data v1"], lambda: {"built": True})   # doctest: +SKIP
{'built': True}
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def cache_key(parts: Iterable[str | bytes | Path]) -> str:
    """A digest of ``parts``; a Path counts by its name and contents. The Python version is included
    because pickles are only read back by the Python that wrote them."""
    digest = hashlib.sha256(sys.version.encode())
    for part in parts:
        if isinstance(part, Path):
            digest.update(part.name.encode() + b"\0" + part.read_bytes())
        else:
            digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cached(kind: str, parts: Iterable[str | bytes | Path], build: Callable[[], T]) -> T:
    """``build()``, or the copy an earlier process stored for the same ``parts``."""
    from housing_kb.config import current_settings

    target = current_settings().cache_dir / "built" / f"{kind}-{cache_key(parts)}.pickle"
    try:
        with target.open("rb") as fh:
            # Tens of thousands of new objects would trigger collection after collection while loading.
            gc.disable()
            try:
                return pickle.load(fh)
            finally:
                gc.enable()
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError):
        pass
    built = build()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        partial.write_bytes(pickle.dumps(built, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, target)
    except OSError:  # a read-only cache only costs the next process the build
        pass
    return built
