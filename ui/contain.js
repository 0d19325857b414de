// The Contain panel: build an action, show its plan, require the deployment's name typed
// back for a destructive run, stream the run's steps, show the verification.

import { api, isError, pageError } from "./api.js";
import { h, $ } from "./dom.js";

const SCOPES = {
  "revoke-tokens": [["all", "every active token"], ["user", "one user's tokens"], ["id", "one token by id"], ["created-since", "created since (2h, or a time with its zone)"]],
  "lock-accounts": [["all-non-admin", "every non-admin account"], ["user", "one user"]],
  "unlock-accounts": [["all-non-admin", "every non-admin account"], ["user", "one user"]],
  "expire-sessions": [["all", "every session"], ["user", "one user's sessions"]],
};

/** How the window names whom verify asked (the engine's `Vantage::phrase`).
 * @type {Record<import("./bindings").Vantage, string>} */
const VANTAGE = {
  app: "verified by the app itself",
  database: "verified in the database only",
  redis: "verified in Redis only",
  docker: "verified by the Docker Engine",
  hosts: "verified by logging in to each host",
};

let deployment = null;
/** The deployment's host names: a step whose description starts with one is that host's. */
let hostNames = [];
let planned = null;
let onError = (e) => console.error(e);

function parseDuration(text) {
  const m = /^\s*(\d+)\s*(s|m|h|d)\s*$/.exec(text || "");
  if (!m) return null;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
}

function syncFields() {
  const kind = $("#action-kind").value;
  const scopes = SCOPES[kind] || [];
  const sel = $("#action-scope");
  if (sel.dataset.kind !== kind) {
    sel.replaceChildren(...scopes.map(([v, label]) => h("option", { value: v }, label)));
    sel.dataset.kind = kind;
  }
  const scope = sel.value;
  for (const label of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("#contain [data-for]"))) {
    const fors = label.dataset.for.split(" ");
    const needsValue = ["user", "id", "created-since"].includes(scope) && scopes.length > 0;
    label.hidden = !(fors.includes(kind) || (fors.includes("scope-value") && needsValue));
  }
  resetPlan();
}

function resetPlan() {
  planned = null;
  $("#plan").hidden = true;
  $("#confirm-input").value = "";
  $("#action-run").disabled = true;
}

/**
 * The request the form describes, in the engine's own shape (`ActionSpec`, generated
 * from the Rust types: `tsc -p ui` refuses a field or a scope the engine does not know).
 * @returns {import("./bindings").ActionSpec}
 */
function buildSpec() {
  const kind = $("#action-kind").value;
  const scope = $("#action-scope").value;
  const value = $("#action-value").value.trim();
  const mode = $("#action-mode").value;
  const host = $("#action-host").value.trim();
  const container = $("#action-container").value.trim();
  /** @param {string} v @param {string} what */
  const need = (v, what) => {
    if (!v) throw pageError("argument.invalid", `${what} is required`);
    return v;
  };
  /** @returns {import("./bindings").TokenScope} */
  const tokenScope = () => {
    if (scope === "all") return { kind: "all" };
    if (scope === "id") {
      const id = Number(need(value, "A token id"));
      if (!Number.isInteger(id)) throw pageError("argument.invalid", "a token id is a whole number");
      return { kind: "id", value: id };
    }
    if (scope === "user") return { kind: "user", value: need(value, "A user name") };
    return { kind: "created-since", value: need(value, "A time") };
  };
  /** @returns {import("./bindings").LockScope} */
  const lockScope = () => (scope === "user" ? { kind: "user", value: need(value, "A user name") } : { kind: "all-non-admin" });
  /** @returns {import("./bindings").IsolateMode} */
  const isolateMode = () => mode;
  switch (kind) {
    case "revoke-tokens":
      return { action: "revoke-tokens", scope: tokenScope() };
    case "lock-accounts": {
      const d = $("#action-duration").value.trim();
      const secs = d ? parseDuration(d) : null;
      if (d && secs === null) throw pageError("argument.invalid", "a duration looks like 30m, 2h or 1d");
      return { action: "lock-accounts", scope: lockScope(), duration_secs: secs };
    }
    case "unlock-accounts":
      return { action: "unlock-accounts", scope: lockScope() };
    case "expire-sessions":
      return { action: "expire-sessions", user: scope === "user" ? need(value, "A user name") : null };
    case "isolate":
      return { action: "isolate", host: need(host, "The host"), container: need(container, "The container"), mode: isolateMode() };
    case "restore":
      return { action: "restore", host: need(host, "The host"), container: need(container, "The container"), mode: isolateMode(), networks: [] };
    case "undo":
      return { action: "undo", run_id: need($("#action-run-id").value.trim(), "The run id") };
    case "rotate-secrets": {
      const all = /** @type {HTMLInputElement} */ ($("#action-all")).checked;
      const vars = $("#action-vars").value.split(/[\s,]+/).filter(Boolean);
      for (const v of vars) {
        if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(v)) throw pageError("argument.invalid", `${v} is not a variable name`);
      }
      if (!all && vars.length === 0) throw pageError("argument.invalid", "name the variables to rotate, or tick every secret");
      return { action: "rotate-secrets", vars, groups: [], all };
    }
  }
  throw pageError("argument.invalid", "unknown action");
}

async function plan() {
  try {
    await planSpec(buildSpec(), "");
  } catch (e) {
    onError(e);
  }
}

/**
 * Plans `spec` and shows the plan, with its blast radius, ready for the typed
 * confirmation; `banner` says where it comes from (a runbook's step). Throws what
 * planning threw.
 * @param {import("./bindings").ActionSpec} spec
 * @param {string} banner
 * @returns {Promise<import("./bindings").Plan>}
 */
export async function planSpec(spec, banner) {
  resetPlan();
  $("#progress").replaceChildren();
  $("#host-progress").hidden = true;
  $("#outcome").hidden = true;
  $("#plan-banner").textContent = banner;
  $("#plan-banner").hidden = !banner;
  const p = await api.planAction(deployment, spec);
  planned = { spec, plan: p };
  $("#plan-summary").textContent = p.count === 0 ? `Nothing to do: ${p.summary}` : p.summary;
  $("#plan-sample").replaceChildren(...p.sample.map((s) => h("li", {}, s)));
  $("#plan-steps").replaceChildren(...p.steps.map((s) => h("li", {}, s)));
  $("#plan-warnings").replaceChildren(...p.warnings.map((w) => h("li", {}, `Warning: ${w}`)));
  const hosts = [...new Set(p.steps.map(hostOf).filter(Boolean))];
  $("#plan-radius").textContent = `Blast radius: ${p.count} ${p.action === "rotate-secrets" ? "change(s)" : "affected"} on ${deployment}` +
    (hosts.length ? ` · ${hosts.length} host(s): ${hosts.join(", ")}` : "") +
    (p.destructive ? "" : " · not destructive");
  $("#confirm-name").textContent = deployment;
  $("#confirm-row").hidden = p.count === 0;
  $("#plan").hidden = false;
  $("#contain").scrollIntoView({ block: "start" });
  if (p.count > 0) $("#confirm-input").focus();
  return p;
}

function confirmTyped() {
  // Exactly the name: no trimming, no case folding. A typo cannot fire it.
  $("#action-run").disabled = !planned || $("#confirm-input").value !== deployment;
}

let runningKey = null;

function describeEvent(event) {
  if (event.event === "step") {
    return [event.status, `${event.description}: ${event.status.replace("_", " ")}${event.detail ? " — " + event.detail : ""}`];
  }
  if (event.event === "waiting") return ["warn", `waiting: held by ${event.holder}`];
  if (event.event === "verified") return [event.ok ? "ok" : "bad", `verify: ${event.ok ? "ok" : "FAILED"}${event.by ? ", " + VANTAGE[event.by] : ""} (${event.detail})`];
  if (event.event === "finished") return ["", event.outcome];
  return null;
}

/** The host a step is about, when its description names one first (`app2: write …`). */
function hostOf(description) {
  const i = description.indexOf(": ");
  const head = i > 0 ? description.slice(0, i) : "";
  return hostNames.includes(head) ? head : null;
}

const HOST_STATE = {
  waiting: "waiting",
  running: "running …",
  done: "done",
  failed: "FAILED",
  undoing: "undoing …",
  undone: "undone",
  undo_failed: "UNDO FAILED",
};

/** One chip per host the plan touches, in the plan's order: where the run is, at a glance. */
function hostProgress(plan) {
  const hosts = [];
  for (const step of plan.steps) {
    const host = hostOf(step);
    if (host && !hosts.includes(host)) hosts.push(host);
  }
  const list = $("#host-progress");
  list.replaceChildren(...hosts.map((host) =>
    h("li", { class: "host-chip waiting", "data-host": host, "data-state": "waiting" },
      h("strong", {}, host), " ", h("span", {}, HOST_STATE.waiting))));
  list.hidden = hosts.length < 2;
}

function markHost(event) {
  if (event.event !== "step") return;
  const host = hostOf(event.description);
  const chip = host && $("#host-progress").querySelector(`[data-host="${CSS.escape(host)}"]`);
  if (!chip) return;
  const state = event.status === "started" ? "running" : event.status;
  // The chip shows the state of the host's latest step (a host has several: its .env,
  // then each container).
  chip.className = `host-chip ${state}`;
  chip.dataset.state = state;
  chip.lastChild.textContent = HOST_STATE[state] || state;
}

/** Runs what is planned. A plan with nothing to do needs no confirmation: the run only
 * verifies that claim (from the app's side where a probe applies). */
export async function run() {
  if (!planned) return;
  const nothing = planned.plan.count === 0;
  if (!nothing && $("#confirm-input").value !== deployment) return;
  /** @type {{ ok: boolean, detail: string, spec: import("./bindings").ActionSpec | null } | null} */
  let finished = null;
  const key = crypto.randomUUID();
  const progress = $("#progress");
  progress.replaceChildren();
  hostProgress(planned.plan);
  $("#action-run").disabled = true;
  const cancelBtn = $("#action-cancel");
  cancelBtn.textContent = "Cancel (finish this step, then undo)";
  cancelBtn.hidden = false;
  runningKey = key;
  const onEvent = (event) => {
    markHost(event);
    const shown = describeEvent(event);
    if (shown) progress.append(h("li", { class: shown[0] }, shown[1]));
  };
  try {
    const report = await api.runAction(deployment, planned.spec, $("#confirm-input").value, planned.plan.digest, key, onEvent);
    const out = $("#outcome");
    out.textContent = `${report.outcome}: ${report.changed} changed; ${report.verify_detail}`;
    out.className = "outcome " + (report.verified ? "ok" : "bad");
    out.hidden = false;
    finished = { ok: report.verified, detail: `${report.outcome}: ${report.verify_detail}`, spec: planned.spec };
  } catch (e) {
    if (isError(e, "action.plan_changed")) {
      // The live state moved since the plan was shown: show the new plan, ask again.
      runningKey = null;
      cancelBtn.hidden = true;
      // The same request again (a runbook's step stays that step), not the form's.
      try {
        await planSpec(planned.spec, $("#plan-banner").textContent);
      } catch (again) {
        onError(again);
        return;
      }
      $("#plan-summary").textContent = "The live plan changed; confirm this one: " + $("#plan-summary").textContent;
      return;
    }
    const out = $("#outcome");
    out.textContent = e && e.message ? e.message : String(e);
    out.className = "outcome bad";
    out.hidden = false;
    finished = { ok: false, detail: out.textContent, spec: planned ? planned.spec : null };
    onError(e);
  } finally {
    if (runningKey === key) {
      runningKey = null;
      cancelBtn.hidden = true;
      resetPlan();
    }
    // Whatever the outcome: the journal has it, and the incident's timeline follows (and
    // a runbook walking its steps goes on, or stops).
    document.dispatchEvent(new CustomEvent("breakglass:ran", { detail: finished }));
  }
}

async function cancelRun() {
  if (!runningKey) return;
  const btn = $("#action-cancel");
  await api.cancelAction(runningKey);
  // A second press stops at once.
  btn.textContent = "Stop now (no undo)";
}

export function initContain(errorHandler) {
  onError = errorHandler;
  // "input" as well as "change": a choice made by keyboard or by WebDriver's click fires
  // one or the other first, and the fields must follow at once.
  $("#action-kind").addEventListener("input", syncFields);
  $("#action-kind").addEventListener("change", syncFields);
  $("#action-scope").addEventListener("change", syncFields);
  for (const id of ["#action-value", "#action-duration", "#action-host", "#action-container", "#action-mode", "#action-run-id", "#action-vars", "#action-all"]) {
    $(id).addEventListener("input", resetPlan);
  }
  $("#action-plan").addEventListener("click", plan);
  $("#confirm-input").addEventListener("input", confirmTyped);
  // Enter in the confirmation runs it, once the name typed is exact (the button's rule).
  $("#confirm-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !$("#action-run").disabled) run();
  });
  $("#action-run").addEventListener("click", run);
  $("#action-cancel").addEventListener("click", cancelRun);
  syncFields();
}

/** The Contain form set to `kind` (a palette entry), its first field focused. */
export function chooseAction(kind) {
  $("#action-kind").value = kind;
  syncFields();
  $("#contain").scrollIntoView({ block: "start" });
  const first = /** @type {HTMLElement | null} */ (document.querySelector("#contain .form-row label:not([hidden]) input, #contain .form-row label:not([hidden]) select"));
  (first || $("#action-kind")).focus();
}

/** @param {string} name @param {string[]} hosts */
export function showContain(name, hosts) {
  deployment = name;
  hostNames = hosts;
  resetPlan();
  $("#host-progress").replaceChildren();
  $("#host-progress").hidden = true;
  $("#progress").replaceChildren();
  $("#outcome").hidden = true;
}
