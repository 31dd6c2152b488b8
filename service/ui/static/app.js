// Sparsefit's page: plain JavaScript over the HTTP API (docs/api.md), no framework, no build step.
// Every request is relative to /ui, so the page works under a proxy prefix too.
"use strict";

const KEY_STORAGE = "sparsefit.apiKey";
const FINAL = new Set(["succeeded", "failed", "canceled"]);
const MAX_WATCHED = 3; // event streams held open at once: browsers allow 6 connections per host
const METRICS = {
  gaussian: ["mse", "mae", "deviance"],
  binomial: ["deviance", "misclassification", "auc"],
  multinomial: ["deviance", "misclassification"],
};

const $ = (selector) => document.querySelector(selector);
const state = { datasets: [], jobs: new Map(), watching: new Map(), model: null, coefSort: null };

// ------------------------------------------------------------------ the API key

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

function setKeyState(text, kind) {
  const pill = $("#key-state");
  pill.textContent = text;
  pill.className = `pill ${kind}`;
}

// ------------------------------------------------------------------ requests and problems

class ApiError extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.problem = problem;
    this.status = status;
  }
}

// fetch() with the key; a non-2xx answer throws ApiError carrying the problem document.
async function api(path, { method = "GET", body, headers = {}, signal, as = "json" } = {}) {
  const sent = new Headers(headers);
  const key = apiKey();
  if (key) sent.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(path, { method, body, headers: sent, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError({ title: "The server did not answer", detail: error.message }, 0);
  }
  if (!response.ok) {
    let problem;
    try {
      problem = await response.json();
    } catch {
      problem = { title: response.statusText || `HTTP ${response.status}`, detail: "" };
    }
    throw new ApiError(problem, response.status);
  }
  if (as === "response") return response;
  if (response.status === 204) return null;
  return as === "text" ? response.text() : response.json();
}

function showError(error) {
  if (error && error.name === "AbortError") return;
  const problem = error instanceof ApiError ? error.problem : { title: "Error", detail: String(error) };
  $("#alert-title").textContent = problem.title || "Error";
  let detail = problem.detail || "";
  if (error instanceof ApiError && error.status === 401) detail += " Enter an API key at the top of the page.";
  $("#alert-detail").textContent = detail;
  const list = $("#alert-errors");
  list.replaceChildren();
  for (const item of (problem.errors || []).slice(0, 5)) {
    const where = Array.isArray(item.loc) ? item.loc.join(".") : "";
    list.append(el("li", {}, where ? `${where}: ${item.msg || ""}` : item.msg || JSON.stringify(item)));
  }
  $("#alert").hidden = false;
  if (error instanceof ApiError && error.status === 401) setKeyState("key needed", "bad");
}

function clearError() {
  $("#alert").hidden = true;
}

// ------------------------------------------------------------------ small DOM and number helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function fmt(value) {
  if (value === null || value === undefined) return "\u2013";
  if (typeof value !== "number") return String(value);
  if (value === 0) return "0";
  const size = Math.abs(value);
  if (size >= 1e5 || size < 1e-3) return value.toExponential(3);
  return String(Number(value.toPrecision(5)));
}

function when(iso) {
  return iso ? iso.replace("T", " ").slice(0, 16) : "";
}

function shortId(id) {
  return el("code", { title: id }, id ? id.slice(0, 8) : "");
}

function emptyRow(tbody, columns, text) {
  tbody.replaceChildren(el("tr", {}, el("td", { class: "empty", colspan: columns }, text)));
}

// ------------------------------------------------------------------ datasets

async function refreshDatasets() {
  const page = await api("v1/datasets?limit=200");
  state.datasets = page.items;
  const tbody = $("#datasets-table tbody");
  if (!page.items.length) emptyRow(tbody, 7, "No datasets yet: upload a table above.");
  else {
    tbody.replaceChildren(
      ...page.items.map((d) =>
        el(
          "tr",
          { "data-id": d.id },
          el("td", {}, d.name || el("span", { class: "hint" }, "unnamed")),
          el("td", {}, shortId(d.id)),
          el("td", { class: "num" }, String(d.n_rows)),
          el("td", { class: "num" }, String(d.n_columns)),
          el("td", {}, d.storage || "dense"),
          el("td", {}, when(d.created_at)),
          el("td", {}, el("button", { type: "button", class: "ghost small", onclick: () => chooseDataset(d.id) }, "Use")),
        ),
      ),
    );
  }
  fillDatasetSelect();
}

function fillDatasetSelect() {
  const select = $("#job-dataset");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, state.datasets.length ? "choose a dataset" : "upload a table first"));
  for (const d of state.datasets) {
    select.append(el("option", { value: d.id }, `${d.name || "unnamed"} (${d.n_rows} \u00d7 ${d.n_columns}, ${d.id.slice(0, 8)})`));
  }
  if (chosen && state.datasets.some((d) => d.id === chosen)) select.value = chosen;
}

async function chooseDataset(id) {
  $("#job-dataset").value = id;
  await fillTargets(id);
}

// The target list comes from the dataset's own document (the first 1,000 columns of a wide table).
async function fillTargets(datasetId) {
  const select = $("#job-target");
  select.replaceChildren();
  if (!datasetId) return;
  const dataset = await api(`v1/datasets/${encodeURIComponent(datasetId)}`);
  select.dataset.columns = JSON.stringify(dataset.columns);
  for (const column of dataset.columns) {
    const kind = column.kind === "categorical" ? ` (${(column.levels || []).length} levels)` : "";
    select.append(el("option", { value: column.name }, column.name + kind));
  }
  const names = dataset.columns.map((c) => c.name);
  select.value = names.find((n) => ["y", "target", "label"].includes(n.toLowerCase())) || names[names.length - 1];
  suggestFamily();
}

// A categorical target suggests a classification family, as glmnet users would pick.
function suggestFamily() {
  const select = $("#job-target");
  const columns = JSON.parse(select.dataset.columns || "[]");
  const column = columns.find((c) => c.name === select.value);
  if (!column) return;
  const levels = column.kind === "categorical" ? (column.levels || []).length : 0;
  $("#job-family").value = levels === 0 ? "gaussian" : levels === 2 ? "binomial" : "multinomial";
  fillMetrics();
}

function fillMetrics() {
  const family = $("#job-family").value;
  const select = $("#job-metric");
  select.replaceChildren(el("option", { value: "" }, `default (${METRICS[family][0]})`));
  for (const metric of METRICS[family]) select.append(el("option", { value: metric }, metric));
}

async function uploadTable(event) {
  event.preventDefault();
  clearError();
  const file = $("#upload-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  const name = $("#upload-name").value.trim();
  if (name) form.append("name", name);
  const button = $("#upload-button");
  button.disabled = true;
  try {
    const dataset = await api("v1/datasets", { method: "POST", body: form });
    const result = $("#upload-result");
    result.textContent = `Uploaded ${dataset.name || file.name}: ${dataset.n_rows} rows, ${dataset.n_columns} columns (id ${dataset.id}).`;
    result.hidden = false;
    await refreshDatasets();
    await chooseDataset(dataset.id);
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ jobs

// The JobCreate of docs/api.md for the chosen kind: a field that does not apply to the kind is not
// sent (stability fits every subsample's path without CV; knockoffs are lasso at CV's min rule).
function jobBody() {
  const kind = $("#job-kind").value;
  const penalty = kind === "knockoffs" ? "lasso" : $("#job-penalty").value;
  const body = {
    dataset_id: $("#job-dataset").value,
    target: $("#job-target").value,
    family: $("#job-family").value,
    penalty,
    standardize: $("#job-standardize").checked,
  };
  if (kind !== "fit") body.kind = kind;
  if (kind === "stability") body.stability = { pfer: Number($("#job-pfer").value) };
  else if (kind === "knockoffs") {
    body.knockoffs = { fdr: Number($("#job-fdr").value) };
    body.cv = { folds: Number($("#job-folds").value) };
  } else {
    body.cv = { folds: Number($("#job-folds").value), rule: $("#job-rule").value };
    if ($("#job-metric").value) body.cv.metric = $("#job-metric").value;
    if (kind === "bootstrap") body.bootstrap = { replicates: Number($("#job-replicates").value) };
  }
  if (penalty === "elasticnet") body.l1_ratio = Number($("#job-l1-ratio").value);
  const name = $("#job-name").value.trim();
  if (name) body.name = name;
  return body;
}

// Shows the chosen kind's parameter and disables the fields that kind does not take.
function showKind() {
  const kind = $("#job-kind").value;
  for (const label of document.querySelectorAll("#job-form [data-kind]")) label.hidden = label.dataset.kind !== kind;
  const knockoffs = kind === "knockoffs";
  if (knockoffs) $("#job-penalty").value = "lasso";
  $("#job-penalty").disabled = knockoffs;
  // Knockoffs take family gaussian or binomial only.
  $("#job-family option[value='multinomial']").disabled = knockoffs;
  $("#job-l1-ratio").disabled = $("#job-penalty").value !== "elasticnet";
  $("#job-folds").disabled = kind === "stability";
  $("#job-rule").disabled = kind === "stability" || knockoffs;
  $("#job-metric").disabled = kind === "stability" || knockoffs;
}

async function startJob(event) {
  event.preventDefault();
  clearError();
  const button = $("#job-submit");
  button.disabled = true;
  try {
    const job = await api("v1/jobs", {
      method: "POST",
      body: JSON.stringify(jobBody()),
      headers: { "Content-Type": "application/json" },
    });
    state.jobs.set(job.id, job);
    state.live = job.id;
    showLive(job);
    renderJobs();
    watchJob(job.id);
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

async function refreshJobs() {
  const page = await api("v1/jobs?limit=50");
  state.jobs = new Map(page.items.map((job) => [job.id, job]));
  renderJobs();
  for (const job of page.items) {
    if (!FINAL.has(job.status) && state.watching.size < MAX_WATCHED) watchJob(job.id);
  }
}

function progressCell(job) {
  const fraction = FINAL.has(job.status) && job.status === "succeeded" ? 1 : job.progress?.fraction || 0;
  const fill = el("div");
  fill.style.width = `${Math.round(fraction * 100)}%`; // CSSOM: the page's CSP refuses style attributes
  const bar = el("div", { class: "bar small" }, fill);
  return el("td", {}, bar, el("span", { class: "hint" }, `${Math.round(fraction * 100)}% ${job.progress?.stage || ""}`));
}

function renderJobs() {
  const tbody = $("#jobs-table tbody");
  const jobs = [...state.jobs.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  if (!jobs.length) {
    emptyRow(tbody, 8, "No jobs yet: start one above.");
    return;
  }
  tbody.replaceChildren(
    ...jobs.map((job) => {
      const request = job.request || {};
      const action = job.model_id
        ? el("a", { class: "button small", href: `#/models/${job.model_id}` }, "Open model")
        : job.selection_id
          ? el("a", { class: "button small", href: `#/selections/${job.selection_id}` }, "Open selection")
          : job.error
          ? el("span", { class: "hint", title: job.error.detail || "" }, job.error.title || "failed")
          : "";
      return el(
        "tr",
        { "data-id": job.id, "data-status": job.status },
        el("td", {}, job.name || el("span", { class: "hint" }, job.kind), job.name && job.kind && job.kind !== "fit" ? el("span", { class: "hint" }, ` \u00b7 ${job.kind}`) : null),
        el("td", {}, shortId(job.id)),
        el("td", {}, request.target || ""),
        el("td", {}, `${request.family || ""} / ${request.penalty || ""}`),
        el("td", {}, el("span", { class: `pill ${job.status}` }, job.status)),
        progressCell(job),
        el("td", {}, when(job.created_at)),
        el("td", {}, action),
      );
    }),
  );
}

// The live panel under the form follows the job started last.
function showLive(job) {
  if (state.live !== job.id) return;
  $("#job-live").hidden = false;
  $("#job-live-name").textContent = `${job.name || "Job"} ${job.id.slice(0, 8)}`;
  const status = $("#job-live-status");
  status.textContent = job.status;
  status.className = `pill ${job.status}`;
  const fraction = job.status === "succeeded" ? 1 : job.progress?.fraction || 0;
  $("#job-live-bar").style.width = `${Math.round(fraction * 100)}%`;
  const stage = job.error ? `${job.error.title}: ${job.error.detail || ""}` : job.progress?.message || job.progress?.stage || "";
  $("#job-live-stage").textContent = `${Math.round(fraction * 100)}% \u00b7 ${stage}`;
  const link = $("#job-live-model");
  link.hidden = !job.model_id;
  if (job.model_id) link.href = `#/models/${job.model_id}`;
  const selection = $("#job-live-selection");
  selection.hidden = !job.selection_id;
  if (job.selection_id) selection.href = `#/selections/${job.selection_id}`;
}

// Server-Sent Events through fetch(), not EventSource: EventSource cannot send the Authorization header.
async function watchJob(id) {
  if (state.watching.has(id)) return;
  const controller = new AbortController();
  state.watching.set(id, controller);
  try {
    const response = await api(`v1/jobs/${encodeURIComponent(id)}/events`, {
      headers: { Accept: "text/event-stream" },
      signal: controller.signal,
      as: "response",
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = (buffer + value).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        onEvent(id, parseEvent(buffer.slice(0, end)));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (error) {
    showError(error);
  } finally {
    state.watching.delete(id);
  }
  await Promise.all([refreshJobs(), refreshModels(), refreshSelections()]).catch(showError);
}

function parseEvent(block) {
  const event = { type: "message", data: [] };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // comments keep the connection alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "data") event.data.push(value);
  }
  return { type: event.type, data: event.data.length ? JSON.parse(event.data.join("\n")) : null };
}

function onEvent(id, event) {
  const job = state.jobs.get(id);
  if (!job || !event.data) return;
  if (event.type === "progress") job.progress = event.data;
  else if (event.type === "status") Object.assign(job, event.data);
  renderJobs();
  showLive(job);
}

// ------------------------------------------------------------------ models list

async function refreshModels() {
  const page = await api("v1/models?limit=200");
  const tbody = $("#models-table tbody");
  if (!page.items.length) {
    emptyRow(tbody, 8, "No models yet: a succeeded job leaves one.");
    return;
  }
  tbody.replaceChildren(
    ...page.items.map((m) =>
      el(
        "tr",
        { "data-id": m.id },
        el("td", {}, m.name || el("span", { class: "hint" }, "unnamed")),
        el("td", {}, shortId(m.id)),
        el("td", {}, m.target),
        el("td", {}, `${m.family} / ${m.penalty}`),
        el("td", { class: "num" }, fmt(m.alpha)),
        el("td", { class: "num" }, String(m.selected_features.length)),
        el("td", {}, when(m.created_at)),
        el("td", {}, el("a", { class: "button small", href: `#/models/${m.id}` }, "Open")),
      ),
    ),
  );
}

// ------------------------------------------------------------------ one model

function stat(label, value, sub) {
  return el("div", { class: "stat" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value), sub ? el("div", { class: "sub" }, sub) : null);
}

async function showModel(id) {
  const model = await api(`v1/models/${encodeURIComponent(id)}`);
  let cv = null;
  try {
    cv = await api(`v1/models/${encodeURIComponent(id)}/cv`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  state.model = model;
  state.coefSort = null;
  $("#model-title").textContent = model.name || `Model ${model.id}`;
  $("#model-subtitle").textContent = `${model.family} ${model.penalty} on target \u201c${model.target}\u201d \u00b7 id ${model.id} \u00b7 ${when(model.created_at)} UTC`;
  renderStats(model, cv);
  renderSelected(model);
  renderCoefficients();
  renderCv(model, cv);
  $("#predict-result").hidden = true;
  await Promise.all([
    inlinePlot("#plot-path", `v1/models/${encodeURIComponent(id)}/plots/path.svg`),
    cv ? inlinePlot("#plot-cv", `v1/models/${encodeURIComponent(id)}/plots/cv.svg`) : noPlot("#plot-cv", "Fitted without cross-validation."),
  ]);
}

function renderStats(model, cv) {
  const cvMetrics = model.metrics?.cv;
  const metric = cv?.metric;
  const tiles = [
    stat("chosen alpha", fmt(model.alpha), model.selection ? `rule ${model.selection.rule}` : "fixed alpha"),
    stat("l1_ratio", fmt(model.l1_ratio), model.penalty),
  ];
  if (cvMetrics && metric && cvMetrics[metric] !== undefined) {
    tiles.push(stat(`CV ${metric}`, fmt(cvMetrics[metric]), cvMetrics.se !== undefined ? `\u00b1 ${fmt(cvMetrics.se)} (se)` : ""));
  }
  tiles.push(stat("selected", `${model.selected_features.length}`, `of ${model.coefficients.length} design columns`));
  for (const [name, value] of Object.entries(model.metrics?.train || {}).slice(0, 2)) tiles.push(stat(`train ${name}`, fmt(value)));
  $("#model-stats").replaceChildren(...tiles);
}

function renderSelected(model) {
  $("#model-selected-count").textContent = `${model.selected_features.length}`;
  const list = $("#model-selected");
  list.replaceChildren(...model.selected_features.map((name) => el("li", {}, name)));
  if (!model.selected_features.length) list.append(el("li", {}, "none: the intercept alone"));
}

function renderCv(model, cv) {
  const rows = [];
  if (cv) {
    const chosen = model.selection?.rule === "min" ? cv.alpha_min : cv.alpha_1se;
    const at = cv.alphas.indexOf(chosen);
    rows.push(["metric", cv.metric], ["rule", model.selection?.rule || "\u2013"], ["folds", String(cv.folds.length)]);
    rows.push(["alpha_min", fmt(cv.alpha_min)], ["alpha_1se", fmt(cv.alpha_1se)], ["chosen alpha", fmt(model.alpha)]);
    if (at >= 0) rows.push([`CV ${cv.metric} at chosen alpha`, `${fmt(cv.mean[at])} \u00b1 ${fmt(cv.se[at])}`]);
    const best = cv.alphas.indexOf(cv.alpha_min);
    if (best >= 0) rows.push([`CV ${cv.metric} at alpha_min`, `${fmt(cv.mean[best])} \u00b1 ${fmt(cv.se[best])}`]);
    rows.push(["alphas on the path", String(cv.alphas.length)]);
  } else {
    rows.push(["cross-validation", "none (fixed alpha or no cv)"]);
  }
  const convergence = model.convergence || {};
  rows.push(["converged", `${convergence.converged} (${convergence.n_iter} iterations)`]);
  $("#cv-table tbody").replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
}

// The SVG is fetched with the key (an <img src> could not send it) and inlined as a DOM tree.
async function inlinePlot(selector, url) {
  const body = $(`${selector} .plot-body`);
  body.replaceChildren(el("p", { class: "hint" }, "loading\u2026"));
  const text = await api(url, { as: "text", headers: { Accept: "image/svg+xml" } });
  const parsed = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = parsed.documentElement;
  if (svg.nodeName !== "svg" || parsed.querySelector("parsererror")) throw new Error(`${url} is not an SVG image`);
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  body.replaceChildren(document.importNode(svg, true));
}

function noPlot(selector, text) {
  $(`${selector} .plot-body`).replaceChildren(el("p", { class: "hint" }, text));
}

// ------------------------------------------------------------------ the sortable coefficient table

function coefficientColumns(model) {
  const columns = [{ label: "Feature", text: true, get: (c) => c.feature }];
  if (model.family === "multinomial") {
    model.classes.forEach((cls, k) => columns.push({ label: `coef [${cls}]`, get: (c) => c.value[k] }));
    model.classes.forEach((cls, k) => columns.push({ label: `standardized [${cls}]`, get: (c) => c.standardized[k] }));
  } else {
    columns.push({ label: "Coefficient", get: (c) => c.value }, { label: "Standardized", get: (c) => c.standardized });
    columns.push({ label: "|Standardized|", get: (c) => Math.abs(c.standardized) });
  }
  return columns;
}

function isZero(coefficient) {
  const values = Array.isArray(coefficient.value) ? coefficient.value : [coefficient.value];
  return values.every((v) => v === 0);
}

function renderCoefficients() {
  const model = state.model;
  const columns = coefficientColumns(model);
  const sort = state.coefSort;
  const head = el(
    "tr",
    {},
    ...columns.map((column, i) =>
      el(
        "th",
        {
          class: column.text ? "" : "num",
          "aria-sort": sort && sort.column === i ? sort.direction : "none",
          onclick: () => sortCoefficients(i),
          title: "Sort",
        },
        column.label,
      ),
    ),
  );
  $("#coef-table thead").replaceChildren(head);
  let rows = model.coefficients.filter((c) => !$("#coef-nonzero").checked || !isZero(c));
  if (sort) {
    const get = columns[sort.column].get;
    const sign = sort.direction === "ascending" ? 1 : -1;
    rows = [...rows].sort((a, b) => {
      const x = get(a);
      const y = get(b);
      return sign * (typeof x === "string" ? x.localeCompare(y) : x - y);
    });
  }
  const tbody = $("#coef-table tbody");
  if (!rows.length) {
    emptyRow(tbody, columns.length, "Every coefficient is zero.");
  } else {
    tbody.replaceChildren(
      ...rows.map((c) =>
        el(
          "tr",
          { class: isZero(c) ? "zero" : "" },
          ...columns.map((column) => {
            const value = column.get(c);
            return column.text ? el("td", {}, value) : el("td", { class: "num", "data-value": String(value) }, fmt(value));
          }),
        ),
      ),
    );
  }
  const intercept = Array.isArray(model.intercept) ? model.intercept.map(fmt).join(", ") : fmt(model.intercept);
  $("#coef-intercept").textContent = `Intercept ${intercept}. Coefficients on the original scale; standardized ones per standard deviation.`;
}

function sortCoefficients(column) {
  const sort = state.coefSort;
  // A number column sorts largest first on the first click, the feature names A to Z.
  const text = coefficientColumns(state.model)[column].text;
  const first = text ? "ascending" : "descending";
  const flip = { ascending: "descending", descending: "ascending" };
  state.coefSort = { column, direction: sort && sort.column === column ? flip[sort.direction] : first };
  renderCoefficients();
}

// ------------------------------------------------------------------ predictions

async function insertHeader() {
  const model = state.model;
  try {
    const dataset = await api(`v1/datasets/${encodeURIComponent(model.dataset_id)}`);
    const names = dataset.columns.map((c) => c.name).filter((n) => n !== model.target);
    const header = names.join(",");
    const area = $("#predict-csv");
    if (!area.value.startsWith(header)) area.value = `${header}\n${area.value}`;
  } catch (error) {
    showError(error);
  }
}

async function predict(event) {
  event.preventDefault();
  clearError();
  const button = $("#predict-button");
  button.disabled = true;
  $("#predict-result").hidden = true; // no earlier answer left beside a new question
  try {
    const csv = $("#predict-csv").value.trim() + "\n";
    const answer = await api(`v1/models/${encodeURIComponent(state.model.id)}/predictions`, {
      method: "POST",
      body: csv,
      headers: { "Content-Type": "text/csv" },
    });
    renderPredictions(answer);
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

function renderPredictions(answer) {
  const classes = answer.classes || [];
  const head = el("tr", {}, el("th", { class: "num" }, "Row"), el("th", { class: "num" }, "Prediction"), ...classes.map((c) => el("th", { class: "num" }, `P(${c})`)));
  $("#predict-table thead").replaceChildren(head);
  $("#predict-table tbody").replaceChildren(
    ...answer.predictions.map((value, i) =>
      el(
        "tr",
        {},
        el("td", { class: "num" }, String(i + 1)),
        el("td", { class: "num prediction", "data-value": String(value) }, fmt(value)),
        ...(answer.probabilities ? answer.probabilities[i].map((p) => el("td", { class: "num" }, fmt(p))) : []),
      ),
    ),
  );
  $("#predict-summary").textContent = `${answer.predictions.length} prediction(s) at alpha ${fmt(state.model.alpha)}.`;
  $("#predict-result").hidden = false;
}

// ------------------------------------------------------------------ views and start-up

async function route() {
  clearError();
  const match = location.hash.match(/^#\/models\/([^/]+)$/);
  const selection = location.hash.match(/^#\/selections\/([^/]+)$/); // selections.js
  $("#view-home").hidden = Boolean(match || selection);
  $("#view-model").hidden = !match;
  $("#view-selection").hidden = !selection;
  try {
    if (match) await showModel(decodeURIComponent(match[1]));
    else if (selection) await showSelection(decodeURIComponent(selection[1]));
    else await refreshAll();
  } catch (error) {
    showError(error);
  }
}

async function refreshAll() {
  await Promise.all([refreshDatasets(), refreshJobs(), refreshModels(), refreshSelections()]);
  if ($("#job-dataset").value && !$("#job-target").options.length) await fillTargets($("#job-dataset").value);
}

// Whether the server wants a key, and whether this one works: one cheap list call tells both.
async function checkKey() {
  try {
    await api("v1/models?limit=1");
    setKeyState(apiKey() ? "key accepted" : "no key needed", "ok");
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      setKeyState(apiKey() ? "key refused" : "key needed", "bad");
      return false;
    }
    throw error;
  }
}

async function useKey(event) {
  event.preventDefault();
  const key = $("#api-key").value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  $("#api-key").value = "";
  $("#api-key").placeholder = key ? "key set for this tab" : "only if the server has keys";
  clearError();
  try {
    if (await checkKey()) await route();
  } catch (error) {
    showError(error);
  }
}

function start() {
  $("#key-form").addEventListener("submit", useKey);
  $("#key-forget").addEventListener("click", () => {
    for (const controller of state.watching.values()) controller.abort();
    sessionStorage.removeItem(KEY_STORAGE);
    $("#api-key").placeholder = "only if the server has keys";
    checkKey().catch(showError);
  });
  if (apiKey()) $("#api-key").placeholder = "key set for this tab";
  $("#alert-close").addEventListener("click", clearError);
  $("#upload-form").addEventListener("submit", uploadTable);
  $("#job-form").addEventListener("submit", startJob);
  $("#job-dataset").addEventListener("change", (e) => fillTargets(e.target.value).catch(showError));
  $("#job-target").addEventListener("change", suggestFamily);
  $("#job-family").addEventListener("change", fillMetrics);
  $("#job-penalty").addEventListener("change", showKind);
  $("#job-kind").addEventListener("change", showKind);
  $("#coef-nonzero").addEventListener("change", renderCoefficients);
  $("#predict-form").addEventListener("submit", predict);
  $("#predict-header").addEventListener("click", insertHeader);
  for (const button of document.querySelectorAll("[data-refresh]")) {
    const refresh = { datasets: refreshDatasets, jobs: refreshJobs, models: refreshModels, selections: refreshSelections }[
      button.dataset.refresh
    ];
    button.addEventListener("click", () => refresh().catch(showError));
  }
  window.addEventListener("hashchange", route);
  fillMetrics();
  showKind();
  checkKey()
    .then((ok) => (ok ? route() : null))
    .catch(showError);
}

document.addEventListener("DOMContentLoaded", start);
