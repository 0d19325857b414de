// The audit trail: tables of failed logins by IP, successes after failures, admin
// actions and new tokens, and an hourly chart of failed and successful logins.

import { api } from "./api.js";
import { h, $ } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function chart(timeline) {
  const box = $("#audit-chart");
  box.replaceChildren();
  if (!timeline.length) return;
  const max = Math.max(1, ...timeline.map((b) => b.failures + b.successes));
  const w = 800 / timeline.length;
  timeline.forEach((b, i) => {
    const hs = (b.successes / max) * 110;
    const hf = (b.failures / max) * 110;
    const x = i * w + 1;
    const bw = Math.max(1, w - 2);
    const ok = svg("rect", { x, y: 120 - hs, width: bw, height: hs, class: "bar-ok" });
    const bad = svg("rect", { x, y: 120 - hs - hf, width: bw, height: hf, class: "bar-bad" });
    const title = svg("title", {});
    title.textContent = `${b.hour}: ${b.failures} failed, ${b.successes} successful`;
    bad.append(title);
    box.append(ok, bad);
  });
}

function table(title, cols, rows) {
  return h("div", { class: "audit-block" },
    h("h3", {}, `${title} (${rows.length})`),
    rows.length
      ? h("table", { class: "grid small" },
          h("thead", {}, h("tr", {}, cols.map(([label]) => h("th", {}, label)))),
          h("tbody", {}, rows.map((r) => h("tr", {}, cols.map(([, key]) => h("td", {}, String(r[key])))))))
      : h("p", { class: "muted" }, "none"));
}

export async function reviewAudit(deployment, onError) {
  try {
    const r = await api.auditReview(deployment, Number($("#audit-since").value));
    chart(r.timeline);
    $("#audit-tables").replaceChildren(
      table("Failed logins by IP", [["IP", "ip"], ["failures", "failures"], ["first", "first"], ["last", "last"]], r.failed_by_ip),
      table("Successful logins after failures", [["IP", "ip"], ["user", "user"], ["at", "at"], ["failures before", "failures_before"]], r.success_after_failures),
      table("Admin actions", [["at", "at"], ["action", "action"], ["user", "user"], ["IP", "ip"]], r.admin_actions),
      table("New tokens", [["at", "at"], ["user", "user"], ["IP", "ip"]], r.new_tokens),
    );
  } catch (e) {
    onError(e);
  }
}

export async function showJournal(onError) {
  try {
    const { entries, verification: v } = await api.journal();
    const head = v.head ? ` · head seq ${v.head.seq} sha256 ${v.head.hash}` : "";
    $("#journal-chain").textContent = v.ok
      ? `chain intact · ${v.entries} entries${head}`
      : `JOURNAL TAMPERED: ${v.problems.map((p) => `${p.kind.replaceAll("_", " ")}: ${p.message}`).join("; ")}`;
    $("#journal-chain").className = v.ok ? "ok" : "bad";
    $("#journal-table tbody").replaceChildren(
      ...entries.slice(-30).reverse().map((e) =>
        h("tr", {}, h("td", {}, String(e.seq)), h("td", {}, e.at), h("td", {}, e.operator), h("td", {}, e.deployment), h("td", {}, e.kind),
          h("td", { class: "mono" }, JSON.stringify(e.body)))),
    );
  } catch (e) {
    onError(e);
  }
}
