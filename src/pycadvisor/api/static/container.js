// The page of one container (cgroup, Docker or Podman container); on "/" also the machine overview.
// Data: POST api/v1.0/containers<name> {"num_stats":60} once, then every second only the samples newer
// than the last one ("start"); subcontainers every 3 s with 2 samples each (for their CPU rate);
// machine info once; processes every 60 s (as cAdvisor's containers.js).

import { h, fill, card, facts, table } from "./dom.js";
import * as F from "./format.js";
import { LineChart, Gauge, BarList, PALETTE } from "./charts.js";
import { encodePath, every } from "./api.js";
import { AppMetricsCard } from "./appmetrics.js";

const MAX_SAMPLES = 60;
const HUGE = 2 ** 62; // cgroup "unlimited" values (2^63 - 4096 on v1, 2^64 - 1 on v2) are above this

/** {primary, secondary}: shortest alias not part of the cgroup name, as cAdvisor's page title. */
export function displayName(info) {
  const name = info.name || "/";
  let best = null;
  for (const a of info.aliases || []) {
    if (a && !name.includes(a) && a.length <= 50 && (best === null || a.length < best.length)) best = a;
  }
  return best ? { primary: best, secondary: name } : { primary: name, secondary: "" };
}

export function containerHref(prefix, name) {
  return `${prefix}/containers${encodePath(name === "/" ? "/" : name)}`;
}

/** Rates per second between consecutive samples of a cumulative counter; resets are skipped. */
export function rates(samples, get, scale = 1) {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const a = get(samples[i - 1].s);
    const b = get(samples[i].s);
    if (a === null || a === undefined || b === null || b === undefined) continue;
    const dt = (samples[i].t - samples[i - 1].t) / 1000;
    if (dt <= 0 || b < a) continue;
    out.push([samples[i].t, (b - a) / dt / scale]);
  }
  return out;
}

function values(samples, get) {
  const out = [];
  for (const x of samples) {
    const v = get(x.s);
    if (v !== null && v !== undefined && Number.isFinite(v)) out.push([x.t, v]);
  }
  return out;
}

function ioSum(stats, op) {
  if (!stats.diskio) return null; // not collected
  let total = 0; // collected, and no device seen any I/O yet when the list is empty
  for (const dev of stats.diskio.io_service_bytes || []) total += (dev.stats && dev.stats[op]) || 0;
  return total;
}

function iface(stats, name) {
  const net = stats.network;
  if (!net) return null;
  return (net.interfaces || []).find((i) => i.name === name) || (net.name === name ? net : null);
}

function limitText(v) {
  return v && v < HUGE ? F.bytes(v) : "unlimited";
}

function chips(items, cls = "chip") {
  return h("span", { class: "chips" }, items.map((t) => h("span", { class: cls, text: t })));
}

/** CPU usage in cores of each subcontainer from its newest two samples; memory from the newest. */
export function usageOf(info) {
  const st = info.stats || [];
  const last = st[st.length - 1];
  const prev = st[st.length - 2];
  let cpu = null;
  if (last && prev && last.cpu && prev.cpu) {
    const dt = (F.parseTime(last.timestamp) - F.parseTime(prev.timestamp)) / 1000;
    const d = last.cpu.usage.total - prev.cpu.usage.total;
    if (dt > 0 && d >= 0) cpu = d / dt / 1e9;
  }
  const mem = last && last.memory ? last.memory.usage : null;
  return { cpu, mem };
}

export class ContainerPage {
  /**
   * ctx: {root, api, prefix, status, title}; source: {kind, fetch(body) -> ContainerInfo, crumbs, cgroup}.
   */
  constructor(ctx, source) {
    this.ctx = ctx;
    this.source = source;
    this.samples = [];
    this.iface = null;
    this.stops = [];
  }

  async start() {
    const { api, status, root } = this.ctx;
    let machine;
    let info;
    try {
      [machine, info] = await Promise.all([api.machine(), this.source.fetch({ num_stats: MAX_SAMPLES })]);
    } catch (e) {
      status.error(e.message);
      fill(root, this.errorCard(e));
      return;
    }
    this.machine = machine;
    this.info = info;
    this.merge(info.stats || []);
    this.build();
    this.render();
    status.ok(this.lastTime());
    let first = true;
    this.stops.push(
      every(1000, async () => {
        if (first) {
          first = false; // the first tick is the load above
          return;
        }
        await this.poll();
      }),
    );
    if (this.sub || this.top) this.stops.push(every(3000, () => this.pollSubcontainers()));
    this.stops.push(every(60000, () => this.pollProcesses()));
  }

  errorCard(e) {
    const { prefix } = this.ctx;
    const what = this.source.kind === "containers" ? this.source.cgroup : this.source.alias;
    return card(
      "Container not available",
      { class: "error", id: "error" },
      h("p", {}, "Could not load ", h("code", { text: what || "/" }), ": "),
      h("pre", { class: "error-text", text: e.message }),
      h("p", {}, h("a", { href: `${prefix}/containers/`, text: "Back to the root container" })),
    );
  }

  lastTime() {
    return this.samples.length ? this.samples[this.samples.length - 1].t : Date.now();
  }

  merge(stats) {
    const last = this.samples.length ? this.samples[this.samples.length - 1].t : -Infinity;
    for (const st of stats) {
      const t = F.parseTime(st.timestamp);
      if (Number.isFinite(t) && t > last) this.samples.push({ t, s: st, ts: st.timestamp });
    }
    this.samples.sort((a, b) => a.t - b.t);
    if (this.samples.length > MAX_SAMPLES) this.samples.splice(0, this.samples.length - MAX_SAMPLES);
  }

  async poll() {
    const { status } = this.ctx;
    const body = { num_stats: MAX_SAMPLES };
    // Only samples newer than the newest one held (the API's "start" bound is inclusive).
    if (this.samples.length) body.start = F.nextNanosecond(this.samples[this.samples.length - 1].ts);
    try {
      const info = await this.source.fetch(body);
      this.info = info;
      this.merge(info.stats || []);
      this.render();
      status.ok(this.lastTime());
    } catch (e) {
      status.error(e.message);
    }
  }

  // ------------------------------------------------------------------ layout

  build() {
    const { root } = this.ctx;
    const info = this.info;
    const spec = info.spec || {};
    const isRoot = this.source.kind === "containers" && info.name === "/";
    const dn = displayName(info);
    document.title = `${dn.primary} · ${this.ctx.title}`;

    const sub = isRoot ? "the root cgroup: the whole machine" : dn.secondary;
    const header = h(
      "div",
      { class: "page-head" },
      isRoot ? null : this.breadcrumb(),
      h("h1", { id: "container-name" }, dn.primary, sub ? h("small", { text: sub }) : null),
    );

    const parts = [header];
    if (isRoot) parts.push(this.machineCard());

    // Overview gauges.
    this.gauges = { cpu: new Gauge({ id: "cpu", title: "CPU" }) };
    if (spec.has_memory) this.gauges.memory = new Gauge({ id: "memory", title: "Memory" });
    this.fsGauges = [];
    this.gaugeRow = h("div", { class: "gauges" }, Object.values(this.gauges).map((g) => g.el));
    parts.push(card("Overview", { id: "overview" }, this.gaugeRow));

    parts.push(h("div", { class: "cols" }, this.identityCard(), this.isolationCard()));

    // Usage charts.
    const charts = [];
    this.charts = {};
    const cpuFmt = (v) => F.cores(v);
    if (spec.has_cpu) {
      this.charts.cpu = new LineChart({
        id: "cpu-total", title: "CPU usage (cores)", format: cpuFmt, minTop: 0.05,
        series: [{ key: "total", label: "Total", color: PALETTE[0], area: true }],
      });
      this.charts.percore = new LineChart({ id: "cpu-per-core", title: "CPU usage per core (cores)", format: cpuFmt,
        minTop: 0.05 });
      this.charts.cpuBreakdown = new LineChart({
        id: "cpu-breakdown", title: "CPU usage breakdown (cores)", format: cpuFmt, minTop: 0.05,
        series: [
          { key: "user", label: "User", color: PALETTE[1] },
          { key: "system", label: "System", color: PALETTE[2] },
        ],
      });
      charts.push(this.charts.cpu.el, this.charts.percore.el, this.charts.cpuBreakdown.el);
    }
    if (spec.has_memory) {
      this.charts.memory = new LineChart({
        id: "memory", title: "Memory", format: F.bytes, scale: "bytes", minTop: 1 << 20,
        series: [
          { key: "usage", label: "Usage", color: PALETTE[0], area: true },
          { key: "ws", label: "Working set", color: PALETTE[3] },
        ],
      });
      charts.push(this.charts.memory.el);
    }
    if (spec.has_network) {
      this.ifaceSelect = h("select", { id: "iface", "aria-label": "Network interface", onchange: () => {
        this.iface = this.ifaceSelect.value;
        this.render();
      } });
      this.charts.network = new LineChart({
        id: "network", title: "Network throughput", format: F.bytesRate, scale: "bytes", minTop: 1024,
        controls: this.ifaceSelect,
        series: [
          { key: "rx", label: "Received", color: PALETTE[1], area: true },
          { key: "tx", label: "Sent", color: PALETTE[0] },
        ],
      });
      this.charts.netErrors = new LineChart({
        id: "network-errors", title: "Network errors and drops", format: F.perSecond, minTop: 1,
        series: [
          { key: "rxe", label: "Receive errors", color: PALETTE[7] },
          { key: "txe", label: "Send errors", color: PALETTE[2] },
          { key: "rxd", label: "Receive drops", color: PALETTE[5] },
          { key: "txd", label: "Send drops", color: PALETTE[10] },
        ],
      });
      charts.push(this.charts.network.el, this.charts.netErrors.el);
    }
    if (spec.has_diskio) {
      this.charts.disk = new LineChart({
        id: "diskio", title: "Block I/O", format: F.bytesRate, scale: "bytes", minTop: 1024,
        series: [
          { key: "read", label: "Read", color: PALETTE[4], area: true },
          { key: "write", label: "Write", color: PALETTE[2] },
        ],
      });
      charts.push(this.charts.disk.el);
    }
    this.charts.processes = new LineChart({
      id: "processes", title: "Processes and threads", format: F.number, minTop: 4,
      series: [
        { key: "procs", label: "Processes", color: PALETTE[0] },
        { key: "threads", label: "Threads", color: PALETTE[3] },
        { key: "fds", label: "Open files", color: PALETTE[6] },
      ],
    });
    this.processesChartEl = this.charts.processes.el;
    charts.push(this.processesChartEl);
    this.fsBars = new BarList({ id: "filesystems", empty: "No filesystem usage collected." });
    this.fsCard = h("figure", { class: "chart", "data-chart": "filesystem" },
      h("figcaption", {}, h("span", { class: "chart-title", text: "Filesystem usage" })), this.fsBars.el);
    if (spec.has_filesystem) charts.push(this.fsCard);
    this.notCollected = h("p", { class: "muted small" });
    parts.push(card("Usage", { id: "usage" }, h("div", { class: "charts" }, charts), this.notCollected));

    // Subcontainers and top users.
    const kids = info.subcontainers || [];
    if (isRoot || kids.length) {
      this.topCpu = new BarList({ id: "top-cpu", empty: "Measuring…" });
      this.topMem = new BarList({ id: "top-memory", empty: "Measuring…" });
      this.top = card(isRoot ? "Top containers" : "Top subcontainers", { id: "top" },
        h("div", { class: "cols" },
          h("div", {}, h("h3", { text: "By CPU usage" }), this.topCpu.el),
          h("div", {}, h("h3", { text: "By memory usage" }), this.topMem.el)));
      parts.push(this.top);
    }
    if (kids.length) parts.push(this.subcontainersCard());

    this.appMetrics = new AppMetricsCard();
    parts.push(this.appMetrics.el);

    this.psBody = h("div", { class: "table-wrap" }, h("p", { class: "muted", text: "Loading processes…" }));
    this.psStamp = h("span", { class: "muted small" });
    parts.push(card("Processes", { id: "processes", aside: this.psStamp }, this.psBody));

    fill(root, parts);
  }

  breadcrumb() {
    const { prefix } = this.ctx;
    const nav = h("nav", { class: "crumbs", "aria-label": "Parents" });
    const kind = this.source.kind;
    if (kind !== "containers") {
      const label = kind === "docker" ? "Docker containers" : "Podman containers";
      nav.append(h("a", { href: `${prefix}/${kind}/`, text: label }));
      return nav;
    }
    const name = this.info.name || "/";
    nav.append(h("a", { href: `${prefix}/containers/`, text: "/" }));
    const parts = name.split("/").filter(Boolean);
    let path = "";
    for (let i = 0; i < parts.length - 1; i++) {
      path += "/" + parts[i];
      nav.append(h("span", { class: "sep", text: "›" }), h("a", { href: containerHref(prefix, path), text: parts[i] }));
    }
    return nav;
  }

  identityCard() {
    const { prefix } = this.ctx;
    const info = this.info;
    const spec = info.spec || {};
    const labels = Object.entries(spec.labels || {}).map(([k, v]) => (v ? `${k}=${v}` : k));
    const envs = Object.entries(spec.envs || {}).map(([k, v]) => `${k}=${v}`);
    const created = F.isKnownTime(spec.creation_time)
      ? `${F.dateTime(spec.creation_time)} (${F.age(F.parseTime(spec.creation_time))} ago)`
      : "";
    const cgroupLink = this.source.kind !== "containers"
      ? h("a", { href: containerHref(prefix, info.name), text: info.name })
      : info.name;
    return card(
      "Identity",
      { id: "identity" },
      facts([
        ["Name", cgroupLink],
        ["ID", info.id ? h("code", { text: info.id }) : ""],
        ["Aliases", (info.aliases || []).length ? chips(info.aliases) : ""],
        ["Namespace", info.namespace || ""],
        ["Image", spec.image ? h("code", { text: spec.image }) : ""],
        ["Created", created],
        ["Labels", labels.length ? chips(labels, "chip label") : ""],
        ["Environment", envs.length ? chips(envs, "chip env") : ""],
      ]),
    );
  }

  isolationCard() {
    const spec = this.info.spec || {};
    const cpu = spec.cpu || {};
    const mem = spec.memory || {};
    const ncpu = this.machine.num_cores || 0;
    const allowed = new Set(F.maskCpus(cpu.mask));
    const coreBoxes = [];
    for (let i = 0; i < ncpu && i < 256; i++) {
      coreBoxes.push(h("span", { class: "core" + (allowed.size === 0 || allowed.has(i) ? " on" : ""), text: i }));
    }
    const quota = cpu.quota && cpu.period
      ? `${F.coresLong(cpu.quota / cpu.period)} (${cpu.quota} µs every ${cpu.period} µs)`
      : "none";
    const rows = [];
    if (spec.has_cpu) {
      rows.push(["CPU shares", String(cpu.limit ?? "")], ["CPU quota", quota], ["Allowed cores", h("span", { class: "cores" }, coreBoxes)]);
    }
    if (spec.has_memory) {
      rows.push(["Memory limit", limitText(mem.limit)], ["Memory reservation", mem.reservation && mem.reservation < HUGE ? F.bytes(mem.reservation) : "none"],
        ["Swap limit", limitText(mem.swap_limit)]);
    }
    if (spec.has_processes && spec.processes) rows.push(["Process limit", spec.processes.limit && spec.processes.limit < HUGE ? String(spec.processes.limit) : "unlimited"]);
    return card("Isolation", { id: "isolation" }, rows.length ? facts(rows) : h("p", { class: "muted", text: "No limits collected." }));
  }

  machineCard() {
    const m = this.machine;
    const tiles = [
      ["CPU", `${m.num_cores} cores`, `${m.num_physical_cores || "?"} physical · ${m.num_sockets || "?"} socket(s) · ${F.hertz(m.cpu_frequency_khz)}`],
      ["Memory", F.bytes(m.memory_capacity), m.swap_capacity ? `swap ${F.bytes(m.swap_capacity)}` : "no swap"],
      ["Filesystems", String((m.filesystems || []).length), `${F.bytes((m.filesystems || []).reduce((a, f) => a + (f.capacity || 0), 0))} in all`],
      ["Network devices", String((m.network_devices || []).length), (m.network_devices || []).map((n) => n.name).join(", ")],
    ];
    const topo = (m.topology || []).map((n) => {
      const caches = (n.caches || []).map((c) => `L${c.level} ${F.bytes(c.size)}`);
      return `node ${n.node_id}: ${(n.cores || []).length} cores, ${F.bytes(n.memory)}${caches.length ? ", " + caches.join(", ") : ""}`;
    });
    const fsTable = table(
      [
        { label: "Device", value: (f) => h("code", { text: f.device }) },
        { label: "Type", value: (f) => f.type },
        { label: "Capacity", value: (f) => F.bytes(f.capacity), class: "num" },
        { label: "Inodes", value: (f) => (f.has_inodes ? F.number(f.inodes) : "–"), class: "num" },
      ],
      m.filesystems || [],
    );
    const netTable = table(
      [
        { label: "Name", value: (n) => n.name },
        { label: "MAC address", value: (n) => h("code", { text: n.mac_address }) },
        { label: "Speed", value: (n) => (n.speed > 0 ? `${n.speed} Mb/s` : "unknown"), class: "num" },
        { label: "MTU", value: (n) => String(n.mtu), class: "num" },
      ],
      m.network_devices || [],
    );
    return card(
      "Machine",
      { id: "machine" },
      h("div", { class: "tiles" }, tiles.map(([k, v, sub]) => h("div", { class: "tile" },
        h("div", { class: "tile-label", text: k }), h("div", { class: "tile-value", text: v }),
        h("div", { class: "tile-sub", text: sub })))),
      h("div", { class: "cols" },
        h("div", {}, h("h3", { text: "Filesystems" }), h("div", { class: "table-wrap" }, fsTable)),
        h("div", {}, h("h3", { text: "Network devices" }), h("div", { class: "table-wrap" }, netTable))),
      facts([
        ["Topology", topo.length ? h("span", {}, topo.map((t) => h("div", { text: t }))) : ""],
        ["Machine ID", m.machine_id ? h("code", { text: m.machine_id }) : ""],
        ["System UUID", m.system_uuid ? h("code", { text: m.system_uuid }) : ""],
        ["Boot ID", m.boot_id ? h("code", { text: m.boot_id }) : ""],
      ]),
    );
  }

  subcontainersCard() {
    this.subUsage = new Map();
    this.subSort = { key: "name", dir: 1 };
    this.search = h("input", {
      id: "subcontainer-search", type: "search", placeholder: "Filter subcontainers…", "aria-label": "Filter subcontainers",
      oninput: () => this.renderSubcontainers(),
    });
    this.subCount = h("span", { class: "muted small" });
    this.subTable = h("div", { class: "table-wrap" });
    this.sub = card("Subcontainers", { id: "subcontainers", aside: this.subCount }, this.search, this.subTable);
    this.renderSubcontainers();
    return this.sub;
  }

  renderSubcontainers() {
    if (!this.sub) return;
    const { prefix } = this.ctx;
    const q = this.search.value.trim().toLowerCase();
    const all = this.info.subcontainers || [];
    let rows = all.map((c) => ({ ref: c, ...(this.subUsage.get(c.name) || { cpu: null, mem: null }) }));
    if (q) {
      rows = rows.filter((r) => [r.ref.name, ...(r.ref.aliases || [])].some((x) => x.toLowerCase().includes(q)));
    }
    const { key, dir } = this.subSort;
    rows.sort((a, b) => {
      if (key === "name") return dir * a.ref.name.localeCompare(b.ref.name);
      return dir * ((a[key] ?? -1) - (b[key] ?? -1));
    });
    const sortBtn = (label, k) => h("button", {
      class: "sort" + (key === k ? " active" : ""), type: "button", text: label + (key === k ? (dir > 0 ? " ▲" : " ▼") : ""),
      onclick: () => {
        this.subSort = { key: k, dir: key === k ? -dir : k === "name" ? 1 : -1 };
        this.renderSubcontainers();
      },
    });
    const thead = h("thead", {}, h("tr", {}, h("th", {}, sortBtn("Name", "name")), h("th", { class: "num" }, sortBtn("CPU", "cpu")),
      h("th", { class: "num" }, sortBtn("Memory", "mem"))));
    const tbody = h("tbody", {}, rows.map((r) => {
      const dn = displayName(r.ref);
      const label = this.source.kind === "containers" && this.info.name !== "/" && r.ref.name.startsWith(this.info.name + "/")
        ? r.ref.name.slice(this.info.name.length + 1) : r.ref.name;
      return h("tr", { "data-name": r.ref.name },
        h("td", {}, h("a", { href: containerHref(prefix, r.ref.name), text: dn.secondary ? `${dn.primary} (${label})` : label })),
        h("td", { class: "num", text: F.cores(r.cpu) }),
        h("td", { class: "num", text: F.bytes(r.mem) }));
    }));
    fill(this.subTable, rows.length ? h("table", { class: "grid" }, thead, tbody)
      : h("p", { class: "muted", text: q ? "No subcontainer matches." : "No subcontainers." }));
    this.subCount.textContent = q ? `${rows.length} of ${all.length}` : `${all.length}`;
  }

  // ------------------------------------------------------------------ data

  render() {
    const spec = this.info.spec || {};
    const smp = this.samples;
    const last = smp.length ? smp[smp.length - 1].s : {};
    const window = smp.length ? { t0: smp[0].t, t1: smp[smp.length - 1].t } : {};
    const ncores = this.machine.num_cores || 1;
    const cpu = spec.cpu || {};
    const cpuLimit = cpu.quota > 0 && cpu.period > 0 ? cpu.quota / cpu.period : F.maskCpus(cpu.mask).length || ncores;
    const memCap = this.machine.memory_capacity || 0;
    const memLimit = spec.memory && spec.memory.limit && spec.memory.limit < HUGE && (!memCap || spec.memory.limit < memCap)
      ? spec.memory.limit : null;
    const missing = [];

    if (this.charts.cpu) {
      const total = rates(smp, (x) => x.cpu && x.cpu.usage.total, 1e9);
      this.charts.cpu.update({ total }, { ...window, limit: cpu.quota > 0 ? cpuLimit : null });
      const n = (last.cpu && last.cpu.usage.per_cpu_usage && last.cpu.usage.per_cpu_usage.length) || 0;
      if (n) {
        const series = [];
        const data = {};
        for (let i = 0; i < n; i++) {
          series.push({ key: "cpu" + i, label: "CPU " + i, color: PALETTE[i % PALETTE.length] });
          data["cpu" + i] = rates(smp, (x) => x.cpu && x.cpu.usage.per_cpu_usage && x.cpu.usage.per_cpu_usage[i], 1e9);
        }
        this.charts.percore.setSeries(series);
        this.charts.percore.update(data, window);
        this.charts.percore.el.hidden = false;
      } else {
        this.charts.percore.el.hidden = true;
        missing.push("per-core CPU usage (not available on cgroup v2)");
      }
      this.charts.cpuBreakdown.update({
        user: rates(smp, (x) => x.cpu && x.cpu.usage.user, 1e9),
        system: rates(smp, (x) => x.cpu && x.cpu.usage.system, 1e9),
      }, window);
      const now = total.length ? total[total.length - 1][1] : null;
      this.gauges.cpu.update(now === null ? null : now / cpuLimit, now === null ? "measuring…" : `${F.coresLong(now)} of ${F.coresLong(cpuLimit)}`);
    }

    if (this.charts.memory) {
      this.charts.memory.update({
        usage: values(smp, (x) => x.memory && x.memory.usage),
        ws: values(smp, (x) => x.memory && x.memory.working_set),
      }, { ...window, limit: memLimit });
      const usage = last.memory ? last.memory.usage : null;
      const denom = memLimit || memCap;
      this.gauges.memory.update(usage === null || !denom ? null : usage / denom,
        usage === null ? "" : `${F.bytes(usage)} of ${F.bytes(denom)}${memLimit ? "" : " (machine)"}`);
    }

    if (this.charts.network) {
      const names = ((last.network && last.network.interfaces) || []).map((i) => i.name);
      if (names.length) {
        if (!this.iface || !names.includes(this.iface)) this.iface = names[0];
        const opts = [...this.ifaceSelect.options].map((o) => o.value);
        if (opts.join() !== names.join()) {
          fill(this.ifaceSelect, names.map((n) => h("option", { value: n, text: n })));
        }
        this.ifaceSelect.value = this.iface;
        const get = (field) => (x) => {
          const i = iface(x, this.iface);
          return i ? i[field] : null;
        };
        this.charts.network.update({ rx: rates(smp, get("rx_bytes")), tx: rates(smp, get("tx_bytes")) }, window);
        this.charts.netErrors.update({
          rxe: rates(smp, get("rx_errors")), txe: rates(smp, get("tx_errors")),
          rxd: rates(smp, get("rx_dropped")), txd: rates(smp, get("tx_dropped")),
        }, window);
        this.charts.network.el.hidden = this.charts.netErrors.el.hidden = false;
      } else {
        this.charts.network.el.hidden = this.charts.netErrors.el.hidden = true;
        missing.push("network (no interface of its own)");
      }
    }

    if (this.charts.disk) {
      const read = rates(smp, (x) => ioSum(x, "Read"));
      const write = rates(smp, (x) => ioSum(x, "Write"));
      this.charts.disk.update({ read, write }, window);
    }

    const hasProc = smp.some((x) => x.s.processes);
    if (hasProc) {
      this.charts.processes.update({
        procs: values(smp, (x) => x.processes && x.processes.process_count),
        threads: values(smp, (x) => x.processes && x.processes.threads_current),
        fds: values(smp, (x) => x.processes && x.processes.fd_count),
      }, window);
    } else {
      missing.push("process counts (the \"process\" metric set is off)");
    }
    this.processesChartEl.hidden = !hasProc;

    // Filesystems: bars, and up to five gauges as cAdvisor's overview.
    const fs = (last.filesystem || []).filter((f) => f.capacity > 0);
    this.fsBars.update(fs.map((f) => ({
      label: f.device || "(unknown device)", value: f.usage, max: f.capacity,
      text: `${F.bytes(f.usage)} of ${F.bytes(f.capacity)}`,
    })));
    fs.slice(0, 5).forEach((f, i) => {
      if (!this.fsGauges[i]) {
        this.fsGauges[i] = new Gauge({ id: "fs" + i, title: `FS #${i + 1}` });
        this.gaugeRow.append(this.fsGauges[i].el);
      }
      this.fsGauges[i].update(f.usage / f.capacity, `${f.device}: ${F.bytes(f.usage)} of ${F.bytes(f.capacity)}`);
    });
    // Threads against the pids limit, when both are known (the "process" metric set is on).
    const pidsLimit = spec.processes && spec.processes.limit;
    if (last.processes && pidsLimit > 0 && pidsLimit < HUGE) {
      if (!this.gauges.pids) {
        this.gauges.pids = new Gauge({ id: "pids", title: "Tasks" });
        this.gaugeRow.insertBefore(this.gauges.pids.el, this.fsGauges.length ? this.fsGauges[0].el : null);
      }
      const used = last.processes.threads_current || last.processes.process_count || 0;
      this.gauges.pids.update(used / pidsLimit, `${F.number(used)} of ${F.number(pidsLimit)} tasks`);
    }
    this.appMetrics.update(spec, last);
    this.notCollected.textContent = missing.length ? "Not collected for this container: " + missing.join("; ") + "." : "";
  }

  async pollSubcontainers() {
    const name = this.info.name;
    let list;
    try {
      list = await this.ctx.api.subcontainers(name, { num_stats: 2 });
    } catch (e) {
      this.ctx.status.error(e.message);
      return;
    }
    const usage = new Map();
    for (const c of list) usage.set(c.name, { ...usageOf(c), ref: c });
    if (this.sub) {
      this.subUsage = usage;
      this.renderSubcontainers();
    }
    if (this.top) {
      const { prefix } = this.ctx;
      const others = [...usage.values()].filter((u) => u.ref.name !== name);
      const row = (u, v, text, max) => {
        const dn = displayName(u.ref);
        let label = dn.primary;
        if (!dn.secondary && name !== "/" && label.startsWith(name + "/")) label = label.slice(name.length + 1);
        return { label, title: u.ref.name, href: containerHref(prefix, u.ref.name), value: v, max, text };
      };
      const byCpu = others.filter((u) => u.cpu !== null).sort((a, b) => b.cpu - a.cpu).slice(0, 10);
      const maxCpu = Math.max(this.machine.num_cores || 1, 0.001);
      this.topCpu.update(byCpu.map((u) => row(u, u.cpu, F.coresLong(u.cpu), maxCpu)));
      const byMem = others.filter((u) => u.mem !== null).sort((a, b) => b.mem - a.mem).slice(0, 10);
      this.topMem.update(byMem.map((u) => row(u, u.mem, F.bytes(u.mem), this.machine.memory_capacity || 1)));
    }
  }

  async pollProcesses() {
    let list;
    try {
      list = await this.ctx.api.ps(this.info.name);
    } catch (e) {
      fill(this.psBody, h("p", { class: "muted", text: "Processes are not available: " + e.message }));
      return;
    }
    list.sort((a, b) => b.percent_cpu - a.percent_cpu || b.rss - a.rss);
    const shown = list.slice(0, 25);
    const t = table(
      [
        { label: "User", value: (p) => p.user },
        { label: "PID", value: (p) => String(p.pid), class: "num" },
        { label: "PPID", value: (p) => String(p.parent_pid), class: "num" },
        { label: "Started", value: (p) => p.start_time },
        { label: "CPU %", value: (p) => p.percent_cpu.toFixed(1), class: "num" },
        { label: "Memory %", value: (p) => p.percent_mem.toFixed(1), class: "num" },
        { label: "RSS", value: (p) => F.bytes(p.rss), class: "num" },
        { label: "Virtual", value: (p) => F.bytes(p.virtual_size), class: "num" },
        { label: "Status", value: (p) => p.status },
        { label: "CPU time", value: (p) => p.running_time, class: "num" },
        { label: "Command", value: (p) => h("code", { text: p.cmd }), class: "cmd" },
      ],
      shown,
      { class: "ps" },
    );
    fill(this.psBody, list.length ? t : h("p", { class: "muted", text: "No processes." }));
    this.psStamp.textContent = `${shown.length} of ${list.length}, by CPU · ${F.clock(Date.now())}`;
  }
}
