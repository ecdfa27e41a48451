// squall ui: draws each page from the JSON API and keeps it fresh by polling (ETags make an
// unchanged answer a 304). Text always goes in through textContent, never as HTML.
"use strict";

const CSRF = document.querySelector('meta[name="csrf"]').content;
const FINAL = ["DONE", "FAILED", "CANCELLED", "INTERNAL_ERROR"];
const STATUSES = ["PENDING", "RUNNING", "CANCELLING", ...FINAL];
const SVG = "http://www.w3.org/2000/svg";
const main = document.getElementById("main");
const cache = new Map(); // url -> {etag, data}

function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function getJSON(url) {
  const hit = cache.get(url);
  const headers = hit ? { "If-None-Match": hit.etag } : {};
  const r = await fetch(url, { headers, credentials: "same-origin" });
  if (r.status === 304 && hit) return { data: hit.data, changed: false };
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  cache.set(url, { etag: r.headers.get("ETag"), data });
  return { data, changed: true };
}

async function post(url) {
  const r = await fetch(url, { method: "POST", headers: { "X-Squall-CSRF": CSRF }, credentials: "same-origin" });
  const data = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

// Calls fn now and then every `ms` until it returns false; errors are shown, polling goes on.
function every(ms, fn, onError) {
  const tick = async () => {
    let again = true;
    try { again = (await fn()) !== false; } catch (e) { if (onError) onError(e); }
    if (again) setTimeout(tick, ms);
  };
  tick();
}

const fmt = {
  int: (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US")),
  rate: (n) => (n ? `${Math.round(n).toLocaleString("en-US")}/s` : "–"),
  secs: (s) => {
    if (s === null || s === undefined) return "–";
    s = Math.round(s);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  },
  time: (t) => (t ? new Date(t * 1000).toLocaleString() : "–"),
  bytes: (n) => {
    if (n === null || n === undefined) return "–";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${i ? n.toFixed(1) : n} ${units[i]}`;
  },
  cell: (v) => (v === null || v === undefined ? "null" : typeof v === "object" ? JSON.stringify(v) : String(v)),
};

const badge = (s) => el("span", { class: `status ${s}`, "data-status": s, text: s });
const bar = (fraction) => el("progress", { max: "1", value: String(fraction || 0) });
const fraction = (done, total) => (total ? done / total : 0);

function table(columns, rows, numeric = []) {
  return el("table", {},
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { class: numeric.includes(c) ? "num" : null, text: c })))),
    el("tbody", {}, rows));
}

function dataTable(payload) {
  const rows = payload.rows.map((r) => el("tr", {}, r.map((v) => el("td", { class: "mono", text: fmt.cell(v) }))));
  return table(payload.columns, rows);
}

function failure(where, e) {
  where.replaceChildren(el("p", { class: "error", text: `Error: ${e.message}` }));
}

// -- jobs list ----------------------------------------------------------------------------
function jobsPage() {
  const params = new URLSearchParams(location.search);
  const status = params.get("status") || "";
  const page = Math.max(1, parseInt(params.get("page") || "1", 10));
  const select = el("select", { id: "status-filter", onchange: (e) => go({ status: e.target.value, page: 1 }) },
    el("option", { value: "", text: "all statuses" }),
    STATUSES.map((s) => el("option", { value: s, text: s, selected: s === status })));
  const go = (change) => {
    const q = new URLSearchParams({ status, page, ...change });
    if (!q.get("status")) q.delete("status");
    if (q.get("page") === "1") q.delete("page");
    location.search = q.toString();
  };
  const body = el("tbody", { id: "jobs" });
  const prev = el("button", { onclick: () => go({ page: page - 1 }), disabled: page <= 1, text: "← newer" });
  const next = el("button", { onclick: () => go({ page: page + 1 }), text: "older →" });
  main.replaceChildren(
    el("h1", {}, "Jobs"),
    el("div", { class: "toolbar" }, el("label", {}, "Status ", select), prev, el("span", { class: "muted", text: `page ${page}` }), next),
    el("table", {},
      el("thead", {}, el("tr", {}, ["Job", "Status", "Model", "Progress", "Rows", "Rows/s", "ETA", "Errors", "Created"]
        .map((c) => el("th", { text: c, class: ["Rows", "Rows/s", "ETA", "Errors"].includes(c) ? "num" : null })))),
      body));
  const url = `/api/jobs?${new URLSearchParams({ status, page, per_page: 50 })}`;
  every(1000, async () => {
    const { data, changed } = await getJSON(url);
    next.disabled = !data.has_more;
    if (!changed) return;
    body.replaceChildren(...data.jobs.map((j) => el("tr", { "data-job": j.name },
      el("td", {}, el("a", { href: `/jobs/${encodeURIComponent(j.name)}`, text: j.name })),
      el("td", {}, badge(j.status)),
      el("td", { text: j.model ? `${j.model}:${j.version}` : "" }),
      el("td", {}, bar(fraction(j.rows_done, j.rows_total))),
      el("td", { class: "num", text: `${fmt.int(j.rows_done)} / ${fmt.int(j.rows_total)}` }),
      el("td", { class: "num", text: fmt.rate(j.rows_per_second) }),
      el("td", { class: "num", text: FINAL.includes(j.status) ? "" : fmt.secs(j.eta_seconds) }),
      el("td", { class: "num", text: fmt.int(j.error_rows) }),
      el("td", { text: fmt.time(j.created_time) }))));
    if (!data.jobs.length) body.append(el("tr", {}, el("td", { colspan: "9", class: "muted", text: "No jobs." })));
  }, (e) => failure(body, e));
}

// -- one job ------------------------------------------------------------------------------
function lineChart(points, xLabel, yLabel) {
  const W = 600, H = 180, L = 56, B = 22;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, id: "rate-chart", role: "img", "aria-label": yLabel });
  if (points.length < 1) {
    svg.append(el("svg:text", { x: L, y: H / 2, text: "no throughput yet" }));
    return svg;
  }
  const maxX = Math.max(...points.map((p) => p[0]), 1e-3);
  const maxY = Math.max(...points.map((p) => p[1]), 1);
  const x = (v) => L + (v / maxX) * (W - L - 8);
  const y = (v) => H - B - (v / maxY) * (H - B - 8);
  svg.append(
    el("svg:line", { x1: L, y1: H - B, x2: W - 8, y2: H - B, stroke: "#cbd5e1" }),
    el("svg:line", { x1: L, y1: 8, x2: L, y2: H - B, stroke: "#cbd5e1" }),
    el("svg:text", { x: 2, y: 14, text: fmt.int(maxY) }),
    el("svg:text", { x: 2, y: H - B, text: "0" }),
    el("svg:text", { x: W - 8, y: H - 4, "text-anchor": "end", text: `${fmt.secs(maxX)} ${xLabel}` }),
    el("svg:polyline", { fill: "none", stroke: "#2563eb", "stroke-width": "2",
      points: [[0, points[0][1]], ...points].map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ") }));
  return svg;
}

function timeline(attempts, start, now) {
  const W = 600, L = 56, lane = 18;
  const workers = [...new Set(attempts.map((a) => a.worker))];
  const H = Math.max(1, workers.length) * lane + 24;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, id: "timeline" });
  if (!attempts.length) {
    svg.append(el("svg:text", { x: L, y: 16, text: "no shard started yet" }));
    return svg;
  }
  const t0 = Math.min(start || Infinity, ...attempts.map((a) => a.started));
  const t1 = Math.max(now, ...attempts.map((a) => a.ended || now));
  const x = (t) => L + ((t - t0) / Math.max(t1 - t0, 1e-3)) * (W - L - 8);
  workers.forEach((w, i) => svg.append(el("svg:text", { x: 2, y: i * lane + 13, text: w })));
  for (const a of attempts) {
    const i = workers.indexOf(a.worker);
    const x0 = x(a.started), x1 = Math.max(x(a.ended || now), x0 + 2);
    svg.append(el("svg:rect", { x: x0.toFixed(1), y: i * lane + 2, width: (x1 - x0).toFixed(1), height: lane - 5,
      class: `sw-${a.status}`, "data-shard": a.shard, "data-status": a.status },
      el("svg:title", { text: `shard ${a.shard}, attempt ${a.attempt} on ${a.worker}: ${a.status}` +
        (a.rows !== null ? `, ${a.rows} rows` : "") + (a.ended ? `, ${(a.ended - a.started).toFixed(2)}s` : "") })));
  }
  svg.append(el("svg:text", { x: W - 8, y: H - 4, "text-anchor": "end", text: fmt.secs(t1 - t0) }));
  return svg;
}

function spec(obj) {
  return el("dl", { class: "spec" }, Object.entries(obj).flatMap(([k, v]) => [
    el("dt", { text: k }), el("dd", { text: typeof v === "object" && v !== null ? JSON.stringify(v) : String(v) })]));
}

function card(key, id) {
  return el("div", { class: "card" }, el("div", { class: "k", text: key }), el("div", { class: "v", id, text: "–" }));
}

async function showPreview(target, path) {
  target.replaceChildren(el("p", { class: "muted", text: `Loading ${path}…` }));
  try {
    const { data } = await getJSON(`/api/preview?${new URLSearchParams({ path })}`);
    if (data.kind === "image") {
      target.replaceChildren(el("h3", { text: path }), el("img", { src: `/api/image?${new URLSearchParams({ path })}`, alt: path }));
    } else if (data.kind === "parquet") {
      target.replaceChildren(
        el("h3", { text: `${path} — ${fmt.int(data.num_rows)} rows, first ${data.rows.length}` }),
        el("p", { class: "mono", text: data.schema.map((f) => `${f.name}: ${f.type}`).join(", ") }),
        dataTable(data));
    } else {
      target.replaceChildren(el("p", { class: "muted", text: `${path}: no preview for this kind of file` }));
    }
  } catch (e) { failure(target, e); }
}

function jobPage(name) {
  const api = `/api/jobs/${encodeURIComponent(name)}`;
  const title = el("h1", {}, name);
  const statusBox = el("span", { id: "job-status" });
  const cancel = el("button", { id: "cancel", class: "danger", text: "Cancel", hidden: true });
  const resume = el("button", { id: "resume", text: "Resume", hidden: true });
  const message = el("div", { class: "message", id: "message", hidden: true });
  const progress = bar(0);
  progress.id = "job-progress";
  const chartBox = el("div", { class: "panel", id: "chart" });
  const timelineBox = el("div", { class: "panel" });
  const log = el("pre", { class: "log", id: "log" });
  const errorsBox = el("div", { id: "errors" });
  const outputs = el("div", { id: "outputs" });
  const preview = el("div", { class: "preview", id: "preview" });
  const specBox = el("div", { class: "panel", id: "spec" });
  const shardsBox = el("div", { id: "shards", class: "scroll" });
  title.append(statusBox, cancel, resume);
  main.replaceChildren(title, message,
    el("div", {}, progress, " ", el("span", { id: "progress-text", class: "muted" })),
    el("div", { class: "cards" }, card("rows done", "rows-done"), card("rows/s", "rate"), card("ETA", "eta"),
      card("shards", "shards-done"), card("error rows", "error-count"), card("elapsed", "elapsed")),
    el("div", { class: "grid2" },
      el("div", {}, el("h2", { text: "Rows per second" }), chartBox),
      el("div", {}, el("h2", { text: "Shards per worker" }), timelineBox,
        el("div", { class: "legend" }, ["DONE", "RUNNING", "DIED", "FAILED", "STOPPED"].map((s) => el("span", {}, el("i", { class: `sw-${s}` }), s))))),
    el("h2", { text: "Log" }), log,
    el("h2", { text: "Error rows" }), errorsBox,
    el("h2", { text: "Output" }), outputs, preview,
    el("div", { class: "grid2" },
      el("div", {}, el("h2", { text: "Spec" }), specBox),
      el("div", {}, el("h2", { text: "Shards" }), shardsBox)));

  const act = async (verb) => {
    cancel.disabled = resume.disabled = true;
    try { await post(`${api}/${verb}`); } catch (e) { message.hidden = false; message.textContent = e.message; }
    finally { cancel.disabled = resume.disabled = false; }
  };
  cancel.addEventListener("click", () => act("cancel"));
  resume.addEventListener("click", () => act("resume"));

  const samples = []; // [seconds since first sample, rows_done] seen while the page is open
  let errorsShown = -1, outputsShown = "", final = false;
  every(1000, async () => {
    const { data, changed } = await getJSON(api);
    const j = data.job, p = data.progress;
    const now = Date.now() / 1000;
    if (!FINAL.includes(j.status) && j.started_time) samples.push([now - j.started_time, p.rows_done]);
    if (changed) {
      statusBox.replaceChildren(badge(j.status));
      cancel.hidden = !["PENDING", "RUNNING"].includes(j.status);
      resume.hidden = !["FAILED", "CANCELLED", "INTERNAL_ERROR"].includes(j.status);
      message.hidden = !j.message;
      message.classList.toggle("ok", j.status === "DONE");
      message.textContent = j.message || "";
      progress.value = p.fraction;
      document.getElementById("progress-text").textContent =
        `${fmt.int(p.rows_done)} of ${fmt.int(p.rows_total)} rows (${Math.round(p.fraction * 100)}%)`;
      document.getElementById("rows-done").textContent = fmt.int(p.rows_done);
      document.getElementById("rate").textContent = fmt.rate(p.rows_per_second);
      document.getElementById("eta").textContent = fmt.secs(p.eta_seconds);
      document.getElementById("shards-done").textContent = `${p.shards_done} / ${p.shards_total}`;
      document.getElementById("error-count").textContent = fmt.int(p.error_rows);
      document.getElementById("elapsed").textContent = fmt.secs(p.elapsed_seconds);
      specBox.replaceChildren(spec({ model: `${j.model}:${j.version}`, ...data.spec }));
      shardsBox.replaceChildren(table(["shard", "rows", "status", "attempts", "worker", "done", "errors"],
        data.shards.slice(0, 500).map((s) => el("tr", {}, [s.shard, fmt.int(s.rows), s.status, s.attempts, s.worker || "", fmt.int(s.rows_done), fmt.int(s.error_rows)]
          .map((v) => el("td", { text: v })))), ["rows"]));
      const names = data.outputs.map((o) => o.path + o.size).join("|");
      if (names !== outputsShown) {
        outputsShown = names;
        outputs.replaceChildren(data.outputs.length ? table(["file", "size"], data.outputs.map((o) => el("tr", {},
          el("td", {}, el("a", { href: "#", "data-path": o.path, text: o.name, onclick: (e) => { e.preventDefault(); showPreview(preview, o.path); } })),
          el("td", { class: "num", text: fmt.bytes(o.size) }))), ["size"]) : el("p", { class: "muted", text: "No output yet." }));
      }
      if (p.error_rows !== errorsShown && (FINAL.includes(j.status) || p.error_rows)) {
        errorsShown = p.error_rows;
        if (!p.error_rows) errorsBox.replaceChildren(el("p", { class: "muted", text: "No error rows." }));
        else getJSON(`${api}/errors`).then(({ data: e }) => errorsBox.replaceChildren(
          el("p", { text: `${fmt.int(e.error_rows)} rows failed; a sample:` }), dataTable(e))).catch((e) => failure(errorsBox, e));
      }
    }
    // Seconds since the job started: the shards' end times before this page opened, then the
    // rate between this page's own samples.
    const live = [];
    for (let i = 1; i < samples.length; i++) {
      const dt = samples[i][0] - samples[i - 1][0];
      if (dt > 0) live.push([samples[i][0], Math.max(0, (samples[i][1] - samples[i - 1][1]) / dt)]);
    }
    const before = data.throughput.filter((pt) => !live.length || pt[0] < live[0][0]);
    chartBox.replaceChildren(lineChart([...before, ...live], "", "rows per second"));
    timelineBox.replaceChildren(timeline(data.attempts, j.started_time, j.completed_time || now));
    const wasFinal = final;
    final = FINAL.includes(j.status);
    return !(wasFinal && final); // one more round after the end, then stop
  }, (e) => failure(outputs, e));

  let logDone = false;
  every(1000, async () => {
    const { data, changed } = await getJSON(`${api}/logs?limit=300`);
    if (changed) {
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 20;
      log.textContent = data.lines.join("\n");
      if (atEnd) log.scrollTop = log.scrollHeight;
    }
    const stop = logDone;
    logDone = FINAL.includes(data.status);
    return !stop;
  });
}

// -- models -------------------------------------------------------------------------------
function features(list) {
  return (list || []).map((f) => `${f.name}: ${f.type || f.dtype || (f.specs ? "group" : "")}${f.shape ? ` ${JSON.stringify(f.shape)}` : ""}`).join(", ");
}

function paramsText(list) {
  return (list || []).map((p) => `${p.name}: ${p.dtype || p.type} = ${JSON.stringify(p.default_value)}`).join(", ");
}

async function modelsPage() {
  main.replaceChildren(el("h1", {}, "Models"));
  try {
    const { data } = await getJSON("/api/models");
    if (!data.models.length) main.append(el("p", { class: "muted", text: "No models registered." }));
    for (const m of data.models) {
      main.append(el("h2", { id: `model-${m.name}`, text: m.name }));
      if (m.comment) main.append(el("p", { class: "muted", text: m.comment }));
      main.append(table(["version", "type", "functions (inputs → outputs; params)", "jobs"], m.versions.map((v) => el("tr", {},
        el("td", {}, v.name, v.is_default ? el("span", { class: "muted", text: " (default)" }) : null),
        el("td", { text: v.model_type }),
        el("td", {}, v.functions.map((f) => el("div", {},
          el("b", { text: `${f.name}` }), el("span", { class: "muted", text: ` (${f.kind}) ` }),
          el("div", { class: "mono", text: `${features(f.signature.inputs)} → ${features(f.signature.outputs)}` }),
          f.signature.params && f.signature.params.length ? el("div", { class: "mono muted", text: `params: ${paramsText(f.signature.params)}` }) : null))),
        el("td", {}, v.jobs.length ? v.jobs.map((j) => el("div", {},
          el("a", { href: `/jobs/${encodeURIComponent(j.name)}`, text: j.name }), " ", badge(j.status))) : el("span", { class: "muted", text: "none" }))))));
    }
  } catch (e) { failure(main, e); }
}

// -- stages -------------------------------------------------------------------------------
async function stagesPage() {
  const path = new URLSearchParams(location.search).get("path");
  const link = (p, text) => el("a", { href: `/stages?${new URLSearchParams({ path: p })}`, text });
  try {
    if (!path) {
      const { data } = await getJSON("/api/stages");
      main.replaceChildren(el("h1", {}, "Stages"), table(["stage", "kind", "url", "encryption"], data.stages.map((s) => el("tr", {},
        el("td", {}, link(`@${s.name}/`, `@${s.name}`)), el("td", { text: s.kind }), el("td", { text: s.url || "" }), el("td", { text: s.encryption || "" })))));
      return;
    }
    const { data } = await getJSON(`/api/stage?${new URLSearchParams({ path })}`);
    const preview = el("div", { class: "preview", id: "preview" });
    const rows = [
      ...(data.parent ? [el("tr", {}, el("td", {}, link(data.parent, "..")), el("td", {}), el("td", {}))] : []),
      ...data.folders.map((f) => el("tr", {}, el("td", {}, link(f.path, `${f.name}/`)), el("td", { class: "num muted", text: `${f.files} files` }), el("td", {}))),
      ...data.files.map((f) => el("tr", {},
        el("td", {}, el("a", { href: "#", "data-path": f.path, text: f.name, onclick: (e) => { e.preventDefault(); showPreview(preview, f.path); } })),
        el("td", { class: "num", text: fmt.bytes(f.size) }), el("td", { text: fmt.time(f.modified) }))),
    ];
    main.replaceChildren(el("h1", {}, link("", "Stages"), " / ", data.path), table(["name", "size", "modified"], rows, ["size"]),
      data.truncated ? el("p", { class: "muted", text: "Only the first files are listed." }) : null, preview);
  } catch (e) { main.replaceChildren(el("h1", {}, "Stages"), el("p", { class: "error", text: `Error: ${e.message}` })); }
}

// -- DAGs ---------------------------------------------------------------------------------
const RUN_CLASS = { SUCCEEDED: "DONE", EXECUTING: "RUNNING", SCHEDULED: "PENDING", FAILED: "FAILED", CANCELLED: "CANCELLED" };
const runBadge = (s) => el("span", { class: `status ${RUN_CLASS[s] || ""}`, "data-state": s, text: s });

function dagGraph(graph) {
  // Each task in the column of its longest path from a root, edges from predecessors.
  const byName = Object.fromEntries(graph.map((t) => [t.name, t]));
  const depth = {};
  const level = (t) => depth[t.name] ?? (depth[t.name] = Math.max(-1, ...t.predecessors.map((p) => level(byName[p]))) + 1);
  graph.forEach(level);
  const columns = [];
  for (const t of graph) (columns[depth[t.name]] ||= []).push(t.name);
  const W = 160, H = 42, gx = 48, gy = 14;
  const pos = {};
  columns.forEach((names, c) => names.forEach((n, r) => { pos[n] = { x: 4 + c * (W + gx), y: 4 + r * (H + gy) }; }));
  const width = 8 + columns.length * (W + gx) - gx, height = 8 + Math.max(1, ...columns.map((c) => c.length)) * (H + gy) - gy;
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, class: "dag-graph", width: String(width), height: String(height) });
  for (const t of graph) for (const p of t.predecessors) {
    const a = pos[p], b = pos[t.name];
    svg.append(el("svg:line", { x1: a.x + W, y1: a.y + H / 2, x2: b.x, y2: b.y + H / 2, stroke: "#94a3b8", "stroke-width": "1.5", "data-edge": `${p}>${t.name}` }));
  }
  for (const t of graph) {
    const p = pos[t.name];
    svg.append(el("svg:g", { "data-task": t.name },
      el("svg:rect", { x: p.x, y: p.y, width: W, height: H, rx: 6, fill: "#fff", stroke: t.is_finalizer ? "#d97706" : "#2563eb" }),
      el("svg:text", { x: p.x + 8, y: p.y + 17, class: "task-name", text: t.name }),
      el("svg:text", { x: p.x + 8, y: p.y + 33, text: t.kind + (t.is_finalizer ? " (finalizer)" : "") })));
  }
  return svg;
}

function dagGrid(dag, detail) {
  // Airflow's grid: a row per task, a column per run (oldest left), cells coloured by state.
  const runs = [...dag.runs].reverse();
  const head = el("tr", {}, el("th", { text: "task" }), runs.map((r) => el("th", { title: fmt.time(r.scheduled_time) },
    el("a", { href: "#", "data-run": r.run_id, text: `#${r.run_id}`, onclick: (e) => { e.preventDefault(); showRun(detail, r.run_id); } }))));
  const rows = dag.graph.map((t) => el("tr", {}, el("td", { text: t.name }), runs.map((r) => {
    const state = r.tasks[t.name.toLowerCase()] ?? r.tasks[t.name] ?? "";
    return el("td", { class: "cell", title: `${t.name}, run #${r.run_id}: ${state || "not run"}` },
      el("i", { class: `sw-${RUN_CLASS[state] || "STOPPED"} grid-cell`, "data-state": state }));
  })));
  const runRow = el("tr", {}, el("td", { class: "muted", text: "run" }), runs.map((r) => el("td", {}, runBadge(r.state))));
  return el("table", { class: "grid" }, el("thead", {}, head), el("tbody", {}, rows, runRow));
}

async function showRun(target, runId) {
  target.dataset.run = runId;
  try {
    const { data } = await getJSON(`/api/dag-runs/${runId}`);
    target.replaceChildren(el("h3", {}, `Run #${runId} of ${data.dag} `, runBadge(data.run.state)),
      data.run.first_error_message ? el("div", { class: "message", text: `${data.run.first_error_task_name}: ${data.run.first_error_message}` }) : "",
      table(["task", "state", "attempt", "return value", "job", "started", "completed"], data.tasks.map((t) => el("tr", { "data-task": t.task },
        el("td", { text: t.task }), el("td", {}, runBadge(t.state)), el("td", { text: t.attempt ?? "" }),
        el("td", { class: "mono", text: t.return_value ?? "" }),
        el("td", {}, t.job_name ? el("a", { href: `/jobs/${encodeURIComponent(t.job_name)}`, text: t.job_name }) : ""),
        el("td", { text: fmt.time(t.started) }), el("td", { text: fmt.time(t.completed) })))));
  } catch (e) { failure(target, e); }
}

async function dagsPage() {
  const box = el("div", {});
  const details = {}; // DAG name -> its run panel, kept across redraws
  main.replaceChildren(el("h1", {}, "DAGs"), box);
  every(2000, async () => {
    const { data, changed } = await getJSON("/api/dags");
    if (!changed) return;
    if (!data.dags.length) box.replaceChildren(el("p", { class: "muted", text: "No DAGs deployed." }));
    else box.replaceChildren(...data.dags.map((d) => {
      const detail = (details[d.name] ||= el("div", { class: "run-detail" }));
      if (detail.dataset.run) showRun(detail, detail.dataset.run);
      const act = async (verb) => {
        try { const r = await post(`/api/dags/${encodeURIComponent(d.name)}/${verb}`); if (r.run) showRun(detail, r.run.run_id); }
        catch (e) { failure(detail, e); }
      };
      return el("section", { class: "dag", "data-dag": d.name },
        el("h2", {}, d.name, " ", el("span", { class: `status ${d.state === "STARTED" ? "RUNNING" : "CANCELLED"}`, "data-dag-state": d.state, text: d.state }),
          " ", el("button", { "data-action": "run", onclick: () => act("run"), text: "Run now" }),
          " ", d.state === "STARTED" ? el("button", { "data-action": "suspend", onclick: () => act("suspend"), text: "Suspend" })
            : el("button", { "data-action": "resume", onclick: () => act("resume"), text: "Resume" })),
        el("p", { class: "muted", text: `schedule: ${d.schedule || "none"} · next run: ${d.next_scheduled_time ? fmt.time(d.next_scheduled_time) : "–"}` }),
        el("div", { class: "panel" }, dagGraph(d.graph)),
        el("h3", { text: "Runs" }), d.runs.length ? dagGrid(d, detail) : el("p", { class: "muted", text: "No runs yet." }),
        detail);
    }));
  }, (e) => failure(box, e));
}

// -- routing ------------------------------------------------------------------------------
const parts = location.pathname.split("/").filter(Boolean);
const section = parts[0] || "jobs";
for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.nav === section);
if (section === "jobs" && parts[1]) jobPage(decodeURIComponent(parts[1]));
else if (section === "jobs") jobsPage();
else if (section === "models") modelsPage();
else if (section === "stages") stagesPage();
else if (section === "dags") dagsPage();
