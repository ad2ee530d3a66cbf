"""Choose the passages to label for the passage-type sample (evaluation/data/passage_kinds.jsonl).

    python -m housing_kb.evaluation.sample_passage_kinds --out var/kinds/pool.jsonl [--per-document 6]
    python -m housing_kb.evaluation.sample_passage_kinds --out var/kinds/pool2.jsonl --per-document 4 \
        --end-offset 2 --seed 1818 --exclude evaluation/data/passage_kinds.jsonl

A passage's type (body, reference list, table of contents, boilerplate, front matter, participant
list, table) is a property of the whole passage, so the units are the index's own passages. Front
matter, contents pages, reference lists and site footers sit at the two ends of a document, and a
uniform draw would hold almost none of them, so each document gives, with a fixed seed:

- its first two and last two passages, and
- the rest of its ``--per-document`` quota drawn at random from the passages between.

The draw reads positions only: no detector, feature or label takes part in it, so the measured
precision and recall are not biased towards what the detectors look for. The second sample (the
held-out test of the detectors, drawn after they were written) takes the next passage in from each
end (``--end-offset 2``: the third and the third-last) and skips every passage of the first.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from housing_kb.config import Settings
from housing_kb.index.store.index_store import IndexStore


def choose_ordinals(
    count: int, quota: int, rng: random.Random, *, end_offset: int = 0, skip: frozenset[int] = frozenset()
) -> list[int]:
    """Both ends of the document (two passages each, or one from ``end_offset`` in) plus a random draw
    from the rest, never an ordinal in ``skip``.

    >>> choose_ordinals(5, 6, random.Random(0))
    [0, 1, 2, 3, 4]
    >>> len(choose_ordinals(100, 6, random.Random(0)))
    6
    >>> choose_ordinals(100, 2, random.Random(0), end_offset=2)
    [2, 97]
    """
    free = [i for i in range(count) if i not in skip]
    if len(free) <= quota:
        return free
    wanted = {0, 1, count - 2, count - 1} if end_offset == 0 else {end_offset, count - 1 - end_offset}
    ends = {i for i in wanted if i in free}
    middle = [i for i in free if i not in ends]
    return sorted(ends | set(rng.sample(middle, max(0, quota - len(ends)))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-document", type=int, default=6)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--end-offset", type=int, default=0, help="take one passage this far in from each end"
    )
    parser.add_argument("--exclude", type=Path, help="a labelled sample whose passages are not drawn again")
    args = parser.parse_args(argv)
    taken: set[str] = set()
    if args.exclude:
        with args.exclude.open(encoding="utf-8") as handle:
            taken = {json.loads(line)["passage_id"] for line in handle if line.strip()}
    settings = Settings.from_env()
    store = IndexStore.open(settings.index_dir, readonly=True)
    rng = random.Random(args.seed)
    items = []
    for document in sorted(store.documents(), key=lambda d: d.doc_id):
        rows = store.passages_of(document.doc_id)
        skip = frozenset(i for i, row in enumerate(rows) if row.passage_id in taken)
        for ordinal in choose_ordinals(
            len(rows), args.per_document, rng, end_offset=args.end_offset, skip=skip
        ):
            row = rows[ordinal]
            items.append(
                {
                    "id": f"pk-{len(items) + 1:04d}",
                    "passage_id": row.passage_id,
                    "doc_id": document.doc_id,
                    "title": document.title,
                    "document_type": document.document_type,
                    "lang": row.language,
                    "ordinal": ordinal,
                    "passages_in_document": len(rows),
                    "page": row.page_start,
                    "heading_path": row.heading_path,
                    "text": row.text,
                }
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"{len(items)} passages from {len({i['doc_id'] for i in items})} documents -> {args.out}")


if __name__ == "__main__":
    main()
