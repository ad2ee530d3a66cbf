"""The learned taggers: a logistic regression per label over what the index already stores for a passage.

Features: the passage's e5 vector, its USE-multilingual vector, and the vocabularies' lexical strength
for each adequacy component (prompts/vocabularies/), standardised. Two taxonomies run on the same
features: the adequacy components of CESCR General Comment 4 plus sustainability, and the housing
supply-chain stages (prompts/supply_chain/stages.yaml). A label's probability is its confidence; it is
tagged when the probability reaches the label's threshold, chosen by cross-validation grouped by
document (``housing-kb train-tagger``; ingest/tagging/training.py).

The fitted weights are data, committed in ``prompts/tagger/``: ``model.npz`` (arrays) and
``model.json`` (labels, thresholds, training-set digest, settings and cross-validated figures). Each
taxonomy has a ``full`` model, an ``e5`` one for indexes without the second dense channel, and a
``lexical`` one for tagging without any model.

>>> model = TaggerModel.load()                                  # doctest: +SKIP
>>> model.components.labels[:2]                                 # doctest: +SKIP
('security_of_tenure', 'availability_of_services')
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

TAXONOMIES = ("components", "stages")
#: Feature sets: e5 + USE + lexical, e5 + lexical (an index without the second channel), lexical alone
#: (``housing-kb tag --lexical-only``, no model loaded).
VARIANTS = ("full", "e5", "lexical")


class TaggerModelError(ValueError):
    """The model files are missing or do not fit the features (the message names the file)."""


def default_model_dir() -> Path:
    return Path(str(resources.files("housing_kb.prompts"))) / "tagger"


def features(e5: np.ndarray | None, use: np.ndarray | None, lexical: np.ndarray) -> np.ndarray:
    """The feature rows of passages: [e5 | USE | lexical], without the parts that are None."""
    parts = [np.asarray(v, dtype=np.float32) for v in (e5, use) if v is not None]
    parts.append(np.asarray(lexical, dtype=np.float32))
    return np.hstack(parts)


def variant_for(e5: np.ndarray | None, use: np.ndarray | None) -> str:
    if e5 is None:
        return "lexical"
    return "full" if use is not None else "e5"


@dataclass(frozen=True)
class LabelModel:
    """One taxonomy's fitted logistic regressions (one row of ``coef`` per label) and thresholds."""

    labels: tuple[str, ...]
    coef: np.ndarray  # (labels, features)
    intercept: np.ndarray  # (labels,)
    mean: np.ndarray  # (features,) standardisation
    scale: np.ndarray  # (features,)
    thresholds: np.ndarray  # (labels,)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(passages, labels) probabilities."""
        if x.shape[1] != self.coef.shape[1]:
            raise TaggerModelError(
                f"the model takes {self.coef.shape[1]} features, the passages give {x.shape[1]}"
            )
        z = ((x - self.mean) / self.scale) @ self.coef.T + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def decide(self, probabilities: np.ndarray) -> list[list[str]]:
        """The labels at or over their threshold, per passage."""
        hits = probabilities >= self.thresholds
        return [[label for label, on in zip(self.labels, row, strict=True) if on] for row in hits]

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}.coef": self.coef.astype(np.float32),
            f"{prefix}.intercept": self.intercept.astype(np.float32),
            f"{prefix}.mean": self.mean.astype(np.float32),
            f"{prefix}.scale": self.scale.astype(np.float32),
            f"{prefix}.thresholds": self.thresholds.astype(np.float32),
        }

    @classmethod
    def from_arrays(cls, labels: tuple[str, ...], data: Any, prefix: str) -> LabelModel:
        return cls(
            labels=labels,
            coef=np.asarray(data[f"{prefix}.coef"], dtype=np.float32),
            intercept=np.asarray(data[f"{prefix}.intercept"], dtype=np.float32),
            mean=np.asarray(data[f"{prefix}.mean"], dtype=np.float32),
            scale=np.asarray(data[f"{prefix}.scale"], dtype=np.float32),
            thresholds=np.asarray(data[f"{prefix}.thresholds"], dtype=np.float32),
        )


@dataclass(frozen=True)
class TaggerModel:
    """Both taxonomies, each with its ``full`` and ``e5`` variant, and what the stamp records."""

    models: dict[tuple[str, str], LabelModel]  # (taxonomy, variant) -> model
    info: dict[str, Any]
    #: Digest of the model files: part of the tagger's version, so a new model re-tags the index.
    stamp: str

    def model(self, taxonomy: str, variant: str) -> LabelModel:
        return self.models[(taxonomy, variant)]

    @property
    def components(self) -> LabelModel:
        return self.models[("components", "full")]

    @property
    def stages(self) -> LabelModel:
        return self.models[("stages", "full")]

    @classmethod
    def load(cls, folder: Path | None = None) -> TaggerModel:
        folder = folder or default_model_dir()
        npz, meta = folder / "model.npz", folder / "model.json"
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            blob = npz.read_bytes()
        except (OSError, ValueError) as exc:
            raise TaggerModelError(
                f"{folder}: no usable tagger model ({exc.__class__.__name__}); run `housing-kb train-tagger`"
            ) from exc
        import io

        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            models = {
                (t, v): LabelModel.from_arrays(tuple(info["labels"][t]), data, f"{t}.{v}")
                for t in TAXONOMIES
                for v in VARIANTS
            }
        stamp = hashlib.sha256(blob + meta.read_bytes()).hexdigest()[:16]
        return cls(models=models, info=info, stamp=stamp)

    def save(self, folder: Path) -> None:
        """Write ``model.npz`` and ``model.json`` (each replaced atomically)."""
        import io
        import os

        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for (t, v), m in sorted(self.models.items()):
            arrays.update(m.arrays(f"{t}.{v}"))
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        for name, data in (("model.npz", buf.getvalue()), ("model.json", _json_bytes(self.info))):
            tmp = folder / f".{name}.tmp-{os.getpid()}"
            tmp.write_bytes(data)
            os.replace(tmp, folder / name)


def _json_bytes(info: dict[str, Any]) -> bytes:
    return (json.dumps(info, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
