"""Typeahead over document titles, country names and adequacy components, in any UN language.

Names come from the tagging vocabularies and the gazetteer (prompts/), so a user typing "viv",
"тен", "住房" or "السكن" gets completions in their own script.

>>> s = Suggester([SuggestEntry("Kenya", "country", "KEN", "en")])
>>> [x["value"] for x in s.suggest("ken")]
['KEN']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from housing_kb.index.query.filters import COMPONENTS
from housing_kb.schema.labels import load_labels

_KIND_ORDER = {"component": 0, "region": 1, "country": 2, "title": 3}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def fold(text: str) -> str:
    """Case- and accent-insensitive form used for matching (Arabic diacritics dropped too)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("ـ", "")


@dataclass(frozen=True)
class SuggestEntry:
    text: str
    kind: str
    value: str
    language: str | None = None


class Suggester:
    def __init__(self, entries: Iterable[SuggestEntry]) -> None:
        seen: set[tuple[str, str, str]] = set()
        self._entries: list[tuple[str, list[str], SuggestEntry]] = []
        for e in entries:
            key = (fold(e.text), e.kind, e.value)
            if not e.text.strip() or key in seen:
                continue
            seen.add(key)
            folded = key[0]
            starts = [folded[m.start() :] for m in re.finditer(r"(?<!\w)\w", folded)]
            self._entries.append((folded, starts, e))

    @classmethod
    def build(cls, documents: Iterable[Any], table: Any = None) -> Suggester:
        entries = [SuggestEntry(d.title, "title", d.doc_id, d.language) for d in documents]
        entries += _vocabulary_entries()
        return cls(entries)

    def suggest(self, prefix: str, *, limit: int = 10) -> list[dict[str, Any]]:
        q = fold(prefix.strip())
        if not q:
            return []
        scored = []
        for folded, starts, e in self._entries:
            if folded.startswith(q):
                rank = 0
            elif any(s.startswith(q) for s in starts):
                rank = 1
            elif _CJK.search(q) and q in folded:  # CJK has no word starts
                rank = 2
            else:
                continue
            scored.append((rank, _KIND_ORDER.get(e.kind, 9), len(e.text), e))
        scored.sort(key=lambda t: t[:3])
        out, used = [], set()
        for *_, e in scored:
            if (e.kind, e.value, e.text) in used:
                continue
            used.add((e.kind, e.value, e.text))
            out.append({"text": e.text, "kind": e.kind, "value": e.value, "language": e.language})
            if len(out) >= limit:
                break
        return out


def _vocabulary_entries() -> list[SuggestEntry]:
    """Component and region names in seven languages, and country names and adjectives."""
    labels = load_labels()
    entries = [SuggestEntry(c.replace("_", " "), "component", c, "en") for c in COMPONENTS]
    for kind, key in (("component", "components"), ("region", "regions")):
        for value, names in labels[key].items():
            entries += [SuggestEntry(text, kind, value, lang) for lang, text in names.items()]
    entries += [SuggestEntry(name, "country", code, None) for code, name in _country_names()]
    return entries


def _country_names() -> list[tuple[str, str]]:
    """ISO names (translated where pycountry has the locale) plus the gazetteer's variants."""
    import yaml

    from housing_kb.text.geography.names import _pycountry_names, default_geo_dir

    geo = default_geo_dir()
    regions = yaml.safe_load((geo / "regions.yaml").read_text(encoding="utf-8"))["regions"]
    codes = {c for members in regions.values() for c in members}
    out = list(_pycountry_names(codes))
    variants = yaml.safe_load((geo / "names.yaml").read_text(encoding="utf-8")).get("variants") or {}
    for code, per_lang in variants.items():
        for terms in (per_lang or {}).values():
            out += [(code, t) for t in terms if "*" not in t]
    return out
