// Sign-in: the key or token goes to POST /ui/session once and is dropped from the page; from
// then on the browser holds only the HttpOnly session cookie.
import { h, card } from "./dom.js";
import { currentSession } from "./api.js";

// The server answers any page with this one (status 401) until signed in: after signing in,
// the same address shows the page that was asked for.
const home = location.pathname === "/ui/";

async function main() {
  if (home && (await currentSession().catch(() => null))) {
    location.replace("/ui/runs");
    return;
  }
  const input = h("input", {
    type: "password", id: "token", name: "token", autocomplete: "off", spellcheck: "false",
    placeholder: "sk_… or a JWT", required: true,
  });
  const message = h("p", { id: "signin-error", class: "error", hidden: true, role: "alert" });
  const form = h("form", { id: "signin", onsubmit: submit },
    h("label", {}, "API key or JWT", input),
    h("p", { class: "muted" },
      "The key is sent once to open a session; the page never stores it. ",
      "The session ends after 30 idle minutes, after 8 hours, or when the key is revoked."),
    message,
    h("button", { type: "submit" }, "Sign in"));
  document.getElementById("main").append(h("div", { class: "signin" }, card("Sign in to stockade", form)));
  input.focus();

  async function submit(ev) {
    ev.preventDefault();
    const token = input.value;
    input.value = "";
    const r = await fetch("/ui/session", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token }),
    });
    if (r.status === 201) {
      if (home) location.replace("/ui/runs");
      else location.reload();
      return;
    }
    const body = await r.json().catch(() => ({}));
    message.textContent = body.message || `HTTP ${r.status}`;
    message.hidden = false;
  }
}

main();
