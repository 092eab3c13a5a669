// Administration: tenants, API keys (created and shown once, revoked) and tenants' policies.
// The server decides every action: this page only offers what the role may ask for.
import { h, fill, card, table, time, badge, pre } from "./dom.js";
import { api, can, frame, errorBox, currentSession } from "./api.js";

const ROLES = ["admin", "tenant-admin", "runner", "auditor"];
const QUOTAS = ["concurrent_runs", "runs_per_minute", "cpu_seconds_per_day", "max_wall_time_ms", "max_memory_bytes",
  "sessions", "max_body_bytes"];

async function main() {
  const main = await frame("Admin");
  const s = await currentSession();
  const tenantsCard = card("Tenants");
  const keysCard = card("API keys");
  const policyCard = card("Policy");
  main.append(h("h1", {}, "Administration"), tenantsCard, keysCard, policyCard);
  let tenants = await api("GET", "/v1/tenants");

  function tenantOptions(el, selected) {
    fill(el, ...tenants.map((t) => h("option", { value: t.id, selected: t.id === selected }, `${t.id} — ${t.name}`)));
    return el;
  }

  // ----- tenants -----
  async function drawTenants() {
    tenants = await api("GET", "/v1/tenants");
    const rows = tenants.map((t) => h("tr", { "data-tenant": t.id },
      h("td", { class: "mono" }, t.id), h("td", {}, t.name), h("td", { class: "mono" }, time(t.created_at)),
      h("td", {}, t.has_policy ? "own" : "server default"),
      h("td", { class: "num" }, String(t.effective_quotas.concurrent_runs)),
      h("td", { class: "num" }, String(t.effective_quotas.runs_per_minute)),
      h("td", { class: "num" }, String(t.effective_quotas.cpu_seconds_per_day)),
      can("tenants:manage") ? h("td", {}, h("button", { type: "button", class: "quiet edit-quotas",
        onclick: () => fill(quotaEditor, quotaForm(t)) }, "Quotas…")) : null));
    const form = can("tenants:manage") ? createTenantForm() : null;
    fill(tenantsCard, h("h2", {}, "Tenants"),
      table(["Id", "Name", "Created (UTC)", "Policy", "Runs at once#", "Runs/min#", "CPU s/day#",
        can("tenants:manage") ? "" : null].filter((x) => x !== null), rows), quotaEditor, form);
  }

  // An admin's quota overrides for one tenant: an empty field takes the server's default.
  const quotaEditor = h("div", {});
  function quotaForm(t) {
    const inputs = QUOTAS.map((q) => h("input", { name: q, type: "number", size: 12,
      value: t.quotas[q] ?? "", placeholder: `default ${t.effective_quotas[q]}` }));
    const out = h("div", {});
    return h("form", { class: "filters card", id: "quotas", "data-tenant": t.id, onsubmit: async (ev) => {
      ev.preventDefault();
      const quotas = {};
      for (const i of inputs) if (i.value !== "") quotas[i.name] = Number(i.value);
      try {
        await api("PATCH", `/v1/tenants/${encodeURIComponent(t.id)}`, { quotas });
        fill(quotaEditor);
        await drawTenants();
      } catch (e) { fill(out, errorBox(e)); }
    } }, h("strong", {}, `Quotas of ${t.id}`), inputs.map((i) => h("label", {}, i.name.replaceAll("_", " "), i)),
    h("button", { type: "submit" }, "Save quotas"),
    h("button", { type: "button", class: "quiet", onclick: () => fill(quotaEditor) }, "Cancel"), out);
  }

  function createTenantForm() {
    const id = h("input", { name: "id", required: true, pattern: "[a-z0-9][a-z0-9-]{0,39}", size: 16 });
    const name = h("input", { name: "name", size: 20 });
    const out = h("div", {});
    return h("form", { class: "filters", id: "new-tenant", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api("POST", "/v1/tenants", { id: id.value, name: name.value || undefined });
        await drawTenants();
        await drawKeys();
        await drawPolicy();
      } catch (e) { fill(out, errorBox(e)); }
    } }, h("label", {}, "New tenant id", id), h("label", {}, "Name", name), h("button", { type: "submit" }, "Create"), out);
  }

  // ----- keys -----
  const shown = h("div", {});
  async function drawKeys() {
    const keys = await api("GET", "/v1/keys");
    const rows = keys.map((k) => h("tr", { "data-key": k.id },
      h("td", { class: "mono" }, k.id), h("td", {}, k.name), h("td", { class: "mono" }, k.tenant), h("td", {}, k.role),
      h("td", { class: "mono" }, time(k.created_at)), h("td", { class: "mono" }, time(k.last_used_at)),
      h("td", {}, k.revoked_at ? badge("revoked") : k.expires_at && k.expires_at < Date.now() ? badge("expired") : badge("ok")),
      // The server refuses a tenant-admin an admin key; the button is not offered either.
      h("td", {}, k.revoked_at || k.id === s.key_id || (s.role !== "admin" && k.role === "admin") ? null : revokeButton(k))));
    fill(keysCard, h("h2", {}, "API keys"), shown,
      table(["Id", "Name", "Tenant", "Role", "Created (UTC)", "Last used", "State", ""], rows), createKeyForm());
  }

  function revokeButton(k) {
    // Two clicks, no dialog: the first arms the button.
    const b = h("button", { type: "button", class: "quiet revoke", onclick: async () => {
      if (!b.dataset.armed) { b.dataset.armed = "1"; b.textContent = "Really revoke?"; b.className = "danger revoke"; return; }
      try { await api("DELETE", `/v1/keys/${encodeURIComponent(k.id)}`); await drawKeys(); } catch (e) { b.replaceWith(errorBox(e)); }
    } }, "Revoke");
    return b;
  }

  function createKeyForm() {
    const name = h("input", { name: "name", required: true, size: 18 });
    const role = h("select", { name: "role" }, ROLES.filter((r) => s.role === "admin" || r !== "admin").map((r) => h("option", { value: r }, r)));
    const tenant = s.role === "admin" ? tenantOptions(h("select", { name: "tenant" }), s.tenant) : null;
    const out = h("div", {});
    return h("form", { class: "filters", id: "new-key", onsubmit: async (ev) => {
      ev.preventDefault();
      fill(out);
      try {
        const created = await api("POST", "/v1/keys", { name: name.value, role: role.value, tenant: tenant ? tenant.value : undefined });
        showOnce(created);
        name.value = "";
        await drawKeys();
      } catch (e) { fill(out, errorBox(e)); }
    } }, h("label", {}, "New key name", name), h("label", {}, "Role", role), tenant ? h("label", {}, "Tenant", tenant) : null,
    h("button", { type: "submit" }, "Create key"), out);
  }

  // The token exists in this box only, until dismissed: it is not kept anywhere by the page,
  // and the server cannot show it again.
  function showOnce(created) {
    const token = h("output", { id: "new-token" }, created.token);
    const copy = h("button", { type: "button", class: "quiet", onclick: () => navigator.clipboard?.writeText(created.token) }, "Copy");
    const done = h("button", { type: "button", onclick: () => fill(shown) }, "I have stored it");
    fill(shown, h("div", { class: "secret", role: "status" },
      h("strong", {}, `The token of ${created.key.id} (${created.key.role}, ${created.key.tenant}), shown this once:`),
      token, h("div", { class: "row" }, copy, done)));
  }

  // ----- policy -----
  const which = h("select", { id: "policy-tenant", onchange: () => drawPolicy() });
  const text = h("textarea", { id: "policy-text", spellcheck: "false", "aria-label": "policy TOML" });
  const problem = h("div", { id: "policy-error" });
  const effective = h("div", {});
  async function drawPolicy() {
    const id = which.value || s.tenant;
    tenantOptions(which, id);
    fill(problem);
    const p = await api("GET", `/v1/tenants/${encodeURIComponent(id)}/policy`);
    text.value = p.policy || "";
    text.placeholder = "# empty: the server's default policy applies";
    fill(effective, h("details", {}, h("summary", {}, `Effective policy (sha256 ${p.hash.slice(0, 16)}…)`), pre(p.effective, "effective policy")));
  }
  async function savePolicy(ev) {
    ev.preventDefault();
    fill(problem);
    try {
      await api("PUT", `/v1/tenants/${encodeURIComponent(which.value)}/policy`, { policy: text.value.trim() ? text.value : null });
      await drawPolicy();
      fill(problem, h("p", { class: "muted", id: "policy-saved" }, "Saved."));
    } catch (e) {
      fill(problem, errorBox(e));
      if (e.body.line) selectLine(text, e.body.line);
    }
  }
  fill(policyCard, h("h2", {}, "Policy"),
    h("form", { id: "policy", onsubmit: savePolicy },
      h("div", { class: "row" }, h("label", {}, "Tenant", which)),
      h("p", { class: "muted" }, "stockade policy TOML (docs/policy.md); it is checked by the server's validator when saved."),
      text, problem, h("div", { class: "row" }, h("button", { type: "submit", disabled: !can("policy:write") }, "Save"))),
    effective);

  await drawTenants();
  await drawKeys();
  await drawPolicy();
}

function selectLine(textarea, line) {
  const lines = textarea.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  textarea.focus();
  textarea.setSelectionRange(start, start + (lines[line - 1] || "").length);
}

main();
