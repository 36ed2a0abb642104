// Number, size, rate and time formatting for the UI.

const BIN = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** 1536 -> "1.5 KiB". */
export function bytes(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  let i = 0;
  let x = Math.abs(v);
  while (x >= 1024 && i < BIN.length - 1) {
    x /= 1024;
    i++;
  }
  const digits = i === 0 || x >= 100 ? 0 : x >= 10 ? 1 : 2;
  return (v < 0 ? "-" : "") + x.toFixed(digits) + " " + BIN[i];
}

export function bytesRate(v) {
  return bytes(v) + "/s";
}

/** CPU usage in cores: 0.0123 -> "12.3 m", 1.5 -> "1.50". */
export function cores(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (v === 0) return "0";
  if (Math.abs(v) < 0.9995) return (v * 1000).toFixed(Math.abs(v) < 0.01 ? 1 : 0) + "m"; // millicores, as Kubernetes writes
  return v.toFixed(2);
}

export function coresLong(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (v === 0) return "0 cores";
  if (Math.abs(v) < 0.9995) return (v * 1000).toFixed(0) + " millicores";
  return v.toFixed(2) + (v === 1 ? " core" : " cores");
}

export function percent(f, digits = 0) {
  if (f === null || f === undefined || !Number.isFinite(f)) return "–";
  return (f * 100).toFixed(digits) + " %";
}

export function number(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (Math.abs(v) >= 100 || Number.isInteger(v)) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(Math.abs(v) >= 10 ? 1 : 2);
}

export function perSecond(v) {
  return number(v) + "/s";
}

export function hertz(khz) {
  if (!khz) return "–";
  return khz >= 1e6 ? (khz / 1e6).toFixed(2) + " GHz" : (khz / 1e3).toFixed(0) + " MHz";
}

/** Milliseconds since the epoch of an RFC 3339 time with up to nanosecond fractions; NaN if unparsable. */
export function parseTime(text) {
  if (typeof text !== "string") return NaN;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/i.exec(text);
  if (!m) return Date.parse(text);
  const whole = Date.parse(m[1] + (m[3].toUpperCase() === "Z" ? "Z" : m[3]));
  const frac = m[2] ? Number("0." + m[2]) * 1000 : 0;
  return whole + frac;
}

/**
 * The RFC 3339 time one nanosecond after ``text`` (same zone), so that an inclusive "start" bound
 * asks only for newer samples; ``text`` itself when it cannot be done by the fraction alone.
 */
export function nextNanosecond(text) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i.exec(text || "");
  if (!m) return text;
  const frac = (m[2] || "").padEnd(9, "0");
  if (frac === "999999999") return text;
  return `${m[1]}.${String(Number(frac) + 1).padStart(9, "0")}${m[3]}`;
}

/** "0001-01-01T00:00:00Z" (Go's zero time) and unparsable times mean "unknown". */
export function isKnownTime(text) {
  const t = parseTime(text);
  return Number.isFinite(t) && t > 0;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

export function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function dateTime(text) {
  if (!isKnownTime(text)) return "";
  const d = new Date(parseTime(text));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(d.getTime())}`;
}

/** "3 d 4 h", "12 min", "40 s" since ms. */
export function age(ms, now = Date.now()) {
  let s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 90) return s + " s";
  const m = Math.round(s / 60);
  if (m < 90) return m + " min";
  const hours = Math.floor(s / 3600);
  if (hours < 48) return hours + " h " + Math.round((s % 3600) / 60) + " min";
  s = Math.floor(hours / 24);
  return s + " d " + (hours % 24) + " h";
}

export function shortId(id) {
  return typeof id === "string" && /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id;
}

/** Number of CPUs in a cpuset mask such as "0-3,8,10-11". */
export function maskCpus(mask) {
  const out = [];
  if (!mask) return out;
  for (const part of String(mask).split(",")) {
    const [a, b] = part.split("-").map((x) => parseInt(x, 10));
    if (!Number.isFinite(a)) continue;
    for (let i = a; i <= (Number.isFinite(b) ? b : a); i++) out.push(i);
  }
  return out;
}
