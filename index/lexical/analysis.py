"""Language-aware analysers that turn passages and queries into BM25 terms.

Each word is analysed by the script it is written in: Han runs go through jieba, Arabic words
through a normaliser and light stemmer, Cyrillic words through the Russian Snowball stemmer,
and Latin words through the Snowball stemmer of the passage's language (en, es, fr, pt), or are
just lower-cased for languages without one.

One vocabulary is shared by all languages, without language prefixes on the terms: stems of
different languages rarely collide, while names, numbers and acronyms (SDG, PMAY, 2010) should
match across languages, and a short query of unknown language must be able to hit any of them.

>>> analyze("Les expulsions forcées du logement", "fr")
['expuls', 'forc', 'log']
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterator
from functools import cache, lru_cache
from pathlib import Path

import bm25s.stopwords
import jieba
import Stemmer
import yaml
from langdetect import DetectorFactory, LangDetectException, detect_langs

#: Bump whenever a change here changes the terms of any text, or what text a passage is indexed
#: with: indexes built with another version are refused by :class:`housing_kb.index.lexical.bm25.LexicalIndex`
#: and rebuilt by the next ingest. 2: passages carry their context (title > headings) in front.
ANALYSER_VERSION = "housing-kb-analysis/2"

#: Snowball algorithm per ISO 639-1 code.
SNOWBALL = {"en": "english", "es": "spanish", "fr": "french", "pt": "portuguese", "ru": "russian"}
#: Latin-script languages with a stemmer: a short Latin query of unknown language is analysed with all.
LATIN_STEMMED = ("en", "es", "fr", "pt")

_STOPWORDS_FILE = Path(__file__).with_name("stopwords.yaml")
_BM25S_STOPWORDS = {
    "en": bm25s.stopwords.STOPWORDS_EN_PLUS,
    "es": bm25s.stopwords.STOPWORDS_SPANISH,
    "fr": bm25s.stopwords.STOPWORDS_FRENCH,
    "pt": bm25s.stopwords.STOPWORDS_PORTUGUESE,
    "ru": bm25s.stopwords.STOPWORDS_RUSSIAN,
}

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
#: Combining marks, Arabic harakat and tatweel belong inside a word (``\w`` alone would split there).
_MARKS = "\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640"
_RUN = re.compile(rf"(?P<han>[{_HAN}]+)|(?P<word>(?:[^\W_{_HAN}]|[{_MARKS}])+)")
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")
_CYRILLIC = re.compile(r"[\u0400-\u052f]")

_AR_MARKS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_AR_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ؤ": "و", "ئ": "ي", "ة": "ه", "ى": "ي"})
# Arabic-Indic and Persian digits, so "٣٢٢" in a Saudi law matches "322" in a query.
_DIGITS = str.maketrans(
    {**{chr(0x0660 + i): str(i) for i in range(10)}, **{chr(0x06F0 + i): str(i) for i in range(10)}}
)
#: Longest first: "وال" must win over "ال".
_AR_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")
#: Stripped in this order, each at most once (a light stemmer: no roots, no broken plurals).
_AR_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")

_langdetect_seeded = False
_jieba_lock = threading.Lock()
_jieba_ready = False
# PyStemmer objects keep a cache that is not thread-safe, and the API serves queries from threads.
_local = threading.local()


def primary_language(code: str | None) -> str:
    """ISO 639-1 primary subtag of a language code, ``"und"`` when empty.

    >>> primary_language("zh-CN"), primary_language(None)
    ('zh', 'und')
    """
    if not code:
        return "und"
    return re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0] or "und"


@cache
def stopwords(language: str) -> frozenset[str]:
    """Stop words of ``language`` (lower case; Arabic already normalised); empty when none.

    >>> "the" in stopwords("en"), len(stopwords("xx"))
    (True, 0)
    """
    if language in _BM25S_STOPWORDS:
        return frozenset(_BM25S_STOPWORDS[language])
    data = yaml.safe_load(_STOPWORDS_FILE.read_text(encoding="utf-8"))
    return frozenset(str(data.get(language, "")).split())


def _stemmer(language: str) -> Stemmer.Stemmer:
    stemmers = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    if language not in stemmers:
        stemmers[language] = Stemmer.Stemmer(SNOWBALL[language])
    return stemmers[language]


def _ensure_jieba() -> None:
    """Load jieba's dictionary once (about 1 s), without its banner on stderr."""
    global _jieba_ready
    if _jieba_ready:
        return
    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba_ready = True


def fold_accents(word: str) -> str:
    """Drop combining accents, so a query typed without them still matches.

    >>> fold_accents("habitação")
    'habitacao'
    """
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFD", word)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def normalize_arabic(word: str) -> str:
    """Unify alef, hamza, taa marbuta and alef maqsura forms; drop harakat and tatweel.

    >>> normalize_arabic("الإسكانُ") == "الاسكان", normalize_arabic("مدينة") == "مدينه"
    (True, True)
    """
    return _AR_MARKS.sub("", word).translate(_AR_LETTERS)


def stem_arabic(word: str) -> str | None:
    """Light stem of a normalised Arabic word, ``None`` for a stop word or a stub.

    >>> stem_arabic("السكنيه") == "سكن"
    True
    """
    stop = stopwords("ar")
    if word in stop or (len(word) > 2 and word[0] in "وف" and word[1:] in stop):
        return None
    for prefix in _AR_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 2:
            word = word[len(prefix) :]
            break
    else:
        # The conjunction wa- only when enough is left that it cannot be a root letter of a short word.
        if word.startswith("و") and len(word) >= 4:
            word = word[1:]
    for suffix in _AR_SUFFIXES:
        # Keep three letters at least: most Arabic roots have three.
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
    return word if len(word) >= 2 else None


def _latin_terms(word: str, languages: tuple[str, ...], stop: frozenset[str]) -> list[str]:
    """Terms of one lower-cased Latin-script word: a stem per language, or the folded word."""
    if word in stop or (len(word) == 1 and not word.isdigit()):
        return []
    if word.isdigit() or not languages:
        return [fold_accents(word)]
    return list(dict.fromkeys(fold_accents(_stemmer(lang).stemWord(word)) for lang in languages))


def _word_terms(
    token: str, languages: tuple[str, ...], stop: frozenset[str], *, plain: bool = False
) -> list[str]:
    """Terms of one non-Han word token, by the script it is written in.

    ``plain`` adds the folded Latin word itself to its stems (used for queries of unknown language).
    """
    word = (
        token.lower() if token.isascii() else unicodedata.normalize("NFKC", token).lower().translate(_DIGITS)
    )
    if not word:
        return []
    if _ARABIC.match(word):
        stem = stem_arabic(normalize_arabic(word))
        return [stem] if stem else []
    if _CYRILLIC.match(word):
        word = word.replace("ё", "е")
        if word in stopwords("ru") or len(word) == 1:
            return []
        return [_stemmer("ru").stemWord(word)]
    terms = _latin_terms(word, languages, stop)
    if plain and terms:
        terms.append(fold_accents(word))
    return terms


def _han_terms(run: str, start: int) -> Iterator[tuple[int, int, str]]:
    """jieba search-mode words of a Han run: whole words plus their dictionary sub-words."""
    _ensure_jieba()
    stop = stopwords("zh")
    for word, s, e in jieba.tokenize(run, mode="search"):
        if word not in stop:
            yield start + s, start + e, word


def _spans(text: str, languages: tuple[str, ...], stop: frozenset[str]) -> Iterator[tuple[int, int, str]]:
    for match in _RUN.finditer(text):
        if match.lastgroup == "han":
            yield from _han_terms(match.group(), match.start())
        else:
            for term in _word_terms(match.group(), languages, stop):
                yield match.start(), match.end(), term


def _latin_setup(language: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """Stemmers and stop words for the Latin-script words of a text in ``language``."""
    if language in LATIN_STEMMED:
        return (language,), stopwords(language)
    return (), frozenset()


def analyze_spans(text: str, language: str | None) -> list[tuple[int, int, str]]:
    """Terms of ``text`` with the character span each comes from (for highlighting).

    >>> analyze_spans("Adequate housing", "en")
    [(0, 8, 'adequ'), (9, 16, 'hous')]
    """
    languages, stop = _latin_setup(primary_language(language))
    return list(_spans(text, languages, stop))


@lru_cache(maxsize=1 << 16)
def _cached_word_terms(token: str, languages: tuple[str, ...], stop: frozenset[str]) -> tuple[str, ...]:
    # Passages repeat their words, and every search highlights ten of them: stem each word once.
    return tuple(_word_terms(token, languages, stop))


def match_spans(text: str, language: str | None, terms: set[str]) -> list[tuple[int, int]]:
    """Character spans of ``text`` whose analysed term is one of ``terms`` (a query's), for highlighting.

    Words are analysed as :func:`analyze_spans` does, with each distinct word stemmed once. Han runs
    are not segmented: the query's Han terms are found in them directly, longest first, which marks
    the same words as jieba would in a tenth of the time.

    >>> text = "住房公积金 and housing funds"
    >>> [text[s:e] for s, e in match_spans(text, "en", {"公积金", "fund"})]
    ['公积金', 'funds']
    """
    languages, stop = _latin_setup(primary_language(language))
    han = _han_pattern(frozenset(t for t in terms if _HAN_TERM.fullmatch(t)))
    spans: list[tuple[int, int]] = []
    for match in _RUN.finditer(text):
        if match.lastgroup == "han":
            if han is not None:
                base = match.start()
                spans.extend((base + m.start(), base + m.end()) for m in han.finditer(match.group()))
        elif any(t in terms for t in _cached_word_terms(match.group(), languages, stop)):
            spans.append((match.start(), match.end()))
    return spans


_HAN_TERM = re.compile(rf"[{_HAN}]+")


@lru_cache(maxsize=1024)
def _han_pattern(terms: frozenset[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    return re.compile("|".join(re.escape(t) for t in sorted(terms, key=lambda t: (-len(t), t))))


def analyze(text: str, language: str | None) -> list[str]:
    """Terms of a passage written in ``language`` (ISO 639-1; unknown codes are only lower-cased).

    >>> analyze("住房公积金的增值收益", "zh")
    ['住房', '公积', '积金', '公积金', '增值', '收益']
    """
    languages, stop = _latin_setup(primary_language(language))
    return [term for _, _, term in _spans(text, languages, stop)]


def _latin_words(query: str) -> list[str]:
    return [
        m.group()
        for m in _RUN.finditer(query)
        if m.lastgroup == "word" and not _ARABIC.match(m.group()) and not _CYRILLIC.match(m.group())
    ]


#: Stop words of Latin-script languages without a stemmer here: they only compete in the vote, so an
#: Italian or German query is not taken for Spanish or English (it goes to langdetect instead).
_VOTE_RIVALS = {
    "de": bm25s.stopwords.STOPWORDS_GERMAN,
    "it": bm25s.stopwords.STOPWORDS_ITALIAN,
    "nl": bm25s.stopwords.STOPWORDS_DUTCH,
}


@cache
def _vote_lists() -> dict[str, frozenset[str]]:
    lists = {lang: stopwords(lang) for lang in LATIN_STEMMED}
    lists.update({lang: frozenset(words) for lang, words in _VOTE_RIVALS.items()})
    return lists


def stopword_vote(words: list[str]) -> str | None:
    """The language whose stop words clearly dominate ``words`` (lower case), else ``None``.

    A word shared by several lists counts for each in part. The winner needs at least two votes,
    twice the runner-up's, and a fifth of the words: a question in a UN language is decided in
    microseconds, while a keyword query or a mixed one stays undecided.

    >>> stopword_vote("what does the law say about forced evictions".split())
    'en'
    >>> stopword_vote(["slum", "upgrading", "kenya"]) is None
    True
    """
    lists = _vote_lists()
    votes = dict.fromkeys(lists, 0.0)
    for word in words:
        hits = [lang for lang, stop in lists.items() if word in stop]
        for lang in hits:
            votes[lang] += 1.0 / len(hits)
    (first, top), (_, second) = sorted(votes.items(), key=lambda kv: -kv[1])[:2]
    if top >= 2 and top >= 2 * second and top >= 0.2 * len(words):
        return first
    return None


def detect_query_language(query: str) -> str | None:
    """Language of the Latin-script part of a query, or ``None`` when it is too short to trust.

    A stop-word vote decides most questions (0.02 ms against langdetect's 2-5 ms, which was a tenth
    of a search's time; on 476 decided corpus snippets and dev questions it was never wrong, langdetect
    5 times); langdetect decides the rest. langdetect calls "slum upgrading" Croatian with 0.99999
    confidence, so fewer than three words or 20 letters never count as detected.

    >>> detect_query_language("¿Qué dice la ley sobre los desalojos forzosos?"), detect_query_language("slum upgrading")
    ('es', None)
    """
    global _langdetect_seeded
    latin = _latin_words(query)
    words = [w for w in latin if not w.isdigit()]
    if len(words) < 3 or sum(len(w) for w in words) < 20:
        return None
    voted = stopword_vote([w.lower() for w in words])
    if voted in LATIN_STEMMED:
        return voted
    if not _langdetect_seeded:
        DetectorFactory.seed = 0  # langdetect is random unless seeded
        _langdetect_seeded = True
    try:
        guesses = detect_langs(" ".join(latin))
    except LangDetectException:
        return None
    if not guesses or guesses[0].prob < 0.9:
        return None
    return primary_language(guesses[0].lang)


#: A Spanish or Portuguese query is stemmed in both languages: they share most housing vocabulary
#: (vivienda/vivenda, municipio/município, déficit habitacional), and the corpus holds Spanish
#: documents about Colombia and Argentina next to Portuguese ones about Brazil.
_QUERY_SIBLINGS = {"es": ("es", "pt"), "pt": ("pt", "es")}


def _query_latin_setup(language: str) -> tuple[tuple[str, ...], frozenset[str]]:
    languages = _QUERY_SIBLINGS.get(language)
    if languages is None:
        return _latin_setup(language)
    return languages, frozenset().union(*(stopwords(lang) for lang in languages))


def analyze_query(query: str, language: str | None = None) -> list[str]:
    """Distinct terms of a query, analysed so that they meet the terms of matching passages.

    Han, Arabic and Cyrillic words are analysed by their script. Latin words use ``language``
    when given, else the detected language; a short or ambiguous Latin query gets the union of
    the en/es/fr/pt stems and the plain word, minus the stop words of all four languages.

    >>> analyze_query("viviendas")
    ['vivienda', 'viviend', 'viviendas']
    """
    if language:
        languages, stop = _query_latin_setup(primary_language(language))
    else:
        detected = detect_query_language(query)
        if detected in LATIN_STEMMED:
            languages, stop = _query_latin_setup(detected)
        elif detected is not None:
            languages, stop = (), frozenset()
        else:
            languages = LATIN_STEMMED
            stop = frozenset().union(*(stopwords(lang) for lang in LATIN_STEMMED))
    terms: list[str] = []
    for match in _RUN.finditer(query):
        if match.lastgroup == "han":
            terms.extend(term for _, _, term in _han_terms(match.group(), match.start()))
            continue
        # Unsure of the language: the plain word as well, for names and languages without a stemmer.
        terms.extend(_word_terms(match.group(), languages, stop, plain=len(languages) > 1))
    return list(dict.fromkeys(terms))
