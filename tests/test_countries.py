"""Country housing profiles: the bundled SDG series read as published (values checked against the CSVs),
an SDG API export imported with its changes reported, the series stored in the index, and the profiles
served by a real server (/v1/countries), the CLI, briefs and comparable examples."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import SMALL_INDEX_DOCUMENTS, index_env, serve_in_thread

from housing_kb.index.answers.countries import CountryData, UnknownCountry, m49, series_figure
from housing_kb.index.store.index_store import IndexConfig, IndexStore
from housing_kb.schema.indicators import (
    BUNDLED_SOURCE,
    SERIES,
    IndicatorDataError,
    bundled_dir,
    changes,
    read_indicators,
)

SLUMS = "en_lnd_slum"
API_HEADER = ["Goal", "Target", "Indicator", "SeriesCode", "GeoAreaCode", "GeoAreaName", "TimePeriod", "Value",
              "[Location]", "[Nature]", "[Units]"]  # fmt: skip


@pytest.fixture(scope="module")
def bundled():
    return read_indicators(bundled_dir())


def csv_value(series: str, area: int, year: int) -> str:
    """The value as the bundled CSV itself has it (read without our reader)."""
    path = next(bundled_dir().glob(f"ddf--datapoints--{series}--by--*.csv"))
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if (
                row["geo_area"] == str(area)
                and row["year"] == str(year)
                and row.get("location", "allarea") in ("", "allarea")
            ):
                return row[series]
    raise AssertionError(f"{series} has no value for {area} in {year}")


def write_api_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(API_HEADER)
        writer.writerows(rows)
    return path


def api_row(series: str, area: int, name: str, year: int, value: str, location: str = "ALLAREA") -> list[str]:
    return [
        "11",
        "11.1",
        "11.1.1",
        series.upper(),
        str(area),
        name,
        str(year),
        value,
        location,
        "E",
        "PERCENT",
    ]


# ---------------------------------------------------------------- reading the series (no model)


def test_bundled_values_match_the_csvs(bundled):
    assert bundled.source == BUNDLED_SOURCE and bundled.retrieved == "2020-10-19"
    assert set(bundled.series) == set(SERIES)
    data = CountryData.from_observations(bundled.observations, {})
    kenya = data.latest(SLUMS, "KEN")
    assert m49("KEN") == 404 and (kenya.value, kenya.year) == (46.5, 2018)
    assert csv_value(SLUMS, 404, 2018) == "46.5"
    bangladesh = data.latest(SLUMS, "BGD")
    assert m49("BGD") == 50 and (bangladesh.value, bangladesh.year) == (47.2, 2018)
    assert csv_value(SLUMS, 50, 2018) == "47.2"
    # urban and rural splits come from the series that have them, for the same year
    water = series_figure(data, "sp_acs_bsrvh2o", "KEN")
    assert (
        water["urban"]["year"] == water["latest"]["year"]
        and water["urban"]["value"] > water["rural"]["value"]
    )


def test_a_country_without_a_value_says_no_data(bundled):
    data = CountryData.from_observations(bundled.observations, {})
    france = series_figure(data, SLUMS, "FRA")
    assert france["status"] == "no data" and france["latest"] is None
    assert all(o.area != m49("FRA") for o in bundled.observations if o.series == SLUMS)
    assert series_figure(data, "eg_elc_accs", "FRA")["status"] == "ok"
    with pytest.raises(UnknownCountry, match="XXX"):
        m49("XXX")


def test_bounded_values_keep_their_text(bundled):
    bounded = [o for o in bundled.observations if o.text.startswith(">")]
    assert bounded, "the bundled series publish '>95' values"
    o = bounded[0]
    assert o.qualifier == ">" and o.value == float(o.text[1:])
    data = CountryData.from_observations(bundled.observations, {})
    stored = next(v for v in data.history(o.series, o.area) if v.year == o.year)
    assert stored.text == o.text and stored.to_dict()["text"].startswith(">")


def test_region_values_are_source_aggregates_or_labelled_medians(bundled):
    data = CountryData.from_observations(bundled.observations, {})
    kenya = series_figure(data, SLUMS, "KEN")
    region = kenya["region"]
    assert region["region"] == "africa" and region["year"] == 2018
    assert region["method"].startswith("median of") and "population-unweighted" in region["method"]
    assert region["countries"] >= 10
    bolivia = series_figure(data, SLUMS, "BOL")
    assert bolivia["region"]["method"].startswith("source aggregate (M49 419)")
    assert kenya["world"]["year"] == 2018 and kenya["world"]["value"] == float(csv_value(SLUMS, 1, 2018))


def test_sdg_api_export_is_read_and_its_changes_reported(bundled, tmp_path):
    export = write_api_csv(
        tmp_path / "sdg.csv",
        [
            api_row(SLUMS, 404, "Kenya", 2018, "46.5"),
            api_row(SLUMS, 404, "Kenya", 2020, "44.1"),  # a newer year
            api_row(SLUMS, 50, "Bangladesh", 2018, "47.0"),  # a revised value
            api_row("SH_STA_BRTC", 404, "Kenya", 2018, "70"),  # not a housing series: skipped
            api_row(SLUMS, 894, "Zambia", 2018, ""),  # empty: no data, never 0
        ],
    )
    data = read_indicators(export, retrieved="2026-11-30")
    assert data.retrieved == "2026-11-30" and data.source.startswith("UN Statistics Division")
    assert data.value(SLUMS, 404, 2020) == 44.1 and data.value(SLUMS, 894, 2018) is None
    assert data.areas[404] == "Kenya"
    assert sum(data.skipped.values()) == 2
    (change,) = changes(bundled.observations, data)
    assert change.series == SLUMS and (change.areas, change.areas_new) == (2, 0)
    assert (change.values_added, change.values_changed) == (1, 1)
    assert (
        change.values_removed
        == len([o for o in bundled.observations if o.series == SLUMS and o.area in (404, 50)]) - 2
    )
    assert change.areas_kept > 100
    assert (change.latest_year_before, change.latest_year_after) == (2018, 2020)
    line = change.line()
    assert (
        "1 changed" in line
        and "areas not in this export keep their values" in line
        and "2018 -> 2020" in line
    )


def test_a_bad_export_names_every_problem(tmp_path):
    export = write_api_csv(
        tmp_path / "bad.csv",
        [
            api_row(SLUMS, 404, "Kenya", 2018, "about 46"),
            api_row(SLUMS, 404, "Kenya", 1850, "46.5"),
            api_row(SLUMS, 404, "Kenya", 2019, "46.5", location="PERI-URBAN"),
            api_row(SLUMS, 50, "Bangladesh", 2018, "47.2"),
            api_row(SLUMS, 50, "Bangladesh", 2018, "47.3"),
        ],
    )
    with pytest.raises(IndicatorDataError) as err:
        read_indicators(export)
    message = str(err.value)
    assert "bad.csv, line 2, field Value: value 'about 46' is not a number" in message
    assert "line 3, field TimePeriod" in message and "line 4, field [Location]" in message
    assert "two values for en_lnd_slum, area 50" in message and "(4 problems)" in message
    columns = tmp_path / "columns.csv"
    columns.write_text("Series,Area,Year\nEN_LND_SLUM,404,2018\n", encoding="utf-8")
    with pytest.raises(
        IndicatorDataError, match="missing column.*SeriesCode.*GeoAreaCode.*TimePeriod.*Value"
    ):
        read_indicators(columns)
    with pytest.raises(IndicatorDataError, match="no such file"):
        read_indicators(tmp_path / "absent.csv")
    good = write_api_csv(tmp_path / "good.csv", [api_row(SLUMS, 404, "Kenya", 2018, "46.5")])
    with pytest.raises(IndicatorDataError, match="retrieved: 'last week' is not a date"):
        read_indicators(good, retrieved="last week")


def test_an_import_updates_the_areas_it_holds_and_each_figure_names_its_source(bundled, tmp_path):
    store = IndexStore.open(tmp_path / "index", IndexConfig(model_id="test-model", dim=4, chunker={}))
    store.import_indicators(bundled)
    assert len(store.indicator_observations()) == len(bundled.observations)
    (first,) = store.indicator_imports().values()
    assert first["source"] == BUNDLED_SOURCE and first["retrieved"] == "2020-10-19"
    # an export filtered to one country, as the SDG API hands out: Kenya changes, the rest stays
    export = write_api_csv(tmp_path / "sdg.csv", [api_row(SLUMS, 404, "Kenya", 2020, "44.1")])
    store.import_indicators(read_indicators(export, retrieved="2026-11-30"))
    data = CountryData.from_store(store)
    assert [v.year for v in data.history(SLUMS, 404)] == [2020]  # Kenya's series is the export's
    assert data.latest(SLUMS, "BGD").value == 47.2 and data.latest("eg_elc_accs", "KEN") is not None
    kenya, bangladesh = series_figure(data, SLUMS, "KEN"), series_figure(data, SLUMS, "BGD")
    assert "retrieved 2026-11-30" in kenya["source"] and kenya["source"].startswith("UN Statistics Division")
    assert "retrieved 2020-10-19" in bangladesh["source"]
    assert len(data.series_sources(SLUMS)) == 2 and len(data.series_sources("eg_elc_accs")) == 1
    store.close()


# ---------------------------------------------------------------- profiles over a real index and server

model = pytest.mark.model


@pytest.fixture(scope="module")
def kb_settings(small_index):
    # e5 alone, as these tests were written: with USE the relevance model finds "slum upgrading" no match
    return small_index.with_(second_embedder="none")


@pytest.fixture(scope="module")
def engine(kb_settings, e5_embedder):
    from housing_kb.index.query.engine import SearchEngine

    return SearchEngine.open(kb_settings, embedder=e5_embedder)


@pytest.fixture(scope="module")
def server(kb_settings, engine):
    from housing_kb.api.app import create_app

    with (
        serve_in_thread(create_app(kb_settings, engine=engine)) as url,
        httpx.Client(base_url=url, timeout=120) as c,
    ):
        yield c


@model
def test_ingest_stores_the_bundled_series(kb_settings):
    store = IndexStore.open(kb_settings.index_dir, readonly=True)
    assert [i["source"] for i in store.indicator_imports().values()] == [BUNDLED_SOURCE]
    assert len(store.indicator_observations()) == len(read_indicators(bundled_dir()).observations)


@model
def test_kenya_profile_over_http(server):
    r = server.get("/v1/countries/ken")
    assert r.status_code == 200
    p = r.json()
    assert (p["iso3"], p["m49"], p["region"]) == ("KEN", 404, "africa")
    slums = next(s for s in p["series"] if s["series"] == SLUMS)
    assert slums["latest"]["value"] == 46.5 and slums["latest"]["year"] == 2018
    assert slums["previous"]["year"] < 2018 and slums["trend"]["since"] == slums["previous"]["year"]
    assert slums["region"]["year"] == 2018 and slums["world"]["year"] == 2018
    assert "SDG Global Database" in slums["source"] and "retrieved 2020-10-19" in slums["source"]
    for s in p["series"]:  # every figure shown carries its year and its source
        if s["status"] == "ok":
            assert s["latest"]["year"] and s["source"]
    assert p["evidence"]["documents"] == 1 and p["evidence"]["passages"] > 0
    by_component = {c["component"]: c["passages"] for c in p["evidence"]["by_component"]}
    assert set(p["evidence"]["gaps"]) == {c for c, n in by_component.items() if n == 0}
    chart = server.get(slums["chart"])
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
    assert chart.content.lstrip().startswith(b"<?xml") and b"<svg" in chart.content
    assert b"46.5 % (2018)" in chart.content and b"Kenya" in chart.content  # text stays text


@model
def test_a_country_without_documents_still_shows_its_data(server):
    p = server.get("/v1/countries/BGD").json()
    slums = next(s for s in p["series"] if s["series"] == SLUMS)
    assert (slums["latest"]["value"], slums["latest"]["year"]) == (47.2, 2018)
    assert p["evidence"]["documents"] == 0 and p["evidence"]["passages"] == 0
    assert "no evidence for Bangladesh" in p["evidence_note"]
    france = next(s for s in server.get("/v1/countries/FRA").json()["series"] if s["series"] == SLUMS)
    assert france["status"] == "no data" and france["latest"] is None and france["chart"] is None
    missing = server.get("/v1/countries/XXX")
    assert missing.status_code == 404 and "XXX" in missing.json()["message"]
    assert server.get("/v1/countries/FRA/charts/en_lnd_slum.svg").status_code == 200
    assert server.get("/v1/countries/KEN/charts/nonsense.svg").status_code == 422


@model
def test_country_list_with_evidence_counts(server):
    data = server.get("/v1/countries").json()
    rows = {c["iso3"]: c for c in data["countries"]}
    assert len(rows) > 190 and data["total"] == len(rows)
    assert rows["KEN"]["latest"][SLUMS]["value"] == 46.5 and rows["KEN"]["documents"] == 1
    assert rows["FRA"]["latest"][SLUMS] is None  # no data, never 0
    assert {s["series"] for s in data["series"]} == set(SERIES)
    held = server.get("/v1/countries", params={"with_evidence": True}).json()["countries"]
    indexed = {c for _, fields in SMALL_INDEX_DOCUMENTS.values() for c in fields.get("countries", [])}
    assert {c["iso3"] for c in held} == indexed  # KEN, UGA, FJI, BOL, FRA, SAU, ESP, CHN
    africa = server.get("/v1/countries", params={"region": "africa"}).json()["countries"]
    assert "KEN" in {c["iso3"] for c in africa} and "FRA" not in {c["iso3"] for c in africa}
    bad = server.get("/v1/countries", params={"region": "atlantis"})
    assert bad.status_code == 422 and "region" in bad.json()["message"]


@model
def test_examples_carry_each_countrys_figures(server):
    data = server.get("/v1/examples", params={"q": "slum upgrading", "k": 6}).json()
    assert data["examples"] and data["figure_sources"]
    for example in data["examples"]:
        figures = example["figures"]
        assert set(figures) == set(SERIES)
        for value in figures.values():
            assert value is None or value["year"]
    kenya = [e for e in data["examples"] if e["country"] == "KEN"]
    if kenya:
        assert kenya[0]["figures"][SLUMS]["value"] == 46.5


@model
def test_cli_country_json_and_data_import(kb_settings, tmp_path):
    env = index_env(kb_settings)
    cli = [str(Path(sys.executable).with_name("housing-kb"))]
    shown = subprocess.run([*cli, "country", "KEN", "--json"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr
    slums = next(s for s in json.loads(shown.stdout)["series"] if s["series"] == SLUMS)
    assert (slums["latest"]["value"], slums["latest"]["year"]) == (46.5, 2018)
    text = subprocess.run([*cli, "country", "BGD"], capture_output=True, text=True, env=env)
    assert text.returncode == 0 and "47.2 % (2018)" in text.stdout and "no evidence" in text.stdout
    export = write_api_csv(tmp_path / "sdg.csv", [api_row(SLUMS, 404, "Kenya", 2020, "44.1")])
    dry = subprocess.run(
        [*cli, "data", "import", str(export), "--dry-run"], capture_output=True, text=True, env=env
    )
    assert dry.returncode == 0, dry.stderr
    assert "11.1.1" in dry.stdout and "2018 -> 2020" in dry.stdout and "nothing stored" in dry.stdout
    unchanged = IndexStore.open(kb_settings.index_dir, readonly=True)
    assert CountryData.from_store(unchanged).latest(SLUMS, "KEN").year == 2018
    bad = write_api_csv(tmp_path / "bad.csv", [api_row(SLUMS, 404, "Kenya", 2020, "lots")])
    failed = subprocess.run([*cli, "data", "import", str(bad)], capture_output=True, text=True, env=env)
    assert failed.returncode != 0 and "line 2, field Value" in failed.stderr + failed.stdout
    assert "Traceback" not in failed.stderr
