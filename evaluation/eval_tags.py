"""Evaluate the taggers on text they were not fitted to.

    python -m housing_kb.evaluation.eval_tags [--folds 5] [--markdown] [--json OUT]

Two measurements, each in the same table for the learned tagger and its peers:

- **unseen documents**: cross-validation on evaluation/data/tags_train.jsonl grouped by document (no
  document's items in both the fitting and the scoring folds), nested: each outer fold's thresholds
  come from an inner grouped cross-validation of its training folds, so no label of the scored fold
  is seen by the model or its thresholds. Items without a component count as a quarter of the set
  (the share LABELLING.md gives for real passages; the training set has more, see training.py); the
  unweighted figure is beside it.
- **the dev set** (../shared/eval/tags_dev.jsonl) as a pure test set: the tagger fitted on the whole
  training set, nothing fitted on dev.

Peers: the vocabulary + embedding tagger this replaced (its thresholds were fitted on dev, so its dev
figure is in-sample), zero-shot (relative cosine to the component definitions and exemplars, one
threshold per component fitted on the training set), and a logistic regression fitted on the 100
dev items (scored on the training set, and by grouped cross-validation on dev itself).

Also: per-language F1, countries and regions, the supply-chain stages (cross-validated), and the
agreement of a second reader with the first on a random tenth of the training set (the human ceiling).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from housing_kb.config import REPO_ROOT, Settings
from housing_kb.ingest.tagging.components import ComponentClassifier
from housing_kb.ingest.tagging.learned import TaggerModel, features
from housing_kb.ingest.tagging.training import (
    LABELS,
    LabelledItem,
    best_thresholds,
    cross_validate,
    fit_label_model,
    group_folds,
    item_vectors,
    label_matrix,
    lexical_features,
    load_labelled,
    none_weights,
)
from housing_kb.text.geography import Gazetteer, passage_geography

TRAIN_FILE = REPO_ROOT / "evaluation" / "data" / "tags_train.jsonl"
SECOND_READER_FILE = REPO_ROOT / "evaluation" / "data" / "tags_train_second_reader.jsonl"


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """Precision, recall and F1, rounded to 4 places (0 when undefined).

    >>> prf(3, 1, 2)
    (0.75, 0.6, 0.6667)
    """
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return round(p, 4), round(r, 4), round(f, 4)


@dataclass
class Scores:
    """Per-label P/R/F1 and macro-F1 of predictions against gold, optionally weighted per item."""

    per_label: dict[str, tuple[float, float, float, int]]
    macro_f1: float

    @classmethod
    def of(
        cls, gold: np.ndarray, pred: np.ndarray, labels: Sequence[str], weights: np.ndarray | None = None
    ) -> Scores:
        w = np.ones(len(gold)) if weights is None else weights
        per = {}
        for j, label in enumerate(labels):
            g, p = gold[:, j], pred[:, j]
            per[label] = (*prf((w * (g & p)).sum(), (w * (~g & p)).sum(), (w * (g & ~p)).sum()), int(g.sum()))
        return cls(per, round(float(np.mean([v[2] for v in per.values()])), 4))


def language_f1(
    items: Sequence[LabelledItem], gold: np.ndarray, pred: np.ndarray, weights: np.ndarray
) -> dict[str, tuple[float, int]]:
    """Micro F1 over components per passage language."""
    by_lang: dict[str, list[int]] = defaultdict(list)
    for n, item in enumerate(items):
        by_lang[item.lang].append(n)
    out = {}
    for lang, idx in sorted(by_lang.items()):
        g, p, w = gold[idx], pred[idx], weights[idx][:, None]
        out[lang] = (prf((w * (g & p)).sum(), (w * (~g & p)).sum(), (w * (g & ~p)).sum())[2], len(idx))
    return out


# ---------------------------------------------------------------------------------- the learned tagger


def nested_cv(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, groups: Sequence[str], c: float, folds: int
) -> np.ndarray:
    """Grouped, nested cross-validated predictions: thresholds of each outer fold from an inner grouped
    cross-validation of its training part."""
    pred = np.zeros(y.shape, dtype=bool)
    for test in group_folds(groups, folds):
        train = np.setdiff1d(np.arange(len(y)), test)
        inner = group_folds([groups[i] for i in train], folds - 1, seed=1)
        fit = cross_validate(x[train], y[train], w[train], inner, (c,))
        model = fit_label_model(
            x[train], y[train], w[train], [str(j) for j in range(y.shape[1])], c, fit.thresholds
        )
        pred[test] = model.probabilities(x[test]) >= fit.thresholds
    return pred


@dataclass
class Featurised:
    items: list[LabelledItem]
    e5: np.ndarray
    use: np.ndarray
    lexical: np.ndarray

    def x(self, variant: str = "full") -> np.ndarray:
        return features(
            None if variant == "lexical" else self.e5, self.use if variant == "full" else None, self.lexical
        )


def featurise(items: list[LabelledItem], e5: object, use: object, cache: Path) -> Featurised:
    e5v, usev = item_vectors(items, e5, use, cache)
    return Featurised(items, e5v, usev, lexical_features([i.text for i in items], [i.lang for i in items]))


# ---------------------------------------------------------------------------------- peers


def zero_shot_scores(clf: ComponentClassifier, vectors: np.ndarray) -> np.ndarray:
    """Relative cosine to each component's definitions and exemplars (the "any housing text" part removed)."""
    sims = vectors @ clf.anchors().T
    return sims - sims.mean(axis=1, keepdims=True)


def threshold_cv(
    scores: np.ndarray, y: np.ndarray, w: np.ndarray, groups: Sequence[str], folds: int
) -> np.ndarray:
    """Predictions with one threshold per label fitted on the other folds (grouped)."""
    lo, hi = scores.min(axis=0), scores.max(axis=0)
    unit = (scores - lo) / np.where(hi > lo, hi - lo, 1)  # thresholds are searched on [0, 1]
    pred = np.zeros(y.shape, dtype=bool)
    for test in group_folds(groups, folds):
        train = np.setdiff1d(np.arange(len(y)), test)
        t = best_thresholds(unit[train], y[train], w[train])
        pred[test] = unit[test] >= t
    return pred


def document_countries(corpus_dir: Path) -> dict[str, list[str]]:
    """Document path -> ISO codes, from the corpus PROVENANCE.tsv 'country_region' column ("Global" -> none)."""
    path = corpus_dir / "PROVENANCE.tsv"
    if not path.is_file():
        return {}
    gazetteer = Gazetteer.default()
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = {}
    for row in rows:
        place = re.sub(r"\([^)]*\)", " ", row.get("country_region") or "").strip()
        out[row["relative_path"]] = (
            [] if place.lower().startswith("global") else gazetteer.find(place).countries
        )
    return out


def geography(
    items: Sequence[LabelledItem], doc_countries: dict[str, list[str]]
) -> dict[str, tuple[float, float, float]]:
    gazetteer = Gazetteer.default()
    geos = [passage_geography(i.text, doc_countries.get(i.doc, []), gazetteer) for i in items]
    out = {}
    for name, gold, pred in (
        ("countries", [i.countries for i in items], [set(g.countries) for g in geos]),
        ("regions", [i.regions for i in items], [set(g.regions) for g in geos]),
    ):
        tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
        fp = sum(len(p - g) for g, p in zip(gold, pred, strict=True))
        fn = sum(len(g - p) for g, p in zip(gold, pred, strict=True))
        out[name] = prf(tp, fp, fn)
    return out


def agreement(train: Sequence[LabelledItem], second_path: Path) -> dict[str, object]:
    """F1 of the second reader's labels against the first pass, on the items both labelled."""
    if not second_path.is_file():
        return {}
    first = {i.id: i for i in train}
    second = [
        json.loads(line) for line in second_path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    second = [s for s in second if s["id"] in first]
    out: dict[str, object] = {"items": len(second)}
    for taxonomy, field in (("components", "components"), ("stages", "stages")):
        gold = np.array([[k in first[s["id"]].labels(taxonomy) for k in LABELS[taxonomy]] for s in second])
        pred = np.array([[k in s[field] for k in LABELS[taxonomy]] for s in second])
        tp, fp, fn = (gold & pred).sum(), (~gold & pred).sum(), (gold & ~pred).sum()
        out[taxonomy] = {
            "micro_f1": prf(tp, fp, fn)[2],
            "macro_f1": Scores.of(gold, pred, LABELS[taxonomy]).macro_f1,
        }
    tp = sum(len(first[s["id"]].countries & set(s["countries"])) for s in second)
    fp = sum(len(set(s["countries"]) - first[s["id"]].countries) for s in second)
    fn = sum(len(first[s["id"]].countries - set(s["countries"])) for s in second)
    out["countries"] = prf(tp, fp, fn)[2]
    return out


# ---------------------------------------------------------------------------------- the run


def evaluate(folds: int, settings: Settings, dev_path: Path) -> dict:
    from housing_kb.models.registry import load_embedder

    started = time.time()
    e5 = load_embedder(settings.embedder, settings)
    use = load_embedder("use-multilingual", settings)
    cache = settings.cache_dir / "tagger"
    train = featurise(load_labelled(TRAIN_FILE), e5, use, cache)
    dev = featurise(load_labelled(dev_path), e5, use, cache)
    groups = [i.doc for i in train.items]
    w_train = none_weights(train.items)
    ones_train, ones_dev = np.ones(len(train.items)), np.ones(len(dev.items))
    model = TaggerModel.load()
    y = label_matrix(train.items, "components")
    ydev = label_matrix(dev.items, "components")
    keys = LABELS["components"]
    rows: dict[str, dict] = {}

    # the learned tagger: nested grouped CV with the committed C, and the committed model on dev
    c = float(model.info["fits"]["components.full"]["C"])
    cv_pred = nested_cv(train.x(), y, w_train, groups, c, folds)
    shipped = model.model("components", "full")
    dev_pred = shipped.probabilities(dev.x()) >= shipped.thresholds
    rows["learned (e5 + USE + vocabulary features)"] = {
        "cv": Scores.of(y, cv_pred, keys, w_train),
        "cv_unweighted": Scores.of(y, cv_pred, keys),
        "dev": Scores.of(ydev, dev_pred, keys),
        "cv_languages": language_f1(train.items, y, cv_pred, w_train),
        "dev_languages": language_f1(dev.items, ydev, dev_pred, ones_dev),
    }
    learned = rows["learned (e5 + USE + vocabulary features)"]

    # the previous tagger (vocabularies + anchor similarity, thresholds fitted on dev)
    old = ComponentClassifier(e5)
    old_train = old.scores([i.text for i in train.items], [i.lang for i in train.items], train.e5)[
        0
    ] >= old.thresholds(True)
    old_dev = old.scores([i.text for i in dev.items], [i.lang for i in dev.items], dev.e5)[
        0
    ] >= old.thresholds(True)
    rows["previous: vocabularies + embedding similarity"] = {
        "cv": Scores.of(y, old_train, keys, w_train),
        "cv_unweighted": Scores.of(y, old_train, keys),
        "dev": Scores.of(ydev, old_dev, keys),
        "dev_note": "in-sample (its thresholds were fitted on dev)",
    }

    # zero-shot: relative cosine to the component anchors; one threshold per component
    zs_train, zs_dev = zero_shot_scores(old, train.e5), zero_shot_scores(old, dev.e5)
    zs_cv = threshold_cv(zs_train, y, w_train, groups, folds)
    lo, hi = zs_train.min(axis=0), zs_train.max(axis=0)
    t = best_thresholds((zs_train - lo) / (hi - lo), y, w_train)
    rows["zero-shot (cosine to component definitions)"] = {
        "cv": Scores.of(y, zs_cv, keys, w_train),
        "cv_unweighted": Scores.of(y, zs_cv, keys),
        "dev": Scores.of(ydev, (zs_dev - lo) / (hi - lo) >= t, keys),
    }

    # logistic regression fitted on the 100 dev items: scored on the training set, and by CV on dev
    dev_groups = [i.doc for i in dev.items]
    fit = cross_validate(dev.x(), ydev, ones_dev, group_folds(dev_groups, folds), (c,))
    on_dev = fit_label_model(dev.x(), ydev, ones_dev, keys, c, fit.thresholds)
    rows["logistic regression fitted on the dev items"] = {
        "cv": Scores.of(y, on_dev.probabilities(train.x()) >= on_dev.thresholds, keys, w_train),
        "cv_unweighted": Scores.of(y, on_dev.probabilities(train.x()) >= on_dev.thresholds, keys),
        "dev": Scores.of(ydev, nested_cv(dev.x(), ydev, ones_dev, dev_groups, c, folds), keys),
        "cv_note": "scored on the training set (unseen by it)",
        "dev_note": "grouped cross-validation on dev",
    }

    # supply-chain stages (the training set has them; dev does not)
    ys = label_matrix(train.items, "stages")
    cs = float(model.info["fits"]["stages.full"]["C"])
    stages_cv = nested_cv(train.x(), ys, ones_train, groups, cs, folds)
    stages = Scores.of(ys, stages_cv, LABELS["stages"])

    doc_countries = document_countries(settings.corpus_dir)
    return {
        "rows": rows,
        "learned": learned,
        "stages": stages,
        "geography": {
            "train": geography(train.items, doc_countries),
            "dev": geography(dev.items, doc_countries),
        },
        "agreement": agreement(train.items, SECOND_READER_FILE),
        "items": {"train": len(train.items), "documents": len(set(groups)), "dev": len(dev.items)},
        "model": model.stamp,
        "seconds": round(time.time() - started, 1),
    }


def markdown(result: dict) -> str:
    n = result["items"]
    lines = [
        f"Training set: {n['train']} passages from {n['documents']} documents; dev: {n['dev']} passages. "
        f"Model {result['model']}; `make eval-tags` ({result['seconds']:.0f} s).",
        "",
        "| tagger | unseen documents (grouped CV), macro-F1 | unweighted | dev set, macro-F1 |",
        "|---|---:|---:|---:|",
    ]
    for name, row in result["rows"].items():
        cv_note = f" ({row['cv_note']})" if "cv_note" in row else ""
        dev_note = f" ({row['dev_note']})" if "dev_note" in row else ""
        lines.append(
            f"| {name} | {row['cv'].macro_f1:.3f}{cv_note} | {row['cv_unweighted'].macro_f1:.3f} | "
            f"{row['dev'].macro_f1:.3f}{dev_note} |"
        )
    learned = result["learned"]
    lines += [
        "",
        "| component | CV P | CV R | CV F1 | n | dev P | dev R | dev F1 | n |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, (p, r, f, count) in learned["cv"].per_label.items():
        dp, dr, df, dn = learned["dev"].per_label[key]
        lines.append(
            f"| {key} | {p:.2f} | {r:.2f} | {f:.2f} | {count} | {dp:.2f} | {dr:.2f} | {df:.2f} | {dn} |"
        )
    lines += [
        "",
        "| language | CV F1 | n | × en | dev F1 | n | × en |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    cv_en = learned["cv_languages"].get("en", (0, 0))[0] or 1
    dev_en = learned["dev_languages"].get("en", (0, 0))[0] or 1
    for lang in sorted(set(learned["cv_languages"]) | set(learned["dev_languages"])):
        cf, cn = learned["cv_languages"].get(lang, (0.0, 0))
        df, dn = learned["dev_languages"].get(lang, (0.0, 0))
        lines.append(f"| {lang} | {cf:.2f} | {cn} | {cf / cv_en:.2f} | {df:.2f} | {dn} | {df / dev_en:.2f} |")
    lines += ["", "| supply-chain stage | CV P | CV R | CV F1 | n |", "|---|---:|---:|---:|---:|"]
    for key, (p, r, f, count) in result["stages"].per_label.items():
        lines.append(f"| {key} | {p:.2f} | {r:.2f} | {f:.2f} | {count} |")
    lines.append(f"| **macro-F1** | | | **{result['stages'].macro_f1:.2f}** | |")
    geo = result["geography"]
    lines += ["", "| geography | train P / R / F1 | dev P / R / F1 |", "|---|---|---|"]
    for name in ("countries", "regions"):
        lines.append(
            f"| {name} | {' / '.join(f'{v:.2f}' for v in geo['train'][name])} | {' / '.join(f'{v:.2f}' for v in geo['dev'][name])} |"
        )
    agree = result["agreement"]
    if agree:
        lines += [
            "",
            f"Second reader on {agree['items']} random training items: components micro-F1 "
            f"{agree['components']['micro_f1']:.2f} (macro {agree['components']['macro_f1']:.2f}), stages micro-F1 "
            f"{agree['stages']['micro_f1']:.2f}, countries F1 {agree['countries']:.2f}.",
        ]
    return "\n".join(lines)


def _json(result: dict) -> dict:
    def conv(v):
        if isinstance(v, Scores):
            return {"macro_f1": v.macro_f1, "per_label": v.per_label}
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(result)


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="eval_tags", description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=settings.corpus_dir.parent / "eval" / "tags_dev.jsonl")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--markdown", action="store_true", help="print the tables in Markdown (README)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not args.dev.is_file():
        print(f"eval_tags: dev set not found at {args.dev}", file=sys.stderr)
        return 2
    result = evaluate(args.folds, settings, args.dev)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(_json(result), indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
