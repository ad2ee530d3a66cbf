"""How well the passage-type detectors (ingest/passage_kinds.py) work, and what they hide.

    python -m housing_kb.evaluation.eval_passage_kinds [--index DIR] [--markdown]

1. Precision and recall per type on two labelled samples, judged by ``evaluation/data/PASSAGE_KINDS.md``:
   ``passage_kinds.jsonl`` (347 passages from all 60 documents: each one's first two, last two and two
   random ones), on which the detectors were written (split ``a``, the even-numbered documents) and
   then adjusted (split ``b``, after its first held-out measure); and ``passage_kinds_test.jsonl``
   (194 other passages: each document's third, third-last and two random ones), drawn and labelled
   while the detectors were adjusted, never looked at, and measured once: the held-out figure.
2. Agreement of a second reader on 90 passages of the sample (``passage_kinds_second_reader.jsonl``).
3. With an index: the share of each type in the corpus, and for the dev questions the share of the
   top 10 (hybrid) that the detectors call non-body, with ``kind=all`` (what search showed before
   passage types) and with the default. The second figure is 0 by construction; the first counts
   only what the detectors catch, so with their recall it is a lower bound.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from housing_kb.ingest.passage_kinds import PassageContext, classify_passage
from housing_kb.schema.vocabulary import BODY, KINDS

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "passage_kinds.jsonl"
TEST = DATA / "passage_kinds_test.jsonl"
SECOND_READER = DATA / "passage_kinds_second_reader.jsonl"


def load_sample(path: Path = SAMPLE) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def predict(item: dict) -> str:
    context = PassageContext(item["ordinal"], item["passages_in_document"], item["document_type"])
    return classify_passage(item["text"], context)


def per_kind(gold: list[str], predicted: list[str]) -> dict[str, dict[str, float | int | None]]:
    """Precision, recall and support per kind, plus "non-body" (hidden versus shown).

    >>> per_kind(["body", "table"], ["body", "body"])["table"]["recall"]
    0.0
    """
    out: dict[str, dict[str, float | int | None]] = {}
    pairs = list(zip(gold, predicted, strict=True))
    for kind in (*KINDS, "non-body"):
        if kind == "non-body":
            g = [x != BODY for x, _ in pairs]
            p = [y != BODY for _, y in pairs]
        else:
            g = [x == kind for x, _ in pairs]
            p = [y == kind for _, y in pairs]
        tp = sum(a and b for a, b in zip(g, p, strict=True))
        out[kind] = {
            "support": sum(g),
            "predicted": sum(p),
            "precision": tp / sum(p) if sum(p) else None,
            "recall": tp / sum(g) if sum(g) else None,
        }
    return out


def sample_report(items: list[dict]) -> dict[str, dict]:
    """Figures per split: "test" (held out), "a+b" (what the detectors were written on), "a", "b"."""
    predicted = {item["id"]: predict(item) for item in items}
    report = {}
    for split in ("test", "a+b", "a", "b"):
        chosen = [i for i in items if i["split"] == split or (split == "a+b" and i["split"] in "ab")]
        report[split] = per_kind([i["kind"] for i in chosen], [predicted[i["id"]] for i in chosen])
        report[split]["n"] = len(chosen)
    return report


def agreement(items: list[dict], second_path: Path = SECOND_READER) -> dict[str, float]:
    first = {i["id"]: i["kind"] for i in items}
    with second_path.open(encoding="utf-8") as handle:
        second = {r["id"]: r["kind"] for r in map(json.loads, handle)}
    ids = sorted(second)
    a, b = [first[i] for i in ids], [second[i] for i in ids]
    return {
        "n": len(ids),
        "agreement": sum(x == y for x, y in zip(a, b, strict=True)) / len(ids),
        "kappa": float(cohen_kappa_score(a, b)),
        "kappa_body_vs_not": float(cohen_kappa_score([x == BODY for x in a], [y == BODY for y in b])),
    }


def index_report(index_dir: Path | None) -> dict:
    """Kind shares in the corpus and non-body shares in the dev questions' top 10."""
    from housing_kb.config import Settings
    from housing_kb.evaluation.eval_retrieval import default_questions_path, load_questions
    from housing_kb.index.query.engine import SearchEngine
    from housing_kb.index.query.filters import ALL_KINDS, Filters
    from housing_kb.models.registry import load_query_embedder

    settings = Settings.from_env()
    if index_dir is not None:
        settings = settings.with_(index_dir=index_dir)
    engine = SearchEngine.open(settings, load_query_embedder(settings))
    kinds = Counter(KINDS[k] for k in engine.filter_table.kind.tolist())
    total = sum(kinds.values())
    questions = load_questions(default_questions_path(settings))
    top: dict[str, Counter] = {"kind=all": Counter(), "default": Counter()}
    for q in questions:
        for name, filters in (("kind=all", Filters(kinds=[ALL_KINDS])), ("default", Filters())):
            top[name].update(h.kind for h in engine.search(str(q["query"]), k=10, filters=filters).hits)
    return {
        "passages": total,
        "corpus_share": {k: kinds[k] / total for k in KINDS},
        "questions": len(questions),
        "top10": {name: dict(c) for name, c in top.items()},
    }


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def markdown(report: dict) -> str:
    test, dev = report["sample"]["test"], report["sample"]["a+b"]
    lines = [
        f"| type | held-out test ({test['n']}): n | precision | recall "
        f"| written on ({dev['n']}): n | precision | recall |"
    ]
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for kind in (*KINDS, "non-body"):
        a, b = dev[kind], test[kind]
        lines.append(
            f"| {kind} | {b['support']} | {_fmt(b['precision'])} | {_fmt(b['recall'])} "
            f"| {a['support']} | {_fmt(a['precision'])} | {_fmt(a['recall'])} |"
        )
    ag = report["agreement"]
    lines.append("")
    lines.append(
        f"Second reader on {ag['n']} passages: {ag['agreement']:.0%} agreement, Cohen's kappa {ag['kappa']:.2f} "
        f"({ag['kappa_body_vs_not']:.2f} for body versus not)."
    )
    if "index" in report:
        ix = report["index"]
        shares = ", ".join(f"{k} {v:.1%}" for k, v in ix["corpus_share"].items())
        lines.append("")
        lines.append(f"Corpus ({ix['passages']} passages): {shares}.")
        for name, counts in ix["top10"].items():
            hits = sum(counts.values())
            hidden = hits - counts.get(BODY, 0)
            detail = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()) if k != BODY) or "none"
            lines.append(
                f"- top 10 of the {ix['questions']} dev questions, {name}: {hidden} of {hits} hits "
                f"({hidden / hits:.1%}) are detected as non-body ({detail})."
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=None, help="index directory (default: settings)")
    parser.add_argument("--no-index", action="store_true", help="only the labelled sample")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables (for the README)")
    parser.add_argument("--json", dest="json_out", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    items = load_sample()
    report: dict = {"sample": sample_report(items + load_sample(TEST)), "agreement": agreement(items)}
    if not args.no_index:
        report["index"] = index_report(args.index)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    if args.markdown:
        print(markdown(report))
    else:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
