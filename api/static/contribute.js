// The contribution page: a contributor sends a file or a web address with its metadata and follows the
// job; an editor sees the review queue (what extraction found, the proposed tags, a sample) and
// publishes or rejects. Every call carries the key typed on the page, kept in sessionStorage only.
//
// Example: open contribute.html, paste a contributor key, choose a file, fill the title, type and
// contact, and "Submit for review" shows the job moving queued -> extracting -> embedding -> review.

import { $, ApiError, api, h, setupLanguageSelect } from "./common.js";
import {
  DOCUMENT_TYPE_KEYS,
  SUPPORTED,
  componentLabel,
  countryName,
  documentTypeLabel,
  languageName,
  t,
} from "./i18n.js";

const KEY_STORE = "hkb.key";
// A job rests in these states until someone acts; the page stops polling there.
const RESTING = new Set(["review", "published", "rejected", "failed", "deleted"]);
const POLL_MS = 2000;

let lastReview = null; // the queue as last loaded, re-rendered on a language change

async function init() {
  await setupLanguageSelect($("ui-lang"), render);
  const key = $("api-key");
  try {
    key.value = sessionStorage.getItem(KEY_STORE) || "";
  } catch {
    // storage disabled: the key is asked for again on each visit
  }
  key.addEventListener("change", () => {
    try {
      sessionStorage.setItem(KEY_STORE, key.value.trim());
    } catch {
      // not fatal
    }
  });
  for (const radio of document.querySelectorAll("input[name=source]")) radio.addEventListener("change", showSource);
  $("contribute-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  $("load-review").addEventListener("click", loadReview);
  render();
  document.body.dataset.ready = "true";
}

/** Everything that depends on the UI language: the select options and the queue. */
function render() {
  fillSelect($("c-type"), DOCUMENT_TYPE_KEYS.map((k) => [k, documentTypeLabel(k)]));
  fillSelect($("c-language"), [["", t("languageDetected")], ...SUPPORTED.map((code) => [code, languageName(code)])]);
  if (lastReview) renderReview(lastReview);
}

function fillSelect(select, options) {
  const chosen = select.value;
  select.replaceChildren(...options.map(([value, text]) => h("option", { value }, text)));
  if (options.some(([value]) => value === chosen)) select.value = chosen;
}

function showSource() {
  const byUrl = document.querySelector("input[name=source]:checked").value === "url";
  $("file-row").hidden = byUrl;
  $("url-row").hidden = !byUrl;
}

function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// ------------------------------------------------------------------ submitting

/** The form's problems, each naming its field as the label shows it (the server checks again). */
function formProblems(byUrl) {
  const problems = [];
  const need = (id, labelKey) => {
    if (!$(id).value.trim()) problems.push(t("fieldRequired", { field: t(labelKey) }));
  };
  if (!$("api-key").value.trim()) problems.push(t("fieldRequired", { field: t("keyLabel") }));
  if (byUrl) need("c-url", "urlLabel");
  else if (!$("c-file").files.length) problems.push(t("fieldRequired", { field: t("fileLabel") }));
  need("c-title", "titleLabel");
  need("c-name", "contactName");
  need("c-email", "contactEmail");
  if (countryCodes().some((code) => !/^[A-Z]{3}$/.test(code))) {
    problems.push(t("fieldInvalid", { field: t("countriesLabel") }));
  }
  for (const id of ["c-url", "c-email", "c-year"]) {
    const input = $(id);
    if (!input.closest("[hidden]") && input.value && !input.checkValidity()) {
      problems.push(t("fieldInvalid", { field: $(id).labels[0].textContent }));
    }
  }
  return problems;
}

function countryCodes() {
  return $("c-countries")
    .value.split(/[\s,;]+/)
    .filter(Boolean)
    .map((c) => c.toUpperCase());
}

/** The label of each field the server names, so its problems read in the page's language. */
const FIELD_LABELS = {
  "metadata.title": "titleLabel",
  "metadata.document_type": "typeLabel",
  "metadata.countries": "countriesLabel",
  "metadata.regions": "countriesLabel",
  "metadata.year": "yearLabel",
  "metadata.language": "languageLabel",
  "metadata.publisher": "publisherLabel",
  "metadata.licence": "licenceLabel",
  "metadata.source_url": "urlLabel",
  url: "urlLabel",
  file: "fileLabel",
  "contact.name": "contactName",
  "contact.organisation": "contactOrganisation",
  "contact.email": "contactEmail",
};

/** "metadata.year: 1200 is outside 1800-2027" as "Année : non valide (1200 is outside 1800-2027)". */
function serverProblem(problem) {
  const [field, ...rest] = problem.split(": ");
  const label = FIELD_LABELS[field];
  return label ? `${t("fieldInvalid", { field: t(label) })} (${rest.join(": ")})` : problem;
}

function metadataFromForm(byUrl) {
  const text = (id) => $(id).value.trim();
  const metadata = { title: text("c-title"), document_type: text("c-type") };
  const countries = countryCodes();
  if (countries.length) metadata.countries = countries;
  if (text("c-year")) metadata.year = Number(text("c-year"));
  for (const [id, field] of [
    ["c-language", "language"],
    ["c-publisher", "publisher"],
    ["c-licence", "licence"],
  ]) {
    if (text(id)) metadata[field] = text(id);
  }
  if (byUrl) metadata.source_url = text("c-url");
  return metadata;
}

async function submit() {
  const byUrl = document.querySelector("input[name=source]:checked").value === "url";
  const problems = formProblems(byUrl);
  showProblems(problems);
  if (problems.length) return;
  const form = new FormData();
  form.append("metadata", JSON.stringify(metadataFromForm(byUrl)));
  form.append(
    "contact",
    JSON.stringify({ name: $("c-name").value.trim(), organisation: $("c-org").value.trim(), email: $("c-email").value.trim() }),
  );
  if (byUrl) form.append("url", $("c-url").value.trim());
  else form.append("file", $("c-file").files[0]);
  const status = $("submit-status");
  const button = $("contribute-form").querySelector("button[type=submit]");
  button.disabled = true;
  status.classList.remove("error");
  status.textContent = t("submitting");
  try {
    const answer = await api("/v1/documents", {}, { method: "POST", form, headers: authHeaders() });
    status.textContent = t(answer.duplicate ? "submittedBefore" : "submitted", { id: answer.document_id });
    await follow(answer.job_id, (job) => {
      status.textContent = `${t("submitted", { id: job.document_id })} ${jobText(job)}`;
    });
  } catch (err) {
    status.textContent = "";
    showProblems(err instanceof ApiError && err.body?.problems ? err.body.problems.map(serverProblem) : [errorText(err)]);
  } finally {
    button.disabled = false;
  }
}

function showProblems(problems) {
  $("form-problems").replaceChildren(...problems.map((p) => h("li", {}, p)));
}

/** Poll a job until it rests, calling ``onChange`` with each new state. */
async function follow(jobId, onChange) {
  let last = null;
  for (;;) {
    const job = await api(`/v1/jobs/${encodeURIComponent(jobId)}`);
    if (job.status !== last) onChange(job);
    last = job.status;
    if (RESTING.has(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function jobText(job) {
  const state = t(`job_${job.status}`);
  return job.reason ? `${state}: ${job.reason}` : state;
}

function errorText(err) {
  if (err instanceof ApiError && err.status === 401) return t("keyUnknown");
  if (err instanceof ApiError && err.status === 403) return t("keyRole", { message: err.message });
  return t("requestFailed", { message: err.message });
}

// ------------------------------------------------------------------ reviewing

async function loadReview() {
  const status = $("review-status");
  status.classList.remove("error");
  status.textContent = t("loading");
  try {
    lastReview = await api("/v1/review", {}, { headers: authHeaders() });
    renderReview(lastReview);
  } catch (err) {
    lastReview = null;
    $("review-list").replaceChildren();
    status.classList.add("error");
    status.textContent = errorText(err);
  }
}

function renderReview(queue) {
  $("review-status").textContent = queue.total ? t("reviewCount", { n: queue.total }) : t("reviewEmpty");
  $("review-list").replaceChildren(...queue.items.map(reviewItem));
}

function reviewItem(item) {
  const m = item.metadata;
  const found = item.review;
  const facts = [
    [t("typeLabel"), documentTypeLabel(m.document_type)],
    [t("countriesLabel"), (m.countries || []).map(countryName).join(", ")],
    [t("yearLabel"), m.year],
    [t("fileLabel"), item.filename],
    [t("contactTitle"), [item.contact.name, item.contact.organisation, item.contact.email].filter(Boolean).join(" · ")],
    [t("submittedBy"), `${item.submitted_by} · ${item.submitted_at}`],
  ];
  if (found) {
    facts.push([t("extracted"), t("extractedText", { pages: found.pages, passages: found.passages, language: languageName(found.language || "und") })]);
    const components = found.proposed_tags?.components || [];
    facts.push([t("proposedTags"), components.map(componentLabel).join(", ") || "—"]);
  }
  const note = h("textarea", { class: "reject-note", rows: 2, "aria-label": t("rejectNote"), placeholder: t("rejectNote") });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const node = h(
    "li",
    { class: "review-item", dataset: { documentId: item.document_id } },
    h("h3", {}, m.title || item.document_id, " ", h("small", {}, item.document_id)),
    h("dl", { class: "review-facts" }, facts.filter(([, v]) => v).map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
    found?.warnings?.length ? h("ul", { class: "review-warnings" }, found.warnings.map((w) => h("li", {}, w))) : null,
    found?.sample?.length
      ? h("details", {}, h("summary", {}, t("samplePassages")), found.sample.map((p) => h("blockquote", { lang: found.language || "" }, p)))
      : null,
    h(
      "div",
      { class: "review-actions" },
      h("button", { type: "button", class: "btn btn-primary", onclick: () => act(item, "publish", status) }, t("publish")),
      note,
      h("button", { type: "button", class: "btn btn-secondary", onclick: () => act(item, "reject", status, note.value.trim()) }, t("reject")),
    ),
    status,
  );
  return node;
}

async function act(item, action, status, note = "") {
  status.classList.remove("error");
  if (action === "reject" && !note) {
    status.classList.add("error");
    status.textContent = t("fieldRequired", { field: t("rejectNote") });
    return;
  }
  for (const button of status.parentElement.querySelectorAll("button")) button.disabled = true;
  try {
    const job = await api(`/v1/documents/${encodeURIComponent(item.document_id)}/${action}`, {}, {
      method: "POST",
      headers: authHeaders(),
      body: action === "reject" ? { note } : undefined,
    });
    status.textContent = jobText(job);
    const final = RESTING.has(job.status) ? job : await follow(job.job_id, (j) => (status.textContent = jobText(j)));
    if (final.status === "published") {
      status.replaceChildren(jobText(final), " ", h("a", { href: `document.html?id=${encodeURIComponent(item.document_id)}` }, t("openDocument")));
    }
  } catch (err) {
    status.classList.add("error");
    status.textContent = errorText(err);
    for (const button of status.parentElement.querySelectorAll("button")) button.disabled = false;
  }
}

init();
