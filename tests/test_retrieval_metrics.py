"""Gold matching and retrieval metrics, on tiny cases computed by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from housing_kb.evaluation.retrieval_metrics import (
    QuestionResult,
    aggregate,
    attainable_ndcg,
    best_gaining_ranks,
    evaluate_question,
    gold_holders,
    hit_matches_gold,
    judge,
    judge_found,
    mrr_at_k,
    ndcg_at_k,
    normalise_for_match,
    recall_at_k,
    score_ranking,
)

QUOTE = "Forced evictions are prima facie incompatible with the requirements of the Covenant."
GOLD = {"doc": "rights/gc7.md", "quote": QUOTE}


def test_normalisation_drops_space_hyphens_case_and_compatibility_forms() -> None:
    assert normalise_for_match("Prima-Facie  In\u00adcompatible\n") == "primafacieincompatible"
    assert normalise_for_match("ﬁnance ＡＢＣ") == "financeabc"  # ligature and full-width forms


def test_match_needs_the_same_document() -> None:
    assert hit_matches_gold("rights/gc7.md", QUOTE, GOLD)
    assert not hit_matches_gold("rights/gc4.md", QUOTE, GOLD)
    assert hit_matches_gold("./rights/gc7.md", QUOTE, GOLD)


def test_match_survives_cuts_line_breaks_and_hyphenation() -> None:
    # The passage was cut in the middle of the quote but holds more than half of it.
    half_plus = "... noted that forced evic-\ntions are prima facie incompatible with the requ"
    assert hit_matches_gold("rights/gc7.md", half_plus, GOLD)
    assert not hit_matches_gold("rights/gc7.md", "Forced evictions are prima", GOLD)


def test_half_of_the_ngrams_is_the_threshold() -> None:
    gold = {"doc": "d", "quote": "abcdefghijkl"}  # 5 distinct 8-grams: abcdefgh .. efghijkl
    assert hit_matches_gold("d", "xxabcdefghijxx", gold)  # holds 3 of 5
    assert not hit_matches_gold("d", "xxabcdefghixx", gold)  # holds 2 of 5


def test_quote_shorter_than_an_ngram_must_appear_whole() -> None:
    gold = {"doc": "d", "quote": "住房"}
    assert hit_matches_gold("d", "城镇住房制度", gold)
    assert not hit_matches_gold("d", "城镇住宅", gold)


def test_each_gold_item_counts_once() -> None:
    gold = [GOLD, {"doc": "rights/gc7.md", "quote": "The State itself must refrain from forced evictions."}]
    hits = [
        ("rights/gc7.md", "unrelated"),
        ("rights/gc7.md", QUOTE),
        ("rights/gc7.md", QUOTE + " (repeated)"),
        ("rights/gc7.md", "the State itself must refrain from forced evictions"),
    ]
    assert judge(hits, gold) == [None, 0, None, 1]


def test_one_passage_holding_two_quotes_finds_both() -> None:
    gold = [{"doc": "d", "quote": "alpha beta gamma delta"}, {"doc": "d", "quote": "epsilon zeta eta theta"}]
    judged = judge_found([("d", "alpha beta gamma delta epsilon zeta eta theta")], gold)
    assert judged == [frozenset({0, 1})]
    assert recall_at_k(judged, 2, 10) == 1.0
    # Binary gain: one relevant rank out of an ideal of two.
    assert ndcg_at_k(judged, 2, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_attainable_ndcg_counts_a_shared_passage_once() -> None:
    # Two quotes in one passage: whatever the order, one rank gains (the same bound judge_found gives).
    assert best_gaining_ranks([{"p"}, {"p"}]) == 1
    assert attainable_ndcg([{"p"}, {"p"}]) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    # A second passage that holds one of them lets each quote have its own rank, if it comes first.
    assert best_gaining_ranks([{"p"}, {"p", "q"}]) == 2
    assert attainable_ndcg([{"p"}, {"p", "q"}]) == 1.0
    # Two passages that both hold both quotes: the first finds both, the second nothing new.
    assert best_gaining_ranks([{"p", "q"}, {"p", "q"}]) == 1
    # A quote no passage holds can never be found; four items, three findable.
    assert best_gaining_ranks([{"a"}, {"b"}, set(), {"c"}]) == 3
    assert attainable_ndcg([set()]) == 0.0 and attainable_ndcg([]) == 0.0
    # Beyond k ranks nothing counts: 12 separate quotes reach 1.0 at k=10.
    assert attainable_ndcg([{i} for i in range(12)], k=10) == 1.0


def test_gold_holders_finds_each_quote_in_its_own_document() -> None:
    question = {
        "gold": [
            GOLD,
            {"doc": "rights/gc7.md", "quote": "The State itself must refrain from forced evictions."},
        ]
    }
    passages = {
        "rights/gc7.md": [(1, "intro"), (2, QUOTE + " The State itself must refrain from forced evictions.")],
        "other.md": [(3, QUOTE)],
    }
    assert gold_holders(question, passages) == [{2}, {2}]
    assert attainable_ndcg(gold_holders(question, passages)) < 1.0
    # Paths in another Unicode form or with "./" still name the same document.
    assert gold_holders({"gold": [GOLD]}, {"./rights/gc7.md": [(7, QUOTE)]}) == [{7}]


def test_ndcg_by_hand() -> None:
    # Relevant at ranks 2 and 4, three gold items: DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/2.
    judged = [None, 0, None, 2]
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 0.5)
    assert ndcg_at_k(judged, 3, 10) == pytest.approx(expected)
    # The ideal is capped at k: with k = 1 only rank 1 counts, and it is irrelevant.
    assert ndcg_at_k(judged, 3, 1) == 0.0
    assert ndcg_at_k([0, 1], 2, 10) == pytest.approx(1.0)


def test_recall_and_mrr_by_hand() -> None:
    judged = [None, None, 1, None, 0]
    assert recall_at_k(judged, 4, 3) == 0.25
    assert recall_at_k(judged, 4, 50) == 0.5
    assert mrr_at_k(judged, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(judged, 2) == 0.0
    assert score_ranking(judged, 4, ["recall@3", "mrr@10"]) == {
        "recall@3": 0.25,
        "mrr@10": pytest.approx(1 / 3),
    }


def test_unknown_metric_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric 'map@10'"):
        score_ranking([], 1, ["map@10"])


def test_aggregate_by_group() -> None:
    results = [
        QuestionResult("a", "lexical", "en", False, {"ndcg@10": 1.0}),
        QuestionResult("b", "lexical", "zh", True, {"ndcg@10": 0.5}),
        QuestionResult("c", "lexical", "zh", True, {"ndcg@10": 0.0}),
        QuestionResult("d", "dense", "zh", False, {"ndcg@10": 0.8}),
    ]
    by_mode = aggregate(results)
    assert by_mode[("lexical",)] == {"ndcg@10": 0.5, "n": 3.0}
    by_setting = aggregate(results, by=("mode", "setting"))
    assert by_setting[("lexical", "cross-lingual")] == {"ndcg@10": 0.25, "n": 2.0}
    assert by_setting[("lexical", "same-language")]["ndcg@10"] == 1.0
    assert aggregate(results, by=())[()]["n"] == 4.0
    assert aggregate(results, by=("lang",))[("zh",)]["ndcg@10"] == pytest.approx(1.3 / 3)


def test_dev_questions_match_their_own_quotes(corpus_dir: Path) -> None:
    """Every gold quote, given as a hit from its own document, is judged a match (real dev set)."""
    questions_file = corpus_dir.parent / "eval" / "questions_dev.jsonl"
    if not questions_file.is_file():
        pytest.skip(f"{questions_file} not found")
    for line in questions_file.read_text(encoding="utf-8").splitlines():
        question = json.loads(line)
        hits = [(g["doc"], f"context before. {g['quote']} context after.") for g in question["gold"]]
        result = evaluate_question(question, hits, "oracle")
        assert result.scores["recall@10"] == 1.0 and result.scores["mrr@10"] == 1.0, question["id"]
