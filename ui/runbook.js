// A runbook walked in the window: each action step planned and shown in Contain, confirmed
// by the deployment's name typed, run and verified like any action; a step only a person
// can do asks what they did; the review and the report are the console's. The engine
// journals the start and every step's end; the first step that is not done and verified
// stops the walk, and says so.

import { api } from "./api.js";
import { h, $ } from "./dom.js";
import { planSpec, run } from "./contain.js";
import { refreshIncident } from "./incident.js";

/** @typedef {import("./bindings").RunbookRun} RunbookRun */
/** @typedef {import("./bindings").Step} Step */

let deployment = null;
let onError = (e) => console.error(e);
/** @type {{ rr: RunbookRun, i: number } | null} */
let active = null;

const STATE_TEXT = { waiting: "", current: "← now", done: "done", stopped: "STOPPED" };

function renderSteps(stoppedAt = -1) {
  if (!active) return;
  const { rr, i } = active;
  $("#runbook-steps").replaceChildren(...rr.steps.map((s, k) => {
    const state = k === stoppedAt ? "stopped" : k < i ? "done" : k === i ? "current" : "waiting";
    return h("li", { class: `rb-${state}`, "data-state": state },
      s.title, " ", h("span", { class: "muted" }, STATE_TEXT[state]));
  }));
}

function banner(step) {
  if (!active) return "";
  return `Runbook ${active.rr.title}, step ${active.i + 1} of ${active.rr.steps.length}: ${step.title}`;
}

async function record(done, detail) {
  if (!active) return;
  const step = active.rr.steps[active.i];
  await api.runbookStep(deployment, active.rr.run_id, active.i + 1, step.title, done, detail.slice(0, 4000));
}

async function stop(detail) {
  if (!active) return;
  const at = active.i;
  try {
    await record(false, detail);
  } catch (e) {
    onError(e);
  }
  renderSteps(at);
  $("#runbook-title").textContent = `${active.rr.title}: stopped at step ${at + 1}`;
  $("#runbook-stop").textContent = "Close";
  active = null;
  refreshIncident();
}

async function next() {
  if (!active) return;
  renderSteps();
  $("#runbook-manual").hidden = true;
  const step = active.rr.steps[active.i];
  if (!step) {
    $("#runbook-title").textContent = `${active.rr.title}: done, ${active.rr.steps.length} step(s)`;
    $("#runbook-stop").textContent = "Close";
    active = null;
    refreshIncident();
    return;
  }
  try {
    if (step.kind === "action") {
      const plan = await planSpec(step.spec, banner(step));
      // Nothing to do is still verified: run it without asking for the name.
      if (plan.count === 0) await run();
    } else if (step.kind === "review") {
      const since = parseSince(step.since);
      const review = await api.auditReview(deployment, since);
      await advance(`reviewed: ${review.failed_by_ip.length} IP(s) with failed logins, ${review.success_after_failures.length} success(es) after failures, ${review.admin_actions.length} admin action(s), ${review.new_tokens.length} new token(s)`);
    } else if (step.kind === "manual") {
      $("#runbook-manual-text").textContent = `${banner(step)} — ${step.text}`;
      $("#runbook-manual").hidden = false;
      $("#runbook-manual-done").value = "";
      $("#runbook-manual-done").focus();
    } else if (step.kind === "report") {
      const inc = await api.incidentCurrent(deployment);
      if (!inc) {
        await stop("there is no open incident to report on");
        return;
      }
      $("#incident").scrollIntoView({ block: "start" });
      await advance(`the report is offered in the incident banner (incident ${inc.incident.id})`);
    }
  } catch (e) {
    onError(e);
    await stop(e && e.message ? e.message : String(e));
  }
}

async function advance(detail) {
  if (!active) return;
  await record(true, detail);
  active.i += 1;
  await next();
}

/** `24h`, `90m`, `7d` as seconds (the review steps' windows). */
function parseSince(text) {
  const m = /^\s*(\d+)\s*(s|m|h|d)\s*$/.exec(text || "");
  return m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]] : 86400;
}

/**
 * Starts `name` on the deployment shown; asks for its parameters first, if it has any.
 * @param {import("./bindings").Runbook} runbook
 */
export async function startRunbook(runbook) {
  if (!deployment) return;
  active = null;
  $("#runbook").hidden = false;
  $("#runbook-title").textContent = runbook.title;
  $("#runbook-source").textContent = runbook.source ? `(${runbook.source})` : "";
  $("#runbook-stop").textContent = "Stop the runbook";
  $("#runbook-steps").replaceChildren(...runbook.steps.map((s) => h("li", { "data-state": "waiting" }, s.title)));
  $("#contain").scrollIntoView({ block: "start" });
  const params = $("#runbook-params");
  if (runbook.params.length) {
    const inputs = runbook.params.map((p) => h("input", { "data-param": p.name, size: "14", spellcheck: "false", autocomplete: "off" }));
    const go = h("button", { class: "btn", onclick: () => begin(runbook, inputs) }, "Start");
    params.replaceChildren(...runbook.params.map((p, k) => h("label", {}, `${p.name} (${p.help})`, inputs[k])), go);
    params.hidden = false;
    inputs[0].focus();
    return;
  }
  params.hidden = true;
  await begin(runbook, []);
}

/** @param {import("./bindings").Runbook} runbook @param {HTMLInputElement[]} inputs */
async function begin(runbook, inputs) {
  /** @type {Array<[string, string]>} */
  const params = inputs.map((i) => [i.dataset.param || "", i.value.trim()]);
  try {
    const rr = await api.runbookStart(deployment, runbook.name, params);
    $("#runbook-params").hidden = true;
    active = { rr, i: 0 };
    await next();
  } catch (e) {
    onError(e);
  }
}

export function initRunbook(errorHandler) {
  onError = errorHandler;
  // Each action step's run ends here: verified goes on, anything else stops the walk.
  document.addEventListener("breakglass:ran", (ev) => {
    const result = /** @type {CustomEvent} */ (ev).detail;
    if (!active || !result) return;
    const step = active.rr.steps[active.i];
    if (!step || step.kind !== "action") return;
    // Only the run of this step's own request counts: another action run meanwhile from
    // the form or the palette neither advances the runbook nor stops it.
    if (JSON.stringify(result.spec) !== JSON.stringify(step.spec)) return;
    if (result.ok) advance(result.detail).catch(onError);
    else stop(result.detail);
  });
  $("#runbook-manual-ok").addEventListener("click", () => {
    const said = $("#runbook-manual-done").value.trim();
    if (!said) {
      $("#runbook-manual-done").focus();
      return;
    }
    advance(said).catch(onError);
  });
  $("#runbook-manual-done").addEventListener("keydown", (e) => { if (e.key === "Enter") $("#runbook-manual-ok").click(); });
  $("#runbook-stop").addEventListener("click", () => {
    if (active) stop("stopped by the responder");
    else $("#runbook").hidden = true;
  });
}

/** @param {string} name */
export function showRunbook(name) {
  deployment = name;
  active = null;
  $("#runbook").hidden = true;
}
