"""The evidence-gap map of a topic: passage counts by region and adequacy component over the topic's
candidate pool, as a table and a heatmap."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from housing_kb.index.answers.extractive import (
    component_label,
    region_label,
)
from housing_kb.index.query.filters import COMPONENTS, Filters
from housing_kb.index.query.hits import Hit
from housing_kb.schema.vocabulary import REGIONS

if TYPE_CHECKING:
    from housing_kb.index.query.engine import SearchEngine


@dataclass
class GapMap:
    """Passages on a topic counted by region (rows) and adequacy component (columns)."""

    topic: str
    regions: list[str]
    components: list[str]
    counts: list[list[int]]
    #: Passages in the topic's candidate pool (a passage counts once per region and component it has).
    passages: int
    #: Pool passages carrying no component tag.
    untagged: int

    def cell(self, region: str, component: str) -> int:
        return self.counts[self.regions.index(region)][self.components.index(component)]

    def empty_cells(self) -> list[tuple[str, str]]:
        """(region, component) pairs with no passage: where the corpus is thin for this topic."""
        return [(r, c) for r in self.regions for c in self.components if self.cell(r, c) == 0]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "region_labels": {r: region_label(r) for r in self.regions},
            "component_labels": {c: component_label(c) for c in self.components},
        }


def gap_map_from_hits(topic: str, hits: list[Hit]) -> GapMap:
    """Cross-tabulate the hits' regions and components.

    >>> gap_map_from_hits("x", []).passages
    0
    """
    regions, components = list(REGIONS), list(COMPONENTS)
    counts = [[0] * len(components) for _ in regions]
    untagged = 0
    for h in hits:
        if not h.components:
            untagged += 1
        for r in h.regions or ["global"]:
            if r not in regions:
                continue
            for c in h.components:
                if c in components:
                    counts[regions.index(r)][components.index(c)] += 1
    return GapMap(topic, regions, components, counts, len(hits), untagged)


def topic_pool(
    engine: SearchEngine, topic: str, pool: int = 100, filters: Filters | None = None
) -> list[Hit]:
    """The topic's candidate pool: its ``pool`` best hybrid hits (the set /facets counts too)."""
    hits: list[Hit] = engine.search(topic, k=pool, filters=filters).hits
    return hits


def gap_map(engine: SearchEngine, topic: str, pool: int = 100, filters: Filters | None = None) -> GapMap:
    """The gap map of a topic's candidate pool.

    >>> gap_map(engine, "slum upgrading").cell("africa", "security_of_tenure")   # doctest: +SKIP
    12
    """
    return gap_map_from_hits(topic, topic_pool(engine, topic, pool, filters))


def short_component(key: str) -> str:
    label: str = component_label(key)
    return {"availability_of_services": "Services & infrastructure", "sustainability": "Sustainability"}.get(
        key, label
    )


def heatmap_png(gaps: GapMap, *, dpi: int = 150) -> bytes:
    """The gap map as a PNG heatmap: darker cells hold more passages, empty cells are marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in servers and threads that never touch pyplot
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.2, 3.9), dpi=dpi)
    ax = fig.subplots()
    data = gaps.counts
    peak = max((v for row in data for v in row), default=0) or 1
    image = ax.imshow(data, cmap="YlGnBu", vmin=0, vmax=peak, aspect="auto")
    for i, row in enumerate(data):
        for j, value in enumerate(row):
            colour = "white" if value > peak * 0.6 else ("#b0413e" if value == 0 else "#1b2a3a")
            ax.text(j, i, str(value) if value else "0", ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(gaps.components)))
    ax.set_xticklabels([short_component(c) for c in gaps.components], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(gaps.regions)))
    ax.set_yticklabels([region_label(r) for r in gaps.regions], fontsize=8)
    ax.set_title(f"Passages on “{gaps.topic}” by region and adequacy component", fontsize=10, loc="left")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    bar.ax.tick_params(labelsize=7)
    bar.set_label("passages", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
