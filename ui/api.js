// The window's only door to the engine: Tauri commands. Every command, its arguments and
// what it returns are typed by `bindings.d.ts` (generated from the Rust types), and
// `tsc -p ui` checks each call below against them. Errors arrive as an ErrorReport:
// {code, message (for a person), detail (for logs)}.

/** @typedef {import("./bindings").Commands} Commands */
/** @typedef {import("./bindings").ErrorCode} ErrorCode */
/** @typedef {import("./bindings").ErrorReport} ErrorReport */

/**
 * @template {keyof Commands} C
 * @param {C} cmd
 * @param {Commands[C]["args"]} args
 * @returns {Promise<Commands[C]["returns"]>}
 */
const invoke = (cmd, args) => window.__TAURI__.core.invoke(cmd, args);

export const api = {
  listDeployments: () => invoke("list_deployments", {}),
  /** @param {string} name */
  showDeployment: (name) => invoke("show_deployment", { name }),
  /** @param {string} name */
  status: (name) => invoke("deployment_status", { name }),
  /** @param {string} name */
  secrets: (name) => invoke("secret_status", { name }),
  /** @param {string} name @param {string} entry @param {string} value */
  setSecret: (name, entry, value) => invoke("secret_set", { name, entry, value }),
  /** @param {string} name @param {string} entry */
  deleteSecret: (name, entry) => invoke("secret_delete", { name, entry }),
  /** @param {string} name @param {import("./bindings").ActionSpec} spec */
  planAction: (name, spec) => invoke("plan_action", { name, spec }),
  /**
   * Events of this run come back on a channel of this page's own.
   * @param {string} name
   * @param {import("./bindings").ActionSpec} spec
   * @param {string} confirm
   * @param {string | null} planDigest
   * @param {string} key
   * @param {(event: import("./bindings").ActionEvent) => void} onEvent
   */
  runAction: (name, spec, confirm, planDigest, key, onEvent) => {
    /** @type {import("./bindings").Channel<import("./bindings").ActionEvent>} */
    const channel = new window.__TAURI__.core.Channel();
    channel.onmessage = onEvent;
    return invoke("run_action", { name, spec, confirm, planDigest, key, onEvent: channel });
  },
  /** @param {string} key */
  cancelAction: (key) => invoke("cancel_action", { key }),
  interruptedRuns: () => invoke("interrupted_runs", {}),
  /** @param {string} name @param {number} sinceSecs */
  auditReview: (name, sinceSecs) => invoke("audit_review", { name, sinceSecs }),
  journal: () => invoke("journal_entries", {}),
  /** @param {string} name */
  listBackups: (name) => invoke("list_backups", { name }),
  /** @param {string} name */
  restoreHistory: (name) => invoke("restore_history", { name }),
  /**
   * @param {string} name
   * @param {string | null} backup
   * @param {string} key
   * @param {(event: import("./bindings").RestoreEvent) => void} onEvent
   */
  restoreTest: (name, backup, key, onEvent) => {
    /** @type {import("./bindings").Channel<import("./bindings").RestoreEvent>} */
    const channel = new window.__TAURI__.core.Channel();
    channel.onmessage = onEvent;
    return invoke("restore_test", { name, backup, key, onEvent: channel });
  },
  /** @param {string} name */
  incidentCurrent: (name) => invoke("incident_current", { name }),
  /** @param {string} name @param {string} title */
  incidentOpen: (name, title) => invoke("incident_open", { name, title }),
  /** @param {number} id @param {string} text */
  incidentNote: (id, text) => invoke("incident_note", { id, text }),
  /** @param {number} id */
  incidentClose: (id) => invoke("incident_close", { id }),
  /** @param {number} id @param {"md" | "html"} format */
  incidentReport: (id, format) => invoke("incident_report", { id, format }),
  runbookList: () => invoke("runbook_list", {}),
  /** @param {string} name @param {string} runbook @param {Array<[string, string]>} params */
  runbookStart: (name, runbook, params) => invoke("runbook_start", { name, runbook, params }),
  /** @param {string} name @param {string} runId @param {number} step @param {string} title @param {boolean} done @param {string} detail */
  runbookStep: (name, runId, step, title, done, detail) => invoke("runbook_step", { name, runId, step, title, done, detail }),
  /** @param {string} name */
  hardenAudit: (name) => invoke("harden_audit", { name }),
  /**
   * @param {string} name
   * @param {string} check
   * @param {string | null} host
   * @param {string | null} subject
   * @param {string} reason
   * @param {string} duration like 90d
   */
  hardenAccept: (name, check, host, subject, reason, duration) =>
    invoke("harden_accept", { name, check, host, subject, reason, duration }),
  /** @param {string} name @param {"md" | "html"} format */
  hardenExport: (name, format) => invoke("harden_export", { name, format }),
  /** @param {string} name */
  hardenHistory: (name) => invoke("harden_history", { name }),
  /** @param {string} name @param {string} host @param {string} fingerprint */
  trustHost: (name, host, fingerprint) => invoke("trust_host", { name, host, fingerprint }),
  /** @param {string} name @param {string[]} hosts @param {string | null} key @param {string[]} dockerSockets @param {string | null} project */
  initDiscover: (name, hosts, key, dockerSockets, project) => invoke("init_discover", { name, hosts, key, dockerSockets, project }),
  /** @param {string} name @param {string} profileText */
  initFinish: (name, profileText) => invoke("init_finish", { name, profileText }),
  /** @param {string} name */
  initAbandon: (name) => invoke("init_abandon", { name }),
};

/**
 * Whether `e` is the engine's error `code` (a code the engine does not have fails `tsc`).
 * @param {unknown} e
 * @param {ErrorCode} code
 */
export const isError = (e, code) => typeof e === "object" && e !== null && /** @type {any} */ (e).code === code;

/**
 * An error raised by the page itself, shaped like the engine's.
 * @param {ErrorCode} code
 * @param {string} message
 * @returns {ErrorReport}
 */
export const pageError = (code, message) => ({ code, message, detail: message });
