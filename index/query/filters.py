"""Exact metadata filters and facet counts over an in-memory table of the passages.

At open, every passage's filterable fields are packed into numpy arrays (one row per passage):
components and regions as bit masks, language / document type / document as small integer codes,
year, and an inverted list per country. A filter is then a few vectorised comparisons that yield
the exact set of allowed passage ids, which the dense and lexical channels apply *inside* their
search (PITFALLS 1: a filtered query never returns a hit outside the filter, nor fewer hits than
exist).

Tags degrade gracefully: a passage not tagged yet uses its document's countries and regions.

>>> table = FilterTable.from_store(store)                         # doctest: +SKIP
>>> table.allowed_ids(Filters(regions=["africa"])).size           # doctest: +SKIP
1204
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from housing_kb.index.protocols import PassageFields, ServedIndex
from housing_kb.schema.vocabulary import (
    COMPONENT_KEYS,
    DEFAULT_KINDS,
    DOCUMENT_TYPES,
    KINDS,
    REGIONS,
    STAGE_KEYS,
    is_country_code,
    is_language_code,
)

# One source of truth for each vocabulary: the tagger's component and stage keys, the manifest's
# regions (which include "global") and document types.
COMPONENTS = COMPONENT_KEYS
#: Filters whose passage ids a table keeps (a search's own, and each language's).
ALLOWED_CACHE = 256
STAGES = STAGE_KEYS
#: Values one filter parameter may repeat: more than any real question needs (there are 249 countries,
#: but a request listing them all is a scan, not a filter), few enough to bound the work per request.
MAX_FILTER_VALUES = 50

#: The ``kind`` value that lifts the default (body only) and admits every passage type.
ALL_KINDS = "all"


class InvalidFilter(ValueError):
    """An unknown filter value; the message lists the valid ones."""

    def __init__(self, parameter: str, value: str, valid: Iterable[str], message: str | None = None) -> None:
        self.parameter = parameter
        self.value = value
        self.valid = sorted(valid)
        if message is None:
            shown = repr(value) if len(value) <= 40 else repr(value[:39] + "…")
            what = f"an empty {parameter} value" if not value.strip() else f"unknown {parameter} {shown}"
            message = f"{what}; valid values: {', '.join(self.valid)}"
        super().__init__(message)


@dataclass
class Filters:
    """Filter values; OR within a field, AND across fields. Empty means no restriction."""

    components: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    document_types: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    document_ids: list[str] = field(default_factory=list)
    year_from: int | None = None
    year_to: int | None = None
    stages: list[str] = field(default_factory=list)
    #: With a component or stage filter: a passage passes when the tagger's probability for one of
    #: the asked labels is at least this (instead of the label's own tagging threshold).
    min_confidence: float | None = None
    #: Passage types to admit; empty means the default, body text only ("all": every type).
    kinds: list[str] = field(default_factory=list)
    #: Restrictions the search engine adds for a query's place intent (never set by the API):
    #: passages of documents about one of these countries (manifest metadata), and passages that
    #: name one of these regions in their text (index/query/intent.py).
    document_countries: list[str] = field(default_factory=list)
    named_regions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # ISO codes are matched upper-case whoever builds the filter (API, CLI, code)
        self.countries = [c.upper() for c in self.countries]

    @classmethod
    def from_params(
        cls,
        *,
        component: list[str] | None = None,
        region: list[str] | None = None,
        country: list[str] | None = None,
        document_type: list[str] | None = None,
        language: list[str] | None = None,
        year_from: int | None = None,
        year_to: int | None = None,
        stage: list[str] | None = None,
        min_confidence: float | None = None,
        kind: list[str] | None = None,
    ) -> Filters:
        """From the API's and CLI's parameter names (singular, repeatable).

        >>> Filters.from_params(country=["ken"]).countries
        ['KEN']
        """
        return cls(
            components=list(component or []),
            regions=list(region or []),
            countries=list(country or []),
            document_types=list(document_type or []),
            languages=list(language or []),
            year_from=year_from,
            year_to=year_to,
            stages=list(stage or []),
            min_confidence=min_confidence,
            kinds=list(kind or []),
        )

    @property
    def admitted_kinds(self) -> tuple[str, ...]:
        """The passage types this filter lets through."""
        if ALL_KINDS in self.kinds:
            return KINDS
        return tuple(self.kinds) or DEFAULT_KINDS

    def is_empty(self) -> bool:
        """No restriction besides the default passage type."""
        return not (
            set(self.admitted_kinds) != set(DEFAULT_KINDS)
            or self.components
            or self.stages
            or self.regions
            or self.countries
            or self.document_types
            or self.languages
            or self.document_ids
            or self.year_from is not None
            or self.year_to is not None
            or self.document_countries
            or self.named_regions
        )


def _mask(values: Iterable[str], vocabulary: Sequence[str]) -> int:
    m = 0
    for v in values:
        if v in vocabulary:
            m |= 1 << vocabulary.index(v)
    return m


class FilterTable:
    """Filterable fields of every passage, packed for fast exact filtering and faceting."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.component_mask = np.zeros(0, dtype=np.uint16)
        self.stage_mask = np.zeros(0, dtype=np.uint16)
        #: The tagger's probability per passage and label (NaN: not tagged by the learned tagger).
        self.component_prob = np.zeros((0, len(COMPONENTS)), dtype=np.float16)
        self.stage_prob = np.zeros((0, len(STAGES)), dtype=np.float16)
        self.region_mask = np.zeros(0, dtype=np.uint16)
        self.language = np.zeros(0, dtype=np.int16)
        self.doc_type = np.zeros(0, dtype=np.int16)
        self.doc = np.zeros(0, dtype=np.int32)
        self.year = np.zeros(0, dtype=np.int32)  # 0 = unknown
        self.kind = np.zeros(0, dtype=np.int8)  # index into KINDS
        #: Rows a search shows without a kind filter (their kind is one of DEFAULT_KINDS).
        self.shown = np.zeros(0, dtype=bool)
        self.languages: list[str] = []
        self.doc_ids: list[str] = []
        self.country_rows: dict[str, np.ndarray] = {}
        #: Rows whose *document* is about a country (manifest metadata), for query place intent.
        self.doc_country_rows: dict[str, np.ndarray] = {}
        self.row_countries: list[tuple[str, ...]] = []
        self.tagged = False
        self._row_of: dict[int, int] = {}
        #: Sorted ids of the passages naming a region, for ``Filters.named_regions`` (set by the
        #: engine's view, which caches them per generation).
        self.named_region_ids: Callable[[str], np.ndarray] | None = None
        #: allowed_ids per filter: a search asks each channel with the same few filters, and the
        #: per-language lists repeat them across queries.
        self._allowed: dict[str, np.ndarray | None] = {}

    @classmethod
    def from_store(cls, store: ServedIndex) -> FilterTable:
        table = cls()
        docs = {d.doc_id: d for d in store.documents()}
        table.doc_ids = sorted(docs)
        doc_index = {d: i for i, d in enumerate(table.doc_ids)}
        rows = list(
            store.iter_passages(
                "id, doc_id, language, components, countries, regions, tags_version, component_scores, "
                "stages, stage_scores, kind"
            )
        )
        n = len(rows)
        table.ids = np.fromiter((r["id"] for r in rows), dtype=np.int64, count=n)
        table.component_mask = np.zeros(n, dtype=np.uint16)
        table.stage_mask = np.zeros(n, dtype=np.uint16)
        table.component_prob = np.full((n, len(COMPONENTS)), np.nan, dtype=np.float16)
        table.stage_prob = np.full((n, len(STAGES)), np.nan, dtype=np.float16)
        table.region_mask = np.zeros(n, dtype=np.uint16)
        table.language = np.zeros(n, dtype=np.int16)
        table.doc_type = np.zeros(n, dtype=np.int16)
        table.doc = np.zeros(n, dtype=np.int32)
        table.year = np.zeros(n, dtype=np.int32)
        table.kind = np.fromiter(
            (KINDS.index(r["kind"]) if r["kind"] in KINDS else 0 for r in rows), dtype=np.int8, count=n
        )
        table.shown = np.isin(table.kind, [KINDS.index(k) for k in DEFAULT_KINDS])
        lang_codes: dict[str, int] = {}
        country_lists: dict[str, list[int]] = {}
        doc_country_lists: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            d = docs[r["doc_id"]]
            tagged = r["tags_version"] is not None
            table.tagged = table.tagged or tagged
            countries = r["countries"] if tagged else list(d.countries)
            regions = r["regions"] if tagged else list(d.regions)
            table.component_mask[i] = _mask(r["components"], COMPONENTS)
            table.stage_mask[i] = _mask(r["stages"], STAGES)
            for matrix, keys, scores in (
                (table.component_prob, COMPONENTS, r["component_scores"]),
                (table.stage_prob, STAGES, r["stage_scores"]),
            ):
                matrix[i] = [scores.get(k, np.nan) for k in keys]
            table.region_mask[i] = _mask(regions, REGIONS)
            table.language[i] = lang_codes.setdefault(r["language"], len(lang_codes))
            table.doc_type[i] = (
                DOCUMENT_TYPES.index(d.document_type) if d.document_type in DOCUMENT_TYPES else 0
            )
            table.doc[i] = doc_index[r["doc_id"]]
            table.year[i] = d.year or 0
            table.row_countries.append(tuple(countries))
            for c in countries:
                country_lists.setdefault(c, []).append(i)
            for c in d.countries:
                doc_country_lists.setdefault(c.upper(), []).append(i)
        table.languages = sorted(lang_codes, key=lang_codes.__getitem__)
        table.country_rows = {c: np.asarray(v, dtype=np.int64) for c, v in country_lists.items()}
        table.doc_country_rows = {c: np.asarray(v, dtype=np.int64) for c, v in doc_country_lists.items()}
        table._row_of = {int(pid): i for i, pid in enumerate(table.ids)}
        return table

    def __len__(self) -> int:
        return len(self.ids)

    # ------------------------------------------------------------------ validation
    def validate(self, f: Filters) -> None:
        """Raise InvalidFilter naming the parameter and listing the valid values."""
        for parameter, values in (
            ("component", f.components),
            ("stage", f.stages),
            ("kind", f.kinds),
            ("region", f.regions),
            ("document_type", f.document_types),
            ("country", f.countries),
            ("language", f.languages),
        ):
            if len(values) > MAX_FILTER_VALUES:
                raise InvalidFilter(
                    parameter,
                    "",
                    [],
                    f"{parameter} is given {len(values)} times; at most {MAX_FILTER_VALUES} values per filter",
                )
        for parameter, values, valid in (  # the closed vocabularies
            ("component", f.components, COMPONENTS),
            ("stage", f.stages, STAGES),
            ("kind", f.kinds, [*KINDS, ALL_KINDS]),
            ("region", f.regions, REGIONS),
            ("document_type", f.document_types, DOCUMENT_TYPES),
        ):
            for value in values:
                if value not in valid:
                    raise InvalidFilter(parameter, value, valid)
        if f.min_confidence is not None and not 0.0 <= f.min_confidence <= 1.0:
            raise InvalidFilter(
                "min_confidence", str(f.min_confidence), [], "min_confidence must be in [0, 1]"
            )
        # A country or language that exists but has no passage here is a valid filter with no hits;
        # one that does not exist ("BRZ", "cn", "") is a mistake, named with the values this index has.
        for c in f.countries:
            if not is_country_code(c):
                raise InvalidFilter("country", c, sorted(self.country_rows) or ["<ISO 3166 alpha-3 code>"])
        for lang in f.languages:
            if lang not in self.languages and not is_language_code(lang):
                raise InvalidFilter("language", lang, self.languages)
        if f.year_from is not None and f.year_to is not None and f.year_from > f.year_to:
            raise InvalidFilter(
                "year_from", str(f.year_from), [], f"year_from {f.year_from} is after year_to {f.year_to}"
            )

    # ------------------------------------------------------------------ filtering
    def row_mask(self, f: Filters) -> np.ndarray:
        admitted = set(f.admitted_kinds)
        if admitted == set(DEFAULT_KINDS):
            keep = self.shown.copy()
        elif admitted == set(KINDS):
            keep = np.ones(len(self.ids), dtype=bool)
        else:
            keep = np.isin(self.kind, [KINDS.index(k) for k in admitted])
        for asked, keys, mask, prob in (
            (f.components, COMPONENTS, self.component_mask, self.component_prob),
            (f.stages, STAGES, self.stage_mask, self.stage_prob),
        ):
            if not asked:
                continue
            if f.min_confidence is None:
                keep &= (mask & _mask(asked, keys)) != 0
            else:
                columns = [keys.index(k) for k in asked]
                keep &= (
                    np.nan_to_num(prob[:, columns].astype(np.float32), nan=0.0).max(axis=1)
                    >= f.min_confidence
                )
        if f.regions:
            keep &= (self.region_mask & _mask(f.regions, REGIONS)) != 0
        if f.document_types:
            codes = [DOCUMENT_TYPES.index(t) for t in f.document_types]
            keep &= np.isin(self.doc_type, codes)
        if f.languages:
            codes = [self.languages.index(lang) for lang in f.languages if lang in self.languages]
            keep &= np.isin(self.language, codes)
        if f.document_ids:
            codes = [self.doc_ids.index(d) for d in f.document_ids if d in self.doc_ids]
            keep &= np.isin(self.doc, codes)
        if f.year_from is not None:
            keep &= (self.year != 0) & (self.year >= f.year_from)
        if f.year_to is not None:
            keep &= (self.year != 0) & (self.year <= f.year_to)
        for countries, by_country in (
            (f.countries, self.country_rows),
            (f.document_countries, self.doc_country_rows),
        ):
            if countries:
                in_country = np.zeros(len(self.ids), dtype=bool)
                for c in countries:
                    rows = by_country.get(c.upper())
                    if rows is not None:
                        in_country[rows] = True
                keep &= in_country
        if f.named_regions:
            if self.named_region_ids is None:
                raise ValueError(
                    "named_regions needs the engine's region mentions (FilterTable.named_region_ids)"
                )
            naming = np.concatenate([self.named_region_ids(r) for r in f.named_regions])
            keep &= np.isin(self.ids, naming)
        return keep

    def passage_fields(self) -> list[PassageFields]:
        """Every passage's filterable fields, as a backend that filters on its own copy stores them
        (``index/protocols.py``); the same values this table filters on."""
        doc_countries: list[list[str]] = [[] for _ in self.ids]
        for country, rows in self.doc_country_rows.items():
            for r in rows.tolist():
                doc_countries[r].append(country)
        named: list[list[str]] = [[] for _ in self.ids]
        if self.named_region_ids is not None:
            for region in REGIONS:
                for r in np.searchsorted(self.ids, self.named_region_ids(region)).tolist():
                    named[r].append(region)

        def labels(mask: int, keys: Sequence[str]) -> list[str]:
            return [name for b, name in enumerate(keys) if mask >> b & 1]

        def probabilities(row: np.ndarray, keys: Sequence[str]) -> dict[str, float]:
            return {k: float(p) for k, p in zip(keys, row.tolist(), strict=True) if p == p}  # NaN: untagged

        return [
            PassageFields(
                id=int(self.ids[i]),
                doc_id=self.doc_ids[self.doc[i]],
                language=self.languages[self.language[i]],
                kind=KINDS[self.kind[i]],
                document_type=DOCUMENT_TYPES[self.doc_type[i]],
                year=int(self.year[i]),
                countries=list(self.row_countries[i]),
                doc_countries=sorted(doc_countries[i]),
                regions=labels(int(self.region_mask[i]), REGIONS),
                named_regions=named[i],
                components=labels(int(self.component_mask[i]), COMPONENTS),
                stages=labels(int(self.stage_mask[i]), STAGES),
                component_prob=probabilities(self.component_prob[i], COMPONENTS),
                stage_prob=probabilities(self.stage_prob[i], STAGES),
            )
            for i in range(len(self.ids))
        ]

    def shown_by_default(self, rows: np.ndarray) -> np.ndarray:
        """Those of these rows whose passage type a search shows without a kind filter."""
        shown: np.ndarray = rows[self.shown[rows]]
        return shown

    def document_country_ids(self, countries: Iterable[str], within: np.ndarray | None = None) -> np.ndarray:
        """Passage ids of documents about any of these countries, optionally only those in ``within``."""
        keep = np.zeros(len(self.ids), dtype=bool)
        for c in countries:
            rows = self.doc_country_rows.get(c.upper())
            if rows is not None:
                keep[rows] = True
        ids = self.ids[keep]
        if within is not None:
            ids = np.intersect1d(ids, within, assume_unique=True)
        return ids

    def allowed_ids(self, f: Filters) -> np.ndarray | None:
        """Passage ids passing the filters, or None when every passage does."""
        if f.is_empty() and bool(self.shown.all()):
            return None
        key = repr(f)
        cached = self._allowed.get(key)
        if cached is None:
            if len(self._allowed) >= ALLOWED_CACHE:
                self._allowed.clear()
            cached = self._allowed[key] = self.ids[self.row_mask(f)]
        return cached

    def documents_of(self, passage_ids: Iterable[int]) -> dict[int, str]:
        """The document id of each of these passages (those in the table)."""
        out = {}
        for pid in passage_ids:
            row = self._row_of.get(int(pid))
            if row is not None:
                out[int(pid)] = self.doc_ids[int(self.doc[row])]
        return out

    # ------------------------------------------------------------------ facets
    def facets(self, passage_ids: Sequence[int]) -> dict[str, dict[str, int]]:
        """Counts per component, stage, region, country, document type, language, year and passage
        kind over these passages."""
        rows = [self._row_of[int(p)] for p in passage_ids if int(p) in self._row_of]
        out: dict[str, Counter[str]] = {
            k: Counter()
            for k in ("component", "stage", "region", "country", "document_type", "language", "year", "kind")
        }
        for i in rows:
            cm, rm, sm = int(self.component_mask[i]), int(self.region_mask[i]), int(self.stage_mask[i])
            for b, name in enumerate(COMPONENTS):
                if cm >> b & 1:
                    out["component"][name] += 1
            for b, name in enumerate(STAGES):
                if sm >> b & 1:
                    out["stage"][name] += 1
            for b, name in enumerate(REGIONS):
                if rm >> b & 1:
                    out["region"][name] += 1
            for c in self.row_countries[i]:
                out["country"][c] += 1
            out["document_type"][DOCUMENT_TYPES[self.doc_type[i]]] += 1
            out["language"][self.languages[self.language[i]]] += 1
            if self.year[i]:
                out["year"][str(int(self.year[i]))] += 1
            out["kind"][KINDS[self.kind[i]]] += 1
        return {k: dict(v.most_common()) for k, v in out.items()}
