"""Language identification for documents and passages, deterministic and ISO 639-1.

langdetect is probabilistic: without a fixed seed the same short text can get a different
answer on each run, so the seed is set once here, before any detection.

>>> detect_language("El derecho a una vivienda adecuada es un derecho humano reconocido.")
'es'
"""

from __future__ import annotations

from collections.abc import Sequence

from langdetect import DetectorFactory, LangDetectException, detect_langs

from housing_kb.schema.records import Page

DetectorFactory.seed = 0

#: Below this many letters langdetect guesses more than it detects.
MIN_LETTERS = 40
#: A top guess less likely than this is treated as a failure (the fallback wins).
MIN_PROBABILITY = 0.5
#: How much text :func:`detect_document_language` samples (enough for a stable answer, still fast).
SAMPLE_CHARS = 6000
UNDETERMINED = "und"

#: langdetect codes that are not plain ISO 639-1.
_CODE_MAP = {"zh-cn": "zh", "zh-tw": "zh"}
#: Close relatives langdetect confuses on short text (legal Russian often comes out "bg");
#: when the fallback is the key and the guess is in its set, the fallback wins.
_CONFUSABLE = {"ru": {"bg", "mk", "uk", "sr"}, "ar": {"fa", "ur"}, "zh": {"ko", "ja"}}
#: The corpus languages (six UN languages and Portuguese). A guess outside them never overrides a
#: fallback that is one of them: in practice such passages are tables, lists of names or text garbled
#: by PDF conversion that langdetect calls "cy", "af" or "so" with high confidence.
CORPUS_LANGUAGES = frozenset({"ar", "en", "es", "fr", "ru", "zh", "pt"})


def _letter_count(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


def detect_language(text: str, fallback: str | None = None) -> str:
    """ISO 639-1 code of ``text``; ``fallback`` (or ``"und"``) when too short or unsure.

    >>> detect_language("Жилище неприкосновенно. Никто не вправе проникать в жилище.", fallback="ru")
    'ru'
    >>> detect_language("OK", fallback="en")
    'en'
    """
    default = fallback or UNDETERMINED
    if _letter_count(text) < MIN_LETTERS:
        return default
    try:
        guesses = detect_langs(text)
    except LangDetectException:
        return default
    if not guesses or guesses[0].prob < MIN_PROBABILITY:
        return default
    code = _CODE_MAP.get(guesses[0].lang, guesses[0].lang)
    if fallback and code in _CONFUSABLE.get(fallback, ()):
        return fallback
    if fallback in CORPUS_LANGUAGES and code not in CORPUS_LANGUAGES:
        return fallback
    return code


def detect_document_language(pages: Sequence[Page], fallback: str | None = None) -> str:
    """Language of a whole document, from slices taken at its start, middle and end.

    Sampling several places keeps a cover page in another language (a template, a title in
    English on a Spanish report) from deciding alone.

    >>> detect_document_language([Page(1, "Le droit au logement convenable est un droit humain fondamental.")])
    'fr'
    """
    text = "\n".join(p.text for p in pages if p.text)
    if len(text) <= SAMPLE_CHARS:
        return detect_language(text, fallback)
    third = SAMPLE_CHARS // 3
    middle = len(text) // 2
    sample = "\n".join((text[:third], text[middle : middle + third], text[-third:]))
    return detect_language(sample, fallback)
