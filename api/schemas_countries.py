"""Response models of ``/v1/countries`` and ``/v1/countries/{iso3}``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SeriesKey = Literal[
    "en_lnd_slum",
    "sp_acs_bsrvh2o",
    "sp_acs_bsrvsan",
    "sh_h2o_safe",
    "sh_san_safe",
    "eg_elc_accs",
    "eg_egy_clean",
]


class ValueOut(BaseModel):
    value: float = Field(description="The figure in percent (for a bounded value such as '>95', the bound).")
    text: str = Field(description="The figure as published, e.g. '46.5', '58.91633' or '>95'.")
    shown: str = Field(description="The figure for display, at most one decimal, e.g. '58.9' or '>95'.")
    year: int = Field(description="Year the figure refers to.")
    how: str = Field(description="How the source obtained it: estimated, modelled, country data, …")


class TrendOut(BaseModel):
    change_points: float = Field(description="Latest minus previous value, in percentage points.")
    per_year: float = Field(description="The change divided by the years between the two values.")
    since: int = Field(description="Year of the previous value.")
    direction: Literal["improving", "worsening", "unchanged"] = Field(
        description="Whether conditions improved (fewer slum dwellers, more access); under 0.5 points or a "
        "bounded value is 'unchanged'."
    )


class RegionValueOut(BaseModel):
    region: str = Field(description="UN-Habitat region key.")
    label: str = Field(description="Region name.")
    value: float = Field(description="The region's figure for the same year, in percent.")
    year: int = Field(description="Year of the figure (the country's latest year).")
    method: str = Field(
        description="'source aggregate (M49 …)' where the source publishes this region, otherwise "
        "'median of N countries with data (population-unweighted)'."
    )
    countries: int = Field(description="Countries in the median (0 for a source aggregate).")


class SeriesFigureOut(BaseModel):
    series: SeriesKey = Field(description="Series code of the SDG Global Database (lower case).")
    indicator: str = Field(description="SDG indicator number, e.g. 11.1.1.")
    label: str = Field(description="What the series measures.")
    unit: str = Field(description="Always '%'.")
    lower_is_better: bool = Field(description="True for the slum share, false for access to services.")
    status: Literal["ok", "no data"] = Field(
        description="'no data' when the source has no value for the country."
    )
    latest: ValueOut | None = Field(description="The most recent value; null is no data (never 0).")
    previous: ValueOut | None = Field(description="The value before it.")
    trend: TrendOut | None = Field(description="Change from the previous to the latest value.")
    urban: ValueOut | None = Field(description="Urban value of the latest year (or the latest urban value).")
    rural: ValueOut | None = Field(description="Rural value of the latest year (or the latest rural value).")
    region: RegionValueOut | None = Field(description="The country's UN-Habitat region in the same year.")
    world: ValueOut | None = Field(description="The world aggregate (M49 1) in the same year.")
    source: str | None = Field(
        description="Source line of the latest value: publisher, series, indicator and retrieval date; null with no data."
    )
    dataset: str | None = Field(
        description="The dataset of the latest value with its retrieval date (the source line without the series)."
    )
    chart: str | None = Field(None, description="URL of an SVG chart of the series for the country.")


class ComponentCountOut(BaseModel):
    component: str = Field(description="Adequacy component key.")
    label: str = Field(description="Component name.")
    passages: int = Field(description="Passages about the country tagged with the component.")


class CountryDocumentOut(BaseModel):
    document_id: str = Field(description="Document id.")
    title: str = Field(description="Document title.")
    document_type: str = Field(description="Document type key.")
    year: int | None = Field(description="Publication year.")
    language: str | None = Field(description="Main language (ISO 639-1).")


class CountryEvidenceOut(BaseModel):
    documents: int = Field(description="Documents whose metadata names the country.")
    passages: int = Field(description="Passages tagged with the country (in any document).")
    passages_in_its_documents: int = Field(description="Passages of the documents about the country.")
    documents_list: list[CountryDocumentOut] = Field(
        description="The documents about the country, newest first."
    )
    by_component: list[ComponentCountOut] = Field(
        description="Passages about the country per adequacy component."
    )
    gaps: list[str] = Field(description="Components with no passage about the country: its evidence gap.")


class CountryProfileOut(BaseModel):
    iso3: str = Field(description="ISO 3166 alpha-3 code.")
    m49: int = Field(description="UN M49 numeric code.")
    name: str = Field(description="Country name (English).")
    region: str | None = Field(description="UN-Habitat region key.")
    region_label: str | None = Field(description="Region name.")
    series: list[SeriesFigureOut] = Field(description="Every housing series, in a fixed order.")
    evidence: CountryEvidenceOut = Field(description="What the collection holds about the country.")
    evidence_note: str = Field(description="One line on the evidence: none at all, the gaps, or complete.")
    data_loaded: bool = Field(description="False when the index holds no SDG series (run housing-kb ingest).")


class CountrySummaryOut(BaseModel):
    iso3: str = Field(description="ISO 3166 alpha-3 code.")
    name: str = Field(description="Country name (English).")
    region: str | None = Field(description="UN-Habitat region key.")
    region_label: str | None = Field(description="Region name.")
    documents: int = Field(description="Documents about the country in the collection.")
    passages: int = Field(description="Passages tagged with the country.")
    latest: dict[str, ValueOut | None] = Field(
        description="Series code -> its latest value with year; null is no data."
    )


class SeriesInfoOut(BaseModel):
    series: str = Field(description="Series code.")
    indicator: str = Field(description="SDG indicator number.")
    label: str = Field(description="What the series measures.")
    lower_is_better: bool = Field(description="True for the slum share.")
    source: str = Field(description="Source line with the retrieval date.")


class CountriesResponse(BaseModel):
    total: int = Field(description="Number of countries.")
    series: list[SeriesInfoOut] = Field(description="The series in the table, with their sources.")
    countries: list[CountrySummaryOut] = Field(description="Every country, sorted by name.")
