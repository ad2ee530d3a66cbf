"""Country housing profiles: the latest SDG housing figures next to the collection's evidence.

Figures come from the series stored in the index (``housing-kb data import``; the bundled copy at the
first ingest). Every figure carries its year and source. Missing is "no data", never 0. A region figure
is the source's own aggregate where the source publishes one for exactly that region, otherwise the
population-unweighted median of the region's countries that have a value that year, labelled as such.

>>> data = CountryData.from_observations(read_indicators(bundled_dir()).observations, {})
>>> data.latest("en_lnd_slum", "KEN").value, data.latest("en_lnd_slum", "KEN").year
(46.5, 2018)
"""

from __future__ import annotations

import io
import statistics
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import numpy as np

from housing_kb.index.answers.extractive import component_label, country_name, region_label
from housing_kb.index.query.filters import COMPONENTS
from housing_kb.schema.indicators import NATURE, SERIES, Observation, bundled_dir, read_indicators
from housing_kb.text.geography import country_regions

__all__ = ["CountryData", "UnknownCountry", "bundled_dir", "read_indicators"]

WORLD = 1
#: UN-Habitat regions for which the source publishes an aggregate of the same countries (M49 419 differs
#: from latin_america_caribbean only by Bouvet Island, which is uninhabited and has no values).
SOURCE_AGGREGATES = {"latin_america_caribbean": 419}
#: A change smaller than this many percentage points is "unchanged".
STEADY = 0.5


class UnknownCountry(ValueError):
    """Not an ISO 3166 alpha-3 country code."""


@cache
def _m49_of() -> dict[str, int]:
    """ISO alpha-3 -> M49 numeric code (pycountry's ISO 3166 numeric codes are the M49 country codes)."""
    import pycountry

    return {c.alpha_3: int(c.numeric) for c in pycountry.countries}


def m49(iso3: str) -> int:
    """The M49 code of an ISO alpha-3 code.

    >>> m49("BGD")
    50
    """
    code = _m49_of().get(iso3.upper())
    if code is None:
        raise UnknownCountry(f"iso3: {iso3!r} is not an ISO 3166 alpha-3 country code (for example KEN)")
    return code


@dataclass(frozen=True)
class Value:
    value: float
    text: str  # as published ("46.5", ">95")
    year: int
    nature: str
    import_id: int = 0  # which import it came from (its source)

    @property
    def shown(self) -> str:
        """The value for display, at most one decimal; a bound keeps its sign ("46.5", ">95", "58.9")."""
        if self.text[:1] in "<>":
            return self.text
        return f"{self.value:.1f}".removesuffix(".0")

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "text": self.text,
            "shown": self.shown,
            "year": self.year,
            "how": NATURE.get(self.nature, self.nature),
        }


@dataclass(frozen=True)
class RegionValue:
    region: str
    label: str
    value: float
    year: int
    #: How the figure was made: the source's aggregate, or the median of ``countries`` countries.
    method: str
    countries: int


class CountryData:
    """The stored series, indexed by (series, area, location) with each value list sorted by year."""

    def __init__(
        self, by_key: dict[tuple[str, int, str], list[tuple[int, Value]]], imports: dict[int, dict[str, Any]]
    ) -> None:
        self._by_key = by_key
        self.imports = imports
        self._region_cache: dict[tuple[str, str, int], RegionValue | None] = {}

    @classmethod
    def from_observations(
        cls, observations: Iterable[Observation], imports: dict[int, dict[str, Any]]
    ) -> CountryData:
        by_key: dict[tuple[str, int, str], list[tuple[int, Value]]] = defaultdict(list)
        for o in observations:
            value = Value(o.value, o.text, o.year, o.nature, o.import_id)
            by_key[(o.series, o.area, o.location)].append((o.year, value))
        for values in by_key.values():
            values.sort(key=lambda yv: yv[0])
        return cls(dict(by_key), imports)

    @classmethod
    def from_store(cls, store: Any) -> CountryData:
        return cls.from_observations(store.indicator_observations(), store.indicator_imports())

    @property
    def series(self) -> list[str]:
        present = {k[0] for k in self._by_key}
        return [s for s in SERIES if s in present]

    def source_line(self, series: str, value: Value) -> str:
        """Where ``value`` of ``series`` comes from: the source and retrieval date of its import."""
        s = self.imports.get(value.import_id)
        if not s:
            return f"series {series.upper()} (SDG {SERIES[series][0]}), source not recorded"
        return f"{s['source']}, series {series.upper()} (SDG {SERIES[series][0]}), retrieved {s['retrieved']}"

    def dataset_line(self, import_id: int) -> str:
        """The dataset an import brought, with its retrieval date (the series are named elsewhere)."""
        s = self.imports.get(import_id)
        return f"{s['source']}, retrieved {s['retrieved']}" if s else "source not recorded"

    def datasets(self) -> list[str]:
        """Every dataset the stored values come from (one, unless a partial import updated some areas)."""
        ids = sorted({v.import_id for values in self._by_key.values() for _, v in values})
        return [self.dataset_line(i) for i in ids]

    def series_sources(self, series: str) -> list[str]:
        """The source lines of every stored value of ``series`` (one, unless a partial import updated some
        areas from another export)."""
        ids = sorted(
            {v.import_id for (s, _, _), values in self._by_key.items() if s == series for _, v in values}
        )
        return [self.source_line(series, Value(0.0, "", 0, "", i)) for i in ids]

    def history(self, series: str, area: int, location: str = "allarea") -> list[Value]:
        return [v for _, v in self._by_key.get((series, area, location), [])]

    def _area_latest(
        self, series: str, area: int, location: str = "allarea", upto: int | None = None
    ) -> Value | None:
        values = self._by_key.get((series, area, location))
        if not values:
            return None
        if upto is None:
            return values[-1][1]
        i = bisect_right([y for y, _ in values], upto)
        return values[i - 1][1] if i else None

    def latest(self, series: str, iso3: str, location: str = "allarea") -> Value | None:
        return self._area_latest(series, m49(iso3), location)

    def at(self, series: str, area: int, year: int, location: str = "allarea") -> Value | None:
        v = self._area_latest(series, area, location, upto=year)
        return v if v is not None and v.year == year else None

    def region_value(self, series: str, region: str, year: int) -> RegionValue | None:
        key = (series, region, year)
        if key not in self._region_cache:
            self._region_cache[key] = self._region_value(series, region, year)
        return self._region_cache[key]

    def _region_value(self, series: str, region: str, year: int) -> RegionValue | None:
        aggregate = SOURCE_AGGREGATES.get(region)
        if aggregate is not None:
            v = self.at(series, aggregate, year)
            if v is not None:
                return RegionValue(
                    region, region_label(region), v.value, year, f"source aggregate (M49 {aggregate})", 0
                )
        m49_of = _m49_of()
        values = [
            v.value
            for code, r in country_regions().items()
            if r == region and code in m49_of and (v := self.at(series, m49_of[code], year)) is not None
        ]
        if not values:
            return None
        return RegionValue(
            region,
            region_label(region),
            round(statistics.median(values), 2),
            year,
            f"median of {len(values)} countries with data (population-unweighted)",
            len(values),
        )

    def world_value(self, series: str, year: int) -> Value | None:
        return self.at(series, WORLD, year)


# ---------------------------------------------------------------- profiles


def _trend(series: str, latest: Value, previous: Value | None) -> dict[str, Any] | None:
    if previous is None:
        return None
    change = round(latest.value - previous.value, 2)
    lower_is_better = SERIES[series][2]
    if abs(change) < STEADY or latest.text[0] in "<>" or previous.text[0] in "<>":
        direction = "unchanged"
    else:
        direction = "improving" if (change < 0) == lower_is_better else "worsening"
    return {
        "change_points": change,
        "per_year": round(change / (latest.year - previous.year), 2),
        "since": previous.year,
        "direction": direction,
    }


def series_figure(data: CountryData, series: str, iso3: str) -> dict[str, Any]:
    """One series for one country: latest and previous value, trend, urban/rural split, region and world
    values for the same year, and the source; ``status: "no data"`` when the source has no value."""
    indicator, label, lower_is_better = SERIES[series]
    area = m49(iso3)
    out: dict[str, Any] = {
        "series": series,
        "indicator": indicator,
        "label": label,
        "unit": "%",
        "lower_is_better": lower_is_better,
        "source": None,
        "dataset": None,
    }
    latest = data._area_latest(series, area)
    if latest is None:
        return out | {
            "status": "no data",
            "latest": None,
            "previous": None,
            "trend": None,
            "urban": None,
            "rural": None,
            "region": None,
            "world": None,
        }
    previous = data._area_latest(series, area, upto=latest.year - 1)
    split = {}
    for location in ("urban", "rural"):
        v = data.at(series, area, latest.year, location) or data._area_latest(series, area, location)
        split[location] = v.to_dict() if v else None
    region = country_regions().get(iso3.upper())
    region_value = data.region_value(series, region, latest.year) if region else None
    world = data.world_value(series, latest.year)
    return out | {
        "status": "ok",
        "source": data.source_line(series, latest),
        "dataset": data.dataset_line(latest.import_id),
        "latest": latest.to_dict(),
        "previous": previous.to_dict() if previous else None,
        "trend": _trend(series, latest, previous),
        **split,
        "region": asdict(region_value) if region_value else None,
        "world": world.to_dict() if world else None,
    }


def latest_figures(data: CountryData, iso3: str) -> dict[str, dict[str, Any] | None]:
    """Series -> the latest value (with year) or None (no data), for tables."""
    out: dict[str, dict[str, Any] | None] = {}
    for series in SERIES:
        v = data.latest(series, iso3)
        out[series] = v.to_dict() if v else None
    return out


def country_evidence(engine: Any, iso3: str) -> dict[str, Any]:
    """What the collection holds for a country: its documents, and its passages by adequacy component."""
    table = engine.filter_table
    # Evidence is body text: a reference list that names the country is not evidence about it.
    rows = table.shown_by_default(table.country_rows.get(iso3, np.zeros(0, dtype=np.int64)))
    by_component = {
        c: int(((table.component_mask[rows] >> b) & 1).sum()) if len(rows) else 0
        for b, c in enumerate(COMPONENTS)
    }
    documents = sorted(
        (d for d in engine.documents.values() if iso3 in d.countries), key=lambda d: (-(d.year or 0), d.title)
    )
    doc_rows = table.shown_by_default(table.doc_country_rows.get(iso3, np.zeros(0, dtype=np.int64)))
    return {
        "documents": len(documents),
        "passages": len(rows),
        "passages_in_its_documents": len(doc_rows),
        "documents_list": [
            {
                "document_id": d.doc_id,
                "title": d.title,
                "document_type": d.document_type,
                "year": d.year,
                "language": d.language,
            }
            for d in documents
        ],
        "by_component": [
            {"component": c, "label": component_label(c), "passages": n} for c, n in by_component.items()
        ],
        "gaps": [c for c, n in by_component.items() if n == 0],
    }


def country_summary(engine: Any, iso3: str) -> dict[str, Any]:
    """One row of the country list: region, evidence counts and the latest value of each series."""
    data = engine.country_data
    table = engine.filter_table
    region = country_regions().get(iso3)
    docs = sum(1 for d in engine.documents.values() if iso3 in d.countries)
    rows = table.country_rows.get(iso3)
    return {
        "iso3": iso3,
        "name": country_name(iso3),
        "region": region,
        "region_label": region_label(region) if region else None,
        "documents": docs,
        "passages": len(rows) if rows is not None else 0,
        "latest": latest_figures(data, iso3),
    }


def all_countries(engine: Any) -> list[dict[str, Any]]:
    """Every country (ISO 3166), sorted by name."""
    return sorted(
        (country_summary(engine, c) for c in country_regions() if c in _m49_of()), key=lambda r: r["name"]
    )


def country_profile(
    engine: Any, iso3: str, *, chart_url: Callable[[str, str], str] | None = None
) -> dict[str, Any]:
    """The profile of ``iso3``: every series' figures, the collection's evidence and its gaps.

    ``chart_url(iso3, series)`` gives the address of each series' chart (a server has one)."""
    iso3 = iso3.strip().upper()
    m49(iso3)  # raises UnknownCountry
    data = engine.country_data
    evidence = country_evidence(engine, iso3)
    region = country_regions().get(iso3)
    figures = []
    for series in SERIES:
        fig = series_figure(data, series, iso3)
        if chart_url and fig["status"] == "ok":
            fig["chart"] = chart_url(iso3, series)
        figures.append(fig)
    if evidence["documents"] == 0 and evidence["passages"] == 0:
        note = f"The collection has no evidence for {country_name(iso3)} yet: no document or passage is about it."
    elif evidence["gaps"]:
        note = (
            "No passage about this country covers: "
            + ", ".join(component_label(c) for c in evidence["gaps"])
            + "."
        )
    else:
        note = "Every adequacy component has evidence for this country."
    return {
        "iso3": iso3,
        "m49": m49(iso3),
        "name": country_name(iso3),
        "region": region,
        "region_label": region_label(region) if region else None,
        "series": figures,
        "evidence": evidence,
        "evidence_note": note,
        "data_loaded": bool(data.series),
    }


def context_rows(data: CountryData, countries: Iterable[str]) -> list[dict[str, Any]]:
    """For briefs and examples: each country's latest value and year of every series, with its source."""
    return [
        {"iso3": c, "name": country_name(c), "figures": latest_figures(data, c)}
        for c in dict.fromkeys(countries)
        if c in _m49_of()
    ]


def context_sources(data: CountryData) -> list[str]:
    """The datasets behind a table of latest values (its columns name the series)."""
    return data.datasets()


# ---------------------------------------------------------------- charts


def chart_svg(data: CountryData, series: str, iso3: str) -> bytes:
    """A small line chart of the series for the country (total, urban, rural) with the world line."""
    import matplotlib

    matplotlib.use("Agg")  # no display; the Figure API (never pyplot) is safe in server threads
    from matplotlib.figure import Figure

    if series not in SERIES:
        raise ValueError(f"series: must be one of {', '.join(SERIES)} (got {series!r})")
    area = m49(iso3)
    indicator, label, _ = SERIES[series]
    fig = Figure(figsize=(4.2, 2.4), dpi=100)
    ax = fig.subplots()
    lines = [
        ("allarea", "total", "#0b5d6b", "-"),
        ("urban", "urban", "#c2571a", "-"),
        ("rural", "rural", "#5b8c2a", "-"),
    ]
    plotted = False
    for location, name, colour, style in lines:
        hist = data.history(series, area, location)
        if hist:
            ax.plot(
                [v.year for v in hist],
                [v.value for v in hist],
                style,
                color=colour,
                marker="o",
                markersize=2.5,
                linewidth=1.5,
                label=name,
            )
            plotted = True
    total = data.history(series, area)
    if total:  # the latest figure, with its year, as the card and the tables show it
        last = total[-1]
        ax.annotate(
            f"{last.text} % ({last.year})",
            (last.year, last.value),
            xytext=(-4, 6),
            textcoords="offset points",
            ha="right",
            fontsize=7,
            color="#0b5d6b",
        )
    world = data.history(series, WORLD)
    if world:
        ax.plot(
            [v.year for v in world],
            [v.value for v in world],
            "--",
            color="#777777",
            linewidth=1,
            label="world",
        )
    ax.set_ylim(0, 100)
    ax.set_ylabel("%", fontsize=8)
    ax.set_title(f"{country_name(iso3)}: {label} (SDG {indicator})", fontsize=8.5)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, linewidth=0.5)
    if plotted:
        ax.legend(fontsize=6.5, frameon=False, loc="best")
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#777777")
    fig.tight_layout()
    out = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text: small and searchable
        fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


class CollectionView:
    """What the profile functions read, straight from a store, for tools that need no search engine
    (``housing-kb country``): the documents, the filter table and the country data."""

    def __init__(self, store: Any) -> None:
        from housing_kb.index.query.filters import FilterTable

        self.documents = {d.doc_id: d for d in store.documents()}
        self.filter_table = FilterTable.from_store(store)
        self.country_data = CountryData.from_store(store)
