"""Text normalisation shared by the vocabulary and gazetteer matchers.

>>> fold("Côte d'Ivoire ﬁnancement")
"cote d'ivoire financement"
"""

from __future__ import annotations

import re
import unicodedata

#: Arabic short vowels, shadda, sukun, dagger alif and tatweel: dropped before matching.
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")
#: Arabic letter variants folded to one form (hamza seats on alif, alif maqsura, ta marbuta).
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"})
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
#: Typographic apostrophes and hyphens folded to ASCII so "d’Ivoire" matches "d'Ivoire".
_PUNCT = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "‐": "-", "‑": "-", "–": "-", "—": "-"})


def _fold_char(ch: str) -> str:
    """Lower-case one character and strip diacritics from Latin letters only.

    Cyrillic й and ё and all non-Latin scripts keep their marks: stripping them would merge words.
    """
    low = ch.lower()
    if len(low) != 1:  # e.g. "İ" lowers to two code points; keep the original letter
        low = ch
    if ord(low) < 0x250:
        decomposed = unicodedata.normalize("NFKD", low)
        base = "".join(c for c in decomposed if not unicodedata.combining(c))
        return base or low
    return low


def fold(text: str) -> str:
    """Case- and accent-fold text for matching (NFKC, lower case, Latin accents, Arabic variants).

    >>> fold("الإمارات")
    'الامارات'
    """
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT)
    text = _ARABIC_MARKS.sub("", text).translate(_ARABIC_LETTERS)
    return "".join(_fold_char(c) for c in text)


def script_of(term: str) -> str:
    """The script family that decides how a term is matched: "cjk", "arabic", "cyrillic" or "latin".

    >>> script_of("沙特"), script_of("الإمارات"), script_of("Россия"), script_of("Kenya")
    ('cjk', 'arabic', 'cyrillic', 'latin')
    """
    if _CJK.search(term):
        return "cjk"
    if _ARABIC.search(term):
        return "arabic"
    if _CYRILLIC.search(term):
        return "cyrillic"
    return "latin"
