// Violations by rule over time, and each tenant's quota use now.
import { h, fill, card, time } from "./dom.js";
import { api, can, frame, query } from "./api.js";
import { stackedBars, gauges } from "./chart.js";

const RANGES = { "24h": [24, 3600e3], "7d": [28, 6 * 3600e3] };
const MAX_PAGES = 25; // at most 5 000 violations per chart

async function main() {
  const main = await frame("Charts");
  const range = h("select", { id: "range", onchange: drawViolations },
    h("option", { value: "24h" }, "last 24 hours, by hour"), h("option", { value: "7d" }, "last 7 days, by 6 hours"));
  const violations = h("div", { id: "violations-chart" }, h("p", { class: "muted" }, "Loading…"));
  const usage = h("div", { id: "usage" }, h("p", { class: "muted" }, "Loading…"));
  main.append(h("h1", {}, "Charts"),
    card("Violations by rule", h("div", { class: "row" }, h("label", {}, "Range", range)), violations),
    can("tenant:read") ? card("Quota use per tenant, now", usage) : null);

  async function drawViolations() {
    const [n, width] = RANGES[range.value];
    const end = Math.ceil(Date.now() / width) * width;
    const start = end - n * width;
    const buckets = Array.from({ length: n }, (_, i) => {
      const at = start + i * width;
      return { label: `${time(at)} UTC`, short: time(at).slice(range.value === "24h" ? 11 : 5, 16), counts: new Map() };
    });
    const totals = new Map();
    let cursor = null;
    let truncated = false;
    for (let page = 0; ; page++) {
      if (page === MAX_PAGES) { truncated = true; break; }
      const p = await api("GET", `/v1/violations${query({ since: start, limit: 200, cursor })}`);
      for (const v of p.items) {
        const b = buckets[Math.floor((v.at - start) / width)];
        if (!b) continue;
        b.counts.set(v.rule, (b.counts.get(v.rule) || 0) + 1);
        totals.set(v.rule, (totals.get(v.rule) || 0) + 1);
      }
      if (!p.next_cursor) break;
      cursor = p.next_cursor;
    }
    const series = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
    fill(violations, series.length
      ? stackedBars(buckets, series)
      : h("p", { class: "muted" }, "No violations in this range."),
    truncated ? h("p", { class: "muted" }, "Only the newest 5 000 violations are counted.") : null);
  }

  async function drawUsage() {
    const tenants = await api("GET", "/v1/tenants");
    const views = await Promise.all(tenants.slice(0, 50).map((t) => api("GET", `/v1/tenants/${encodeURIComponent(t.id)}`)));
    fill(usage, h("div", { class: "grid" }, views.map((t) => {
      const q = t.effective_quotas;
      const u = t.usage || {};
      return h("div", { class: "tenant-usage", "data-tenant": t.id },
        h("h3", {}, t.name, " ", h("span", { class: "muted mono" }, t.id)),
        gauges([
          { label: "runs in flight", used: u.running, limit: q.concurrent_runs },
          { label: "runs, last minute", used: u.runs_last_minute, limit: q.runs_per_minute },
          { label: "CPU today", used: u.cpu_seconds_today, limit: q.cpu_seconds_per_day, unit: " s" },
          { label: "open sessions", used: u.sessions, limit: q.sessions },
        ]));
    })), tenants.length > 50 ? h("p", { class: "muted" }, "The first 50 tenants.") : null);
    setTimeout(() => drawUsage().catch(() => null), 5000);
  }

  await drawViolations().catch((e) => fill(violations, h("p", { class: "error" }, e.message)));
  if (can("tenant:read")) await drawUsage().catch((e) => fill(usage, h("p", { class: "error" }, e.message)));
}

main();
