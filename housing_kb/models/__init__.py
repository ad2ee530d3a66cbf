"""Embedding backends behind one ``Embedder`` protocol; pick one with ``load_embedder(name, settings)``.

>>> from housing_kb.models import EMBEDDER_CHOICES
>>> EMBEDDER_CHOICES
('e5-small', 'use-multilingual')
"""

from housing_kb.models.base import Embedder, ProgressCallback
from housing_kb.models.model_setup import ModelSetupError, build_e5_model, ensure_e5_model
from housing_kb.models.registry import EMBEDDER_CHOICES, EMBEDDER_HELP, load_embedder

__all__ = [
    "EMBEDDER_CHOICES",
    "EMBEDDER_HELP",
    "Embedder",
    "ModelSetupError",
    "ProgressCallback",
    "build_e5_model",
    "ensure_e5_model",
    "load_embedder",
]
