// The dashboard's pipelines: a list (GET /v1/pipelines) and a page per pipeline that draws its
// steps as a left-to-right graph (GET /v1/pipelines/{id}). Both follow the jobs stream that
// dashboard.js reads: an upsert of a pipeline's step reads the pipeline again. Loaded before
// dashboard.js, whose helpers (state, api, el, setBar, phaseOf...) these functions call.
"use strict";

// Reasons that say why a step has not run or ended because of its upstream: the step's box
// shows its message (controller.dependencies writes them: "waiting for transcription <id> ...").
const UPSTREAM_REASONS = new Set(["WaitingForUpstream", "UpstreamFailed", "UpstreamCancelled", "UpstreamCycle"]);

const pipelines = {
  list: null, // { items } of the open list, or null when the list is not shown
  open: null, // { id, data, asked, shown } of the open pipeline page, or null
};

// --- the list -----------------------------------------------------------------------------

async function openPipelines() {
  pipelines.open = null;
  pipelines.list = { items: null };
  show("pipelines-view");
  await loadPipelines();
}

async function loadPipelines() {
  const list = pipelines.list;
  if (!list) return;
  try {
    list.items = (await (await api("/v1/pipelines")).json()).items;
    if (pipelines.list === list) renderPipelines();
  } catch (error) {
    if (error instanceof Unauthorized) return showLogin("That token was refused.");
    $("pipelines-error").textContent = error.message;
  }
}

function renderPipelines() {
  const items = pipelines.list.items || [];
  $("pipeline-rows").replaceChildren(...items.map((item) => {
    const row = el("tr", { class: "job" }, [
      el("td", { class: "id", title: item.id }, [item.id.slice(0, 8)]),
      el("td", { class: "project", title: item.project_id }, [item.project_id.slice(0, 8)]),
      el("td", { class: "phase" }, [el("span", { class: `phase phase-${item.phase}` }, [item.phase])]),
      el("td", { class: "steps" }, [String(item.step_count)]),
      el("td", { class: "age" }, [age(item.created_at)]),
    ]);
    row.dataset.pipelineId = item.id;
    row.addEventListener("click", () => { location.hash = `#/pipelines/${item.id}`; });
    return row;
  }));
  $("pipelines-empty").hidden = items.length > 0;
  $("pipelines-error").textContent = "";
}

// --- one pipeline -------------------------------------------------------------------------

async function openPipeline(id) {
  pipelines.list = null;
  // asked: reads sent; shown: the number of the read shown (an older answer never hides a newer)
  pipelines.open = { id, data: null, asked: 0, shown: 0 };
  $("pipeline-title").textContent = `Pipeline ${id}`;
  $("pipeline-error").textContent = "";
  $("pipeline-graph").replaceChildren();
  show("pipeline-view");
  await loadPipeline();
}

let pipelineTimer = null;
// Read the open pipeline (or the list) again soon: a burst of step changes becomes one request.
function refreshPipelines() {
  clearTimeout(pipelineTimer);
  pipelineTimer = setTimeout(() => (pipelines.open ? loadPipeline() : loadPipelines()), 150);
}

async function loadPipeline() {
  const open = pipelines.open;
  if (!open) return;
  const asked = ++open.asked;
  try {
    const data = await (await api(`/v1/pipelines/${open.id}`)).json();
    if (pipelines.open !== open || asked < open.shown) return;
    open.shown = asked;
    open.data = data;
    renderPipeline();
  } catch (error) {
    if (error instanceof Unauthorized) return showLogin("That token was refused.");
    if (pipelines.open === open) $("pipeline-error").textContent = error.message;
  }
}

// Whether a jobs-stream event concerns the open pipeline page or list (dashboard.js asks).
function pipelineConcerned(event, job) {
  if (!pipelines.open && !pipelines.list) return false;
  if (event !== "upsert") return true; // a snapshot (reconnected) or a deletion: read again
  if (pipelines.list) return Boolean(job.pipeline_id);
  const steps = pipelines.open.data ? pipelines.open.data.steps : [];
  return job.pipeline_id === pipelines.open.id || steps.some((step) => step.id === job.id);
}

function renderPipeline() {
  const data = pipelines.open.data;
  if (!data) return;
  // Read again after each change of a step (the API reads the cluster, so that read is at
  // least as new as the stream's event): the boxes and the pipeline's phase always agree.
  const steps = data.steps;
  $("pipeline-title").textContent = `Pipeline · ${data.id}`;
  const phase = $("pipeline-phase");
  phase.className = `phase phase-${data.phase}`;
  phase.textContent = data.phase;
  $("pipeline-cancel").disabled = steps.every((step) => FINAL.has(phaseOf(step)));
  $("pipeline-retry").disabled = !steps.some((step) => step.phase === "Failed" || step.phase === "Cancelled");
  const done = steps.filter((step) => step.phase === "Succeeded").length;
  $("pipeline-facts").replaceChildren(...[
    ["Project", data.project_id], ["Steps", `${done} of ${steps.length} succeeded`],
    ["Created", when(data.created_at)],
  ].flatMap(([name, value]) => [el("dt", {}, [name]), el("dd", {}, [value])]));
  const graph = $("pipeline-graph");
  const nodes = [];
  steps.forEach((step, index) => {
    if (index > 0) nodes.push(arrow(steps[index - 1]));
    nodes.push(stepBox(step, index));
  });
  graph.replaceChildren(...nodes);
}

// One step: a box linking to the job's page, with its type, phase, progress and, when it waits
// for or ended because of its upstream (or failed), why.
function stepBox(step, index) {
  const phase = phaseOf(step);
  const box = el("a", { class: `step step-${phase}`, href: `#/jobs/${step.id}` });
  box.dataset.jobId = step.id;
  box.dataset.step = step.type;
  box.dataset.phase = phase;
  const progress = bar();
  setBar(progress, step);
  const why = whyOf(step);
  box.append(
    el("div", { class: "step-head" }, [el("span", { class: "step-index" }, [String(index + 1)]), el("b", { class: "step-type" }, [step.type])]),
    el("div", { class: "step-phase" }, phaseBadges(step)),
    progress,
    el("p", { class: why.kind ? `step-why ${why.kind}` : "step-why muted" }, [why.text]),
    el("div", { class: "step-foot muted" }, [
      el("span", { class: "mono", title: step.id }, [step.id.slice(0, 8)]),
      `run ${step.run} · ${step.attempts} attempt${step.attempts === 1 ? "" : "s"}`,
    ]),
  );
  return box;
}

// What the box says under the bar: the upstream it waits for or ended because of, the failure,
// what a running step reports, else the job's message.
function whyOf(step) {
  const phase = phaseOf(step);
  if (UPSTREAM_REASONS.has(step.reason) && step.message) {
    return { kind: phase === "Pending" ? "waiting" : "failed", text: step.message };
  }
  if ((phase === "Failed" || phase === "Cancelled") && step.message) return { kind: "failed", text: step.message };
  if (phase === "Pending" && step.message) return { kind: "waiting", text: step.message };
  if (phase === "Running") return { kind: "", text: step.progress_message || step.message || "" };
  return { kind: "", text: step.message || "" };
}

// The arrow from a step to the next one: solid green once the upstream succeeded.
function arrow(upstream) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 48 20");
  svg.setAttribute("width", "48");
  svg.setAttribute("height", "20");
  svg.setAttribute("aria-hidden", "true");
  for (const [name, d] of [["shaft", "M2 10 H38"], ["head", "M30 3 L40 10 L30 17"]]) {
    const path = document.createElementNS(ns, "path");
    path.setAttribute("class", name);
    path.setAttribute("d", d);
    svg.append(path);
  }
  const phase = phaseOf(upstream);
  const kind = phase === "Succeeded" ? "ready" : FINAL.has(phase) ? "broken" : "waiting";
  return el("div", { class: `arrow arrow-${kind}` }, [svg]);
}

async function actOnPipeline(action) {
  const open = pipelines.open;
  $("pipeline-error").textContent = "";
  try {
    await api(`/v1/pipelines/${open.id}/${action}`, { method: "POST" });
    // Read it again rather than show the answer: the operator may have moved on meanwhile and
    // its stream event come first, so the answer could be older than what the page shows.
    if (pipelines.open === open) loadPipeline();
  } catch (error) {
    $("pipeline-error").textContent = `${action} failed: ${error.message}`;
  }
}

// The job page's link to its pipeline (JobPublic.pipeline_id, present for a pipeline's step).
function showJobPipeline(job) {
  const link = $("job-pipeline");
  link.hidden = !job.pipeline_id;
  if (!job.pipeline_id) return;
  link.href = `#/pipelines/${job.pipeline_id}`;
  setText(link, `pipeline ${job.pipeline_id.slice(0, 8)} →`);
  link.title = `pipeline ${job.pipeline_id}`;
}
