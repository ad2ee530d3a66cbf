"""Adequacy-component scoring: vocabulary evidence plus embedding similarity to component anchors.

>>> clf = ComponentClassifier()                      # lexical only (no embedder)
>>> clf.classify(["Tenants were evicted without a court order."], ["en"])[0][0]
['security_of_tenure']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from housing_kb.ingest.tagging.vocabulary import (
    LANGUAGES,
    ClassifierSettings,
    ComponentVocabulary,
    default_vocab_dir,
    load_settings,
    load_vocabularies,
)
from housing_kb.models.base import Embedder
from housing_kb.schema.vocabulary import COMPONENT_KEYS
from housing_kb.text.textnorm import fold


def lexical_strength(weight: float, scale: float) -> float:
    """Saturating map of summed term weights to [0, 1): the third synonym adds less than the first.

    >>> round(lexical_strength(1.5, 1.5), 3)
    0.632
    """
    return float(1.0 - np.exp(-weight / scale))


def languages_for(language: str | None) -> list[str]:
    """Vocabulary languages used for a passage: its own plus English (titles, acronyms, citations
    in English are common in every language's documents); all languages when unknown."""
    if language is None or language not in LANGUAGES:
        return list(LANGUAGES)
    return sorted({language, "en"})


class ComponentClassifier:
    """Scores the eight components for passages and applies per-component thresholds."""

    def __init__(self, embedder: Embedder | None = None, vocab_dir: Path | None = None):
        vocab_dir = vocab_dir or default_vocab_dir()
        self.vocab: dict[str, ComponentVocabulary] = load_vocabularies(vocab_dir)
        self.settings: ClassifierSettings = load_settings(vocab_dir)
        self.embedder = embedder
        self._anchors: np.ndarray | None = None

    # -- evidence ---------------------------------------------------------------------------------
    def lexical_scores(self, texts: Sequence[str], languages: Sequence[str | None]) -> np.ndarray:
        """(n, 8) saturated lexical strengths."""
        out = np.zeros((len(texts), len(COMPONENT_KEYS)), dtype=np.float32)
        for i, (text, lang) in enumerate(zip(texts, languages, strict=True)):
            folded = fold(text)
            langs = languages_for(lang)
            for j, key in enumerate(COMPONENT_KEYS):
                weight = self.vocab[key].matcher(langs).evidence(text, folded=folded).weight
                out[i, j] = lexical_strength(weight, self.settings.lexical_scale)
        return out

    def terms(
        self, text: str, language: str | None, components: Sequence[str] = COMPONENT_KEYS
    ) -> dict[str, list[str]]:
        """The vocabulary terms matched in ``text`` per component, for ``components`` only (a hit's
        own: matching costs a regex pass per component); components without any are left out."""
        folded = fold(text)
        langs = languages_for(language)
        found = {
            key: self.vocab[key].matcher(langs).evidence(text, folded=folded).terms for key in components
        }
        return {key: terms for key, terms in found.items() if terms}

    def anchors(self) -> np.ndarray:
        """(8, dim) unit centroids of each component's embedded definitions and exemplars (computed once)."""
        if self._anchors is None:
            if self.embedder is None:
                raise ValueError("ComponentClassifier.anchors: no embedder was given")
            rows = []
            for key in COMPONENT_KEYS:
                # Anchors use the passage prefix: measured on the dev set it separated components
                # slightly better than the query prefix (the texts are statements, not questions).
                vecs = self.embedder.embed_passages(self.vocab[key].anchor_texts())
                centroid = vecs.mean(axis=0)
                rows.append(centroid / np.linalg.norm(centroid))
            self._anchors = np.stack(rows).astype(np.float32)
        return self._anchors

    def embedding_scores(self, vectors: np.ndarray) -> np.ndarray:
        """(n, 8) standardised relative similarities: a passage's similarity to a component minus its
        mean similarity to all eight (removes the "any housing text" part), scaled by the stored spread."""
        sims = vectors @ self.anchors().T
        relative = sims - sims.mean(axis=1, keepdims=True)
        center = np.array([self.settings.embedding_center.get(k, 0.0) for k in COMPONENT_KEYS])
        spread = np.array([self.settings.embedding_spread.get(k, 1.0) for k in COMPONENT_KEYS])
        return ((relative - center) / spread).astype(np.float32)

    # -- decision ---------------------------------------------------------------------------------
    def scores(
        self, texts: Sequence[str], languages: Sequence[str | None], vectors: np.ndarray | None = None
    ) -> tuple[np.ndarray, bool]:
        """Combined (n, 8) scores and whether embeddings were used."""
        s = self.settings
        lexical = self.lexical_scores(texts, languages) * s.lexical_weight
        if vectors is None and self.embedder is not None and len(texts):
            vectors = self.embedder.embed_passages(list(texts))
        if vectors is None or self.embedder is None:
            return lexical, False
        if vectors.shape[0] != len(texts):
            raise ValueError(f"vectors has {vectors.shape[0]} rows for {len(texts)} passages")
        return lexical + s.embedding_weight * self.embedding_scores(vectors), True

    def thresholds(self, with_embeddings: bool) -> np.ndarray:
        table = self.settings.thresholds if with_embeddings else self.settings.lexical_only_thresholds
        return np.array([table[k] for k in COMPONENT_KEYS], dtype=np.float32)

    def classify(
        self, texts: Sequence[str], languages: Sequence[str | None], vectors: np.ndarray | None = None
    ) -> list[tuple[list[str], dict[str, float]]]:
        """Per passage: the components over threshold and every component's score."""
        scores, with_embeddings = self.scores(texts, languages, vectors)
        thresholds = self.thresholds(with_embeddings)
        out = []
        for row in scores:
            chosen = [k for k, v, t in zip(COMPONENT_KEYS, row, thresholds, strict=True) if v >= t]
            out.append((chosen, {k: round(float(v), 4) for k, v in zip(COMPONENT_KEYS, row, strict=True)}))
        return out
