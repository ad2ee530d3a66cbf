"""The per-language analysers: the same word in its different written forms must meet."""

from __future__ import annotations

import subprocess
import sys

import pytest

from housing_kb.index.lexical.analysis import (
    analyze,
    analyze_query,
    analyze_spans,
    detect_query_language,
    normalize_arabic,
    primary_language,
    stem_arabic,
    stopword_vote,
)


def test_chinese_is_segmented_and_punctuation_and_stop_words_dropped() -> None:
    terms = analyze("住房公积金的增值收益，应当存入专户。", "zh")
    assert "公积金" in terms and "住房" in terms and "收益" in terms
    assert "的" not in terms and "，" not in terms and "。" not in terms


def test_chinese_runs_are_segmented_inside_text_of_another_language() -> None:
    assert {"住房", "公积金"} <= set(analyze("The 住房公积金 scheme", "en"))
    assert analyze("GDP增长2010年", "zh") == ["gdp", "增长", "2010", "年"]


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("الإسكان", "الاسكان"),  # hamza-under alef
        ("الأرض", "الارض"),  # hamza-over alef
        ("آمن", "امن"),  # madda
        ("مدينة", "مدينه"),  # taa marbuta
        ("مبنى", "مبني"),  # alef maqsura
        ("مؤسسة", "موسسه"),  # hamza on waw
        ("هيئة", "هييه"),  # hamza on yaa
        ("السَّكَنُ", "السكن"),  # harakat
        ("الســـكن", "السكن"),  # tatweel
    ],
)
def test_arabic_normalisation(variant: str, canonical: str) -> None:
    assert normalize_arabic(variant) == canonical
    assert analyze(variant, "ar") == analyze(canonical, "ar")


def test_arabic_light_stemmer_strips_article_prefixes_and_suffixes() -> None:
    stems = {stem_arabic(normalize_arabic(w)) for w in ("المسكن", "والمسكن", "بالمسكن", "للمسكن", "مسكن")}
    assert stems == {"مسكن"}
    assert stem_arabic(normalize_arabic("السكنية")) == "سكن"
    assert stem_arabic(normalize_arabic("الحكومات")) == stem_arabic(normalize_arabic("الحكومة"))
    assert stem_arabic(normalize_arabic("إلى")) is None  # stop word, matched in normalised form
    assert stem_arabic("بيت") == "بيت"  # too short to lose a letter


def test_arabic_indic_digits_become_ascii() -> None:
    assert "322" in analyze("الأمر الملكي رقم (أ ٣٢٢)", "ar")


@pytest.mark.parametrize(
    ("language", "forms"),
    [
        ("fr", ["logement", "logements"]),
        ("fr", ["expulsion", "expulsions"]),
        ("es", ["vivienda", "viviendas"]),
        ("es", ["desalojo", "desalojos"]),
        ("ru", ["жилище", "жилища", "жилищем"]),
        ("pt", ["habitação", "habitações"]),
        ("en", ["eviction", "evictions"]),
    ],
)
def test_snowball_stemming_conflates_inflections(language: str, forms: list[str]) -> None:
    stems = {tuple(analyze(form, language)) for form in forms}
    assert len(stems) == 1 and stems != {()}


def test_stop_words_are_dropped_per_language() -> None:
    assert analyze("the right to the city", "en") == ["right", "citi"]
    assert "le" not in analyze("le droit au logement", "fr")
    assert "и" not in analyze("жилище и земля", "ru")


def test_accents_are_folded_after_stemming() -> None:
    assert analyze("política habitacional", "es") == analyze("politica habitacional", "es")


def test_unknown_language_is_lowercased_unicode_words() -> None:
    assert analyze("Wohnungs-Politik 2024", "de") == ["wohnungs", "politik", "2024"]


def test_language_codes_are_reduced_to_their_primary_subtag() -> None:
    assert primary_language("zh-cn") == "zh" and primary_language("pt_BR") == "pt"
    assert analyze("viviendas", "es-CO") == analyze("viviendas", "es")


def test_spans_point_into_the_original_text() -> None:
    text = "Le droit au logement. 住房公积金"
    for start, end, term in analyze_spans(text, "fr"):
        assert text[start:end].lower().startswith(term[:3]) or term in text[start:end]


def test_short_latin_query_gets_stems_of_every_latin_language() -> None:
    terms = analyze_query("desalojos")
    assert analyze("desalojos", "es")[0] in terms
    assert "desalojos" in terms  # the plain word too


def test_long_query_uses_the_detected_language() -> None:
    query = "Quelles sont les garanties contre les expulsions forcées de logement ?"
    assert detect_query_language(query) == "fr"
    assert analyze_query(query) == list(dict.fromkeys(analyze(query, "fr")))


def test_query_language_can_be_given() -> None:
    assert analyze_query("housing", "en") == ["hous"]


def test_spanish_and_portuguese_queries_are_stemmed_in_both() -> None:
    terms = analyze_query("déficit habitacional de moradias", "pt")
    assert analyze("moradias", "pt")[0] in terms and analyze("moradias", "es")[0] in terms
    assert analyze("habitacional", "es")[0] in terms
    assert "de" not in terms  # stop words of both


def test_mixed_script_query_uses_each_script_analyser() -> None:
    terms = analyze_query("住房公积金 жилищного الإسكان")
    assert "公积金" in terms
    assert analyze("жилищного", "ru")[0] in terms
    assert analyze("الإسكان", "ar")[0] in terms


def test_detection_is_deterministic() -> None:
    query = "What protections exist against forced evictions in informal settlements?"
    assert {detect_query_language(query) for _ in range(5)} == {"en"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("¿Cuáles son los derechos de los inquilinos frente a un desalojo?", "es"),
        ("Quais são os direitos dos moradores de favelas no Brasil?", "pt"),
        ("What are the rights of tenants when they are evicted?", "en"),
    ],
)
def test_stop_word_vote_decides_questions(query: str, expected: str) -> None:
    assert stopword_vote(query.lower().replace("?", "").replace("¿", "").split()) == expected
    assert detect_query_language(query) == expected


def test_vote_leaves_languages_without_a_stemmer_to_langdetect() -> None:
    # Italian shares "la", "e", "a" with Spanish and Portuguese; its own stop words must win the vote,
    # and langdetect then names it (the Latin words are analysed without a stemmer).
    query = "il diritto alla casa per tutti i cittadini della città"
    assert stopword_vote(query.split()) == "it"
    assert detect_query_language(query) == "it"


def test_keyword_queries_stay_undecided_by_the_vote() -> None:
    assert stopword_vote(["slum", "upgrading", "tenure", "security", "kenya"]) is None


def test_jieba_loads_silently() -> None:
    code = "from housing_kb.index.lexical.analysis import analyze; analyze('住房公积金', 'zh')"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stderr == ""
