// The /v1 API with the dashboard session: the cookie goes by itself (same origin), the CSRF
// token is added to every request that changes anything. No key or token is ever stored by
// the page: the session is the only credential, and the browser keeps it where scripts
// cannot read it (HttpOnly).
import { h } from "./dom.js";

let session = null;

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// The signed-in session (null when signed out).
export async function currentSession() {
  if (session) return session;
  const r = await fetch("/ui/session", { credentials: "same-origin", cache: "no-store" });
  if (r.status === 401) return null;
  if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null));
  session = await r.json();
  return session;
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = session ? session.csrf_token : "";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method, headers, credentials: "same-origin", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401) {
    // The session ended (expired, idle, or its key was revoked): the server answers this
    // page's address with the sign-in page now.
    location.reload();
    throw new ApiError(401, { message: "signed out" });
  }
  if (r.status === 204) return null;
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

export function can(permission) {
  return !!session && session.permissions.includes(permission);
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

const PAGES = [
  ["Runs", "/ui/runs", "runs:read"],
  ["Charts", "/ui/charts", "violations:read"],
  ["Admin", "/ui/admin", "keys:manage"],
];

// The header for a signed-in page; the <main> to fill.
export async function frame(title) {
  let s;
  try {
    s = await currentSession();
  } catch (e) {
    // The server is there but cannot say (a 503): say so rather than reload in a loop.
    document.getElementById("main").append(errorBox(e));
    throw e;
  }
  if (!s) {
    location.reload();
    throw new Error("signed out");
  }
  const nav = document.getElementById("nav");
  for (const [label, href, permission] of PAGES) {
    if (!can(permission)) continue;
    const current = location.pathname === href || (href === "/ui/runs" && location.pathname.startsWith("/ui/runs/"));
    nav.append(h("a", { href, "aria-current": current ? "page" : null }, label));
  }
  document.getElementById("who").append(
    h("span", { class: "mono", id: "identity" }, `${s.role} · ${s.tenant} · ${s.key_id}`),
    h("button", { type: "button", id: "signout", onclick: signOut }, "Sign out"));
  document.title = `${title} · stockade`;
  return document.getElementById("main");
}

async function signOut() {
  await api("DELETE", "/ui/session").catch(() => null);
  session = null;
  location.assign("/ui/");
}

export function errorBox(e) {
  const b = e.body || {};
  const where = [b.line && `line ${b.line}`, b.column && `column ${b.column}`, b.field && `key ${b.field}`]
    .filter(Boolean).join(", ");
  return h("div", { class: "error", role: "alert" }, where ? `${where}: ${e.message}` : e.message);
}
