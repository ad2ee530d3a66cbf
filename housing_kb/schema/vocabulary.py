"""The controlled vocabularies, one copy for every layer: document types, UN-Habitat regions,
adequacy components, supply-chain stages and passage kinds, and the country and language codes.

Their display names in seven languages are in prompts/labels.yaml (:mod:`housing_kb.schema.labels`).

>>> Region("asia_pacific") in REGIONS, "case_study" in DOCUMENT_TYPES
(True, True)
"""

from __future__ import annotations

from enum import StrEnum

import pycountry


class DocumentType(StrEnum):
    """What kind of document an entry is; drives the ``document_type`` facet."""

    UN_HABITAT_REPORT = "un_habitat_report"
    NATIONAL_STRATEGY = "national_strategy"
    LAW = "law"
    CASE_STUDY = "case_study"
    RIGHTS_TEXT = "rights_text"
    STATISTICS_METADATA = "statistics_metadata"
    PARLIAMENTARY_RECORD = "parliamentary_record"
    RESEARCH = "research"
    PROGRAMME_GUIDELINE = "programme_guideline"
    OTHER = "other"


class Region(StrEnum):
    """UN regional groups, plus ``global`` for documents about no region in particular.

    The USA, Canada, Australia and New Zealand belong to ``western_europe_others``.
    """

    AFRICA = "africa"
    ARAB_STATES = "arab_states"
    ASIA_PACIFIC = "asia_pacific"
    EASTERN_EUROPE_CENTRAL_ASIA = "eastern_europe_central_asia"
    LATIN_AMERICA_CARIBBEAN = "latin_america_caribbean"
    WESTERN_EUROPE_OTHERS = "western_europe_others"
    GLOBAL = "global"


#: The controlled vocabularies as plain strings, for API schemas, CLI help and taggers.
DOCUMENT_TYPES: tuple[str, ...] = tuple(t.value for t in DocumentType)
REGIONS: tuple[str, ...] = tuple(r.value for r in Region)

#: ISO 3166 alpha-3 has no code for Kosovo; "XKX" is the user-assigned code in common use (EU, IMF).
EXTRA_COUNTRY_CODES: frozenset[str] = frozenset({"XKX"})


#: The eight component keys, in the order of the tagging issue.
COMPONENT_KEYS: tuple[str, ...] = (
    "security_of_tenure",
    "availability_of_services",
    "affordability",
    "habitability",
    "accessibility",
    "location",
    "cultural_adequacy",
    "sustainability",
)
#: The housing supply-chain stages (HSP/OEWG-H.2024/8, para. 129), defined in prompts/supply_chain/.
STAGE_KEYS: tuple[str, ...] = (
    "land_management",
    "housing_finance",
    "construction_technology",
    "development_mechanisms",
    "community_management",
    "inclusive_housing",
)

BODY = "body"
#: Every kind, body first; the order of the rest is the order detectors are tried in.
KINDS = (
    BODY,
    "table_of_contents",
    "reference_list",
    "boilerplate",
    "participant_list",
    "front_matter",
    "table",
)
#: What searches, answers, briefs and the gap map show unless a ``kind`` filter says otherwise.
DEFAULT_KINDS = (BODY,)


def is_country_code(code: str) -> bool:
    """True for an ISO 3166-1 alpha-3 code (or Kosovo's "XKX").

    >>> is_country_code("BRA"), is_country_code("BRZ")
    (True, False)
    """
    # pycountry matches case-insensitively; the manifest keeps the canonical upper case.
    if code in EXTRA_COUNTRY_CODES:
        return True
    return len(code) == 3 and code.isupper() and pycountry.countries.get(alpha_3=code) is not None


def is_language_code(code: str) -> bool:
    """True for a two-letter ISO 639-1 code.

    >>> is_language_code("zh"), is_language_code("cn")
    (True, False)
    """
    return len(code) == 2 and code.islower() and pycountry.languages.get(alpha_2=code) is not None
