// The window's only door to the engine: Tauri commands. Errors arrive as {code, message}.

const invoke = (cmd, args) => window.__TAURI__.core.invoke(cmd, args);

export const api = {
  listDeployments: () => invoke("list_deployments"),
  showDeployment: (name) => invoke("show_deployment", { name }),
  status: (name) => invoke("deployment_status", { name }),
  secrets: (name) => invoke("secret_status", { name }),
  setSecret: (name, entry, value) => invoke("secret_set", { name, entry, value }),
  deleteSecret: (name, entry) => invoke("secret_delete", { name, entry }),
  planAction: (name, spec) => invoke("plan_action", { name, spec }),
  runAction: (name, spec, confirm, key) => invoke("run_action", { name, spec, confirm, key }),
  auditReview: (name, sinceSecs) => invoke("audit_review", { name, sinceSecs }),
  journal: () => invoke("journal_entries"),
  onActionEvent: (cb) => window.__TAURI__.event.listen("action-event", (e) => cb(e.payload)),
  trustHost: (name, host, fingerprint) => invoke("trust_host", { name, host, fingerprint }),
};
