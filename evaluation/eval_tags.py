"""Evaluate the passage tagger on labelled passages (../shared/eval/tags_dev.jsonl by default).

    python -m housing_kb.evaluation.eval_tags [--cv 5] [--repeats 3] [--markdown] [--no-embedder]
    python -m housing_kb.evaluation.eval_tags --fit      # print thresholds fitted on all items (YAML)

Without ``--cv`` the shipped thresholds are used; they were fitted on this very file, so those figures
are in-sample and only a sanity check. With ``--cv K`` the per-component thresholds are re-fitted on
K-1 folds and applied to the held-out fold (repeated ``--repeats`` times with different shuffles); only
thresholds are fitted, the vocabularies and weights stay as shipped.

>>> prf(3, 1, 2)
(0.75, 0.6, 0.6667)
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from housing_kb.config import Settings
from housing_kb.ingest.tagging.components import ComponentClassifier
from housing_kb.ingest.tagging.geography import Gazetteer, passage_geography
from housing_kb.ingest.tagging.vocabulary import COMPONENT_KEYS

#: F-beta used to fit thresholds: beta < 1 weighs precision more, because tags drive filters.
FIT_BETA = 0.7


@dataclass
class Item:
    id: str
    lang: str
    text: str
    doc: str
    components: set[str]
    countries: set[str]
    regions: set[str]


def load_items(path: Path) -> list[Item]:
    """Read labelled passages; a clear one-line error for a missing file or a bad line."""
    if not path.is_file():
        raise SystemExit(f"eval_tags: labelled file not found: {path}")
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(
                Item(
                    row["id"],
                    row["lang"],
                    row["text"],
                    row.get("doc", ""),
                    set(row["components"]),
                    set(row["countries"]),
                    set(row["regions"]),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SystemExit(f"eval_tags: {path}:{n}: bad labelled item ({exc})") from exc
    return items


def document_countries(corpus_dir: Path) -> dict[str, list[str]]:
    """Document path -> ISO codes, read from the corpus PROVENANCE.tsv 'country_region' column with
    the gazetteer ("Argentina (LAC)" -> ARG, "Global" -> none)."""
    path = corpus_dir / "PROVENANCE.tsv"
    if not path.is_file():
        return {}
    gazetteer = Gazetteer.default()
    with path.open(encoding="utf-8") as fh:
        return {
            row["relative_path"]: gazetteer.find(_place_part(row.get("country_region") or "")).countries
            for row in csv.DictReader(fh, delimiter="\t")
        }


def _place_part(country_region: str) -> str:
    """The place named by a provenance cell, without notes: "Global (Dutch treaty DB)" -> ""."""
    place = re.sub(r"\([^)]*\)", " ", country_region).strip()
    return "" if place.lower().startswith("global") else place


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1, rounded to 4 places (0 when undefined)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return round(p, 4), round(r, 4), round(f, 4)


def _counts(gold: Sequence[set[str]], pred: Sequence[set[str]]) -> tuple[int, int, int]:
    tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
    fp = sum(len(p - g) for g, p in zip(gold, pred, strict=True))
    fn = sum(len(g - p) for g, p in zip(gold, pred, strict=True))
    return tp, fp, fn


def fit_threshold(scores: np.ndarray, gold: np.ndarray, beta: float = FIT_BETA) -> float:
    """Threshold maximising F-beta on (scores, gold), set midway below the chosen score for margin."""
    values = np.unique(scores)
    best, best_t = -1.0, float(values.max()) + 1.0
    for t in values[::-1]:  # high to low so ties keep the higher (more precise) threshold
        pred = scores >= t
        tp = int((pred & gold).sum())
        fp = int((pred & ~gold).sum())
        fn = int((~pred & gold).sum())
        b2 = beta * beta
        f = (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp) if tp else 0.0
        if f > best:
            best, best_t = f, float(t)
    below = values[values < best_t]
    return (best_t + float(below.max())) / 2 if below.size else best_t


def component_report(items: Sequence[Item], predicted: Sequence[set[str]]) -> dict:
    """Per-component P/R/F1, macro-F1 and per-language micro F1."""
    per = {}
    for key in COMPONENT_KEYS:
        tp = sum(key in i.components and key in p for i, p in zip(items, predicted, strict=True))
        fp = sum(key not in i.components and key in p for i, p in zip(items, predicted, strict=True))
        fn = sum(key in i.components and key not in p for i, p in zip(items, predicted, strict=True))
        per[key] = (*prf(tp, fp, fn), tp + fn)
    by_lang: dict[str, list[int]] = defaultdict(list)
    for n, item in enumerate(items):
        by_lang[item.lang].append(n)
    lang_f1 = {}
    for lang, idx in sorted(by_lang.items()):
        tp, fp, fn = _counts([items[n].components for n in idx], [predicted[n] for n in idx])
        lang_f1[lang] = (prf(tp, fp, fn)[2], len(idx))
    macro = round(float(np.mean([v[2] for v in per.values()])), 4)
    return {"per_component": per, "macro_f1": macro, "language_f1": lang_f1}


def geography_report(items: Sequence[Item], doc_countries: dict[str, list[str]]) -> dict:
    gazetteer = Gazetteer.default()
    geos = [passage_geography(i.text, doc_countries.get(i.doc, []), gazetteer) for i in items]
    countries = prf(*_counts([i.countries for i in items], [set(g.countries) for g in geos]))
    regions = prf(*_counts([i.regions for i in items], [set(g.regions) for g in geos]))
    return {"countries": countries, "regions": regions}


class _SentenceTransformerAdapter:
    """Development adapter: a local sentence-transformers E5 folder as an ``Embedder``."""

    def __init__(self, path: str):
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(path, device="cpu")
        self.model_id = f"st:{Path(path).name}"
        dim_of = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dim = dim_of()
        self.max_tokens = 512

    def embed_passages(self, texts, *, batch_size=32, progress=None):
        return self._model.encode(
            ["passage: " + t for t in texts], normalize_embeddings=True, batch_size=batch_size
        )

    def embed_queries(self, texts):
        return self._model.encode(["query: " + t for t in texts], normalize_embeddings=True)


def load_embedder(args: argparse.Namespace, settings: Settings):
    """The embedder to evaluate with, or None for lexical only (with a note on stderr)."""
    if args.no_embedder:
        return None
    if args.st_model:
        return _SentenceTransformerAdapter(args.st_model)
    try:
        from housing_kb.ingest.embedders.registry import load_embedder as registry_load
    except ImportError:
        print("eval_tags: no embedder registry yet; evaluating the lexical tagger only", file=sys.stderr)
        return None
    return registry_load(settings.embedder, settings)


def cross_validate(
    scores: np.ndarray, gold: np.ndarray, k: int, repeats: int, seed: int = 13
) -> list[np.ndarray]:
    """Out-of-fold predictions, one (n, 8) boolean array per repeat."""
    n = len(scores)
    runs = []
    for r in range(repeats):
        order = list(range(n))
        random.Random(seed + r).shuffle(order)
        pred = np.zeros_like(gold)
        for f in range(k):
            test = np.array(order[f::k])
            train = np.setdiff1d(np.arange(n), test)
            for j in range(len(COMPONENT_KEYS)):
                t = fit_threshold(scores[train, j], gold[train, j])
                pred[test, j] = scores[test, j] >= t
        runs.append(pred)
    return runs


def _as_sets(pred: np.ndarray) -> list[set[str]]:
    return [{k for k, on in zip(COMPONENT_KEYS, row, strict=True) if on} for row in pred]


def markdown(report: dict, geo: dict, how: str) -> str:
    lines = [
        f"Tagging on tags_dev.jsonl ({how}).",
        "",
        "| component | P | R | F1 | n |",
        "|---|---|---|---|---|",
    ]
    for key, (p, r, f, n) in report["per_component"].items():
        lines.append(f"| {key} | {p:.2f} | {r:.2f} | {f:.2f} | {n} |")
    lines.append(f"| **macro-F1** | | | **{report['macro_f1']:.2f}** | |")
    lines += ["", "| language | F1 (micro over components) | n |", "|---|---|---|"]
    lines += [f"| {lang} | {f:.2f} | {n} |" for lang, (f, n) in report["language_f1"].items()]
    lines += ["", "| geography | P | R | F1 |", "|---|---|---|---|"]
    for name in ("countries", "regions"):
        p, r, f = geo[name]
        lines.append(f"| {name} | {p:.2f} | {r:.2f} | {f:.2f} |")
    return "\n".join(lines)


def plain(report: dict, geo: dict, how: str) -> str:
    lines = [f"# {how}"]
    for key, (p, r, f, n) in report["per_component"].items():
        lines.append(f"{key:26s} P={p:.3f} R={r:.3f} F1={f:.3f} (n={n})")
    lines.append(f"{'macro-F1':26s} {report['macro_f1']:.3f}")
    en = report["language_f1"].get("en", (0.0, 0))[0]
    for lang, (f, n) in report["language_f1"].items():
        ratio = f / en if en else 0.0
        lines.append(f"F1[{lang}] = {f:.3f} (n={n}, {ratio:.2f} x en)")
    for name in ("countries", "regions"):
        p, r, f = geo[name]
        lines.append(f"{name:10s} P={p:.3f} R={r:.3f} F1={f:.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="eval_tags", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=settings.corpus_dir.parent / "eval" / "tags_dev.jsonl")
    parser.add_argument("--corpus-dir", type=Path, default=settings.corpus_dir)
    parser.add_argument("--cv", type=int, default=0, help="k for k-fold cross-validation of thresholds")
    parser.add_argument(
        "--repeats", type=int, default=3, help="cross-validation repeats (different shuffles)"
    )
    parser.add_argument("--markdown", action="store_true", help="print a markdown table for the README")
    parser.add_argument("--no-embedder", action="store_true", help="lexical evidence only")
    parser.add_argument("--st-model", help="a local sentence-transformers E5 folder (development)")
    parser.add_argument("--fit", action="store_true", help="print thresholds fitted on all items (YAML)")
    args = parser.parse_args(argv)

    items = load_items(args.data)
    embedder = load_embedder(args, settings)
    clf = ComponentClassifier(embedder)
    vectors = embedder.embed_passages([i.text for i in items]) if embedder is not None else None
    scores, with_emb = clf.scores([i.text for i in items], [i.lang for i in items], vectors)
    gold = np.array([[k in i.components for k in COMPONENT_KEYS] for i in items])
    mode = "lexical + embeddings" if with_emb else "lexical only"

    if args.fit:
        name = "thresholds" if with_emb else "lexical_only_thresholds"
        fitted = {k: round(fit_threshold(scores[:, j], gold[:, j]), 4) for j, k in enumerate(COMPONENT_KEYS)}
        print(f"{name}: {json.dumps(fitted)}")
        if vectors is not None:
            sims = vectors @ clf.anchors().T
            rel = sims - sims.mean(axis=1, keepdims=True)
            print(
                "embedding_center:",
                json.dumps({k: round(float(v), 5) for k, v in zip(COMPONENT_KEYS, rel.mean(0), strict=True)}),
            )
            print(
                "embedding_spread:",
                json.dumps({k: round(float(v), 5) for k, v in zip(COMPONENT_KEYS, rel.std(0), strict=True)}),
            )
        return 0

    geo = geography_report(items, document_countries(args.corpus_dir))
    if args.cv:
        runs = cross_validate(scores, gold, args.cv, args.repeats)
        reports = [component_report(items, _as_sets(r)) for r in runs]
        report = _average_reports(reports)
        how = (
            f"{mode}; per-component thresholds re-fitted by {args.cv}-fold cross-validation, "
            f"mean of {args.repeats} shuffles; vocabularies and weights as shipped"
        )
    else:
        report = component_report(items, _as_sets(scores >= clf.thresholds(with_emb)))
        how = f"{mode}; shipped thresholds, fitted on this file: IN-SAMPLE, not a fair estimate"
    how += "; geography has no fitted parameter"
    print(markdown(report, geo, how) if args.markdown else plain(report, geo, how))
    return 0


def _average_reports(reports: Sequence[dict]) -> dict:
    per = {}
    for key in COMPONENT_KEYS:
        vals = np.array([r["per_component"][key][:3] for r in reports])
        per[key] = (*(round(float(v), 4) for v in vals.mean(0)), reports[0]["per_component"][key][3])
    langs = reports[0]["language_f1"]
    lang_f1 = {
        lang: (round(float(np.mean([r["language_f1"][lang][0] for r in reports])), 4), n)
        for lang, (_, n) in langs.items()
    }
    macro = round(float(np.mean([r["macro_f1"] for r in reports])), 4)
    return {"per_component": per, "macro_f1": macro, "language_f1": lang_f1}


if __name__ == "__main__":
    raise SystemExit(main())
