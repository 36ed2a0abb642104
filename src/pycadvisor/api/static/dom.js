// Tiny DOM builders. Text is always set as text (never parsed as HTML), so container names,
// labels and process command lines cannot inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function put(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.setAttribute("class", v);
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** An HTML element: h("a", {href: "/x", class: "link"}, "text", child). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  put(el, attrs);
  add(el, children);
  return el;
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  put(el, attrs);
  add(el, children);
  return el;
}

/** Replace the children of el. */
export function fill(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

/** A titled card (section) with an optional element on the right of its title. */
export function card(title, opts = {}, ...body) {
  const head = h("div", { class: "card-head" }, h("h2", { text: title }), opts.aside || null);
  return h("section", { class: "card " + (opts.class || ""), id: opts.id || null }, head, ...body);
}

/** A two-column definition table from [label, value] rows; rows with an empty value are left out. */
export function facts(rows) {
  const dl = h("dl", { class: "facts" });
  for (const [k, v] of rows) {
    if (v === null || v === undefined || v === "" || (Array.isArray(v) && !v.length)) continue;
    dl.append(h("dt", { text: k }), h("dd", {}, v));
  }
  return dl;
}

/** A table; columns are {label, value(row) -> Node|string, class?}. */
export function table(columns, rows, opts = {}) {
  const thead = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.class || null, text: c.label }))));
  const tbody = h(
    "tbody",
    {},
    rows.map((r) => h("tr", {}, columns.map((c) => h("td", { class: c.class || null }, c.value(r))))),
  );
  return h("table", { class: "grid " + (opts.class || "") }, thead, tbody);
}
