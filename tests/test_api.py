"""The HTTP API on a real uvicorn server (loopback), over the session's small multilingual index of real
documents (conftest.SMALL_INDEX_DOCUMENTS): exact filters, cross-lingual and lexical hits in Chinese and
Arabic, validation errors, typeahead in two scripts, documents and passages."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from conftest import SMALL_INDEX_DOCUMENTS, serve_in_thread

from housing_kb.api.app import create_app
from housing_kb.api.keys import KeyStore
from housing_kb.index.query.engine import SearchEngine
from housing_kb.index.store.index_store import IndexStore
from housing_kb.schema.vocabulary import COMPONENT_KEYS, STAGE_KEYS

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def api_settings(small_index, tmp_path_factory):
    """The session's small index, with a data directory of its own for the keys a test makes."""
    return small_index.with_(data_root=tmp_path_factory.mktemp("api-data"))


@pytest.fixture(scope="module")
def server(api_settings, e5_embedder):
    engine = SearchEngine.open(api_settings, embedder=e5_embedder)
    app = create_app(api_settings, engine=engine, cors_origins=["https://platform.example"])
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def test_a_server_that_requires_keys_searches_only_with_one(api_settings, e5_embedder):
    engine = SearchEngine.open(api_settings, embedder=e5_embedder)
    reader = KeyStore(api_settings.platform_db).create(role="reader", name="dashboard", by="test")
    with serve_in_thread(create_app(api_settings.with_(require_key=True), engine=engine)) as url:
        q = {"q": "informal settlers and flooding in Kampala", "k": 3}
        refused = httpx.get(url + "/v1/search", params=q)
        assert refused.status_code == 401 and refused.json()["required_role"] == "reader"
        assert httpx.get(url + "/search", params=q).status_code == 401  # the deprecated alias too
        ok = httpx.get(url + "/v1/search", params=q, headers={"Authorization": f"Bearer {reader.secret}"})
        assert ok.status_code == 200 and ok.json()["hits"]


def _passages_of(settings, doc_id):
    return IndexStore.open(settings.index_dir, readonly=True).passages_of(doc_id)


def test_chinese_query_restricted_to_africa_returns_only_african_passages(server):
    r = server.get("/v1/search", params={"q": "非正规住区居民如何应对洪水", "region": "africa", "k": 10})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert hits, "expected African passages"
    assert all("africa" in h["regions"] for h in hits)
    assert {h["document"]["id"] for h in hits} <= {"ke-mukuru", "ug-kampala", "regional-note"}
    # the query is Chinese, the passages English: cross-lingual retrieval finds the flooding case
    assert "ug-kampala" in [h["document"]["id"] for h in hits[:3]]


def test_filter_with_few_matches_returns_all_of_them(server, api_settings):
    expected = {r.passage_id for r in _passages_of(api_settings, "sa-royal-order")}
    for mode in ("dense", "hybrid"):
        r = server.get(
            "/v1/search",
            params={"q": "housing finance for young families", "country": "SAU", "k": 50, "mode": mode},
        )
        assert r.status_code == 200, r.text
        assert {h["passage_id"] for h in r.json()["hits"]} == expected


def test_chinese_lexical_hit_is_highlighted(server):
    r = server.get("/v1/search", params={"q": "房屋租赁", "mode": "lexical", "k": 5})
    assert r.status_code == 200, r.text
    top = r.json()["hits"][0]
    assert top["document"]["id"] == "cn-guangdong-lease" and top["language"] == "zh"
    assert "<mark>" in top["highlighted"]


def test_arabic_lexical_hit_ignores_hamza_and_taa_marbuta(server):
    # the document writes الإسكان with hamza under alef; the query omits it
    r = server.get("/v1/search", params={"q": "وزارة الاسكان", "mode": "lexical", "k": 5})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert hits and hits[0]["document"]["id"] == "sa-royal-order" and hits[0]["language"] == "ar"
    assert "<mark>" in hits[0]["highlighted"]


def test_post_search_matches_get(server):
    params = {"q": "housing cooperative", "k": 3, "mode": "hybrid"}
    got = server.get("/v1/search", params=params).json()
    posted = server.post("/v1/search", json=params).json()
    assert [h["passage_id"] for h in got["hits"]] == [h["passage_id"] for h in posted["hits"]]
    assert got["hits"][0]["citation"]["title"] == got["hits"][0]["document"]["title"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"q": "housing", "k": 0}, "k"),
        ({"q": "housing", "k": 1000}, "k"),
        ({"q": "housing", "offset": -1}, "offset"),
        ({"q": "x" * 501}, "q"),
        ({"q": ""}, "q"),
        ({"q": "housing", "mode": "semantic"}, "mode"),
        ({"q": "housing", "year_from": "recent"}, "year_from"),
    ],
)
def test_bad_parameters_give_clear_422(server, params, parameter):
    r = server.get("/v1/search", params=params)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_parameter" and body["parameter"] == parameter
    assert parameter in body["message"]


def test_unknown_filter_value_lists_valid_values(server):
    r = server.get("/v1/search", params={"q": "housing", "region": "mars"})
    assert r.status_code == 422
    body = r.json()
    assert body["parameter"] == "region" and "africa" in body["valid"] and "mars" in body["message"]
    r = server.get("/v1/search", params={"q": "housing", "component": "affordable"})
    assert r.status_code == 422 and "affordability" in r.json()["valid"]


@pytest.mark.parametrize(
    ("params", "parameter", "in_message"),
    [
        ({"country": "BRZ"}, "country", "'BRZ'"),
        ({"country": ""}, "country", "empty country"),
        ({"language": "cn"}, "language", "'cn'"),
        ({"language": ""}, "language", "empty language"),
        ({"year_from": 2020, "year_to": 2010}, "year_from", "after year_to"),
    ],
)
def test_unknown_country_and_language_values_are_refused_like_regions(server, params, parameter, in_message):
    for method in ("get", "post"):
        if method == "get":
            r = server.get("/v1/search", params={"q": "housing", **params})
        else:
            r = server.post(
                "/v1/search",
                json={
                    "q": "housing",
                    **{k: [v] if k in ("country", "language") else v for k, v in params.items()},
                },
            )
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["parameter"] == parameter and in_message in body["message"]
    if parameter == "country":
        assert "KEN" in body["valid"]  # the countries this index has
    # an existing code with no passage here is a valid filter with no hits
    ok = server.get("/v1/search", params={"q": "housing", "country": "NOR", "language": "sw"})
    assert ok.status_code == 200 and ok.json()["hits"] == []


def test_a_filter_repeated_past_the_limit_is_a_422_naming_it(server):
    countries = ["KEN", "UGA", "ESP"] * 17  # 51 values
    for r in (
        server.get("/v1/search", params={"q": "housing", "country": countries}),
        server.post("/v1/search", json={"q": "housing", "country": countries}),
        server.get("/v1/facets", params={"country": countries}),
    ):
        assert r.status_code == 422, r.text
        assert r.json()["parameter"] == "country" and "at most 50 values" in r.json()["message"]
    assert server.get("/v1/search", params={"q": "housing", "country": countries[:50]}).status_code == 200


@pytest.mark.parametrize("q", ["   ", "\x00\x00", "\t\n"])
def test_a_query_without_words_is_a_422(server, q):
    for path in ("/v1/search", "/v1/ask", "/v1/examples"):
        r = server.get(path, params={"q": q})
        assert r.status_code == 422, (path, r.text)
        assert r.json()["parameter"] == "q"
    r = server.post("/v1/search", json={"q": q})
    assert r.status_code == 422 and r.json()["parameter"] == "q"


def test_methods_and_bodies_the_api_does_not_take(server):
    r = server.request("TRACE", "/v1/search")
    assert r.status_code == 405 and "GET" in r.headers["allow"]
    bad = server.post("/v1/search", content=b'{"q": "housing",', headers={"content-type": "application/json"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_parameter"
    schema = server.get("/openapi.json").json()
    brief = schema["paths"]["/v1/brief"]["get"]["responses"]
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert docx in brief["200"]["content"] and "503" in brief
    assert "422" in schema["paths"]["/v1/search"]["post"]["responses"]


BRIEF_TOPIC = "informal settlers and flooding in Kampala"


def test_briefs_past_the_pool_get_503_and_search_stays_up(server, monkeypatch):
    from housing_kb.api.routers import answers
    from housing_kb.api.throttle import WorkGate

    gate = WorkGate(slots=1, queue=0, what="brief", retry_after=5)
    monkeypatch.setattr(answers, "BRIEFS_AT_ONCE", gate)
    with gate.enter():  # a brief is being made
        r = server.get("/v1/brief", params={"topic": BRIEF_TOPIC, "format": "md"})
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.json()["error"] == "busy"
        assert server.get("/v1/health").status_code == 200
        assert server.get("/v1/search", params={"q": "flooding"}).status_code == 200
    assert server.get("/v1/brief", params={"topic": BRIEF_TOPIC, "format": "md"}).status_code == 200


def test_hits_carry_tag_confidence_evidence_and_stages(server):
    body = server.get(
        "/v1/search", params={"q": "housing cooperative savings for land", "k": 10, "facets": "true"}
    ).json()
    assert "stage" in body["facets"]
    tagged = [h for h in body["hits"] if h["components"]]
    assert tagged, "no tagged hit"
    for hit in body["hits"]:
        assert set(hit["component_confidence"]) == set(COMPONENT_KEYS)
        assert set(hit["stage_confidence"]) >= set(hit["stages"])
        assert set(hit["tag_evidence"]) <= set(hit["components"])
        assert all(terms for terms in hit["tag_evidence"].values())
    assert any(h["tag_evidence"] for h in tagged), "no tag explained by a vocabulary term"


def test_stage_and_min_confidence_filters_are_exact(server):
    base = {"q": "housing", "k": 50}
    facets = server.get("/v1/search", params={**base, "facets": "true"}).json()["facets"]["stage"]
    assert facets, "no passage of the fixture index carries a supply-chain stage"
    stage = max(facets, key=facets.get)
    hits = server.get("/v1/search", params={**base, "stage": stage}).json()["hits"]
    assert hits and all(stage in h["stages"] for h in hits)
    sure = server.get(
        "/v1/search", params={**base, "component": "affordability", "min_confidence": 0.8}
    ).json()["hits"]
    loose = server.get(
        "/v1/search", params={**base, "component": "affordability", "min_confidence": 0.05}
    ).json()["hits"]
    assert all(h["component_confidence"]["affordability"] >= 0.8 for h in sure)
    assert all(h["component_confidence"]["affordability"] >= 0.05 for h in loose)
    assert len(loose) >= len(sure)
    bad = server.get("/v1/search", params={**base, "stage": "marketing"})
    assert bad.status_code == 422 and "land_management" in bad.json()["valid"]
    assert server.get("/v1/search", params={**base, "min_confidence": 1.5}).status_code == 422
    labels = server.get("/v1/labels").json()
    assert tuple(labels["stages"]) == STAGE_KEYS
    assert labels["stages"]["housing_finance"]["zh"] == "住房金融"


def test_suggest_in_two_scripts(server):
    latin = server.get("/v1/suggest", params={"q": "ken"}).json()["suggestions"]
    assert any(s["kind"] == "country" and s["value"] == "KEN" for s in latin)
    han = server.get("/v1/suggest", params={"q": "广东"}).json()["suggestions"]
    assert any(s["kind"] == "title" and s["value"] == "cn-guangdong-lease" for s in han)
    arabic = server.get("/v1/suggest", params={"q": "أمر"}).json()["suggestions"]
    assert any(s["value"] == "sa-royal-order" for s in arabic)


def test_facets_count_the_filtered_passages(server, api_settings):
    r = server.get("/v1/facets", params={"region": "africa"})
    assert r.status_code == 200
    body = r.json()
    n_cases = len(_passages_of(api_settings, "ke-mukuru")) + len(_passages_of(api_settings, "ug-kampala"))
    n_note = len(_passages_of(api_settings, "regional-note"))  # every one of them names Africa
    assert body["total"] == n_cases + n_note
    assert body["facets"]["document_type"] == {"case_study": n_cases, "research": n_note}
    with_query = server.get("/v1/search", params={"q": "flood", "facets": "true", "k": 3}).json()
    assert set(with_query["facets"]) == {
        "component",
        "stage",
        "region",
        "country",
        "document_type",
        "language",
        "year",
        "kind",
    }


def test_documents_and_passages(server, api_settings):
    n = len(SMALL_INDEX_DOCUMENTS)
    docs = server.get("/v1/documents").json()
    assert docs["total"] == n and docs["limit"] == 100 and docs["offset"] == 0
    ids = [d["id"] for d in docs["documents"]]
    assert ids == sorted(SMALL_INDEX_DOCUMENTS)
    offsets = range(0, n + 4, 4)  # every page, and one past the last
    pages = [server.get("/v1/documents", params={"limit": 4, "offset": o}).json() for o in offsets]
    assert [[d["id"] for d in p["documents"]] for p in pages] == [ids[o : o + 4] for o in offsets]
    assert pages[-1]["documents"] == [] and all(p["total"] == n for p in pages)
    assert server.get("/v1/documents", params={"limit": 0}).json()["parameter"] == "limit"
    detail = server.get("/v1/documents/ke-mukuru").json()
    assert detail["countries"] == ["KEN"] and detail["passages"] == len(detail["passage_list"]) > 0
    pid = detail["passage_list"][0]["passage_id"]
    passage = server.get(f"/v1/passages/{pid}").json()
    assert passage["citation"]["document_id"] == "ke-mukuru" and passage["text"]
    missing = server.get("/v1/documents/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["message"]
    assert server.get("/v1/passages/nope").status_code == 404


def test_health_openapi_and_cors(server, api_settings):
    health = server.get("/v1/health").json()
    assert health["status"] == "ok" and health["documents"] == len(SMALL_INDEX_DOCUMENTS)
    assert health["lexical"] is True
    assert health["query_engine"] == "onnx"  # setup builds the int8 query file, so nothing fell back
    stored = IndexStore.open(api_settings.index_dir, readonly=True)
    languages = Counter(r["language"] for r in stored.iter_passages("language"))
    counted = sum(n >= 20 and lang != "und" for lang, n in languages.items())
    assert health["language_directions_removed"] == max(0, counted - 1)
    assert health["translation_words"] > 100
    schema = server.get("/openapi.json").json()
    hit = schema["components"]["schemas"]["HitOut"]["properties"]
    assert hit["page_start"] and hit["paragraphs"] and "description" in hit["highlighted"]
    pre = server.options(
        "/v1/search",
        headers={"Origin": "https://platform.example", "Access-Control-Request-Method": "GET"},
    )
    assert pre.headers.get("access-control-allow-origin") == "https://platform.example"


def test_question_words_are_translated_for_bm25_and_their_matches_highlighted(server):
    # "housing cooperatives" in Arabic: no English passage shares a term with it, but its words'
    # English translations join the BM25 query, and show where they matched.
    body = server.get("/v1/search", params={"q": "التعاونيات السكنية", "k": 5, "highlight": "true"}).json()
    assert body["query_language"] == "ar"
    english = {t["word"] for t in body["query_translations"] if t["language"] == "en"}
    assert any(w.startswith("cooperative") for w in english), body["query_translations"]
    assert all(
        t["source"] in ("التعاونيات", "السكنية") and t["cosine"] >= 0.8 for t in body["query_translations"]
    )
    entrepatios = next(h for h in body["hits"] if h["document"]["id"] == "es-entrepatios")
    assert "<mark>cooperative" in entrepatios["highlighted"].lower()
    # The hit names the question's words it matched in translation, for a reader of Arabic.
    matched = entrepatios["matched_translations"]
    assert matched and all(
        t["language"] == "en" and t["word"].lower() in entrepatios["text"].lower() for t in matched
    )
    assert any(t["source"] == "التعاونيات" and t["word"].startswith("cooperative") for t in matched)
    assert all(not h["matched_translations"] for h in body["hits"] if h["language"] == "ar")
    # lexical mode matches the words typed, and English questions are not translated
    literal = server.get("/v1/search", params={"q": "التعاونيات السكنية", "mode": "lexical"}).json()
    assert literal["query_translations"] == []
    assert (
        server.get("/v1/search", params={"q": "housing cooperatives in Madrid"}).json()["query_translations"]
        == []
    )


def test_place_named_in_query_favours_that_countrys_documents(server):
    # Spanish question about Saudi Arabia; the Saudi document is in Arabic.
    q = "¿Qué decidió Arabia Saudí sobre su ministerio de vivienda?"
    r = server.get("/v1/search", params={"q": q, "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["boosted_countries"] == ["SAU"]
    assert body["hits"][0]["document"]["id"] == "sa-royal-order"
    # a province stands for its country too (Guangdong -> China), in English or Chinese
    for q in ("tenancy registration rules in Guangdong", "广东的租赁登记"):
        r = server.get("/v1/search", params={"q": q, "k": 3})
        assert r.json()["boosted_countries"] == ["CHN"], q
        assert r.json()["hits"][0]["document"]["id"] == "cn-guangdong-lease", q
    # so does a large city or a capital, in any script: Nairobi -> Kenya, Mukuru's document first
    for city_q in ("how do workers in Nairobi's informal settlements get by?", "内罗毕非正规住区的工人"):
        body = server.get("/v1/search", params={"q": city_q, "k": 3}).json()
        assert body["boosted_countries"] == ["KEN"], city_q
        assert body["hits"][0]["document"]["id"] == "ke-mukuru", city_q
    # turned off, or made moot by an explicit country filter
    off = server.get("/v1/search", params={"q": q, "boost_places": "false"}).json()
    assert off["boosted_countries"] == []
    filtered = server.get("/v1/search", params={"q": q, "country": "CHN"}).json()
    assert filtered["boosted_countries"] == []
    assert {h["document"]["id"] for h in filtered["hits"]} == {"cn-guangdong-lease"}


def test_region_named_in_query_favours_passages_naming_it(server):
    # No country, a region: the passages that name Africa are favoured, in English or Chinese. Only
    # the regional note names it in prose (Mukuru's footnote link to ilo.org/africa does not count).
    def first_naming_africa(hits: list[dict]) -> int:
        return next((i for i, h in enumerate(hits) if h["document"]["id"] == "regional-note"), len(hits))

    for q in ("informal settlements and flooding in Africa", "非洲的非正规住区"):
        body = server.get("/v1/search", params={"q": q, "k": 20}).json()
        assert body["boosted_regions"] == ["africa"] and body["boosted_countries"] == [], q
        plain = server.get("/v1/search", params={"q": q, "k": 20, "boost_places": "false"}).json()
        boosted, unboosted = first_naming_africa(body["hits"]), first_naming_africa(plain["hits"])
        # it moves up (passages about the query's own topic may still rank above it)
        assert boosted < unboosted or boosted == 0, (q, boosted, unboosted)
    # A named country takes precedence; the switch turns both off.
    both = server.get("/v1/search", params={"q": "Kenya and the rest of Africa"}).json()
    assert both["boosted_countries"] == ["KEN"] and both["boosted_regions"] == []
    off = server.get("/v1/search", params={"q": "housing in Africa", "boost_places": "false"}).json()
    assert off["boosted_regions"] == []


@pytest.mark.parametrize("q", ["zzqxv", "chocolate cake recipe", "红烧肉的做法"])
def test_a_query_with_no_good_match_says_so(server, q):
    body = server.get("/v1/search", params={"q": q}).json()
    assert body["relevance"]["label"] == "none" and 0 <= body["relevance"]["best"] < 0.5
    assert body["total"] == 0
    ask = server.get("/v1/ask", params={"q": q}).json()
    assert ask["sentences"] == [] and ask["relevance"]["label"] == "none" and ask["no_answer"]
    brief = server.get("/v1/brief", params={"topic": q, "format": "md"})
    assert brief.status_code == 422 and brief.json()["parameter"] == "topic"
    assert "no good match" in brief.json()["message"]


def test_forcing_answers_a_query_with_no_good_match(server):
    ask = server.get("/v1/ask", params={"q": "chocolate cake recipe", "force": "true"}).json()
    assert ask["sentences"] and ask["no_answer"] is None
    brief = server.get(
        "/v1/brief", params={"topic": "chocolate cake recipe", "format": "md", "force": "true"}
    )
    assert brief.status_code == 200 and brief.text.startswith("#")


def test_an_on_topic_query_has_a_match_and_paging_keeps_its_total(server):
    first = server.get("/v1/search", params={"q": "informal settlers and flooding in Kampala", "k": 3}).json()
    assert first["relevance"]["label"] in ("strong", "weak") and first["relevance"]["best"] >= 0.5
    assert first["total"] >= 1
    later = server.get(
        "/v1/search", params={"q": "informal settlers and flooding in Kampala", "k": 3, "offset": 6}
    ).json()
    assert later["total"] == first["total"] and later["relevance"] == first["relevance"]


def test_a_request_body_over_the_limit_is_refused_unread(server):
    # Declared: refused from its Content-Length, before the body is read.
    huge = b'{"q": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    r = server.post("/v1/search", content=huge, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == "request_too_large" and "HOUSING_KB_MAX_BODY_BYTES" in r.json()["message"]

    # Streamed without a length (chunked): refused once the bytes received pass the limit.
    def chunks():
        yield b'{"q": "'
        for _ in range(64):
            yield b"x" * 65536
        yield b'"}'

    r = server.post("/v1/search", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["parameter"] == "body"
    # A normal body still passes.
    assert server.post("/v1/search", json={"q": "security of tenure", "k": 2}).status_code == 200


def test_a_host_header_the_server_does_not_answer_to_is_refused(server):
    # DNS rebinding: a page on attacker.example whose name now resolves to 127.0.0.1.
    assert server.get("/v1/health", headers={"host": "attacker.example"}).status_code == 400
    assert server.get("/v1/health", headers={"host": "localhost"}).status_code == 200
    assert server.get("/v1/health").status_code == 200  # 127.0.0.1:port
