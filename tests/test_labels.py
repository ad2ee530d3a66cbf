"""prompts/labels.yaml, the one table of display names, covers every vocabulary the code filters by,
in all seven languages, with nothing left over."""

from __future__ import annotations

import pytest

from housing_kb.index.query.filters import COMPONENTS, DOCUMENT_TYPES, REGIONS, STAGES
from housing_kb.schema.indicators import SERIES
from housing_kb.schema.labels import LANGUAGES, label, load_labels

VOCABULARIES = {
    "components": COMPONENTS,
    "regions": REGIONS,
    "stages": STAGES,
    "document_types": DOCUMENT_TYPES,
    "series": tuple(SERIES),
}


@pytest.mark.parametrize("section", VOCABULARIES)
def test_each_vocabulary_has_a_name_per_key_and_language(section):
    names = load_labels()[section]
    assert list(names) == list(VOCABULARIES[section]), "labels.yaml lists these keys in another order or set"
    for key, by_language in names.items():
        assert set(by_language) == set(LANGUAGES), key
        assert all(name.strip() for name in by_language.values()), key


def test_short_names_shorten_known_keys_only():
    known = {key for keys in VOCABULARIES.values() for key in keys}
    short = load_labels()["short_names"]
    assert set(short) <= known
    for key, by_language in short.items():
        assert set(by_language) == set(LANGUAGES), key


def test_label_falls_back_to_english_then_to_the_key():
    assert label("regions", "asia_pacific", "zh") == "亚洲及太平洋"
    assert label("regions", "asia_pacific", "xx") == "Asia and the Pacific"
    assert label("regions", "asia_pacific", "fr", short=True) == "Asie-Pacifique"
    assert label("components", "informal_rental") == "Informal rental"
