"""The dense channels' FAISS files: derived from the SQLite store, stamped with its generation.

Beside ``meta.sqlite`` an index directory holds, per dense channel (``vectors`` for the index's own
model, ``vectors2`` for the optional second one)::

    <prefix>.<gen>.faiss        the channel's FaissVectorIndex (index/adapters/faiss_vectors.py),
                                built from the passages of generation <gen>
    <prefix>.<gen>.neutral.npz  the e5 channel only: the recipe and the language directions projected
                                out of its vectors (index/dense/language_neutral.py)

A file of another generation, another recipe or another index kind (flat or HNSW, see
:func:`ann_threshold`) is never read: the channel is rebuilt from the embedding cache and, unless
the store is read-only, the new files replace the old. So a crash between a SQLite commit and a
FAISS write costs a rebuild on the next open, never a stale result.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from housing_kb.config import current_settings
from housing_kb.files import atomic_write_bytes
from housing_kb.index.adapters.faiss_vectors import FaissVectorIndex
from housing_kb.index.dense.language_neutral import RECIPE as NEUTRAL_RECIPE
from housing_kb.index.dense.language_neutral import language_basis, project_out
from housing_kb.index.store.context import CONTEXT_RECIPE, CONTEXT_STATE_KEY, context_key, with_context

if TYPE_CHECKING:
    from housing_kb.index.store.index_store import IndexStore

#: Passages from which a channel also gets an HNSW graph: below it an exact flat scan is already
#: fast enough (docs/results.md, search latency).
ANN_MIN_DEFAULT = 50_000


def ann_threshold() -> int:
    """Passages from which dense channels use HNSW (HOUSING_KB_ANN_MIN; 0 turns it off)."""
    value = current_settings().ann_min
    return value if value > 0 else 1 << 62


def language_neutral() -> bool:
    """Whether the e5 channel's vectors are made language-neutral (HOUSING_KB_LANGUAGE_NEUTRAL, on
    unless 0 / false / no / off; index/dense/language_neutral.py). Changing it rebuilds the FAISS file."""
    return current_settings().language_neutral


class DenseFiles:
    """The FAISS files of one open :class:`~housing_kb.index.store.index_store.IndexStore`, loaded once per
    generation and shared by the store's threads."""

    def __init__(self, store: IndexStore) -> None:
        self._store = store
        self._directory: Path = store.directory
        #: prefix -> (generation, index, language basis, recipe) as last loaded or built.
        self._loaded: dict[str, tuple[int, FaissVectorIndex, np.ndarray, str | None]] = {}
        self._lock = threading.Lock()

    def channel(self, model_id: str, dim: int, *, primary: bool) -> tuple[FaissVectorIndex, np.ndarray]:
        """A channel's index for the store's current generation and the directions projected out of
        its vectors (no rows when none are), loaded or rebuilt as needed. ``primary``: the index's own
        model's channel, the other is the second one."""
        store = self._store
        prefix = "vectors" if primary else "vectors2"
        # Only the index's own model (e5) is made language-neutral; the second channel (USE) is
        # language-neutral by training, and the projection measured lower on it.
        recipe = (NEUTRAL_RECIPE if store.language_neutral else "raw") if primary else None
        gen = store.generation
        with self._lock:
            cached = self._loaded.get(prefix)
            if cached is not None and cached[0] == gen and cached[3] == recipe:
                return cached[1], cached[2]
            path = self._faiss_path(gen, prefix)
            index = FaissVectorIndex.from_bytes(path.read_bytes()) if path.exists() else None
            if index is not None and index.is_ann != (index.count() >= ann_threshold()):
                index = None  # built under another HOUSING_KB_ANN_MIN: rebuild rather than mix kinds
            basis = np.zeros((0, dim), dtype=np.float32)
            if index is not None and recipe is not None:
                stored = self._read_basis(gen, prefix)
                if stored is None or stored[0] != recipe:
                    index = None  # built before the recipe existed, or under the other setting
                else:
                    basis = stored[1]
            if index is None:
                index, basis = self._build(model_id, dim, neutral=recipe == NEUTRAL_RECIPE)
                if not store.readonly:
                    if recipe is not None:
                        self._write_basis(gen, prefix, recipe, basis)
                    self._replace_generation_file(self._faiss_path(gen, prefix), index.to_bytes())
            self._loaded[prefix] = (gen, index, basis, recipe)
            return index, basis

    def _build(self, model_id: str, dim: int, *, neutral: bool) -> tuple[FaissVectorIndex, np.ndarray]:
        store = self._store
        ids, vectors, languages = store.embeddings.passage_vectors(model_id, dim)
        if model_id == store.secondary_model_id and store.get_state(CONTEXT_STATE_KEY) == CONTEXT_RECIPE:
            vectors = self._with_passage_context(ids, vectors, model_id)
        basis = np.zeros((0, dim), dtype=np.float32)
        if neutral and len(ids):
            basis = language_basis(vectors, languages)
            vectors = project_out(vectors, basis)
        return FaissVectorIndex.build(vectors, ids, ann_min=ann_threshold()), basis

    def _with_passage_context(self, ids: np.ndarray, vectors: np.ndarray, model_id: str) -> np.ndarray:
        # Passages whose context has no vector yet (an ingest without this channel's model) keep
        # their own vector alone; the next ingest with the model embeds the context.
        contexts = self._store.passage_contexts()
        keys = {text: context_key(text) for text in set(contexts.values())}
        found = self._store.embeddings.vectors(sorted(keys.values()), model_id=model_id)
        mixed_in = np.zeros_like(vectors)
        has = np.zeros(len(ids), dtype=bool)
        for row, pid in enumerate(ids.tolist()):
            vec = found.get(keys.get(contexts.get(pid, ""), ""))
            if vec is not None:
                mixed_in[row] = vec
                has[row] = True
        mixed: np.ndarray = with_context(vectors, mixed_in, has)
        return mixed

    # ------------------------------------------------------------------ files
    def _faiss_path(self, generation: int, prefix: str) -> Path:
        return self._directory / f"{prefix}.{generation}.faiss"

    def _basis_path(self, generation: int, prefix: str) -> Path:
        return self._directory / f"{prefix}.{generation}.neutral.npz"

    def _read_basis(self, generation: int, prefix: str) -> tuple[str, np.ndarray] | None:
        path = self._basis_path(generation, prefix)
        try:
            with np.load(path, allow_pickle=False) as data:
                return str(data["recipe"]), np.asarray(data["basis"], dtype=np.float32)
        except (OSError, KeyError, ValueError):
            return None

    def _write_basis(self, generation: int, prefix: str, recipe: str, basis: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, recipe=np.array(recipe), basis=basis)
        self._replace_generation_file(self._basis_path(generation, prefix), buf.getvalue())

    def _replace_generation_file(self, target: Path, data: bytes) -> None:
        """Write ``<prefix>.<generation>.<suffix>`` atomically and drop the other generations' files."""
        prefix, _, suffix = target.name.split(".", 2)
        atomic_write_bytes(target, data)
        for old in self._directory.glob(f"{prefix}.*.{suffix}"):
            if old.name != target.name:
                old.unlink(missing_ok=True)
