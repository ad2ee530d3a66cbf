"""Country and region tagging: a multilingual gazetteer built from pycountry plus prompts/geography/.

Word forms and match keys are in ``morphology``, where the names come from in ``names``, the gazetteer
and the tagging built on it in ``gazetteer``.

>>> gaz = Gazetteer.default()
>>> gaz.find("A Kenyan tenant and a marocain landlord").countries
['KEN', 'MAR']
>>> regions_for_countries(["KEN", "SAU"])
['africa', 'arab_states']
"""

from housing_kb.text.geography.gazetteer import (
    GLOBAL_REGION,
    MATCHING_VERSION,
    Gazetteer,
    GeoMatch,
    passage_geography,
    regions_for_countries,
    without_addresses,
)
from housing_kb.text.geography.names import (
    REGION_KEYS,
    GeographyError,
    country_regions,
    default_geo_dir,
    region_name_terms,
)

__all__ = [
    "GLOBAL_REGION",
    "MATCHING_VERSION",
    "REGION_KEYS",
    "Gazetteer",
    "GeoMatch",
    "GeographyError",
    "country_regions",
    "default_geo_dir",
    "passage_geography",
    "region_name_terms",
    "regions_for_countries",
    "without_addresses",
]
