"""Fit the learned taggers (ingest/tagging/learned.py) from a labelled training set.

    housing-kb train-tagger [--training evaluation/data/tags_train.jsonl] [--folds 5]

For each taxonomy (adequacy components, supply-chain stages) and each feature variant (with and
without USE vectors), a logistic regression per label:

- the regularisation ``C`` is chosen from a small grid by macro-F1 under cross-validation grouped by
  document (no document's items in both the fitting and the scoring folds);
- each label's threshold is the one that maximises its F1 over the out-of-fold probabilities of
  that ``C``;
- the model is then fitted on every item.

The training set is richer in passages without any component than the passages the tagger meets
(LABELLING.md: "about a quarter of real passages carry no component"; the set has more, because most
of every document is procedure, lists and other matter). Items without a component are therefore
weighted so that they count as ``none_share`` of the set (0.25), in fitting and in choosing the
component thresholds (stages are fitted unweighted: there is no documented share for them). A label
whose cross-validated F1 stays under ``MIN_LABEL_F1`` is never tagged.

Texts are embedded once per model and cached under ``<cache>/tagger/`` (about 7 minutes for e5 on 2
cores the first time).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from housing_kb.ingest.tagging.components import ComponentClassifier
from housing_kb.ingest.tagging.learned import TAXONOMIES, LabelModel, TaggerModel, features
from housing_kb.schema.vocabulary import COMPONENT_KEYS, STAGE_KEYS

log = logging.getLogger("housing_kb.tagging")

LABELS = {"components": COMPONENT_KEYS, "stages": STAGE_KEYS}
C_GRID = (0.01, 0.03, 0.1, 0.3)
#: Share of items without a component that the weights give the training set (LABELLING.md).
NONE_SHARE = 0.25
#: A label whose cross-validated F1 is below this is never tagged (its tags would be wrong seven
#: times in eight); its probability is still stored and shown.
MIN_LABEL_F1 = 0.2


@dataclass
class LabelledItem:
    id: str
    doc: str
    lang: str
    text: str
    components: set[str]
    stages: set[str]
    countries: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)

    def labels(self, taxonomy: str) -> set[str]:
        return self.components if taxonomy == "components" else self.stages


def load_labelled(path: Path) -> list[LabelledItem]:
    """Labelled passages (tags_train.jsonl or tags_dev.jsonl); a bad line is an error naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"labelled file not found: {path}")
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(
                LabelledItem(
                    id=row["id"],
                    doc=row.get("doc", ""),
                    lang=row["lang"],
                    text=row["text"],
                    components=set(row["components"]),
                    stages=set(row.get("stages", [])),
                    countries=set(row.get("countries", [])),
                    regions=set(row.get("regions", [])),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: bad labelled item ({exc})") from None
    return items


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class TextVectors:
    """Embeddings of labelled texts, cached per model in ``folder`` (texts keyed by sha256)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def embed(
        self, embedder: Any, texts: Sequence[str], progress: Callable[[int], Any] | None = None
    ) -> np.ndarray:
        path = self.folder / f"{hashlib.sha256(embedder.model_id.encode()).hexdigest()[:12]}.npz"
        cached: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                cached = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in cached]
        if missing:
            fresh = embedder.embed_passages([texts[i] for i in missing], progress=progress)
            for i, vec in zip(missing, fresh, strict=True):
                cached[keys[i]] = np.asarray(vec, dtype=np.float32)
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
            np.savez(tmp, keys=np.array(list(cached)), vectors=np.vstack(list(cached.values())))
            os.replace(tmp, path)
        return np.vstack([cached[k] for k in keys])


def lexical_features(texts: Sequence[str], languages: Sequence[str | None]) -> np.ndarray:
    """(n, 8) vocabulary strengths per component (the same evidence the vocabularies give the page)."""
    return ComponentClassifier().lexical_scores(texts, languages)


def none_weights(items: Sequence[LabelledItem], share: float | None = NONE_SHARE) -> np.ndarray:
    """Sample weights that make items without a component count as ``share`` of the set."""
    none = np.array([not item.components for item in items])
    weights = np.ones(len(items))
    if share is None or none.all() or not none.any():
        return weights
    weights[none] = share / (1 - share) * (~none).sum() / none.sum()
    return weights


def group_folds(groups: Sequence[str], folds: int, seed: int = 0) -> list[np.ndarray]:
    """Test-fold item indexes, whole groups (documents) per fold, folds balanced by size."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    rng.shuffle(names)
    sizes = {g: 0 for g in names}
    for g in groups:
        sizes[g] += 1
    assignment: dict[str, int] = {}
    load = [0] * folds
    for g in sorted(names, key=lambda g: -sizes[g]):
        k = int(np.argmin(load))
        assignment[g] = k
        load[k] += sizes[g]
    index = np.arange(len(groups))
    return [index[np.array([assignment[g] == k for g in groups])] for k in range(folds)]


def _fit_one(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    if y.all() or not y.any():  # a fold without both classes: a constant model
        prior = float(np.clip(np.average(y, weights=w), 1e-4, 1 - 1e-4))
        return np.zeros(x.shape[1]), float(np.log(prior / (1 - prior)))
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(x, y, sample_weight=w)
    return model.coef_[0], float(model.intercept_[0])


def fit_label_model(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, labels: Sequence[str], c: float, thresholds: np.ndarray
) -> LabelModel:
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    rows = [_fit_one(z, y[:, j], w, c) for j in range(len(labels))]
    return LabelModel(
        labels=tuple(labels),
        coef=np.vstack([r[0] for r in rows]),
        intercept=np.array([r[1] for r in rows]),
        mean=mean,
        scale=scale,
        thresholds=np.asarray(thresholds, dtype=np.float32),
    )


def out_of_fold(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, folds: Sequence[np.ndarray], c: float
) -> np.ndarray:
    """Out-of-fold probabilities: each fold scored by a model fitted on the others."""
    probs = np.zeros(y.shape, dtype=np.float64)
    for test in folds:
        train = np.setdiff1d(np.arange(len(x)), test)
        model = fit_label_model(
            x[train], y[train], w[train], [str(j) for j in range(y.shape[1])], c, np.zeros(y.shape[1])
        )
        probs[test] = model.probabilities(x[test])
    return probs


def weighted_f1(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    tp = float((w * (y & pred)).sum())
    fp = float((w * (~y & pred)).sum())
    fn = float((w * (y & ~pred)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def best_thresholds(probs: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per label, the probability cut that maximises F1 (weighted) over these predictions."""
    grid = np.linspace(0.05, 0.95, 91)
    out = []
    for j in range(y.shape[1]):
        scores = [weighted_f1(y[:, j], probs[:, j] >= t, w) for t in grid]
        out.append(float(grid[int(np.argmax(scores))]))
    return np.array(out)


@dataclass
class TaxonomyFit:
    """What cross-validation chose and measured for one taxonomy and variant."""

    c: float
    thresholds: np.ndarray
    oof: np.ndarray  # out-of-fold probabilities at the chosen C
    macro_f1_by_c: dict[float, float]


def cross_validate(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    folds: Sequence[np.ndarray],
    grid: Sequence[float] = C_GRID,
) -> TaxonomyFit:
    """Choose C by grouped-CV macro-F1 (thresholds tuned inside the out-of-fold predictions), and the
    thresholds of the chosen C."""
    best: TaxonomyFit | None = None
    scores: dict[float, float] = {}
    for c in grid:
        probs = out_of_fold(x, y, w, folds, c)
        thresholds = best_thresholds(probs, y, w)
        pred = probs >= thresholds
        scores[c] = float(np.mean([weighted_f1(y[:, j], pred[:, j], w) for j in range(y.shape[1])]))
        if best is None or scores[c] > scores[best.c]:
            best = TaxonomyFit(c, thresholds, probs, scores)
    assert best is not None
    best.macro_f1_by_c = scores
    return best


def label_matrix(items: Sequence[LabelledItem], taxonomy: str) -> np.ndarray:
    return np.array(
        [[label in item.labels(taxonomy) for label in LABELS[taxonomy]] for item in items], dtype=bool
    )


def train(
    items: Sequence[LabelledItem],
    e5: np.ndarray,
    use: np.ndarray,
    *,
    folds: int = 5,
    none_share: float | None = NONE_SHARE,
    info: dict[str, Any] | None = None,
    grid: Sequence[float] = C_GRID,
) -> tuple[TaggerModel, dict[str, Any]]:
    """The fitted model and its cross-validated report (per taxonomy and variant: C, thresholds,
    out-of-fold macro-F1 per C)."""
    lexical = lexical_features([i.text for i in items], [i.lang for i in items])
    variants = {
        "full": features(e5, use, lexical),
        "e5": features(e5, None, lexical),
        "lexical": features(None, None, lexical),
    }
    component_weights = none_weights(items, none_share)
    split = group_folds([i.doc for i in items], folds)
    models: dict[tuple[str, str], LabelModel] = {}
    report: dict[str, Any] = {}
    for taxonomy in TAXONOMIES:
        y = label_matrix(items, taxonomy)
        # the prior correction is about components; stages have no documented share, so none
        w = component_weights if taxonomy == "components" else np.ones(len(items))
        for variant, x in variants.items():
            fit = cross_validate(x, y, w, split, grid)
            pred = fit.oof >= fit.thresholds
            label_f1 = [weighted_f1(y[:, j], pred[:, j], w) for j in range(y.shape[1])]
            thresholds = np.where(np.array(label_f1) < MIN_LABEL_F1, 1.01, fit.thresholds)
            models[(taxonomy, variant)] = fit_label_model(x, y, w, LABELS[taxonomy], fit.c, thresholds)
            report[f"{taxonomy}.{variant}"] = {
                "C": fit.c,
                "cv_macro_f1_by_C": {str(c): round(v, 4) for c, v in fit.macro_f1_by_c.items()},
                "cv_f1": {k: round(f, 3) for k, f in zip(LABELS[taxonomy], label_f1, strict=True)},
                "thresholds": {
                    k: round(float(t), 3) for k, t in zip(LABELS[taxonomy], thresholds, strict=True)
                },
                "never_tagged": [
                    k for k, f in zip(LABELS[taxonomy], label_f1, strict=True) if f < MIN_LABEL_F1
                ],
            }
            log.info(
                "%s.%s: C=%s, grouped-CV macro-F1 %.3f", taxonomy, variant, fit.c, fit.macro_f1_by_c[fit.c]
            )
    meta = dict(info or {})
    meta.update(
        {
            "labels": {t: list(LABELS[t]) for t in TAXONOMIES},
            "features": {
                "full": "e5 (384) + USE-multilingual (512) + lexical (8)",
                "e5": "e5 (384) + lexical (8)",
                "lexical": "lexical (8)",
            },
            "none_share": none_share,
            "folds": folds,
            "items": len(items),
            "documents": len({i.doc for i in items}),
            "fits": report,
        }
    )
    model = TaggerModel(models=models, info=meta, stamp="")
    return model, report


def item_vectors(
    items: Sequence[LabelledItem], e5: Any, use: Any, cache: Path
) -> tuple[np.ndarray, np.ndarray]:
    """The e5 and USE passage vectors of labelled items (cached; e5 takes minutes the first time)."""
    from tqdm import tqdm

    texts = [i.text for i in items]
    vectors = TextVectors(cache)
    with tqdm(total=len(texts), desc="embedding labelled passages (e5)", unit="passage", leave=False) as bar:
        e5_vectors = vectors.embed(e5, texts, progress=bar.update)
    return e5_vectors, vectors.embed(use, texts)


def fit_and_save(
    training: Path, out_dir: Path, cache: Path, e5: Any, use: Any, *, folds: int = 5
) -> tuple[TaggerModel, dict[str, Any]]:
    """Fit the taggers on ``training`` and write them to ``out_dir`` (prompts/tagger/ by default)."""
    import datetime

    items = load_labelled(training)
    e5_vectors, use_vectors = item_vectors(items, e5, use, cache)
    info = {
        "training_file": training.name,
        "training_sha256": file_digest(training),
        "models": {"e5": e5.model_id, "use": use.model_id},
        "created": datetime.date.today().isoformat(),
    }
    model, report = train(items, e5_vectors, use_vectors, folds=folds, info=info)
    model.save(out_dir)
    return TaggerModel.load(out_dir), report
