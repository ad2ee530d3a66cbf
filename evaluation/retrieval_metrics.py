"""Judging ranked hits against gold quotes, and the retrieval metrics reported in the README.

The matching rule is the one in ``shared/eval/README.md``: a hit matches a gold item when it
comes from the same document and holds at least half of the quote's character 8-grams, both
sides normalised (NFKC, lower case, no white space, no hyphens). It does not depend on where
passages are cut, nor on how an extractor rendered ligatures or digits. Each gold item counts once.

>>> gold = [{"doc": "a.md", "quote": "Everyone has the right to adequate housing."}]
>>> judge([("a.md", "... everyone has the right to adequate hous-ing ..."), ("a.md", "other")], gold)
[0, None]
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

NGRAM = 8
#: Share of the quote's 8-grams a hit must hold.
MIN_SHARE = 0.5
# White space, ASCII and Unicode hyphens, and the soft hyphen PDF extractors leave behind.
_DROP = re.compile(r"[\s\-\u00ad\u2010\u2011]+")

#: A ranked hit: (document path relative to the corpus root, passage text).
Hit = tuple[str, str]
#: What a rank found: gold indices (a set), one index, or ``None`` for nothing.
RankJudgement = Collection[int] | int | None


def normalise_for_match(text: str) -> str:
    """NFKC, lower case, and no white space or hyphens.

    >>> normalise_for_match("Self-  Help\\nHousing ﬁnance")
    'selfhelphousingfinance'
    """
    return _DROP.sub("", unicodedata.normalize("NFKC", text).lower())


def _ngrams(normalised: str) -> frozenset[str]:
    # A quote shorter than one n-gram is its own single "n-gram" (it must then appear whole).
    if len(normalised) <= NGRAM:
        return frozenset([normalised]) if normalised else frozenset()
    return frozenset(normalised[i : i + NGRAM] for i in range(len(normalised) - NGRAM + 1))


@lru_cache(maxsize=4096)
def _quote_ngrams(quote: str) -> frozenset[str]:
    return _ngrams(normalise_for_match(quote))


def _same_document(a: str, b: str) -> bool:
    # Paths from different tools differ in Unicode form (macOS writes NFD) and separators.
    def canon(path: str) -> str:
        return unicodedata.normalize("NFC", path.replace("\\", "/")).removeprefix("./")

    return canon(a) == canon(b)


def _holds(hit_text: str, quote_grams: frozenset[str]) -> bool:
    if not quote_grams:
        return False
    text = normalise_for_match(hit_text)
    if len(quote_grams) == 1:
        return next(iter(quote_grams)) in text
    return len(quote_grams & _ngrams(text)) >= MIN_SHARE * len(quote_grams)


def hit_matches_gold(hit_doc_path: str, hit_text: str, gold: Mapping[str, object]) -> bool:
    """True when the hit comes from the gold item's document and holds at least half its quote.

    >>> g = {"doc": "laws/x.md", "quote": "住房公积金的增值收益应当存入专户"}
    >>> hit_matches_gold("laws/x.md", "……住房公积金的增值收益应当存入……", g), hit_matches_gold("y.md", g["quote"], g)
    (True, False)
    """
    if not _same_document(hit_doc_path, str(gold["doc"])):
        return False
    return _holds(hit_text, _quote_ngrams(str(gold["quote"])))


def judge_found(hits: Sequence[Hit], gold: Sequence[Mapping[str, object]]) -> list[frozenset[int]]:
    """Per rank, the gold items this hit is the first to hold (empty when it finds nothing new).

    One passage can hold two quotes; both then count as found at that rank.

    >>> g = [{"doc": "d", "quote": "alpha beta gamma"}, {"doc": "d", "quote": "delta epsilon"}]
    >>> judge_found([("d", "alpha beta gamma delta epsilon"), ("d", "alpha beta gamma")], g)
    [frozenset({0, 1}), frozenset()]
    """
    found: set[int] = set()
    ranks: list[frozenset[int]] = []
    for doc, text in hits:
        new = frozenset(
            i for i, item in enumerate(gold) if i not in found and hit_matches_gold(doc, text, item)
        )
        found |= new
        ranks.append(new)
    return ranks


def judge(hits: Sequence[Hit], gold: Sequence[Mapping[str, object]]) -> list[int | None]:
    """Per rank, the index of the gold item the hit newly matches (the lowest if several), else ``None``.

    >>> judge([("d", "x"), ("d", "the quote itself")], [{"doc": "d", "quote": "the quote itself"}])
    [None, 0]
    """
    return [min(new) if new else None for new in judge_found(hits, gold)]


def _as_set(rank: RankJudgement) -> Collection[int]:
    if rank is None:
        return ()
    if isinstance(rank, int):
        return (rank,)
    return rank


def ndcg_at_k(judged: Sequence[RankJudgement], n_gold: int, k: int) -> float:
    """nDCG@k with binary gains (a rank gains 1 when it finds a new gold item); ideal = min(n_gold, k).

    >>> round(ndcg_at_k([None, 0], n_gold=1, k=10), 4)  # 1/log2(3)
    0.6309
    """
    if n_gold <= 0:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 2) for rank, j in enumerate(judged[:k]) if _as_set(j))
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(n_gold, k)))
    return dcg / ideal


def recall_at_k(judged: Sequence[RankJudgement], n_gold: int, k: int) -> float:
    """Share of the gold items found in the first ``k`` hits.

    >>> recall_at_k([{0, 1}, None, 2], n_gold=4, k=2)
    0.5
    """
    if n_gold <= 0:
        return 0.0
    return len(set().union(*(_as_set(j) for j in judged[:k]))) / n_gold


def mrr_at_k(judged: Sequence[RankJudgement], k: int) -> float:
    """Reciprocal rank of the first hit that finds a gold item within ``k``, else 0.

    >>> mrr_at_k([None, None, 1], k=10), mrr_at_k([None, None, 1], k=2)
    (0.3333333333333333, 0.0)
    """
    for rank, j in enumerate(judged[:k]):
        if _as_set(j):
            return 1.0 / (rank + 1)
    return 0.0


def best_gaining_ranks(holders: Sequence[Collection[Hashable]]) -> int:
    """The most ranks that can each find a new gold item, whatever the order of the passages.

    ``holders[i]`` holds the passages that hold gold item ``i``. A passage holding two items finds
    both at once, so it gains one rank, not two; with several such passages the order decides, and
    every order is tried (by the set of items already found, so a handful of items costs nothing).

    >>> best_gaining_ranks([{"p1"}, {"p1"}]), best_gaining_ranks([{"p1"}, {"p1", "p2"}]), best_gaining_ranks([set()])
    (1, 2, 0)
    """
    passages = {p for held in holders for p in held}
    # Each passage as the set (bit mask) of the gold items it holds.
    masks = {sum(1 << i for i, held in enumerate(holders) if p in held) for p in passages}

    @cache
    def best(found: int) -> int:
        return max((1 + best(found | m) for m in masks if m & ~found), default=0)

    return best(0)


def attainable_ndcg(holders: Sequence[Collection[Hashable]], k: int = 10) -> float:
    """The nDCG@k of a perfect ranking of these passages (``holders`` as in :func:`best_gaining_ranks`).

    It is below 1 when two gold quotes sit in one passage (binary gains count that rank once) or when
    no passage holds a quote.

    >>> round(attainable_ndcg([{"p1"}, {"p1"}]), 4), attainable_ndcg([{"p1"}, {"p2"}])
    (0.6131, 1.0)
    """
    if not holders:
        return 0.0
    gains = best_gaining_ranks(holders)
    return ndcg_at_k([{i} for i in range(gains)], len(holders), k)


def gold_holders(
    question: Mapping[str, Any], passages_by_doc: Mapping[str, Sequence[tuple[Hashable, str]]]
) -> list[set[Hashable]]:
    """For each gold item of ``question``, the ids of the passages (``doc path -> [(id, text)]``) that hold it.

    >>> q = {"gold": [{"doc": "d", "quote": "alpha beta gamma"}]}
    >>> gold_holders(q, {"d": [(1, "alpha beta gamma delta"), (2, "delta")]})
    [{1}]
    """
    out = []
    for item in question["gold"]:
        doc = str(item["doc"])
        candidates = passages_by_doc.get(doc) or next(
            (rows for path, rows in passages_by_doc.items() if _same_document(path, doc)), ()
        )
        out.append({pid for pid, text in candidates if hit_matches_gold(doc, text, item)})
    return out


#: The metrics the README reports.
DEFAULT_METRICS = ("ndcg@10", "recall@10", "recall@50", "mrr@10")


def score_ranking(
    judged: Sequence[RankJudgement], n_gold: int, metrics: Sequence[str] = DEFAULT_METRICS
) -> dict[str, float]:
    """The named metrics (``ndcg@k``, ``recall@k``, ``mrr@k``) of one judged ranking.

    >>> score_ranking([0], n_gold=2, metrics=["recall@10", "mrr@10"])
    {'recall@10': 0.5, 'mrr@10': 1.0}
    """
    out: dict[str, float] = {}
    for name in metrics:
        kind, _, k_text = name.partition("@")
        if not k_text.isdigit() or kind not in ("ndcg", "recall", "mrr"):
            raise ValueError(f"unknown metric {name!r}: use ndcg@K, recall@K or mrr@K")
        k = int(k_text)
        if kind == "ndcg":
            out[name] = ndcg_at_k(judged, n_gold, k)
        elif kind == "recall":
            out[name] = recall_at_k(judged, n_gold, k)
        else:
            out[name] = mrr_at_k(judged, k)
    return out


@dataclass
class QuestionResult:
    """The scores of one question under one search mode, with what it is grouped by."""

    question_id: str
    mode: str
    lang: str
    cross_lingual: bool
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def setting(self) -> str:
        return "cross-lingual" if self.cross_lingual else "same-language"


def evaluate_question(
    question: Mapping[str, Any],
    hits: Sequence[Hit],
    mode: str,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> QuestionResult:
    """Judge the hits of one dev-set question (a parsed line of questions_dev.jsonl) and score them.

    >>> q = {"id": "q1", "lang": "en", "cross_lingual": False, "gold": [{"doc": "d", "quote": "a quote here"}]}
    >>> evaluate_question(q, [("d", "A quote here.")], "lexical", ["mrr@10"]).scores
    {'mrr@10': 1.0}
    """
    gold = list(question["gold"])
    return QuestionResult(
        question_id=str(question["id"]),
        mode=mode,
        lang=str(question["lang"]),
        cross_lingual=bool(question["cross_lingual"]),
        scores=score_ranking(judge_found(hits, gold), len(gold), metrics),
    )


def aggregate(
    results: Iterable[QuestionResult], by: Sequence[str] = ("mode",)
) -> dict[tuple[str, ...], dict[str, float]]:
    """Mean of each metric per group, plus ``n`` (questions in the group).

    ``by`` names attributes of :class:`QuestionResult`: ``mode``, ``lang``, ``setting``
    (same-language / cross-lingual); an empty ``by`` gives one overall group ``()``.

    >>> rs = [QuestionResult("a", "dense", "en", False, {"mrr@10": 1.0}), QuestionResult("b", "dense", "fr", True, {"mrr@10": 0.0})]
    >>> aggregate(rs, by=("mode", "setting"))[("dense", "cross-lingual")]
    {'mrr@10': 0.0, 'n': 1.0}
    """
    groups: dict[tuple[str, ...], list[QuestionResult]] = defaultdict(list)
    for result in results:
        groups[tuple(str(getattr(result, key)) for key in by)].append(result)
    table: dict[tuple[str, ...], dict[str, float]] = {}
    for key in sorted(groups):
        members = groups[key]
        names = list(dict.fromkeys(name for r in members for name in r.scores))
        row = {name: sum(r.scores.get(name, 0.0) for r in members) / len(members) for name in names}
        row["n"] = float(len(members))
        table[key] = row
    return table
