// Charts drawn as inline SVG, element by element (text as text nodes, like everything else).
import { h, s } from "./dom.js";

// Stacked bars: buckets = [{label, counts: Map(series -> n)}], series = names in legend order.
export function stackedBars(buckets, series, { width = 900, height = 260 } = {}) {
  const pad = { left: 40, right: 10, top: 10, bottom: 40 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const totals = buckets.map((b) => series.reduce((n, name) => n + (b.counts.get(name) || 0), 0));
  const max = Math.max(1, ...totals);
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const y = (v) => pad.top + innerH - (v / top) * innerH;
  const bw = innerW / buckets.length;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  for (let v = 0; v <= top; v += step) {
    svg.append(s("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), "stroke-width": v ? 0.4 : 1 }),
      s("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, String(v)));
  }
  const labelEvery = Math.ceil(buckets.length / 12);
  buckets.forEach((b, i) => {
    let base = 0;
    const x = pad.left + i * bw + bw * 0.12;
    series.forEach((name, k) => {
      const n = b.counts.get(name) || 0;
      if (!n) return;
      svg.append(s("rect", { class: `s${k % 8} bar`, x, width: bw * 0.76, y: y(base + n), height: y(base) - y(base + n) },
        s("title", {}, `${b.label}: ${name} × ${n}`)));
      base += n;
    });
    if (i % labelEvery === 0) {
      svg.append(s("text", { x: x + bw * 0.38, y: height - pad.bottom + 16, "text-anchor": "middle" }, b.short));
    }
  });
  const legend = h("div", { class: "legend" }, series.map((name, k) => h("span", { class: "legend-item" },
    h("span", { class: `swatch s${k % 8}` }), name, " ",
    h("span", { class: "muted" }, `(${buckets.reduce((n, b) => n + (b.counts.get(name) || 0), 0)})`))));
  return h("div", {}, svg, legend);
}

function niceStep(max) {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return Math.max(1, m * mag);
  return Math.max(1, 10 * mag);
}

// Horizontal gauges: rows = [{label, used, limit, unit}], one bar per row.
export function gauges(rows, { width = 520 } = {}) {
  const rowH = 26;
  const labelW = 150;
  const barW = width - labelW - 110;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${rows.length * rowH + 4}`, role: "img" });
  rows.forEach((r, i) => {
    const y = i * rowH + 4;
    const frac = r.limit > 0 ? Math.min(1, r.used / r.limit) : 0;
    const level = frac >= 0.9 ? "u-high" : frac >= 0.6 ? "u-mid" : "u-low";
    svg.append(
      s("text", { x: 0, y: y + 14 }, r.label),
      s("rect", { class: "track", x: labelW, y: y + 3, width: barW, height: 14, rx: 3 }),
      s("rect", { class: `${level} gauge`, x: labelW, y: y + 3, width: Math.max(frac * barW, frac ? 2 : 0), height: 14, rx: 3 },
        s("title", {}, `${r.label}: ${r.used} of ${r.limit}`)),
      s("text", { x: labelW + barW + 8, y: y + 14 }, `${fmt(r.used)} / ${fmt(r.limit)}${r.unit || ""}`));
  });
  return svg;
}

function fmt(n) {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
