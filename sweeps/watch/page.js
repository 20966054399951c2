// The live page's drawing: charts (plotly.js, shipped inside the plotly package) and the trial
// table, from the state that sweeps/watch/state.py builds. Live, it polls state.json for what
// changed (new curve rows only) and redraws in place with Plotly.react, which keeps each chart's
// zoom (uirevision); offline (view.html) the whole state is inlined and drawn once.
// Every text from the sweep folder goes through textContent or plotText: never into HTML.
"use strict";

const PALETTE = ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#d8b400",
  "#f98e09", "#d62728", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"];
const STATUS_RANK = { RUNNING: 0, PENDING: 1, TERMINATED: 2, STOPPED: 3, INTERRUPTED: 4, ERROR: 5 };
const CONFIG = { displaylogo: false, responsive: true, displayModeBar: "hover", modeBarButtonsToRemove: ["toImage"] };
let STATE = null;
// fit.json's key names (contract/fit_outputs.py), put on the fit section by sweeps/watch/page.py.
const FIT_KEYS = JSON.parse(document.getElementById("fit").dataset.keys);
const CURVES = [];  // [trial id, tokens, metric values...], appended as they arrive
const SORT = {};    // stage -> {key, dir}

function plotText(s) {  // plotly reads a few HTML tags in its labels: show them as text
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
function el(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const kid of kids) node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return node;
}
function si(v, digits = 3) {
  if (v === null || v === undefined) return "";
  const a = Math.abs(v);
  if (a >= 1e5 || (a > 0 && a < 1e-3)) return v.toExponential(digits - 1).replace("e+", "e");
  return String(Number(v.toPrecision(digits + 1)));
}
function slug(s) { return String(s).replace(/[^A-Za-z0-9_-]/g, "_"); }

function stageRows(stage) {
  const single = STATE.stages.length === 1;
  return STATE.trials.filter(r => single || r.stage === stage.name);
}
function metricIndex(stage) { return 2 + STATE.metrics.indexOf(stage.metric); }
function groupKey(rows) {  // the sweep's main axis: its budgets, else its model sizes
  return rows.some(r => r.budget !== null) ? "budget" : "params";
}
function groupLabel(key, v) {
  if (v === null || v === undefined) return "?";
  return key === "budget" ? `C = ${si(v)} FLOPs` : `N = ${si(v)} params`;
}
function colours(values) {  // sequential (viridis-like) along the sorted values
  const sorted = [...new Set(values.filter(v => v !== null))].sort((a, b) => a - b);
  const n = sorted.length, out = new Map();
  sorted.forEach((v, i) => out.set(v, PALETTE[n <= 8 ? Math.round(i * 7 / Math.max(n - 1, 1)) : i % PALETTE.length]));
  return out;
}
function axis(title, log, extra) {
  return Object.assign({ title: { text: title }, type: log ? "log" : "linear", showgrid: true,
    gridcolor: "#eee", zeroline: false, exponentformat: "power", ticks: "outside", automargin: true }, extra || {});
}
function layout(title, x, y) {
  return { title: { text: title, font: { size: 15 }, x: 0.01, xanchor: "left" }, xaxis: x, yaxis: y,
    margin: { l: 70, r: 20, t: 40, b: 55 }, height: 420, hovermode: "closest",
    legend: { font: { size: 11 }, bgcolor: "rgba(255,255,255,0.85)", bordercolor: "#ccc", borderwidth: 1 },
    plot_bgcolor: "#fff", paper_bgcolor: "#fff" };
}
function finalValue(row, stage) {  // a run's final metric (its last report), best as fallback
  const v = row.last[stage.metric];
  return v !== null && v !== undefined ? v : row.best[stage.metric];
}
function draw(div, traces, lay, meta) {
  lay.uirevision = div.id;  // one per chart: a redraw keeps what the user zoomed to
  Plotly.react(div, traces, lay, CONFIG);
  for (const [k, v] of Object.entries(meta)) div.dataset[k] = String(v);
  const legend = div.querySelector(".legend"), box = div.getBoundingClientRect();
  if (legend) {
    const lb = legend.getBoundingClientRect();
    div.dataset.legendInside = String(lb.left >= box.left - 1 && lb.right <= box.right + 1 &&
      lb.top >= box.top - 1 && lb.bottom <= box.bottom + 1);
  }
}

function curvesChart(div, stage) {
  const rows = stageRows(stage), key = groupKey(rows);
  const byId = new Map(rows.map(r => [r.id, r]));
  const colour = groupColours(stage, key, rows);
  const mi = metricIndex(stage), lines = new Map();
  for (const c of CURVES) {
    const row = byId.get(c[0]);
    if (!row || c[1] === null || c[mi] === null || c[mi] === undefined) continue;
    if (!lines.has(c[0])) lines.set(c[0], { x: [], y: [] });
    lines.get(c[0]).x.push(c[1]); lines.get(c[0]).y.push(c[mi]);
  }
  const shown = new Set(), traces = [];
  const ordered = [...lines.keys()].sort((a, b) => (byId.get(a)[key] || 0) - (byId.get(b)[key] || 0));
  for (const id of ordered) {
    const row = byId.get(id), g = row[key], name = groupLabel(key, g);
    traces.push({ type: "scatter", mode: "lines", x: lines.get(id).x, y: lines.get(id).y,
      name: plotText(name), legendgroup: name, showlegend: !shown.has(name),
      line: { color: colour.get(g) || "#555", width: 1.6 }, meta: "trial",
      text: plotText(row.tag), hovertemplate: `<b>%{text}</b><br>${stage.rl ? "env steps" : "tokens"} %{x:.3s}<br>${plotText(stage.metric)} %{y:.4g}<extra>${plotText(name)}</extra>` });
    shown.add(name);
  }
  if (!traces.length) {  // a stage that has not reported yet: a line, not empty axes
    Plotly.purge(div);
    div.replaceChildren(el("p", { class: "note" }, "No learning curves reported yet."));
    div.dataset.trials = "0";
    return;
  }
  const logY = stage.metric.includes("loss");
  draw(div, traces, layout(`${stage.rl ? "Return" : "Learning curves"}: ${plotText(stage.metric)} against ${stage.rl ? "env steps" : "tokens"}`,
    axis(stage.rl ? "env steps sampled" : "tokens trained", true), axis(plotText(stage.metric), logY)),
    { trials: traces.length, groups: shown.size });
}

function chartsFor(stage) {  // the background fit covers the first stage only
  return STATE.charts && STATE.stages[0].name === stage.name ? STATE.charts : null;
}
const sameBudget = (a, b) => a !== null && b !== null && Math.abs(Math.log(a / b)) < 0.05;

function budgetList(stage) {  // the trials' budgets, and those only cooldown points reach
  const out = [...new Set(stageRows(stage).map(r => r.budget).filter(b => b !== null))];
  const charts = chartsFor(stage);
  for (const p of (charts && charts.points) || []) if (p[4] !== null && !out.some(v => sameBudget(v, p[4]))) out.push(p[4]);
  return out.sort((x, y) => x - y);
}
function groupColours(stage, key, rows) {  // one colour per budget across every chart
  return key === "budget" ? colours(budgetList(stage)) : colours(rows.map(r => r[key]));
}

function pointsByBudget(stage, budgets) {  // run ends from the table, cooldown points from the fit
  const groups = new Map(budgets.map(b => [b, { x: [], y: [], text: [], bx: [], by: [], btext: [] }]));
  for (const r of stageRows(stage)) {
    const g = groups.get(budgets.find(b => sameBudget(b, r.budget)));
    if (!g || r.params === null || !(r.status === "TERMINATED" || r.status === "STOPPED") || finalValue(r, stage) === null) continue;
    g.x.push(r.params); g.y.push(finalValue(r, stage)); g.text.push(plotText(r.tag));
  }
  const ids = new Set(stageRows(stage).map(r => r.id)), charts = chartsFor(stage);
  for (const [id, , n, loss, b] of (charts && charts.points) || []) {
    const [run, fraction] = id.split("@");  // "<trial>@1" is the run's own end, shown above
    const g = groups.get(budgets.find(v => sameBudget(v, b)));
    if (!g || ids.has(id) || (ids.has(run) && Number(fraction) === 1)) continue;
    g.bx.push(n); g.by.push(loss); g.btext.push(plotText(id));
  }
  return groups;
}

function parabolaTraces(stage, budgets, colour) {
  const traces = [], charts = chartsFor(stage);
  for (const p of (charts && charts.parabolas) || []) {
    const b = budgets.find(v => sameBudget(v, p.budget));
    if (!p.N || b === undefined) continue;
    // A parabola without a located minimum is drawn thin and dashed, its reason on hover.
    traces.push({ type: "scatter", mode: "lines", x: p.N, y: p.loss, legendgroup: String(b), showlegend: false,
      line: { color: colour.get(b), width: p.vertex ? 2 : 1, dash: p.vertex ? "solid" : "dash" }, meta: "parabola",
      hovertemplate: p.vertex ? "" : `${groupLabel("budget", b)}: ${plotText(p.reason)}<extra></extra>`, hoverinfo: p.vertex ? "skip" : undefined });
    if (p.vertex) traces.push({ type: "scatter", mode: "markers", x: [p.vertex.N], y: [p.vertex.loss], legendgroup: String(b),
      showlegend: false, meta: "minimum", marker: { symbol: "star", size: 14, color: colour.get(b), line: { color: "#000", width: 1 } },
      hovertemplate: `minimum of ${groupLabel("budget", b)}<br>N* %{x:.3s}<br>loss %{y:.4g}<extra></extra>` });
  }
  return traces;
}

function isoflopChart(div, stage) {
  const budgets = budgetList(stage), colour = colours(budgets), traces = [];
  for (const [b, g] of pointsByBudget(stage, budgets)) {
    const order = g.x.map((_, i) => i).sort((i, j) => g.x[i] - g.x[j]);
    traces.push({ type: "scatter", mode: "markers+lines", x: order.map(i => g.x[i]), y: order.map(i => g.y[i]),
      name: groupLabel("budget", b), legendgroup: String(b), meta: "budget",
      marker: { color: colour.get(b), size: 8 }, line: { color: colour.get(b), width: 0.6, dash: "dot" },
      text: order.map(i => g.text[i]), hovertemplate: `<b>%{text}</b><br>N %{x:.3s} params<br>${plotText(stage.metric)} %{y:.4g}<extra>${groupLabel("budget", b)}</extra>` });
    // A budget only cooldown points reach (a branch's fraction of a larger budget) is named by them.
    if (g.bx.length) traces.push({ type: "scatter", mode: "markers", x: g.bx, y: g.by, text: g.btext, legendgroup: String(b),
      showlegend: !g.x.length, name: `${groupLabel("budget", b)} (cooldown points)`, meta: "branch", marker: { color: "#fff", size: 7, line: { color: colour.get(b), width: 1.5 } },
      hovertemplate: `<b>%{text}</b> (cooldown point)<br>N %{x:.3s}<br>loss %{y:.4g}<extra></extra>` });
  }
  const fits = parabolaTraces(stage, budgets, colour);
  draw(div, traces.concat(fits), layout(`IsoFLOP: ${plotText(stage.metric)} against model size, one curve per budget`,
    axis("non-embedding parameters N", true), axis(plotText(stage.metric), true)),
    { budgetTraces: budgets.length, parabolas: fits.filter(t => t.meta === "parabola").length });
}

function computeChart(div, stage) {
  const rows = stageRows(stage).filter(r => (r.status === "TERMINATED" || r.status === "STOPPED") && finalValue(r, stage) !== null);
  const all = stageRows(stage), key = groupKey(all), colour = groupColours(stage, key, all), traces = [];
  for (const g of [...colour.keys()]) {  // colours from every trial: the same as the other charts'
    const pts = rows.filter(r => r[key] === g);
    if (!pts.length) continue;
    traces.push({ type: "scatter", mode: "markers", x: pts.map(r => r.flops_planned || r.flops), y: pts.map(r => finalValue(r, stage)),
      name: groupLabel(key, g), marker: { color: colour.get(g), size: 8 }, meta: "runs", text: pts.map(r => plotText(r.tag)),
      hovertemplate: `<b>%{text}</b><br>C %{x:.3s} FLOPs<br>${plotText(stage.metric)} %{y:.4g}<extra></extra>` });
  }
  const f = chartsFor(stage) ? chartsFor(stage).frontier : null;
  if (f) {
    if (f.lo && f.hi) traces.push({ type: "scatter", mode: "lines", x: f.C.concat([...f.C].reverse()),
      y: f.hi.concat([...f.lo].reverse()), fill: "toself", fillcolor: "rgba(214,39,40,0.15)", line: { width: 0 },
      name: `${Math.round(f.level * 100)} % bootstrap band`, hoverinfo: "skip", meta: "band" });
    traces.push({ type: "scatter", mode: "lines", x: f.C, y: f.loss, line: { color: "#d62728", width: 2.5 }, meta: "frontier",
      name: f.law === "chinchilla" ? "compute-optimal L*(C)" : "compute law", hovertemplate: "C %{x:.3s}<br>L %{y:.4g}<extra></extra>" });
  }
  draw(div, traces, layout(`${plotText(stage.metric)} against training compute${f ? " with the fitted frontier" : ""}`,
    axis("training FLOPs C", true), axis(plotText(stage.metric), true)), { frontier: f ? 1 : 0 });
}

function forecastChart(div, stage, fc) {
  const grid = STATE.stages[0], traces = [];
  const rows = stageRows(grid).filter(r => r.status === "TERMINATED" && finalValue(r, grid) !== null);
  traces.push({ type: "scatter", mode: "markers", x: rows.map(r => r.flops_planned || r.flops), y: rows.map(r => finalValue(r, grid)),
    name: `${plotText(grid.name)} runs`, marker: { color: "#888", size: 7 }, text: rows.map(r => plotText(r.tag)),
    hovertemplate: "<b>%{text}</b><br>C %{x:.3s}<br>loss %{y:.4g}<extra></extra>" });
  const L = fc.loss;
  traces.push({ type: "scatter", mode: "markers", x: [fc.C], y: [L.value], name: "forecast (80 % and 95 % intervals)", meta: "forecast",
    marker: { color: "#1f77b4", size: 12, symbol: "diamond" },
    error_y: { type: "data", symmetric: false, array: [L.hi95 - L.value], arrayminus: [L.value - L.lo95], thickness: 1.5, width: 8 },
    hovertemplate: `forecast at C %{x:.3s}<br>loss ${si(L.value, 4)} [80 %: ${si(L.lo80, 4)}, ${si(L.hi80, 4)}]<extra></extra>` });
  traces.push({ type: "scatter", mode: "lines", x: [fc.C, fc.C], y: [L.lo80, L.hi80], line: { color: "#1f77b4", width: 7 },
    opacity: 0.45, showlegend: false, hoverinfo: "skip" });
  if (fc.score && fc.score.realised !== null) traces.push({ type: "scatter", mode: "markers", x: [fc.C], y: [fc.score.realised],
    name: `realised (${fc.score.error_pct >= 0 ? "+" : ""}${fc.score.error_pct.toFixed(2)} %)`, meta: "realised", marker: { color: "#d62728", size: 12, symbol: "x" },
    hovertemplate: "realised loss %{y:.4g}<extra></extra>" });
  draw(div, traces, layout(`Forecast at ${si(fc.C)} FLOPs${fc.score ? " and its score" : ""}`, axis("training FLOPs C", true),
    axis(plotText(grid.metric), true)), { scored: fc.score ? 1 : 0 });
}

function table(stage) {
  const rows = stageRows(stage), key = groupKey(rows), sort = SORT[stage.name] || { key: null, dir: 1 };
  const branches = rows.some(r => r.flops !== null && r.flops_planned && r.flops > r.flops_planned * 1.005);
  const cols = [["tag", "trial"], ["status", "status"], ["params", "params"], ["tokens", stage.rl ? "env steps" : "tokens"],
    ["flops", branches ? "FLOPs*" : "FLOPs"], ["best", `best ${stage.metric}`], ["wall_s", "wall s"]];
  const value = (r, k) => k === "best" ? r.best[stage.metric] : k === "wall_s" ? parseFloat(r.wall_s) : r[k];
  const cmp = (a, b) => {
    if (sort.key) {
      const x = value(a, sort.key), y = value(b, sort.key);
      if (x !== y) return (x === null || x === undefined || Number.isNaN(x)) ? 1 : (y === null || y === undefined || Number.isNaN(y)) ? -1 : (x < y ? -1 : 1) * sort.dir;
    }
    return (STATUS_RANK[a.status] - STATUS_RANK[b.status]) || ((a.params || 0) - (b.params || 0)) || (a.tag < b.tag ? -1 : 1);
  };
  const head = el("tr", {});
  for (const [k, label] of cols) {
    const th = el("th", { "data-key": k, title: "sort" }, label + (sort.key === k ? (sort.dir > 0 ? " ▲" : " ▼") : ""));
    th.addEventListener("click", () => { SORT[stage.name] = { key: k, dir: sort.key === k ? -sort.dir : 1 }; renderTables(); });
    head.append(th);
  }
  const body = el("tbody", {});
  const groups = [...new Set(rows.map(r => r[key]))].sort((a, b) => (a || 0) - (b || 0));
  for (const g of groups) {
    const members = rows.filter(r => r[key] === g).sort(cmp);
    const done = members.filter(r => r.status === "TERMINATED" || r.status === "STOPPED").length;
    body.append(el("tr", { class: "group" }, el("th", { colspan: cols.length }, `${groupLabel(key, g)}: ${done}/${members.length} done`)));
    for (const r of members) {
      const tr = el("tr", { class: `trial status-${slug(r.status)}` });
      const tokens = r.tokens_planned ? `${si(r.tokens)} / ${si(r.tokens_planned)}` : si(r.tokens);
      const cells = [r.tag, r.status, si(r.params), tokens, si(r.flops), si(r.best[stage.metric], 4), si(parseFloat(r.wall_s) || null)];
      cells.forEach((c, i) => tr.append(el("td", i === 0 && r.error ? { title: r.error } : {}, c)));
      body.append(tr);
    }
  }
  const out = el("div", {}, el("table", { class: "trials", "data-stage": stage.name }, el("thead", {}, head), body));
  if (branches) out.append(el("p", { class: "note" }, "* FLOPs include the cooldown branches' own training: " +
    "a run trains its planned budget plus each branch's decay, so it exceeds its budget's C."));
  return out;
}

function renderTables() {
  for (const stage of STATE.stages) {
    const box = document.getElementById(`table-${slug(stage.name)}`);
    if (box) box.replaceChildren(table(stage));
  }
}

function fitHeadline(box) {
  const fit = STATE.fit;
  if (!fit) {
    box.replaceChildren(el("p", { class: "note", id: "no-fit" }, "No fit yet" +
      (STATE.fit_log ? `: ${STATE.fit_log}` : " (it starts once 3 trials have finished).")));
    return;
  }
  const K = FIT_KEYS, warnings = fit[K.warnings];
  const list = el("ul", { id: "fit-headline" }, el("li", {}, `points fitted: ${fit[K.n_points]}; trusted: ${fit[K.trusted]}` +
    (warnings && warnings.length ? ` (${warnings.length} warnings)` : "")));
  const show = e => e && typeof e === "object" && "value" in e ? `${si(e.value, 4)}${e.lo !== null && e.hi !== null && e.lo !== undefined ? ` [${si(e.lo, 3)}, ${si(e.hi, 3)}]` : ""}` : "";
  for (const [law, keys] of K.headline) {
    const s = fit[law];
    if (!s || typeof s !== "object") continue;
    const parts = keys.filter(k => k in s).map(k => `${k} = ${show(s[k])}`);
    list.append(el("li", {}, el("b", {}, law), ": " + parts.join(", ")));
  }
  for (const [law, why] of Object.entries(fit[K.skipped] || {})) list.append(el("li", { class: "note" }, `${law} skipped: ${why}`));
  const verdict = el("p", { id: "verdict", "data-trusted": String(fit[K.trusted]) },
    el("b", {}, fit[K.trusted] ? "trust: OK" : `trust: CAUTION (${(warnings || []).length} warnings)`));
  const warned = el("ul", { id: "fit-warnings" }, ...(warnings || []).map(w => el("li", {}, `WARNING ${w}`)),
    ...(fit[K.set_aside] || []).map(w => el("li", { class: "note" }, `set aside (no reported number comes from it): ${w}`)));
  box.replaceChildren(verdict, warned, list, precisionTable(fit[K.precision] || []));
}

function precisionTable(rows) {  // the verdict's second half: each headline quantity's 95 % interval and grade
  if (!rows.length) return el("span");
  const num = (q, v) => v === null || v === undefined ? "-" : (q === "a" || q === "b" ? v.toFixed(3) : si(v, 4));
  const head = el("tr", {}, ...["quantity", "law", "value", "95 % interval", "width", "grade"].map(h => el("th", {}, h)));
  const body = rows.map(r => el("tr", { class: "grade", "data-grade": r.grade },
    el("td", {}, r.quantity + (r.target_flops ? ` @ C=${si(r.target_flops, 3)}` : "")), el("td", {}, r.law),
    el("td", {}, num(r.quantity, r.value)), el("td", {}, `${num(r.quantity, r.lo95)} to ${num(r.quantity, r.hi95)}`),
    el("td", {}, r.width_text), el("td", {}, r.grade)));  // formatted by the fit, as its report
  return el("table", { id: "precision" }, el("caption", {}, "precision (graded, not warned about)"), head, ...body);
}

function renderProgress() {
  const p = STATE.progress, box = document.getElementById("progress");
  const counts = {};
  for (const r of STATE.trials) counts[r.status] = (counts[r.status] || 0) + 1;
  const total = p ? p.total : STATE.trials.length, done = p ? p.done : (counts.TERMINATED || 0) + (counts.STOPPED || 0);
  const bar = el("progress", { max: Math.max(total, 1), value: done, id: "bar" });
  const text = p ? p.line : Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ") || "no trials";
  box.replaceChildren(bar, el("span", { id: "progress-line" }, ` ${text}`),
    el("span", { class: "note" }, `  (as of ${STATE.as_of}${STATE.dropped ? `; ${STATE.dropped} rows with an unknown status left out` : ""})`));
}

function layoutOnce() {  // the sections, built once; later updates only redraw inside them
  const main = document.getElementById("main");
  if (main.dataset.built) return;
  main.dataset.built = "1";
  for (const stage of STATE.stages) {
    const id = slug(stage.name), sec = el("section", { id: `stage-${id}` });
    if (STATE.stages.length > 1) sec.append(el("h2", {}, `Stage ${stage.name}`));
    const rows = stageRows(stage), charts = el("div", { class: "charts" });
    if (!stage.forecast && rows.some(r => r.budget !== null)) {  // a forecast stage: its own chart
      charts.append(el("div", { class: "chart", id: `isoflop-${id}` }), el("div", { class: "chart", id: `compute-${id}` }));
    }
    if (stage.forecast) charts.append(el("div", { class: "chart", id: `forecast-${id}` }));
    charts.append(el("div", { class: "chart", id: `curves-${id}` }));
    sec.append(charts, el("h3", {}, "Trials"), el("div", { id: `table-${id}` }));
    main.append(sec);
  }
}

function render() {
  layoutOnce();
  renderProgress();
  for (const stage of STATE.stages) {
    const id = slug(stage.name), get = n => document.getElementById(`${n}-${id}`);
    if (get("isoflop")) { isoflopChart(get("isoflop"), stage); computeChart(get("compute"), stage); }
    const fc = STATE.forecasts[stage.name];
    if (get("forecast")) {
      if (fc) forecastChart(get("forecast"), stage, fc);
      else get("forecast").replaceChildren(el("p", { class: "note" }, "No forecast preregistered yet."));
    }
    curvesChart(get("curves"), stage);
  }
  renderTables();
  fitHeadline(document.getElementById("fit"));
  document.body.dataset.curveRows = String(CURVES.length);
  document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
}

function merge(update) {
  if (update.curves.from === CURVES.length) CURVES.push(...update.curves.rows);
  STATE = update;
}

async function fetchState(since) {
  const res = await fetch(`state.json?since=${since}`, { cache: "no-store" });
  if (!res.ok) throw new Error(`state.json: ${res.status}`);
  return res.json();
}

async function poll(everyMs) {
  try {
    let update = await fetchState(CURVES.length);
    if (update.curves.from !== CURVES.length) {  // curves.csv was rewritten: start over
      CURVES.length = 0;
      update = await fetchState(0);
    }
    merge(update);
    render();
    document.getElementById("offline").hidden = true;
  } catch (err) {
    document.getElementById("offline").hidden = false;  // the sweep ended or the driver is gone
  }
  setTimeout(() => poll(everyMs), everyMs);
}

function start() {
  const first = JSON.parse(document.getElementById("state").textContent);
  const live = document.body.dataset.refreshMs;
  if (first) { merge(first); render(); }
  if (live) poll(Number(live));
}
start();
