// The command palette: Ctrl+K, or F2 (which no browser engine takes), reaches every
// action, runbook, part of the page and deployment by typing a few letters. Choosing an
// action only plans it: the typed confirmation is still the only way through.

import { api } from "./api.js";
import { h, $ } from "./dom.js";
import { chooseAction, planSpec } from "./contain.js";
import { startRunbook } from "./runbook.js";

/** @typedef {{ label: string, hint: string, danger?: boolean, run: () => unknown }} Entry */

/** @type {() => { deployments: string[], selected: string | null }} */
let getState = () => ({ deployments: [], selected: null });
/** @type {(name: string) => void} */
let selectDeployment = () => {};
let onError = (e) => console.error(e);
/** @type {Entry[]} */
let shown = [];
let cursor = 0;

const SECTIONS = [
  ["Incident", "#incident"],
  ["Hosts", "#hosts"],
  ["Credentials", "#secrets"],
  ["Containers", "#containers"],
  ["Contain", "#contain"],
  ["Audit trail", "#audit-run"],
  ["Restore test", "#restore-run"],
  ["Hardening", "#harden-run"],
  ["Journal", "#journal-load"],
];

/** @param {import("./bindings").ActionSpec} spec @param {string} what */
const planIt = (spec, what) => () => planSpec(spec, what).catch(onError);

/** @returns {Promise<Entry[]>} */
async function entries() {
  const { deployments, selected } = getState();
  /** @type {Entry[]} */
  const out = [];
  if (selected) {
    try {
      for (const r of await api.runbookList()) {
        out.push({ label: `Runbook: ${r.title}`, hint: `${r.steps.length} steps${r.source ? " · " + r.source : ""}`, danger: true, run: () => startRunbook(r) });
      }
    } catch (e) {
      onError(e);
    }
    out.push(
      { label: "Revoke every API token", hint: "plan, then type the name", danger: true, run: planIt({ action: "revoke-tokens", scope: { kind: "all" } }, "Revoke every API token") },
      { label: "Lock every non-admin account for 24 h", hint: "plan, then type the name", danger: true, run: planIt({ action: "lock-accounts", scope: { kind: "all-non-admin" }, duration_secs: 86400 }, "Lock every non-admin account for 24 h") },
      { label: "Expire every session", hint: "plan, then type the name", danger: true, run: planIt({ action: "expire-sessions", user: null }, "Expire every session") },
      { label: "Revoke one user's tokens…", hint: "Contain", danger: true, run: () => chooseAction("revoke-tokens") },
      { label: "Lock accounts…", hint: "Contain", danger: true, run: () => chooseAction("lock-accounts") },
      { label: "Isolate a container…", hint: "Contain", danger: true, run: () => chooseAction("isolate") },
      { label: "Rotate secrets…", hint: "Contain", danger: true, run: () => chooseAction("rotate-secrets") },
      { label: "Undo a run…", hint: "Contain", run: () => chooseAction("undo") },
      { label: "Open an incident", hint: "Incident", run: () => $("#incident-title").focus() },
      { label: "Add a note to the incident", hint: "Incident", run: () => $("#incident-note").focus() },
      { label: "Check status", hint: "Hosts", run: () => $("#refresh").click() },
      { label: "Review the audit trail", hint: "Audit trail", run: () => $("#audit-run").click() },
      { label: "Run a restore test", hint: "Restore test", run: () => $("#restore-run").click() },
      { label: "Run the hardening audit", hint: "Hardening", run: () => $("#harden-run").click() },
      ...SECTIONS.map(([name, sel]) => ({
        label: `Go to ${name}`,
        hint: "screen",
        run: () => {
          const el = $(sel);
          if (el) {
            el.scrollIntoView({ block: "start" });
            if (typeof el.focus === "function") el.focus();
          }
        },
      })),
    );
  }
  for (const d of deployments) {
    if (d !== selected) out.push({ label: `Open deployment ${d}`, hint: "deployment", run: () => selectDeployment(d) });
  }
  out.push({ label: "Add a deployment…", hint: "deployment", run: () => $("#add-open").click() });
  return out;
}

/** Every word typed appears in the label or the hint, in any order. */
function matches(entry, text) {
  const hay = `${entry.label} ${entry.hint}`.toLowerCase();
  return text.toLowerCase().split(/\s+/).filter(Boolean).every((w) => hay.includes(w));
}

let all = [];
/** The entries being gathered: Enter waits for them. */
let loading = Promise.resolve();

function render() {
  const text = $("#palette-input").value;
  shown = all.filter((e) => matches(e, text));
  cursor = Math.min(cursor, Math.max(0, shown.length - 1));
  $("#palette-list").replaceChildren(...shown.map((e, k) =>
    h("li", {
      role: "option",
      class: (k === cursor ? "selected " : "") + (e.danger ? "danger" : ""),
      "aria-selected": k === cursor ? "true" : "false",
      onclick: () => choose(k),
    }, h("span", {}, e.label), h("span", { class: "muted" }, e.hint))));
  if (!shown.length) $("#palette-list").replaceChildren(h("li", { class: "muted" }, "Nothing matches."));
}

async function choose(k) {
  const e = shown[k];
  if (!e) return;
  $("#palette").close();
  try {
    await e.run();
  } catch (err) {
    onError(err);
  }
}

export async function openPalette() {
  const dlg = $("#palette");
  if (dlg.open) return;
  $("#palette-input").value = "";
  cursor = 0;
  all = [];
  render();
  dlg.showModal();
  $("#palette-input").focus();
  loading = entries().then((list) => {
    all = list;
    render();
  });
  await loading;
}

/**
 * @param {() => { deployments: string[], selected: string | null }} state
 * @param {(name: string) => void} select
 * @param {(e: unknown) => void} errorHandler
 */
export function initPalette(state, select, errorHandler) {
  getState = state;
  selectDeployment = select;
  onError = errorHandler;
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey && !e.shiftKey && !e.altKey && e.key.toLowerCase() === "k") || e.key === "F2") {
      e.preventDefault();
      openPalette();
    }
  });
  $("#palette-input").addEventListener("input", () => { cursor = 0; render(); });
  $("#palette-input").addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { cursor = Math.min(cursor + 1, shown.length - 1); render(); e.preventDefault(); }
    else if (e.key === "ArrowUp") { cursor = Math.max(cursor - 1, 0); render(); e.preventDefault(); }
    else if (e.key === "Enter") { e.preventDefault(); loading.then(() => choose(cursor)); }
  });
}
