// Sparsefit's page, selections: the list and the view of /v1/selections (stability, knockoffs, bootstrap).
// Loaded after app.js, whose helpers ($, api, el, fmt, when, shortId, stat, inlinePlot) it uses.
"use strict";

const SELECTION_TITLES = { stability: "Stability selection", knockoffs: "Knockoff filter", bootstrap: "Bootstrap selection" };

// Per kind, the evidence each feature (knockoffs and bootstrap: each design column) carries.
const EVIDENCE = {
  stability: [["probability", "Probability"]],
  knockoffs: [["statistic", "Statistic W"], ["s", "s"]],
  bootstrap: [["frequency", "Frequency"], ["estimate", "Estimate"], ["lower", "Lower"], ["upper", "Upper"]],
};

const NOTES = {
  stability: (s) => `Probability: the highest selection probability over the ${s.alphas_used ?? "\u2013"} largest alphas; stable at ${fmt(s.threshold)} or more.`,
  knockoffs: (s) =>
    s.threshold === null || s.threshold === undefined
      ? "Per design column W = |b| \u2212 |b\u0303|; no threshold reaches the target, so nothing is selected."
      : `Per design column W = |b| \u2212 |b\u0303|; selected where W \u2265 ${fmt(s.threshold)}.`,
  bootstrap: (s) => `Per design column: the share of replicates selecting it and the ${fmt(s.level)} percentile interval; selected where the interval excludes 0.`,
};

const selectionState = { selection: null, sort: null };

// ------------------------------------------------------------------ the list

function selectionBound(s) {
  if (s.kind === "stability") return `threshold ${fmt(s.threshold)} \u00b7 PFER \u2264 ${fmt(s.pfer_bound)}`;
  if (s.kind === "knockoffs") {
    const reached = s.threshold === null || s.threshold === undefined ? "no threshold reached" : `W \u2265 ${fmt(s.threshold)}`;
    return `FDR ${fmt(s.fdr)} \u00b7 ${reached}`;
  }
  if (s.kind === "bootstrap") return `${fmt(s.level)} intervals \u00b7 ${s.replicates} replicates`;
  return "";
}

async function refreshSelections() {
  const page = await api("v1/selections?limit=200");
  const tbody = $("#selections-table tbody");
  if (!page.items.length) {
    emptyRow(tbody, 7, "No selections yet: a stability, knockoffs or bootstrap job leaves one.");
    return;
  }
  tbody.replaceChildren(
    ...page.items.map((s) =>
      el(
        "tr",
        { "data-id": s.id },
        el("td", {}, s.kind),
        el("td", {}, shortId(s.id)),
        el("td", {}, s.target),
        el("td", { class: "num" }, String(s.selected.length)),
        el("td", {}, selectionBound(s)),
        el("td", {}, when(s.created_at)),
        el("td", {}, el("a", { class: "button small", href: `#/selections/${s.id}` }, "Open")),
      ),
    ),
  );
}

// ------------------------------------------------------------------ one selection

async function showSelection(id) {
  const selection = await api(`v1/selections/${encodeURIComponent(id)}`);
  selectionState.selection = selection;
  selectionState.sort = null;
  const title = SELECTION_TITLES[selection.kind] || selection.kind;
  $("#selection-title").textContent = `${title} of \u201c${selection.target}\u201d`;
  $("#selection-subtitle").textContent = `kind ${selection.kind} \u00b7 id ${selection.id} \u00b7 job ${selection.job_id} \u00b7 ${when(selection.created_at)} UTC`;
  $("#selection-stats").replaceChildren(...selectionStats(selection));
  $("#selection-selected-count").textContent = `${selection.selected.length}`;
  const chips = $("#selection-selected");
  chips.replaceChildren(...selection.selected.map((name) => el("li", {}, name)));
  if (!selection.selected.length) chips.append(el("li", {}, "none selected"));
  $("#selection-note").textContent = (NOTES[selection.kind] || (() => ""))(selection);
  renderEvidence();
  const stability = selection.kind === "stability";
  $("#plot-stability").hidden = !stability;
  $("#view-selection .selection-body").classList.toggle("no-plot", !stability);
  if (stability) await inlinePlot("#plot-stability", `v1/selections/${encodeURIComponent(id)}/plots/stability.svg`);
}

function selectionStats(s) {
  const tiles = [stat("selected", `${s.selected.length}`, `of ${new Set(s.features.map((f) => f.feature)).size} ${s.kind === "stability" ? "features" : "design columns"}`)];
  if (s.kind === "stability") {
    tiles.push(
      stat("threshold", fmt(s.threshold), "selection probability"),
      stat("pfer", fmt(s.pfer), "target false selections"),
      stat("pfer bound", fmt(s.pfer_bound), "Meinshausen\u2013B\u00fchlmann"),
      stat("q", fmt(s.q), "selected per subsample"),
      stat("alphas used", `${s.alphas_used ?? "\u2013"}`, s.alphas ? `of ${s.alphas.length}, from the largest` : ""),
    );
  } else if (s.kind === "knockoffs") {
    tiles.push(
      stat("fdr", fmt(s.fdr), "target false discovery rate"),
      stat("threshold", s.threshold === null || s.threshold === undefined ? "none" : fmt(s.threshold), "on W"),
      stat("method", s.method || "\u2013", s.construction || ""),
      stat("alpha", fmt(s.alpha), "CV min rule"),
    );
  } else if (s.kind === "bootstrap") {
    tiles.push(stat("alpha", fmt(s.alpha), "fitted"), stat("level", fmt(s.level), "interval coverage"), stat("replicates", `${s.replicates}`, "resamples of the rows"));
  }
  return tiles;
}

// The columns of the evidence table: a per-class value (multinomial bootstrap) gets one column per class.
function evidenceColumns(s) {
  const columns = [{ label: s.kind === "stability" ? "Feature" : "Design column", text: true, get: (f) => f.feature }];
  const first = s.features[0] || {};
  for (const [key, label] of EVIDENCE[s.kind] || []) {
    if (Array.isArray(first[key])) first[key].forEach((_, k) => columns.push({ label: `${label} [${k}]`, get: (f) => f[key]?.[k] ?? null }));
    else if (key in first) columns.push({ label, get: (f) => f[key] ?? null });
  }
  return columns;
}

// Whether a row of the table is selected: stability by feature; knockoffs by design column;
// bootstrap where the interval excludes 0 (in some class).
function isChosen(s, f, chosen) {
  if (s.kind !== "bootstrap") return chosen.has(f.feature);
  const lower = [].concat(f.lower ?? []);
  const upper = [].concat(f.upper ?? []);
  return lower.some((v, k) => v > 0 || upper[k] < 0);
}

function compareValues(x, y) {
  if (typeof x === "string") return x.localeCompare(y);
  // A missing number sorts below every number.
  return (x ?? -Infinity) - (y ?? -Infinity);
}

function renderEvidence() {
  const s = selectionState.selection;
  const columns = evidenceColumns(s);
  const sort = selectionState.sort;
  $("#selection-table thead").replaceChildren(
    el(
      "tr",
      {},
      ...columns.map((column, i) =>
        el(
          "th",
          { class: column.text ? "" : "num", "aria-sort": sort && sort.column === i ? sort.direction : "none", onclick: () => sortEvidence(i), title: "Sort" },
          column.label,
        ),
      ),
    ),
  );
  let rows = s.features;
  if (sort) {
    const get = columns[sort.column].get;
    const sign = sort.direction === "ascending" ? 1 : -1;
    rows = [...rows].sort((a, b) => sign * compareValues(get(a), get(b)));
  }
  const chosen = new Set(s.selected_columns || s.selected);
  const tbody = $("#selection-table tbody");
  if (!rows.length) {
    emptyRow(tbody, columns.length, "No features.");
    return;
  }
  tbody.replaceChildren(
    ...rows.map((f) => {
      const selected = isChosen(s, f, chosen);
      return el(
        "tr",
        { class: selected ? "" : "zero", "data-selected": String(selected) },
        ...columns.map((column) => {
          const value = column.get(f);
          return column.text ? el("td", {}, value) : el("td", { class: "num", "data-value": String(value) }, fmt(value));
        }),
      );
    }),
  );
}

function sortEvidence(column) {
  const sort = selectionState.sort;
  // As the coefficient table: numbers largest first on the first click, names A to Z.
  const text = evidenceColumns(selectionState.selection)[column].text;
  const flip = { ascending: "descending", descending: "ascending" };
  selectionState.sort = { column, direction: sort && sort.column === column ? flip[sort.direction] : text ? "ascending" : "descending" };
  renderEvidence();
}
