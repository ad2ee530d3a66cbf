"""Milvus as the distributed engine behind the index protocols (``index/protocols.py``).

Each search channel is one collection, ``<prefix>_<channel>``: ``e5`` and ``use`` hold dense
vectors, ``bm25`` holds sparse vectors of BM25 term weights computed by our own per-language
analysers (``index/lexical/analysis.py``), so Arabic, Chinese and Russian keep their analysis. Every
collection carries every filterable field (``PassageFields``), so a filter is pushed down as a
Milvus boolean expression (:func:`expression`) and never as an id list; the e5 collection also
carries each passage's text and citation fields. A dense channel made language-neutral keeps the
directions it projects out in ``<prefix>_<channel>_basis``, so a query is projected the same way by
any server: a server holds no index state of its own.

The same code talks to milvus-lite (a local ``.db`` file: the tests, one machine) and to a Milvus
standalone or cluster deployment (``http://host:19530`` with a token): see docs/architecture.md.

>>> print(expression(Filters(countries=["KEN"], year_from=2010, kinds=["all"])))
array_contains_any(countries, ["KEN"]) and year >= 2010
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from pymilvus import DataType, MilvusClient

from housing_kb.index.dense.language_neutral import project_out
from housing_kb.index.lexical.analysis import analyze_query
from housing_kb.index.protocols import PassageFields
from housing_kb.index.query.filters import Filters
from housing_kb.index.store.index_store import IndexError_
from housing_kb.schema.vocabulary import KINDS

#: Rows per insert: large enough to amortise a round trip, small enough for a gRPC message.
BATCH = 500
#: Upper bounds of the array fields; a passage with more countries keeps the first ones.
MAX_COUNTRIES = 256
MAX_LABELS = 32
#: Dense index type: exact (FLAT) by default, so results match FAISS's flat scan; a large
#: deployment picks HNSW or IVF here (docs/results.md, scale).
DENSE_INDEX = {"index_type": "FLAT", "metric_type": "IP"}
SPARSE_INDEX = {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "IP"}
#: The collection property that records the configuration its vectors belong to.
STAMP_PROPERTY = "housing_kb.stamp"
#: Milvus's largest top-k.
MAX_K = 16384
#: The collections' layout: a stamp of another layout makes the sync rebuild them.
LAYOUT = 4
#: Milvus counts a VARCHAR's length in UTF-8 bytes, at most 65,535; page texts are stored in parts
#: of at most this many.
PAGE_PART_BYTES = 60_000
#: Record rows per insert: a page part is up to 60 KB, and a gRPC message at most 64 MB.
RECORD_BATCH = 200
#: Milvus stores a JSON value of at most this many bytes.
MAX_JSON_BYTES = 65_536
#: Milvus wants a vector field in every collection; the record collections carry a zero one this long.
PLACEHOLDER_DIM = 2


C = TypeVar("C", bound="_Collection")


class MilvusConfigMismatch(IndexError_):
    """The collections were written for another model, configuration or state of the index."""


def expression(f: Filters) -> str:
    """The Milvus boolean expression for these filters (empty: no restriction besides the default
    passage types). Values are written as escaped string literals (:func:`string_literal`), so a
    quote in one cannot end the literal.

    >>> expression(Filters())
    'kind in ["body"]'
    >>> expression(Filters(components=["habitability"], min_confidence=0.4, kinds=["all"]))
    '(component_prob["habitability"] >= 0.4)'
    """
    parts: list[str] = []
    admitted = set(f.admitted_kinds)
    if admitted != set(KINDS):
        parts.append(f"kind in {_list(sorted(admitted, key=KINDS.index))}")
    for asked, field, prob in (
        (f.components, "components", "component_prob"),
        (f.stages, "stages", "stage_prob"),
    ):
        if not asked:
            continue
        if f.min_confidence is None:
            parts.append(f"array_contains_any({field}, {_list(asked)})")
        else:
            ors = " or ".join(f"{prob}[{json.dumps(k)}] >= {float(f.min_confidence)!r}" for k in asked)
            parts.append(f"({ors})")
    for values, field in (
        (f.regions, "regions"),
        (f.countries, "countries"),
        ([c.upper() for c in f.document_countries], "doc_countries"),
        (f.named_regions, "named_regions"),
    ):
        if values:
            parts.append(f"array_contains_any({field}, {_list(values)})")
    for values, field in (
        (f.document_types, "document_type"),
        (f.languages, "language"),
        (f.document_ids, "doc_id"),
    ):
        if values:
            parts.append(f"{field} in {_list(values)}")
    if f.year_from is not None:
        parts.append(f"year >= {int(f.year_from)}" if f.year_from > 0 else "year != 0")
    if f.year_to is not None:
        parts.append(f"year != 0 and year <= {int(f.year_to)}")
    return " and ".join(parts)


def _list(values: Sequence[str]) -> str:
    """A list of string literals; a value no stored field can hold is left out (it matches nothing)."""
    literals = (string_literal(str(v)) for v in values)
    return "[" + ", ".join(lit for lit in literals if lit is not None) + "]"


def string_literal(value: str) -> str | None:
    r"""``value`` as a Milvus string literal, or None for a value no stored field can hold (one with a
    control character or a lone surrogate). Milvus knows no ``\u`` escapes, so only the quote and
    the backslash are escaped and every other character is written as it is.

    >>> print(string_literal('say "住房" \\ now'))
    "say \"住房\" \\ now"
    >>> string_literal("a\x0fb") is None
    True
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        return None
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def term_id(term: str) -> int:
    """A sparse dimension for an analysed term: a stable 32-bit hash, so a server needs no
    vocabulary to encode a query.

    >>> term_id("tenure") == term_id("tenure"), 0 <= term_id("住房") < 2**32 - 1
    (True, True)
    """
    value = int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")
    return min(value, 2**32 - 2)  # Milvus reserves the largest uint32


@dataclass(frozen=True)
class MilvusTarget:
    """Where the collections live: a milvus-lite file path, or a server URI with a token."""

    uri: str
    token: str = ""
    prefix: str = "housing_kb"

    @classmethod
    def from_settings(cls, settings: Any) -> MilvusTarget:
        """The deployment the settings name (``HOUSING_KB_MILVUS_*``)."""
        return cls(uri=settings.milvus_target_uri, token=settings.milvus_token, prefix=settings.milvus_prefix)

    def client(self) -> MilvusClient:
        # pymilvus pings every 10 s even on an idle connection; gRPC servers answer pings without
        # calls with GOAWAY "too_many_pings" (pymilvus issue 1796), which then fails the next search.
        options: dict[str, Any] = {"grpc_options": {"grpc.keepalive_permit_without_calls": False}}
        if self.token:
            options["token"] = self.token
        return MilvusClient(uri=self.uri, **options)


class _Collection:
    """A collection the sync keeps: its stamp, the fingerprints of its rows, upserts and deletes."""

    batch = BATCH

    def __init__(self, client: MilvusClient, name: str) -> None:
        self.client = client
        self.name = name

    def create(self, stamp: dict[str, Any]) -> None:
        raise NotImplementedError

    def _key(self, value: Any) -> Any:
        return value

    def stamp(self) -> dict[str, Any] | None:
        if not self.client.has_collection(self.name):
            return None
        properties = self.client.describe_collection(self.name).get("properties") or {}
        stamp: dict[str, Any] = json.loads(properties.get(STAMP_PROPERTY, "{}"))
        return stamp

    def set_stamp(self, stamp: dict[str, Any]) -> None:
        self.client.alter_collection_properties(self.name, properties={STAMP_PROPERTY: json.dumps(stamp)})

    def has_fingerprints(self) -> bool:
        fields = self.client.describe_collection(self.name).get("fields") or []
        return any(f.get("name") == "fingerprint" for f in fields)

    def fingerprints(self) -> dict[Any, str]:
        """Every row's key and fingerprint, read in pages."""
        self.client.load_collection(self.name)
        found: dict[Any, str] = {}
        pages = self.client.query_iterator(
            self.name, batch_size=BATCH * 4, filter="", output_fields=["fingerprint"]
        )
        try:
            while page := pages.next():
                found.update((self._key(r["id"]), str(r["fingerprint"])) for r in page)
        finally:
            pages.close()
        return found

    def insert(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), self.batch):
            self.client.upsert(self.name, rows[start : start + self.batch])

    def delete(self, ids: Sequence[Any]) -> int:
        if not len(ids):
            return 0
        result = self.client.delete(self.name, ids=[self._key(i) for i in ids])
        return int(result.get("delete_count", len(ids)) if isinstance(result, dict) else len(ids))

    def _create(self, schema: Any, params: Any, stamp: dict[str, Any]) -> None:
        # what the row was written from, so a sync rewrites only the rows that changed
        schema.add_field("fingerprint", DataType.VARCHAR, max_length=32)
        if self.client.has_collection(self.name):
            self.client.drop_collection(self.name)
        # Strong: a read after a sync sees it whole, on every server (Milvus's default, Bounded, may
        # answer from a state a few seconds old: a deleted document's passages, an old record).
        self.client.create_collection(
            self.name, schema=schema, index_params=params, consistency_level="Strong"
        )
        self.set_stamp(stamp)


class MilvusChannel(_Collection):
    """One channel's collection: its schema, stamp, writes and searches."""

    def __init__(
        self, client: MilvusClient, name: str, *, dim: int | None, with_record: bool = False
    ) -> None:
        super().__init__(client, name)
        self.dim = dim  # None: sparse
        self.with_record = with_record

    def _key(self, value: Any) -> int:
        return int(value)

    def create(self, stamp: dict[str, Any]) -> None:
        """(Re)create the collection, stamped with the configuration its vectors belong to."""
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        if self.dim is None:
            schema.add_field("vector", DataType.SPARSE_FLOAT_VECTOR)
        else:
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        for name, length in (("doc_id", 256), ("language", 16), ("kind", 32), ("document_type", 64)):
            schema.add_field(name, DataType.VARCHAR, max_length=length)
        schema.add_field("year", DataType.INT64)
        for name, cap in (
            ("countries", MAX_COUNTRIES),
            ("doc_countries", MAX_COUNTRIES),
            ("regions", MAX_LABELS),
            ("named_regions", MAX_LABELS),
            ("components", MAX_LABELS),
            ("stages", MAX_LABELS),
        ):
            schema.add_field(
                name, DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=cap, max_length=16
            )
        schema.add_field("component_prob", DataType.JSON)
        schema.add_field("stage_prob", DataType.JSON)
        if self.with_record:
            # every stored field of the passage (index/adapters/milvus_store.py reads it), and its public id
            schema.add_field("record", DataType.JSON)
            schema.add_field("passage_id", DataType.VARCHAR, max_length=320)
            # the passage's vector as embedded, before any projection: what /examples compares
            schema.add_field("stored_vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = self.client.prepare_index_params()
        params.add_index("vector", **(SPARSE_INDEX if self.dim is None else DENSE_INDEX))
        if self.with_record:
            params.add_index("stored_vector", **DENSE_INDEX)
        self._create(schema, params, stamp)

    def count(self) -> int:
        self.client.flush(self.name)
        rows = self.client.query(self.name, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def search(self, query: Any, k: int, filters: Filters | None) -> list[tuple[int, float]]:
        return self.search_where(
            query, k, expression(filters if filters is not None else Filters(kinds=["all"]))
        )

    def search_where(self, query: Any, k: int, where: str) -> list[tuple[int, float]]:
        """Top-k within a Milvus expression (empty: everything)."""
        if k <= 0:
            return []
        found = self.client.search(
            self.name, [query], anns_field="vector", limit=min(k, MAX_K), filter=where, output_fields=[]
        )
        hits = [(int(h["id"]), float(h["distance"])) for h in found[0]]
        # Best first; equal scores by id, as the embedded channels order them.
        return sorted(hits, key=lambda h: (-h[1], h[0]))


class MilvusRecords(_Collection):
    """Records that are not searched, only read by key or document: the documents and their pages."""

    batch = RECORD_BATCH

    def create(self, stamp: dict[str, Any]) -> None:
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=320)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=256)
        schema.add_field("seq", DataType.INT64)
        schema.add_field("record", DataType.JSON)
        schema.add_field("text", DataType.VARCHAR, max_length=65_535)
        schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=PLACEHOLDER_DIM)
        params = self.client.prepare_index_params()
        params.add_index("placeholder", index_type="FLAT", metric_type="IP")
        self._create(schema, params, stamp)


def _record_row(key: str, doc_id: str, seq: int, record: dict[str, Any], text: str = "") -> dict[str, Any]:
    row = {"id": key, "doc_id": doc_id, "seq": seq, "record": record, "text": text}
    row["placeholder"] = [0.0] * PLACEHOLDER_DIM
    row["fingerprint"] = _fingerprint(row)
    return row


def document_rows(store: Any) -> list[dict[str, Any]]:
    """One row per document: its record, and its passage and page counts."""
    counts = store.document_counts()
    rows = []
    for d in store.documents():
        passages, pages = counts.get(d.doc_id, (0, 0))
        record = {"document": dataclasses.asdict(d), "passages": passages, "pages": pages}
        rows.append(_record_row(d.doc_id, d.doc_id, 0, _fits_json(f"document {d.doc_id!r}", record)))
    return rows


def page_rows(store: Any) -> list[dict[str, Any]]:
    """Each page of each document, in parts of at most ``PAGE_PART_BYTES``."""
    rows = []
    for d in store.documents():
        for seq, page in enumerate(store.pages(d.doc_id)):
            for part, text in enumerate(text_parts(page.text)):
                record = {"number": page.number, "empty": page.empty, "part": part}
                rows.append(_record_row(f"{d.doc_id}#{seq}#{part}", d.doc_id, seq, record, text))
    return rows


def state_rows(store: Any) -> list[dict[str, Any]]:
    """What a server derives from the whole index besides its passages, as named JSON values in
    parts (``<prefix>_state``): the index's configuration, the SDG country series and the word
    lexicon that translates questions. With them a server on Milvus reads nothing from the index
    directory (``MilvusServedIndex``)."""
    from housing_kb.index.lexical.translation import read_lexicon

    lexicon = read_lexicon(store)
    values: dict[str, Any] = {
        "config": {
            "config": dataclasses.asdict(store.config),
            "secondary_model_id": store.secondary_model_id or "",
        },
        "countries": {
            "observations": [dataclasses.asdict(o) for o in store.indicator_observations()],
            "imports": {str(k): v for k, v in store.indicator_imports().items()},
        },
        "lexicon": None if lexicon is None else lexicon[0].to_json(lexicon[1]),
    }
    rows = []
    for name, value in values.items():
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        for part, piece in enumerate(text_parts(text)):
            rows.append(_record_row(f"{name}#{part}", name, part, {"part": part}, piece))
    return rows


def text_parts(text: str, limit: int | None = None) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` UTF-8 bytes (``PAGE_PART_BYTES``), never inside
    a character.

    >>> text_parts("ab住房", limit=4), text_parts("")
    (['ab', '住', '房'], [''])
    """
    limit = limit or PAGE_PART_BYTES
    encoded = text.encode("utf-8")
    parts, start = [], 0
    while start < len(encoded):
        end = min(start + limit, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:  # a continuation byte
            end -= 1
        parts.append(encoded[start:end].decode("utf-8"))
        start = end
    return parts or [""]


def _row(
    fields: PassageFields, vector: Any, record: dict[str, Any] | None = None, stored: Any = None
) -> dict[str, Any]:
    row: dict[str, Any] = {key: value for key, value in fields.items()}
    row["vector"] = vector
    if stored is not None:
        row["stored_vector"] = stored
    for name, cap in (("countries", MAX_COUNTRIES), ("doc_countries", MAX_COUNTRIES)):
        row[name] = row[name][:cap]
    if record is not None:
        row["record"] = record
        row["passage_id"] = record["passage_id"]
    row["fingerprint"] = _fingerprint(row)
    return row


def _fingerprint(row: dict[str, Any]) -> str:
    """A digest of everything the row holds; dense vectors are digested as float32 bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for key in sorted(row):
        value = row[key]
        if key in ("vector", "stored_vector") and isinstance(value, list):
            digest.update(np.asarray(value, dtype=np.float32).tobytes())
        elif key == "vector":
            digest.update(json.dumps(sorted(value.items())).encode())
        else:
            digest.update(json.dumps([key, value], sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


class MilvusVectorIndex:
    """A dense channel in Milvus (the ``VectorIndex`` protocol)."""

    def __init__(self, channel: MilvusChannel, basis: np.ndarray | None = None) -> None:
        self.channel = channel
        self.basis = basis if basis is not None else np.zeros((0, 0), dtype=np.float32)

    def add(self, ids: np.ndarray, vectors: np.ndarray, fields: Sequence[PassageFields] = ()) -> None:
        if len(fields) != len(ids):
            raise ValueError("Milvus filters on its own copy of the fields: pass one PassageFields per id")
        rows = [
            _row(f, np.asarray(v, dtype=np.float32).tolist()) for f, v in zip(fields, vectors, strict=True)
        ]
        self.channel.insert(rows)

    def delete(self, ids: np.ndarray) -> int:
        return self.channel.delete(ids.tolist())

    def count(self) -> int:
        return self.channel.count()

    def search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        return self.channel.search(self.query_vector(query), k, filters)

    def query_vector(self, query: np.ndarray) -> list[float]:
        """The query as the channel compares it: projected like the channel's passages."""
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if self.basis.size:
            q = project_out(q, self.basis)
        vector: list[float] = q[0].tolist()
        return vector


class MilvusLexicalIndex:
    """The BM25 channel in Milvus (the ``LexicalIndex`` protocol): each passage is a sparse vector
    of its terms' BM25 weights, and a query the count of each of its analysed terms, so the inner
    product is the passage's BM25 score for the query.

    Weights depend on corpus statistics (idf, mean length), so passages are written by
    :func:`migrate` from the embedded lexical index, whose weights are current; ``upsert`` of raw
    text is not offered.
    """

    def __init__(self, channel: MilvusChannel) -> None:
        self.channel = channel

    def upsert(self, items: Sequence[tuple[int, str, str]]) -> int:
        raise NotImplementedError(
            "BM25 weights need the whole collection's statistics: write them with `housing-kb migrate --to milvus`"
        )

    def delete(self, ids: Sequence[int]) -> int:
        return self.channel.delete(list(ids))

    def count(self) -> int:
        return self.channel.count()

    def search(
        self,
        query: str,
        k: int,
        *,
        filters: Filters | None = None,
        language: str | None = None,
        extra_terms: Sequence[str] = (),
    ) -> list[tuple[int, float]]:
        vector = self.query_vector(query, language, extra_terms)
        if not vector:
            return []
        hits = self.channel.search(vector, k, filters)
        return [h for h in hits if h[1] > 0]

    @staticmethod
    def query_vector(query: str, language: str | None, extra_terms: Sequence[str] = ()) -> dict[int, float]:
        """The query as a sparse vector: how often each analysed term occurs in it."""
        counts = Counter(term_id(t) for t in [*analyze_query(query, language), *extra_terms])
        return {tid: float(n) for tid, n in counts.items()}


# ------------------------------------------------------------------------------------ the deployment
@dataclass
class MilvusIndex:
    """Every channel of one index in one Milvus deployment."""

    target: MilvusTarget
    client: MilvusClient

    CHANNELS = ("e5", "use", "bm25")

    @classmethod
    def connect(cls, target: MilvusTarget) -> MilvusIndex:
        return cls(target, target.client())

    def channel(self, name: str, dim: int | None = None) -> MilvusChannel:
        return MilvusChannel(self.client, f"{self.target.prefix}_{name}", dim=dim, with_record=name == "e5")

    def collection(self, name: str) -> MilvusRecords:
        """A record collection: ``documents``, ``pages`` or ``state``."""
        return MilvusRecords(self.client, f"{self.target.prefix}_{name}")

    def stamp(self) -> dict[str, Any] | None:
        return self.channel("e5").stamp()

    def check(self, expected: dict[str, Any]) -> None:
        """Refuse collections written for another model or configuration."""
        found = self.stamp()
        if found is None:
            raise MilvusConfigMismatch(
                f"Milvus at {self.target.uri} holds no housing-kb index ({self.target.prefix}_e5)"
            )
        differences = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
        if differences:
            raise MilvusConfigMismatch(
                f"Milvus at {self.target.uri} was written for another configuration ({', '.join(differences)} "
                "differ): run `housing-kb migrate --to milvus` again"
            )

    def holds(self, expected: dict[str, Any]) -> bool:
        """False while a sync towards ``expected`` is under way: same configuration, older generation."""
        found = self.stamp()
        if found is None or _configuration(found) != _configuration(expected):
            return True  # not a sync in progress: check() names what is wrong
        return bool(found.get("generation") == expected.get("generation"))

    def vectors(self, name: str) -> MilvusVectorIndex:
        channel = self.loaded(self.channel(name))
        return MilvusVectorIndex(channel, self._read_basis(channel.name))

    def lexical(self) -> MilvusLexicalIndex:
        return MilvusLexicalIndex(self.loaded(self.channel("bm25")))

    def loaded(self, channel: C) -> C:
        # Milvus serves a collection only once it is loaded into memory; one written by another
        # process, or kept across a restart of Milvus, starts released.
        self.client.load_collection(channel.name)
        return channel

    def search_channels(self) -> dict[str, MilvusVectorIndex | MilvusLexicalIndex]:
        """The channels by the names the search engine asks for (``IndexView.channels``)."""
        out: dict[str, MilvusVectorIndex | MilvusLexicalIndex] = {"e5": self.vectors("e5")}
        if self.client.has_collection(self.channel("use").name):
            out["use"] = self.vectors("use")
        if self.client.has_collection(self.channel("bm25").name):
            out["bm25"] = self.lexical()
        return out

    def write_basis(self, channel: str, basis: np.ndarray) -> None:
        name = f"{self.target.prefix}_{channel}_basis"
        if self.client.has_collection(name):
            self.client.drop_collection(name)
        if not basis.size:
            return
        self.client.create_collection(
            name, dimension=basis.shape[1], metric_type="IP", auto_id=False, consistency_level="Strong"
        )
        self.client.insert(name, [{"id": i, "vector": row.tolist()} for i, row in enumerate(basis)])

    def _read_basis(self, channel_name: str) -> np.ndarray | None:
        name = f"{channel_name}_basis"
        if not self.client.has_collection(name):
            return None
        self.client.load_collection(name)
        rows = self.client.query(name, filter="id >= 0", output_fields=["vector"])
        rows.sort(key=lambda r: r["id"])
        return np.asarray([r["vector"] for r in rows], dtype=np.float32)


def sparse_rows(weights: Any, terms: Sequence[str]) -> Iterator[dict[int, float]]:
    """Each CSR row as ``{term_id: weight}``; two terms that hash alike add up."""
    ids = np.fromiter((term_id(t) for t in terms), dtype=np.int64, count=len(terms))
    for r in range(weights.shape[0]):
        lo, hi = weights.indptr[r], weights.indptr[r + 1]
        row: dict[int, float] = {}
        for column, value in zip(weights.indices[lo:hi].tolist(), weights.data[lo:hi].tolist(), strict=True):
            tid = int(ids[column])
            row[tid] = row.get(tid, 0.0) + float(value)
        yield row


@dataclass
class SyncReport:
    """What a sync wrote, per channel."""

    written: dict[str, int] = dataclasses.field(default_factory=dict)  # rows upserted
    deleted: dict[str, int] = dataclasses.field(default_factory=dict)
    unchanged: dict[str, int] = dataclasses.field(default_factory=dict)  # rows skipped: same fingerprint
    recreated: list[str] = dataclasses.field(default_factory=list)  # collections (re)built from scratch

    def summary(self) -> str:
        return ", ".join(
            f"{name} {self.written[name]} written, {self.deleted.get(name, 0)} deleted, "
            f"{self.unchanged.get(name, 0)} unchanged"
            + (" (new collection)" if name in self.recreated else "")
            for name in self.written
        )


def migrate(
    store: Any,
    table: Any,
    lexical: Any,
    target: MilvusTarget,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Copy an embedded index into Milvus without re-embedding, replacing the collections.
    Returns the rows written per channel."""
    return sync(store, table, lexical, target, replace=True, progress=progress).written


def sync(
    store: Any,
    table: Any,
    lexical: Any,
    target: MilvusTarget,
    *,
    replace: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> SyncReport:
    """Bring the Milvus collections to the embedded index's current state, in batches: each dense
    channel's stored vectors (as FAISS holds them, projections included), the BM25 weights, the
    filterable fields and the records. A collection is created when missing, or replaced (with
    ``replace``, or when it holds another model's vectors or another analyser's weights); otherwise
    only rows whose fingerprint changed are upserted, and rows of passages the index no longer holds
    are deleted. The stamp's generation moves last, so a server sees the new state once it is whole."""
    index = MilvusIndex.connect(target)
    try:
        return _sync(store, table, lexical, index, replace=replace, progress=progress)
    finally:
        index.client.close()  # a long-lived worker syncs after every publish: no connection is left open


def _sync(
    store: Any,
    table: Any,
    lexical: Any,
    index: MilvusIndex,
    *,
    replace: bool,
    progress: Callable[[str, int, int], None] | None,
) -> SyncReport:
    fields = {f["id"]: f for f in table.passage_fields()}
    stamp = milvus_stamp(store)
    report = SyncReport()
    records = {int(r["id"]): _record(r) for r in store.iter_passages()}
    dense = {"e5": None, "use": store.secondary_model_id}
    channels: dict[str, tuple[MilvusChannel, list[dict[str, Any]]]] = {}
    for name, model_id in dense.items():
        if name == "use" and not model_id:
            continue
        faiss_index, basis = store.dense_channel(model_id)
        ids, vectors = faiss_index.vectors()
        channel = index.channel(name, dim=vectors.shape[1])
        if name == "e5":
            stored = store.vectors_for(ids.tolist())
            rows = [
                _row(fields[pid], vec.tolist(), records[pid], raw.tolist())
                for pid, vec, raw in zip(ids.tolist(), vectors, stored, strict=True)
            ]
        else:
            rows = [_row(fields[pid], vec.tolist()) for pid, vec in zip(ids.tolist(), vectors, strict=True)]
        channels[name] = (channel, rows)
        index.write_basis(name, basis)
    if lexical is not None:
        row_ids, terms, weights = lexical.term_weights()
        rows = [
            _row(fields[int(pid)], vec)
            for pid, vec in zip(row_ids.tolist(), sparse_rows(weights, terms), strict=True)
            if vec
        ]
        channels["bm25"] = (index.channel("bm25"), rows)
    for name in MilvusIndex.CHANNELS:
        stale = index.channel(name)
        if name not in channels and index.client.has_collection(stale.name):
            index.client.drop_collection(stale.name)  # a channel the index no longer has
    collections: dict[str, tuple[_Collection, list[dict[str, Any]]]] = {
        "documents": (index.collection("documents"), document_rows(store)),
        "pages": (index.collection("pages"), page_rows(store)),
        "state": (index.collection("state"), state_rows(store)),
        **channels,
    }
    for name, (collection, rows) in collections.items():
        _sync_channel(collection, rows, stamp, name, report, replace=replace, progress=progress)
    # e5 last: its stamp is the one servers check (MilvusIndex.stamp)
    for name in sorted(collections, key=lambda n: n == "e5"):
        collections[name][0].set_stamp(stamp)
    return report


def sync_settings(
    settings: Any,
    *,
    target: MilvusTarget | None = None,
    replace: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[MilvusTarget, SyncReport]:
    """Sync the index at ``settings.index_dir`` into the configured Milvus (or ``target``)."""
    from housing_kb.index.lexical.sync import open_lexical
    from housing_kb.index.query.intent import filter_table_with_mentions
    from housing_kb.index.store.index_store import IndexStore

    target = target or MilvusTarget.from_settings(settings)
    store = IndexStore.open(settings.index_dir, readonly=True)
    try:
        table, _ = filter_table_with_mentions(store)
        return target, sync(store, table, open_lexical(store), target, replace=replace, progress=progress)
    finally:
        store.close()


def _sync_channel(
    channel: _Collection,
    rows: list[dict[str, Any]],
    stamp: dict[str, Any],
    name: str,
    report: SyncReport,
    *,
    replace: bool,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    found = channel.stamp()
    if (
        replace
        or found is None
        or _configuration(found) != _configuration(stamp)
        or not channel.has_fingerprints()
    ):
        channel.create({**stamp, "generation": -1})  # incomplete until the sync sets the stamp
        report.recreated.append(name)
        existing: dict[int, str] = {}
    else:
        existing = channel.fingerprints()
    changed = [r for r in rows if existing.get(r["id"]) != r["fingerprint"]]
    gone = sorted(set(existing) - {r["id"] for r in rows})
    _insert_with_progress(channel, changed, name, progress)
    report.written[name] = len(changed)
    report.deleted[name] = channel.delete(gone) if gone else 0
    report.unchanged[name] = len(rows) - len(changed)
    channel.client.flush(channel.name)


def _configuration(stamp: dict[str, Any]) -> dict[str, Any]:
    """The stamp without its generation: what decides whether rows can be kept."""
    return {k: v for k, v in stamp.items() if k != "generation"}


def _insert_with_progress(
    channel: _Collection,
    rows: list[dict[str, Any]],
    name: str,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    for start in range(0, len(rows), channel.batch):
        channel.insert(rows[start : start + channel.batch])
        if progress is not None:
            progress(name, min(start + channel.batch, len(rows)), len(rows))
    channel.client.flush(channel.name)


def milvus_stamp(store: Any) -> dict[str, Any]:
    """What the collections' vectors and weights depend on: the index's models and configuration."""
    from housing_kb.index.lexical.analysis import ANALYSER_VERSION

    return {
        "model": store.config.model_id,
        "dim": store.config.dim,
        "secondary": store.secondary_model_id or "",
        "analyser": ANALYSER_VERSION,
        "layout": LAYOUT,
        "generation": store.generation,
    }


def _record(passage: dict[str, Any]) -> dict[str, Any]:
    """What the e5 row keeps of a passage: every stored field (a ``PassageRecord``)."""
    return _fits_json(f"passage {passage['passage_id']!r}", passage)


def _fits_json(what: str, value: dict[str, Any]) -> dict[str, Any]:
    """``value``, or a ValueError naming ``what`` when it is over Milvus's JSON limit."""
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    if size > MAX_JSON_BYTES:
        raise ValueError(
            f"{what}: its record is {size} bytes, over Milvus's {MAX_JSON_BYTES}-byte JSON limit"
        )
    return value
