"""SQLite rows to typed records and back: the one place that reads the index's columns by name.

The ``documents`` and ``passages`` tables keep lists and mappings as JSON text; these functions
decode them on the way out and encode them on the way in (``index/store/index_store.py`` holds the schema).

>>> to_json({"countries": ["KEN"], "title": "Loi n° 12"})
'{"countries":["KEN"],"title":"Loi n° 12"}'
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from housing_kb.schema.records import DocumentRecord, Page, PassageRecord

#: Columns of ``documents`` that come from the manifest entry.
DOCUMENT_FIELDS = (
    "path",
    "url",
    "source_url",
    "title",
    "document_type",
    "countries",
    "regions",
    "language",
    "year",
    "publisher",
    "licence",
    "work_id",
)
JSON_DOCUMENT_COLUMNS = frozenset({"countries", "regions", "empty_pages", "warnings", "tag_summary"})
JSON_PASSAGE_COLUMNS = frozenset(
    {
        "paragraphs",
        "heading_path",
        "components",
        "countries",
        "regions",
        "component_scores",
        "stages",
        "stage_scores",
        "articles",
    }
)


def to_json(value: Any) -> str:
    """The compact JSON text a JSON column stores."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def document_from_row(row: sqlite3.Row) -> DocumentRecord:
    data = {k: row[k] for k in row.keys()}  # noqa: SIM118 - sqlite3.Row has no items()
    for key in JSON_DOCUMENT_COLUMNS:
        data[key] = json.loads(data[key]) if data.get(key) else ([] if key != "tag_summary" else {})
    return DocumentRecord(**data)


def document_values(record: DocumentRecord, columns: Sequence[str]) -> list[Any]:
    """The values of ``columns`` for ``record``, JSON columns encoded, in the order given."""
    return [
        to_json(getattr(record, c)) if c in JSON_DOCUMENT_COLUMNS else getattr(record, c) for c in columns
    ]


def page_from_row(row: sqlite3.Row) -> Page:
    return Page(number=row["page_no"], text=row["text"], empty=bool(row["empty"]))


def passage_fields(row: sqlite3.Row) -> dict[str, Any]:
    """The columns of a passage row (all of them or those selected), JSON columns decoded."""
    data = {k: row[k] for k in row.keys()}  # noqa: SIM118
    for key in JSON_PASSAGE_COLUMNS:
        if key in data:
            data[key] = json.loads(data[key]) if data[key] else ({} if key.endswith("_scores") else [])
    return data


def passage_from_row(row: sqlite3.Row) -> PassageRecord:
    return PassageRecord(**passage_fields(row))
