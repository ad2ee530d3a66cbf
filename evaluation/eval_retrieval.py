"""Retrieval quality on the dev questions: our search by mode, its variants, and two peers, in one run.

For every question of ``questions_dev.jsonl`` each system returns its top 50 passages; each hit is
judged against the question's gold items with :mod:`housing_kb.evaluation.retrieval_metrics` (same
document, at least half of the quote's character 8-grams) and scored with nDCG@10, Recall@10,
Recall@50 and MRR@10, reported overall, by question language and same-language vs cross-lingual.

Systems: our ``SearchEngine`` in lexical, dense and hybrid mode (as configured); with ``--variants``
the fusion methods and dense strategies side by side (to choose defaults by measurement) and e5's
same-language bias; with ``--peers`` plain bm25s over the same passages and llama-index defaults
with the same embedding model (:mod:`housing_kb.evaluation.llamaindex_baseline`), plus the
in-process latency of the same queries through both dense retrievers. Every run also reports the
nDCG@10 a perfect ranking of the index's passages would reach (:class:`Attainable`).

    python -m housing_kb.evaluation.eval_retrieval --variants --peers --markdown --json evaluation/results/dev.json

>>> _pct(0.5)
'50.0 %'
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from housing_kb.config import Settings
from housing_kb.evaluation.retrieval_metrics import (
    DEFAULT_METRICS,
    QuestionResult,
    aggregate,
    attainable_ndcg,
    best_gaining_ranks,
    evaluate_question,
    gold_holders,
)

#: Hits asked of every system per question (Recall@50 needs 50).
DEPTH = 50
MODES = ("lexical", "dense", "hybrid")
UN_LANGUAGES = ("ar", "en", "es", "fr", "ru", "zh")
#: Weighted-sum channel weights to compare: (e5 "dense", USE "dense2", BM25 "lexical").
WEIGHTS = (
    (0.7, 0.0, 0.3),
    (0.5, 0.0, 0.5),
    (0.35, 0.35, 0.3),
    (0.5, 0.25, 0.25),
    (0.4, 0.3, 0.3),
    (0.3, 0.5, 0.2),
)
STRATEGIES = ("global", "per_language_rrf", "per_language_z")
#: Place-intent boosts compared against the default (0.3); 0 turns place intent off.
PLACE_BOOSTS = (0.0, 0.2, 0.5)
#: Every question language of the dev set, English included (the default leaves English out).
ALL_SOURCES = ("ar", "en", "es", "fr", "pt", "ru", "zh")
METRIC_LABELS = {"ndcg@10": "nDCG@10", "recall@10": "R@10", "recall@50": "R@50", "mrr@10": "MRR@10"}

#: A ranked hit as the judge needs it: (document path relative to the corpus root, passage text).
JudgedHit = tuple[str, str]
#: A system under test: query -> its top hits, each (doc path, text, passage language or None).
Ranker = Callable[[str], list[tuple[str, str, str | None]]]


class EvalError(Exception):
    """Bad input to the evaluation (missing file, malformed line); the message names it."""


# ---------------------------------------------------------------------------------- questions


def default_questions_path(settings: Settings) -> Path:
    """``<corpus>/../eval/questions_dev.jsonl``, beside the shared corpus.

    >>> default_questions_path(Settings(corpus_dir=Path("/s/corpus"))).as_posix()
    '/s/eval/questions_dev.jsonl'
    """
    return settings.corpus_dir.parent / "eval" / "questions_dev.jsonl"


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Parsed questions; a missing file or a line without the required fields is a one-line error."""
    if not path.is_file():
        raise EvalError(f"questions file {path} not found (pass --questions)")
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{path}:{number}: not JSON ({exc.msg})") from None
        missing = [k for k in ("id", "query", "lang", "cross_lingual", "gold") if k not in item]
        if missing:
            raise EvalError(f"{path}:{number}: missing field(s) {', '.join(missing)}")
        questions.append(item)
    if not questions:
        raise EvalError(f"{path}: no questions")
    return questions


# ---------------------------------------------------------------------------------- running


@dataclass
class Run:
    """One system over every question: scores, and the languages of its top hits (for the bias)."""

    name: str
    results: list[QuestionResult]
    hit_languages: dict[str, list[str | None]] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self, by: Sequence[str] = ()) -> dict[tuple[str, ...], dict[str, float]]:
        return aggregate(self.results, by=by)

    def overall(self, metric: str = "ndcg@10") -> float:
        return self.summary().get((), {}).get(metric, 0.0)


def run_system(name: str, ranker: Ranker, questions: Sequence[Mapping[str, Any]]) -> Run:
    """Rank and judge every question with ``ranker``; the run's name stands in the ``mode`` column."""
    started = time.perf_counter()
    results, languages = [], {}
    for q in questions:
        hits = ranker(str(q["query"]))[:DEPTH]
        results.append(evaluate_question(q, [(doc, text) for doc, text, _ in hits], name, DEFAULT_METRICS))
        languages[str(q["id"])] = [lang for _, _, lang in hits[:10]]
    return Run(name, results, languages, time.perf_counter() - started)


def engine_ranker(engine: Any, mode: str, k: int = DEPTH) -> Ranker:
    """Our search as a ranker (no filters), hits as (doc path, text, passage language)."""

    def rank(query: str) -> list[tuple[str, str, str | None]]:
        hits = engine.search(query, k=k, mode=mode).hits
        return [(h.document.path or "", h.text, h.language) for h in hits]

    return rank


def bm25s_ranker(store: Any, k: int = DEPTH) -> tuple[Ranker, int]:
    """Plain bm25s peer: its default tokenizer with English stop words, no language-aware analysis,
    over exactly the passages of our index. Returns the ranker and the number of passages."""
    import bm25s
    import numpy as np

    docs = {d.doc_id: d.path or "" for d in store.documents()}
    rows = [
        (docs.get(r["doc_id"], ""), r["text"], r["language"])
        for r in store.iter_passages("doc_id, text, language")
    ]
    model = bm25s.BM25()
    model.index(
        bm25s.tokenize([text for _, text, _ in rows], stopwords="en", show_progress=False),
        show_progress=False,
    )

    def rank(query: str) -> list[tuple[str, str, str | None]]:
        tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)[0]
        known = [t for t in tokens if t in model.vocab_dict]
        if not known:
            return []  # e.g. a Chinese question: one "word" per clause, never in the vocabulary
        scores = model.get_scores(known)
        top = np.argsort(-scores, kind="stable")[:k]
        return [rows[i] for i in top if scores[i] > 0]

    return rank, len(rows)


def llamaindex_ranker(baseline: Any, k: int = DEPTH) -> Ranker:
    def rank(query: str) -> list[tuple[str, str, str | None]]:
        return [(doc, text, None) for doc, text in baseline.retrieve(query, k=k)]

    return rank


# ---------------------------------------------------------------------------------- variants and bias


@dataclass
class Variant:
    label: str
    mode: str
    fusion: str
    weights: tuple[float, float, float]
    dense_strategy: str
    place_boost: float = 0.3
    #: e5 vectors with the language directions removed (index/dense/language_neutral.py), as by default.
    language_neutral: bool = True
    #: Languages whose questions get their words translated for BM25 (index/lexical/translation.py);
    #: ``None`` keeps the engine's configured ones.
    translate_from: tuple[str, ...] | None = None


def variant_grid(weights: Iterable[tuple[float, float, float]] = WEIGHTS) -> list[Variant]:
    """Dense with each strategy, then hybrid with each strategy x (RRF, weighted at each weight triple).

    Then the default hybrid with other place-intent boosts (0 = off), dense and hybrid with e5's
    raw vectors (not language-neutral), and hybrid without query translation and with English
    questions translated too.

    >>> len(variant_grid(((0.5, 0.0, 0.5),)))
    16
    """
    default = (0.35, 0.35, 0.3)
    out = [Variant(f"dense {s}", "dense", "rrf", default, s) for s in STRATEGIES]
    for s in STRATEGIES:
        out.append(Variant(f"hybrid rrf {s}", "hybrid", "rrf", default, s))
        out.extend(
            Variant(f"hybrid weighted e5={w[0]} use={w[1]} bm25={w[2]} {s}", "hybrid", "weighted", w, s)
            for w in weights
        )
    out.extend(
        Variant(f"hybrid default, place boost {b}", "hybrid", "weighted", default, "global", b)
        for b in PLACE_BOOSTS
    )
    out.append(
        Variant("dense global, e5 not language-neutral", "dense", "rrf", default, "global", 0.3, False)
    )
    out.append(
        Variant(
            "hybrid default, e5 not language-neutral", "hybrid", "weighted", default, "global", 0.3, False
        )
    )
    hybrid = Variant("", "hybrid", "weighted", default, "global")
    out.append(replace(hybrid, label="hybrid default, questions not translated", translate_from=()))
    out.append(
        replace(hybrid, label="hybrid default, English questions translated too", translate_from=ALL_SOURCES)
    )
    return out


def run_variants(
    engine: Any, questions: Sequence[Mapping[str, Any]], variants: Sequence[Variant]
) -> list[Run]:
    """Each variant on the same engine (config restored afterwards); query vectors are reused across variants."""
    saved = replace(engine.config)
    saved_neutral = engine.store.language_neutral
    runs = []
    try:
        for v in variants:
            engine.config.fusion = v.fusion
            engine.config.weights = dict(zip(("dense", "dense2", "lexical"), v.weights, strict=True))
            engine.config.dense_strategy = v.dense_strategy
            engine.config.place_boost = v.place_boost
            engine.store.language_neutral = v.language_neutral
            engine.config.translate_from = (
                saved.translate_from if v.translate_from is None else v.translate_from
            )
            runs.append(run_system(v.label, engine_ranker(engine, v.mode), questions))
            print(f"  {v.label}: nDCG@10 {runs[-1].overall():.3f}", file=sys.stderr, flush=True)
    finally:
        engine.config = saved
        engine.store.language_neutral = saved_neutral
    return runs


def passage_language_shares(store: Any) -> dict[str, float]:
    """Share of the index's passages in each language."""
    counts = Counter(r["language"] for r in store.iter_passages("language"))
    total = sum(counts.values()) or 1
    return {lang: n / total for lang, n in counts.items()}


def language_bias(
    run: Run, questions: Sequence[Mapping[str, Any]], shares: Mapping[str, float]
) -> list[list[str]]:
    """Rows (query language, n, share of top-10 hits in the query's language, share of passages in it, lift)."""
    by_lang: dict[str, list[float]] = {}
    for q in questions:
        langs = run.hit_languages.get(str(q["id"]), [])
        if langs:
            by_lang.setdefault(str(q["lang"]), []).append(
                sum(lang == q["lang"] for lang in langs) / len(langs)
            )
    rows = []
    all_shares, all_corpus = [], []
    for lang in sorted(by_lang):
        same, corpus = statistics.fmean(by_lang[lang]), shares.get(lang, 0.0)
        all_shares.extend(by_lang[lang])
        all_corpus.extend([corpus] * len(by_lang[lang]))
        rows.append([lang, str(len(by_lang[lang])), _pct(same), _pct(corpus), _lift(same, corpus)])
    if all_shares:
        same, corpus = statistics.fmean(all_shares), statistics.fmean(all_corpus)
        rows.append(["all", str(len(all_shares)), _pct(same), _pct(corpus), _lift(same, corpus)])
    return rows


def _lift(same: float, corpus: float) -> str:
    return f"{same / corpus:.1f}x" if corpus else "-"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


# ---------------------------------------------------------------------------------- latency


@dataclass
class LatencyComparison:
    queries: int
    ours_cold_ms: list[float]
    ours_warm_ms: list[float]
    llama_cold_ms: list[float]
    llama_warm_ms: list[float]


def time_dense_retrievers(
    engine: Any, baseline: Any, queries: Sequence[str], k: int = DEPTH
) -> LatencyComparison:
    """Per-query in-process latency of our dense search and of the llama-index retriever, top ``k``.

    Cold: each call embeds its query (our engine's query-vector cache is emptied first). Warm: the
    query vector is given (llama-index) or cached (ours), so only retrieval and hit assembly count.
    """
    out = LatencyComparison(len(queries), [], [], [], [])
    qcache = getattr(engine, "_qcache", None)
    for q in queries:
        if isinstance(qcache, dict):
            qcache.clear()  # private cache of the engine: emptied so the cold figure embeds the query
        t0 = time.perf_counter()
        engine.search(q, k=k, mode="dense")
        t1 = time.perf_counter()
        engine.search(q, k=k, mode="dense")
        t2 = time.perf_counter()
        baseline.retrieve(q, k=k)
        t3 = time.perf_counter()
        vector = engine.query_vector(q).tolist()
        t4 = time.perf_counter()
        baseline.retrieve(q, k=k, embedding=vector)
        t5 = time.perf_counter()
        out.ours_cold_ms.append(1000 * (t1 - t0))
        out.ours_warm_ms.append(1000 * (t2 - t1))
        out.llama_cold_ms.append(1000 * (t3 - t2))
        out.llama_warm_ms.append(1000 * (t5 - t4))
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in [0, 100].

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 95)
    (2.0, 4.0)
    """
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


# ---------------------------------------------------------------------------------- targets


@dataclass
class TargetCheck:
    name: str
    measured: str
    required: str
    passed: bool | None  # None: could not be checked (no peer run, no questions in a language)


def check_targets(ours: Run, llama: Run | None) -> list[TargetCheck]:
    """The issue's quality targets for our default configuration."""
    checks = []
    ndcg = ours.overall()
    checks.append(TargetCheck("nDCG@10 overall", f"{ndcg:.3f}", ">= 0.700", ndcg >= 0.70))
    if llama is not None:
        base = llama.overall()
        checks.append(
            TargetCheck(
                "nDCG@10 vs llama-index",
                f"{ndcg:.3f} vs {base:.3f}",
                f">= {base + 0.15:.3f}",
                ndcg >= base + 0.15,
            )
        )
    else:
        checks.append(TargetCheck("nDCG@10 vs llama-index", "-", "run with --peers", None))
    setting = {k[0]: v["ndcg@10"] for k, v in ours.summary(("setting",)).items()}
    same, cross = setting.get("same-language"), setting.get("cross-lingual")
    if same is not None and cross is not None:
        checks.append(
            TargetCheck(
                "cross-lingual vs same-language",
                f"{cross:.3f} vs {same:.3f}",
                f">= {0.9 * same:.3f}",
                cross >= 0.9 * same,
            )
        )
    by_lang = {k[0]: v for k, v in ours.summary(("lang",)).items()}
    en = by_lang.get("en", {}).get("ndcg@10")
    for lang in UN_LANGUAGES:
        if lang == "en":
            continue
        row = by_lang.get(lang)
        if row is None or en is None:
            checks.append(TargetCheck(f"{lang} vs en", "-", "no questions", None))
            continue
        value = row["ndcg@10"]
        checks.append(
            TargetCheck(
                f"{lang} vs en (n={int(row['n'])})",
                f"{value:.3f} vs {en:.3f}",
                f">= {0.85 * en:.3f}",
                value >= 0.85 * en,
            )
        )
    return checks


@dataclass
class Attainable:
    """What a perfect ranking of the index's passages would score, and why it falls short of 1."""

    ndcg: float
    questions: int
    #: Questions whose held gold quotes cannot each get a rank of their own: two of them sit in one
    #: passage, whose rank binary gains count once.
    shared_passage: int
    gold_items: int
    #: Gold quotes that no passage of the index holds (lost to extraction or to where passages are cut).
    unheld: int

    def sentence(self) -> str:
        return (
            f"A perfect ranking of this index's passages would score nDCG@10 {self.ndcg:.3f} on these "
            f"{self.questions} questions: in {self.shared_passage} of them two gold quotes sit in one passage, "
            f"whose rank binary gains count once; {self.unheld} of {self.gold_items} gold quotes are held by "
            "no passage."
        )


def attainable(store: Any, questions: Sequence[Mapping[str, Any]]) -> Attainable:
    """The best nDCG@10 any ranking of ``store``'s passages can reach on ``questions``."""
    paths = {d.doc_id: d.path or "" for d in store.documents()}
    wanted = {str(item["doc"]) for q in questions for item in q["gold"]}
    by_doc: dict[str, list[tuple[int, str]]] = {}
    for row in store.iter_passages("id, doc_id, text"):
        path = paths.get(row["doc_id"], "")
        if path in wanted:
            by_doc.setdefault(path, []).append((int(row["id"]), row["text"]))
    scores, shared, unheld, items = [], 0, 0, 0
    for q in questions:
        holders = gold_holders(q, by_doc)
        scores.append(attainable_ndcg(holders))
        held = [h for h in holders if h]
        unheld += len(holders) - len(held)
        items += len(holders)
        shared += best_gaining_ranks(held) < len(held)
    return Attainable(statistics.fmean(scores) if scores else 0.0, len(questions), shared, items, unheld)


# ---------------------------------------------------------------------------------- tables


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    """A plain aligned table, or a GitHub markdown table.

    >>> print(render_table(["a", "bb"], [["1", "2"]], markdown=True))
    | a | bb |
    |---|---:|
    | 1 | 2 |
    """
    if markdown:
        align = ["---"] + ["---:"] * (len(headers) - 1)
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    fmt = lambda r: "  ".join(  # noqa: E731
        (str(x).ljust(w) if i == 0 else str(x).rjust(w))
        for i, (x, w) in enumerate(zip(r, widths, strict=False))
    )
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def metric_rows(runs: Sequence[Run], by: Sequence[str] = ()) -> list[list[str]]:
    """One row per run (and group), metrics as 3-decimal strings."""
    rows = []
    for run in runs:
        for key, values in run.summary(by).items():
            rows.append(
                [
                    *key,
                    run.name,
                    str(int(values["n"])),
                    *(f"{values.get(m, 0.0):.3f}" for m in DEFAULT_METRICS),
                ]
            )
    return rows


def metric_headers(by: Sequence[str] = ()) -> list[str]:
    return [*by, "system", "n", *(METRIC_LABELS[m] for m in DEFAULT_METRICS)]


def report_quality(runs: Sequence[Run], md: bool) -> str:
    parts = ["Overall", render_table(metric_headers(), metric_rows(runs), md)]
    for by, title in ((("lang",), "By question language"), (("setting",), "Same-language vs cross-lingual")):
        rows = sorted(metric_rows(runs, by), key=lambda r: r[0])
        parts += ["", title, render_table(metric_headers(by), rows, md)]
    return "\n".join(parts)


def variant_rows(runs: Sequence[Run]) -> list[list[str]]:
    rows = []
    for run in runs:
        overall = run.summary()[()]
        setting = {k[0]: v["ndcg@10"] for k, v in run.summary(("setting",)).items()}
        by_lang = {k[0]: v["ndcg@10"] for k, v in run.summary(("lang",)).items()}
        en = by_lang.get("en") or 0.0
        ratios = [by_lang[lang] / en for lang in UN_LANGUAGES if lang != "en" and lang in by_lang and en]
        rows.append(
            [
                run.name,
                *(f"{overall[m]:.3f}" for m in DEFAULT_METRICS),
                f"{setting.get('same-language', 0.0):.3f}",
                f"{setting.get('cross-lingual', 0.0):.3f}",
                f"{min(ratios):.2f}" if ratios else "-",
            ]
        )
    return rows


VARIANT_HEADERS = [
    "variant",
    *(METRIC_LABELS[m] for m in DEFAULT_METRICS),
    "same nDCG",
    "cross nDCG",
    "min UN/en",
]


def report_latency(lat: LatencyComparison, md: bool) -> str:
    def row(name: str, ours: Sequence[float], llama: Sequence[float]) -> list[str]:
        p50o, p50l = statistics.median(ours), statistics.median(llama)
        return [
            name,
            f"{p50o:.1f}",
            f"{percentile(ours, 95):.1f}",
            f"{p50l:.1f}",
            f"{percentile(llama, 95):.1f}",
            f"{p50l / p50o:.1f}x" if p50o else "-",
        ]

    rows = [
        row("query embedded per call", lat.ours_cold_ms, lat.llama_cold_ms),
        row("query vector given", lat.ours_warm_ms, lat.llama_warm_ms),
    ]
    headers = [
        "dense top-50, in-process",
        "ours p50 ms",
        "ours p95",
        "llama p50 ms",
        "llama p95",
        "llama / ours (p50)",
    ]
    return render_table(headers, rows, md)


# ---------------------------------------------------------------------------------- main


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m housing_kb.evaluation.eval_retrieval",
        description="Retrieval quality of housing-kb search on the dev questions, against peers.",
    )
    p.add_argument("--index", type=Path, help="index directory (default: settings / HOUSING_KB_INDEX)")
    p.add_argument(
        "--questions", type=Path, help="questions JSONL (default: <corpus>/../eval/questions_dev.jsonl)"
    )
    p.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated search modes (default: all three)"
    )
    p.add_argument("--variants", action="store_true", help="compare fusion methods and dense strategies")
    p.add_argument("--peers", action="store_true", help="also run bm25s alone and llama-index defaults")
    p.add_argument("--markdown", action="store_true", help="print markdown tables (for the README)")
    p.add_argument(
        "--json", type=Path, dest="json_out", help="write every figure (and per-question scores) here"
    )
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in args.modes if m not in MODES]
    if bad or not args.modes:
        p.error(f"--modes: unknown mode(s) {', '.join(bad) or '(none)'}; valid: {', '.join(MODES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    settings = Settings.from_env()
    if args.index:
        settings = settings.with_(index_dir=args.index)
    try:
        questions = load_questions(args.questions or default_questions_path(settings))
        return _evaluate(args, settings, questions)
    except EvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _evaluate(args: argparse.Namespace, settings: Settings, questions: list[dict[str, Any]]) -> int:
    from housing_kb.index.query.engine import SearchEngine
    from housing_kb.index.store.index_store import IndexError_

    try:
        engine = SearchEngine.open(settings)
    except IndexError_ as exc:
        raise EvalError(str(exc)) from None
    md = args.markdown
    stats = engine.store.stats()
    print(
        f"Index {settings.index_dir}: {stats['documents']} documents, {stats['passages']} passages, "
        f"model {stats['model_id']}; {len(questions)} questions; each system returns its top {DEPTH}.\n"
        f"Engine config: {engine.config}. Tagged: {engine.filter_table.tagged}.",
        flush=True,
    )
    if not engine.has_lexical:
        print("WARNING: the index has no lexical channel yet: lexical and hybrid mode fall back to dense.")
    runs = []
    for mode in args.modes:
        runs.append(run_system(f"ours {mode}", engine_ranker(engine, mode), questions))
        print(f"  ours {mode}: nDCG@10 {runs[-1].overall():.3f}", file=sys.stderr, flush=True)
    llama_run, latency, peer_notes = None, None, []
    if args.peers:
        rank, n = bm25s_ranker(engine.store)
        runs.append(run_system("bm25s alone", rank, questions))
        peer_notes.append(
            f"bm25s alone: bm25s.tokenize defaults, English stop words, over the same {n} passages."
        )
        from housing_kb.evaluation.llamaindex_baseline import BaselineError, LlamaIndexBaseline

        try:
            baseline = LlamaIndexBaseline.build(settings, engine.embedder)
        except BaselineError as exc:
            raise EvalError(str(exc)) from None
        llama_run = run_system("llama-index defaults", llamaindex_ranker(baseline), questions)
        runs.append(llama_run)
        b = baseline.stats
        peer_notes.append(
            f"llama-index defaults: SimpleDirectoryReader (+ llama-index-readers-file) read {b.files} files as "
            f"{b.documents} documents -> SentenceSplitter() -> {b.nodes} nodes -> VectorStoreIndex; same e5 model "
            "with its query:/passage: prefixes applied through an adapter, so only the pipeline differs."
        )
        latency = time_dense_retrievers(engine, baseline, [str(q["query"]) for q in questions])
    print("\n## Retrieval quality (dev set)\n")
    if peer_notes:
        print("\n".join(f"- {n}" for n in peer_notes) + "\n")
    print(report_quality(runs, md))
    if latency is not None:
        print(f"\n## Same queries, in-process latency ({latency.queries} queries, 1 call each, sequential)\n")
        print(report_latency(latency, md))
    variant_runs: list[Run] = []
    if args.variants:
        print("\nrunning variants...", file=sys.stderr, flush=True)
        variant_runs = run_variants(engine, questions, variant_grid())
        print("\n## Variants (fusion x dense strategy)\n")
        print(render_table(VARIANT_HEADERS, variant_rows(variant_runs), md))
        shares = passage_language_shares(engine.store)
        for run in variant_runs[: len(STRATEGIES)]:
            print(
                f"\nSame-language share of top-10 hits, {run.name} (vs share of passages in that language)\n"
            )
            print(
                render_table(
                    ["query lang", "n", "top-10 same-lang", "passages", "lift"],
                    language_bias(run, questions, shares),
                    md,
                )
            )
    ours_default = next((r for r in runs if r.name == "ours hybrid"), runs[0])
    checks = check_targets(ours_default, llama_run)
    print(f"\n## Targets ({ours_default.name}, default config)\n")
    rows = [
        [c.name, c.measured, c.required, {True: "PASS", False: "FAIL", None: "n/a"}[c.passed]] for c in checks
    ]
    print(render_table(["target", "measured", "required", "result"], rows, md))
    bound = attainable(engine.store, questions)
    print("\n" + bound.sentence())
    if args.json_out:
        _write_json(args.json_out, settings, stats, engine, runs, variant_runs, checks, latency, bound)
    return 0


def _write_json(
    path: Path,
    settings: Settings,
    stats: Mapping[str, Any],
    engine: Any,
    runs: Sequence[Run],
    variant_runs: Sequence[Run],
    checks: Sequence[TargetCheck],
    latency: LatencyComparison | None,
    bound: Attainable | None = None,
) -> None:
    def dump(run: Run) -> dict[str, Any]:
        return {
            "name": run.name,
            "seconds": round(run.seconds, 2),
            "overall": run.summary()[()],
            "by_lang": {k[0]: v for k, v in run.summary(("lang",)).items()},
            "by_setting": {k[0]: v for k, v in run.summary(("setting",)).items()},
            "questions": [{"id": r.question_id, **r.scores} for r in run.results],
        }

    payload = {
        "index": str(settings.index_dir),
        "documents": stats["documents"],
        "passages": stats["passages"],
        "model_id": stats["model_id"],
        "config": vars(engine.config),
        "runs": [dump(r) for r in runs],
        "variants": [dump(r) for r in variant_runs],
        "targets": [vars(c) for c in checks],
        "latency_ms": vars(latency) if latency else None,
        "attainable": vars(bound) if bound else None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
