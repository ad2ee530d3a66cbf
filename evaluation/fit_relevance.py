"""Fit and measure the relevance label (index/query/relevance.py).

    python -m housing_kb.evaluation.fit_relevance [--write] [--markdown]

Fitted on ``evaluation/data/relevance_queries.jsonl``: queries written for this purpose, not taken
from any evaluation set: 85 housing-policy questions and keywords in the seven languages, and 94
off-topic ones (recipes, sports, other policy fields, other sciences, random strings), also in the
seven languages, single words among them. The features (index/query/relevance.py) are the raw cosines of
the nearest e5 and USE passages, the best BM25 score per query word and the query's length; the model
is a logistic regression.

Measured three ways:

- 5-fold cross-validation over the written queries (each query judged by a model that did not see it),
  which also chooses the floor between "none" and a match;
- the 60 dev questions (``../shared/eval/questions_dev.jsonl``), never used for fitting: every one is
  on topic, so the share labelled "strong" or "weak" is their recall;
- both together: the accuracy of "none" versus a match, the issue's target (>= 0.95).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from housing_kb.index.query.relevance import RelevanceModel

QUERIES = Path(__file__).parent / "data" / "relevance_queries.jsonl"
#: Regularisation of the logistic regression: weak, as two features cannot overfit 129 queries.
C = 100.0
#: Floors tried by cross-validation. Of those within ``FLOOR_TOLERANCE`` of the best accuracy on the
#: written queries the lowest wins: telling a real question "no good match" is the worse error.
FLOORS = (0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
FLOOR_TOLERANCE = 0.01
#: From this probability the match is "strong" (between the floor and this: "weak").
STRONG = 0.8


def load_queries(path: Path = QUERIES) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def features(engine, queries: list[str]) -> np.ndarray:
    """The model's features of each query, as a hybrid search over the body passages computes them."""
    return np.asarray([engine.relevance_features(q) for q in queries], dtype=np.float64)


def accuracy(on: np.ndarray, off: np.ndarray, floor: float) -> float:
    return float(((on >= floor).sum() + (off < floor).sum()) / (len(on) + len(off)))


def main(argv: list[str] | None = None) -> None:
    from housing_kb.config import Settings
    from housing_kb.evaluation.eval_retrieval import default_questions_path, load_questions
    from housing_kb.index.query.engine import SearchEngine
    from housing_kb.models.registry import load_query_embedder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--write", action="store_true", help="write prompts/relevance/relevance.json")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.index is not None:
        settings = settings.with_(index_dir=args.index)
    engine = SearchEngine.open(settings, load_query_embedder(settings))
    if engine.secondary is None:
        raise SystemExit("the index has no USE channel: run `housing-kb ingest` first")

    written = load_queries()
    dev = load_questions(default_questions_path(settings))
    x = features(engine, [q["query"] for q in written])
    y = np.array([bool(q["on_topic"]) for q in written])
    x_dev = features(engine, [str(q["query"]) for q in dev])

    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    cv = cross_val_predict(LogisticRegression(C=C, max_iter=5000), x, y, cv=folds, method="predict_proba")[
        :, 1
    ]
    best = max(accuracy(cv[y], cv[~y], f) for f in FLOORS)
    floor = min(f for f in FLOORS if accuracy(cv[y], cv[~y], f) >= best - FLOOR_TOLERANCE)
    fitted = LogisticRegression(C=C, max_iter=5000).fit(x, y)
    p_dev = fitted.predict_proba(x_dev)[:, 1]
    model = RelevanceModel(
        weights=tuple(float(w) for w in fitted.coef_[0]),
        intercept=float(fitted.intercept_[0]),
        floor=floor,
        strong=STRONG,
        model_id=engine.store.config.model_id,
        fitted_on=f"{int(y.sum())} on-topic and {int((~y).sum())} off-topic written queries "
        f"({QUERIES.name}); floor chosen by 5-fold cross-validation",
    )
    figures = {
        "written_cv_accuracy": accuracy(cv[y], cv[~y], floor),
        "written_cv_on_topic_recall": float((cv[y] >= floor).mean()),
        "written_cv_off_topic_refused": float((cv[~y] < floor).mean()),
        "dev_questions_recall": float((p_dev >= floor).mean()),
        "dev_questions_strong": float((p_dev >= STRONG).mean()),
        "accuracy_dev_and_written_cv": accuracy(np.concatenate([cv[y], p_dev]), cv[~y], floor),
        "floor": floor,
        "misjudged": [q["query"] for q, p, t in zip(written, cv, y, strict=True) if (p >= floor) != t]
        + [str(q["query"]) for q, p in zip(dev, p_dev, strict=True) if p < floor],
    }
    if args.write:
        model.save()
        print(f"wrote {model.weights}, intercept {model.intercept:.3f}, floor {floor}")
    if args.markdown:
        print("| measure | value |\n|---|---:|")
        for key, value in figures.items():
            if key != "misjudged":
                print(f"| {key.replace('_', ' ')} | {value:.3f} |")
        print("\nMisjudged: " + "; ".join(figures["misjudged"]))
    else:
        print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
