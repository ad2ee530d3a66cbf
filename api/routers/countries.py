"""``/v1/countries``: country housing profiles (SDG housing series next to the collection's evidence)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response

from housing_kb.api.deps import get_engine
from housing_kb.api.schemas import ErrorOut, enum_items
from housing_kb.api.schemas_countries import CountriesResponse, CountryProfileOut, SeriesKey
from housing_kb.index.answers.countries import UnknownCountry, all_countries, chart_svg, country_profile
from housing_kb.index.query.engine import SearchEngine
from housing_kb.index.query.filters import REGIONS
from housing_kb.schema.indicators import SERIES

router = APIRouter(tags=["countries"])
_422 = {422: {"model": ErrorOut, "description": "Invalid parameter (the message names it)."}}
_404 = _422 | {404: {"model": ErrorOut, "description": "Not an ISO 3166 alpha-3 country code."}}
Iso3 = Annotated[str, Path(min_length=3, max_length=3, description="ISO 3166 alpha-3 code, e.g. KEN.")]


def series_list(engine: SearchEngine) -> list[dict]:
    data = engine.country_data
    return [
        {
            "series": s,
            "indicator": ind,
            "label": label,
            "lower_is_better": low,
            "source": "; ".join(data.series_sources(s)),
        }
        for s, (ind, label, low) in SERIES.items()
    ]


@router.get(
    "/countries", response_model=CountriesResponse, responses=_422, summary="Every country: data and evidence"
)
def list_countries(
    engine: Annotated[SearchEngine, Depends(get_engine)],
    region: Annotated[
        list[str],
        Query(
            description="Only countries of these UN-Habitat regions.", json_schema_extra=enum_items(REGIONS)
        ),
    ] = [],  # noqa: B006
    with_evidence: Annotated[
        bool, Query(description="Only countries the collection has passages about.")
    ] = False,
) -> CountriesResponse:
    """Each country with its UN-Habitat region, the documents and passages the collection holds about it,
    and the latest value (with its year) of each SDG housing series."""
    for r in region:
        if r not in REGIONS:
            raise HTTPException(422, detail=f"region: {r!r} is not one of {', '.join(REGIONS)}")
    rows = [
        c
        for c in all_countries(engine)
        if (not region or c["region"] in region) and (not with_evidence or c["passages"] or c["documents"])
    ]
    return CountriesResponse(total=len(rows), series=series_list(engine), countries=rows)


@router.get(
    "/countries/{iso3}", response_model=CountryProfileOut, responses=_404, summary="A country housing profile"
)
def get_country(
    iso3: Iso3, request: Request, engine: Annotated[SearchEngine, Depends(get_engine)]
) -> CountryProfileOut:
    """Per series: latest value and year, the previous value and trend, the urban/rural split, the region and
    world values for the same year, the source and a chart. Then the country's documents, its passages by
    adequacy component, and the components with no evidence (its evidence gap)."""

    def chart_url(code: str, series: str) -> str:
        return str(request.url_for("country_chart", iso3=code, series=series))

    try:
        profile = country_profile(engine, iso3, chart_url=chart_url)
    except UnknownCountry as exc:
        raise HTTPException(404, detail=str(exc)) from None
    return CountryProfileOut(**profile)


@router.get(
    "/countries/{iso3}/charts/{series}.svg",
    name="country_chart",
    responses=_404 | {200: {"content": {"image/svg+xml": {}}, "description": "An SVG line chart."}},
    response_class=Response,
    summary="A chart of one series for one country",
)
def country_chart(
    iso3: Iso3,
    series: Annotated[SeriesKey, Path(description="Series code of the SDG Global Database (lower case).")],
    engine: Annotated[SearchEngine, Depends(get_engine)],
) -> Response:
    """The series over the years for the country (total, urban, rural) with the world line, as SVG."""
    try:
        svg = chart_svg(engine.country_data, series, iso3.upper())
    except UnknownCountry as exc:
        raise HTTPException(404, detail=str(exc)) from None
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"})
