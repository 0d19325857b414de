// "Add a deployment": the same flow as `breakglass init`. The engine looks (read-only)
// and writes a profile; a first-contact host key is shown to be confirmed, then it looks
// again; the person reads the profile and keeps it, or cancels (nothing stays behind).

import { api } from "./api.js";
import { h, $, requireFingerprintTyped } from "./dom.js";

/** @type {{ name: string, text: string } | null} */
let found = null;
/** @type {string | null} The deployment being looked at (to drop it on cancel). */
let looking = null;
let onError = (e) => console.error(e);
let onAdded = async (_name) => {};

/** @param {string} text */
const lines = (text) => text.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);

function reset() {
  found = null;
  $("#add-trust").hidden = true;
  $("#add-found").hidden = true;
  $("#add-keep").disabled = true;
}

async function look() {
  reset();
  const name = $("#add-name").value.trim();
  const hosts = lines($("#add-hosts").value);
  const key = $("#add-key").value.trim() || null;
  const sockets = lines($("#add-sockets").value);
  const project = $("#add-project").value.trim() || null;
  $("#add-look").disabled = true;
  try {
    looking = name;
    const step = await api.initDiscover(name, hosts, key, sockets, project);
    if (step.state === "needs_trust") {
      $("#add-trust-host").textContent = step.host;
      $("#add-trust-type").textContent = step.key_type;
      $("#add-trust-fp").textContent = step.fingerprint;
      requireFingerprintTyped($("#add-trust-typed"), $("#add-trust-yes"), step.fingerprint);
      $("#add-trust").hidden = false;
      $("#add-trust-typed").focus();
      $("#add-trust-yes").onclick = async () => {
        if ($("#add-trust-yes").disabled) return;
        try {
          await api.trustHost(name, step.host, step.fingerprint);
          await look();
        } catch (e) {
          onError(e);
        }
      };
      return;
    }
    found = { name, text: step.profile_text };
    $("#add-profile").textContent = step.profile_text;
    const notes = [...step.discovery.notes, ...step.discovery.app_profile_notes];
    $("#add-notes").replaceChildren(...notes.map((n) => h("li", {}, n)));
    $("#add-changes").replaceChildren(...(step.changes || []).map((c) => h("li", {}, c)));
    // Several projects and none named: offer each (choosing one looks again at it alone).
    const names = [...new Set(step.discovery.projects.map((p) => p.name))].sort();
    $("#add-projects").hidden = project !== null || names.length < 2;
    $("#add-project-choices").replaceChildren(
      ...names.map((n) => {
        const runs = step.discovery.projects.filter((p) => p.name === n);
        const where = `${runs[0].kind} on ${runs.map((p) => p.host).join(", ")}`;
        const b = h("button", { class: "btn", "data-project": n }, `${n} (${where})`);
        b.addEventListener("click", () => {
          $("#add-project").value = n;
          look();
        });
        return b;
      }),
    );
    $("#add-found").hidden = false;
    $("#add-keep").disabled = false;
  } catch (e) {
    onError(e);
  } finally {
    $("#add-look").disabled = false;
  }
}

async function keep() {
  if (!found) return;
  $("#add-keep").disabled = true;
  try {
    const added = await api.initFinish(found.name, found.text);
    looking = null;
    $("#add").hidden = true;
    reset();
    await onAdded(added.name);
  } catch (e) {
    onError(e);
    $("#add-keep").disabled = false;
  }
}

async function cancel() {
  $("#add").hidden = true;
  reset();
  if (looking) {
    try {
      await api.initAbandon(looking);
    } catch (e) {
      onError(e);
    }
    looking = null;
  }
}

/**
 * @param {(e: unknown) => void} errors
 * @param {(name: string) => Promise<void>} added
 */
export function initAdd(errors, added) {
  onError = errors;
  onAdded = added;
  $("#add-look").addEventListener("click", look);
  $("#add-keep").addEventListener("click", keep);
  $("#add-cancel").addEventListener("click", cancel);
}

/** Shows the form (and hides what it replaces). */
export function showAdd() {
  reset();
  $("#welcome").hidden = true;
  $("#deployment").hidden = true;
  $("#add").hidden = false;
  $("#add-name").focus();
}
