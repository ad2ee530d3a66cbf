"""SDG housing-condition series: read and validate an export, and say what a newer one changes.

Two layouts are read, both from the UN Statistics Division's SDG Global Database:

- the DDF layout (Gapminder open-numbers), one ``ddf--datapoints--SERIES--by--...csv`` per series, with
  ``ddf--entities--geo_area.csv`` for area names: a folder, or one datapoints file;
- the SDG API's CSV export (``SeriesCode, GeoAreaCode, GeoAreaName, TimePeriod, Value`` and dimension
  columns such as ``Location``, ``Nature``, ``Units``, bracketed or not).

Only the seven housing series in :data:`SERIES` are kept; rows of other series are counted and reported.
A value is stored as published: ``">95"`` keeps its text and its bound (95) with the qualifier, and an
empty value is no data, never 0.

>>> data = read_indicators(bundled_dir())
>>> data.value("en_lnd_slum", 404, 2018)
46.5
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

#: The housing series: code -> (SDG indicator, short English label, lower_is_better).
SERIES: dict[str, tuple[str, str, bool]] = {
    "en_lnd_slum": ("11.1.1", "Urban population living in slums", True),
    "sp_acs_bsrvh2o": ("1.4.1", "Basic drinking water services", False),
    "sp_acs_bsrvsan": ("1.4.1", "Basic sanitation services", False),
    "sh_h2o_safe": ("6.1.1", "Safely managed drinking water", False),
    "sh_san_safe": ("6.2.1", "Safely managed sanitation", False),
    "eg_elc_accs": ("7.1.1", "Access to electricity", False),
    "eg_egy_clean": ("7.1.2", "Clean cooking fuels and technology", False),
}
LOCATIONS = ("allarea", "urban", "rural")
#: How a value was obtained (the SDG database's Nature codes).
NATURE = {
    "c": "country data",
    "ca": "country adjusted",
    "e": "estimated",
    "g": "global monitoring data",
    "m": "modelled",
    "n": "non-relevant",
    "notspec": "not specified",
}
BUNDLED_SOURCE = "UN Statistics Division, SDG Global Database, via Gapminder open-numbers (CC-BY-4.0)"
#: The bundled copy's dataset date (its README: generated 2020-10-19 from the SDG API).
BUNDLED_RETRIEVED = "2020-10-19"
API_SOURCE = "UN Statistics Division, SDG Global Database (SDG API CSV export)"
#: Problems listed in an error at most; the rest are counted.
MAX_PROBLEMS = 20

_DDF_FILE = re.compile(r"^ddf--datapoints--(?P<series>[a-z0-9_]+)--by--(?P<keys>[a-z0-9_-]+)\.csv$")
_NUMBER = re.compile(r"^(?P<qualifier>[<>]=?)?\s*(?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)$")


class IndicatorDataError(ValueError):
    """An export that cannot be loaded; the message names the file, line and field of every problem."""


@dataclass(frozen=True)
class Observation:
    series: str
    area: int  # UN M49 numeric code
    location: str  # allarea, urban or rural
    year: int
    value: float  # the number, or the bound of a "<5" / ">95" value
    text: str  # as published
    nature: str
    #: The import it came from, once stored (see IndexStore.import_indicators); 0 before.
    import_id: int = 0

    @property
    def qualifier(self) -> str:
        """``"<"`` or ``">"`` for a bounded value, else ``""``."""
        m = _NUMBER.match(self.text)
        return (m.group("qualifier") or "") if m else ""


@dataclass
class IndicatorData:
    """Observations of the housing series, with where they came from."""

    observations: list[Observation]
    #: M49 code -> English name, for every area the export names.
    areas: dict[int, str]
    source: str
    retrieved: str  # ISO date
    sha256: str
    #: Rows skipped, by reason ("series sh_sta_xyz is not a housing series": 12).
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def series(self) -> list[str]:
        present = {o.series for o in self.observations}
        return [s for s in SERIES if s in present]

    def value(self, series: str, area: int, year: int, location: str = "allarea") -> float | None:
        for o in self.observations:
            if (o.series, o.area, o.year, o.location) == (series, area, year, location):
                return o.value
        return None


def bundled_dir() -> Path:
    """The copy of the seven series shipped with housing-kb (``housing_kb/schema/sdg_indicators/``)."""
    return Path(str(resources.files("housing_kb.schema"))) / "sdg_indicators"


def read_indicators(path: Path, *, source: str | None = None, retrieved: str | None = None) -> IndicatorData:
    """Read a DDF folder or datapoints file, or an SDG API CSV export; every problem is raised at once."""
    path = Path(path)
    if not path.exists():
        raise IndicatorDataError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if _DDF_FILE.match(p.name))
        if not files:
            raise IndicatorDataError(
                f"{path}: no ddf--datapoints--SERIES--by--...csv file here (a DDF folder is expected)"
            )
        geo_file = path / "ddf--entities--geo_area.csv"
        data = _read_ddf(files, geo_file if geo_file.exists() else None)
        default_source = BUNDLED_SOURCE if path.resolve() == bundled_dir().resolve() else None
    elif _DDF_FILE.match(path.name):
        geo_file = path.parent / "ddf--entities--geo_area.csv"
        data = _read_ddf([path], geo_file if geo_file.exists() else None)
        default_source = None
    else:
        data = _read_api_csv(path)
        default_source = API_SOURCE
    data.source = source or default_source or f"UN SDG Global Database export ({path.name})"
    if retrieved:
        data.retrieved = _iso_date(retrieved)
    elif default_source == BUNDLED_SOURCE:
        data.retrieved = BUNDLED_RETRIEVED
    else:
        data.retrieved = dt.date.fromtimestamp(path.stat().st_mtime).isoformat()
    return data


def _iso_date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise IndicatorDataError(f"retrieved: {text!r} is not a date (YYYY-MM-DD)") from None


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.count = 0

    def add(self, where: str, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(f"{where}: {message}")

    def raise_if_any(self, what: str) -> None:
        if self.count:
            more = f"\n  … and {self.count - len(self.items)} more" if self.count > len(self.items) else ""
            raise IndicatorDataError(
                f"{what} was not loaded ({self.count} problem{'s' * (self.count > 1)}):\n  "
                + "\n  ".join(self.items)
                + more
            )


def _parse_value(raw: str) -> tuple[float, str] | None:
    text = raw.strip()
    if not text or text.lower() in ("nan", "na", "n/a", ".."):
        return None
    m = _NUMBER.match(text)
    if not m:
        raise ValueError(f"value {text!r} is not a number")
    return float(m.group("number")), text


def _parse_year(raw: str) -> int:
    text = raw.strip()
    try:
        year = int(float(text))
    except ValueError:
        raise ValueError(f"year {text!r} is not a year") from None
    if not 1950 <= year <= 2100 or float(text) != year:
        raise ValueError(f"year {text!r} is not a year between 1950 and 2100")
    return year


def _parse_area(raw: str) -> int:
    text = raw.strip()
    if not text.isdigit():
        raise ValueError(f"area code {text!r} is not an M49 number")
    return int(text)


def _location(raw: str) -> str:
    value = (raw or "allarea").strip().lower()
    if value in ("", "notspec", "_t", "total", "all area"):
        return "allarea"
    if value not in LOCATIONS:
        raise ValueError(f"location {raw!r} is not one of ALLAREA, URBAN, RURAL")
    return value


def _observations(
    rows: Iterable[tuple[int, dict[str, str]]],
    columns: dict[str, str | None],
    where: str,
    problems: _Problems,
    skipped: dict[str, int],
    series_of_file: str | None = None,
) -> list[Observation]:
    """Rows to observations; ``columns`` maps our field names to the file's column names."""
    out: list[Observation] = []
    for line, row in rows:
        series = series_of_file or (row.get(columns["series"] or "") or "").strip().lower()
        if series not in SERIES:
            reason = f"series {series or '(empty)'} is not a housing series"
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        field_name = "value"
        try:
            field_name = columns["value"] or "value"
            parsed = _parse_value(row.get(field_name) or "")
            if parsed is None:
                skipped["empty value (no data)"] = skipped.get("empty value (no data)", 0) + 1
                continue
            field_name = columns["area"] or "geo_area"
            area = _parse_area(row.get(field_name) or "")
            field_name = columns["year"] or "year"
            year = _parse_year(row.get(field_name) or "")
            field_name = columns["location"] or "location"
            location = _location(row.get(field_name, "") if columns["location"] else "")
            unit_column = columns["units"]
            unit = (row.get(unit_column) or "").strip().lower() if unit_column else "percent"
            if unit and unit not in ("percent", "%", "pt"):
                field_name = unit_column or "units"
                raise ValueError(f"units {unit!r}: these series are percentages")
        except ValueError as exc:
            problems.add(f"{where}, line {line}, field {field_name}", str(exc))
            continue
        nature_column = columns["nature"]
        nature = (row.get(nature_column) or "").strip().lower() if nature_column else ""
        out.append(Observation(series, area, location, year, parsed[0], parsed[1], nature or "notspec"))
    return out


def _check_duplicates(observations: list[Observation], where: str, problems: _Problems) -> None:
    seen: set[tuple[str, int, str, int]] = set()
    for o in observations:
        key = (o.series, o.area, o.location, o.year)
        if key in seen:
            problems.add(where, f"two values for {o.series}, area {o.area}, {o.location}, {o.year}")
        seen.add(key)


def _read_csv(path: Path, where: str, problems: _Problems) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = [(i + 2, row) for i, row in enumerate(reader)]
            return [c.strip() for c in reader.fieldnames or []], rows
    except (UnicodeDecodeError, csv.Error) as exc:
        problems.add(where, f"not a readable UTF-8 CSV ({exc})")
        return [], []


def _read_ddf(files: list[Path], geo_file: Path | None) -> IndicatorData:
    problems = _Problems()
    skipped: dict[str, int] = {}
    observations: list[Observation] = []
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
        series = _DDF_FILE.match(path.name).group("series")  # type: ignore[union-attr]
        header, rows = _read_csv(path, path.name, problems)
        if not header:
            continue
        keys = _DDF_FILE.match(path.name).group("keys").split("--")  # type: ignore[union-attr]
        missing = [c for c in ("geo_area", "year", series) if c not in header]
        if missing:
            problems.add(path.name, f"missing column(s) {', '.join(missing)}")
            continue
        columns = {
            "series": None,
            "area": "geo_area",
            "year": "year",
            "value": series,
            "location": "location" if "location" in keys else None,
            "nature": "nature" if "nature" in header else None,
            "units": "units" if "units" in header else None,
        }
        found = _observations(rows, columns, path.name, problems, skipped, series_of_file=series)
        _check_duplicates(found, path.name, problems)
        observations += found
    areas: dict[int, str] = {}
    if geo_file is not None:
        header, rows = _read_csv(geo_file, geo_file.name, problems)
        if header and not {"geo_area", "name"} <= set(header):
            problems.add(geo_file.name, "missing column(s) geo_area, name")
        for line, row in rows if header else []:
            try:
                areas[_parse_area(row.get("geo_area") or "")] = (row.get("name") or "").strip()
            except ValueError as exc:
                problems.add(f"{geo_file.name}, line {line}, field geo_area", str(exc))
    problems.raise_if_any(f"{files[0].parent}")
    return IndicatorData(observations, areas, "", "", digest.hexdigest(), skipped)


#: SDG API CSV columns, by our field name (matched case-insensitively, brackets ignored).
_API_COLUMNS = {
    "series": "seriescode",
    "area": "geoareacode",
    "name": "geoareaname",
    "year": "timeperiod",
    "value": "value",
    "location": "location",
    "nature": "nature",
    "units": "units",
}


def _read_api_csv(path: Path) -> IndicatorData:
    problems = _Problems()
    header, rows = _read_csv(path, path.name, problems)
    problems.raise_if_any(str(path))
    by_key = {c.strip("[] ").lower(): c for c in header}
    columns = {ours: by_key.get(theirs) for ours, theirs in _API_COLUMNS.items()}
    missing = [_API_COLUMNS[k] for k in ("series", "area", "year", "value") if columns[k] is None]
    if missing:
        raise IndicatorDataError(
            f"{path}: not a DDF datapoints file nor an SDG API CSV export: missing column(s) "
            + ", ".join(
                {
                    "seriescode": "SeriesCode",
                    "geoareacode": "GeoAreaCode",
                    "timeperiod": "TimePeriod",
                    "value": "Value",
                }[m]
                for m in missing
            )
        )
    skipped: dict[str, int] = {}
    observations = _observations(rows, columns, path.name, problems, skipped)
    _check_duplicates(observations, path.name, problems)
    problems.raise_if_any(str(path))
    areas: dict[int, str] = {}
    name_column = columns["name"]
    for _, row in rows:
        code = (row.get(columns["area"] or "") or "").strip()
        if code.isdigit() and name_column:
            areas.setdefault(int(code), (row.get(name_column) or "").strip())
    return IndicatorData(observations, areas, "", "", hashlib.sha256(path.read_bytes()).hexdigest(), skipped)


# ---------------------------------------------------------------- what an import changes


@dataclass
class SeriesChange:
    series: str
    areas: int  # areas the export holds
    areas_new: int  # of which not stored before
    values_added: int
    values_changed: int
    values_removed: int  # stored values of the export's areas that the export no longer has
    areas_kept: int  # stored areas the export does not cover: they keep their values
    latest_year_before: int | None
    latest_year_after: int | None

    def line(self) -> str:
        indicator, label, _ = SERIES[self.series]
        latest = (
            f"latest year {self.latest_year_before} -> {self.latest_year_after}"
            if self.latest_year_before != self.latest_year_after
            else f"latest year {self.latest_year_after}"
        )
        kept = f"; {self.areas_kept} areas not in this export keep their values" if self.areas_kept else ""
        return (
            f"{indicator} {label} ({self.series}): {self.areas} areas ({self.areas_new} new), "
            f"{self.values_added} values added, {self.values_changed} changed, {self.values_removed} removed"
            f"{kept}; {latest}"
        )


def changes(before: list[Observation], after: IndicatorData) -> list[SeriesChange]:
    """Per series in ``after``: what importing it changes. An import replaces the values of the areas it
    holds; areas it does not cover keep theirs (an export filtered to one country updates that country)."""
    out = []
    for series in after.series:
        old = {(o.area, o.location, o.year): o.text for o in before if o.series == series}
        new = {(o.area, o.location, o.year): o.text for o in after.observations if o.series == series}
        old_areas, new_areas = {k[0] for k in old}, {k[0] for k in new}
        covered = {k: v for k, v in old.items() if k[0] in new_areas}
        merged_years = [k[2] for k in old if k[0] not in new_areas] + [k[2] for k in new]
        out.append(
            SeriesChange(
                series=series,
                areas=len(new_areas),
                areas_new=len(new_areas - old_areas),
                values_added=sum(1 for k in new if k not in covered),
                values_changed=sum(1 for k, v in new.items() if k in covered and covered[k] != v),
                values_removed=sum(1 for k in covered if k not in new),
                areas_kept=len(old_areas - new_areas),
                latest_year_before=max((k[2] for k in old), default=None),
                latest_year_after=max(merged_years, default=None),
            )
        )
    return out
