"""The passage tagger: adequacy components, supply-chain stages, countries and UN-Habitat regions.

Components and stages come from the learned taggers (ingest/tagging/learned.py: logistic regressions
over the passage's stored e5 and USE vectors and the vocabularies' lexical evidence, fitted on
evaluation/data/tags_train.jsonl); countries and regions from the gazetteer (housing_kb/text/geography/).

>>> tagger = Tagger()                                   # lexical features only; pass the embedders for all
>>> tags = tagger.tag([TagInput("p1", "Los inquilinos no pueden ser desalojados.", "es", ["ARG"])])
>>> tags[0].countries, tags[0].regions
(['ARG'], ['latin_america_caribbean'])
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from housing_kb.ingest.tagging.components import ComponentClassifier
from housing_kb.ingest.tagging.learned import TaggerModel, default_model_dir, features, variant_for
from housing_kb.ingest.tagging.vocabulary import default_vocab_dir
from housing_kb.models.base import Embedder
from housing_kb.schema.records import PassageTagsRecord
from housing_kb.schema.vocabulary import COMPONENT_KEYS
from housing_kb.text.geography import (
    GLOBAL_REGION,
    MATCHING_VERSION,
    Gazetteer,
    default_geo_dir,
    passage_geography,
    regions_for_countries,
)

__all__ = [
    "PassageTagsRecord",
    "TagInput",
    "Tagger",
    "aggregate_document_tags",
    "regions_for_countries",
]

log = logging.getLogger("housing_kb.tagging")


@dataclass
class TagInput:
    """One passage to tag. ``document_countries`` are the ISO alpha-3 codes of its document."""

    id: str
    text: str
    language: str | None = None
    document_countries: list[str] = field(default_factory=list)


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.yaml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class Tagger:
    """Tags passages; the same code serves ingestion, ``housing-kb retag`` and ``housing-kb tag``.

    ``vocabulary_version`` hashes the model files, the vocabularies (lexical features), the gazetteer
    data and matching rules, and which feature set is used: a change means stored tags are stale.
    Re-tagging needs only the stored passage vectors, never a new embedding pass.
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        vocab_dir: Path | None = None,
        *,
        secondary: Embedder | None = None,
        model_dir: Path | None = None,
    ):
        vocab_dir = vocab_dir or default_vocab_dir()
        self.model = TaggerModel.load(model_dir or default_model_dir())
        trained = self.model.info.get("models", {})
        # The fitted weights read vectors of the models they were trained on; other vectors are left out.
        self.embedder = embedder if embedder is not None and embedder.model_id == trained.get("e5") else None
        self.secondary = (
            secondary if self.embedder and secondary and secondary.model_id == trained.get("use") else None
        )
        if embedder is not None and self.embedder is None:
            log.warning(
                "tagger trained on %s vectors, not %s: tagging from the vocabularies only",
                trained.get("e5"),
                embedder.model_id,
            )
        self.components = ComponentClassifier(None, vocab_dir)  # lexical features and their terms
        self.gazetteer = Gazetteer.default()
        #: The second channel's model whose stored vectors the full model reads (the index's USE vectors
        #: serve even when no USE embedder is loaded).
        self.use_model_id: str | None = trained.get("use")
        # the best feature set this tagger can use; passages without USE vectors get the e5 model
        self.variant = "full" if self.embedder else "lexical"
        digest = hashlib.sha256(
            (
                _folder_digest(vocab_dir)
                + _folder_digest(default_geo_dir())
                + MATCHING_VERSION
                + self.model.stamp
                + self.variant
            ).encode()
        )
        self.vocabulary_version: str = digest.hexdigest()[:16]

    def tag(
        self,
        items: Sequence[TagInput],
        vectors: np.ndarray | None = None,
        vectors2: np.ndarray | None = None,
        *,
        second_channel: bool = True,
    ) -> list[PassageTagsRecord]:
        """Tags for ``items``. ``vectors`` and ``vectors2`` are their stored e5 and USE passage vectors;
        when None and the tagger has the embedder they are computed. ``second_channel=False`` tags
        without USE vectors (an index whose second channel is missing some)."""
        for name, given in (("vectors", vectors), ("vectors2", vectors2)):
            if given is not None and len(given) != len(items):
                raise ValueError(f"Tagger.tag: {name} has {len(given)} rows for {len(items)} items")
        texts = [item.text for item in items]
        if not texts:
            return []
        e5 = use = None
        if self.embedder is not None:
            e5 = vectors if vectors is not None else self.embedder.embed_passages(texts)
        if e5 is not None and second_channel:
            if vectors2 is not None:
                use = vectors2
            elif self.secondary is not None:
                use = self.secondary.embed_passages(texts)
        lexical = self.components.lexical_scores(texts, [item.language for item in items])
        x = features(e5, use, lexical)
        variant = variant_for(e5, use)
        probs = {t: self.model.model(t, variant).probabilities(x) for t in ("components", "stages")}
        decided = {t: self.model.model(t, variant).decide(probs[t]) for t in probs}
        stage_keys = self.model.model("stages", variant).labels
        out = []
        for n, item in enumerate(items):
            geo = passage_geography(item.text, item.document_countries, self.gazetteer)
            out.append(
                PassageTagsRecord(
                    components=decided["components"][n],
                    countries=geo.countries,
                    regions=geo.regions,
                    component_scores={
                        k: round(float(p), 4)
                        for k, p in zip(COMPONENT_KEYS, probs["components"][n], strict=True)
                    },
                    stages=decided["stages"][n],
                    stage_scores={
                        k: round(float(p), 4) for k, p in zip(stage_keys, probs["stages"][n], strict=True)
                    },
                )
            )
        return out

    def evidence(self, text: str, language: str | None) -> dict[str, list[str]]:
        """The vocabulary terms found in ``text``, per component: what a hit shows as support for a tag."""
        return self.components.terms(text, language)


def aggregate_document_tags(tags: Sequence[PassageTagsRecord]) -> dict:
    """Document-level aggregates of its passages' tags.

    Returns ``{"passages": n, "component_counts": {key: n}, "component_shares": {key: share},
    "components": [keys tagged on at least one passage, most frequent first], "countries": [...],
    "regions": [...]}``. Countries and regions are the union over passages (sorted); "global" is kept
    only when no passage has a real region.

    >>> agg = aggregate_document_tags([PassageTagsRecord(["affordability"], ["KEN"], ["africa"], {})])
    >>> agg["component_shares"]["affordability"], agg["regions"]
    (1.0, ['africa'])
    """
    n = len(tags)
    counts = Counter(c for t in tags for c in t.components)
    stages = Counter(s for t in tags for s in t.stages)
    countries = sorted({c for t in tags for c in t.countries})
    regions = {r for t in tags for r in t.regions}
    if regions - {GLOBAL_REGION}:
        regions.discard(GLOBAL_REGION)
    return {
        "passages": n,
        "component_counts": {k: counts.get(k, 0) for k in COMPONENT_KEYS},
        "component_shares": {k: (counts.get(k, 0) / n if n else 0.0) for k in COMPONENT_KEYS},
        "components": [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))],
        "stage_counts": dict(sorted(stages.items())),
        "countries": countries,
        "regions": sorted(regions) if n else [],
    }
