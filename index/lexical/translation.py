"""Cross-lingual BM25: a question's words translated into the corpus's other languages.

BM25 only meets passages that share a term with the question, so an Arabic question about forced
evictions scores no English, French or Chinese passage. The index keeps a word lexicon: the words
its passages use in each language (at least :data:`MIN_COUNT` times, stop words left out), each
embedded with the second dense channel's encoder, USE-multilingual, which places a word near its
translations. At query time each content word of the question is embedded in the same call as the
question itself, and its nearest lexicon word in every other language joins the BM25 query when
their cosine reaches :data:`THRESHOLD` (on the corpus, "семей" -> "family", "familia", "famille",
"família", "家庭", "الأسرة"; not every nearest word is a translation: "الإخلاء", eviction, lands on
"dealt").

Measured on the dev set (60 questions; README, "cross-lingual BM25"): hybrid nDCG@10 0.512 -> 0.555,
cross-lingual questions 0.473 -> 0.540, Arabic 0.410 -> 0.523. English questions are not translated:
they fell 0.516 -> 0.464 when they were (English is half the corpus, and the added terms only spread
their BM25 scores over other languages' weaker matches), so :data:`DEFAULT_SOURCES` leaves English out.

The lexicon is derived from the passages and the encoder, so it is rebuilt when either changes; a
rebuild embeds only the words the previous lexicon lacked (about 20,000 words in 4 s on the corpus).

>>> words_of("Les expulsions forcées du logement", "fr")
['les', 'expulsions', 'forcées', 'logement']
>>> words_of("强制驱逐和住房权", "zh")
['强制', '驱逐', '住房']
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jieba
import numpy as np
from tqdm import tqdm

from housing_kb.index.adapters.faiss_vectors import BinarySignatureIndex
from housing_kb.index.lexical.analysis import (
    _ensure_jieba,
    analyze,
    detect_query_language,
    normalize_arabic,
    stopwords,
)

log = logging.getLogger("housing_kb.translation")

#: Changes whenever the words kept or how they are embedded change: a lexicon of another recipe is rebuilt.
RECIPE = "use-word-lexicon-v2"
LEXICON_FILE = "word_lexicon.npz"
#: A word counts once a language's passages use it this often: single occurrences are mostly OCR
#: debris, typos and names that a translation would not help.
MIN_COUNT = 2
#: Cosine a lexicon word needs to count as a translation. Dev set (hybrid nDCG@10): 0.75 -> 0.546,
#: 0.8 -> 0.555, 0.85 -> 0.531.
THRESHOLD = 0.8
#: Questions in these languages are translated; see the module docstring for why not English.
DEFAULT_SOURCES = ("ar", "es", "fr", "pt", "ru", "zh")

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_ARABIC_WORD = re.compile(r"[\u0621-\u064a]{3,}")
_ARABIC_MARKS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_CYRILLIC_WORD = re.compile(r"[\u0430-\u044f\u0451]{3,}")
_LATIN_WORD = re.compile(r"[a-z\u00df-\u00f6\u00f8-\u024f]{3,}")
#: The script each language's words are written in; other languages are taken as Latin-script.
_SCRIPT = {"ar": "arabic", "fa": "arabic", "ru": "cyrillic", "uk": "cyrillic", "bg": "cyrillic", "zh": "han"}


#: Binary signature length and shortlist size of the lexicon search (WordLexicon.translate). On the
#: dev questions' words: 512 bits / 16 words kept 99.9 % of the full scan's translations, 32 all;
#: 256 bits / 32, 99.8 %.
SIGNATURE_BITS = 512
SHORTLIST = 32


@cache
def _projection(dim: int) -> np.ndarray:
    """Fixed random hyperplanes: a vector's signature is the side of each it falls on."""
    return np.random.default_rng(20261124).standard_normal((dim, SIGNATURE_BITS)).astype(np.float32)


def _signature(vectors: np.ndarray) -> np.ndarray:
    return np.packbits(vectors @ _projection(vectors.shape[1]) > 0, axis=1)


class TranslationError(Exception):
    """A word lexicon that cannot be used; the message is one line meant for the user."""


def words_of(text: str, language: str) -> list[str]:
    """The words of ``text`` in ``language``'s script, in order (lower case; Chinese by jieba).

    Words in another script are left out: an English acronym in a Chinese passage is not Chinese.

    >>> words_of("Право на жилище (UN-Habitat)", "ru")
    ['право', 'жилище']
    """
    script = _SCRIPT.get(language, "latin")
    if script == "han":
        _ensure_jieba()
        return [w for run in _HAN.findall(text) for w in jieba.lcut(run) if len(w) >= 2]
    if script == "arabic":
        return _ARABIC_WORD.findall(_ARABIC_MARKS.sub("", text))
    lowered = text.lower()
    return (_CYRILLIC_WORD if script == "cyrillic" else _LATIN_WORD).findall(lowered)


def content_words(text: str, language: str) -> list[str]:
    """Distinct words of ``text`` that are not stop words of ``language``.

    >>> content_words("What does the law say about forced evictions?", "en")
    ['law', 'say', 'forced', 'evictions']
    """
    is_stop = _stop_test(language)
    return [w for w in dict.fromkeys(words_of(text, language)) if not is_stop(w)]


def _stop_test(language: str) -> Callable[[str], bool]:
    """Whether a word is a stop word of ``language``. The Arabic list holds normalised forms (alef,
    hamza, taa marbuta, alef maqsura), so an Arabic word is normalised first: "على" is "علي" there."""
    stop: frozenset[str] = stopwords(language)
    if _SCRIPT.get(language) == "arabic":
        return lambda word: word in stop or normalize_arabic(word) in stop
    return stop.__contains__


def script_language(query: str) -> str | None:
    """The language of the script most of a query's letters are in, among Arabic, Cyrillic (read as
    Russian) and Han (Chinese); ``None`` for a Latin-script query.

    :func:`~housing_kb.index.lexical.analysis.detect_query_language` names only the Latin part of a query, by
    design (other scripts are analysed by script); an Arabic question must still be read as Arabic here.

    >>> script_language("ما هي حماية المستأجرين من الإخلاء؟"), script_language("slum upgrading")
    ('ar', None)
    """
    counts = {
        "ar": len(_ARABIC_WORD.findall(query)),
        "ru": len(_CYRILLIC_WORD.findall(query.lower())),
        "zh": sum(len(run) for run in _HAN.findall(query)),
    }
    best = max(counts, key=lambda lang: counts[lang])
    return best if counts[best] else None


def query_language(query: str) -> str | None:
    """The language a query's words are looked up in: the detected language of its Latin part, else
    its script's (:func:`script_language`); ``None`` for a short Latin query of unknown language.

    >>> query_language("¿Qué dice la ley sobre los desalojos?"), query_language("住房公积金")
    ('es', 'zh')
    """
    return detect_query_language(query) or script_language(query)


@dataclass(frozen=True)
class Translation:
    """One query word's nearest word in another language."""

    source: str
    language: str
    word: str
    cosine: float


@dataclass
class WordLexicon:
    """Per language, the corpus's words and their unit vectors from ``model_id``.

    >>> lex = WordLexicon("toy", {"en": ["eviction"]}, {"en": np.array([[1.0, 0.0]], np.float32)})
    >>> lex.translate(["desalojo"], np.array([[0.9, 0.436]], np.float32), "es", threshold=0.8)
    [Translation(source='desalojo', language='en', word='eviction', cosine=0.9)]
    """

    model_id: str
    words: dict[str, list[str]]
    vectors: dict[str, np.ndarray]
    #: Per language, the words' binary signatures in FAISS, made on first use.
    _signatures: dict[str, BinarySignatureIndex] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return sum(len(w) for w in self.words.values())

    @property
    def languages(self) -> list[str]:
        return sorted(self.words)

    def translate(
        self, words: Sequence[str], vectors: np.ndarray, source: str, *, threshold: float = THRESHOLD
    ) -> list[Translation]:
        """For each of ``words`` (in ``source``; rows of ``vectors``), its nearest word in each other
        language when their cosine reaches ``threshold``.

        Scanning every word's full vector cost 11.5 ms per translated dev question on the corpus's
        20,000 words, and grows with the lexicon (20-30 ms at the 100k-passage benchmark's 38,000).
        So each language's words are first shortlisted by the Hamming distance of binary signatures
        (the signs of :data:`SIGNATURE_BITS` random projections, which approximate the angle), and
        only the :data:`SHORTLIST` closest are compared exactly: 2.2 ms per question, and the same
        translations as the full scan for all 349 content words of the dev questions."""
        out: list[Translation] = []
        if not len(words):
            return out
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        codes = _signature(vectors)
        for language in self.languages:
            lexicon = self.vectors[language]
            if language == source or not len(lexicon):
                continue
            k = min(SHORTLIST, len(lexicon))
            _, candidates = self._signature_index(language).search(codes, k)
            sims = np.einsum("nkd,nd->nk", lexicon[candidates], vectors)
            best = sims.argmax(axis=1)
            for i, j in enumerate(best.tolist()):
                cosine = float(sims[i, j])
                if cosine >= threshold:
                    word = self.words[language][int(candidates[i, j])]
                    out.append(Translation(words[i], language, word, round(cosine, 4)))
        return out

    def _signature_index(self, language: str) -> BinarySignatureIndex:
        index = self._signatures.get(language)
        if index is None:
            index = BinarySignatureIndex(SIGNATURE_BITS)
            index.add(_signature(self.vectors[language]))
            self._signatures[language] = index  # two threads may both build it: same result
        return index

    # -- persistence -----------------------------------------------------------------------

    def save(self, path: Path, generation: int) -> None:
        """Write atomically (float16 vectors: the cosines move by < 0.001)."""
        arrays: dict[str, Any] = {
            "recipe": np.array(RECIPE),
            "model_id": np.array(self.model_id),
            "generation": np.array(generation),
            "languages": np.array(self.languages),
        }
        for language in self.languages:
            arrays[f"words_{language}"] = np.array(self.words[language], dtype=str)
            arrays[f"vectors_{language}"] = self.vectors[language].astype(np.float16)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.npz")
        try:
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> tuple[WordLexicon, int]:
        """(the lexicon, the store generation it was built at); refuses another recipe."""
        try:
            with np.load(path, allow_pickle=False) as data:
                recipe = str(data["recipe"])
                if recipe != RECIPE:
                    raise TranslationError(
                        f"word lexicon {path} has recipe {recipe!r}, this version builds {RECIPE!r}"
                    )
                languages = [str(x) for x in data["languages"]]
                words = {lang: [str(w) for w in data[f"words_{lang}"]] for lang in languages}
                vectors = {lang: data[f"vectors_{lang}"].astype(np.float32) for lang in languages}
                return cls(str(data["model_id"]), words, vectors), int(data["generation"])
        except (OSError, KeyError, ValueError) as exc:
            raise TranslationError(f"word lexicon {path} is unreadable: {exc}") from exc

    def to_json(self, generation: int) -> dict[str, Any]:
        """The lexicon as plain JSON, for a store that keeps no files (the Milvus backend's state):
        the same float16 vectors as :meth:`save`, base64-encoded. Byte-for-byte the same for the same
        lexicon, so an unchanged one is not written again.

        >>> lex = WordLexicon("toy", {"en": ["eviction"]}, {"en": np.array([[0.6, 0.8]], np.float32)})
        >>> back, generation = WordLexicon.from_json(lex.to_json(7))
        >>> back.words, back.vectors["en"].tolist(), generation
        ({'en': ['eviction']}, [[0.60009765625, 0.7998046875]], 7)
        """
        languages = {
            language: {
                "words": self.words[language],
                "dim": int(self.vectors[language].shape[1]) if self.vectors[language].ndim == 2 else 0,
                "vectors": base64.b64encode(self.vectors[language].astype("<f2").tobytes()).decode("ascii"),
            }
            for language in self.languages
        }
        return {"recipe": RECIPE, "model_id": self.model_id, "languages": languages, "generation": generation}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> tuple[WordLexicon, int]:
        """(the lexicon, its generation) from :meth:`to_json`; refuses another recipe."""
        if value.get("recipe") != RECIPE:
            raise TranslationError(
                f"stored word lexicon has recipe {value.get('recipe')!r}, this version builds {RECIPE!r}"
            )
        words, vectors = {}, {}
        for language, entry in value["languages"].items():
            words[language] = list(entry["words"])
            flat = np.frombuffer(base64.b64decode(entry["vectors"]), dtype="<f2").astype(np.float32)
            vectors[language] = flat.reshape(len(words[language]), int(entry["dim"]))
        return cls(str(value["model_id"]), words, vectors), int(value["generation"])


def build_lexicon(
    passages: Iterable[tuple[str, str]],
    embedder: Any,
    *,
    previous: WordLexicon | None = None,
    show_progress: bool = False,
) -> tuple[WordLexicon, int]:
    """(the lexicon of ``passages``, how many words were embedded); ``previous`` lends the vectors of
    the words it already has when it was built by the same model. Passages of unknown language
    ("und") give no words: they may be in any language."""
    counts: dict[str, Counter[str]] = {}
    for text, language in passages:
        if language != "und":
            counts.setdefault(language, Counter()).update(words_of(text, language))
    known: dict[tuple[str, str], np.ndarray] = {}
    if previous is not None and previous.model_id == embedder.model_id:
        for language in previous.languages:
            known.update(
                ((language, w), v)
                for w, v in zip(previous.words[language], previous.vectors[language], strict=True)
            )
    words: dict[str, list[str]] = {}
    for language, counter in counts.items():
        is_stop = _stop_test(language)
        words[language] = sorted(w for w, n in counter.items() if n >= MIN_COUNT and not is_stop(w))
    missing = sorted({w for lang, ws in words.items() for w in ws if (lang, w) not in known})
    # One vector per distinct word: "social" in English and in Spanish is the same text to the encoder.
    fresh: dict[str, np.ndarray] = {}
    bar = tqdm(total=len(missing), desc="word lexicon", unit="word", disable=not show_progress, leave=False)
    for start in range(0, len(missing), 1024):
        part = missing[start : start + 1024]
        fresh.update(zip(part, embedder.embed_passages(part, batch_size=256), strict=True))
        bar.update(len(part))
    bar.close()
    dim = int(embedder.dim)
    vectors = {
        lang: np.array(
            [known[(lang, w)] if (lang, w) in known else fresh[w] for w in ws], dtype=np.float32
        ).reshape(len(ws), dim)
        for lang, ws in words.items()
    }
    return WordLexicon(embedder.model_id, words, vectors), len(missing)


def _passages(store: Any) -> Iterable[tuple[str, str]]:
    for row in store.iter_passages("text, language"):
        yield row["text"], row["language"] or "und"


def sync_lexicon(store: Any, embedder: Any, *, show_progress: bool = True) -> int:
    """Bring ``<index>/word_lexicon.npz`` in line with the passages; returns how many words were embedded."""
    path = store.directory / LEXICON_FILE
    previous = _load_quietly(path)
    if previous is not None:
        lexicon, generation = previous
        if generation == store.generation and lexicon.model_id == embedder.model_id:
            return 0
    lexicon, embedded = build_lexicon(
        _passages(store), embedder, previous=previous[0] if previous else None, show_progress=show_progress
    )
    lexicon.save(path, store.generation)
    log.info(
        "word lexicon: %d words in %d languages (%d embedded)", len(lexicon), len(lexicon.words), embedded
    )
    return embedded


def open_lexicon(store: Any, model_id: str) -> WordLexicon | None:
    """The index's word lexicon when it was built with ``model_id``; ``None`` (no translation) otherwise.

    A lexicon an ingest left behind is still used: it lacks only the newest documents' words."""
    path = store.directory / LEXICON_FILE
    loaded = read_lexicon(store)
    if loaded is None and not path.exists():
        log.warning(
            "no word lexicon in %s: questions are not translated for BM25 until the next ingest",
            store.directory,
        )
    return usable_lexicon(loaded, model_id, store.generation, str(store.directory))


def read_lexicon(store: Any) -> tuple[WordLexicon, int] | None:
    """(the lexicon, the generation it was built at) in the index directory, or None."""
    return _load_quietly(
        store.directory / LEXICON_FILE,
        "questions are not translated for BM25 until the next ingest rebuilds it",
    )


def usable_lexicon(
    loaded: tuple[WordLexicon, int] | None, model_id: str, generation: int, where: str
) -> WordLexicon | None:
    """The lexicon when it was built with ``model_id`` (queries are embedded with it), else None."""
    if loaded is None:
        return None
    lexicon, built_at = loaded
    if lexicon.model_id != model_id:
        log.warning(
            "word lexicon in %s was built with %s, queries are embedded with %s: not translating",
            where,
            lexicon.model_id,
            model_id,
        )
        return None
    if built_at != generation:
        log.info(
            "word lexicon is from generation %d (index at %d); re-run ingest to add new words",
            built_at,
            generation,
        )
    return lexicon


def _load_quietly(path: Path, consequence: str = "rebuilding it") -> tuple[WordLexicon, int] | None:
    if not path.exists():
        return None
    try:
        return WordLexicon.load(path)
    except TranslationError as exc:
        log.warning("%s; %s", exc, consequence)
        return None


#: At most this many words of a question are translated (a pasted paragraph would otherwise cost
#: one lexicon scan per word).
MAX_WORDS = 16


class QueryTranslator:
    """Embeds a question for the second dense channel and translates its words in the same call.

    Translations are cached per word (a search box sees the same words again and again), so only a
    word not seen before costs its share of the encoder call and of the lexicon search (2.3 ms for a
    dev question's 11 words on the corpus's 20,000-word lexicon). ``cache_size`` words are kept (0: none).
    """

    def __init__(self, lexicon: WordLexicon, embedder: Any, *, cache_size: int = 8192) -> None:
        if lexicon.model_id != embedder.model_id:
            raise TranslationError(
                f"word lexicon built with {lexicon.model_id}, queries embedded with {embedder.model_id}"
            )
        self.lexicon = lexicon
        self.embedder = embedder
        self._cache: dict[tuple[str, str, float], list[Translation]] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def embed_and_translate(
        self, query: str, language: str, *, threshold: float = THRESHOLD
    ) -> tuple[np.ndarray, list[Translation]]:
        """(the query's vector, the translations of its content words in ``language``)."""
        words = content_words(query, language)[:MAX_WORDS]
        with self._lock:
            known = {w: self._cache.get((language, w, threshold)) for w in words}
        new = [w for w, found in known.items() if found is None]
        vectors = self.embedder.embed_queries([query, *new])
        if new:
            fresh = self.lexicon.translate(new, vectors[1:], language, threshold=threshold)
            translated = {word: [t for t in fresh if t.source == word] for word in new}
            known.update(translated)
            if self._cache_size:
                with self._lock:
                    if len(self._cache) + len(new) > self._cache_size:
                        self._cache.clear()
                    self._cache.update(((language, w, threshold), translated[w]) for w in new)
        return vectors[0], [t for w in words for t in known[w] or ()]


def matched_translations(text: str, language: str, translations: Sequence[Translation]) -> list[Translation]:
    """The translations of the query's words that a passage in ``language`` contains: what tells a
    reader who cannot read the passage why it matched ("выселение" -> "eviction"), once per word pair.

    >>> matched_translations("Forced eviction of tenants under PMAY", "en",
    ...                      [Translation("выселение", "en", "eviction", 0.8),
    ...                       Translation("выселение", "fr", "expulsion", 0.8),
    ...                       Translation("жильё", "en", "housing", 0.8),
    ...                       Translation("pmay", "en", "PMAY", 0.9)])
    [Translation(source='выселение', language='en', word='eviction', cosine=0.8)]
    """
    # A word spelt alike in both languages ("audit", "PMAY") is highlighted already, not translated.
    wanted = [t for t in translations if t.language == language and t.word.casefold() != t.source.casefold()]
    if not wanted:
        return []
    terms = set(analyze(text, language))
    found = {(t.source, t.word): t for t in wanted if terms.intersection(analyze(t.word, language))}
    return list(found.values())


def translation_terms(translations: Sequence[Translation]) -> list[str]:
    """The BM25 terms of the translated words, each analysed in its own language. A term comes back
    once per translation that gives it: BM25 then weighs it by how many agree.

    >>> translation_terms([Translation("protección", "en", "protection", 0.81),
    ...                    Translation("protección", "fr", "protection", 0.82)])
    ['protect', 'protect']
    """
    return [t for tr in translations for t in analyze(tr.word, tr.language)]


__all__ = [
    "DEFAULT_SOURCES",
    "MAX_WORDS",
    "THRESHOLD",
    "QueryTranslator",
    "Translation",
    "TranslationError",
    "WordLexicon",
    "build_lexicon",
    "content_words",
    "matched_translations",
    "open_lexicon",
    "query_language",
    "script_language",
    "sync_lexicon",
    "translation_terms",
    "words_of",
]
