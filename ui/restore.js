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

const SVG = "http://www.w3.org/2000/svg";

/** @param {string} tag @param {Record<string, string | number>} attrs */
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/**
 * Past tests: a bar per test for its restore time (red when it failed), and a line for
 * the age of the backup it tested, each on its own scale.
 * @param {string} deployment @param {(e: unknown) => void} onError
 */
export async function showRestoreHistory(deployment, onError) {
  try {
    const runs = (await api.restoreHistory(deployment)).slice(-60);
    const box = $("#restore-chart");
    box.replaceChildren();
    const passed = runs.filter((r) => r.passed).length;
    const last = [...runs].reverse().find((r) => r.passed);
    $("#restore-history").textContent = runs.length
      ? `${runs.length} test(s), ${passed} passed; last passed: ${last ? last.at : "never"}`
      : "No restore test yet.";
    if (!runs.length) return;
    const maxRto = Math.max(1, ...runs.map((r) => r.rto_ms ?? 0));
    const maxAge = Math.max(1, ...runs.map((r) => r.backup_age_secs ?? 0));
    // At least 20 slots: one test is a bar, not the whole chart.
    const w = 800 / Math.max(runs.length, 20);
    /** @type {string[]} */
    const points = [];
    runs.forEach((r, i) => {
      const x = i * w + 1;
      const hgt = ((r.rto_ms ?? 0) / maxRto) * 110;
      const bar = svg("rect", { x, y: 120 - hgt, width: Math.max(1, w - 2), height: Math.max(hgt, 1), class: r.passed ? "bar-ok" : "bar-bad" });
      const title = svg("title", {});
      const rto = r.rto_ms === null ? "-" : `${(r.rto_ms / 1000).toFixed(1)} s`;
      title.textContent = `${r.at}: ${r.passed ? "passed" : "failed"} ${r.backup ?? ""}, restore ${rto}, backup ${age(r.backup_age_secs ?? 0)} old`;
      bar.append(title);
      box.append(bar);
      points.push(`${x + w / 2},${120 - ((r.backup_age_secs ?? 0) / maxAge) * 110}`);
    });
    box.append(svg("polyline", { points: points.join(" "), class: "age-line" }));
  } catch (e) {
    onError(e);
  }
}

/** @param {string} deployment @param {(e: unknown) => void} onError */
export async function listBackups(deployment, onError) {
  try {
    const list = await api.listBackups(deployment);
    $("#restore-backup").replaceChildren(
      h("option", { value: "" }, "the newest"),
      ...list.map((b) => h("option", { value: b.name }, `${b.store === "folder" ? "" : `${b.store}: `}${b.name} (${age(b.age_secs)} old, ${b.size} bytes)`)),
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
    await showRestoreHistory(deployment, onError);
  } catch (e) {
    onError(e);
  } finally {
    $("#restore-run").disabled = false;
    $("#restore-cancel").hidden = true;
  }
}
