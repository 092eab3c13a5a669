// Every element of the dashboard is made here. Text always goes in as a text node, never as
// markup: code, output, file names and anything else a run or a user chose are shown, never
// parsed. There is no innerHTML, outerHTML, insertAdjacentHTML or document.write anywhere.

const SVG = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "href" && !/^(\/ui\/|#)/.test(String(v))) throw new Error("links stay inside /ui/");
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h("td", {class: "num"}, "text", childNode, ...)
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// Replace an element's children (null and false are skipped, as in h()).
export function fill(el, ...children) {
  el.replaceChildren();
  return build(el, {}, children);
}

export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

export function time(ms) {
  if (ms === null || ms === undefined) return "—";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

const GOOD = new Set(["ok", "done"]);
const BAD = new Set(["error", "refused", "setup_failed", "killed", "lost"]);

export function badge(text) {
  const kind = GOOD.has(text) ? "ok" : BAD.has(text) ? "bad" : text ? "warn" : "";
  return h("span", { class: `badge ${kind}` }, text || "—");
}

// A value as text: scalars as they are, the rest as indented JSON.
export function show(v) {
  if (v === null || v === undefined) return "—";
  return typeof v === "object" ? JSON.stringify(v, null, 2) : String(v);
}

// A definition list of an object's keys: a list of records as a table, other nested values
// as JSON in <code>.
export function kv(obj) {
  const dl = h("dl", { class: "kv" });
  for (const [k, v] of Object.entries(obj || {})) {
    dl.append(h("dt", {}, k), h("dd", {}, nested(v)));
  }
  return dl;
}

function nested(v) {
  if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === "object" && !Array.isArray(x))) {
    const keys = [...new Set(v.flatMap((x) => Object.keys(x)))];
    return table(keys, v.map((x) => h("tr", {}, keys.map((k) => h("td", {}, show(x[k]))))));
  }
  return v !== null && typeof v === "object" ? h("code", {}, JSON.stringify(v)) : show(v);
}

export function pre(text, label) {
  const empty = text === null || text === undefined || text === "";
  return h("pre", { class: empty ? "empty" : null, "aria-label": label }, empty ? "(empty)" : text);
}

export function table(headers, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { class: t.endsWith("#") ? "num" : null }, t.replace(/#$/, ""))))),
    h("tbody", {}, rows));
}

export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
}
