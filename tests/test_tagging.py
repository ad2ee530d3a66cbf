"""Component vocabularies, the Tagger interface and document aggregates.

Lexical tests run without a model; tests marked ``model`` use the session ``e5_embedder`` fixture.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from housing_kb.ingest.tagging.tagger import (
    PassageTagsRecord,
    Tagger,
    TagInput,
    aggregate_document_tags,
)
from housing_kb.ingest.tagging.vocabulary import (
    LANGUAGES,
    VocabularyError,
    default_vocab_dir,
    load_vocabularies,
)
from housing_kb.schema.vocabulary import COMPONENT_KEYS


@pytest.fixture(scope="module")
def lexical_tagger() -> Tagger:
    return Tagger()


def components(tagger: Tagger, text: str, lang: str) -> list[str]:
    return tagger.tag([TagInput("t", text, lang)])[0].components


def test_every_component_has_all_languages() -> None:
    vocab = load_vocabularies()
    assert list(vocab) == list(COMPONENT_KEYS)
    for key, v in vocab.items():
        for lang in LANGUAGES:
            assert v.definition.get(lang), (key, lang)
            assert v.labels.get(lang), (key, lang)


CLEAR_CUT = [
    (
        "security_of_tenure",
        "en",
        "Tenants cannot be evicted without a court order; forced evictions are prohibited.",
    ),
    (
        "security_of_tenure",
        "es",
        "La ley suspende los desalojos y promueve la titulación de los barrios populares.",
    ),
    ("security_of_tenure", "zh", "禁止强制驱逐，承租人的合法权益受法律保护。"),
    (
        "availability_of_services",
        "pt",
        "Infraestrutura básica com abastecimento de água, esgotamento sanitário e energia elétrica.",
    ),
    (
        "availability_of_services",
        "ru",
        "Плата за коммунальные услуги включает холодное водоснабжение, водоотведение и отопление.",
    ),
    ("affordability", "ar", "يُستقطع القسط المالي من الدخل الشهري للمستفيد من الدعم السكني."),
    ("affordability", "fr", "Les aides au logement réduisent le loyer des ménages aux revenus modestes."),
    (
        "habitability",
        "en",
        "Overcrowding and damp, poorly ventilated dwellings that do not meet the building code.",
    ),
    ("habitability", "zh", "出租人应当及时维修房屋，保证结构安全，居住面积不得低于标准。"),
    ("accessibility", "en", "Priority is given to persons with disabilities, older persons and widows."),
    (
        "accessibility",
        "es",
        "Se priorizará a las personas con discapacidad y a los hogares con jefas de hogar.",
    ),
    (
        "location",
        "en",
        "Families were moved to a flood-prone periphery far from public transport and schools.",
    ),
    (
        "location",
        "pt",
        "Prioridade para áreas dotadas de infraestrutura, próximas de transporte público e equipamentos públicos.",
    ),
    (
        "cultural_adequacy",
        "en",
        "Housing for indigenous peoples should use traditional materials and respect their cultural identity.",
    ),
    ("cultural_adequacy", "zh", "村庄规划应当体现地方特色和传统民居风貌。"),
    ("sustainability", "fr", "Rénovation énergétique et adaptation au changement climatique des logements."),
    (
        "sustainability",
        "ru",
        "Требования энергетической эффективности многоквартирных домов и энергосбережения.",
    ),
]


@pytest.mark.parametrize(("key", "lang", "text"), CLEAR_CUT)
def test_clear_cut_passages_lexical(lexical_tagger: Tagger, key: str, lang: str, text: str) -> None:
    assert key in components(lexical_tagger, text, lang)


def test_access_to_credit_is_affordability_not_accessibility(lexical_tagger: Tagger) -> None:
    tags = components(lexical_tagger, "Households lack access to credit and cannot get a mortgage.", "en")
    assert "affordability" in tags
    assert "accessibility" not in tags


def test_location_of_a_file_is_not_location(lexical_tagger: Tagger) -> None:
    text = "Enter the location of the file and save the record; the file location is shown in the footer."
    assert "location" not in components(lexical_tagger, text, "en")


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Everyone has the right freely to take part in the cultural life of the community.", "en"),
        ("Invertir en espacios de recreación (deportes y cultura) y actividades culturales.", "es"),
        ("人人有权自由参加社会的文化生活，享受艺术。", "zh"),
        ("The report covers economic, social and cultural rights.", "en"),
    ],
)
def test_culture_outside_housing_is_not_cultural_adequacy(
    lexical_tagger: Tagger, text: str, lang: str
) -> None:
    assert "cultural_adequacy" not in components(lexical_tagger, text, lang)


def test_unknown_language_uses_all_vocabularies(lexical_tagger: Tagger) -> None:
    assert "security_of_tenure" in components(lexical_tagger, "Les expulsions forcées sont interdites.", None)


def test_tags_carry_geography_and_scores(lexical_tagger: Tagger) -> None:
    own = TagInput("a", "Статья 5. Наниматель не может быть выселен без решения суда.", "ru", ["RUS"])
    foreign = TagInput("b", "In Kenya, evictions of tenants rose sharply.", "en", ["RUS"])
    global_ = TagInput("c", "Forced evictions violate the right to adequate housing.", "en", [])
    a, b, c = lexical_tagger.tag([own, foreign, global_])
    assert (a.countries, a.regions) == (["RUS"], ["eastern_europe_central_asia"])
    assert (b.countries, b.regions) == (["KEN"], ["africa"])
    assert (c.countries, c.regions) == ([], ["global"])
    assert set(a.component_scores) == set(COMPONENT_KEYS)
    assert a.components == ["security_of_tenure"]


def test_vectors_must_match_items(lexical_tagger: Tagger) -> None:
    with pytest.raises(ValueError, match="vectors has 2 rows for 1 items"):
        lexical_tagger.tag([TagInput("a", "text")], vectors=np.zeros((2, 384), dtype=np.float32))


def test_vocabulary_version_tracks_thresholds(tmp_path: Path) -> None:
    vocab_dir = tmp_path / "vocab"
    shutil.copytree(default_vocab_dir(), vocab_dir)
    before = Tagger(vocab_dir=vocab_dir).vocabulary_version
    settings_path = vocab_dir / "_classifier.yaml"
    data = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
    data["thresholds"]["location"] += 0.01
    settings_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert Tagger(vocab_dir=vocab_dir).vocabulary_version != before


def test_malformed_vocabulary_names_the_file(tmp_path: Path) -> None:
    vocab_dir = tmp_path / "vocab"
    shutil.copytree(default_vocab_dir(), vocab_dir)
    (vocab_dir / "location.yaml").write_text(
        "key: location\ndefinition: {en: x}\nlabels: [a]\n", encoding="utf-8"
    )
    with pytest.raises(VocabularyError, match=r"location\.yaml: field 'labels'"):
        Tagger(vocab_dir=vocab_dir)


def test_aggregate_document_tags() -> None:
    tags = [
        PassageTagsRecord(["affordability", "habitability"], ["BRA"], ["latin_america_caribbean"], {}),
        PassageTagsRecord(["affordability"], [], ["global"], {}),
        PassageTagsRecord([], ["BRA"], ["latin_america_caribbean"], {}),
        PassageTagsRecord(["security_of_tenure"], ["ARG"], ["latin_america_caribbean"], {}),
    ]
    agg = aggregate_document_tags(tags)
    assert agg["passages"] == 4
    assert agg["component_counts"]["affordability"] == 2
    assert agg["component_shares"]["affordability"] == 0.5
    assert agg["components"][0] == "affordability"
    assert agg["countries"] == ["ARG", "BRA"]
    assert agg["regions"] == ["latin_america_caribbean"]
    assert aggregate_document_tags([])["regions"] == []


def test_real_saudi_finance_law_inherits_country(corpus_dir: Path) -> None:
    path = corpus_dir / "saudi_arabia_housing_ar" / "نظام التمويل العقاري.md"
    if not path.is_file():
        pytest.skip(f"{path} not in the corpus")
    paragraphs = [p for p in path.read_text(encoding="utf-8").split("\n\n") if len(p) > 200][:6]
    tags = Tagger().tag([TagInput(str(i), p, "ar", ["SAU"]) for i, p in enumerate(paragraphs)])
    assert all(t.countries == ["SAU"] and t.regions == ["arab_states"] for t in tags)
    assert any("affordability" in t.components for t in tags)


# ------------------------------------------------------------------------------------ with the model
@pytest.fixture(scope="module")
def model_tagger(e5_embedder) -> Tagger:
    return Tagger(embedder=e5_embedder)


@pytest.mark.model
def test_model_tagger_clear_cut(model_tagger: Tagger) -> None:
    picks = [CLEAR_CUT[i] for i in (0, 3, 6, 9, 13, 15)]
    tags = model_tagger.tag([TagInput(str(i), text, lang) for i, (_, lang, text) in enumerate(picks)])
    for (key, _, _), tag in zip(picks, tags, strict=True):
        assert key in tag.components


@pytest.mark.model
def test_precomputed_vectors_give_same_tags(model_tagger: Tagger, e5_embedder) -> None:
    items = [TagInput(str(i), text, lang) for i, (_, lang, text) in enumerate(CLEAR_CUT[:4])]
    vectors = e5_embedder.embed_passages([i.text for i in items])
    assert model_tagger.tag(items, vectors) == model_tagger.tag(items)


@pytest.mark.model
def test_version_differs_with_embedder(model_tagger: Tagger, lexical_tagger: Tagger) -> None:
    assert model_tagger.vocabulary_version != lexical_tagger.vocabulary_version
