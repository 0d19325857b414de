import { api, pageError } from "./api.js";
import { h, $, requireFingerprintTyped } from "./dom.js";
import { initContain, showContain } from "./contain.js";
import { initAdd, showAdd } from "./add.js";
import { reviewAudit, showJournal } from "./audit.js";
import { listBackups, runRestoreTest, showRestoreHistory } from "./restore.js";
import { initHarden, showHarden } from "./harden.js";
import { initIncident, showIncident } from "./incident.js";
import { initRunbook, showRunbook } from "./runbook.js";
import { initPalette } from "./palette.js";

const state = { deployments: [], selected: null };

function showError(err) {
  const box = $("#error");
  const code = err && err.code ? `[${err.code}] ` : "";
  box.textContent = code + (err && err.message ? err.message : String(err));
  box.hidden = false;
}

function renderList() {
  const ul = $("#deployments");
  ul.replaceChildren(
    ...state.deployments.map((d) =>
      h("li", {},
        h("button", {
          class: "deployment" + (state.selected === d.name ? " selected" : ""),
          "data-name": d.name,
          onclick: () => select(d.name),
        },
          h("span", { class: "dep-name" }, d.name),
          h("span", { class: "dep-sub" }, `${d.app_profile} · ${d.hosts.length} host${d.hosts.length === 1 ? "" : "s"}`),
        ),
      ),
    ),
  );
  $("#deployments-empty").hidden = state.deployments.length > 0;
}

async function select(name) {
  state.selected = name;
  renderList();
  try {
    const d = await api.showDeployment(name);
    $("#welcome").hidden = true;
    $("#add").hidden = true;
    $("#deployment").hidden = false;
    $("#context").textContent = d.name;
    $("#dep-name").textContent = d.name;
    $("#dep-meta").textContent = [`app profile ${d.app_profile}`, d.public_url, d.description].filter(Boolean).join(" · ");
    $("#hosts tbody").replaceChildren(
      ...d.hosts.map((host) =>
        h("tr", { "data-host": host.name, "data-pinned": host.host_key ? "profile" : null },
          h("td", {}, host.name),
          h("td", { class: "mono" }, `${host.address}:${host.port}`),
          h("td", {}, host.roles.map((r) => h("span", { class: `role role-${r}` }, r))),
          h("td", { class: "mono" }, host.host_key || h("span", { class: "warn" }, "not pinned — trust on first connection")),
          h("td", { class: "state muted" }, "…"),
        ),
      ),
    );
    $("#services").replaceChildren(...d.services.map((s) => h("li", {}, s)));
    $("#status-meta").textContent = "";
    $("#checks").replaceChildren();
    showContain(d.name, d.hosts.map((x) => x.name));
    showIncident(d.name);
    showRunbook(d.name);
    showHarden(d.name, showError);
    // Opening a deployment checks it at once: status only reads.
    refreshStatus();
    await renderSecrets();
  } catch (e) {
    showError(e);
  }
}

function hostState(hs) {
  if (hs.reachable) {
    return h("span", { class: "ok" }, `up · ${hs.latency_ms.toFixed(1)} ms`);
  }
  const p = hs.host_key_problem;
  if (p && p.kind === "unknown") {
    return h("button", { class: "btn warn-btn", "data-trust": hs.name, onclick: () => askTrust(hs.name, p) }, "Unknown key — review");
  }
  if (p && p.kind === "changed") {
    return h("span", { class: "bad", title: `pinned ${p.pinned}, presented ${p.seen}` }, "KEY CHANGED — refused");
  }
  return h("span", { class: "bad", title: hs.error ? hs.error.message : "" }, hs.error ? hs.error.code : "down");
}

function renderStatus(st) {
  $("#status-meta").textContent = `checked in ${Math.round(st.took_ms)} ms`;
  for (const hs of st.hosts) {
    const row = $(`#hosts tr[data-host="${CSS.escape(hs.name)}"]`);
    if (!row) continue;
    const cells = [...row.children].slice(0, 4);
    if (hs.host_key && !row.dataset.pinned) {
      // Not pinned by the profile, but trusted locally: show which key.
      cells[3] = h("td", { class: "mono" }, hs.host_key, " ", h("span", { class: "muted" }, "(trusted here)"));
    }
    row.replaceChildren(...cells, h("td", { class: "state" }, hostState(hs)));
    if (hs.host_key_problem && hs.host_key_problem.kind === "changed") {
      showError(pageError("ssh.host_key_changed", hs.error.message));
    }
  }
  const containers = st.hosts.flatMap((hs) => hs.containers);
  $("#containers tbody").replaceChildren(
    ...(containers.length
      ? containers.map((c) =>
          h("tr", { "data-container": c.name },
            h("td", {}, c.host),
            h("td", {}, c.name),
            h("td", {}, c.compose_service || ""),
            h("td", {}, c.state),
            h("td", {}, h("span", { class: c.health === "healthy" ? "ok" : c.health === "none" ? "muted" : "bad" }, c.health)),
            h("td", {}, String(c.restart_count)),
            h("td", { class: "mono" }, c.image),
          ))
      : [h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No container reachable."))]),
    ...st.hosts.filter((hs) => hs.other_containers.length).map((hs) =>
      h("tr", { class: "muted" }, h("td", {}, hs.name),
        h("td", { colspan: "6", class: "muted" },
          `+ ${hs.other_containers.length} other container(s) on this host, not the deployment's (not judged)`))),
  );
  const checks = [["Database", st.database], ["App /health", st.app_health]].filter(([, c]) => c);
  $("#checks").replaceChildren(
    ...checks.map(([label, c]) =>
      h("div", { class: "check " + (c.ok ? "ok" : "bad"), "data-check": label },
        h("strong", {}, label), " ", c.ok ? "ok" : "FAIL", " · ",
        c.latency_ms != null ? `${c.latency_ms.toFixed(1)} ms · ` : "",
        c.detail || (c.error ? c.error.message : ""))),
  );
}

// One status check at a time. A check asked for while one runs (a trust decision, the
// live timer, another deployment selected) runs right after it, so the last request
// always wins; a result for a deployment no longer shown is not painted.
let statusRunning = false;
let statusAgain = false;
async function refreshStatus() {
  if (!state.selected) return;
  if (statusRunning) {
    statusAgain = true;
    return;
  }
  statusRunning = true;
  const btn = $("#refresh");
  btn.disabled = true;
  btn.textContent = "Checking…";
  try {
    do {
      statusAgain = false;
      const name = state.selected;
      try {
        const st = await api.status(name);
        if (name === state.selected) renderStatus(st);
        else statusAgain = true;
      } catch (e) {
        // An error of a deployment no longer shown is not this one's.
        if (name === state.selected) showError(e);
        else statusAgain = true;
      }
    } while (statusAgain && state.selected);
  } finally {
    statusRunning = false;
    btn.disabled = false;
    btn.textContent = "Check status";
  }
}

async function renderSecrets() {
  const rows = await api.secrets(state.selected);
  $("#secrets tbody").replaceChildren(
    ...(rows.length
      ? rows.map((r) =>
          h("tr", { "data-secret": r.name },
            h("td", { class: "mono" }, r.name),
            h("td", {}, r.purpose),
            h("td", {}, h("span", { class: r.set ? "ok" : "warn" }, r.set ? "set" : "not set")),
            h("td", {},
              h("button", { class: "btn", onclick: () => openSecretForm(r.name) }, r.set ? "Replace…" : "Set…"),
              r.set ? h("button", { class: "btn", onclick: () => deleteSecret(r.name) }, "Delete") : null),
          ))
      : [h("tr", {}, h("td", { colspan: "4", class: "muted" }, "This profile reads no credential from the keychain."))]),
  );
}

function openSecretForm(entry) {
  const form = $("#secret-form");
  $("#secret-entry").value = entry || "";
  $("#secret-entry").readOnly = Boolean(entry);
  $("#secret-value").value = "";
  form.hidden = false;
  (entry ? $("#secret-value") : $("#secret-entry")).focus();
}

function closeSecretForm() {
  $("#secret-value").value = "";
  $("#secret-form").hidden = true;
}

async function saveSecret(ev) {
  ev.preventDefault();
  if (!$("#secret-entry").value.trim() || !$("#secret-value").value) {
    showError(pageError("argument.invalid", "an entry name and a value are both needed"));
    return;
  }
  const entry = $("#secret-entry").value.trim();
  const value = $("#secret-value").value;
  // The value leaves the page at once; nothing keeps it.
  $("#secret-value").value = "";
  try {
    await api.setSecret(state.selected, entry, value);
    closeSecretForm();
    await renderSecrets();
  } catch (e) {
    showError(e);
  }
}

async function deleteSecret(entry) {
  try {
    await api.deleteSecret(state.selected, entry);
    await renderSecrets();
  } catch (e) {
    showError(e);
  }
}

let liveTimer = null;
function setLive(on) {
  clearInterval(liveTimer);
  liveTimer = on ? setInterval(refreshStatus, 10000) : null;
  if (on) refreshStatus();
}

function askTrust(host, problem) {
  const dlg = $("#trust-dialog");
  $("#trust-host").textContent = host;
  $("#trust-type").textContent = problem.key_type;
  $("#trust-fingerprint").textContent = problem.fingerprint;
  requireFingerprintTyped($("#trust-typed"), $("#trust-accept"), problem.fingerprint);
  $("#trust-accept").onclick = async () => {
    if ($("#trust-accept").disabled) return;
    dlg.close();
    try {
      await api.trustHost(state.selected, host, problem.fingerprint);
      await refreshStatus();
    } catch (e) {
      showError(e);
    }
  };
  $("#trust-cancel").onclick = () => dlg.close();
  dlg.showModal();
  // The comparison has the focus: the trust button stays disabled until the tail of the
  // fingerprint is typed, so Enter or a habitual click never trusts by accident.
  $("#trust-typed").focus();
}

// Runs the journal shows as started and never finished, with each step's state. Undo
// goes through the Contain panel's plan and typed confirmation like any action.
async function showInterrupted() {
  try {
    const runs = await api.interruptedRuns();
    const list = $("#interrupted-list");
    list.replaceChildren(...runs.map((r) => h("div", { class: "interrupted-run" },
      h("p", {}, h("strong", {}, `${r.action} on ${r.deployment}`), ` — run ${r.run_id}, by ${r.operator} at ${r.at}: ${r.summary}`),
      h("ol", { class: "mono small" }, ...r.steps.map((st) => h("li", { class: st.state.startsWith("done") ? "done" : "warn" }, `${st.description}: ${st.state}`))),
      h("p", { class: "muted" }, r.undoable
        ? `Undo it: breakglass undo ${r.deployment} ${r.run_id} (or choose "Undo a run" in Contain).`
        : `Nothing of it can be undone; close it with breakglass undo ${r.deployment} ${r.run_id}.`))));
    $("#interrupted").hidden = runs.length === 0;
  } catch (e) {
    showError(e);
  }
}

async function start() {
  $("#refresh").addEventListener("click", refreshStatus);
  initContain(showError);
  $("#audit-run").addEventListener("click", () => reviewAudit(state.selected, showError));
  $("#restore-list").addEventListener("click", async () => {
    await listBackups(state.selected, showError);
    await showRestoreHistory(state.selected, showError);
  });
  $("#restore-run").addEventListener("click", () => runRestoreTest(state.selected, showError));
  $("#journal-load").addEventListener("click", () => showJournal(showError));
  initHarden(() => state.selected, showError);
  initIncident(showError);
  initRunbook(showError);
  initPalette(() => ({ deployments: state.deployments.map((d) => d.name), selected: state.selected }), select, showError);
  $("#live").addEventListener("change", (e) => setLive(e.target.checked));
  $("#secret-store").addEventListener("click", saveSecret);
  $("#secret-value").addEventListener("keydown", (e) => { if (e.key === "Enter") saveSecret(e); });
  $("#secret-cancel").addEventListener("click", closeSecretForm);
  $("#secret-add").addEventListener("click", () => openSecretForm(null));
  $("#error").addEventListener("click", () => { $("#error").hidden = true; });
  $("#add-open").addEventListener("click", showAdd);
  initAdd(showError, async (name) => {
    state.deployments = await api.listDeployments();
    await select(name);
  });
  showInterrupted();
  try {
    state.deployments = await api.listDeployments();
    renderList();
    if (state.deployments.length === 1) await select(state.deployments[0].name);
  } catch (e) {
    showError(e);
  }
}

// A fault in the page itself is shown like any other error, never swallowed.
window.addEventListener("error", (e) => showError(pageError("ui.error", e.message)));
window.addEventListener("unhandledrejection", (e) => showError(e.reason && e.reason.code ? e.reason : pageError("ui.error", String(e.reason))));

start();
