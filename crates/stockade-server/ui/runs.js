// Runs, newest first, refreshed every 2 s while showing the newest page: a run appears when
// accepted and its row changes as it finishes. Filters live in the address, so a reload or a
// shared link keeps them.
import { h, fill, card, table, time, duration, badge } from "./dom.js";
import { api, can, frame, query, currentSession } from "./api.js";

const STATUSES = ["ok", "error", "timeout", "cpu_limit", "memory_limit", "pids_limit", "output_limit",
  "file_limit", "killed", "setup_failed", "refused"];
const EVERY_MS = 2000;

function localInput(ms) {
  if (!ms) return "";
  const d = new Date(Number(ms));
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

async function main() {
  const main = await frame("Runs");
  const s = await currentSession();
  const params = new URLSearchParams(location.search);
  const field = (name, el) => { el.name = name; el.value = params.get(name) || ""; return el; };
  const select = (name, options) => field(name, h("select", {}, options.map(([v, t]) => h("option", { value: v }, t))));
  const status = select("status", [["", "any"], ...STATUSES.map((x) => [x, x])]);
  const violations = select("has_violations", [["", "any"], ["true", "with violations"], ["false", "without"]]);
  const tenant = field("tenant", h("input", { size: 12, placeholder: "all" }));
  const key = field("key", h("input", { size: 16, placeholder: s.role === "runner" ? s.key_id : "any" }));
  const since = h("input", { type: "datetime-local", name: "since", value: localInput(params.get("since")) });
  const until = h("input", { type: "datetime-local", name: "until", value: localInput(params.get("until")) });
  const form = h("form", { class: "filters", id: "filters", onchange: apply, onsubmit: apply },
    h("label", {}, "Status", status),
    h("label", {}, "Violations", violations),
    // Only an admin may name another tenant; the API refuses it to everyone else.
    s.role === "admin" ? h("label", {}, "Tenant", tenant) : null,
    h("label", {}, "Key", key),
    h("label", {}, "Since", since),
    h("label", {}, "Until", until),
    h("button", { type: "submit", class: "quiet" }, "Apply"));
  const state = h("span", { class: "muted", id: "live" });
  const body = h("div", { id: "runs" });
  const more = h("p", {});
  main.append(h("h1", {}, "Runs", state), card(null, form), card(null, body, more));

  function filters() {
    const ms = (el) => (el.value ? String(new Date(el.value).getTime()) : "");
    return {
      status: status.value, has_violations: violations.value, tenant: s.role === "admin" ? tenant.value : "",
      key: key.value.trim(), since: ms(since), until: ms(until),
    };
  }

  function apply(ev) {
    ev.preventDefault();
    history.replaceState(null, "", `/ui/runs${query(filters())}`);
    refresh();
  }

  const cursor = params.get("cursor");
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    if (document.hidden && !cursor) {
      // Nobody is looking: ask again when the tab is shown.
      document.addEventListener("visibilitychange", refresh, { once: true });
      return;
    }
    try {
      const page = await api("GET", `/v1/runs${query({ ...filters(), limit: 50, cursor })}`);
      render(page);
      state.className = cursor ? "muted" : "muted live";
      state.textContent = cursor ? "older runs (not live)" : `live · ${time(Date.now())} UTC`;
    } catch (e) {
      state.className = "muted";
      state.textContent = e.message;
    }
    if (!cursor) timer = setTimeout(refresh, EVERY_MS);
  }

  function render(page) {
    const rows = page.items.map((r) => h("tr", { "data-run": r.id, "data-state": r.state },
      h("td", { class: "mono" }, time(r.created_at)),
      h("td", {}, h("a", { href: `/ui/runs/${encodeURIComponent(r.id)}`, class: "mono" }, r.id)),
      can("tenant:read") || s.role === "admin" ? h("td", {}, r.tenant) : null,
      h("td", { class: "mono" }, r.key_id),
      h("td", {}, badge(r.state)),
      h("td", {}, badge(r.status)),
      h("td", { class: "num" }, duration(r.wall_ms)),
      h("td", { class: "num" }, duration(r.cpu_ms)),
      h("td", { class: "num" }, r.violations
        ? h("a", { href: `/ui/runs/${encodeURIComponent(r.id)}#violations`, class: "badge bad" }, String(r.violations))
        : "0")));
    const heads = ["Accepted (UTC)", "Run", can("tenant:read") || s.role === "admin" ? "Tenant" : null,
      "Key", "State", "Status", "Wall#", "CPU#", "Violations#"].filter(Boolean);
    fill(body, rows.length ? table(heads, rows) : h("p", { class: "muted" }, "No runs match."));
    fill(more,
      cursor ? h("a", { href: `/ui/runs${query(filters())}` }, "← newest") : null,
      " ",
      page.next_cursor ? h("a", { href: `/ui/runs${query({ ...filters(), cursor: page.next_cursor })}` }, "older →") : null);
  }

  refresh();
}

main();
