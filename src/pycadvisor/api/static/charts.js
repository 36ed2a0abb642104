// Small SVG charts drawn by the UI itself: time-series lines, semicircle gauges and bar lists.
// No chart library and nothing fetched from elsewhere. Every widget exposes what it shows as
// data-* attributes (points, latest values), which the browser tests read.

import { h, s, fill } from "./dom.js";
import { clock } from "./format.js";

export const PALETTE = [
  "#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#db2777",
  "#65a30d", "#dc2626", "#4f46e5", "#0d9488", "#ca8a04", "#7c3aed",
];

const W = 640;
const H = 230;
const M = { l: 68, r: 14, t: 12, b: 26 };

function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
}

/** Ticks from 0 to at least max: [step, top]; "bytes" scales step to a power of 1024 first. */
export function yTicks(max, scale, count = 4) {
  let unit = 1;
  if (scale === "bytes") {
    while (max / unit >= 1024) unit *= 1024;
  }
  const step = niceStep(max / unit / count) * unit;
  const top = Math.max(step, Math.ceil(max / step - 1e-9) * step);
  return { step, top };
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

function nearest(points, t) {
  let best = null;
  let bestD = Infinity;
  for (const p of points) {
    const d = Math.abs(p[0] - t);
    if (d < bestD) {
      bestD = d;
      best = p;
    }
  }
  return best;
}

/**
 * A line chart over time. series: [{key, label, color, area?}]; update() takes {key: [[tMs, value], …]}.
 * Options: id, title, format (value -> text), scale ("bytes" or "decimal"), minTop (smallest y range).
 */
export class LineChart {
  constructor({ id, title, format, scale = "decimal", minTop = 1, series = [], controls = null }) {
    this.format = format;
    this.scale = scale;
    this.minTop = minTop;
    this.series = series;
    this.data = {};
    this.updates = 0;
    this.svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img", "aria-label": title });
    this.tip = h("div", { class: "tip", hidden: true });
    this.legend = h("div", { class: "legend" });
    this.el = h(
      "figure",
      { class: "chart", "data-chart": id, "data-points": "0", "data-updates": "0" },
      h("figcaption", {}, h("span", { class: "chart-title", text: title }), controls),
      h("div", { class: "plot-wrap" }, this.svg, this.tip),
      this.legend,
    );
    this.svg.addEventListener("pointermove", (e) => this.hover(e));
    this.svg.addEventListener("pointerleave", () => this.unhover());
  }

  setSeries(series) {
    this.series = series;
  }

  update(data, { limit = null, limitLabel = "limit", t0 = null, t1 = null } = {}) {
    this.data = data;
    this.limit = limit;
    const all = this.series.flatMap((sr) => data[sr.key] || []);
    const times = all.map((p) => p[0]);
    const lo = t0 ?? (times.length ? Math.min(...times) : Date.now() - 60000);
    let hi = t1 ?? (times.length ? Math.max(...times) : Date.now());
    if (hi - lo < 10000) hi = lo + 10000;
    let max = Math.max(this.minTop, ...all.map((p) => p[1]).filter(Number.isFinite));
    if (limit !== null && Number.isFinite(limit)) max = Math.max(max, limit);
    const { step, top } = yTicks(max * 1.08, this.scale);
    this.view = { lo, hi, top };
    const x = (t) => M.l + ((t - lo) / (hi - lo)) * (W - M.l - M.r);
    const y = (v) => H - M.b - (v / top) * (H - M.t - M.b);
    this.x = x;

    const nodes = [];
    // Horizontal grid with value labels.
    for (let v = 0; v <= top + step / 2; v += step) {
      nodes.push(s("line", { class: "grid-line", x1: M.l, x2: W - M.r, y1: y(v), y2: y(v) }));
      nodes.push(s("text", { class: "axis", x: M.l - 6, y: y(v) + 4, "text-anchor": "end" }, this.format(v)));
    }
    // Time axis: a round step giving at most 6 labels.
    const span = (hi - lo) / 1000;
    const tstep = (TIME_STEPS.find((st) => span / st <= 6) || 86400) * 1000;
    for (let t = Math.ceil(lo / tstep) * tstep; t <= hi; t += tstep) {
      nodes.push(s("line", { class: "tick", x1: x(t), x2: x(t), y1: H - M.b, y2: H - M.b + 4 }));
      nodes.push(s("text", { class: "axis", x: x(t), y: H - 6, "text-anchor": "middle" }, clock(t)));
    }
    nodes.push(s("line", { class: "axis-line", x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b }));
    if (limit !== null && Number.isFinite(limit)) {
      nodes.push(s("line", { class: "limit", x1: M.l, x2: W - M.r, y1: y(limit), y2: y(limit) }));
      nodes.push(
        s("text", { class: "limit-label", x: W - M.r - 4, y: y(limit) - 5, "text-anchor": "end" },
          `${limitLabel} ${this.format(limit)}`),
      );
    }
    let drawn = 0;
    for (const sr of this.series) {
      const pts = (data[sr.key] || []).filter((p) => Number.isFinite(p[1]));
      if (!pts.length) continue;
      drawn += pts.length;
      const d = pts.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
      if (sr.area) {
        const first = x(pts[0][0]).toFixed(1);
        const last = x(pts[pts.length - 1][0]).toFixed(1);
        const base = y(0).toFixed(1);
        nodes.push(s("path", { class: "area", d: `${d}L${last},${base}L${first},${base}Z`, fill: sr.color }));
      }
      nodes.push(s("path", { class: "line", d, stroke: sr.color, "data-series": sr.key }));
      if (pts.length === 1) {
        nodes.push(s("circle", { cx: x(pts[0][0]), cy: y(pts[0][1]), r: 3, fill: sr.color }));
      }
    }
    if (!drawn) {
      nodes.push(
        s("text", { class: "empty", x: (W + M.l) / 2, y: H / 2, "text-anchor": "middle" }, "Waiting for samples…"),
      );
    }
    this.guide = s("line", { class: "guide", x1: 0, x2: 0, y1: M.t, y2: H - M.b, visibility: "hidden" });
    nodes.push(this.guide);
    fill(this.svg, nodes);

    // Legend with the latest value of each series.
    const latest = {};
    const items = [];
    for (const sr of this.series) {
      const pts = data[sr.key] || [];
      const last = pts.length ? pts[pts.length - 1][1] : null;
      latest[sr.key] = last;
      const sw = h("span", { class: "swatch" });
      sw.style.background = sr.color;
      items.push(
        h("span", { class: "legend-item", "data-series": sr.key }, sw, h("span", { text: sr.label }),
          h("b", { text: last === null ? "–" : this.format(last) })),
      );
    }
    fill(this.legend, items);
    this.updates++;
    const first = this.series.length ? data[this.series[0].key] || [] : [];
    this.el.dataset.points = String(first.length);
    this.el.dataset.lastTime = first.length ? String(first[first.length - 1][0]) : "";
    this.el.dataset.updates = String(this.updates);
    this.el.dataset.latest = JSON.stringify(latest);
  }

  hover(e) {
    if (!this.view) return;
    const box = this.svg.getBoundingClientRect();
    const px = ((e.clientX - box.left) / box.width) * W;
    if (px < M.l || px > W - M.r) return this.unhover();
    const { lo, hi } = this.view;
    const t = lo + ((px - M.l) / (W - M.l - M.r)) * (hi - lo);
    const rows = [];
    let at = null;
    for (const sr of this.series) {
      const p = nearest(this.data[sr.key] || [], t);
      if (!p) continue;
      at = at ?? p[0];
      const sw = h("span", { class: "swatch" });
      sw.style.background = sr.color;
      rows.push(h("div", {}, sw, `${sr.label}: `, h("b", { text: this.format(p[1]) })));
    }
    if (at === null) return this.unhover();
    this.guide.setAttribute("x1", this.x(at));
    this.guide.setAttribute("x2", this.x(at));
    this.guide.setAttribute("visibility", "visible");
    fill(this.tip, h("div", { class: "tip-time", text: clock(at) }), rows);
    this.tip.hidden = false;
    const left = (this.x(at) / W) * box.width;
    this.tip.style.left = `${Math.min(left + 12, box.width - this.tip.offsetWidth - 4)}px`;
    this.tip.style.top = "8px";
  }

  unhover() {
    if (this.guide) this.guide.setAttribute("visibility", "hidden");
    this.tip.hidden = true;
  }
}

function arcPoint(f) {
  const a = Math.PI * (1 - Math.min(1, Math.max(0, f)));
  return [100 + 80 * Math.cos(a), 100 - 80 * Math.sin(a)];
}

/** A semicircle gauge for a fraction of a limit (CPU of its cores, memory of its limit, a filesystem). */
export class Gauge {
  constructor({ id, title }) {
    this.track = s("path", { class: "gauge-track", d: "M20,100A80,80 0 0 1 180,100" });
    this.arc = s("path", { class: "gauge-value", d: "" });
    this.value = s("text", { class: "gauge-text", x: 100, y: 92, "text-anchor": "middle" }, "–");
    this.caption = h("div", { class: "gauge-caption" });
    this.el = h(
      "figure",
      { class: "gauge", "data-gauge": id },
      s("svg", { viewBox: "0 0 200 112", role: "img", "aria-label": title }, this.track, this.arc, this.value),
      h("figcaption", {}, h("div", { class: "gauge-title", text: title }), this.caption),
    );
  }

  /** fraction in [0, ∞) or null when unknown; caption like "1.2 GiB of 3.8 GiB". */
  update(fraction, caption) {
    if (fraction === null || !Number.isFinite(fraction)) {
      this.arc.setAttribute("d", "");
      this.value.textContent = "–";
      this.el.dataset.value = "";
    } else {
      const [ex, ey] = arcPoint(fraction);
      this.arc.setAttribute("d", fraction > 0 ? `M20,100A80,80 0 0 1 ${ex.toFixed(2)},${ey.toFixed(2)}` : "");
      const level = fraction >= 0.9 ? "crit" : fraction >= 0.7 ? "warn" : "ok";
      this.arc.setAttribute("class", "gauge-value " + level);
      const pct = fraction * 100;
      this.value.textContent = (pct < 10 && pct > 0 ? pct.toFixed(1) : Math.round(pct)) + "%";
      this.el.dataset.value = String(fraction);
    }
    this.caption.textContent = caption || "";
  }
}

/** Horizontal bars: [{label, href?, value, max, text, title?}]; bar length is value / max. */
export class BarList {
  constructor({ id, empty = "Nothing to show yet." }) {
    this.emptyText = empty;
    this.el = h("div", { class: "bars", "data-bars": id });
  }

  update(rows) {
    if (!rows.length) {
      fill(this.el, h("p", { class: "muted", text: this.emptyText }));
      return;
    }
    fill(
      this.el,
      rows.map((r) => {
        const bar = h("span", { class: "bar-fill" });
        const f = r.max > 0 ? Math.min(1, Math.max(0, r.value / r.max)) : 0;
        bar.style.width = `${(f * 100).toFixed(1)}%`;
        if (f >= 0.9) bar.classList.add("crit");
        else if (f >= 0.7) bar.classList.add("warn");
        const label = r.href
          ? h("a", { href: r.href, class: "bar-label", title: r.title || r.label, text: r.label })
          : h("span", { class: "bar-label", title: r.title || r.label, text: r.label });
        return h("div", { class: "bar-row", "data-value": String(r.value) }, label,
          h("span", { class: "bar-track" }, bar), h("span", { class: "bar-value", text: r.text }));
      }),
    );
  }
}
