"""The search page in headless Debian Chromium (driven by Playwright, no browser download), against a real
uvicorn server over a small multilingual index of real documents: typeahead by keyboard, a search, a
facet, an Arabic card laid out right to left, the examples dialog, the document view, the evidence map
and the French interface. A screenshot is kept in tests/artifacts/ (git-ignored).

Needs ``apt-get install chromium`` (skips with the reason when /usr/bin/chromium is absent).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from conftest import copy_into, manifest_entry, serve_in_thread, use_llm, write_manifest

from housing_kb.api.app import create_app
from housing_kb.api.keys import KeyStore
from housing_kb.api.worker import Worker
from housing_kb.index.query.engine import SearchEngine
from housing_kb.ingest.pipeline import run_ingest
from housing_kb.schema.labels import label, load_labels

pytestmark = pytest.mark.model

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
# The browser is slow to start on a loaded 2-core machine and every search embeds the query on CPU.
TIMEOUT_MS = 60_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

MUKURU = "undp_acclabs_case_studies/blog_voices_of_mukuru_real_faces_of_the_world_of_work.md"
KAMPALA = (
    "undp_acclabs_case_studies/blog_bridging_the_divide_informal_settlers_government_and_"
    "stakeholders_unite_to_tackle_kampala_s_flooding_crisis.md"
)
SAUDI = "saudi_arabia_housing_ar/أمر ملكي رقم (أ ٣٢٢) ضم وزارة الإسكان إلى وزارة الشؤون البلدية والقروية.md"
ENTREPATIOS = "undp_acclabs_case_studies/entrepatios__housing_cooperative.md"
GUANGDONG = "china_laws_zh/广东省城镇房屋租赁条例(2021-09-29).md"

# Wait until the page has finished a search: results rendered and no request in flight.
RESULTS_READY = (
    "() => !document.querySelector('#results').hasAttribute('aria-busy')"
    " && document.querySelectorAll('#results > li').length > 0"
)


# Own index, not small_index: test_contribute_review_and_publish_from_the_page publishes a document in it.
@pytest.fixture(scope="module")
def page_index(tmp_path_factory, corpus_dir, e5_embedder, use_embedder, model_settings):
    """Five small real documents (English, Spanish, Arabic, Chinese) indexed once for the module."""
    root = tmp_path_factory.mktemp("page-corpus")
    docs = [
        ("ke-mukuru", MUKURU, "Voices of Mukuru", "case_study", ["KEN"], ["africa"], 2020),
        (
            "ug-kampala",
            KAMPALA,
            "Kampala flooding and informal settlers",
            "case_study",
            ["UGA"],
            ["africa"],
            2023,
        ),
        ("sa-royal-order", SAUDI, "أمر ملكي ضم وزارة الإسكان", "law", ["SAU"], ["arab_states"], 2021),
        (
            "es-entrepatios",
            ENTREPATIOS,
            "Entrepatios housing cooperative",
            "case_study",
            ["ESP"],
            ["western_europe_others"],
            2021,
        ),
        ("cn-guangdong-lease", GUANGDONG, "广东省城镇房屋租赁条例", "law", ["CHN"], ["asia_pacific"], 2021),
    ]
    entries = []
    for doc_id, rel, title, doc_type, countries, regions, year in docs:
        copy_into(corpus_dir, root, rel)
        entries.append(
            manifest_entry(
                doc_id,
                rel,
                root,
                title=title,
                document_type=doc_type,
                countries=countries,
                regions=regions,
                year=year,
            )
        )
    work = tmp_path_factory.mktemp("page-index")
    settings = model_settings.with_(
        corpus_dir=root,
        manifest_path=write_manifest(work / "manifest.yaml", entries),
        index_dir=work / "index",
    )
    report = run_ingest(settings, embedder=e5_embedder, secondary=use_embedder, show_progress=False)
    assert report.ok, report.summary_lines()
    return settings


@pytest.fixture(scope="module")
def page_engine(page_index, e5_embedder):
    return SearchEngine.open(page_index, embedder=e5_embedder)


@pytest.fixture(scope="module")
def base_url(page_index, page_engine, e5_embedder, use_embedder):
    """A real uvicorn server on a free loopback port, serving the API and the page, with its
    contribution worker (sharing the session's models)."""
    app = create_app(
        page_index,
        engine=page_engine,
        cors_origins=[],
        worker=Worker(page_index, embedder=e5_embedder, secondary=use_embedder),
    )
    with serve_in_thread(app) as base_url:
        yield base_url + "/"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium, headless, with a fresh profile; Playwright never downloads a browser here."""
    if not CHROMIUM.exists():
        pytest.skip(
            "Chromium not installed at /usr/bin/chromium (apt-get install -y chromium chromium-driver)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (no browser download needed)"
    )
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            locale="en-US",
            viewport={"width": 1440, "height": 1000},
        )
        context.set_default_timeout(TIMEOUT_MS)
        yield context
        context.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")


def test_search_facet_examples_document_and_screenshot(page, base_url):
    open_page(page, base_url)
    endpoints = page.evaluate(
        "() => fetch('openapi.json').then(r => r.json()).then(d => Object.keys(d.paths))"
    )

    # Typeahead: keyboard-navigable listbox (ARIA combobox), Escape closes it.
    box = page.locator("#q")
    box.click()
    box.press_sequentially("ken", delay=40)
    page.wait_for_selector("#suggest-list:not([hidden]) [role=option]")
    assert box.get_attribute("aria-expanded") == "true"
    box.press("ArrowDown")
    active = box.get_attribute("aria-activedescendant")
    assert active and page.locator(f"#{active}").get_attribute("aria-selected") == "true"
    box.press("Escape")
    assert page.locator("#suggest-list").is_hidden()
    assert box.get_attribute("aria-expanded") == "false"

    # A search by keyboard (Enter), with the count announced in the live region.
    box.fill("how do informal settlers cope with flooding")
    box.press("Enter")
    page.wait_for_function(RESULTS_READY)
    status = page.locator("#status")
    assert status.get_attribute("role") == "status" and status.get_attribute("aria-live") == "polite"
    assert "matching passages" in status.inner_text()

    # Facet counts, then a facet: every card afterwards carries that region.
    africa = page.locator("#f-region-africa")
    count = int(page.locator("label[for=f-region-africa] .count").inner_text())
    assert count > 0
    africa.check()
    page.wait_for_function(RESULTS_READY)
    assert "region=africa" in page.url
    cards = page.locator("#results > li")
    assert cards.count() > 0
    for i in range(cards.count()):
        assert cards.nth(i).locator(".chip[data-facet=region][data-value=africa]").count() == 1
    first = cards.first
    assert first.locator(".excerpt mark").count() > 0, "the highlighted excerpt keeps its <mark>s"
    assert first.locator(".citation .cite-title").inner_text()
    assert page.locator("#active-filters .active-chip").count() == 1

    # The evidence map: components x regions, with the African passages counted.
    page.wait_for_selector(".gap-table")
    assert page.locator(".gap-table tbody tr").count() == 8
    assert page.locator(".gap-table thead th").count() == 8  # corner + 7 regions

    # The brief button appears only when the server has /brief.
    assert page.locator("#brief-panel").is_visible() == ("/v1/brief" in endpoints)

    # Examples from other countries: a dialog that Escape closes, focus back on its button.
    buttons = first.locator(".examples-button")
    if "/v1/examples" in endpoints:
        buttons.click()
        dialog = page.locator("#examples-dialog")
        assert dialog.is_visible()
        page.wait_for_function(
            "() => document.querySelectorAll('#examples-list > li').length > 0"
            " || document.querySelector('#examples-status').textContent.trim() !== ''"
            " && !document.querySelector('#examples-status').textContent.includes('…')"
        )
        examples = page.locator("#examples-list > li")
        assert examples.count() > 0, page.locator("#examples-status").inner_text()
        for i in range(examples.count()):
            assert examples.nth(i).locator(".citation").count() == 1
        page.screenshot(path=str(_artifact("search_page_examples.png")))
        page.keyboard.press("Escape")
        assert dialog.is_hidden()
        assert page.evaluate("() => document.activeElement.classList.contains('examples-button')")
    else:
        assert buttons.count() == 0, "no examples link while the server has no /examples"

    page.screenshot(path=str(_artifact("search_page.png")), full_page=True)

    # The document view scrolls to the passage and marks it.
    passage_id = first.get_attribute("data-passage-id")
    first.locator(".card-title a").click()
    page.wait_for_selector(".passage.is-target")
    assert page.locator(".passage.is-target").get_attribute("id") == passage_id
    assert page.locator("#doc-title").inner_text()


def test_arabic_card_is_right_to_left_and_layout_holds(page, base_url):
    open_page(page, base_url + "?q=" + "وزارة الإسكان")
    page.wait_for_function(RESULTS_READY)
    arabic = page.locator("#results > li[data-language=ar]")
    assert arabic.count() > 0, "expected an Arabic passage for an Arabic query"
    assert arabic.first.locator(".excerpt").get_attribute("dir") == "rtl"
    assert arabic.first.locator(".excerpt").get_attribute("lang") == "ar"
    # No horizontal scrolling: long right-to-left text wraps inside its card.
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.screenshot(path=str(_artifact("search_page_arabic.png")))


def test_a_question_with_no_good_match_says_so_and_offers_topics(page, base_url):
    open_page(page, base_url + "?q=" + "zzqxv")
    page.wait_for_selector("#no-match .nearby-topics button")
    assert "No good match" in page.locator("#status").inner_text()
    assert page.locator("#no-match").is_visible()
    page.screenshot(path=str(_artifact("search_page_no_match.png")))
    assert page.locator("#brief-panel").is_hidden()
    assert page.locator("#gap-panel").is_hidden()


def test_a_card_in_another_language_shows_a_labelled_machine_translation(
    page, base_url, page_engine, monkeypatch
):
    from chat_stub import ChatStub

    with ChatStub() as stub:
        use_llm(monkeypatch, page_engine, stub.base_url, "stub-translator")
        open_page(page, base_url + "?q=" + "وزارة الإسكان")
        page.wait_for_function(RESULTS_READY)
        card = page.locator("#results > li[data-language=ar]").first
        assert "Machine translation (stub-translator)" in card.locator(".gist-label").inner_text()
        assert card.locator(".gist").get_attribute("lang") == "en"
        assert stub.requests, "the page asked for translations"


def test_a_law_card_cites_its_article(page, base_url):
    open_page(page, base_url + "?q=" + "出租人的房屋维修义务" + "&country=CHN")
    page.wait_for_function(RESULTS_READY)
    where = page.locator("#results > li .cite-where").first.inner_text()
    assert "第" in where and "条" in where, where
    page.screenshot(path=str(_artifact("search_page_article.png")))


def test_words_matched_in_other_languages_are_named_above_the_results(page, base_url):
    # "housing cooperatives" in Arabic: the English card's highlighted words come from the question's
    # translations, which the page lists (each in its own language) under the result count.
    open_page(page, base_url + "?q=" + "التعاونيات السكنية")
    page.wait_for_function(RESULTS_READY)
    notes = page.locator("#query-notes")
    assert notes.is_visible()
    english = notes.locator("bdi[lang=en]").all_inner_texts()
    assert any(w.startswith("cooperative") for w in english), notes.inner_text()
    card = page.locator("#results > li", has=page.locator("a", has_text="Entrepatios")).first
    assert "cooperative" in card.locator(".excerpt mark").first.inner_text().lower()
    page.screenshot(path=str(_artifact("search_page_translations.png")))
    # an English question is not translated, so the line goes away
    page.fill("#q", "housing cooperatives in Madrid")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#query-notes').hidden")


def test_french_interface_translates_labels_and_facet_values(page, base_url):
    open_page(page, base_url + "?q=housing+cooperative")
    page.wait_for_function(RESULTS_READY)
    assert page.locator("#search-form button[type=submit]").inner_text() == "Search"
    page.select_option("#ui-lang", "fr")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("#search-form button[type=submit]").inner_text() == "Rechercher"
    assert page.locator("#facet-region-legend").inner_text() == "Région"
    regions = page.locator("[id^=f-region-] + label .facet-name").all_inner_texts()
    assert regions and set(regions) <= {
        "Afrique",
        "États arabes",
        "Asie-Pacifique",
        "Europe de l’Est et Asie centrale",
        "Amérique latine et Caraïbes",
        "Europe occidentale et autres",
        "Mondial",
    }
    assert "passages correspondants" in page.locator("#status").inner_text()
    # The choice persists: a new page opens in French.
    open_page(page, base_url)
    assert page.locator("#hero-title").inner_text() == "Rechercher dans les politiques du logement"
    page.select_option("#ui-lang", "en")


@pytest.mark.parametrize(("language", "search"), [("ru", "Найти"), ("zh", "搜索"), ("pt", "Pesquisar")])
def test_every_interface_language_names_the_facets_from_the_labels_table(page, base_url, language, search):
    labels = load_labels()
    open_page(page, base_url + "?q=housing+cooperative")
    page.wait_for_function(RESULTS_READY)
    page.select_option("#ui-lang", language)
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("#search-form button[type=submit]").inner_text() == search
    names = {
        label("regions", key, language, short=short) for key in labels["regions"] for short in (False, True)
    }
    regions = page.locator("[id^=f-region-] + label .facet-name").all_inner_texts()
    assert regions and set(regions) <= names
    page.select_option("#ui-lang", "en")


def test_supply_chain_facet_and_tag_confidence(page, base_url):
    open_page(page, base_url + "?q=housing+cooperative+finance")
    page.wait_for_function(RESULTS_READY)
    assert page.locator("#facet-stage-legend").inner_text() == "Supply-chain stage"
    stages = page.locator("[id^=f-stage-]")
    assert stages.count() > 0, "no supply-chain stage among the results"
    stage = stages.first.get_attribute("data-value")
    stages.first.check()
    page.wait_for_function(RESULTS_READY)
    assert f"stage={stage}" in page.url
    cards = page.locator("#results > li")
    assert cards.count() > 0
    for i in range(cards.count()):
        assert cards.nth(i).locator(f".chip[data-facet=stage][data-value={stage}]").count() == 1
    # a component chip shows the tagger's confidence, and its title the vocabulary terms behind it
    chip = page.locator("#results .chip[data-facet=component]").first
    assert chip.count() == 1
    assert re.search(r"\d+\s?%", chip.inner_text()), chip.inner_text()
    page.screenshot(path=str(_artifact("search_page_stage_facet.png")))


def test_country_card_from_typeahead_question_and_countries_view(page, base_url):
    # Choosing "Kenya · country" in the typeahead applies the KEN filter instead of searching the word.
    open_page(page, base_url)
    box = page.locator("#q")
    box.click()
    box.press_sequentially("Kenya", delay=40)
    option = page.locator("#suggest-list [role=option]", has=page.locator(".kind-country")).filter(
        has_text=re.compile(r"^Kenya")
    )
    option.first.wait_for()
    option.first.click()
    page.wait_for_function(
        "() => document.querySelector('#status').textContent.includes('match the filters')"
    )
    assert "country=KEN" in page.url and "q=" not in page.url
    assert box.input_value() == ""
    card = page.locator("#country-panel")
    card.locator(".figure[data-series=en_lnd_slum]").wait_for()
    assert card.locator("#country-heading").inner_text() == "Kenya"
    slums = card.locator(".figure[data-series=en_lnd_slum] .figure-value").inner_text()
    assert slums == "46.5 % (2018)"  # the figure with its year, as the CSV has it
    assert "SDG Global Database" in card.locator(".country-source").first.inner_text()
    assert page.locator("#active-filters .active-chip").count() == 1

    # A question then searches within the filter; the card stays.
    box.fill("informal workers")
    box.press("Enter")
    page.wait_for_function(RESULTS_READY)
    assert "country=KEN" in page.url and "q=informal" in page.url
    cards = page.locator("#results > li")
    for i in range(cards.count()):
        assert cards.nth(i).locator(".chip[data-facet=country][data-value=KEN]").count() == 1
    assert card.is_visible() and card.locator(".country-filter").count() == 0
    page.screenshot(path=str(_artifact("search_page_country_card.png")))

    # The Countries view: a sortable table; one click filters the search to a country.
    page.locator("#countries-link").click()
    table = page.locator("#countries-table")
    table.locator("tbody tr").first.wait_for()
    assert "view=countries" in page.url and page.locator("#layout").is_hidden()
    assert table.locator("tbody tr").count() > 190
    kenya = table.locator("tbody tr[data-iso3=KEN]")
    assert "46.5" in kenya.inner_text() and "2018" in kenya.inner_text()
    table.locator(".sort-button[data-sort=en_lnd_slum]").click()
    header = table.locator("th", has=page.locator(".sort-button[data-sort=en_lnd_slum]"))
    assert header.get_attribute("aria-sort") == "descending"
    column = page.evaluate(
        "() => [...document.querySelectorAll('#countries-table thead .sort-button')].map(b => b.dataset.sort)"
    ).index("en_lnd_slum")
    values = page.evaluate(  # the first five rows' values (the cell reads "72.3 2014")
        "(c) => [...document.querySelectorAll('#countries-table tbody tr')].slice(0, 5)"
        ".map(tr => parseFloat(tr.children[c].textContent))",
        column,
    )
    assert values == sorted(values, reverse=True) and values[0] > 46.5
    table.locator(".sort-button[data-sort=documents]").click()
    assert table.locator("tbody tr").first.get_attribute("data-iso3") in {"KEN", "UGA", "SAU", "ESP", "CHN"}
    page.screenshot(path=str(_artifact("countries_view.png")))
    table.locator("tbody tr[data-iso3=UGA] .country-choose").click()  # the question stays, the filter changes
    page.wait_for_function(RESULTS_READY)
    assert "country=UGA" in page.url and "country=KEN" not in page.url and "q=informal" in page.url
    assert page.locator("#countries-view").is_hidden()
    # the card follows the new filter once its profile has loaded
    card.locator("#country-heading", has_text="Uganda").wait_for()

    # A question naming a country shows its card, with a button that filters to it.
    open_page(page, base_url)
    box.fill("informal settlers and flooding in Uganda")
    box.press("Enter")
    page.wait_for_function(RESULTS_READY)
    card.locator(".country-filter").wait_for()
    assert card.locator("#country-heading").inner_text() == "Uganda"
    card.locator(".country-filter").click()
    page.wait_for_function(RESULTS_READY)
    assert "country=UGA" in page.url


def test_keyboard_reaches_the_search_box_and_skip_link(page, base_url):
    open_page(page, base_url)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.classList.contains('skip-link')")
    assert page.locator("label[for=q]").count() == 1
    assert page.locator("label[for=ui-lang]").count() == 1


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def test_without_translation_a_foreign_card_says_what_it_is_and_which_words_matched(
    page, base_url, page_engine, monkeypatch
):
    # No endpoint: an Arabic reader of an English card still sees its country, type and year in the
    # interface language and the question's words it matched, in both languages.
    use_llm(monkeypatch, page_engine, "")
    open_page(page, base_url + "?q=" + "التعاونيات السكنية")
    page.wait_for_function(RESULTS_READY)
    page.select_option("#ui-lang", "ar")
    page.wait_for_function(RESULTS_READY)
    card = page.locator(
        "#results > li[data-language=en]", has=page.locator("a", has_text="Entrepatios")
    ).first
    meta = card.locator(".card-meta").inner_text()
    assert "إسبانيا" in meta and "2021" in meta, meta
    matched = card.locator(".matched-words").inner_text()
    assert "التعاونيات" in matched and "cooperative" in matched.lower(), matched
    assert card.locator(".gist").count() == 0
    page.screenshot(path=str(_artifact("search_page_matched_words.png")))
    page.select_option("#ui-lang", "en")


def test_api_docs_render_offline(page, base_url):
    """/docs and /redoc draw the API with no request leaving the server (no CDN)."""
    elsewhere: list[str] = []

    def only_this_server(route):
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(base_url + "docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "housing-kb" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock-summary-path[data-path='/v1/search']").count() >= 1
    page.goto(base_url + "redoc")
    page.wait_for_selector("redoc h1, .api-info h1, h1")
    assert "housing-kb" in page.locator("h1").first.inner_text()
    # Only ReDoc's own "powered by" logo, which its bundle links from its CDN, is asked for
    # elsewhere: blocked here, the page renders without it.
    assert all(url == "https://cdn.redoc.ly/redoc/logo-mini.svg" for url in elsewhere), elsewhere


def test_contribute_review_and_publish_from_the_page(page, base_url, page_index, tmp_path):
    """A contributor submits a Markdown file with the form and follows its job to review; the
    contributor's key cannot open the queue; an editor's can, sees what extraction found, and publishes;
    then a search finds the document. It is deleted afterwards, so the module's index is as it was."""
    keys = KeyStore(page_index.platform_db)
    contributor = keys.create(role="contributor", name="page contributor", by="test").secret
    editor = keys.create(role="editor", name="page editor", by="test").secret
    file = tmp_path / "voi-land-trust.md"
    file.write_text(
        "# The Voi community land trust\n\nResidents of Voi pooled their plots into a community land trust "
        "so that no household can be evicted when land prices rise; the trust leases homes on 99-year "
        "terms and the word zanzibarikite marks this test document.\n",
        encoding="utf-8",
    )
    open_page(page, base_url)
    page.click("#contribute-link")
    page.wait_for_selector("body[data-ready=true]")
    page.click("#contribute-form button[type=submit]")
    problems = page.locator("#form-problems li").all_inner_texts()
    assert {"API key: required", "File: required", "Title: required", "Email: required"} <= set(problems)

    page.fill("#api-key", contributor)
    page.set_input_files("#c-file", str(file))
    page.fill("#c-title", "Voi community land trust")
    page.select_option("#c-type", "case_study")
    page.fill("#c-countries", "KEN, XXK")  # a code only the server can refuse
    page.fill("#c-year", "2024")
    page.fill("#c-name", "A. Contributor")
    page.fill("#c-email", "contributor@example.org")
    page.select_option("#ui-lang", "fr")
    page.click("#contribute-form button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#form-problems li').length > 0")
    refused = page.locator("#form-problems li").all_inner_texts()
    # the server's problem, its field named as the French form names it
    assert len(refused) == 1 and refused[0].startswith("Pays (codes ISO"), refused
    assert "non valide" in refused[0] and "XXK" in refused[0]
    page.select_option("#ui-lang", "en")
    page.fill("#c-countries", "ken")
    page.click("#contribute-form button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('#submit-status').textContent.includes(\"editor's review\")",
        timeout=240_000,
    )
    assert page.locator("#form-problems li").count() == 0

    page.click("#load-review")
    page.wait_for_function("() => document.querySelector('#review-status').classList.contains('error')")
    assert "role" in page.locator("#review-status").inner_text()

    page.fill("#api-key", editor)
    page.click("#load-review")
    item = page.locator(".review-item", has_text="Voi community land trust")
    item.wait_for()
    facts = item.locator(".review-facts").inner_text()
    assert "Kenya" in facts and "A. Contributor" in facts and "passages" in facts
    document_id = item.get_attribute("data-document-id")
    page.screenshot(path=str(_artifact("contribute_review_queue.png")), full_page=True)
    item.get_by_role("button", name="Publish").click()
    item.locator("a[href^='document.html']").wait_for(timeout=240_000)
    assert "searchable now" in item.locator(".status").inner_text()

    api = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {editor}"}, timeout=60)
    hits = api.get("v1/search", params={"q": "zanzibarikite community land trust Voi"}).json()["hits"]
    assert document_id in [h["document"]["id"] for h in hits]
    job = api.delete(f"v1/documents/{document_id}").json()
    for _ in range(600):
        if api.get(f"v1/jobs/{job['job_id']}").json()["status"] == "deleted":
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"{document_id} was not deleted")
