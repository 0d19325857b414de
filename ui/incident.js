// The incident banner at the top of a deployment: open one, and while it is open, where
// containment stands (read from the journal by the engine, with the vantage that verified
// it), the responder's notes, the timeline the console wrote, the report, and closing.

import { api } from "./api.js";
import { h, $ } from "./dom.js";

/** @typedef {import("./bindings").IncidentView} IncidentView */

let deployment = null;
/** @type {IncidentView | null} */
let current = null;
let onError = (e) => console.error(e);

const TONE = {
  verified: "ok",
  verified_database_only: "warn",
  failed: "bad",
  note: "note",
  info: "",
};

/** @param {number} s */
function human(s) {
  const h_ = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (h_) return `${h_} h ${String(m).padStart(2, "0")} min`;
  if (m) return `${m} min ${String(sec).padStart(2, "0")} s`;
  return `${sec} s`;
}

const PHRASE = {
  app: "verified by the app itself",
  database: "verified in the database only",
  redis: "verified in Redis only",
  docker: "verified by the Docker Engine",
  hosts: "verified by logging in to each host",
};

/** @param {IncidentView | null} view */
function render(view) {
  current = view;
  const open = !!view && !view.incident.closed_at;
  $("#incident-none").hidden = open;
  $("#incident-open-view").hidden = !open;
  $("#incident").classList.toggle("active", open);
  const close = $("#incident-close");
  close.textContent = "Close the incident…";
  close.dataset.armed = "";
  if (!open || !view) return;
  const inc = view.incident;
  $("#incident-name").textContent = `#${inc.id} ${inc.title}`;
  const opened = Date.parse(inc.opened_at);
  $("#incident-since").textContent = ` · opened ${inc.opened_at} by ${inc.opened_by}` +
    (Number.isNaN(opened) ? "" : ` · open for ${human(Math.max(0, Math.round((Date.now() - opened) / 1000)))}`);
  const contained = $("#incident-contained");
  if (view.contained_at && view.secs_to_contained !== null) {
    const dbOnly = view.containment.some((c) => c.by === "database" || c.by === "redis");
    contained.textContent = `Contained at ${view.contained_at}, ${human(view.secs_to_contained)} after opening` +
      (dbOnly ? " — some of it verified in the database only" : "");
    contained.className = "incident-contained " + (dbOnly ? "warn" : "ok");
  } else {
    contained.textContent = view.containment.length
      ? "NOT contained: a containment action is not verified (below)"
      : "Not contained yet: no containment action has run";
    contained.className = "incident-contained bad";
  }
  $("#incident-containment").replaceChildren(...view.containment.map((c) =>
    h("li", { class: c.state === "verified" ? (c.by === "database" || c.by === "redis" ? "warn" : "ok") : "bad", "data-action": c.action },
      h("strong", {}, c.action), " — ",
      c.state === "verified" ? (c.by ? PHRASE[c.by] : "verified") : c.state === "running" ? "running, no verdict yet" : "NOT verified",
      ` at ${c.at}${c.detail ? ": " + c.detail : ""}`)));
  $("#incident-timeline tbody").replaceChildren(...view.timeline.map((t) =>
    h("tr", { class: TONE[t.tone] || "", "data-kind": t.kind },
      h("td", {}, String(t.seq)), h("td", { class: "mono" }, t.at), h("td", {}, t.operator), h("td", {}, t.what))));
  // The reports are made when clicked (they carry the journal's head at that moment).
  for (const [sel, format] of [["#incident-md", "md"], ["#incident-html", "html"]]) {
    const a = $(sel);
    if (a.href.startsWith("blob:")) URL.revokeObjectURL(a.href);
    a.removeAttribute("download");
    delete a.dataset.file;
    a.href = "#";
    a.dataset.format = format;
  }
}

/** Reloads the open incident of the deployment shown (after an action ran, say). */
export async function refreshIncident() {
  if (!deployment) return;
  try {
    render(await api.incidentCurrent(deployment));
  } catch (e) {
    onError(e);
  }
}

async function openIncident() {
  const title = $("#incident-title").value.trim();
  if (!title) {
    $("#incident-title").focus();
    return;
  }
  try {
    render(await api.incidentOpen(deployment, title));
    $("#incident-title").value = "";
  } catch (e) {
    onError(e);
  }
}

async function addNote() {
  const text = $("#incident-note").value.trim();
  if (!current || !text) return;
  try {
    render(await api.incidentNote(current.incident.id, text));
    $("#incident-note").value = "";
  } catch (e) {
    onError(e);
  }
}

async function closeIncident() {
  if (!current) return;
  const btn = $("#incident-close");
  // Closing makes the record final: a second, deliberate click.
  if (!btn.dataset.armed) {
    btn.dataset.armed = "1";
    btn.textContent = "Close it: the record becomes final";
    return;
  }
  try {
    await api.incidentClose(current.incident.id);
    render(null);
  } catch (e) {
    onError(e);
  }
}

/** @param {MouseEvent} ev */
async function report(ev) {
  const a = /** @type {HTMLAnchorElement} */ (ev.currentTarget);
  if (!current || a.getAttribute("download")) return;
  ev.preventDefault();
  const format = a.dataset.format === "html" ? "html" : "md";
  try {
    const text = await api.incidentReport(current.incident.id, format);
    a.href = URL.createObjectURL(new Blob([text], { type: format === "md" ? "text/markdown" : "text/html" }));
    const file = `incident-${current.incident.id}.${format}`;
    a.setAttribute("download", file);
    a.dataset.file = file;
    a.click();
  } catch (e) {
    onError(e);
  }
}

export function initIncident(errorHandler) {
  onError = errorHandler;
  $("#incident-open").addEventListener("click", openIncident);
  $("#incident-title").addEventListener("keydown", (e) => { if (e.key === "Enter") openIncident(); });
  $("#incident-add-note").addEventListener("click", addNote);
  $("#incident-note").addEventListener("keydown", (e) => { if (e.key === "Enter") addNote(); });
  $("#incident-close").addEventListener("click", closeIncident);
  $("#incident-md").addEventListener("click", report);
  $("#incident-html").addEventListener("click", report);
  // Every action run in the window ends with this event: the timeline follows.
  document.addEventListener("breakglass:ran", () => refreshIncident());
}

/** @param {string} name */
export async function showIncident(name) {
  deployment = name;
  render(null);
  await refreshIncident();
}
