// Helpers shared by the search page and the document page: API calls, DOM building, citations,
// excerpts and tag chips.
//
// Example: const data = await api("/v1/search", { q: "slum upgrading", region: ["africa"] });

import {
  LANGUAGE_NAMES,
  SUPPORTED,
  componentLabel,
  countryName,
  formatPercent,
  initialLanguage,
  isRtl,
  languageName,
  loadLabels,
  regionLabel,
  setLanguage,
  stageLabel,
  t,
} from "./i18n.js";

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** Load the vocabulary names, fill the UI-language <select>, apply the initial language, and call
 * ``rerender`` on each change. */
export async function setupLanguageSelect(select, rerender) {
  await loadLabels(() => api("/v1/labels"));
  for (const code of SUPPORTED) select.append(h("option", { value: code, lang: code }, LANGUAGE_NAMES[code]));
  select.value = setLanguage(initialLanguage());
  select.addEventListener("change", () => {
    setLanguage(select.value);
    rerender();
  });
}

/** An API error with the server's one-line message (the API answers {error, message, parameter}). */
export class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Query string with repeated keys for arrays and empty values dropped: {a: [1, 2]} -> "a=1&a=2". */
export function queryString(params) {
  const qs = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== "") qs.append(key, String(v));
    }
  }
  return qs.toString();
}

/** GET (or POST with a JSON ``body`` or a multipart ``form``) an API path relative to the page, with
 * extra ``headers`` (an Authorization key), returning parsed JSON. */
export async function api(path, params = {}, { signal, method = "GET", body, form, headers = {} } = {}) {
  const query = queryString(params);
  const url = apiUrl(path) + (query ? `?${query}` : "");
  const init = { method, signal, headers: { Accept: "application/json", ...headers } };
  if (form !== undefined) {
    init.body = form; // the browser writes the multipart boundary
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

/** Resolve an API path against the page so that the app also works when mounted under a prefix. */
export function apiUrl(path) {
  return new URL(path.replace(/^\//, ""), document.baseURI).pathname;
}

export async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy error page, say): fall back to the status line
  }
  const message = body?.message || body?.detail || `${response.status} ${response.statusText}`;
  return new ApiError(response.status, typeof message === "string" ? message : JSON.stringify(message), body);
}

/** Tiny DOM builder: h("a", {href: "/", class: "x"}, "text", child). Strings become text nodes (never HTML). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/**
 * The API's `highlighted` field is already HTML-escaped with <mark> around matches. Keep exactly that:
 * any other tag is dropped, so a bug upstream can never inject markup into the page.
 */
export function safeHighlight(html) {
  return String(html).replace(/<(?!\/?mark>)[^>]*>/gi, "");
}

/** An excerpt element whose direction follows the passage language (Arabic -> rtl, others auto). */
export function excerptNode(passage, { tag = "div", className = "excerpt", id } = {}) {
  const language = passage.language || "";
  const node = h(tag, {
    class: className,
    lang: language || undefined,
    dir: isRtl(language) ? "rtl" : "auto",
    id,
  });
  if (passage.highlighted) node.innerHTML = safeHighlight(passage.highlighted);
  else node.textContent = passage.text || passage.excerpt || "";
  return node;
}

/** "Art. 5, p. 11, para. 4" in the UI language, or "" for flowing text without articles, pages or paragraphs. */
export function locationText(p) {
  const parts = [];
  // A law is cited by its articles ("Статья 89"), as the Python citation label does.
  const articles = p.articles || [];
  if (articles.length) parts.push(articles.length <= 2 ? articles.join(", ") : `${articles[0]}–${articles[articles.length - 1]}`);
  // Search hits carry page_start/page_end; example and answer citations carry a single `page`.
  const start = p.page_start ?? p.page;
  const end = p.page_end ?? p.page;
  if (start) parts.push(end && end !== start ? t("pages", { a: start, b: end }) : t("page", { n: start }));
  const paras = p.paragraphs || [];
  if (paras.length === 1) parts.push(t("paragraph", { p: paras[0] }));
  else if (paras.length > 1) parts.push(t("paragraphs", { p: `${paras[0]}–${paras[paras.length - 1]}` }));
  return parts.join(", ");
}

/** Link to the document page, scrolled to a passage: document.html?id=DOC#PASSAGE. */
export function documentHref(docId, passageId) {
  const href = `document.html?id=${encodeURIComponent(docId)}`;
  return passageId ? `${href}#${encodeURIComponent(passageId)}` : href;
}

/** A citation line: "Title, p. 11, para. 4 — Publisher, 2017" (the title bidi-isolated: it may be Arabic). */
export function citationNode(p) {
  const c = p.citation || {};
  const doc = p.document || {};
  const title = c.title || doc.title || "";
  const where = locationText(c.page_start !== undefined || c.page !== undefined ? c : p);
  const source = [c.publisher ?? doc.publisher, c.year ?? doc.year].filter(Boolean).join(", ");
  return h(
    "p",
    { class: "citation" },
    h("bdi", { class: "cite-title" }, title),
    where ? [", ", h("span", { class: "cite-where" }, where)] : null,
    source ? [" — ", h("bdi", { class: "cite-pub" }, source)] : null,
  );
}

/**
 * Tag chips: components, countries and regions. With onFilter, each chip is a button that adds the
 * filter; otherwise a plain label.
 */
export function chipsNode(p, onFilter) {
  const chips = [];
  const add = (facet, value, label, kind, evidence) => {
    const content = [h("span", { class: "chip-dot", "aria-hidden": "true" }), label];
    const why = evidence?.length ? ` (${t("evidenceTerms")}: ${evidence.join(", ")})` : "";
    chips.push(
      h(
        "li",
        {},
        onFilter
          ? h(
              "button",
              {
                type: "button",
                class: `chip chip-${kind}`,
                dataset: { facet, value },
                title: t("filterBy", { label }) + why,
                "aria-label": t("filterBy", { label }),
                onclick: () => onFilter(facet, value),
              },
              content,
            )
          : h("span", { class: `chip chip-${kind}`, dataset: { facet, value }, title: why.trim() || null }, content),
      ),
    );
  };
  for (const c of p.components || []) {
    // the tagger's confidence, and the vocabulary terms that supported the tag, when the API gives them
    const confidence = p.component_confidence?.[c];
    const label = confidence == null ? componentLabel(c) : `${componentLabel(c)} ${formatPercent(confidence)}`;
    add("component", c, label, `component chip-${c}`, p.tag_evidence?.[c]);
  }
  for (const s of p.stages || []) add("stage", s, stageLabel(s), "stage");
  for (const c of p.countries || []) add("country", c, countryName(c), "country");
  for (const r of p.regions || []) add("region", r, regionLabel(r), "region");
  if (p.language) add("language", p.language, languageName(p.language), "language");
  return h("ul", { class: "chips", "aria-label": t("tags") }, chips);
}

/**
 * Which optional endpoints this server offers (/examples, /brief, an evidence-gap endpoint), read from
 * its OpenAPI document; an endpoint that is not there is simply not offered in the page.
 */
export async function discoverEndpoints() {
  const found = { examples: null, brief: null, gap: null };
  let paths = null;
  try {
    paths = (await api("/openapi.json")).paths || {};
  } catch {
    return found;
  }
  const paramNames = (op) => (op?.parameters || []).map((p) => p.name);
  if (paths["/v1/examples"]?.get) found.examples = { params: paramNames(paths["/v1/examples"].get) };
  const brief = paths["/v1/brief"];
  if (brief?.get || brief?.post) {
    const op = brief.get || brief.post;
    found.brief = {
      method: brief.get ? "GET" : "POST",
      params: paramNames(op),
      formats: briefFormats(op),
    };
  }
  const gapPath = Object.keys(paths).find((p) => /^\/v1\/.*gap/i.test(p) && paths[p].get && !p.includes("{"));
  if (gapPath) found.gap = { path: gapPath, params: paramNames(paths[gapPath].get) };
  return found;
}

function briefFormats(op) {
  const fromParam = (op.parameters || []).find((p) => p.name === "format")?.schema;
  const candidates = [fromParam?.enum, fromParam?.anyOf?.find((s) => s.enum)?.enum];
  for (const list of candidates) if (Array.isArray(list) && list.length) return list;
  return ["pdf", "docx", "html", "md"];
}
