"""How fast `/ask` answers, and whether its answers quote the right passages.

    python -m housing_kb.evaluation.bench_ask [--embedded N] [--questions FILE]

For every dev question, in-process (no HTTP), after one warm-up answer: the time of
``answer_question`` (p50, p95, mean), and where that time goes (search, the sentences' e5 vectors,
the rest), and the quality of what it quotes: the passages its sentences cite, in order, judged
against the question's gold quotes like a search ranking (a cited passage matches when it holds at
least half of a gold quote's 8-grams): recall of the gold items and MRR. ``--embedded`` overrides
how many candidate sentences are embedded (``answers.MAX_EMBEDDED``), to measure before and after.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from housing_kb.evaluation.retrieval_metrics import aggregate, evaluate_question


def main(argv: list[str] | None = None) -> None:
    from housing_kb.config import Settings
    from housing_kb.evaluation.eval_retrieval import default_questions_path, load_questions
    from housing_kb.index.answers import extractive as answers
    from housing_kb.index.query.engine import SearchEngine
    from housing_kb.models.registry import load_query_embedder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--questions", type=Path, default=None)
    parser.add_argument("--embedded", type=int, default=None, help="candidate sentences embedded per answer")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.index is not None:
        settings = settings.with_(index_dir=args.index)
    if args.embedded is not None:
        answers.MAX_EMBEDDED = args.embedded
    engine = SearchEngine.open(settings, load_query_embedder(settings))
    questions = load_questions(args.questions or default_questions_path(settings))
    answers.answer_question(engine, "How do cities upgrade informal settlements?")  # warm-up

    # Where the time goes: the sentence vectors are timed by wrapping the embedder's call.
    embed_seconds = [0.0]
    original = engine.embedder.embed_sentences

    def timed_embed(texts):
        started = time.perf_counter()
        try:
            return original(texts)
        finally:
            embed_seconds[0] += time.perf_counter() - started

    engine.embedder.embed_sentences = timed_embed
    latencies, embeds, results = [], [], []
    for q in questions:
        embed_seconds[0] = 0.0
        started = time.perf_counter()
        answer = answers.answer_question(engine, str(q["query"]))
        latencies.append(time.perf_counter() - started)
        embeds.append(embed_seconds[0])
        cited = list(dict.fromkeys(s.citation.passage_id for s in answer.sentences))
        hits = []
        for passage_id in cited:
            row = engine.store.passage(passage_id)
            doc = engine.documents.get(row.doc_id) if row is not None else None
            if row is not None and doc is not None:
                hits.append((doc.path or "", row.text))
        results.append(evaluate_question(q, hits, "ask", ["recall@10", "mrr@10"]))
    engine.embedder.embed_sentences = original
    quality = aggregate(results, by=())[()]
    cut = sorted(latencies)
    p95 = cut[min(len(cut) - 1, round(0.95 * (len(cut) - 1)))]
    print(
        f"{len(questions)} dev questions, MAX_EMBEDDED {answers.MAX_EMBEDDED}, MAX_CANDIDATES "
        f"{answers.MAX_CANDIDATES}, in-process on {settings.index_dir}"
    )
    print(
        f"latency: p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s, mean {statistics.mean(latencies):.2f} s; "
        f"sentence vectors {statistics.mean(embeds):.2f} s of it on average"
    )
    print(f"quoted passages: gold recall {quality['recall@10']:.3f}, MRR {quality['mrr@10']:.3f}")


if __name__ == "__main__":
    main()
