// The OMVEE jobs dashboard: a live table fed by /v1/jobs/stream (server-sent events read with
// fetch, so the token travels in the Authorization header) and a page per job. The pipelines'
// list and graph are in pipelines.js (loaded first), fed by the same stream.
"use strict";

const PHASES = ["Pending", "Running", "Succeeded", "Failed", "Cancelled"];
const FINAL = new Set(["Succeeded", "Failed", "Cancelled"]);
let TYPES = []; // job type names, in pipeline order, from GET /v1/types (loadTypes)
const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem("omvee.token") || "",
  jobs: new Map(), // id -> job as the API shows it
  rows: new Map(), // id -> <tr>
  filters: { phase: "", type: "", project: "" },
  stream: null, // AbortController of the running stream
  detail: null, // { id, data } of the open job page
  logChoice: null, // { run, attempt } shown in the log pane
};

class Unauthorized extends Error {}

// --- talking to the API -------------------------------------------------------------------

function headers() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (response.status === 401) throw new Unauthorized("the token was refused");
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

// The job types come from their declarations through the API, so a new type shows here too.
async function loadTypes() {
  while (TYPES.length === 0) {
    try {
      const { items } = await (await api("/v1/types")).json();
      TYPES = items.map((item) => item.name);
      for (const item of items) {
        $("filter-type").append(el("option", { value: item.name, title: item.title }, [item.name]));
      }
      if (!state.detail) renderTable();
    } catch (error) {
      if (error instanceof Unauthorized) return;
      await sleep(1500);
    }
  }
}

async function follow() {
  loadTypes();
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  while (!controller.signal.aborted) {
    try {
      const response = await api("/v1/jobs/stream", { signal: controller.signal });
      connection("live", "live");
      await readEvents(response.body.getReader(), handleEvent);
      connection("connecting", "reconnecting…");
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error instanceof Unauthorized) return showLogin("That token was refused.");
      connection("error", `disconnected: ${error.message}; retrying`);
    }
    await sleep(1500);
  }
}

async function readEvents(reader, onEvent) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
      }
      if (data.length) onEvent(event, JSON.parse(data.join("\n")));
    }
  }
}

function handleEvent(event, data) {
  if (event === "snapshot") {
    state.jobs = new Map(data.items.map((job) => [job.id, job]));
  } else if (event === "upsert") {
    state.jobs.set(data.id, data);
  } else if (event === "delete") {
    state.jobs.delete(data.id);
  } else if (event === "error") {
    connection("error", data.message);
    return;
  } else {
    return;
  }
  scheduleRender();
  if (state.detail && (event !== "upsert" || data.id === state.detail.id)) refreshDetail();
  if (pipelineConcerned(event, data)) refreshPipelines();
}

// --- rendering ----------------------------------------------------------------------------

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => { renderPending = false; render(); });
}

function render() {
  if (state.detail) renderDetail();
  else if (!pipelines.open && !pipelines.list) renderTable(); // those read the API again
}

function matches(job) {
  const f = state.filters;
  return (!f.phase || phaseOf(job) === f.phase) && (!f.type || job.type === f.type)
    && (!f.project || job.project_id.startsWith(f.project.trim().toLowerCase()));
}

function phaseOf(job) { return job.phase || "Pending"; }

function renderCounts(container, values, key, all) {
  container.replaceChildren(...values.map((value) => {
    const count = all.filter((job) => (key === "phase" ? phaseOf(job) : job.type) === value).length;
    const chip = el("button", { type: "button", class: "count" }, [el("b", {}, [String(count)]), value]);
    chip.dataset.count = value;
    if (state.filters[key] === value) chip.classList.add("active");
    chip.addEventListener("click", () => {
      state.filters[key] = state.filters[key] === value ? "" : value;
      $(`filter-${key}`).value = state.filters[key];
      renderTable();
    });
    return chip;
  }));
}

function renderTable() {
  const all = [...state.jobs.values()];
  renderCounts($("phase-counts"), PHASES, "phase", all);
  renderCounts($("type-counts"), TYPES, "type", all);
  const shown = all.filter(matches).sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
  const body = $("job-rows");
  const keep = new Set(shown.map((job) => job.id));
  for (const [id, row] of state.rows) if (!keep.has(id)) { row.remove(); state.rows.delete(id); }
  shown.forEach((job, index) => {
    let row = state.rows.get(job.id);
    if (!row) {
      row = el("tr", { class: "job" }, ["id", "type", "project", "phase", "progress", "attempts", "age", "node"]
        .map((name) => el("td", { class: name })));
      row.dataset.jobId = job.id;
      row.addEventListener("click", () => { location.hash = `#/jobs/${job.id}`; });
      row.querySelector(".progress").append(bar());
      state.rows.set(job.id, row);
    }
    fillRow(row, job);
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
  });
  $("empty").hidden = shown.length > 0;
  $("shown").textContent = `${shown.length} of ${all.length} jobs`;
}

function fillRow(row, job) {
  const cell = (name) => row.querySelector(`.${name}`);
  setText(cell("id"), job.id.slice(0, 8));
  cell("id").title = job.id;
  setText(cell("type"), job.type);
  setText(cell("project"), job.project_id.slice(0, 8));
  cell("project").title = job.project_id;
  cell("phase").replaceChildren(...phaseBadges(job));
  setBar(cell("progress").firstChild, job);
  setText(cell("attempts"), String(job.attempts));
  setText(cell("age"), age(job.created_at));
  setText(cell("node"), job.node || "–");
}

function phaseBadges(job) {
  const badges = [el("span", { class: `phase phase-${phaseOf(job)}` }, [phaseOf(job)])];
  if (job.waiting_for_gpu) badges.push(el("span", { class: "badge gpu", title: job.message || "" }, ["waiting for GPU"]));
  if (job.cannot_start) badges.push(el("span", { class: "badge blocked", title: job.message || "" }, ["cannot start"]));
  return badges;
}

function bar(big) {
  return el("div", { class: big ? "bar big" : "bar" }, [el("span"), el("em")]);
}

function setBar(node, job) {
  const value = phaseOf(job) === "Succeeded" ? 100 : Math.max(0, Math.min(100, job.progress || 0));
  node.querySelector("span").style.width = `${value}%`;
  node.classList.toggle("done", phaseOf(job) === "Succeeded");
  node.classList.toggle("failed", phaseOf(job) === "Failed");
  node.dataset.progress = String(value);
  setText(node.querySelector("em"), `${value}%`);
  node.title = job.progress_message || "";
}

// --- the job page -------------------------------------------------------------------------

async function openJob(id) {
  state.detail = { id, data: null };
  state.logChoice = null;
  $("log").textContent = "Choose an attempt's log.";
  $("log-title").textContent = "Log";
  $("action-error").textContent = "";
  show("job-view");
  await refreshDetail();
}

let detailTimer = null;
function refreshDetail() {
  clearTimeout(detailTimer); // a burst of changes becomes one request
  detailTimer = setTimeout(loadDetail, 150);
}

async function loadDetail() {
  const detail = state.detail;
  if (!detail) return;
  try {
    detail.data = await (await api(`/v1/jobs/${detail.id}/timeline`)).json();
    if (state.detail === detail) renderDetail();
  } catch (error) {
    if (error instanceof Unauthorized) return showLogin("That token was refused.");
    if (state.detail !== detail) return;
    $("job-title").textContent = `Job ${detail.id}`;
    $("job-message").textContent = error.message;
  }
}

function renderDetail() {
  const data = state.detail.data;
  if (!data) return;
  const job = state.jobs.get(data.job.id) || data.job;
  $("job-title").textContent = `${job.type} · ${job.id}`;
  const phase = $("job-phase");
  phase.className = `phase phase-${phaseOf(job)}`;
  phase.textContent = phaseOf(job);
  $("job-gpu").hidden = !job.waiting_for_gpu;
  $("job-blocked").hidden = !job.cannot_start;
  setBar($("job-progress"), job);
  showJobPipeline(job);
  $("job-message").textContent = [job.message, job.progress_message].filter(Boolean).join(" — ");
  $("cancel").disabled = FINAL.has(phaseOf(job));
  $("retry").disabled = !(job.phase === "Failed" || job.phase === "Cancelled");
  const facts = [
    ["Project", job.project_id], ["Run", String(job.run)], ["Attempts", String(job.attempts)],
    ["Node", job.node || "–"], ["Reason", job.reason || "–"], ["Created", when(job.created_at)],
    ["Started", when(job.started_at)], ["Finished", when(job.finished_at)],
  ];
  const nodes = facts.flatMap(([name, value]) => [el("dt", {}, [name]), el("dd", {}, [value])]);
  if (job.result) nodes.push(el("dt", {}, ["Result"]), el("dd", {}, [resultView(job.result)]));
  const files = Object.entries(job.result_links || {});
  if (files.length) nodes.push(el("dt", {}, ["Files"]), el("dd", {}, [filesView(files)]));
  $("job-facts").replaceChildren(...nodes);
  $("timeline").replaceChildren(...data.timeline.map((item) => el("li", { class: item.kind }, [
    el("time", { datetime: item.time || "" }, [when(item.time)]), el("b", {}, [item.reason]),
    item.message + (item.count > 1 ? ` (×${item.count})` : ""),
  ])));
  $("attempt-rows").replaceChildren(...data.attempts.map((attempt) => {
    const button = el("button", { type: "button" }, ["log"]);
    button.addEventListener("click", () => showLog(attempt.run, attempt.attempt));
    const row = el("tr", {}, [
      String(attempt.run), String(attempt.attempt), attempt.pod, attempt.node || "–", attempt.state,
      attempt.exit_code === null ? "–" : String(attempt.exit_code),
    ].map((text) => el("td", {}, [text])).concat([el("td", {}, [button])]));
    row.dataset.attempt = `${attempt.run}.${attempt.attempt}`;
    return row;
  }));
  if (!state.logChoice && data.attempts.length) {
    const last = data.attempts[data.attempts.length - 1];
    showLog(last.run, last.attempt);
  }
}

function resultView(result) {
  const list = el("ul", { class: "result" });
  for (const [key, value] of Object.entries(result)) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    const link = /^https?:\/\//.test(text) ? el("a", { href: text, target: "_blank", rel: "noopener" }, [text]) : text;
    list.append(el("li", {}, [el("b", {}, [`${key}: `]), link]));
  }
  return list;
}

// The job's result files (GET /v1/jobs/{id}/results/{file}). A link opens in a new tab; with a
// token, the file is fetched with it (a plain link would carry none) and opened as a blob.
function filesView(files) {
  const list = el("ul", { class: "result-files" });
  for (const [name, path] of files) {
    const link = el("a", { href: path, target: "_blank", rel: "noopener", download: name }, [name]);
    link.addEventListener("click", async (event) => {
      if (!state.token) return;
      event.preventDefault();
      const response = await api(path);
      const url = URL.createObjectURL(await response.blob());
      window.open(url, "_blank", "noopener");
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    });
    list.append(el("li", {}, [link]));
  }
  return list;
}

async function showLog(run, attempt) {
  const choice = { id: state.detail.id, run, attempt };
  state.logChoice = choice;
  $("log-title").textContent = `Log · run ${run}, attempt ${attempt}`;
  let text;
  try {
    const response = await api(`/v1/jobs/${choice.id}/logs?run=${run}&attempt=${attempt}`);
    text = (await response.text()) || "(empty)";
  } catch (error) {
    text = error.message;
  }
  if (state.logChoice === choice) $("log").textContent = text; // not if another was chosen since
}

async function act(action) {
  $("action-error").textContent = "";
  try {
    await api(`/v1/jobs/${state.detail.id}/${action}`, { method: "POST" });
    // Its answer is not kept: the operator's reaction may reach the stream before this
    // answer reaches the page, and the older answer would then hide it. The stream brings it.
    state.logChoice = null;
    refreshDetail();
  } catch (error) {
    $("action-error").textContent = `${action} failed: ${error.message}`;
  }
}

// --- small helpers ------------------------------------------------------------------------

function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

function age(iso) {
  if (!iso) return "–";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d`;
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : "–"; }

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

function connection(kind, text) {
  const badge = $("connection");
  badge.dataset.state = kind;
  badge.textContent = text;
}

function show(view) {
  for (const id of ["login", "jobs-view", "job-view", "pipelines-view", "pipeline-view"]) $(id).hidden = id !== view;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === view);
  $("sign-out").hidden = !state.token;
}

function showLogin(message) {
  if (state.stream) state.stream.abort();
  connection("error", "signed out");
  $("login-error").textContent = message || "";
  show("login");
}

// #/jobs/<id>: a job's page; #/pipelines: the pipelines; #/pipelines/<id>: a pipeline's graph;
// anything else: the jobs table.
function route() {
  const job = location.hash.match(/^#\/jobs\/([0-9a-fA-F-]{36})$/);
  const pipeline = location.hash.match(/^#\/pipelines\/([0-9a-fA-F-]{36})$/);
  state.detail = null;
  pipelines.open = null;
  pipelines.list = null;
  if (job) return openJob(job[1].toLowerCase());
  if (pipeline) return openPipeline(pipeline[1].toLowerCase());
  if (location.hash === "#/pipelines") return openPipelines();
  show("jobs-view");
  renderTable();
}

function start() {
  for (const phase of PHASES) $("filter-phase").append(el("option", { value: phase }, [phase]));
  for (const key of ["phase", "type", "project"]) {
    $(`filter-${key}`).addEventListener("input", (event) => {
      state.filters[key] = event.target.value;
      renderTable();
    });
  }
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("omvee.token", state.token);
    route();
    follow();
  });
  $("sign-out").addEventListener("click", () => {
    state.token = "";
    sessionStorage.removeItem("omvee.token");
    showLogin("");
  });
  $("cancel").addEventListener("click", () => act("cancel"));
  $("retry").addEventListener("click", () => act("retry"));
  $("pipeline-cancel").addEventListener("click", () => actOnPipeline("cancel"));
  $("pipeline-retry").addEventListener("click", () => actOnPipeline("retry"));
  window.addEventListener("hashchange", route);
  setInterval(() => { if (!state.detail) for (const [id, row] of state.rows) setText(row.querySelector(".age"), age(state.jobs.get(id)?.created_at)); }, 1000);
  route();
  follow();
}

start();
