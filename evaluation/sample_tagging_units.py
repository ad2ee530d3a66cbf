"""Choose the passages to label for the tagger's training set (evaluation/data/tags_train.jsonl).

    python -m housing_kb.evaluation.sample_tagging_units --out var/labelling/pool.jsonl [--total 1450]

Units are natural ones, as in the dev and held-out sets: a paragraph, or a few consecutive short
paragraphs, of 200-1,000 characters, cut from the index's own passages (each keeps the passage id it
came from). How units are chosen, with a fixed seed:

1. every unit that shares character 8-grams with a ``tags_dev.jsonl`` item (a fifth of either's) is
   left out, so the dev set stays a test set;
2. every document gets at least ``--per-document`` units, and every language at least
   ``--per-language``;
3. up to ``--cultural`` units are drawn from those that mention participation in design, self-build,
   vernacular or indigenous building, or heritage (in the seven languages), because cultural adequacy
   is rare in random text;
4. the rest is drawn at random, one unit per passage at most (except in a language with few passages).

A random draw gave two thirds of units no component and fewer than 60 for five components, while the
dev set has 18 % without one. A second round (``--enrich``) therefore draws from passages that lean
towards a component: for each component the passages most similar to its definition and exemplars
(e5 cosine, minus the passage's mean over the eight components, so "any housing text" does not
count), ``--per-component`` of them, one unit each, new passages only, at most 60 per document, a
fifth of each component's draw from each of its languages where it has them.

That round was no richer (64 % without a component): a passage's similarity to a definition says
little about a paragraph of it. A third round (``--active``) learns from the labels of the first two
instead: per component a logistic regression on the units' USE-multilingual vectors, fitted on the
units labelled so far, ranks the unlabelled units, and the ``--per-component`` best of each are drawn
(no text already labelled, at most 60 per document). The rounds' labels decide nothing about the labels of
the new units, which the labellers give by reading them, as before; and no dev item is ever read.
Cultural adequacy still had 42 positives after three rounds, so a fourth (``--cultural-round N``)
drew N more the same way, among units that mention one of its cues.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from housing_kb.config import REPO_ROOT, Settings
from housing_kb.index.store.index_store import IndexStore

MIN_CHARS = 200
MAX_CHARS = 1000
#: Finer units for languages and documents with too few coarse ones (French has 28 passages in the
#: corpus): a paragraph or a few consecutive sentences of 80-400 characters, still natural units.
FINE = (80, 400)
#: The languages the coverage quota applies to (the corpus also has a bilingual English-Dutch text).
LANGUAGES = ("ar", "en", "es", "fr", "pt", "ru", "zh")
#: Words that open a unit about cultural adequacy often enough to be worth labelling (selection only).
CULTURAL_CUES = re.compile(
    r"particip|vernac|indigen|autochton|aborigin|heritage|patrimo|tradition|tradicion|self-?build|"
    r"autoconstru|mutir|co-?design|people'?s process|quilomb|cultur|культур|традиц|коренн|наследи|"
    r"تراث|التقليدي|الثقاف|مشاركة|传统|民族|文化|风貌|参与|特色",
    re.I,
)


@dataclass
class Unit:
    id: str
    passage_id: str
    doc: str
    doc_id: str
    page: int | None
    lang: str
    text: str
    title: str
    document_countries: list[str]


def split_units(text: str, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS) -> list[str]:
    """Paragraph-sized pieces of a passage: short paragraphs joined, long ones cut at a sentence end.

    >>> [len(u) for u in split_units("a" * 150 + "\\n\\n" + "b" * 150)]
    [302]
    """
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    pieces: list[str] = []
    for paragraph in paragraphs:
        while len(paragraph) > max_chars:
            cut = max(paragraph.rfind(mark, 0, max_chars) for mark in (". ", "。", "؛", "; ", ".\n"))
            cut = cut + 1 if cut > min_chars else max_chars
            pieces.append(paragraph[:cut].strip())
            paragraph = paragraph[cut:].strip()
        pieces.append(paragraph)
    units: list[str] = []
    current = ""
    for piece in pieces:
        joined = f"{current}\n\n{piece}" if current else piece
        if len(joined) <= max_chars:
            current = joined
        else:
            if current:
                units.append(current)
            current = piece
        if len(current) >= min_chars:
            units.append(current)
            current = ""
    if current and len(current) >= min_chars:
        units.append(current)
    return units


def _grams(text: str) -> set[str]:
    norm = re.sub(r"[\s\-]+", "", unicodedata.normalize("NFKC", text).lower())
    return {norm[i : i + 8] for i in range(max(0, len(norm) - 7))}


def overlaps(grams: set[str], others: Iterable[set[str]], share: float = 0.2) -> bool:
    """True when ``grams`` shares at least ``share`` of its own or of another set's 8-grams."""
    for other in others:
        common = len(grams & other)
        if common and (common >= share * len(grams) or common >= share * len(other)):
            return True
    return False


def candidate_units(
    store: IndexStore, dev_texts: Sequence[str], *, per_document: int = 10, per_language: int = 110
) -> list[Unit]:
    """Every unit of every passage that shares nothing with the dev set. Passages of documents with
    fewer than ``per_document`` coarse units, or of languages with fewer than twice ``per_language``,
    are cut into the finer units."""
    docs = {d.doc_id: d for d in store.documents()}
    dev = [_grams(t) for t in dev_texts]
    rows = list(store.iter_passages("passage_id, doc_id, text, language, page_start"))
    coarse_docs: dict[str, int] = defaultdict(int)
    coarse_langs: dict[str, int] = defaultdict(int)
    for row in rows:
        n = len(split_units(row["text"]))
        coarse_docs[row["doc_id"]] += n
        coarse_langs[row["language"]] += n
    units = []
    for row in rows:
        doc = docs[row["doc_id"]]
        fine = coarse_docs[row["doc_id"]] < per_document or coarse_langs[row["language"]] < 2 * per_language
        pieces = split_units(row["text"], *FINE) if fine else split_units(row["text"])
        for n, text in enumerate(pieces):
            if overlaps(_grams(text), dev):
                continue
            units.append(
                Unit(
                    id=f"{row['passage_id']}#{n}",
                    passage_id=row["passage_id"],
                    doc=doc.path or "",
                    doc_id=doc.doc_id,
                    page=row["page_start"],
                    lang=row["language"],
                    text=text,
                    title=doc.title,
                    document_countries=list(doc.countries),
                )
            )
    return units


def choose(
    units: Sequence[Unit],
    *,
    total: int,
    per_document: int,
    per_language: int,
    cultural: int,
    max_per_document: int = 80,
    seed: int = 20261203,
) -> list[Unit]:
    rng = random.Random(seed)
    pool = list(units)
    rng.shuffle(pool)
    chosen: dict[str, Unit] = {}
    used_passages: set[str] = set()

    def take(candidates: Iterable[Unit], limit: int, *, spread: bool = True) -> None:
        taken = 0
        for unit in candidates:
            if taken >= limit:
                return
            if unit.id in chosen or (spread and unit.passage_id in used_passages):
                continue
            chosen[unit.id] = unit
            used_passages.add(unit.passage_id)
            taken += 1

    by_doc: dict[str, list[Unit]] = defaultdict(list)
    by_lang: dict[str, list[Unit]] = defaultdict(list)
    for unit in pool:
        by_doc[unit.doc_id].append(unit)
        by_lang[unit.lang].append(unit)
    for doc_units in by_doc.values():
        take(doc_units, per_document)
    for lang, lang_units in by_lang.items():
        if lang not in LANGUAGES:
            continue
        have = sum(1 for u in chosen.values() if u.lang == lang)
        # a language with few passages (French: 28) may give several units of one passage
        take(lang_units, per_language - have, spread=len(lang_units) > 3 * per_language)
    per_doc: dict[str, int] = defaultdict(int)
    for unit in chosen.values():
        per_doc[unit.doc_id] += 1

    def capped(candidates: Iterable[Unit]) -> Iterable[Unit]:
        # no document takes more than its share of the random draws (the largest has 700 passages)
        for unit in candidates:
            if per_doc[unit.doc_id] < max_per_document:
                per_doc[unit.doc_id] += unit.id not in chosen and unit.passage_id not in used_passages
                yield unit

    take(capped(u for u in pool if CULTURAL_CUES.search(u.text)), cultural)
    take(capped(pool), total - len(chosen))
    return sorted(chosen.values(), key=lambda u: u.id)


def component_leaning(store: IndexStore, embedder: object) -> dict[str, dict[str, float]]:
    """passage_id -> component -> relative similarity of the passage's stored e5 vector to the
    component's anchor (its definitions and exemplars, as the zero-shot tagger embeds them)."""
    from housing_kb.ingest.tagging.components import ComponentClassifier
    from housing_kb.schema.vocabulary import COMPONENT_KEYS

    anchors = ComponentClassifier(embedder).anchors()  # type: ignore[arg-type]
    rows = list(store.iter_passages("id, passage_id"))
    vectors = store.vectors_for([int(r["id"]) for r in rows])
    sims = vectors @ anchors.T
    relative = sims - sims.mean(axis=1, keepdims=True)
    return {
        r["passage_id"]: dict(zip(COMPONENT_KEYS, map(float, row), strict=True))
        for r, row in zip(rows, relative, strict=True)
    }


def choose_enriched(
    units: Sequence[Unit],
    leaning: dict[str, dict[str, float]],
    *,
    exclude_passages: set[str],
    per_component: int,
    max_per_document: int = 60,
    seed: int = 20261204,
) -> list[Unit]:
    """Units of passages that lean towards each component, new passages only (see the module text)."""
    rng = random.Random(seed)
    by_passage: dict[str, list[Unit]] = defaultdict(list)
    for unit in units:
        if unit.passage_id not in exclude_passages and unit.passage_id in leaning:
            by_passage[unit.passage_id].append(unit)
    chosen: dict[str, Unit] = {}
    per_doc: dict[str, int] = defaultdict(int)
    components = next(iter(leaning.values())).keys()
    for component in components:
        ranked = sorted(by_passage, key=lambda pid: -leaning[pid][component])
        by_lang: dict[str, list[str]] = defaultdict(list)
        for pid in ranked:
            by_lang[by_passage[pid][0].lang].append(pid)
        # a share for each language first, so English does not take every place, then the best left
        picks = [pid for lang in LANGUAGES for pid in by_lang[lang][: per_component // 5]]
        picks += [pid for pid in ranked if pid not in picks]
        taken = 0
        for pid in picks:
            if taken >= per_component:
                break
            doc = by_passage[pid][0].doc_id
            if pid in chosen or per_doc[doc] >= max_per_document:
                continue
            chosen[pid] = rng.choice(by_passage[pid])
            per_doc[doc] += 1
            taken += 1
    return sorted(chosen.values(), key=lambda u: u.id)


def choose_active(
    units: Sequence[Unit],
    labelled: dict[str, set[str]],
    embedder: object,
    *,
    per_component: dict[str, int],
    max_per_document: int = 60,
) -> list[Unit]:
    """The unlabelled units a classifier fitted on ``labelled`` (unit id -> components) rates most
    likely to hold each component (see the module text)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    known = [u for u in units if u.id in labelled]
    # another paragraph of a passage already drawn may be drawn, but no text already labelled
    # (neighbouring passages repeat up to 40 tokens)
    seen = [_grams(u.text) for u in known]
    fresh = [u for u in units if u.id not in labelled and not overlaps(_grams(u.text), seen, share=0.3)]
    vectors = embedder.embed_passages([u.text for u in known + fresh])  # type: ignore[attr-defined]
    train, pool = vectors[: len(known)], vectors[len(known) :]
    chosen: dict[str, Unit] = {}
    used: set[str] = set()
    per_doc: dict[str, int] = defaultdict(int)
    for component, wanted in per_component.items():
        target = np.array([component in labelled[u.id] for u in known])
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(train, target)
        scores = model.predict_proba(pool)[:, 1]
        taken = 0
        for i in np.argsort(-scores):
            unit = fresh[int(i)]
            if taken >= wanted:
                break
            if unit.id in chosen or unit.passage_id in used or per_doc[unit.doc_id] >= max_per_document:
                continue
            chosen[unit.id] = unit
            used.add(unit.passage_id)
            per_doc[unit.doc_id] += 1
            taken += 1
    return sorted(chosen.values(), key=lambda u: u.id)


def read_labels(folder: Path) -> dict[str, set[str]]:
    """Unit id -> components, from the labellers' ``labels_*.jsonl`` files in ``folder``."""
    out: dict[str, set[str]] = {}
    for path in sorted(folder.glob("labels_*.jsonl")):
        if "second" in path.name:
            continue  # the second reader's re-labels of items already here
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out[row["id"]] = set(row["components"])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "var" / "labelling" / "pool.jsonl")
    parser.add_argument("--dev", type=Path, default=REPO_ROOT.parent / "shared" / "eval" / "tags_dev.jsonl")
    parser.add_argument("--total", type=int, default=1450)
    parser.add_argument("--per-document", type=int, default=10)
    parser.add_argument("--per-language", type=int, default=110)
    parser.add_argument("--cultural", type=int, default=200)
    parser.add_argument(
        "--enrich",
        type=Path,
        help="Second round: leave out the passages of this earlier pool, draw --per-component per component",
    )
    parser.add_argument("--per-component", type=int, default=110)
    parser.add_argument(
        "--active",
        type=Path,
        help="Third round: the folder of labels_*.jsonl so far; draws units a classifier rates likely positive",
    )
    parser.add_argument(
        "--pools",
        type=Path,
        nargs="*",
        default=[],
        help="Earlier pools whose passages are left out (--active)",
    )
    parser.add_argument(
        "--cultural-round",
        type=int,
        default=0,
        help="With --active: draw only this many units for cultural adequacy, among those with its cues",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    store = IndexStore.open(settings.index_dir, readonly=True)
    dev_texts = [
        json.loads(line)["text"] for line in args.dev.read_text(encoding="utf-8").splitlines() if line
    ]
    units = candidate_units(store, dev_texts, per_document=args.per_document, per_language=args.per_language)
    if args.active:
        from housing_kb.models.registry import load_embedder

        labelled = read_labels(args.active)
        if args.cultural_round:
            # a fourth round for the rarest component: units that mention one of its cues, ranked
            units = [u for u in units if u.id in labelled or CULTURAL_CUES.search(u.text)]
        rare = (
            {"cultural_adequacy": args.cultural_round}
            if args.cultural_round
            else {
                "location": 140,
                "sustainability": 140,
                "cultural_adequacy": 160,
                "habitability": 80,
                "availability_of_services": 80,
                "accessibility": 60,
            }
        )
        chosen = choose_active(
            units,
            labelled,
            load_embedder("use-multilingual", settings),
            per_component=rare,
        )
    elif args.enrich:
        from housing_kb.models.registry import load_embedder

        lines = args.enrich.read_text(encoding="utf-8").splitlines()
        earlier = {json.loads(line)["passage_id"] for line in lines if line}
        leaning = component_leaning(store, load_embedder(settings.embedder, settings))
        chosen = choose_enriched(units, leaning, exclude_passages=earlier, per_component=args.per_component)
    else:
        chosen = choose(
            units,
            total=args.total,
            per_document=args.per_document,
            per_language=args.per_language,
            cultural=args.cultural,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for unit in chosen:
            fh.write(json.dumps(asdict(unit), ensure_ascii=False) + "\n")
    langs: dict[str, int] = defaultdict(int)
    for unit in chosen:
        langs[unit.lang] += 1
    print(
        f"{len(units)} candidate units; {len(chosen)} chosen from {len({u.doc_id for u in chosen})} documents "
        f"({', '.join(f'{k} {v}' for k, v in sorted(langs.items()))}) -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
