"""Display names of the controlled vocabularies (components, regions, stages, document types, SDG
series) in the seven languages, read from prompts/labels.yaml: the one table behind /labels, the
page, briefs, answers, country profiles and typeahead, so a name is changed in one place.

Example: label("regions", "asia_pacific") == "Asia and the Pacific"; label("stages", "law", "zh")
falls back to the key ("law") because "law" is not a stage.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

LANGUAGES = ("en", "fr", "es", "pt", "ru", "ar", "zh")


@cache
def load_labels() -> dict[str, dict[str, dict[str, str]]]:
    """``{section: {key: {language: name}}}`` from prompts/labels.yaml."""
    import yaml

    from housing_kb import prompts

    path = Path(prompts.__file__).parent / "labels.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def label(section: str, key: str, language: str = "en", *, short: bool = False) -> str:
    """The name of ``key`` in ``section`` (its short form with ``short=``), in ``language`` or else
    English; an unknown key reads as itself with spaces ("informal_rental" -> "Informal rental").

    >>> label("components", "availability_of_services", short=True)
    'Services & infrastructure'
    >>> label("series", "en_lnd_slum", "fr")
    'Bidonvilles'
    """
    labels = load_labels()
    names = (labels["short_names"].get(key) if short else None) or labels[section].get(key)
    if not names:
        return key.replace("_", " ").capitalize()
    return names.get(language) or names["en"]
