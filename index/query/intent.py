"""Region intent: which passages name a UN-Habitat region that a query names.

A question such as "how did housing costs in Europe rise?" or "¿qué proporción de América Latina…?"
is about what documents say of that region, and the passage that answers it is often in another
language (UN-Habitat's Chinese meeting report covers every region). Passages are tagged with the
regions they name *and* the regions of the countries they name, so the tag alone would favour every
Argentine or Colombian passage for "Latin America". This module finds the passages that name the
region itself, from the passage texts, once per region and index generation.

>>> mentions = RegionMentions()                                   # doctest: +SKIP
>>> mentions.ids(store, table, "latin_america_caribbean").size    # doctest: +SKIP
27
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache

import numpy as np

from housing_kb.index.protocols import ServedIndex
from housing_kb.index.query.filters import Filters, FilterTable
from housing_kb.text.geography import Gazetteer, region_name_terms, without_addresses
from housing_kb.text.textnorm import fold


class RegionMentions:
    """Passage ids naming each region, computed on first use and kept for the index generation."""

    def __init__(self) -> None:
        self._generation = -1
        self._ids: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def ids(self, store: ServedIndex, table: FilterTable, region: str) -> np.ndarray:
        """Sorted ids of the passages that name ``region`` (by any of its names, in any language).

        Only passages tagged with the region can name it, so only their texts are read; a set
        lookup of their words picks the few that might, and the gazetteer decides. The first call
        for a region takes 10-240 ms on the 3.5k-passage corpus, 0.2-1.5 s at 100k (then cached
        until the next ingest)."""
        generation = store.generation
        with self._lock:
            if generation != self._generation:
                self._ids, self._generation = {}, generation
            cached = self._ids.get(region)
        if cached is not None:
            return cached
        candidates = table.allowed_ids(Filters(regions=[region]))
        found: list[int] = []
        spec = _name_spec(region)
        if candidates is not None and len(candidates):
            gazetteer = Gazetteer.default()
            for start in range(0, len(candidates), 2000):
                texts = store.passage_texts(candidates[start : start + 2000])
                found.extend(
                    pid for pid, text in texts.items() if _names_region(text, region, spec, gazetteer)
                )
        ids = np.array(sorted(found), dtype=np.int64)
        with self._lock:
            if generation == self._generation:
                self._ids[region] = ids
        return ids


def _names_region(text: str, region: str, spec: _NameSpec, gazetteer: Gazetteer) -> bool:
    """Whether ``text`` names ``region``. Set lookups of its words pick the places where one of the
    region's names may start (a regex of all the names was 20 times slower), and the gazetteer reads a
    window around each (enough context for "South Africa" to stay a country)."""
    if "." in text or "@" in text:
        text = without_addresses(text)  # before windowing: a window may cut a long URL's scheme off
    lowered = text.lower()
    starts = [
        w for w in set(_WORD.findall(lowered)) if w in spec.whole or (len(w) > 4 and w[:6] in spec.prefixes)
    ]
    starts += [c for c in spec.cjk if c in lowered]
    if not starts:
        return False
    for match in re.finditer("|".join(re.escape(w) for w in starts), lowered):
        window = text[max(0, match.start() - 60) : match.end() + 100]
        if region in gazetteer.find(window).regions:
            return True
    return False


_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class _NameSpec:
    prefixes: frozenset[str]  # six-letter prefixes of longer words (also catch Африки, África)
    whole: frozenset[str]  # short words that must match whole (LAC, MENA)
    cjk: tuple[str, ...]  # Chinese names, found anywhere


@cache
def _name_spec(region: str) -> _NameSpec:
    """One word of each of the region's names (its longest, so "the Caribbean" is looked for by
    "caribbean", not "the"), as written (lower case) and folded (accents and Arabic letter variants
    removed), so raw lower-cased text can be tested without folding it (seconds at 100k passages)."""
    prefixes, whole, cjk = set(), set(), set()
    for term in region_name_terms(region):
        for form in (term.lower(), fold(term)):
            words = _WORD.findall(form.rstrip("*"))
            word = max(words, key=len) if words else ""
            if not word:
                continue
            if "\u3400" <= word[0] <= "\u9fff":
                cjk.add(word)
            elif len(word) <= 4:
                whole.add(word)
            else:
                prefixes.add(word[:6])
    return _NameSpec(frozenset(prefixes), frozenset(whole), tuple(sorted(cjk)))


def filter_table_with_mentions(store: ServedIndex) -> tuple[FilterTable, RegionMentions]:
    """The index's filter table, able to filter on the regions passages name (``named_regions``),
    and the region mentions it reads them from."""
    table = FilterTable.from_store(store)
    mentions = RegionMentions()
    table.named_region_ids = lambda region: mentions.ids(store, table, region)
    return table, mentions
