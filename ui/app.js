import { api } from "./api.js";
import { h, $ } from "./dom.js";

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
    $("#deployment").hidden = false;
    $("#context").textContent = d.name;
    $("#dep-name").textContent = d.name;
    $("#dep-meta").textContent = [`app profile ${d.app_profile}`, d.public_url, d.description].filter(Boolean).join(" · ");
    $("#hosts tbody").replaceChildren(
      ...d.hosts.map((host) =>
        h("tr", { "data-host": host.name },
          h("td", {}, host.name),
          h("td", { class: "mono" }, `${host.address}:${host.port}`),
          h("td", {}, host.roles.map((r) => h("span", { class: `role role-${r}` }, r))),
          h("td", { class: "mono" }, host.host_key || h("span", { class: "warn" }, "not pinned — trust on first connection")),
        ),
      ),
    );
    $("#services").replaceChildren(...d.services.map((s) => h("li", {}, s)));
  } catch (e) {
    showError(e);
  }
}

async function start() {
  try {
    state.deployments = await api.listDeployments();
    renderList();
    if (state.deployments.length === 1) await select(state.deployments[0].name);
  } catch (e) {
    showError(e);
  }
}

start();
