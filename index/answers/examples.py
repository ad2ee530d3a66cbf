"""Comparable country examples: the best passages on a topic from countries other than a reference.

The reference is a country, a region, a component or a passage (whose countries, regions and
components then serve). Candidates come from the hybrid search; passages about a reference country
and passages that name no country are set aside. The rest are picked by maximal marginal relevance
over their stored vectors, with at most ``per_country`` from any one country, so a single verbose
document cannot fill the list.

>>> result = find_examples(engine, "slum upgrading", country="KEN", per_country=1)   # doctest: +SKIP
>>> [e.country for e in result.examples]                                             # doctest: +SKIP
['UGA', 'BOL', 'FJI']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from housing_kb.index.answers.countries import context_sources, latest_figures
from housing_kb.index.answers.extractive import Citation, PageCache, country_name, passage_sentences
from housing_kb.index.lexical.analysis import analyze, analyze_query
from housing_kb.index.query.filters import COMPONENTS, Filters
from housing_kb.index.query.hits import Hit
from housing_kb.schema.vocabulary import REGIONS
from housing_kb.text.geography import country_regions

if TYPE_CHECKING:
    from housing_kb.index.query.engine import SearchEngine

#: Longest excerpt built by joining a passage's best sentence with the ones after it.
EXCERPT_CHARS = 450


class ExampleRequestError(ValueError):
    """A reference that cannot be used (unknown passage, country code, region or component)."""


@dataclass
class ExampleReference:
    """What the examples are compared with."""

    countries: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    passage_id: str | None = None
    document_id: str | None = None


@dataclass
class Example:
    country: str
    country_name: str
    region: str
    components: list[str]
    excerpt: str
    language: str
    relevance: float
    citation: Citation
    #: The country's latest SDG housing figures (series -> value with year, or None: no data).
    figures: dict[str, dict[str, Any] | None] = field(default_factory=dict)


@dataclass
class ExamplesResult:
    query: str
    reference: ExampleReference
    per_country: int
    same_region: bool
    shared_components: bool
    examples: list[Example]
    #: Source lines of the figures beside each example.
    figure_sources: list[str] = field(default_factory=list)

    @property
    def countries(self) -> list[str]:
        return list(dict.fromkeys(e.country for e in self.examples))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"countries": self.countries}


def example_country(hit: Hit, exclude: set[str]) -> str | None:
    """The country a passage exemplifies: one it names that is also its document's, else the first
    it names; None when that is a reference country or when it names none."""
    named = [c for c in hit.countries if c not in exclude]
    if not named or any(c in exclude for c in hit.document.countries if c in hit.countries):
        return None
    own = [c for c in named if c in hit.document.countries]
    country: str = (own or named)[0]
    return country


def best_excerpt(hit: Hit, query: str, pages: PageCache) -> tuple[str, int | None]:
    """A verbatim excerpt of the passage around its sentence sharing most terms with the query."""
    sentences = passage_sentences(hit, pages)
    if not sentences:
        first = hit.text.strip().split("\n")[0][:EXCERPT_CHARS].strip()
        return first, hit.page_start
    qterms = set(analyze_query(query))
    overlaps = [len(qterms & set(analyze(s.text, hit.language))) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: (overlaps[i], -i))
    start = sentences[best]
    end = start.char_offset + len(start.text)
    page_text = next(
        p.text for p in pages.pages(hit.document.id) if p.number == start.page and start.text in p.text
    )
    for nxt in sentences[best + 1 :]:
        gap = page_text[end : nxt.char_offset] if nxt.page == start.page else "x"
        new_end = nxt.char_offset + len(nxt.text)
        if gap.strip() or nxt.char_offset < end or new_end - start.char_offset > EXCERPT_CHARS:
            break
        end = new_end
    return page_text[start.char_offset : end], start.page


def mmr_order(
    relevance: np.ndarray, vectors: np.ndarray, keys: list[str], per_key: int, k: int, lam: float
) -> list[int]:
    """Indices chosen by maximal marginal relevance, at most ``per_key`` per key.

    >>> v = np.eye(3, dtype=np.float32); mmr_order(np.array([0.9, 0.8, 0.7]), v, ["a", "a", "b"], 1, 3, 0.7)
    [0, 2]
    """
    chosen: list[int] = []
    used: dict[str, int] = {}
    remaining = list(range(len(relevance)))
    while remaining and len(chosen) < k:
        best, best_score = None, -np.inf
        for i in remaining:
            if used.get(keys[i], 0) >= per_key:
                continue
            redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            score = lam * float(relevance[i]) - (1 - lam) * redundancy
            if score > best_score:
                best, best_score = i, score
        if best is None:
            break
        chosen.append(best)
        used[keys[best]] = used.get(keys[best], 0) + 1
        remaining.remove(best)
    return chosen


def _relevance(cosine: np.ndarray) -> np.ndarray:
    """Relevance for MMR: half the min-max-stretched cosine, half the hybrid rank (candidates come in
    fused order). e5 cosines sit in a band a few hundredths wide, while passages are 0.75-0.95
    similar to each other, so raw cosines would let the redundancy term decide everything.

    >>> _relevance(np.array([0.84, 0.80, 0.82])).round(2).tolist()
    [1.0, 0.33, 0.42]
    """
    lo, hi = float(cosine.min()), float(cosine.max())
    stretched = (cosine - lo) / (hi - lo) if hi > lo else np.ones_like(cosine)
    rank = 1.0 - np.arange(len(cosine)) / max(len(cosine), 1)
    return 0.5 * stretched + 0.5 * rank


def _reference(
    engine: SearchEngine,
    country: str | None,
    region: str | None,
    component: str | None,
    passage_id: str | None,
) -> tuple[ExampleReference, Hit | None]:
    ref = ExampleReference()
    anchor = None
    if passage_id:
        passage = engine.passages.passage(passage_id)
        anchor = None if passage is None else engine.hit(passage)
        if anchor is None:
            raise ExampleRequestError(f"passage_id: no passage with id {passage_id!r}")
        ref.passage_id, ref.document_id = anchor.passage_id, anchor.document.id
        ref.countries = list(dict.fromkeys(anchor.countries + anchor.document.countries))
        ref.regions = [r for r in anchor.regions if r != "global"]
        ref.components = list(anchor.components)
    if country:
        code = country.strip().upper()
        if code not in country_regions():
            raise ExampleRequestError(f"country: {country!r} is not an ISO 3166 alpha-3 code")
        ref.countries = list(dict.fromkeys([code, *ref.countries]))
        ref.regions = list(dict.fromkeys([country_regions()[code], *ref.regions]))
    if region:
        if region not in REGIONS:
            raise ExampleRequestError(f"region: unknown {region!r}; valid values: {', '.join(REGIONS)}")
        ref.regions = list(dict.fromkeys([region, *ref.regions]))
    if component:
        if component not in COMPONENTS:
            raise ExampleRequestError(
                f"component: unknown {component!r}; valid values: {', '.join(COMPONENTS)}"
            )
        ref.components = list(dict.fromkeys([component, *ref.components]))
    return ref, anchor


def _country_components(engine: SearchEngine, query: str, countries: list[str]) -> list[str]:
    """Components of the reference countries' own passages on the topic (their top five)."""
    hits = engine.search(query, k=5, filters=Filters(countries=countries)).hits
    return list(dict.fromkeys(c for h in hits for c in h.components))


def find_examples(
    engine: SearchEngine,
    query: str | None = None,
    *,
    country: str | None = None,
    region: str | None = None,
    component: str | None = None,
    passage_id: str | None = None,
    per_country: int = 2,
    k: int = 10,
    same_region: bool = False,
    shared_components: bool = False,
    diversity: float = 0.3,
    pool: int = 100,
) -> ExamplesResult:
    """Examples on ``query`` (or on the reference passage's text) from other countries.

    ``component`` restricts examples to that component; ``shared_components`` to the reference's
    components (a passage's tags, or those of the reference countries' passages on the topic);
    ``same_region`` to the reference's regions. ``diversity`` is 1 - lambda of MMR.
    """
    if not (query and query.strip()) and not passage_id:
        raise ExampleRequestError("q: give a topic or question, or a passage_id")
    ref, anchor = _reference(engine, country, region, component, passage_id)
    text = query.strip() if query and query.strip() else anchor.text  # type: ignore[union-attr]
    if shared_components and not ref.components and ref.countries:
        ref.components = _country_components(engine, text, ref.countries)
    if same_region and not ref.regions:
        raise ExampleRequestError(
            "same_region: needs a reference country, region or passage_id with a region"
        )
    wanted_components = ref.components if (shared_components or component) else []
    if component and not shared_components:
        wanted_components = [component]
    filters = Filters(regions=ref.regions if same_region else [], components=wanted_components)
    hits = engine.search(text, k=pool, filters=filters).hits
    exclude = set(ref.countries)
    keep: list[tuple[Hit, str]] = []
    for hit in hits:
        if anchor is not None and hit.document.id == anchor.document.id:
            continue
        c = example_country(hit, exclude)
        if c is not None:
            keep.append((hit, c))
    if not keep:
        return ExamplesResult(text, ref, per_country, same_region, shared_components, [])
    vectors = engine.store.vectors_for([h.internal_id for h, _ in keep])
    qvec = engine.query_vector(text) if query and query.strip() else None
    if anchor is not None:
        pvec = engine.store.vectors_for([anchor.internal_id])[0]
        qvec = pvec if qvec is None else (qvec + pvec) / np.linalg.norm(qvec + pvec)
    cosine = vectors @ np.asarray(qvec, dtype=np.float32)
    order = mmr_order(_relevance(cosine), vectors, [c for _, c in keep], per_country, k, 1.0 - diversity)
    pages = PageCache(engine.passages)
    region_of = country_regions()
    examples = []
    for i in order:
        hit, c = keep[i]
        excerpt, page = best_excerpt(hit, text, pages)
        examples.append(
            Example(
                country=c,
                country_name=country_name(c),
                region=region_of.get(c, hit.regions[0] if hit.regions else "global"),
                components=list(hit.components),
                excerpt=excerpt,
                language=hit.language,
                relevance=round(float(cosine[i]), 4),
                citation=Citation.from_hit(hit, page),
                figures=latest_figures(engine.country_data, c),
            )
        )
    return ExamplesResult(
        text, ref, per_country, same_region, shared_components, examples, context_sources(engine.country_data)
    )
