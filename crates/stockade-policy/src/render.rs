//! [`Policy`] → annotated TOML, for `stockade explain` and for saving an effective policy.
//!
//! The output spells out every key, so it reads back to an equal policy whatever the
//! profile: `env.unset` removes the profile's variables that the policy no longer sets.

use std::path::Path;

use crate::model::{toml_key, toml_string, Policy};
use crate::units::{format_duration, format_size};

impl Policy {
    /// The full effective policy as a TOML document, with a short comment on each key.
    /// [`Policy::from_toml`] reads it back to an equal policy.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        let kv = |key: &str, value: String, comment: &str| {
            let text = format!("{key} = {value}");
            format!("{text:<40} # {comment}")
        };
        let path = |p: &Path| toml_string(&p.to_string_lossy());

        line("# Effective stockade policy. Every key is spelled out; see docs/policy.md.".into());
        line(kv("version", self.version.to_string(), "policy file format version"));
        line(kv(
            "extends",
            toml_string(&self.extends),
            "built-in profile the values below start from",
        ));

        line(String::new());
        line("[python]".into());
        match &self.python.interpreter {
            Some(p) => line(kv("interpreter", path(p), "Python interpreter (absolute path)")),
            None => line(format!(
                "# {}",
                kv(
                    "interpreter",
                    "\"/usr/bin/python3\"".into(),
                    "unset: the default python3"
                )
            )),
        }
        match &self.python.venv {
            Some(p) => line(kv("venv", path(p), "virtual environment (absolute path)")),
            None => line(format!(
                "# {}",
                kv("venv", "\"/opt/venv\"".into(), "unset: no virtual environment")
            )),
        }

        let l = &self.limits;
        line(String::new());
        line("[limits]".into());
        let d = |v| toml_string(&format_duration(v));
        let s = |v| toml_string(&format_size(v));
        line(kv(
            "wall-time",
            d(l.wall_time),
            "wall-clock time before the jail is killed",
        ));
        line(kv("cpu-time", d(l.cpu_time), "CPU time (user + system)"));
        line(kv("memory", s(l.memory), "memory for the whole jail (1024-based)"));
        line(kv("processes", l.processes.to_string(), "processes + threads"));
        line(kv("file-size", s(l.file_size), "largest file that may be written"));
        line(kv("scratch", s(l.scratch), "size of the writable /tmp"));
        line(kv(
            "open-files",
            l.open_files.to_string(),
            "open file descriptors per process",
        ));
        line(kv("output", s(l.output), "captured output per stream (stdout, stderr)"));

        line(String::new());
        line("[env]".into());
        let set = self
            .env
            .set
            .iter()
            .map(|(k, v)| format!("{} = {}", toml_key(k), toml_string(v)))
            .collect::<Vec<_>>()
            .join(", ");
        line(kv(
            "set",
            format!("{{ {set} }}").replace("{  }", "{}"),
            "variables set in the jail",
        ));
        let list = |names: &mut dyn Iterator<Item = &String>| {
            let items: Vec<String> = names.map(|n| toml_string(n)).collect();
            format!("[{}]", items.join(", "))
        };
        line(kv(
            "pass",
            list(&mut self.env.pass.iter()),
            "copied from the caller's environment if present",
        ));
        line(kv(
            "secret",
            list(&mut self.env.secret.iter()),
            "values replaced by [secret] in results and logs",
        ));
        // Only needed to read back exactly: the profile's variables this policy dropped.
        let profile = Policy::profile(&self.extends).unwrap_or_else(Policy::strict);
        let mut unset = profile
            .env
            .set
            .keys()
            .filter(|k| !self.env.set.contains_key(*k) && !self.env.pass.contains(k));
        let unset = list(&mut unset);
        if unset != "[]" {
            line(kv("unset", unset, "profile variables removed"));
        }

        line(String::new());
        line("[network]".into());
        line(kv(
            "mode",
            toml_string(self.network.mode.as_str()),
            "\"none\": loopback only; \"proxy\": the host proxy, to what allow names",
        ));
        line(kv(
            "allow",
            list(&mut self.network.allow.iter().map(|a| &a.text)),
            "host:port entries the proxy connects to",
        ));
        line(kv(
            "max-connections",
            self.network.max_connections.to_string(),
            "connections per run",
        ));
        line(kv(
            "max-bytes",
            toml_string(&format_size(self.network.max_bytes)),
            "bytes per run through the proxy, both ways",
        ));

        if !self.secrets.is_empty() {
            line(String::new());
            line("[secrets]".into());
            for (name, spec) in &self.secrets {
                let hosts: Vec<String> = spec.hosts.iter().map(|h| toml_string(h)).collect();
                line(format!(
                    "{} = {{ from = {}, hosts = [{}] }}",
                    toml_key(name),
                    toml_string(&spec.from),
                    hosts.join(", ")
                ));
            }
        }

        line(String::new());
        line("[filesystem]".into());
        // The file's list is appended to the profile's; only print what the profile lacks.
        let extra = self
            .filesystem
            .read_only
            .strip_prefix(profile.filesystem.read_only.as_slice())
            .unwrap_or(&self.filesystem.read_only);
        if extra.is_empty() {
            line(kv("read-only", "[]".into(), "extra read-only bind mounts"));
        } else {
            line(kv("read-only", "[".into(), "extra read-only bind mounts"));
            for b in extra {
                line(format!("    {{ host = {}, jail = {} }},", path(&b.host), path(&b.jail)));
            }
            line("]".into());
        }

        line(String::new());
        line("[isolation]".into());
        line(kv(
            "allow-degraded",
            self.isolation.allow_degraded.to_string(),
            "run even if a protection layer cannot be applied",
        ));
        line(kv(
            "hostname",
            toml_string(&self.isolation.hostname),
            "the jail's hostname",
        ));

        line(String::new());
        line("[check]".into());
        line(kv(
            "prescreen",
            self.check.prescreen.to_string(),
            "refuse code that fails `stockade check --prescreen` before running it",
        ));
        for text in self.render_guard() {
            line(text);
        }
        out
    }

    /// The `[guard]` tables. Lists are printed in full with `replace = true`, so the output
    /// does not depend on the profile's lists, and deleting an entry from it removes it.
    fn render_guard(&self) -> Vec<String> {
        let g = &self.guard;
        let mut out = Vec::new();
        let name = |v: &str| toml_string(v);
        let replace = kv(
            "replace",
            "true".into(),
            "the lists below are complete, not added to the profile's",
        );

        out.push(String::new());
        out.push("[guard]".into());
        out.push(kv(
            "enabled",
            g.enabled.to_string(),
            "run the in-interpreter guard (audit hook)",
        ));
        out.push(kv(
            "mode",
            name(g.mode.as_str()),
            "\"enforce\": denied events fail; \"audit\": allow, record",
        ));
        out.push(kv(
            "on-violation",
            name(g.on_violation.as_str()),
            "\"raise\": PermissionError; \"kill\": end the run",
        ));
        let record: Vec<&str> = g.record.iter().map(|c| c.as_str()).collect();
        list(&mut out, "record", &record, "classes of allowed events also recorded");

        let i = &g.imports;
        out.push(String::new());
        out.push("[guard.imports]".into());
        out.push(replace.clone());
        out.push(kv(
            "default",
            name(i.default.as_str()),
            "for modules that no entry covers",
        ));
        out.push(kv("venv", i.venv.to_string(), "allow packages installed in the venv"));
        list(&mut out, "allow", &strs(&i.allow), "importable; \"a\" covers \"a.b\"");
        list(
            &mut out,
            "deny",
            &strs(&i.deny),
            "refused; the longest entry of either list wins",
        );

        out.push(String::new());
        out.push("[guard.files]".into());
        out.push(replace.clone());
        list(&mut out, "read", &strs(&g.files.read), "path prefixes that may be read");
        list(
            &mut out,
            "write",
            &strs(&g.files.write),
            "... that may be written, created, removed",
        );

        out.push(String::new());
        out.push("[guard.network]".into());
        out.push(replace);
        list(
            &mut out,
            "connect",
            &strs(&g.network.connect),
            "host:port for connect, sendto, getaddrinfo",
        );
        list(&mut out, "bind", &strs(&g.network.bind), "host:port for bind");

        out.push(String::new());
        out.push("[guard.rules]".into());
        for (key, decision) in g.rules.entries() {
            let comment = match key {
                "process" => "os.system, subprocess, exec, spawn, fork",
                "code" => "compile/exec/eval by user code",
                "code-objects" => "CodeType(), marshal.loads of code",
                "deserialize" => "pickle.find_class of dangerous globals",
                "introspection" => "frames, gc, settrace, type internals",
                "ctypes" => "ctypes and cffi",
                "env" => "os.putenv, os.unsetenv",
                _ => "signals to other processes",
            };
            out.push(kv(key, name(decision.as_str()), comment));
        }
        out
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Width of the rows of a long list in the `[guard]` tables.
const LIST_WIDTH: usize = 100;

/// `key = [...]` on one line if short, else one row of items per `LIST_WIDTH` characters.
fn list(out: &mut Vec<String>, key: &str, items: &[&str], comment: &str) {
    let quoted: Vec<String> = items.iter().map(|i| toml_string(i)).collect();
    let one = format!("[{}]", quoted.join(", "));
    if key.len() + one.len() + 3 <= 40 {
        out.push(kv(key, one, comment));
        return;
    }
    out.push(kv(key, "[".into(), comment));
    let mut row = String::from("   ");
    for item in quoted {
        if row.len() > 3 && row.len() + item.len() + 2 > LIST_WIDTH {
            out.push(std::mem::replace(&mut row, String::from("   ")));
        }
        row.push(' ');
        row.push_str(&item);
        row.push(',');
    }
    out.push(row);
    out.push("]".into());
}

/// `key = value` with the comment in column 42.
fn kv(key: &str, value: String, comment: &str) -> String {
    let text = format!("{key} = {value}");
    format!("{text:<40} # {comment}")
}
