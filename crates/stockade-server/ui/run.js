// One run: what it ran, what it printed and returned, what the guard refused, what it used and
// was allowed, how it was isolated, and where its record sits in the audit chain.
import { h, fill, card, table, time, duration, badge, kv, pre, show } from "./dom.js";
import { api, can, frame, query } from "./api.js";

const id = decodeURIComponent(location.pathname.split("/").pop());

function decodedLength(b64) {
  const pad = b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
  return Math.floor((b64.length * 3) / 4) - pad;
}

async function main() {
  const main = await frame(`Run ${id}`);
  // Until it is done, look again every second.
  for (;;) {
    let run;
    try {
      run = await api("GET", `/v1/runs/${encodeURIComponent(id)}`);
    } catch (e) {
      fill(main, h("h1", {}, "Run"), card(null, h("p", { id: "missing" },
        e.status === 404 ? "No such run, or not one your role may see." : e.message)));
      return;
    }
    draw(main, run);
    if (run.state !== "queued" && run.state !== "running") break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  if (location.hash === "#violations") document.getElementById("violations")?.scrollIntoView();
}

function draw(main, run) {
  const res = run.result || {};
  fill(main,
    h("h1", {}, h("span", { class: "mono" }, run.id), badge(run.state), badge(run.status)),
    h("div", { class: "grid" },
      card("Run", kv({
        tenant: run.tenant, key: run.key_id, session: run.session_id, accepted: time(run.created_at),
        started: time(run.started_at), finished: time(run.finished_at), wall: duration(run.wall_ms),
        cpu: duration(run.cpu_ms), "code sha256": run.code_sha256, reason: res.reason,
        "exit code": res.exit_code, signal: res.signal,
      })),
      auditCard(run)),
    card("Code", pre(run.code, "code")),
    h("div", { class: "grid" },
      card(res.stdout_truncated ? "stdout (truncated)" : "stdout", pre(res.stdout, "stdout")),
      card(res.stderr_truncated ? "stderr (truncated)" : "stderr", pre(res.stderr, "stderr"))),
    answerCard(res.answer),
    violationsCard(res.violations || []),
    h("div", { class: "grid" },
      card("Usage", kv(res.usage)),
      card("Limits", res.limits ? kv(res.limits) : h("p", { class: "muted" }, "—"))),
    card("Isolation report", res.isolation ? kv(res.isolation) : h("p", { class: "muted" }, "—")),
    res.network ? card("Network", kv(res.network)) : null,
    res.calls && res.calls.length ? card("Host-function calls", table(["Function", "Outcome", "Bytes in#", "Bytes out#", "Time#"],
      res.calls.map((c) => h("tr", {}, h("td", { class: "mono" }, c.name), h("td", {}, show(c.outcome)),
        h("td", { class: "num" }, show(c.call_bytes)), h("td", { class: "num" }, show(c.reply_bytes)),
        h("td", { class: "num" }, duration(c.duration_ms)))))) : null,
    res.error ? card("Setup failure", kv(res.error)) : null);
}

function answerCard(answer) {
  if (!answer) return null;
  const files = Object.entries(answer.files || {});
  return card("Result",
    h("h3", {}, "Value"), pre(show(answer.value), "value"),
    answer.error ? [h("h3", {}, "Exception"), kv({ type: answer.error.type, message: answer.error.message }),
      answer.error.traceback ? pre(answer.error.traceback, "traceback") : null] : null,
    files.length ? [h("h3", {}, "Files written to out/"), table(["Name", "Bytes#"], files.map(([name, b64]) =>
      h("tr", { class: "file" }, h("td", { class: "mono file-name" }, name), h("td", { class: "num" }, String(decodedLength(b64))))))] : null,
    (answer.files_skipped || []).length ? [h("h3", {}, "Files left out"), table(["Name", "Why"],
      answer.files_skipped.map((f) => h("tr", {}, h("td", { class: "mono file-name" }, f.name), h("td", {}, f.reason))))] : null);
}

function violationsCard(vs) {
  const body = vs.length
    ? table(["Rule", "Event", "Decision", "Arguments", "Count#", "Reported by", "Reason"], vs.map((v, i) =>
      h("tr", { id: `violation-${i + 1}`, class: "violation" },
        h("td", { class: "mono rule" }, v.rule),
        h("td", { class: "mono" }, v.event),
        h("td", {}, badge(v.decision === "denied" ? "refused" : v.decision)),
        h("td", {}, v.args.map((a) => h("div", {}, h("code", { class: "arg" }, a)))),
        h("td", { class: "num" }, String(v.count)),
        h("td", {}, v.reported_by),
        h("td", {}, v.reason))))
    : h("p", { class: "muted" }, "None.");
  const c = card(`Violations (${vs.length})`, body);
  c.id = "violations";
  return c;
}

// The run's record in the audit chain. /v1/audit reads the chain oldest first and has no
// filter by object, so this pages through the run records of the chain (500 at a time).
function auditCard(run) {
  const c = card("Audit chain");
  c.id = "audit";
  if (!can("audit:read")) {
    c.append(h("p", { class: "muted" }, "The audit trail is not readable with this role."));
    return c;
  }
  if (run.state !== "done" && run.state !== "lost") {
    c.append(h("p", { class: "muted" }, "Recorded when the run ends."));
    return c;
  }
  const status = h("p", { class: "muted" }, "Looking…");
  c.append(status);
  (async () => {
    const action = run.state === "lost" ? "run.lost" : "run.finished";
    let cursor = null;
    for (let pages = 0; pages < 40; pages++) {
      const page = await api("GET", `/v1/audit${query({ action, tenant: run.tenant, limit: 500, cursor })}`);
      const rec = page.items.find((a) => a.target === run.id);
      if (rec) {
        status.replaceWith(kv({ seq: rec.seq, at: time(rec.at), action: rec.action, actor: rec.actor,
          hash: rec.hash, prev: rec.prev }));
        return;
      }
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    status.textContent = "Not found in the chain (pruned by retention, or beyond the first 20 000 run records).";
  })().catch((e) => { status.textContent = e.message; });
  return c;
}

main();
