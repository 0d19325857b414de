// The restore test: list the backups, run the test on one (the newest by default), watch
// its phases and checks arrive, cancel it, and read the verdict with RTO and RPO.

import { api } from "./api.js";
import { h, $ } from "./dom.js";

/** @param {number} secs */
const age = (secs) => {
  if (secs < 120) return `${secs} s`;
  if (secs < 7200) return `${Math.round(secs / 60)} min`;
  if (secs < 172800) return `${Math.round(secs / 3600)} h`;
  return `${Math.round(secs / 86400)} days`;
};

/** @param {string} deployment @param {(e: unknown) => void} onError */
export async function listBackups(deployment, onError) {
  try {
    const list = await api.listBackups(deployment);
    $("#restore-backup").replaceChildren(
      h("option", { value: "" }, "the newest"),
      ...list.map((b) => h("option", { value: b.name }, `${b.name} (${age(b.age_secs)} old, ${b.size} bytes)`)),
    );
  } catch (e) {
    onError(e);
  }
}

/** @param {string} deployment @param {(e: unknown) => void} onError */
export async function runRestoreTest(deployment, onError) {
  const key = `restore-${Date.now()}`;
  const backup = $("#restore-backup").value || null;
  $("#restore-progress").replaceChildren();
  $("#restore-checks tbody").replaceChildren();
  $("#restore-outcome").hidden = true;
  $("#restore-run").disabled = true;
  $("#restore-cancel").hidden = false;
  $("#restore-cancel").onclick = () => api.cancelAction(key);
  try {
    const report = await api.restoreTest(deployment, backup, key, (e) => {
      if (e.kind === "phase") {
        $("#restore-progress").append(h("li", {}, `${e.phase}: ${e.detail}`));
      } else {
        const c = e.check;
        $("#restore-checks tbody").append(
          h("tr", { class: `check-${c.status}` }, h("td", {}, c.status), h("td", {}, c.name), h("td", {}, c.detail)),
        );
      }
    });
    const verdict = report.passed ? "PASSED" : report.cancelled ? "CANCELLED" : "FAILED";
    const rto = report.rto_ms === null ? "-" : `${(report.rto_ms / 1000).toFixed(1)} s`;
    const rpo = report.data_rpo_secs === null ? "-" : age(report.data_rpo_secs);
    const out = $("#restore-outcome");
    out.textContent = `${verdict}: RTO ${rto}, RPO ${rpo} (target ${age(report.rpo_target_secs)})`;
    out.className = `outcome ${report.passed ? "ok" : "bad"}`;
    out.hidden = false;
  } catch (e) {
    onError(e);
  } finally {
    $("#restore-run").disabled = false;
    $("#restore-cancel").hidden = true;
  }
}
