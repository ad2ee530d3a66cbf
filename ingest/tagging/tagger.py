"""The passage tagger: adequacy components, countries and UN-Habitat regions for each passage.

>>> tagger = Tagger()                                   # lexical only; pass an embedder for both
>>> tags = tagger.tag([TagInput("p1", "Los inquilinos no pueden ser desalojados.", "es", ["ARG"])])
>>> tags[0].components, tags[0].countries, tags[0].regions
(['security_of_tenure'], ['ARG'], ['latin_america_caribbean'])
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from housing_kb.ingest.embedders.base import Embedder
from housing_kb.ingest.tagging.components import ComponentClassifier
from housing_kb.ingest.tagging.geography import (
    GLOBAL_REGION,
    MATCHING_VERSION,
    Gazetteer,
    default_geo_dir,
    passage_geography,
    regions_for_countries,
)
from housing_kb.ingest.tagging.vocabulary import COMPONENT_KEYS, default_vocab_dir

__all__ = [
    "PassageTags",
    "TagInput",
    "Tagger",
    "aggregate_document_tags",
    "regions_for_countries",
]


@dataclass
class TagInput:
    """One passage to tag. ``document_countries`` are the ISO alpha-3 codes of its document."""

    id: str
    text: str
    language: str | None = None
    document_countries: list[str] = field(default_factory=list)


@dataclass
class PassageTags:
    """Tags of one passage; ``component_scores`` holds every component's score (chosen or not)."""

    components: list[str]
    countries: list[str]
    regions: list[str]
    component_scores: dict[str, float]


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.yaml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class Tagger:
    """Tags passages; the same code serves ingestion and ``housing-kb tag``.

    ``vocabulary_version`` hashes the vocabularies, the classifier settings (thresholds, weights),
    the gazetteer data and matching rules, and whether embeddings are used: a change means stored
    tags are stale.
    Re-tagging needs only the stored passage vectors, never a new embedding pass.
    """

    def __init__(self, embedder: Embedder | None = None, vocab_dir: Path | None = None):
        vocab_dir = vocab_dir or default_vocab_dir()
        self.embedder = embedder
        self.components = ComponentClassifier(embedder, vocab_dir)
        self.gazetteer = Gazetteer.default()
        mode = f"emb:{embedder.model_id}" if embedder is not None else "lexical"
        digest = hashlib.sha256(
            (_folder_digest(vocab_dir) + _folder_digest(default_geo_dir()) + MATCHING_VERSION + mode).encode()
        )
        self.vocabulary_version: str = digest.hexdigest()[:16]

    def tag(self, items: Sequence[TagInput], vectors: np.ndarray | None = None) -> list[PassageTags]:
        """Tags for ``items``. ``vectors`` are their stored "passage:" embeddings (L2-normalised, same
        embedder); when None and the tagger has an embedder they are computed; without an embedder the
        components come from the vocabularies alone (with their own thresholds)."""
        if vectors is not None and len(vectors) != len(items):
            raise ValueError(f"Tagger.tag: vectors has {len(vectors)} rows for {len(items)} items")
        texts = [item.text for item in items]
        decided = self.components.classify(texts, [item.language for item in items], vectors)
        out = []
        for item, (components, scores) in zip(items, decided, strict=True):
            geo = passage_geography(item.text, item.document_countries, self.gazetteer)
            out.append(PassageTags(components, geo.countries, geo.regions, scores))
        return out


def aggregate_document_tags(tags: Sequence[PassageTags]) -> dict:
    """Document-level aggregates of its passages' tags.

    Returns ``{"passages": n, "component_counts": {key: n}, "component_shares": {key: share},
    "components": [keys tagged on at least one passage, most frequent first], "countries": [...],
    "regions": [...]}``. Countries and regions are the union over passages (sorted); "global" is kept
    only when no passage has a real region.

    >>> agg = aggregate_document_tags([PassageTags(["affordability"], ["KEN"], ["africa"], {})])
    >>> agg["component_shares"]["affordability"], agg["regions"]
    (1.0, ['africa'])
    """
    n = len(tags)
    counts = Counter(c for t in tags for c in t.components)
    countries = sorted({c for t in tags for c in t.countries})
    regions = {r for t in tags for r in t.regions}
    if regions - {GLOBAL_REGION}:
        regions.discard(GLOBAL_REGION)
    return {
        "passages": n,
        "component_counts": {k: counts.get(k, 0) for k in COMPONENT_KEYS},
        "component_shares": {k: (counts.get(k, 0) / n if n else 0.0) for k in COMPONENT_KEYS},
        "components": [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))],
        "countries": countries,
        "regions": sorted(regions) if n else [],
    }
