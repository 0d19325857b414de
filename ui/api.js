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
  // Events of this run come back on a channel of this page's own.
  runAction: (name, spec, confirm, planDigest, key, onEvent) => {
    const channel = new window.__TAURI__.core.Channel();
    channel.onmessage = onEvent;
    return invoke("run_action", { name, spec, confirm, planDigest, key, onEvent: channel });
  },
  cancelAction: (key) => invoke("cancel_action", { key }),
  interruptedRuns: () => invoke("interrupted_runs"),
  auditReview: (name, sinceSecs) => invoke("audit_review", { name, sinceSecs }),
  journal: () => invoke("journal_entries"),
  trustHost: (name, host, fingerprint) => invoke("trust_host", { name, host, fingerprint }),
};
