"""The learned taggers: the committed model, fitting with grouped cross-validation, the model stamp,
and re-tagging from stored vectors without embedding anything (issue 17)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from housing_kb.ingest.tagging.learned import TaggerModel, default_model_dir, features
from housing_kb.ingest.tagging.tagger import Tagger, TagInput
from housing_kb.ingest.tagging.training import (
    LabelledItem,
    group_folds,
    none_weights,
    train,
)
from housing_kb.schema.vocabulary import COMPONENT_KEYS, STAGE_KEYS

REPO = Path(__file__).resolve().parents[1]


def test_the_committed_model_covers_both_taxonomies_and_every_variant() -> None:
    model = TaggerModel.load()
    assert model.components.labels == COMPONENT_KEYS and model.stages.labels == STAGE_KEYS
    assert model.components.coef.shape == (8, 384 + 512 + 8)
    assert model.model("components", "e5").coef.shape == (8, 384 + 8)
    assert model.model("stages", "lexical").coef.shape == (6, 8)
    info = model.info
    assert info["items"] >= 1200 and info["documents"] >= 59
    train_file = REPO / "evaluation" / "data" / "tags_train.jsonl"
    from housing_kb.ingest.tagging.training import file_digest

    assert info["training_sha256"] == file_digest(train_file), "the model was not fitted on the committed set"


def test_stage_keys_are_defined_and_named_in_seven_languages() -> None:
    stages = yaml.safe_load((REPO / "prompts" / "supply_chain" / "stages.yaml").read_text(encoding="utf-8"))
    assert tuple(stages["stages"]) == STAGE_KEYS
    assert all(s["definition"] for s in stages["stages"].values())
    labels = yaml.safe_load((REPO / "prompts" / "labels.yaml").read_text(encoding="utf-8"))
    for key in STAGE_KEYS:
        assert set(labels["stages"][key]) == {"ar", "en", "es", "fr", "pt", "ru", "zh"}


def test_training_file_follows_the_labelling_format_and_leaves_dev_out() -> None:
    rows = [json.loads(line) for line in (REPO / "evaluation/data/tags_train.jsonl").read_text().splitlines()]
    dev = (
        [json.loads(line) for line in (REPO.parent / "shared/eval/tags_dev.jsonl").read_text().splitlines()]
        if (REPO.parent / "shared/eval/tags_dev.jsonl").is_file()
        else []
    )
    fields = {"id", "doc", "page", "lang", "text", "components", "countries", "regions", "note", "passage_id"}
    assert all(fields <= set(r) for r in rows)
    assert all(
        set(r["components"]) <= set(COMPONENT_KEYS) and set(r["stages"]) <= set(STAGE_KEYS) for r in rows
    )
    texts = {r["text"] for r in rows}
    assert not any(d["text"] in texts for d in dev)
    assert len({r["doc"] for r in rows}) >= 59
    for lang in ("ar", "en", "es", "fr", "pt", "ru", "zh"):
        assert sum(r["lang"] == lang for r in rows) >= 80, lang


def _synthetic(n: int = 240, seed: int = 0) -> tuple[list[LabelledItem], np.ndarray, np.ndarray]:
    """Items whose first component shows in the first vector dimension, over 12 documents."""
    rng = np.random.default_rng(seed)
    e5 = rng.normal(size=(n, 384)).astype(np.float32)
    use = rng.normal(size=(n, 512)).astype(np.float32)
    items = []
    for i in range(n):
        on = bool(i % 3 == 0)
        e5[i, 0] += 6.0 if on else -6.0
        items.append(
            LabelledItem(
                id=str(i),
                doc=f"doc{i % 12}",
                lang="en",
                text="tenants evicted" if on else "article of procedure",
                components={"security_of_tenure"} if on else set(),
                stages={"housing_finance"} if i % 2 else set(),
            )
        )
    return items, e5, use


def test_training_learns_a_signal_and_never_tags_labels_it_cannot_learn(tmp_path: Path) -> None:
    items, e5, use = _synthetic()
    model, report = train(items, e5, use, folds=4, grid=(0.1,))
    fit = report["components.full"]
    assert fit["cv_f1"]["security_of_tenure"] > 0.8
    # no item has these, so they can never be learned: never tagged
    assert "location" in fit["never_tagged"] and fit["thresholds"]["location"] > 1
    # "housing_finance" is noise here (every other item, whatever its text)
    assert (
        "housing_finance" in report["stages.full"]["never_tagged"]
        or report["stages.full"]["cv_f1"]["housing_finance"] < 0.8
    )
    model.save(tmp_path)
    again = TaggerModel.load(tmp_path)
    x = features(e5, use, np.zeros((len(items), 8), dtype=np.float32))
    assert np.allclose(again.components.probabilities(x), model.components.probabilities(x), atol=1e-5)
    assert again.stamp and again.stamp != TaggerModel.load().stamp


def test_group_folds_never_split_a_document() -> None:
    groups = [f"d{i % 7}" for i in range(70)]
    folds = group_folds(groups, 3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(70))
    for fold in folds:
        inside = {groups[i] for i in fold}
        assert all(groups[i] not in inside for other in folds if other is not fold for i in other)


def test_items_without_a_component_weigh_a_quarter() -> None:
    items, _, _ = _synthetic(300)
    w = none_weights(items)
    none = np.array([not i.components for i in items])
    assert abs(w[none].sum() / w.sum() - 0.25) < 1e-9


def test_a_new_model_makes_stored_tags_stale(tmp_path: Path) -> None:
    copy = tmp_path / "tagger"
    shutil.copytree(default_model_dir(), copy)
    before = Tagger(model_dir=copy).vocabulary_version
    info = json.loads((copy / "model.json").read_text(encoding="utf-8"))
    info["created"] = "another day"
    (copy / "model.json").write_text(json.dumps(info), encoding="utf-8")
    assert Tagger(model_dir=copy).vocabulary_version != before


class _NoEmbedding:
    """An embedder that must never be asked to embed (tags come from stored vectors)."""

    def __init__(self, model_id: str, dim: int) -> None:
        self.model_id, self.dim = model_id, dim

    def embed_passages(self, texts, **_):
        raise AssertionError("the tagger embedded a passage although its vectors were given")


def test_tagging_from_stored_vectors_embeds_nothing_and_gives_probabilities() -> None:
    models = TaggerModel.load().info["models"]
    tagger = Tagger(embedder=_NoEmbedding(models["e5"], 384), secondary=_NoEmbedding(models["use"], 512))
    assert tagger.variant == "full"
    rng = np.random.default_rng(3)
    e5 = rng.normal(size=(2, 384)).astype(np.float32)
    use = rng.normal(size=(2, 512)).astype(np.float32)
    items = [TagInput("a", "Tenants may not be evicted.", "en"), TagInput("b", "Статья 5.", "ru", ["RUS"])]
    tags = tagger.tag(
        items,
        e5 / np.linalg.norm(e5, axis=1, keepdims=True),
        use / np.linalg.norm(use, axis=1, keepdims=True),
    )
    assert set(tags[0].component_scores) == set(COMPONENT_KEYS) and set(tags[0].stage_scores) == set(
        STAGE_KEYS
    )
    assert all(
        0.0 <= p <= 1.0 for t in tags for p in [*t.component_scores.values(), *t.stage_scores.values()]
    )
    assert tags[1].countries == ["RUS"]
    # without USE vectors (an index missing some) it falls back to the e5 model, still embedding nothing
    assert tagger.tag(items, e5, second_channel=False)[0].component_scores


def test_vectors_of_another_model_are_not_fed_to_the_weights() -> None:
    tagger = Tagger(embedder=_NoEmbedding("some-other-model", 768))
    assert (
        tagger.variant == "lexical"
        and tagger.tag([TagInput("a", "forced evictions", "en")])[0].component_scores
    )


@pytest.mark.model
def test_clear_cut_passages_get_their_component_from_the_full_model(e5_embedder, model_settings) -> None:
    from housing_kb.models.registry import load_embedder

    tagger = Tagger(embedder=e5_embedder, secondary=load_embedder("use-multilingual", model_settings))
    cases = [
        (
            "security_of_tenure",
            "en",
            "Tenants cannot be evicted without a court order; forced evictions are prohibited.",
        ),
        ("affordability", "fr", "Les aides au logement réduisent le loyer des ménages aux revenus modestes."),
        (
            "availability_of_services",
            "pt",
            "Infraestrutura básica com abastecimento de água, esgotamento sanitário e energia elétrica.",
        ),
        ("habitability", "zh", "出租人应当及时维修房屋，保证结构安全，居住面积不得低于标准。"),
        (
            "housing_finance",
            "es",
            "El fondo otorga créditos hipotecarios con tasas subsidiadas a las familias de bajos ingresos.",
        ),
    ]
    tags = tagger.tag([TagInput(str(i), text, lang) for i, (_, lang, text) in enumerate(cases)])
    for (key, _, text), tag in zip(cases, tags, strict=True):
        assert key in tag.components + tag.stages, (key, text, tag.component_scores, tag.stage_scores)
