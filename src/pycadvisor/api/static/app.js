// Entry point: reads the page's configuration and shows the page it asks for.

import { Api } from "./api.js";
import { ContainerPage } from "./container.js";
import { dockerList, podmanList } from "./lists.js";
import { clock } from "./format.js";
import { fill } from "./dom.js";

function config() {
  const el = document.getElementById("pyc-config");
  return JSON.parse(el.textContent);
}

class Status {
  constructor(el) {
    this.el = el;
  }

  ok(t) {
    this.el.className = "status ok";
    this.el.textContent = "Live · " + clock(t);
    this.el.title = "Last sample at " + new Date(t).toString();
  }

  error(message) {
    this.el.className = "status error";
    this.el.textContent = "API error";
    this.el.title = message;
  }
}

function main() {
  const cfg = config();
  const api = new Api(cfg.prefix);
  const root = document.getElementById("app");
  const ctx = { api, root, prefix: cfg.prefix, title: cfg.title, status: new Status(document.getElementById("status")) };
  for (const a of document.querySelectorAll(".nav a")) {
    if (a.dataset.kind === cfg.kind) a.setAttribute("aria-current", "page");
  }
  let source;
  if (cfg.kind === "containers") {
    source = { kind: "containers", cgroup: cfg.name, fetch: (body) => api.container(cfg.name, body) };
  } else if (cfg.kind === "docker") {
    if (!cfg.name) return dockerList(ctx);
    source = {
      kind: "docker",
      alias: cfg.name,
      fetch: async (body) => {
        const found = await api.docker(cfg.name, body);
        const infos = Object.values(found);
        if (!infos.length) throw new Error(`unknown Docker container "${cfg.name}"`);
        return infos[0];
      },
    };
  } else if (cfg.kind === "podman") {
    if (!cfg.name) return podmanList(ctx);
    let cgroup = null;
    source = {
      kind: "podman",
      alias: cfg.name,
      fetch: async (body) => {
        if (cgroup === null) {
          const specs = await api.podman(cfg.name);
          cgroup = Object.keys(specs)[0];
          if (!cgroup) throw new Error(`unknown Podman container "${cfg.name}"`);
        }
        return api.container(cgroup, body);
      },
    };
  } else {
    fill(root, "Unknown page.");
    return;
  }
  new ContainerPage(ctx, source).start();
}

main();
