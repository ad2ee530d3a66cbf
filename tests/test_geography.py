"""Gazetteer, region mapping and country inheritance (no model needed)."""

from __future__ import annotations

import pycountry
import pytest

from housing_kb.text.geography import (
    REGION_KEYS,
    Gazetteer,
    GeographyError,
    passage_geography,
    regions_for_countries,
)


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.default()


def countries(gaz: Gazetteer, text: str) -> list[str]:
    return gaz.find(text).countries


def test_every_iso_country_has_exactly_one_region(gaz: Gazetteer) -> None:
    codes = {c.alpha_3 for c in pycountry.countries}
    assert set(gaz.region_of) == codes
    assert set(gaz.region_of.values()) == set(REGION_KEYS)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (["KEN"], ["africa"]),
        (["EGY", "MAR", "SAU"], ["arab_states"]),  # League of Arab States members, Africa included
        (["USA", "CAN", "AUS", "ISR", "TUR"], ["western_europe_others"]),
        (["KAZ", "RUS", "POL"], ["eastern_europe_central_asia"]),
        (["BRA", "IND"], ["asia_pacific", "latin_america_caribbean"]),
        ([], ["global"]),
    ],
)
def test_regions_for_countries(codes: list[str], expected: list[str]) -> None:
    assert regions_for_countries(codes) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A kenyan family", ["KEN"]),
        ("le gouvernement marocain", ["MAR"]),
        ("沙特住房部", ["SAU"]),
        ("قررت الإمارات", ["ARE"]),
        ("في السعودية والإمارات", ["ARE", "SAU"]),  # و and ب clitics
        ("بالمملكة العربية السعودية", ["SAU"]),
        ("Côte d'Ivoire and Ivory Coast", ["CIV"]),
        ("Türkiye, formerly Turkey", ["TUR"]),
        ("Czechia", ["CZE"]),
        ("Viet Nam", ["VNM"]),
        ("DR Congo", ["COD"]),
        ("Жилищный кодекс Российской Федерации", ["RUS"]),
        ("жилищная политика Кении", ["KEN"]),
        ("los Estados Unidos y Brasil", ["BRA", "USA"]),
        ("多米尼加共和国的国家住房战略", ["DOM"]),
    ],
)
def test_names_variants_and_adjectives(gaz: Gazetteer, text: str, expected: list[str]) -> None:
    assert countries(gaz, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Papua New Guinea", ["PNG"]),  # not also Guinea
        ("Nigeria", ["NGA"]),  # not Niger
        ("Guinea-Bissau", ["GNB"]),
        ("Chad Smith said so", []),  # a person
        ("Michael Jordan", []),
        ("Atlanta, Georgia", []),  # the US state
        ("the chad of a punched card", []),  # lower case
        ("refugees in Jordan and Chad", ["JOR", "TCD"]),
        ("发展中国家的住房", []),  # "developing countries" contains 中国
        ("الدعم المالي للأسر", []),  # مالي: "financial", not Mali
        ("the European Union and the African Union", []),
        ("the Inter-American Development Bank", []),
        ("South African municipalities", ["ZAF"]),
        ("see https://www.gov.za/kenya-visit and www.unhabitat.org/brazil.", []),  # addresses
        ("write to housing@mexico.example.org", []),
    ],
)
def test_false_positives_avoided(gaz: Gazetteer, text: str, expected: list[str]) -> None:
    assert countries(gaz, text) == expected


def test_region_names_without_countries(gaz: Gazetteer) -> None:
    found = gaz.find("Projects across South East Asia and Latin America")
    assert found.countries == []
    assert found.regions == ["asia_pacific", "latin_america_caribbean"]
    assert gaz.find("South Africa").regions == []  # the country, not the region


def test_own_policy_passage_inherits_document_country() -> None:
    geo = passage_geography("Article 50. The minimum floor area is set by the local authority.", ["RUS"])
    assert (geo.countries, geo.regions) == (["RUS"], ["eastern_europe_central_asia"])


def test_global_document_passage_does_not_inherit() -> None:
    geo = passage_geography("Everyone has the right to adequate housing.", [])
    assert (geo.countries, geo.regions) == ([], ["global"])


def test_passage_about_another_country_or_region_does_not_inherit() -> None:
    assert passage_geography("In Kenya, tenants are protected.", ["PHL"]).countries == ["KEN"]
    geo = passage_geography("Funding for disaster projects across South East Asia.", ["PHL"])
    assert (geo.countries, geo.regions) == ([], ["asia_pacific"])


def test_malformed_region_file_is_reported(tmp_path) -> None:
    (tmp_path / "regions.yaml").write_text("regions: {africa: [KEN]}\n", encoding="utf-8")
    (tmp_path / "names.yaml").write_text("variants: {}\n", encoding="utf-8")
    with pytest.raises(GeographyError, match="regions.yaml"):
        Gazetteer(tmp_path)


def test_places_gazetteer_maps_subdivisions_to_countries_for_queries_only():
    places = Gazetteer.with_places()
    assert places.find("renters in Virginia and KwaZulu-Natal").countries == ["USA", "ZAF"]
    assert places.find("上海市城市更新").countries == ["CHN"]
    assert places.find("Comment Shanghai organise-t-il").countries == ["CHN"]
    # a state that is also a country keeps the country; lower-case words never count as places
    assert places.find("Georgia's housing code").countries == ["GEO"]
    assert places.find("the central and western districts").countries == []
    # passage tagging does not use subdivisions
    assert Gazetteer.default().find("renters in Virginia").countries == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("How does Nairobi upgrade its informal settlements?", ["KEN"]),
        ("مشاريع الإسكان في القاهرة", ["EGY"]),  # Arabic has no capitals to require
        ("孟买的贫民窟改造", ["IND"]),
        ("Медельин и его программы благоустройства", ["COL"]),
        ("vivienda social en Medellín y Bogotá", ["COL"]),
        ("favelas in Rio de Janeiro", ["BRA"]),  # "de" stays lower case inside the name
        ("rio de janeiro", []),  # a place counts only when written as one
        ("vivienda en Valencia", []),  # a Spanish and a Venezuelan city: no evidence for either
        ("Male-headed households", []),  # not the capital of Maldives
    ],
)
def test_places_gazetteer_knows_large_cities_and_capitals(query: str, expected: list[str]) -> None:
    assert Gazetteer.with_places().find(query).countries == expected


def test_cities_are_for_queries_only() -> None:
    assert Gazetteer.default().find("How does Nairobi upgrade its settlements?").countries == []


def test_a_link_is_not_a_passage_about_a_region() -> None:
    # A passage of a Kenyan case study whose only "Africa" is in a footnote link is about Kenya.
    geo = passage_geography(
        "[4] https://www.ilo.org/africa/areas-of-work/social-protection/index.htm", ["KEN"]
    )
    assert (geo.countries, geo.regions) == (["KEN"], ["africa"])
    geo = passage_geography("Footnote: ilo.org/asia/areas-of-work.", [])
    assert geo.regions == ["global"]
    # ... while prose beside the link still counts
    geo = passage_geography("Across sub-Saharan Africa (see https://example.org/x), rents rose.", [])
    assert geo.regions == ["africa"]


# ---------------------------------------------------------------- names that are also common words
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # French and Portuguese "meeting" (UDHR art. 20; Lei 14.620) are not Réunion
        ("Toute personne a droit à la liberté de réunion et d'association pacifiques.", []),
        ("Le conseil tient une réunion annuelle.", []),
        ("O Conselho reunir-se-á ordinariamente uma vez por ano, em reunião ordinária.", []),
        ("A reunião do conselho gestor do fundo", []),
        ("La Réunion est un département d'outre-mer.", ["REU"]),
        # "check" is not Czech (PMAY FAQ); the Spanish and Portuguese adjectives still are
        ("Can I check my application status online?", []),
        ("How do I check whether my name is on the list?", []),
        ("El gobierno checo aprobó una ley de vivienda.", ["CZE"]),
        ("O governo tcheco aprovou a lei.", ["CZE"]),
        # Niger is not found inside Nigeria, in any script
        ("Housing finance in Nigeria", ["NGA"]),
        ("le Nigéria et le Niger", ["NER", "NGA"]),
        ("в Нигерии", ["NGA"]),
        ("尼日利亚的住房", ["NGA"]),
        ("النيجر ونيجيريا", ["NER", "NGA"]),
        # Guinea inside longer names
        ("Papua New Guinea and Equatorial Guinea", ["GNQ", "PNG"]),
        ("la Papouasie-Nouvelle-Guinée et la Guinée équatoriale", ["GNQ", "PNG"]),
        ("巴布亚新几内亚和赤道几内亚", ["GNQ", "PNG"]),
        ("Папуа — Новая Гвинея и Экваториальная Гвинея", ["GNQ", "PNG"]),
        ("Guinea-Bissau and Guinea", ["GIN", "GNB"]),
        # Georgia, the US state, and Georgia, the country
        ("Atlanta, Georgia has a housing authority.", []),
        ("the Georgia Department of Community Affairs", []),
        ("Atlanta, en Géorgie (États-Unis)", ["USA"]),
        ("Tbilisi, Georgia, adopted a housing strategy.", ["GEO"]),
        ("la Géorgie et l'Arménie", ["ARM", "GEO"]),
        ("в Грузии", ["GEO"]),
        # Jordan, a person's name, and Jordan, the country
        ("Michael Jordan visited the site.", []),
        ("Senator Jordan Smith asked about rents.", []),
        ("Jordan hosts many refugees.", ["JOR"]),
        ("el gobierno jordano", ["JOR"]),
        ("الأردن يستضيف اللاجئين", ["JOR"]),
    ],
)
def test_place_names_that_are_also_common_words_need_evidence(gaz: Gazetteer, text: str, expected) -> None:
    assert countries(gaz, text) == expected


def test_a_roll_of_states_tags_no_country_but_a_short_enumeration_does(gaz: Gazetteer) -> None:
    # the attendance paragraph of the working group's report (Chinese edition), as printed
    roll = (
        "23. 人居大会的下列会员国派代表出席了本届会议：阿尔及利亚、安哥拉、阿根廷、亚美尼亚、阿塞拜疆、巴巴多斯、"
        "白俄罗斯、博茨瓦纳、巴西、布基纳法索、布隆迪、柬埔寨、喀麦隆、中国、哥伦比亚、哥斯达黎加、塞浦路斯、"
        "刚果民主共和国、多米尼加共和国、埃及、埃塞俄比亚、芬兰、法国、德国、印度、伊朗伊斯兰共和国、伊拉克、日本、"
        "肯尼亚、科威特、马拉维、马来西亚、马里、墨西哥、摩洛哥、纳米比亚、荷兰王国、尼日利亚、挪威、阿曼、菲律宾、"
        "波兰、葡萄牙、卡塔尔、俄罗斯联邦、沙特阿拉伯、塞内加尔、南非、西班牙、瑞典、泰国、突尼斯、土耳其、乌干达、"
        "大不列颠及北爱尔兰联合王国、美利坚合众国、乌拉圭、赞比亚和津巴布韦。"
    )
    assert countries(gaz, roll) == []
    english = (
        "The following States were represented: "
        + ", ".join(
            [
                "Algeria",
                "Angola",
                "Argentina",
                "Armenia",
                "Brazil",
                "China",
                "Egypt",
                "France",
                "India",
                "Japan",
            ]
        )
        + " and Kenya."
    )
    assert countries(gaz, english) == []
    # eight countries a programme worked in are what the passage is about
    enumeration = (
        "OHCHR supported national action plans in the Democratic Republic of the Congo, Ethiopia, Ghana, "
        "Mozambique, the United Republic of Tanzania and Zambia, and in Kenya and Liberia."
    )
    assert countries(gaz, enumeration) == ["COD", "ETH", "GHA", "KEN", "LBR", "MOZ", "TZA", "ZMB"]
    # a country named in the roll and again elsewhere keeps its tag
    assert countries(gaz, roll + "会议由肯尼亚主持。") == ["KEN"]
