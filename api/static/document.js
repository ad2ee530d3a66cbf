// The document page: a document's metadata and all of its passages in order, scrolled to the passage
// named in the URL fragment.
//
// Example: document.html?id=ke-mukuru#ke-mukuru:0003:1a2b3c4d

import {
  countryName,
  documentTypeLabel,
  formatNumber,
  languageName,
  t,
} from "./i18n.js";
import { $, api, chipsNode, excerptNode, h, locationText, setupLanguageSelect } from "./common.js";

let documentData = null;
let loadError = null;

async function init() {
  await setupLanguageSelect($("ui-lang"), render);
  setupBackLink();

  const id = new URLSearchParams(location.search).get("id");
  $("doc-status").textContent = t("loading");
  if (!id) {
    loadError = t("documentNotFound");
  } else {
    try {
      documentData = await api(`/v1/documents/${encodeURIComponent(id)}`);
    } catch (error) {
      loadError = error.status === 404 ? t("documentNotFound") : error.message;
    }
  }
  render();
  scrollToTarget();
  window.addEventListener("hashchange", scrollToTarget);
  document.body.dataset.ready = "true";
}

/** "Back" returns to the results the user came from (keeping their query) when they came from the search page. */
function setupBackLink() {
  const link = $("back-link");
  let fromSearch = false;
  try {
    const ref = new URL(document.referrer);
    fromSearch = ref.origin === location.origin && !ref.pathname.endsWith("document.html");
  } catch {
    fromSearch = false;
  }
  if (fromSearch) {
    link.href = document.referrer;
    link.addEventListener("click", (event) => {
      if (history.length > 1) {
        event.preventDefault();
        history.back();
      }
    });
  }
}

function render() {
  const status = $("doc-status");
  if (loadError) {
    status.textContent = loadError;
    status.classList.add("error");
    $("doc").replaceChildren();
    return;
  }
  if (!documentData) return;
  status.textContent = "";
  const d = documentData;
  document.title = `${d.title} — ${t("appName")}`;
  const meta = [
    [t("metaPublisher"), d.publisher],
    [t("metaYear"), d.year],
    [t("metaType"), documentTypeLabel(d.document_type)],
    [t("metaCountries"), (d.countries || []).map(countryName).join(", ")],
    [t("metaLanguage"), d.language ? languageName(d.language) : null],
    [t("metaPages"), d.pages || null],
  ].filter(([, value]) => value !== null && value !== undefined && value !== "");
  const components = aggregateComponents(d.passage_list || []);
  const source = d.url || d.source_url;
  const header = h(
    "header",
    { class: "doc-header" },
    h("h1", { id: "doc-title", dir: "auto", lang: d.language || undefined, tabindex: "-1" }, d.title),
    h("dl", { class: "doc-meta" }, meta.map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", { dir: "auto" }, String(value))))),
    chipsNode({ components, countries: [], regions: d.regions || [] }, null),
    source && /^https?:/i.test(source)
      ? h(
          "div",
          { class: "card-actions" },
          h(
            "a",
            { class: "action", href: source, target: "_blank", rel: "noopener noreferrer" },
            h("span", { class: "action-icon icon-external", "aria-hidden": "true" }),
            t("originalDocument"),
          ),
        )
      : null,
  );
  const passages = (d.passage_list || []).map(passageCard);
  $("doc").replaceChildren(
    header,
    h(
      "section",
      { class: "doc-passages", "aria-labelledby": "passages-heading" },
      h("h2", { id: "passages-heading" }, `${t("contents")} · ${t("passagesCount", { n: formatNumber(passages.length) })}`),
      h("ol", { class: "results" }, passages),
    ),
  );
  markTarget();
}

/** Components that any passage of the document speaks of, most frequent first. */
function aggregateComponents(passages) {
  const counts = new Map();
  for (const p of passages) for (const c of p.components || []) counts.set(c, (counts.get(c) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([c]) => c);
}

function passageCard(p) {
  const where = locationText(p);
  return h(
    "li",
    { class: "card passage", id: p.passage_id, tabindex: "-1", dataset: { language: p.language } },
    h(
      "div",
      { class: "passage-head" },
      h("span", { class: "passage-where" }, where || `#${p.ordinal + 1}`),
      p.heading_path?.length ? h("span", { class: "heading-path", dir: "auto" }, p.heading_path.join(" › ")) : null,
    ),
    excerptNode(p),
    chipsNode({ components: p.components, countries: p.countries, regions: [], language: null }, null),
    h("p", { class: "passage-id" }, p.passage_id),
  );
}

function targetElement() {
  const id = decodeURIComponent(location.hash.slice(1));
  return id ? document.getElementById(id) : null;
}

function markTarget() {
  for (const el of document.querySelectorAll(".passage.is-target")) el.classList.remove("is-target");
  targetElement()?.classList.add("is-target");
}

/** The passages are rendered after load, so the browser's own jump to #fragment has already missed. */
function scrollToTarget() {
  markTarget();
  const target = targetElement();
  if (!target) return;
  target.scrollIntoView({ block: "start" });
  target.focus({ preventScroll: true });
}

init();
