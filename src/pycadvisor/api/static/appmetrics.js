// "Application metrics" of a container page: what its endpoints (io.cadvisor.metric.* labels) answered last,
// read from the samples' custom_metrics and the spec's custom_metrics (type, units), as cAdvisor's page shows
// them (cmd/internal/pages/assets/js/containers.js: drawCustomMetrics). Hidden while there is none.

import { h, fill, card, table } from "./dom.js";
import * as F from "./format.js";

function labelText(v) {
  const pairs = Object.entries(v.labels || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return pairs.map(([k, x]) => `${k}="${x}"`).join(", ");
}

function valueOf(v) {
  // An "int" metric carries int_value, a "float" or Prometheus one float_value; both are omitted when 0.
  return v.float_value !== undefined ? v.float_value : v.int_value !== undefined ? v.int_value : 0;
}

export class AppMetricsCard {
  constructor() {
    this.body = h("div", { class: "table-wrap" });
    this.stamp = h("span", { class: "muted small" });
    this.el = card("Application metrics", { id: "app-metrics", aside: this.stamp }, this.body);
    this.el.hidden = true;
    this.key = "";
  }

  /** spec: the container's spec; last: its newest sample. */
  update(spec, last) {
    const values = (last && last.custom_metrics) || {};
    const specs = new Map(((spec && spec.custom_metrics) || []).map((m) => [m.name, m]));
    const rows = [];
    for (const name of Object.keys(values).sort()) {
      for (const v of values[name]) rows.push({ name, v, spec: specs.get(name) || {} });
    }
    this.el.hidden = rows.length === 0;
    if (!rows.length) return;
    const key = JSON.stringify(rows.map((r) => [r.name, r.v.label, r.v.timestamp, valueOf(r.v)]));
    if (key === this.key) return;
    this.key = key;
    fill(this.body, table(
      [
        { label: "Metric", value: (r) => h("code", { text: r.name }) },
        { label: "Labels", value: (r) => labelText(r.v) },
        { label: "Value", value: (r) => F.number(valueOf(r.v)), class: "num" },
        { label: "Type", value: (r) => r.spec.type || "" },
        { label: "Units", value: (r) => r.spec.units || "" },
        { label: "Collected", value: (r) => F.clock(F.parseTime(r.v.timestamp)) },
      ],
      rows,
      { class: "app-metrics" },
    ));
    this.stamp.textContent = `${rows.length} series`;
  }
}
