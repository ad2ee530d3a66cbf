"""Honest relevance: does the collection hold a good match for this query at all?

Fused hybrid scores are normalised per query, so the best hit of "chocolate cake recipe" scores as
high as the best hit of a real question. What does differ is how close the nearest passages are in
absolute terms (the cosine of the best e5 passage and of the best USE passage), and whether the
collection uses the query's words at all (the best BM25 score per word: one keyword lies further from
any passage in cosine than a sentence does, but the collection either uses it or not). A logistic
model on those three numbers, fitted on written on-topic and off-topic queries
(``evaluation/data/relevance_queries.jsonl``, by ``python -m housing_kb.evaluation.fit_relevance``),
turns them into ``best``: the probability that the query has a good match. Its weights live in
``prompts/relevance/relevance.json`` with the model they were fitted for, since cosines are a property of one
embedding model.

- ``label`` is ``none`` below the floor, ``strong`` from the strong threshold, ``weak`` between;
- a passage's own probability (from its own two cosines) above the floor counts it in ``total``.

>>> model = RelevanceModel(weights=(10.0, 20.0, 0.0), intercept=-15.0, floor=0.5, strong=0.8, model_id="x")
>>> model.relevance(0.9, 0.5, 12.0, "security of tenure").label, model.relevance(0.8, 0.1, 0.0, "cake").label
('strong', 'none')
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path

RELEVANCE_FILE = Path(str(resources.files("housing_kb.prompts"))) / "relevance" / "relevance.json"
LABELS = ("strong", "weak", "none")
_WORD = re.compile(r"[\u3400-\u9fff]{1,2}|[^\W\d_]+", re.UNICODE)


def query_words(query: str) -> int:
    """Words of a query, a Chinese word taken as two characters.

    >>> query_words("security of tenure"), query_words("住房公积金"), query_words("zzqxv")
    (3, 3, 1)
    """
    return max(1, len(_WORD.findall(query)))


def features(e5_cosine: float, use_cosine: float, bm25: float, query: str) -> tuple[float, ...]:
    """The model's inputs: the two best cosines and the best BM25 score per query word (a keyword
    that the collection uses scores high, a string it never uses scores 0). Adding the query's length
    as a fourth input gained nothing in cross-validation (README, Honest relevance)."""
    return (e5_cosine, use_cosine, math.log1p(bm25 / query_words(query)))


@dataclass(frozen=True)
class Relevance:
    """How good the best match is: a probability in [0, 1] and its label."""

    best: float
    label: str

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


@dataclass(frozen=True)
class RelevanceModel:
    """Logistic weights on :func:`features`, and the two label thresholds."""

    weights: tuple[float, ...]
    intercept: float
    floor: float
    strong: float
    model_id: str
    #: Where the figures came from (queries, cross-validated accuracy): for people, not for code.
    fitted_on: str = ""

    def probability(self, e5_cosine: float, use_cosine: float, bm25: float, query: str) -> float:
        x = features(e5_cosine, use_cosine, bm25, query)
        z = self.intercept + sum(w * v for w, v in zip(self.weights, x, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def label(self, probability: float) -> str:
        if probability < self.floor:
            return "none"
        return "strong" if probability >= self.strong else "weak"

    def relevance(self, e5_cosine: float, use_cosine: float, bm25: float, query: str) -> Relevance:
        p = self.probability(e5_cosine, use_cosine, bm25, query)
        return Relevance(best=round(p, 4), label=self.label(p))

    def save(self, path: Path = RELEVANCE_FILE) -> None:
        data = asdict(self) | {"weights": list(self.weights)}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path = RELEVANCE_FILE) -> RelevanceModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**(data | {"weights": tuple(data["weights"])}))


@cache
def default_model() -> RelevanceModel | None:
    """The fitted model shipped with housing-kb, or None when it has not been fitted."""
    return RelevanceModel.load() if RELEVANCE_FILE.is_file() else None
