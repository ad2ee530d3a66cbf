// Country data on the search page: the country card (SDG housing figures and the collection's evidence
// for one country) and the Countries view (a sortable table of every country; a click filters the search).
//
// Example: renderCountryCard($("country-panel"), "KEN", { filtered: false, onFilter: (iso3) => ... })

import { SERIES_KEYS, componentLabel, countryName, formatNumber, regionLabel, seriesLabel, t } from "./i18n.js";
import { api, h } from "./common.js";

const profiles = new Map(); // iso3 -> profile promise (profiles change only with a data import)
let countriesPromise = null;

function profile(iso3) {
  if (!profiles.has(iso3)) {
    const p = api(`/v1/countries/${encodeURIComponent(iso3)}`);
    p.catch(() => profiles.delete(iso3));
    profiles.set(iso3, p);
  }
  return profiles.get(iso3);
}

/** "46.5 % (2018)", or "no data" (never a zero). */
export function figureText(value) {
  return value ? `${value.shown} % (${value.year})` : t("noData");
}

/** Fill `panel` with the card of `iso3`; hides it when the country is unknown or the API is absent. */
export async function renderCountryCard(panel, iso3, { filtered = false, onFilter = null } = {}) {
  panel.dataset.country = iso3;
  let p;
  try {
    p = await profile(iso3);
  } catch {
    if (panel.dataset.country === iso3) panel.hidden = true;
    return;
  }
  if (panel.dataset.country !== iso3) return; // another country was asked for meanwhile
  const figures = p.series.map((s) =>
    h(
      "li",
      { class: `figure ${s.status === "ok" ? "" : "nodata"}`, dataset: { series: s.series } },
      h("span", { class: "figure-label" }, `${seriesLabel(s.series)} `, h("small", {}, `SDG ${s.indicator}`)),
      h("strong", { class: "figure-value" }, figureText(s.latest)),
      s.trend ? h("span", { class: `trend trend-${s.trend.direction}` }, trendText(s.trend)) : null,
    ),
  );
  const ev = p.evidence;
  const gaps = ev.gaps.map(componentLabel).join(", ");
  const datasets = [...new Set(p.series.map((s) => s.dataset).filter(Boolean))];
  const parts = [
    h("h2", { id: "country-heading" }, countryName(p.iso3)),
    h("p", { class: "panel-text country-region" }, p.region ? regionLabel(p.region) : ""),
    h("ul", { class: "figures" }, figures),
    h(
      "p",
      { class: "panel-text country-evidence" },
      ev.documents || ev.passages
        ? t("countryEvidence", { docs: formatNumber(ev.documents), passages: formatNumber(ev.passages) })
        : t("countryNoEvidence"),
    ),
    gaps && (ev.documents || ev.passages) ? h("p", { class: "panel-text country-gaps" }, t("countryGaps", { list: gaps })) : null,
    !filtered && onFilter
      ? h(
          "button",
          { type: "button", class: "btn btn-secondary country-filter", onclick: () => onFilter(p.iso3) },
          t("filterToCountry", { country: countryName(p.iso3) }),
        )
      : null,
    ...datasets.map((src) => h("p", { class: "panel-status country-source" }, t("countrySource", { source: src }))),
  ];
  panel.replaceChildren(...parts.filter(Boolean));
  panel.setAttribute("aria-labelledby", "country-heading");
  panel.hidden = false;
}

function trendText(trend) {
  const change = trend.change_points;
  const arrow = { improving: "↗", worsening: "↘", unchanged: "→" }[trend.direction] || "";
  const points = `${change > 0 ? "+" : ""}${formatNumber(Math.round(change * 10) / 10)}`;
  return `${arrow} ${t("trendSince", { change: points, year: trend.since })}`;
}

// ------------------------------------------------------------------ the Countries view

const sortState = { key: "name", descending: false };

function sortValue(row, key) {
  if (key === "name") return countryName(row.iso3);
  if (key === "region") return row.region ? regionLabel(row.region) : "";
  if (key === "documents" || key === "passages") return row[key];
  return row.latest[key]?.value ?? null; // no data sorts last either way
}

function sorted(rows) {
  const { key, descending } = sortState;
  return [...rows].sort((a, b) => {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1;
    const order = typeof x === "string" ? x.localeCompare(y) : x - y;
    return descending ? -order : order;
  });
}

/** Fill `container` with the table of every country; `onChoose(iso3)` filters the search to one. */
export async function renderCountriesView(container, { onChoose }) {
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" }, t("loadingCountries"));
  container.replaceChildren(
    h("h2", { id: "countries-title", tabindex: "-1" }, t("countriesTitle")),
    h("p", { class: "countries-intro" }, t("countriesIntro")),
    status,
  );
  let data;
  try {
    countriesPromise ||= api("/v1/countries");
    data = await countriesPromise;
  } catch (err) {
    countriesPromise = null;
    status.textContent = t("countriesFailed", { message: err.message });
    return;
  }
  status.textContent = "";
  const columns = [
    { key: "name", label: t("colCountry") },
    { key: "region", label: t("colRegion") },
    { key: "documents", label: t("colDocuments"), numeric: true },
    { key: "passages", label: t("colPassages"), numeric: true },
    ...SERIES_KEYS.map((s) => ({ key: s, label: seriesLabel(s), numeric: true, series: true })),
  ];
  const table = h("table", { class: "countries-table", id: "countries-table" });
  const draw = () => {
    const head = h(
      "tr",
      {},
      columns.map((c) =>
        h(
          "th",
          {
            scope: "col",
            class: c.numeric ? "num" : "",
            "aria-sort": sortState.key === c.key ? (sortState.descending ? "descending" : "ascending") : "none",
          },
          h(
            "button",
            {
              type: "button",
              class: "sort-button",
              dataset: { sort: c.key },
              "aria-label": t("sortBy", { column: c.label }),
              onclick: () => {
                sortState.descending = sortState.key === c.key ? !sortState.descending : c.numeric;
                sortState.key = c.key;
                draw();
                table.querySelector(`[data-sort="${c.key}"]`)?.focus();
              },
            },
            c.label,
          ),
        ),
      ),
    );
    const body = sorted(data.countries).map((row) =>
      h(
        "tr",
        { dataset: { iso3: row.iso3 } },
        h(
          "th",
          { scope: "row" },
          h("button", { type: "button", class: "link-button country-choose", onclick: () => onChoose(row.iso3) }, countryName(row.iso3)),
        ),
        h("td", {}, row.region ? regionLabel(row.region) : ""),
        h("td", { class: "num" }, formatNumber(row.documents)),
        h("td", { class: "num" }, formatNumber(row.passages)),
        SERIES_KEYS.map((s) => {
          const v = row.latest[s];
          return h(
            "td",
            { class: `num ${v ? "" : "nodata"}`, title: v ? `${seriesLabel(s)}: ${v.text} % (${v.year})` : t("noData") }, // as published
            v ? h("span", {}, v.shown, h("small", {}, ` ${v.year}`)) : "—",
          );
        }),
      ),
    );
    table.replaceChildren(h("thead", {}, head), h("tbody", {}, body));
  };
  draw();
  const sources = data.series.map((s) => s.source).filter(Boolean);
  container.append(
    h("div", { class: "countries-scroll" }, table),
    ...[...new Set(sources)].map((src) => h("p", { class: "panel-status" }, t("countrySource", { source: src }))),
  );
}
