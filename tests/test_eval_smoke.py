"""Smoke tests of the evaluation runners' pure parts: no model, no index, no server."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from housing_kb.evaluation.eval_retrieval import (
    EvalError,
    Run,
    attainable,
    bm25s_ranker,
    check_targets,
    language_bias,
    load_questions,
    percentile,
    render_table,
    run_system,
    variant_grid,
)
from housing_kb.evaluation.http_load import free_port, rss_bytes
from housing_kb.evaluation.llamaindex_baseline import EmbeddingCache, relative_doc_path
from housing_kb.evaluation.retrieval_metrics import QuestionResult
from housing_kb.evaluation.synthetic_index import noisy_unit, perturb_text

QUESTIONS = [
    {"id": "q1", "query": "adequate housing", "lang": "en", "cross_lingual": False,
     "gold": [{"doc": "a.md", "quote": "the right to adequate housing for everyone"}]},
    {"id": "q2", "query": "logement convenable", "lang": "fr", "cross_lingual": True,
     "gold": [{"doc": "a.md", "quote": "the right to adequate housing for everyone"}]},
]  # fmt: skip


def test_run_system_scores_a_perfect_and_an_empty_ranker() -> None:
    perfect = run_system(
        "perfect", lambda q: [("a.md", "... The right to adequate housing for everyone.", "en")], QUESTIONS
    )
    empty = run_system("empty", lambda q: [], QUESTIONS)
    assert perfect.overall("ndcg@10") == 1.0
    assert perfect.overall("recall@50") == 1.0
    assert empty.overall("ndcg@10") == 0.0
    assert perfect.hit_languages == {"q1": ["en"], "q2": ["en"]}


def test_language_bias_counts_same_language_hits() -> None:
    run = run_system("r", lambda q: [("a.md", "x", "en"), ("b.md", "y", "fr")], QUESTIONS)
    rows = language_bias(run, QUESTIONS, {"en": 0.25, "fr": 0.75})
    by_lang = {r[0]: r for r in rows}
    assert by_lang["en"][2] == "50.0 %" and by_lang["en"][3] == "25.0 %" and by_lang["en"][4] == "2.0x"
    assert by_lang["all"][1] == "2"


def test_check_targets_flags_pass_and_fail() -> None:
    def res(qid: str, lang: str, cross: bool, ndcg: float) -> QuestionResult:
        return QuestionResult(qid, "hybrid", lang, cross, {"ndcg@10": ndcg})

    ours = Run("ours", [res("1", "en", False, 0.9), res("2", "fr", True, 0.5), res("3", "zh", True, 0.9)])
    llama = Run("llama", [res("1", "en", False, 0.5), res("2", "fr", True, 0.5), res("3", "zh", True, 0.5)])
    checks = {c.name.split(" (")[0]: c.passed for c in check_targets(ours, llama)}
    assert checks["nDCG@10 overall"] is True  # 0.767
    assert checks["nDCG@10 vs llama-index"] is True  # 0.767 >= 0.5 + 0.15
    assert checks["cross-lingual vs same-language"] is False  # 0.7 < 0.81
    assert checks["fr vs en"] is False and checks["zh vs en"] is True
    assert checks["ar vs en"] is None  # no Arabic question


@dataclass
class _Doc:
    doc_id: str
    path: str


@dataclass
class _FakeStore:
    """The two reads the evaluation makes of an index: its documents and its passage rows."""

    docs: list[_Doc]
    rows: list[dict[str, object]]

    def documents(self) -> list[_Doc]:
        return self.docs

    def iter_passages(self, columns: str) -> list[dict[str, object]]:
        return self.rows


def test_bm25s_peer_fails_on_chinese_as_the_plain_tokenizer_does() -> None:
    store = _FakeStore(
        [_Doc("d1", "laws/a.md"), _Doc("d2", "zh/b.md")],
        [
            {"doc_id": "d1", "text": "Security of tenure protects renters from eviction", "language": "en"},
            {"doc_id": "d2", "text": "住房公积金的增值收益应当存入专户", "language": "zh"},
        ],
    )
    rank, n = bm25s_ranker(store)
    assert n == 2
    assert rank("eviction of renters")[0][0] == "laws/a.md"
    assert rank("公积金") == []


def test_load_questions_reports_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(QUESTIONS[0]) + "\n" + json.dumps({"id": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(EvalError, match=r"q\.jsonl:2: missing field\(s\) query"):
        load_questions(path)
    with pytest.raises(EvalError, match="not found"):
        load_questions(tmp_path / "absent.jsonl")


def test_tables_percentiles_and_grid() -> None:
    assert render_table(["a", "b"], [["x", "1"]]).splitlines()[2] == "x  1"
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 95) == 50.0
    assert percentile([], 50) != percentile([], 50)  # NaN
    labels = [v.label for v in variant_grid(((0.5, 0.0, 0.5),))]
    assert labels[:3] == ["dense global", "dense per_language_rrf", "dense per_language_z"]
    assert "hybrid weighted e5=0.5 use=0.0 bm25=0.5 per_language_z" in labels
    raw = [v for v in variant_grid(((0.5, 0.0, 0.5),)) if not v.language_neutral]
    assert [v.mode for v in raw] == ["dense", "hybrid"]  # the ablation of language-neutral e5


def test_embedding_cache_round_trip(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite", "model-a")
    cache.put(["alpha", "beta"], np.eye(2, dtype=np.float32))
    assert len(cache) == 2
    got = cache.get(["beta", "gamma"])
    assert list(got) == ["beta"] and got["beta"].tolist() == [0.0, 1.0]
    assert EmbeddingCache(tmp_path / "c.sqlite", "model-b").get(["alpha"]) == {}


def test_relative_doc_path_and_synthetic_helpers() -> None:
    assert relative_doc_path("/corpus/un/a b.pdf", Path("/corpus")) == "un/a b.pdf"
    text = "word " * 60
    assert perturb_text(text, random.Random(1)) != text
    assert perturb_text("住房公积金的增值收益应当存入专户" * 5, random.Random(1))
    v = noisy_unit(np.ones(384, dtype=np.float32) / np.sqrt(384), np.random.default_rng(0))
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
    assert 0 < free_port() < 65536
    rss, peak = rss_bytes(__import__("os").getpid())
    assert rss > 0 and peak >= rss


def test_attainable_reports_shared_passages_and_unheld_quotes() -> None:
    both = "the right to adequate housing for everyone. Security of tenure protects renters."
    store = _FakeStore(
        [_Doc("d1", "a.md")],
        [{"id": 1, "doc_id": "d1", "text": both}, {"id": 2, "doc_id": "d1", "text": "unrelated"}],
    )

    questions = [
        *QUESTIONS,  # one quote each, held by passage 1: a perfect ranking scores 1
        {"id": "q3", "query": "tenure", "lang": "en", "cross_lingual": False,
         "gold": [{"doc": "a.md", "quote": "the right to adequate housing for everyone"},
                  {"doc": "a.md", "quote": "Security of tenure protects renters."}]},
        {"id": "q4", "query": "x", "lang": "en", "cross_lingual": False,
         "gold": [{"doc": "a.md", "quote": "a sentence that no passage holds at all"}]},
    ]  # fmt: skip
    bound = attainable(store, questions)
    shared = 1 / (1 + 1 / np.log2(3))  # q3: both quotes in passage 1, one rank
    assert bound.ndcg == pytest.approx((1 + 1 + shared + 0) / 4)
    assert (bound.questions, bound.shared_passage, bound.gold_items, bound.unheld) == (4, 1, 5, 1)
    assert "1 of 5 gold quotes are held by no passage" in bound.sentence()
