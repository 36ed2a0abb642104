// The Docker and Podman container lists (cAdvisor's /docker/ and /podman/ pages).

import { h, fill, card } from "./dom.js";
import * as F from "./format.js";
import { every } from "./api.js";
import { displayName, usageOf } from "./container.js";

function searchBox(id, placeholder, onInput) {
  return h("input", { id, type: "search", placeholder, "aria-label": placeholder, oninput: onInput });
}

function matches(q, info) {
  if (!q) return true;
  const spec = info.spec || {};
  return [info.name, info.id || "", spec.image || "", ...(info.aliases || [])].some((x) => x.toLowerCase().includes(q));
}

function idOf(info) {
  return info.id || (info.aliases || []).find((a) => /^[0-9a-f]{64}$/.test(a)) || (info.aliases || [])[0] || "";
}

/** /docker/: every Docker container with its image, CPU and memory, refreshed every 3 s. */
export function dockerList(ctx) {
  const { api, prefix, root, status } = ctx;
  document.title = `Docker containers · ${ctx.title}`;
  const count = h("span", { class: "muted small" });
  const body = h("div", { class: "table-wrap" }, h("p", { class: "muted", text: "Loading…" }));
  let items = [];
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const rows = items.filter((i) => matches(q, i)).sort((a, b) => displayName(a).primary.localeCompare(displayName(b).primary));
    count.textContent = q ? `${rows.length} of ${items.length}` : String(items.length);
    if (!rows.length) {
      fill(body, h("p", { class: "muted", text: items.length ? "No container matches." : "No Docker containers are running." }));
      return;
    }
    const thead = h("thead", {}, h("tr", {}, ["Name", "Image", "CPU", "Memory", "Created", "ID"].map((t, i) =>
      h("th", { class: i >= 2 && i <= 3 ? "num" : null, text: t }))));
    const tbody = h("tbody", {}, rows.map((info) => {
      const spec = info.spec || {};
      const u = usageOf(info);
      const id = idOf(info);
      return h("tr", { "data-name": info.name },
        h("td", {}, h("a", { href: `${prefix}/docker/${encodeURIComponent(id)}`, text: displayName(info).primary })),
        h("td", {}, h("code", { text: spec.image || "" })),
        h("td", { class: "num", text: F.cores(u.cpu) }),
        h("td", { class: "num", text: F.bytes(u.mem) }),
        h("td", { text: F.isKnownTime(spec.creation_time) ? F.age(F.parseTime(spec.creation_time)) + " ago" : "" }),
        h("td", {}, h("code", { text: F.shortId(id) })));
    }));
    fill(body, h("table", { class: "grid" }, thead, tbody));
  };
  const search = searchBox("container-search", "Filter containers…", render);
  fill(root, h("div", { class: "page-head" }, h("h1", { text: "Docker containers" })),
    card("Containers", { id: "docker-containers", aside: count }, search, body));
  every(3000, async () => {
    try {
      items = Object.values(await api.docker("", { num_stats: 2 }));
      render();
      status.ok(Date.now());
    } catch (e) {
      status.error(e.message);
      fill(body, h("p", { class: "muted", text: "Docker containers are not available: " + e.message }));
    }
  });
}

/** /podman/: every Podman container (spec only), refreshed every 10 s. */
export function podmanList(ctx) {
  const { api, prefix, root, status } = ctx;
  document.title = `Podman containers · ${ctx.title}`;
  const count = h("span", { class: "muted small" });
  const body = h("div", { class: "table-wrap" }, h("p", { class: "muted", text: "Loading…" }));
  let items = [];
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const rows = items.filter((i) => matches(q, i)).sort((a, b) => displayName(a).primary.localeCompare(displayName(b).primary));
    count.textContent = q ? `${rows.length} of ${items.length}` : String(items.length);
    if (!rows.length) {
      fill(body, h("p", { class: "muted", text: items.length ? "No container matches." : "No Podman containers are running." }));
      return;
    }
    const thead = h("thead", {}, h("tr", {}, ["Name", "Image", "Created", "ID"].map((t) => h("th", { text: t }))));
    const tbody = h("tbody", {}, rows.map((info) => {
      const id = idOf(info);
      return h("tr", { "data-name": info.name },
        h("td", {}, h("a", { href: `${prefix}/podman/${encodeURIComponent(id)}`, text: displayName(info).primary })),
        h("td", {}, h("code", { text: info.spec.image || "" })),
        h("td", { text: F.isKnownTime(info.spec.creation_time) ? F.age(F.parseTime(info.spec.creation_time)) + " ago" : "" }),
        h("td", {}, h("code", { text: F.shortId(id) })));
    }));
    fill(body, h("table", { class: "grid" }, thead, tbody));
  };
  const search = searchBox("container-search", "Filter containers…", render);
  fill(root, h("div", { class: "page-head" }, h("h1", { text: "Podman containers" })),
    card("Containers", { id: "podman-containers", aside: count }, search, body));
  every(10000, async () => {
    try {
      const specs = await api.podman("");
      // v2 specs carry aliases and namespace themselves; shape them like v1 ContainerInfo.
      items = Object.entries(specs).map(([name, spec]) => ({ name, aliases: spec.aliases || [], namespace: spec.namespace, spec }));
      render();
      status.ok(Date.now());
    } catch (e) {
      status.error(e.message);
      fill(body, h("p", { class: "muted", text: "Podman containers are not available: " + e.message }));
    }
  });
}
