// The window's only door to the engine: Tauri commands. Errors arrive as {code, message}.

const invoke = (cmd, args) => window.__TAURI__.core.invoke(cmd, args);

export const api = {
  listDeployments: () => invoke("list_deployments"),
  showDeployment: (name) => invoke("show_deployment", { name }),
  status: (name) => invoke("deployment_status", { name }),
  secrets: (name) => invoke("secret_status", { name }),
  setSecret: (name, entry, value) => invoke("secret_set", { name, entry, value }),
  deleteSecret: (name, entry) => invoke("secret_delete", { name, entry }),
  trustHost: (name, host, fingerprint) => invoke("trust_host", { name, host, fingerprint }),
};
