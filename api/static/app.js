// The search page: typeahead, facet filters with counts, result cards, examples dialog, evidence map
// and brief download. State lives in the URL (?q=...&region=...), so results can be shared and the
// back button works.
//
// Example: /?q=slum+upgrading&region=africa opens with that search already run.

import {
  COMPONENT_KEYS,
  REGION_KEYS,
  componentLabel,
  countryName,
  currentLanguage,
  documentTypeLabel,
  facetLabel,
  formatNumber,
  isRtl,
  languageName,
  regionLabel,
  t,
} from "./i18n.js";
import {
  $,
  ApiError,
  api,
  apiUrl,
  chipsNode,
  citationNode,
  discoverEndpoints,
  documentHref,
  errorFrom,
  excerptNode,
  h,
  queryString,
  setupLanguageSelect,
} from "./common.js";
import { renderCountriesView, renderCountryCard } from "./countries.js";

const FACETS = ["component", "stage", "region", "country", "document_type", "language"];
const PAGE_SIZE = 10;
const GAP_K = 100; // the evidence map counts the top 100 passages (the API's maximum k)
const COLLAPSED_FACET_SIZE = 6;
const LONG_EXCERPT_CHARS = 420;

// view: "" (search) or "countries" (the Countries table)
const state = { q: "", filters: emptyFilters(), yearFrom: "", yearTo: "", offset: 0, view: "" };
const view = { response: null, hits: [], facets: null, gapHits: null, gapQuery: "", expanded: new Set() };
let endpoints = { examples: null, brief: null, gap: null };
let searchController = null;
let gapController = null;


function emptyFilters() {
  return Object.fromEntries(FACETS.map((f) => [f, []]));
}

// ------------------------------------------------------------------ start-up

async function init() {
  await setupLanguageSelect($("ui-lang"), rerender);

  setupTypeahead();
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitQuery($("q").value);
  });
  for (const button of $("try").querySelectorAll("[data-query]")) {
    button.addEventListener("click", () => submitQuery(button.dataset.query));
  }
  $("load-more").addEventListener("click", () => runSearch({ append: true }));
  $("clear-filters").addEventListener("click", () => {
    state.filters = emptyFilters();
    state.yearFrom = state.yearTo = "";
    newSearch();
  });
  setupDialog();
  $("brief-button").addEventListener("click", downloadBrief);
  $("countries-link").addEventListener("click", (event) => {
    event.preventDefault();
    state.view = "countries";
    writeUrl();
    route();
  });
  window.addEventListener("popstate", () => {
    readUrl();
    $("q").value = state.q;
    route();
  });
  // Filters are always visible on wide screens; on phones they fold into a disclosure.
  const wide = window.matchMedia("(min-width: 900px)");
  const syncFold = () => {
    document.querySelector(".facets-toggle").open = wide.matches;
  };
  wide.addEventListener("change", syncFold);
  syncFold();

  renderWelcome();
  readUrl();
  $("q").value = state.q;
  const discovery = discoverEndpoints().then((found) => {
    endpoints = found;
    rerender();
  });
  // With a translation endpoint, hits in other languages come with a labelled machine translation;
  // the first search waits for the answer so that it asks for them too.
  await api("/v1/health")
    .then((health) => {
      translations = Boolean(health.machine_translation);
    })
    .catch(() => {});
  route();
  await discovery;
  document.body.dataset.ready = "true";
}

function readUrl() {
  const params = new URLSearchParams(location.search);
  state.q = params.get("q") || "";
  state.filters = Object.fromEntries(FACETS.map((f) => [f, params.getAll(f)]));
  state.yearFrom = params.get("year_from") || "";
  state.yearTo = params.get("year_to") || "";
  state.offset = 0;
  state.view = params.get("view") === "countries" ? "countries" : "";
}

function writeUrl() {
  const params = queryString({
    view: state.view,
    q: state.q,
    ...state.filters,
    year_from: state.yearFrom,
    year_to: state.yearTo,
  });
  const url = `${location.pathname}${params ? `?${params}` : ""}`;
  if (url !== `${location.pathname}${location.search}`) history.pushState(null, "", url);
}

function submitQuery(text) {
  const q = text.trim();
  $("q").value = q;
  closeSuggestions();
  if (!q) {
    $("q").focus();
    return;
  }
  state.q = q;
  newSearch();
}

function newSearch() {
  state.offset = 0;
  state.view = "";
  writeUrl();
  route();
}

/** Show what the state asks for: the Countries view, a search, the filtered collection, or the welcome. */
function route() {
  if (state.view === "countries") showCountries();
  else if (state.q) runSearch();
  else if (anyFilter()) browseFilters();
  else showWelcome();
}

function anyFilter() {
  return FACETS.some((f) => state.filters[f].length) || Boolean(state.yearFrom || state.yearTo);
}

// ------------------------------------------------------------------ searching

/** The API parameters for the current state, optionally leaving one facet out (for its own counts). */
let translations = false;
const GIST_LANGUAGES = ["ar", "en", "es", "fr", "pt", "ru", "zh"];

function searchParams(exclude = null) {
  const params = { q: state.q };
  if (translations && exclude === null && GIST_LANGUAGES.includes(currentLanguage())) params.translate_to = currentLanguage();
  for (const facet of FACETS) if (facet !== exclude) params[facet] = state.filters[facet];
  if (exclude !== "year") {
    params.year_from = state.yearFrom;
    params.year_to = state.yearTo;
  }
  return params;
}

async function runSearch({ append = false } = {}) {
  searchController?.abort();
  searchController = new AbortController();
  const { signal } = searchController;
  const offset = append ? view.hits.length : 0;
  showLayout();
  $("gap-panel").hidden = false;
  $("results").setAttribute("aria-busy", "true");
  setStatus(t("searching"));
  try {
    const main = api("/v1/search", { ...searchParams(), k: PAGE_SIZE, offset, facets: !append }, { signal });
    const ownCounts = append ? Promise.resolve({}) : disjunctiveCounts(signal);
    const [response, own] = await Promise.all([main, ownCounts]);
    view.response = response;
    view.hits = append ? view.hits.concat(response.hits) : response.hits;
    if (!append) {
      view.facets = mergeCounts(response.facets || {}, own);
      renderFacets();
      // No evidence map for a question the collection holds nothing close to: it would map noise.
      const noMatch = response.relevance?.label === "none";
      $("gap-panel").hidden = noMatch;
      if (!noMatch) loadGap();
    }
    renderResults({ appendedFrom: append ? offset : null });
    if (!append) renderCountryPanel(response);
  } catch (error) {
    if (error.name === "AbortError") return;
    view.response = null;
    view.hits = [];
    $("results").replaceChildren();
    $("load-more").hidden = true;
    renderQueryNotes(null);
    setStatus(t("searchFailed", { message: error.message }), true);
  } finally {
    if (!signal.aborted) $("results").removeAttribute("aria-busy");
  }
}

/**
 * Filters without a question (a country chosen in the typeahead or the Countries view): the facets and
 * the number of passages the filters keep, and the country card; a question then searches within them.
 */
async function browseFilters() {
  searchController?.abort();
  searchController = new AbortController();
  const { signal } = searchController;
  showLayout();
  view.response = null;
  view.hits = [];
  $("results").replaceChildren();
  $("load-more").hidden = true;
  $("gap-panel").hidden = true; // the evidence map ranks passages for a question
  renderQueryNotes(null);
  renderBrief();
  renderCountryPanel(null);
  document.title = t("appName");
  setStatus(t("searching"));
  try {
    const [counts, own] = await Promise.all([api("/v1/facets", searchParams(), { signal }), disjunctiveCounts(signal)]);
    view.facets = mergeCounts(counts.facets || {}, own);
    renderFacets();
    setStatus(t("filtersOnly", { n: formatNumber(counts.total) }));
  } catch (error) {
    if (error.name !== "AbortError") setStatus(t("searchFailed", { message: error.message }), true);
  }
}

function showLayout() {
  $("welcome").hidden = true;
  $("countries-view").hidden = true;
  $("layout").hidden = false;
  document.body.classList.add("has-results");
}

/**
 * The country card: for the one country filtered, else for the one country the question names (whose
 * documents the search favoured), with a button that filters to it. Hidden otherwise.
 */
function renderCountryPanel(response) {
  const panel = $("country-panel");
  const filtered = state.filters.country;
  const named = response?.boosted_countries || [];
  const iso3 = filtered.length === 1 ? filtered[0] : !filtered.length && named.length === 1 ? named[0] : null;
  if (!iso3) {
    panel.hidden = true;
    delete panel.dataset.country;
    return;
  }
  renderCountryCard(panel, iso3, {
    filtered: filtered.length === 1,
    onFilter: (code) => {
      state.filters.country = [code];
      newSearch();
    },
  });
}

/**
 * Counts for a facet that has a selection must ignore that facet's own filter, or picking "Africa"
 * would hide every other region. One /facets call per such facet (usually none or one).
 */
async function disjunctiveCounts(signal) {
  const active = FACETS.filter((f) => state.filters[f].length);
  if (state.yearFrom || state.yearTo) active.push("year");
  const answers = await Promise.all(
    active.map((facet) => api("/v1/facets", searchParams(facet), { signal }).then((r) => [facet, r.facets[facet] || {}])),
  );
  return Object.fromEntries(answers);
}

/**
 * A facet with a selection lists its other values with counts that ignore its own filter (own), and its
 * selected values with the count of the filtered search, which is what the results show.
 */
function mergeCounts(filtered, own) {
  const merged = { ...filtered };
  for (const [facet, counts] of Object.entries(own)) {
    const selected = facet === "year" ? [] : state.filters[facet];
    merged[facet] = { ...counts };
    for (const value of selected) merged[facet][value] = filtered[facet]?.[value] ?? 0;
  }
  return merged;
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function addFilter(facet, value) {
  if (!state.filters[facet].includes(value)) state.filters[facet].push(value);
  newSearch();
}

function removeFilter(facet, value) {
  if (facet === "year_from") state.yearFrom = "";
  else if (facet === "year_to") state.yearTo = "";
  else state.filters[facet] = state.filters[facet].filter((v) => v !== value);
  newSearch();
}

// ------------------------------------------------------------------ facets

function renderFacets() {
  const focusedId = document.activeElement?.id;
  const counts = view.facets || {};
  const groups = FACETS.map((facet) => facetGroup(facet, counts[facet] || {}));
  groups.push(yearGroup(counts.year || {}));
  $("facet-groups").replaceChildren(...groups);
  const anyActive = FACETS.some((f) => state.filters[f].length) || state.yearFrom || state.yearTo;
  $("clear-filters").hidden = !anyActive;
  renderActiveFilters();
  // Re-rendering replaced the control the user was on; put keyboard focus back where it was.
  if (focusedId) document.getElementById(focusedId)?.focus();
}

function facetGroup(facet, counts) {
  const selected = state.filters[facet];
  const values = Object.keys(counts);
  for (const v of selected) if (!values.includes(v)) values.push(v);
  values.sort((a, b) => (counts[b] || 0) - (counts[a] || 0) || facetLabel(facet, a).localeCompare(facetLabel(facet, b)));
  const expanded = view.expanded.has(facet);
  const shown = expanded ? values : values.slice(0, Math.max(COLLAPSED_FACET_SIZE, selected.length));
  const legendId = `facet-${facet}-legend`;
  const items = shown.map((value) => {
    const id = `f-${facet}-${value}`.replace(/[^\w-]/g, "_");
    const label = facetLabel(facet, value);
    return h(
      "li",
      {},
      h("input", {
        type: "checkbox",
        id,
        checked: selected.includes(value),
        dataset: { facet, value },
        onchange: (event) => (event.target.checked ? addFilter(facet, value) : removeFilter(facet, value)),
      }),
      h(
        "label",
        { for: id },
        facet === "component" ? h("span", { class: `swatch chip-${value}`, "aria-hidden": "true" }) : null,
        h("bdi", { class: "facet-name" }, label),
        h("span", { class: "count" }, formatNumber(counts[value] || 0)),
      ),
    );
  });
  const group = h(
    "fieldset",
    { class: "facet", "aria-labelledby": legendId },
    h("legend", { id: legendId }, t(`facet_${facet}`)),
    values.length ? h("ul", { class: "facet-values" }, items) : h("p", { class: "facet-empty" }, t("noValues")),
  );
  if (values.length > shown.length || expanded) {
    group.append(
      h(
        "button",
        {
          type: "button",
          class: "link-button facet-more",
          id: `more-${facet}`,
          "aria-expanded": String(expanded),
          onclick: () => {
            if (expanded) view.expanded.delete(facet);
            else view.expanded.add(facet);
            renderFacets();
          },
        },
        expanded ? t("showFewer") : t("showAll", { n: values.length }),
      ),
    );
  }
  return group;
}

function yearGroup(counts) {
  const years = Object.keys(counts).map(Number);
  for (const y of [state.yearFrom, state.yearTo]) if (y && !years.includes(Number(y))) years.push(Number(y));
  years.sort((a, b) => a - b);
  const select = (id, key, labelKey) => {
    const control = h(
      "select",
      {
        id,
        onchange: (event) => {
          state[key] = event.target.value;
          newSearch();
        },
      },
      h("option", { value: "" }, t("anyYear")),
      years.map((y) => h("option", { value: String(y) }, `${y} (${formatNumber(counts[y] || 0)})`)),
    );
    control.value = state[key];
    return h("div", { class: "year-field" }, h("label", { for: id }, t(labelKey)), control);
  };
  return h(
    "fieldset",
    { class: "facet", "aria-labelledby": "facet-year-legend" },
    h("legend", { id: "facet-year-legend" }, t("facet_year")),
    yearHistogram(counts, years),
    h("div", { class: "year-range" }, select("year-from", "yearFrom", "yearFrom"), select("year-to", "yearTo", "yearTo")),
  );
}

/** A small bar chart of passages per year (decorative: the same counts are in the selects). */
function yearHistogram(counts, years) {
  if (!years.length) return h("p", { class: "facet-empty" }, t("noValues"));
  const max = Math.max(1, ...years.map((y) => counts[y] || 0));
  return h(
    "div",
    { class: "year-bars", "aria-hidden": "true" },
    years.map((y) => h("span", { class: "year-bar", style: `--h:${(counts[y] || 0) / max}`, title: `${y}: ${counts[y] || 0}` })),
  );
}

function renderActiveFilters() {
  const chips = [];
  for (const facet of FACETS) {
    for (const value of state.filters[facet]) chips.push([facet, value, facetLabel(facet, value)]);
  }
  if (state.yearFrom) chips.push(["year_from", state.yearFrom, `${t("yearFrom")} ${state.yearFrom}`]);
  if (state.yearTo) chips.push(["year_to", state.yearTo, `${t("yearTo")} ${state.yearTo}`]);
  const box = $("active-filters");
  box.hidden = !chips.length;
  box.replaceChildren(
    h("span", { class: "active-label" }, t("activeFilters")),
    h(
      "ul",
      {},
      chips.map(([facet, value, label]) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "active-chip",
              "aria-label": t("removeFilter", { label }),
              onclick: () => removeFilter(facet, value),
            },
            h("bdi", {}, label),
            h("span", { class: "x", "aria-hidden": "true" }, "×"),
          ),
        ),
      ),
    ),
  );
}

// ------------------------------------------------------------------ results

function renderResults({ appendedFrom = null } = {}) {
  const response = view.response;
  const list = $("results");
  if (!response) return;
  document.title = `${state.q} — ${t("appName")}`;
  const cards = view.hits.map((hit, i) => resultCard(hit, i));
  list.replaceChildren(...cards);
  $("no-match").hidden = true;
  if (response.relevance?.label === "none") {
    // The closest passages stay below the notice: on a narrow filter a real question can score low.
    renderNoGoodMatch();
    renderQueryNotes(response);
    renderBrief();
    return;
  }
  const total = response.total;
  if (!view.hits.length) setStatus(t("noResults"));
  else {
    const counts = { total: formatNumber(total), from: 1, to: formatNumber(view.hits.length) };
    setStatus(t(response.relevance?.label === "weak" ? "weakMatches" : "resultsCount", counts));
  }
  $("load-more").hidden = response.hits.length < PAGE_SIZE;
  renderQueryNotes(response);
  // After "show more", move keyboard focus to the first new result so the user continues from there.
  if (appendedFrom !== null) list.children[appendedFrom]?.querySelector(".card-title a")?.focus();
  renderBrief();
}

// The collection holds nothing close to the question: say so before the least bad passages, and offer
// topics it does cover: typeahead completions of the question's words, else the components.
function renderNoGoodMatch() {
  setStatus(t("noGoodMatch"));
  $("load-more").hidden = true;
  const topics = h("ul", { class: "nearby-topics" });
  const topicButton = (text, language) =>
    h("li", {}, h("button", { type: "button", class: "link-button", lang: language || undefined, onclick: () => submitQuery(text) }, text));
  const notice = $("no-match");
  notice.replaceChildren(h("p", {}, t("nearbyTopics")), topics);
  notice.hidden = false;
  const words = state.q.split(/\s+/).filter((w) => w.length >= 3).slice(0, 4);
  Promise.all(words.map((w) => api("/v1/suggest", { q: w.slice(0, 100), limit: 3 }).catch(() => ({ suggestions: [] }))))
    .then((answers) => {
      const seen = new Set();
      const found = answers.flatMap((a) => a.suggestions || []).filter((s) => !seen.has(s.text) && seen.add(s.text));
      const items = found.length
        ? found.slice(0, 6).map((s) => topicButton(s.text, s.language))
        : COMPONENT_KEYS.map((c) => topicButton(componentLabel(c)));
      topics.replaceChildren(...items);
    });
}

// The words a question was also matched with in other languages (cross-lingual BM25): the highlighted
// words in an English card for an Arabic question come from here, so the page says so.
const MAX_NOTE_WORDS = 12;

function renderQueryNotes(response) {
  const notes = $("query-notes");
  const words = [];
  const seen = new Set();
  for (const tr of response?.query_translations || []) {
    const key = `${tr.language}\u0000${tr.word}`;
    if (!seen.has(key)) {
      seen.add(key);
      words.push(tr);
    }
  }
  notes.hidden = words.length === 0;
  const shown = words.slice(0, MAX_NOTE_WORDS).flatMap((tr, i) => [
    i ? ", " : "",
    h("bdi", { lang: tr.language, title: `${tr.source} → ${languageName(tr.language)}` }, tr.word),
  ]);
  notes.replaceChildren(
    ...(words.length ? [t("alsoMatching"), " ", ...shown, words.length > MAX_NOTE_WORDS ? " …" : ""] : []),
  );
}

function resultCard(hit, index) {
  const doc = hit.document || {};
  const titleId = `hit-${index}-title`;
  const excerpt = excerptNode(hit);
  const long = (hit.text || "").length > LONG_EXCERPT_CHARS;
  if (long) excerpt.classList.add("clamped");
  const excerptId = `hit-${index}-excerpt`;
  excerpt.id = excerptId;
  const actions = [
    h(
      "a",
      { class: "action", href: documentHref(doc.id, hit.passage_id) },
      h("span", { class: "action-icon icon-doc", "aria-hidden": "true" }),
      t("openDocument"),
    ),
  ];
  if (endpoints.examples) {
    actions.push(
      h(
        "button",
        {
          type: "button",
          class: "action examples-button",
          "aria-haspopup": "dialog",
          onclick: (event) => openExamples(hit, event.currentTarget),
        },
        h("span", { class: "action-icon icon-globe", "aria-hidden": "true" }),
        t("examples"),
      ),
    );
  }
  const source = hit.citation?.url || doc.url || doc.source_url;
  if (source && /^https?:/i.test(source)) {
    actions.push(
      h(
        "a",
        { class: "action action-quiet", href: source, target: "_blank", rel: "noopener noreferrer" },
        h("span", { class: "action-icon icon-external", "aria-hidden": "true" }),
        t("source"),
      ),
    );
  }
  // Country, type and year in the reader's language, so that a hit in a language they cannot read still says what it is.
  const countries = (doc.countries || []).filter((c) => c && c !== "global").slice(0, 3).map(countryName);
  const meta = [countries.join(", "), documentTypeLabel(doc.document_type), languageName(hit.language), doc.year].filter(Boolean);
  return h(
    "li",
    { class: "card", dataset: { passageId: hit.passage_id, language: hit.language } },
    h(
      "article",
      { "aria-labelledby": titleId },
      h(
        "div",
        { class: "card-head" },
        h("h3", { class: "card-title", id: titleId }, h("a", { href: documentHref(doc.id, hit.passage_id), dir: "auto" }, doc.title || hit.citation?.title)),
        h("p", { class: "card-meta" }, meta.map((m, i) => [i ? h("span", { class: "sep", "aria-hidden": "true" }, "·") : null, h("span", {}, String(m))])),
      ),
      hit.heading_path?.length ? h("p", { class: "heading-path", dir: "auto" }, hit.heading_path.join(" › ")) : null,
      excerpt,
      hit.gist
        ? h(
            "div",
            { class: "gist", lang: hit.gist.language, dir: isRtl(hit.gist.language) ? "rtl" : "auto" },
            h("p", { class: "gist-label" }, t("machineTranslation", { model: hit.gist.model })),
            h("p", { class: "gist-text" }, hit.gist.text),
          )
        : null,
      long
        ? h(
            "button",
            {
              type: "button",
              class: "link-button toggle-excerpt",
              "aria-expanded": "false",
              "aria-controls": excerptId,
              onclick: (event) => {
                const open = excerpt.classList.toggle("clamped") === false;
                event.currentTarget.setAttribute("aria-expanded", String(open));
                event.currentTarget.textContent = open ? t("showLess") : t("showFull");
              },
            },
            t("showFull"),
          )
        : null,
      citationNode(hit),
      hit.matched_translations?.length
        ? h(
            "p",
            { class: "matched-words" },
            t("matchedAs"),
            " ",
            hit.matched_translations.flatMap((tr, i) => [
              i ? ", " : "",
              h("bdi", {}, tr.source),
              " → ",
              h("bdi", { lang: tr.language }, tr.word),
            ]),
          )
        : null,
      hit.editions?.length
        ? h(
            "p",
            { class: "editions" },
            t("otherEditions"),
            " ",
            hit.editions.flatMap((e, i) => [
              i ? ", " : "",
              h("a", { href: documentHref(e.document_id), lang: e.language || undefined }, languageName(e.language) || e.document_id),
            ]),
          )
        : null,
      chipsNode(hit, addFilter),
      h("div", { class: "card-actions" }, actions),
    ),
  );
}

// ------------------------------------------------------------------ evidence map

/** Region x component counts over the top GAP_K passages for the query (region/component filters off). */
async function loadGap() {
  gapController?.abort();
  gapController = new AbortController();
  const key = JSON.stringify(searchParams());
  view.gapHits = null;
  view.gapQuery = state.q;
  renderGap();
  const params = searchParams();
  delete params.region;
  delete params.component;
  try {
    const matrix = endpoints.gap ? await gapFromEndpoint(params, gapController.signal) : null;
    if (matrix) {
      if (key !== JSON.stringify(searchParams())) return;
      view.gapHits = matrix;
      renderGap();
      return;
    }
    const response = await api("/v1/search", { ...params, k: GAP_K, highlight: false }, { signal: gapController.signal });
    if (key !== JSON.stringify(searchParams())) return;
    view.gapHits = response.hits;
    renderGap();
  } catch (error) {
    if (error.name !== "AbortError") $("gap-map").replaceChildren(h("p", { class: "panel-status error" }, error.message));
  }
}

/**
 * The server's evidence-gap endpoint, when it has one: {regions, components, counts[region][component],
 * passages, untagged}. Returns null (and the page counts the hits itself) if the answer has another shape.
 */
async function gapFromEndpoint(params, signal) {
  const names = endpoints.gap.params;
  const query = { [names.includes("topic") ? "topic" : "q"]: state.q };
  for (const [name, value] of Object.entries(params)) if (name !== "q" && names.includes(name)) query[name] = value;
  try {
    const data = await api(endpoints.gap.path, query, { signal });
    const gap = data.gap_map || data.gaps || data;
    if (!Array.isArray(gap.regions) || !Array.isArray(gap.components) || !Array.isArray(gap.counts)) return null;
    return { server: gap };
  } catch (error) {
    if (error.name === "AbortError") throw error;
    return null;
  }
}

function gapMatrix(hits) {
  if (hits.server) return serverGapMatrix(hits.server);
  const cells = Object.fromEntries(COMPONENT_KEYS.map((c) => [c, Object.fromEntries(REGION_KEYS.map((r) => [r, 0]))]));
  const totals = Object.fromEntries(REGION_KEYS.map((r) => [r, 0]));
  let tagged = 0;
  for (const hit of hits) {
    const regions = (hit.regions?.length ? hit.regions : hit.document?.regions || []).filter((r) => r in totals);
    if (hit.components?.length) tagged += 1;
    for (const r of regions) {
      totals[r] += 1;
      for (const c of hit.components || []) if (cells[c]) cells[c][r] += 1;
    }
  }
  return { cells, totals, tagged };
}

function serverGapMatrix(gap) {
  const cells = Object.fromEntries(COMPONENT_KEYS.map((c) => [c, Object.fromEntries(REGION_KEYS.map((r) => [r, 0]))]));
  gap.regions.forEach((r, ri) =>
    gap.components.forEach((c, ci) => {
      if (cells[c] && r in cells[c]) cells[c][r] = Number(gap.counts[ri]?.[ci]) || 0;
    }),
  );
  return { cells, totals: null, tagged: (gap.passages ?? 1) - (gap.untagged ?? 0), pool: gap.passages };
}

function renderGap() {
  const box = $("gap-map");
  if (!view.gapHits) {
    box.replaceChildren(h("p", { class: "panel-status" }, t("gapLoading")));
    return;
  }
  const { cells, totals, tagged, pool } = gapMatrix(view.gapHits);
  const poolSize = pool ?? view.gapHits.length;
  const max = Math.max(1, ...COMPONENT_KEYS.flatMap((c) => REGION_KEYS.map((r) => cells[c][r])));
  const maxTotal = totals ? Math.max(1, ...Object.values(totals)) : 1;
  const cell = (n, scale, component, region) => {
    const level = n ? 0.18 + 0.82 * (n / scale) : 0;
    const label = t("gapCell", { component: component ? componentLabel(component) : t("gapComponent"), region: regionLabel(region), n });
    const content = h("span", { class: "gap-n" }, n ? formatNumber(n) : "–");
    const filterable = n && component;
    return h(
      "td",
      { class: n ? (level > 0.6 ? "hot" : "") : "zero", style: `--level:${level.toFixed(3)}` },
      filterable
        ? h(
            "button",
            {
              type: "button",
              class: "gap-button",
              "aria-label": label,
              title: label,
              onclick: () => {
                state.filters.component = [component];
                state.filters.region = [region];
                newSearch();
              },
            },
            content,
          )
        : h("span", { title: label, "aria-label": label }, content),
    );
  };
  const table = h(
    "table",
    { class: "gap-table" },
    h("caption", {}, t("gapCaption", { n: poolSize, q: view.gapQuery })),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col", class: "corner" }, h("span", { class: "visually-hidden" }, t("gapComponent"))),
        REGION_KEYS.map((r) => h("th", { scope: "col" }, h("span", { class: "col-label" }, regionLabel(r)))),
      ),
    ),
    h(
      "tbody",
      {},
      COMPONENT_KEYS.map((c) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, h("span", { class: `swatch chip-${c}`, "aria-hidden": "true" }), componentLabel(c)),
          REGION_KEYS.map((r) => cell(cells[c][r], max, c, r)),
        ),
      ),
    ),
    totals
      ? h(
          "tfoot",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "row" }, t("gapTotal")),
            REGION_KEYS.map((r) => cell(totals[r], maxTotal, null, r)),
          ),
        )
      : null,
  );
  const legend = h(
    "div",
    { class: "gap-legend", "aria-hidden": "true" },
    h("span", { class: "legend-zero" }),
    h("span", {}, t("gapLegendNone")),
    h("span", { class: "legend-ramp" }),
    h("span", {}, `${t("gapLegendFew")} → ${t("gapLegendMany")}`),
  );
  const parts = [
    h("div", { class: "gap-scroll", tabindex: "0", role: "region", "aria-label": t("gapTitle") }, table),
    legend,
  ];
  if (!tagged && poolSize) parts.unshift(h("p", { class: "panel-note" }, t("gapUntagged")));
  box.replaceChildren(...parts);
}

// ------------------------------------------------------------------ brief

function renderBrief() {
  const panel = $("brief-panel");
  // No brief for a question the collection holds no good match for (the API refuses it too).
  panel.hidden = !endpoints.brief || !state.q || view.response?.relevance?.label === "none";
  if (panel.hidden) return;
  $("brief-text").textContent = t("briefText", { q: state.q });
  const select = $("brief-format");
  const previous = select.value;
  select.replaceChildren(...endpoints.brief.formats.map((f) => h("option", { value: f }, f.toUpperCase())));
  if (endpoints.brief.formats.includes(previous)) select.value = previous;
}

async function downloadBrief() {
  const brief = endpoints.brief;
  if (!brief || !state.q) return;
  const format = $("brief-format").value;
  const status = $("brief-status");
  const button = $("brief-button");
  const topicParam = brief.params.includes("topic") || brief.method === "POST" ? "topic" : "q";
  const params = { [topicParam]: state.q, format };
  // Pass the filters the endpoint understands, so the brief matches what the page shows.
  for (const facet of FACETS) if (brief.params.includes(facet)) params[facet] = state.filters[facet];
  status.textContent = t("briefPreparing");
  status.classList.remove("error");
  button.disabled = true;
  try {
    const response =
      brief.method === "GET"
        ? await fetch(`${apiUrl("/v1/brief")}?${queryString(params)}`)
        : await fetch(apiUrl("/v1/brief"), {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(params),
          });
    if (!response.ok) throw await errorFrom(response);
    const blob = await response.blob();
    const name = filenameFrom(response.headers.get("Content-Disposition")) || `brief-${slug(state.q)}.${format}`;
    const link = h("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
    document.body.append(link);
    link.click();
    setTimeout(() => {
      URL.revokeObjectURL(link.href);
      link.remove();
    }, 1000);
    status.textContent = t("briefReady");
  } catch (error) {
    status.textContent = t("briefFailed", { message: error.message });
    status.classList.add("error");
  } finally {
    button.disabled = false;
  }
}

function filenameFrom(disposition) {
  if (!disposition) return null;
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/i.exec(disposition);
  return plain ? plain[1] : null;
}

function slug(text) {
  return text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-|-$/g, "").slice(0, 60) || "topic";
}

// ------------------------------------------------------------------ examples dialog

let examplesTrigger = null;
let examplesFor = null;
let examplesItems = null;

function setupDialog() {
  const dialog = $("examples-dialog");
  $("examples-close").addEventListener("click", () => dialog.close());
  // A click on the backdrop (outside the dialog box) closes it too; Esc is native to <dialog>.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener("close", () => {
    examplesFor = null;
    examplesTrigger?.focus();
  });
}

async function openExamples(hit, trigger) {
  const dialog = $("examples-dialog");
  examplesTrigger = trigger;
  examplesFor = hit;
  examplesItems = null;
  renderExamples();
  dialog.showModal();
  const names = endpoints.examples?.params || [];
  const params = { passage_id: hit.passage_id };
  params[names.includes("q") || !names.includes("topic") ? "q" : "topic"] = state.q;
  try {
    const data = await api("/v1/examples", params);
    if (examplesFor !== hit) return;
    examplesItems = data.examples || data.hits || data.results || [];
  } catch (error) {
    if (examplesFor !== hit) return;
    examplesItems = error instanceof ApiError ? error : new ApiError(0, error.message);
  }
  renderExamples();
}

function renderExamples() {
  const hit = examplesFor;
  if (!hit) return;
  const countries = (hit.countries?.length ? hit.countries : hit.document?.countries || []).map(countryName);
  $("examples-intro").textContent = countries.length
    ? `${t("examplesIntro")} (${countries.join(", ")})`
    : t("examplesIntro");
  const status = $("examples-status");
  const list = $("examples-list");
  status.classList.remove("error");
  if (examplesItems === null) {
    status.textContent = t("examplesLoading");
    list.replaceChildren();
    return;
  }
  if (examplesItems instanceof Error) {
    status.textContent = examplesItems.message;
    status.classList.add("error");
    list.replaceChildren();
    return;
  }
  status.textContent = examplesItems.length ? "" : t("examplesNone");
  list.replaceChildren(...examplesItems.map(exampleCard));
}

function exampleCard(item) {
  const doc = item.document || {};
  const docId = doc.id || item.citation?.document_id;
  const passageId = item.passage_id || item.citation?.passage_id;
  const country = item.country || item.countries?.[0] || doc.countries?.[0];
  const region = item.region || item.regions?.[0];
  const passage = { ...item, text: item.text || item.excerpt };
  const chipsSource = {
    components: item.components || [],
    countries: item.countries || (country ? [country] : []),
    regions: item.regions || (region ? [region] : []),
    language: item.language,
  };
  return h(
    "li",
    { class: "card compact", dataset: { passageId: passageId || "" } },
    h(
      "div",
      { class: "example-head" },
      country ? h("span", { class: "example-country" }, countryName(country)) : null,
      region ? h("span", { class: "example-region" }, regionLabel(region)) : null,
    ),
    excerptNode(passage),
    citationNode(item),
    chipsNode(chipsSource, null),
    docId
      ? h(
          "div",
          { class: "card-actions" },
          h(
            "a",
            { class: "action", href: documentHref(docId, passageId) },
            h("span", { class: "action-icon icon-doc", "aria-hidden": "true" }),
            t("openDocument"),
          ),
        )
      : null,
  );
}

// ------------------------------------------------------------------ typeahead (ARIA combobox)

let suggestions = [];
let activeIndex = -1;
let suggestTimer = null;
let suggestController = null;

function setupTypeahead() {
  const input = $("q");
  const list = $("suggest-list");
  input.addEventListener("input", () => {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(fetchSuggestions, 150);
  });
  input.addEventListener("keydown", (event) => {
    const open = !list.hidden;
    switch (event.key) {
      case "ArrowDown":
        if (!suggestions.length) return;
        event.preventDefault();
        if (!open) openSuggestions();
        setActive(activeIndex + 1 >= suggestions.length ? 0 : activeIndex + 1);
        break;
      case "ArrowUp":
        if (!suggestions.length) return;
        event.preventDefault();
        if (!open) openSuggestions();
        setActive(activeIndex <= 0 ? suggestions.length - 1 : activeIndex - 1);
        break;
      case "Enter":
        if (open && activeIndex >= 0) {
          event.preventDefault();
          chooseSuggestion(activeIndex);
        }
        break;
      case "Escape":
        if (open) {
          event.preventDefault();
          closeSuggestions();
        } else if (input.value) {
          input.value = "";
        }
        break;
      case "Tab":
        closeSuggestions();
        break;
      default:
        break;
    }
  });
  input.addEventListener("blur", () => setTimeout(closeSuggestions, 120));
  // Keep focus in the input while clicking an option (the combobox pattern keeps DOM focus there).
  list.addEventListener("mousedown", (event) => event.preventDefault());
}

async function fetchSuggestions() {
  const text = $("q").value.trim();
  suggestController?.abort();
  if (text.length < 2) {
    suggestions = [];
    closeSuggestions();
    return;
  }
  suggestController = new AbortController();
  try {
    const data = await api("/v1/suggest", { q: text.slice(0, 100), limit: 8 }, { signal: suggestController.signal });
    if ($("q").value.trim() !== text) return;
    suggestions = data.suggestions || [];
    renderSuggestions();
  } catch (error) {
    if (error.name !== "AbortError") {
      suggestions = [];
      closeSuggestions();
    }
  }
}

function renderSuggestions() {
  const list = $("suggest-list");
  activeIndex = -1;
  $("q").removeAttribute("aria-activedescendant");
  list.replaceChildren(
    ...suggestions.map((s, i) =>
      h(
        "li",
        {
          role: "option",
          id: `suggestion-${i}`,
          "aria-selected": "false",
          class: "suggestion",
          onclick: () => chooseSuggestion(i),
        },
        h("bdi", { class: "suggestion-text", lang: s.language || undefined, dir: isRtl(s.language) ? "rtl" : "auto" }, s.text),
        h("span", { class: `suggestion-kind kind-${s.kind}` }, t(`kind_${s.kind}`)),
      ),
    ),
  );
  if (suggestions.length && document.activeElement === $("q")) openSuggestions();
  else closeSuggestions();
}

function openSuggestions() {
  $("suggest-list").hidden = false;
  $("q").setAttribute("aria-expanded", "true");
}

function closeSuggestions() {
  const list = $("suggest-list");
  if (!list) return;
  list.hidden = true;
  activeIndex = -1;
  $("q").setAttribute("aria-expanded", "false");
  $("q").removeAttribute("aria-activedescendant");
}

function setActive(index) {
  const options = $("suggest-list").children;
  if (options[activeIndex]) options[activeIndex].setAttribute("aria-selected", "false");
  activeIndex = index;
  const option = options[index];
  if (!option) return;
  option.setAttribute("aria-selected", "true");
  option.scrollIntoView({ block: "nearest" });
  $("q").setAttribute("aria-activedescendant", option.id);
}

// A country, region or component suggestion is a filter, not words to search for: choosing
// "Kenya · country" applies country=KEN and keeps the question already searched (if any).
const FILTER_KINDS = { country: "country", region: "region", component: "component" };

function chooseSuggestion(index) {
  const s = suggestions[index];
  if (!s) return;
  suggestions = [];
  const facet = FILTER_KINDS[s.kind];
  if (!facet || !s.value) {
    submitQuery(s.text);
    return;
  }
  closeSuggestions();
  $("q").value = state.q;
  if (!state.filters[facet].includes(s.value)) state.filters[facet].push(s.value);
  newSearch();
}

// ------------------------------------------------------------------ welcome and language switch

function renderWelcome() {
  $("component-grid").replaceChildren(
    ...COMPONENT_KEYS.map((c) =>
      h(
        "li",
        {},
        h(
          "button",
          { type: "button", class: `component-card chip-${c}`, onclick: () => submitQuery(componentLabel(c)) },
          h("span", { class: `swatch chip-${c}`, "aria-hidden": "true" }),
          componentLabel(c),
        ),
      ),
    ),
  );
}

function showWelcome() {
  $("welcome").hidden = false;
  $("layout").hidden = true;
  $("countries-view").hidden = true;
  document.body.classList.remove("has-results");
  document.title = t("appName");
}

function showCountries() {
  searchController?.abort();
  $("welcome").hidden = true;
  $("layout").hidden = true;
  document.body.classList.remove("has-results");
  const container = $("countries-view");
  container.hidden = false;
  document.title = `${t("countriesNav")} — ${t("appName")}`;
  renderCountriesView(container, {
    onChoose: (iso3) => {
      state.filters.country = [iso3];
      newSearch();
    },
  }).then(() => {
    if (state.view === "countries") $("countries-title")?.focus();
  });
}

/** Redraw everything from the data already loaded (used after a language switch; no refetch). */
function rerender() {
  document.title = state.q ? `${state.q} — ${t("appName")}` : t("appName");
  renderWelcome();
  if (view.response) {
    renderFacets();
    renderResults();
  }
  if (view.gapHits || view.response) renderGap();
  renderBrief();
  renderExamples();
  if (!$("layout").hidden) renderCountryPanel(view.response);
  if (state.view === "countries") showCountries();
}

init();
