"""Component vocabularies (data in prompts/vocabularies/) and the term matcher built from them.

>>> vocab = load_vocabularies()
>>> sorted(vocab)[:2]
['accessibility', 'affordability']
>>> vocab["affordability"].matcher(["en"]).evidence("Access to credit and mortgage subsidies").terms
['access to credit', 'mortgage*', 'subsid*']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from housing_kb.schema.vocabulary import COMPONENT_KEYS
from housing_kb.text.textnorm import fold, script_of

LANGUAGES: tuple[str, ...] = ("ar", "en", "es", "fr", "ru", "zh", "pt")
_WORD_START = r"(?<!\w)"
#: How many letters a stem (``evict*``) may add.
_STEM_EXTRA = 8
#: Arabic proclitics: conjunction, then preposition, then the article (all optional).
_AR_PREFIX = r"(?:[وف])?(?:[بكل])?(?:ال|ل)?"
#: Arabic enclitics and inflections accepted after a term (ة is already folded to ه).
_AR_SUFFIX = r"(?:ه|ها|هم|ي|يه|ين|ون|ات|ان)?"


class VocabularyError(ValueError):
    """A vocabulary file is missing or malformed (the message names the file and field)."""


def default_vocab_dir() -> Path:
    """The packaged prompts/vocabularies folder."""
    return Path(str(resources.files("housing_kb.prompts"))) / "vocabularies"


def term_pattern(term: str) -> str:
    """Regex source matching one vocabulary term in folded text.

    >>> bool(re.search(term_pattern("evict*"), "tenants were evicted"))
    True
    >>> bool(re.search(term_pattern("rent"), "parent"))
    False
    """
    folded = fold(term.strip())
    script = script_of(folded)
    if script == "cjk":
        return re.escape(folded.replace("*", ""))
    words = []
    for word in folded.split():
        if word.endswith("*"):
            words.append(re.escape(word[:-1]) + rf"\w{{0,{_STEM_EXTRA}}}")
        else:
            words.append(re.escape(word))
    body = r"\s+".join(words)
    if script == "arabic":
        if body.startswith("ال"):  # the article is already part of the prefix group
            body = body[2:]
        return rf"(?<!\w){_AR_PREFIX}{body}{_AR_SUFFIX}(?!\w)"
    return rf"(?<!\w){body}(?!\w)"


@dataclass(frozen=True)
class Evidence:
    """Lexical evidence for one component in one passage."""

    #: Distinct vocabulary terms found (as written in the vocabulary).
    terms: list[str]
    #: Sum of the weights of the distinct terms found.
    weight: float


class TermMatcher:
    """Finds the terms of one component (labels and alternative labels, minus negatives) in text."""

    def __init__(self, weighted_terms: Sequence[tuple[str, float]], negatives: Sequence[str]):
        # Longest terms first so that, at one position, "housing cost" wins over "cost".
        ordered = sorted({t: w for t, w in weighted_terms}.items(), key=lambda tw: -len(tw[0]))
        self._terms = [t for t, _ in ordered]
        self._weights = [w for _, w in ordered]
        self._positive = _alternation(self._terms)
        self._negative = _alternation(sorted(set(negatives), key=len, reverse=True))

    def evidence(self, text: str, *, folded: str | None = None) -> Evidence:
        """Distinct terms found in ``text`` (pass ``folded`` when already folded, to save time)."""
        folded = fold(text) if folded is None else folded
        if self._positive is None:
            return Evidence([], 0.0)
        blocked = [m.span() for m in self._negative.finditer(folded)] if self._negative else []
        found: dict[int, None] = {}
        for match in self._positive.finditer(folded):
            start, end = match.span()
            if any(start < b_end and b_start < end for b_start, b_end in blocked):
                continue
            found[int(match.lastgroup[1:])] = None  # group names are "t<index>"
        terms = [self._terms[i] for i in found]
        return Evidence(terms, float(sum(self._weights[i] for i in found)))


def _alternation(terms: Sequence[str]) -> re.Pattern[str] | None:
    """One regex for many terms; group ``t<i>`` is term i.

    Word-bounded terms share a single leading word-start lookbehind so that the engine rejects positions
    inside words once instead of once per term (this made matching about four times faster).
    """
    if not terms:
        return None
    bounded, free = [], []
    for i, term in enumerate(terms):
        source = term_pattern(term)
        if source.startswith(_WORD_START):
            bounded.append(f"(?P<t{i}>{source[len(_WORD_START) :]})")
        else:
            free.append(f"(?P<t{i}>{source})")
    parts = ([f"{_WORD_START}(?:{'|'.join(bounded)})"] if bounded else []) + free
    return re.compile("|".join(parts))


@dataclass(frozen=True)
class ComponentVocabulary:
    """One component's definition, exemplars and per-language labels, as loaded from YAML."""

    key: str
    definition: dict[str, str]
    exemplars: list[str]
    labels: dict[str, list[str]]
    alt_labels: dict[str, list[str]]
    negative_labels: dict[str, list[str]]
    alt_label_weight: float = 0.5
    _matchers: dict[tuple[str, ...], TermMatcher] = field(default_factory=dict, compare=False, repr=False)

    def anchor_texts(self) -> list[str]:
        """Texts embedded to represent the component: every definition plus the exemplars."""
        return [self.definition[lang] for lang in LANGUAGES if lang in self.definition] + self.exemplars

    def matcher(self, languages: Iterable[str]) -> TermMatcher:
        """A matcher over the terms of the given languages (cached per language set)."""
        langs = tuple(sorted(set(languages)))
        if langs not in self._matchers:
            weighted = [(t, 1.0) for lang in langs for t in self.labels.get(lang, [])]
            weighted += [(t, self.alt_label_weight) for lang in langs for t in self.alt_labels.get(lang, [])]
            negatives = [t for lang in langs for t in self.negative_labels.get(lang, [])]
            self._matchers[langs] = TermMatcher(weighted, negatives)
        return self._matchers[langs]


def _lang_lists(data: dict, name: str, path: Path) -> dict[str, list[str]]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise VocabularyError(f"{path}: field '{name}' must map languages to lists of terms")
    out: dict[str, list[str]] = {}
    for lang, terms in value.items():
        if lang not in LANGUAGES:
            raise VocabularyError(f"{path}: field '{name}' has unknown language '{lang}'")
        if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
            raise VocabularyError(f"{path}: field '{name}.{lang}' must be a list of non-empty strings")
        out[lang] = list(terms)
    return out


def load_component_file(path: Path, alt_label_weight: float = 0.5) -> ComponentVocabulary:
    """Parse and validate one component YAML file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise VocabularyError(f"{path}: cannot read vocabulary ({exc.__class__.__name__})") from exc
    if not isinstance(data, dict) or data.get("key") not in COMPONENT_KEYS:
        raise VocabularyError(f"{path}: field 'key' must be one of {', '.join(COMPONENT_KEYS)}")
    definition = data.get("definition")
    if not isinstance(definition, dict) or "en" not in definition:
        raise VocabularyError(f"{path}: field 'definition' must map languages to text (with 'en')")
    return ComponentVocabulary(
        key=data["key"],
        definition={str(k): str(v) for k, v in definition.items()},
        exemplars=[str(e) for e in data.get("exemplars") or []],
        labels=_lang_lists(data, "labels", path),
        alt_labels=_lang_lists(data, "alt_labels", path),
        negative_labels=_lang_lists(data, "negative_labels", path),
        alt_label_weight=alt_label_weight,
    )


@dataclass(frozen=True)
class ClassifierSettings:
    """The knobs of the component classifier (prompts/vocabularies/_classifier.yaml)."""

    alt_label_weight: float
    lexical_scale: float
    lexical_weight: float
    embedding_weight: float
    thresholds: dict[str, float]
    lexical_only_thresholds: dict[str, float]
    #: Per-component mean and spread of the relative embedding similarity (unsupervised statistics).
    embedding_center: dict[str, float] = field(default_factory=dict)
    embedding_spread: dict[str, float] = field(default_factory=dict)


def load_settings(vocab_dir: Path) -> ClassifierSettings:
    """Read ``_classifier.yaml``; every component needs both thresholds."""
    path = vocab_dir / "_classifier.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise VocabularyError(f"{path}: cannot read classifier settings ({exc.__class__.__name__})") from exc
    try:
        settings = ClassifierSettings(
            alt_label_weight=float(data["alt_label_weight"]),
            lexical_scale=float(data["lexical_scale"]),
            lexical_weight=float(data["lexical_weight"]),
            embedding_weight=float(data["embedding_weight"]),
            thresholds={k: float(v) for k, v in data["thresholds"].items()},
            lexical_only_thresholds={k: float(v) for k, v in data["lexical_only_thresholds"].items()},
            embedding_center={k: float(v) for k, v in (data.get("embedding_center") or {}).items()},
            embedding_spread={k: float(v) for k, v in (data.get("embedding_spread") or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VocabularyError(f"{path}: missing or invalid field {exc}") from exc
    for name in ("thresholds", "lexical_only_thresholds"):
        missing = set(COMPONENT_KEYS) - set(getattr(settings, name))
        if missing:
            raise VocabularyError(f"{path}: field '{name}' lacks {', '.join(sorted(missing))}")
    return settings


def load_vocabularies(vocab_dir: Path | None = None) -> dict[str, ComponentVocabulary]:
    """All eight component vocabularies from ``vocab_dir`` (default: the packaged prompts)."""
    vocab_dir = vocab_dir or default_vocab_dir()
    settings = load_settings(vocab_dir)
    vocab: dict[str, ComponentVocabulary] = {}
    for key in COMPONENT_KEYS:
        path = vocab_dir / f"{key}.yaml"
        if not path.is_file():
            raise VocabularyError(f"{path}: vocabulary file for component '{key}' is missing")
        vocab[key] = load_component_file(path, settings.alt_label_weight)
    return vocab


def vocabulary_digest(vocab_dir: Path | None = None) -> str:
    """Short hash of every YAML file in the vocabulary folder (contents and names)."""
    vocab_dir = vocab_dir or default_vocab_dir()
    digest = hashlib.sha256()
    for path in sorted(vocab_dir.glob("*.yaml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
