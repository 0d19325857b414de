// The hardening audit: run it, read the score and what combines into a worse risk, what
// changed since the last audit, and every finding in reading order (failures first, the
// most severe first: the engine's `report::sorted`), each with its evidence, checklist
// item and fix; accept a finding for a while; export the report; past scores.

import { api, pageError } from "./api.js";
import { h, $ } from "./dom.js";

/** @typedef {import("./bindings").HardeningReport} HardeningReport */
/** @typedef {import("./bindings").Finding} Finding */
/** @typedef {import("./bindings").Verdict} Verdict */

/** The deployment the panel shows (a result for another one is not painted). */
let shown = null;

/** As the engine's `FindingRef::label`: `check on host (subject)`. */
const label = (/** @type {{check: string, host: string | null, subject: string | null}} */ f) =>
  `${f.check}${f.host ? ` on ${f.host}` : ""}${f.subject ? ` (${f.subject})` : ""}`;

/** @param {Verdict | null} v */
const word = (v) => (v === null ? "absent" : v === "fail" ? "FAIL" : v);

/** @param {Finding} f */
const verdictOf = (f) => (f.accepted ? "accepted" : f.verdict);

const SVG = "http://www.w3.org/2000/svg";

/** @param {string} tag @param {Record<string, string | number>} attrs */
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/**
 * Empties the panel for a deployment just opened, and shows its past scores.
 * @param {string} deployment @param {(e: unknown) => void} onError
 */
export function showHarden(deployment, onError) {
  shown = deployment;
  $("#harden-summary").hidden = true;
  $("#harden-links").replaceChildren();
  $("#harden-drift").replaceChildren();
  $("#harden-findings tbody").replaceChildren();
  $("#harden-findings").hidden = true;
  $("#harden-export").hidden = true;
  $("#harden-export-md").disabled = true;
  $("#harden-export-html").disabled = true;
  showHardenHistory(deployment, onError);
}

/**
 * Past audits' scores, oldest to newest: a bar each.
 * @param {string} deployment @param {(e: unknown) => void} onError
 */
export async function showHardenHistory(deployment, onError) {
  try {
    const past = (await api.hardenHistory(deployment)).slice(0, 60).reverse();
    if (deployment !== shown) return;
    const box = $("#harden-chart");
    box.replaceChildren();
    const last = past[past.length - 1];
    $("#harden-history").textContent = past.length
      ? `${past.length} audit(s); the last, ${last[0]}: ${last[1]}/100`
      : "No audit yet.";
    const w = 800 / Math.max(past.length, 20);
    past.forEach(([at, score], i) => {
      const hgt = Math.max((score / 100) * 110, 1);
      const bar = svg("rect", { x: i * w + 1, y: 120 - hgt, width: Math.max(1, w - 2), height: hgt, class: score >= 80 ? "bar-ok" : "bar-bad" });
      const title = svg("title", {});
      title.textContent = `${at}: ${score}/100`;
      bar.append(title);
      box.append(bar);
    });
  } catch (e) {
    onError(e);
  }
}

/** @param {HardeningReport} r */
function summary(r) {
  const s = r.score;
  const o = r.observatory;
  const out = $("#harden-summary");
  out.textContent = [
    `Score ${s.value}/100`,
    `${s.fail} failed`,
    `${s.unknown} could not be checked`,
    `${s.warn} warnings`,
    `${s.accepted} accepted`,
    `${s.pass} passed`,
    o ? `HTTP Observatory ${o.score}/100, grade ${o.grade}` : "HTTP Observatory: not scored",
    `took ${r.took_ms} ms`,
  ].join(" · ");
  out.className = `outcome ${s.fail + s.unknown > 0 ? "bad" : s.warn > 0 ? "warn" : "ok"}`;
  out.hidden = false;
}

/** Opens a finding's evidence (from a combined risk) and brings it into view. */
function reveal(/** @type {string} */ id) {
  const btn = document.querySelector(`button[aria-controls="${CSS.escape(id)}"]`);
  if (!(btn instanceof HTMLButtonElement)) return;
  if (btn.getAttribute("aria-expanded") !== "true") btn.click();
  btn.focus();
  btn.scrollIntoView({ block: "center" });
}

/** @param {HardeningReport} r @param {Map<string, string>} ids finding label → its evidence row's id */
function links(r, ids) {
  $("#harden-links").replaceChildren(
    ...(r.links.length ? [h("h3", {}, `Combined risks (${r.links.length})`)] : []),
    ...r.links.map((l) =>
      h("div", { class: "risk", role: "group", "aria-label": l.title },
        h("p", {}, h("strong", {}, l.title), " — ", l.risk),
        h("ul", { class: "small" }, ...l.findings.map((f) => {
          const id = ids.get(label(f));
          return h("li", {}, id
            ? h("button", { class: "linkish mono", type: "button", onclick: () => reveal(id) }, label(f))
            : h("span", { class: "mono" }, label(f)));
        })),
      )),
  );
}

/** @param {HardeningReport} r */
function drift(r) {
  const d = r.drift;
  const box = $("#harden-drift");
  if (!d) {
    box.replaceChildren(h("h3", {}, "Since the last audit"), h("p", { class: "muted" }, "The first audit of this deployment: nothing to compare with."));
    return;
  }
  box.replaceChildren(
    h("h3", {}, `Since the last audit (${d.previous_at}, score ${d.previous_score} → ${r.score.value})`),
    d.changes.length
      ? h("ul", { class: "drift small" }, ...d.changes.map((c) =>
          h("li", { class: c.to === "pass" || c.to === null ? "ok" : c.to === "fail" || c.to === "unknown" ? "bad" : "warn" },
            h("span", { class: "mono" }, label(c)), `: ${word(c.from)} → ${c.to === null ? "gone" : word(c.to)}`)))
      : h("p", { class: "muted" }, "No change."),
  );
}

/**
 * The finding's evidence, checklist item and fix, and the form to accept it.
 * @param {string} deployment @param {Finding} f @param {HTMLElement} row its row in the table
 */
function details(deployment, f, row) {
  const ev = f.evidence;
  const accepted = (/** @type {import("./bindings").Acceptance} */ a) =>
    h("p", { class: "accepted-note" }, `Accepted by ${a.by} until ${a.until}: ${a.reason}`);
  const error = h("p", { class: "form-error bad", role: "alert", hidden: "" });
  const reason = h("input", { class: "accept-reason", spellcheck: "false", autocomplete: "off", size: "48" });
  const duration = h("input", { class: "accept-duration", value: "90d", size: "6", spellcheck: "false", autocomplete: "off" });
  const submit = h("button", { class: "btn accept-submit", type: "submit" }, "Accept");
  const form = h("form", { class: "accept-form form-row", hidden: "" },
    h("label", {}, "Why it is acceptable", reason),
    h("label", {}, "For (at most a year)", duration),
    submit,
    h("button", { class: "btn", type: "button", onclick: () => { form.hidden = true; error.hidden = true; opener.hidden = false; opener.focus(); } }, "Cancel"),
  );
  const opener = h("button", { class: "btn accept-open", type: "button", onclick: () => { form.hidden = false; opener.hidden = true; reason.focus(); } }, "Accept…");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const why = reason.value.trim();
    const d = duration.value.trim();
    const bad = !why ? "give a reason: why is this acceptable?" : !d ? "for how long: a duration like 30d or 12w" : null;
    if (bad) {
      error.textContent = bad;
      error.hidden = false;
      (why ? duration : reason).focus();
      return;
    }
    submit.disabled = true;
    try {
      const a = await api.hardenAccept(deployment, f.check, f.host, f.subject, why, d);
      f.accepted = a;
      form.replaceWith(accepted(a), h("p", { class: "muted small" }, "Not counted in the score from the next audit on."));
      opener.remove();
      const cell = row.querySelector(".verdict");
      if (cell) cell.replaceWith(verdictCell(f));
      row.className = "finding row-accepted";
      row.dataset.verdict = "accepted";
    } catch (e) {
      error.textContent = e && e.message ? e.message : String(e);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  const acceptable = f.verdict !== "pass" && !f.accepted;
  return h("div", { class: "evidence" },
    h("dl", {},
      h("dt", {}, "Command"), h("dd", {}, ev ? h("code", { class: "ev-command" }, ev.command) : h("span", { class: "muted" }, "no evidence: see the detail")),
      ...(ev ? [
        h("dt", {}, "Output"), h("dd", {}, h("pre", { class: "ev-output mono small" }, ev.output || "(nothing)")),
        h("dt", {}, "SHA-256"), h("dd", {}, h("code", { class: "ev-digest" }, ev.digest)),
      ] : []),
      h("dt", {}, "Checklist"), h("dd", { class: "ev-checklist" }, f.checklist),
      h("dt", {}, "Fix"), h("dd", { class: "ev-fix" }, f.fix || h("span", { class: "muted" }, "nothing to fix")),
    ),
    f.accepted ? accepted(f.accepted) : null,
    acceptable ? opener : null,
    acceptable ? form : null,
    acceptable ? error : null,
  );
}

/** @param {Finding} f */
function verdictCell(f) {
  const v = verdictOf(f);
  return h("td", { class: "verdict" },
    h("span", { class: `badge verdict-${v}` }, f.accepted ? `accepted (${word(f.verdict)})` : word(f.verdict)));
}

/** @param {string} deployment @param {HardeningReport} r */
function render(deployment, r) {
  summary(r);
  /** @type {Map<string, string>} */
  const ids = new Map();
  const rows = r.findings.flatMap((f, i) => {
    const id = `harden-ev-${i}`;
    ids.set(label(f), id);
    /** @type {HTMLElement} */
    const panel = h("tr", { class: "finding-evidence", id, hidden: "" }, h("td", { colspan: "7" }));
    const toggle = () => {
      const open = panel.hidden;
      if (open && !panel.firstElementChild.firstChild) panel.firstElementChild.append(details(deployment, f, row));
      panel.hidden = !open;
      btn.setAttribute("aria-expanded", String(open));
      btn.textContent = open ? "Hide" : "Evidence";
    };
    const btn = h("button", { class: "btn evidence-btn", type: "button", "aria-expanded": "false", "aria-controls": id, onclick: (/** @type {Event} */ e) => { e.stopPropagation(); toggle(); } }, "Evidence");
    /** @type {HTMLElement} */
    const row = h("tr", {
      class: `finding row-${verdictOf(f)}`,
      "data-check": f.check,
      "data-host": f.host ?? "",
      "data-subject": f.subject ?? "",
      "data-verdict": verdictOf(f),
      onclick: toggle,
    },
      verdictCell(f),
      h("td", {}, h("span", { class: `sev sev-${f.severity}` }, f.severity)),
      h("td", { class: "mono" }, f.check),
      h("td", {}, f.host ?? ""),
      h("td", { class: "mono" }, f.subject ?? ""),
      h("td", { class: "detail" }, f.detail),
      h("td", {}, btn),
    );
    return [row, panel];
  });
  links(r, ids);
  drift(r);
  $("#harden-findings tbody").replaceChildren(...rows);
  $("#harden-findings").hidden = false;
}

/** @param {string} deployment @param {(e: unknown) => void} onError */
export async function runHardenAudit(deployment, onError) {
  if (!deployment) return;
  shown = deployment;
  const btn = $("#harden-run");
  btn.disabled = true;
  btn.textContent = "Auditing…";
  $("#harden-export").hidden = true;
  try {
    const r = await api.hardenAudit(deployment);
    if (deployment !== shown) return;
    render(deployment, r);
    $("#harden-export-md").disabled = false;
    $("#harden-export-html").disabled = false;
    await showHardenHistory(deployment, onError);
  } catch (e) {
    if (deployment === shown) onError(e);
  } finally {
    btn.disabled = false;
    btn.textContent = "Run audit";
  }
}

/**
 * The last report as Markdown or HTML, shown as text to copy or save.
 * @param {string} deployment @param {"md" | "html"} format @param {(e: unknown) => void} onError
 */
export async function exportHarden(deployment, format, onError) {
  try {
    const text = await api.hardenExport(deployment, format);
    const name = `hardening-${deployment}-${new Date().toISOString().slice(0, 10)}.${format}`;
    $("#harden-export-name").textContent = name;
    $("#harden-export-text").textContent = text;
    $("#harden-export-note").textContent = "";
    const save = $("#harden-export-save");
    if (save.href.startsWith("blob:")) URL.revokeObjectURL(save.href);
    save.href = URL.createObjectURL(new Blob([text], { type: format === "md" ? "text/markdown" : "text/html" }));
    save.download = name;
    save.onclick = () => { $("#harden-export-note").textContent = `Saving ${name} into the downloads folder.`; };
    $("#harden-export").hidden = false;
    $("#harden-export-copy").onclick = async () => {
      try {
        await navigator.clipboard.writeText(text);
        $("#harden-export-note").textContent = "Copied.";
      } catch {
        // No clipboard here: select the text, for the keyboard's copy.
        const sel = window.getSelection();
        if (sel) sel.selectAllChildren($("#harden-export-text"));
        $("#harden-export-note").textContent = "Selected: press Ctrl+C to copy.";
      }
    };
    $("#harden-export-copy").focus();
  } catch (e) {
    onError(e);
  }
}

/** @param {() => string | null} deployment the deployment shown @param {(e: unknown) => void} onError */
export function initHarden(deployment, onError) {
  $("#harden-run").addEventListener("click", () => runHardenAudit(deployment(), onError));
  for (const format of /** @type {const} */ (["md", "html"])) {
    $(`#harden-export-${format}`).addEventListener("click", () => {
      const d = deployment();
      if (d) exportHarden(d, format, onError);
      else onError(pageError("argument.invalid", "choose a deployment first"));
    });
  }
  $("#harden-export-close").addEventListener("click", () => {
    $("#harden-export").hidden = true;
    $("#harden-export-text").textContent = "";
  });
}
