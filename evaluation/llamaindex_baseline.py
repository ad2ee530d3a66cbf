"""The llama-index peer for the retrieval evaluation: its default pipeline, our embedding model.

SimpleDirectoryReader(corpus, recursive=True) -> SentenceSplitter() defaults -> VectorStoreIndex
(in-memory SimpleVectorStore), with a llama-index ``BaseEmbedding`` adapter around our e5
embedder. The adapter applies E5's ``query: `` / ``passage: `` prefixes exactly as our index does,
so the comparison isolates the pipeline (reading, chunking, storing, retrieving), not the model.

PDF and DOCX need ``llama-index-readers-file`` (and ``docx2txt``): without them llama-index reads
those files as raw bytes, with no warning (PITFALLS). :func:`load_corpus` refuses that loudly.

Passage embeddings are cached on disk (SQLite, keyed by model and a hash of the exact text
llama-index embeds), so only the first run pays for embedding the baseline's nodes.

>>> baseline = LlamaIndexBaseline.build(settings, load_embedder("e5-small", settings))  # doctest: +SKIP
>>> baseline.retrieve("security of tenure for renters", k=3)[0][0]                     # doctest: +SKIP
'usa_virginia_housing/chapter21.md'
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from housing_kb.config import Settings

#: First bytes of files read as bytes instead of parsed: PDF, and DOCX (a zip archive).
_RAW_SIGNATURES = ("%PDF", "PK\x03\x04", "PK\u0003\u0004")
CACHE_SUBDIR = "eval-llamaindex"


class BaselineError(RuntimeError):
    """The baseline cannot be built faithfully; the message says what to install or fix."""


class EmbeddingCache:
    """Vectors keyed by (model id, sha256 of the text), in one SQLite file.

    >>> cache = EmbeddingCache(Path("/tmp/x.sqlite"), "m")   # doctest: +SKIP
    >>> cache.get(["some text"])                             # doctest: +SKIP
    {}
    """

    def __init__(self, path: Path, model_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.model_id = model_id
        self._conn = sqlite3.connect(path, check_same_thread=False)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model_id TEXT, key TEXT, vector BLOB, "
            "PRIMARY KEY (model_id, key)) WITHOUT ROWID"
        )

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors of these texts, by text."""
        keys = {self.key(t): t for t in texts}
        out: dict[str, np.ndarray] = {}
        items = list(keys)
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            rows = self._conn.execute(
                f"SELECT key, vector FROM vectors WHERE model_id = ? AND key IN ({', '.join('?' * len(chunk))})",
                [self.model_id, *chunk],
            ).fetchall()
            for key, blob in rows:
                out[keys[key]] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        # One commit per batch: an interrupted run keeps everything embedded so far.
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [
                    (self.model_id, self.key(t), np.asarray(v, dtype=np.float32).tobytes())
                    for t, v in zip(texts, vectors, strict=True)
                ],
            )

    def __len__(self) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM vectors WHERE model_id = ?", (self.model_id,)
        ).fetchone()
        return int(row[0])


def _embedding_adapter_class() -> type:
    """The adapter class, defined lazily so importing this module does not import llama-index."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class E5LlamaEmbedding(BaseEmbedding):
        """llama-index ``BaseEmbedding`` over our Embedder: prefixes applied, passage vectors cached."""

        _embedder: Any = PrivateAttr()
        _cache: EmbeddingCache | None = PrivateAttr(default=None)
        _done: int = PrivateAttr(default=0)
        _started: float = PrivateAttr(default=0.0)

        def __init__(self, embedder: Any, cache: EmbeddingCache | None = None, **kwargs: Any) -> None:
            super().__init__(model_name=str(embedder.model_id), **kwargs)
            self._embedder = embedder
            self._cache = cache
            self._started = time.perf_counter()

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embedder.embed_queries([query])[0].tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._get_text_embeddings([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            cached = self._cache.get(texts) if self._cache is not None else {}
            missing = [t for t in dict.fromkeys(texts) if t not in cached]
            if missing:
                vectors = self._embedder.embed_passages(missing, batch_size=len(missing))
                if self._cache is not None:
                    self._cache.put(missing, vectors)
                cached.update(zip(missing, vectors, strict=True))
                self._done += len(missing)
                rate = self._done / max(time.perf_counter() - self._started, 1e-9)
                print(
                    f"  embedded {self._done} new baseline nodes ({rate:.1f}/s)", file=sys.stderr, flush=True
                )
            return [cached[t].tolist() for t in texts]

    return E5LlamaEmbedding


def make_embedding(embedder: Any, cache: EmbeddingCache | None = None, batch_size: int = 32) -> Any:
    """A llama-index ``BaseEmbedding`` around ``embedder`` (E5 prefixes come from the embedder itself).

    >>> make_embedding(load_embedder("e5-small", settings)).get_query_embedding("x")[:2]   # doctest: +SKIP
    [0.031, -0.052]
    """
    return _embedding_adapter_class()(embedder, cache, embed_batch_size=batch_size)


def manifest_extensions(manifest_path: Path) -> list[str]:
    """File extensions of the manifest's documents, e.g. ``['.docx', '.md', '.pdf', '.txt']``."""
    from housing_kb.ingest.manifest import load_manifest

    manifest = load_manifest(manifest_path)
    return sorted({Path(d.path).suffix.lower() for d in manifest.documents if d.path})


def relative_doc_path(file_path: str, corpus_dir: Path) -> str:
    """A node's ``file_path`` metadata as a path relative to the corpus root (what gold items use).

    >>> relative_doc_path("/c/un/a.pdf", Path("/c"))
    'un/a.pdf'
    """
    rel = os.path.relpath(os.path.abspath(file_path), os.path.abspath(corpus_dir))
    return unicodedata.normalize("NFC", rel.replace(os.sep, "/"))


def load_corpus(corpus_dir: Path, extensions: Sequence[str]) -> list[Any]:
    """llama-index Documents from the corpus with SimpleDirectoryReader defaults; raw bytes are refused."""
    try:
        import llama_index.readers.file  # noqa: F401  (registers the PDF/DOCX readers)
    except ImportError as exc:
        raise BaselineError(
            "llama-index-readers-file is not installed: llama-index would read PDF and DOCX as raw bytes; "
            "pip install llama-index-readers-file docx2txt"
        ) from exc
    from llama_index.core import SimpleDirectoryReader

    if not corpus_dir.is_dir():
        raise BaselineError(f"corpus directory {corpus_dir} does not exist (set HOUSING_KB_CORPUS_DIR)")
    docs = SimpleDirectoryReader(str(corpus_dir), recursive=True, required_exts=list(extensions)).load_data()
    raw = sorted(
        {d.metadata.get("file_path", "?") for d in docs if d.text.lstrip().startswith(_RAW_SIGNATURES)}
    )
    if raw:
        raise BaselineError(
            f"llama-index read {len(raw)} file(s) as raw bytes (first: {raw[0]}); check its file readers"
        )
    return docs


@dataclass
class BaselineStats:
    files: int
    documents: int
    nodes: int
    build_seconds: float
    newly_embedded: int


class LlamaIndexBaseline:
    """A built llama-index VectorStoreIndex over the corpus, retrievable as ``(doc path, text)`` hits."""

    def __init__(self, index: Any, embed_model: Any, corpus_dir: Path, stats: BaselineStats) -> None:
        self.index = index
        self.embed_model = embed_model
        self.corpus_dir = corpus_dir
        self.stats = stats
        self._retrievers: dict[int, Any] = {}

    @classmethod
    def build(
        cls, settings: Settings, embedder: Any, *, cache_dir: Path | None = None, show_progress: bool = True
    ) -> LlamaIndexBaseline:
        """Read, split and index the corpus with llama-index defaults (embeddings from the disk cache when there)."""
        from llama_index.core import VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter

        started = time.perf_counter()
        docs = load_corpus(settings.corpus_dir, manifest_extensions(settings.manifest_path))
        nodes = SentenceSplitter().get_nodes_from_documents(docs, show_progress=False)
        cache_path = (cache_dir or settings.cache_dir / CACHE_SUBDIR) / "embeddings.sqlite"
        cache = EmbeddingCache(cache_path, str(embedder.model_id))
        embed_model = make_embedding(embedder, cache)
        if show_progress:
            print(
                f"llama-index: {len(docs)} documents -> {len(nodes)} nodes; {len(cache)} vectors cached at {cache_path}",
                file=sys.stderr,
                flush=True,
            )
        index = VectorStoreIndex(nodes, embed_model=embed_model, show_progress=False)
        files = {d.metadata.get("file_path") for d in docs}
        stats = BaselineStats(
            files=len(files),
            documents=len(docs),
            nodes=len(nodes),
            build_seconds=time.perf_counter() - started,
            newly_embedded=embed_model._done,
        )
        return cls(index, embed_model, settings.corpus_dir, stats)

    def retriever(self, k: int) -> Any:
        if k not in self._retrievers:
            self._retrievers[k] = self.index.as_retriever(similarity_top_k=k)
        return self._retrievers[k]

    def retrieve(
        self, query: str, k: int = 50, embedding: list[float] | None = None
    ) -> list[tuple[str, str]]:
        """The top ``k`` nodes as ``(document path relative to the corpus root, node text)``.

        ``embedding`` skips query embedding (to time the retrieval alone).
        """
        from llama_index.core.schema import QueryBundle

        bundle = QueryBundle(query_str=query, embedding=embedding)
        found = self.retriever(k).retrieve(bundle)
        return [
            (relative_doc_path(n.node.metadata.get("file_path", ""), self.corpus_dir), n.node.get_content())
            for n in found
        ]


__all__ = [
    "BaselineError",
    "BaselineStats",
    "EmbeddingCache",
    "LlamaIndexBaseline",
    "load_corpus",
    "make_embedding",
    "manifest_extensions",
    "relative_doc_path",
]
