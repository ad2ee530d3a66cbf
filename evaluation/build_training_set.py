"""Assemble evaluation/data/tags_train.jsonl from the labelling rounds (how the committed file was made).

    python -m housing_kb.evaluation.build_training_set --work var/labelling

The work folder holds each round's pool (``pool*.jsonl``, written by sample_tagging_units), the
labellers' files (``labels_<batch>.jsonl``: components, countries, named regions, stages, note) and
the second reader's (``labels_second*.jsonl``). Regions are derived, as LABELLING.md defines them: the
regions of the listed countries plus the world regions the passage names; ``global`` alone when there
are neither. The second reader's labels go to ``tags_train_second_reader.jsonl`` beside the training
file, so the agreement figure can be recomputed (``eval_tags --agreement``).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from housing_kb.config import REPO_ROOT
from housing_kb.text.geography import GLOBAL_REGION, regions_for_countries

DATA_DIR = REPO_ROOT / "evaluation" / "data"
TRAIN_FILE = DATA_DIR / "tags_train.jsonl"
SECOND_READER_FILE = DATA_DIR / "tags_train_second_reader.jsonl"


def regions_of(countries: list[str], named: list[str]) -> list[str]:
    """>>> regions_of(["KEN"], ["latin_america_caribbean"]), regions_of([], [])
    (['africa', 'latin_america_caribbean'], ['global'])
    """
    regions = {r for r in regions_for_countries(countries) if r != GLOBAL_REGION} | set(named)
    return sorted(regions) or [GLOBAL_REGION]


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def record(unit: dict, label: dict, round_no: int) -> dict:
    return {
        "id": f"ttrain-{unit['id']}",
        "doc": unit["doc"],
        "page": unit["page"],
        "lang": unit["lang"],
        "text": unit["text"],
        "components": sorted(label["components"]),
        "countries": sorted(set(label["countries"])),
        "regions": regions_of(label["countries"], label["named_regions"]),
        "stages": sorted(label["stages"]),
        "note": label["note"],
        "passage_id": unit["passage_id"],
        "round": round_no,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=REPO_ROOT / "var" / "labelling")
    args = ap.parse_args(argv)
    units: dict[str, tuple[dict, int]] = {}
    for round_no, name in enumerate(("pool.jsonl", "pool2.jsonl", "pool3.jsonl", "pool4.jsonl"), start=1):
        path = args.work / name
        if path.exists():
            units.update({u["id"]: (u, round_no) for u in _read(path)})
    first, second = {}, {}
    for path in sorted(args.work.glob("labels_*.jsonl")):
        target = second if "second" in path.name else first
        for label in _read(path):
            target[label["id"]] = label
    missing = sorted(set(units) - set(first))
    if missing:
        raise SystemExit(f"build_training_set: {len(missing)} units have no label yet, e.g. {missing[0]}")
    rows = [
        record(units[i][0], first[i], units[i][1])
        for i in sorted(units, key=lambda i: (units[i][0]["doc"], i))
    ]
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with TRAIN_FILE.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    with SECOND_READER_FILE.open("w", encoding="utf-8") as fh:
        for unit_id in sorted(second):
            row = record(units[unit_id][0], second[unit_id], units[unit_id][1])
            fh.write(
                json.dumps(
                    {k: row[k] for k in ("id", "components", "countries", "regions", "stages", "note")},
                    ensure_ascii=False,
                )
                + "\n"
            )
    comps = Counter(c for r in rows for c in r["components"])
    langs = Counter(r["lang"] for r in rows)
    print(
        f"{len(rows)} items from {len({r['doc'] for r in rows})} documents -> {TRAIN_FILE}; "
        f"none: {sum(1 for r in rows if not r['components'])}; languages {dict(langs)}; components {dict(comps)}; "
        f"second reader: {len(second)} -> {SECOND_READER_FILE}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
