//! A libFuzzer-free fuzzer for the policy parser, for stable Rust and CI.
//!
//! ```text
//! policy_replay [--seconds N] [--seed S] [DIR|FILE]...
//! ```
//!
//! Runs every seed file (default: `crates/stockade-policy/resources/{valid,invalid}` and
//! `fuzz/corpus/policy_parse`), then mutates them with a xorshift-driven mutator (byte flips,
//! inserts, deletes, duplicated ranges, splices of two inputs, TOML and policy tokens, values
//! swapped after `=`) for N seconds (default 20). An input whose outcome is new (parsed, or a
//! new error message shape) joins the working corpus, so the search drifts towards inputs that
//! get further into the parser. Each input goes through [`stockade_fuzz::check`]: no panic, and
//! a parsed policy must round-trip through `to_toml()`. A panic writes the input to
//! `fuzz/artifacts/policy_replay/crash-<hash>`, prints it and exits 1.

use std::path::Path;
use std::time::{Duration, Instant};
use stockade_fuzz::replay::{self, Corpus, LastPanic, Options, Rng};

/// The longest input the mutator makes.
const MAX_INPUT: usize = 16 * 1024;

#[rustfmt::skip]
const TOKENS: &[&str] = &[
    "=", "\"", "'", "[", "]", "[[", "]]", "{", "}", ",", ".", "\n", " ", "#", "\"\"\"", "'''", "\\", "\\u0000",
    "\\U0010FFFF", "\u{0}", "é", "\u{202e}", "-", "+", "_", "0x", "1e308", "-0", "nan", "inf", "true", "false",
    "1979-05-27T07:32:00Z", "version = 1\n", "version", "extends", "\"strict\"", "\"data\"", "[python]",
    "interpreter", "venv", "[limits]", "wall-time", "cpu-time", "memory", "processes", "file-size", "scratch",
    "open-files", "output", "[env]", "set", "pass", "unset", "LD_PRELOAD", "PYTHONPATH", "[network]", "mode",
    "\"none\"", "[filesystem]", "read-only", "host", "jail", "[[filesystem.read-only]]", "[isolation]",
    "allow-degraded", "hostname", "[guard]", "enabled", "\"enforce\"", "\"audit\"", "on-violation", "\"raise\"",
    "\"kill\"", "record", "\"all\"", "[guard.imports]", "default", "allow", "deny", "replace", "[guard.files]",
    "read", "write", "\"{scratch}\"", "\"{python}\"", "\"{venv}/x\"", "\"{sandbox}\"", "\"{nope}\"",
    "[guard.network]", "connect", "bind", "\"127.0.0.1:8080\"", "\"[::1]:*\"", "\"*:*\"", "\"::1:80\"",
    "[guard.rules]", "process", "code", "code-objects", "deserialize", "introspection", "ctypes", "signal",
    "\"1.5G\"", "\"512 mib\"", "\"64KB\"", "\"10s\"", "\"500ms\"", "\"1.5h\"", "\"7ns\"", "\"2min\"",
    "\"0.0000000001s\"", "18446744073709551615", "9223372036854775807", "-9223372036854775808",
    "\"99999999999999999999T\"", "\"1.00000000000000000001G\"", "\"/\"", "\"/..\"", "\"/a//b\"", "\"/a/\"",
    "\"/proc\"", "\"/tmp/x\"", "\"relative\"",
];

#[rustfmt::skip]
const VALUES: &[&str] = &[
    "1", "0", "-1", "2", "65536", "65537", "1.5", "\"\"", "\"x\"", "true", "[]", "{}", "[1, \"a\"]",
    "{ a = 1 }", "\"16M\"", "\"15M\"", "\"4T\"", "\"1T\"", "\"24h\"", "\"86401s\"", "\"0s\"", "\"1s\"",
    "\"999ms\"", "\"2.5\"", "2.5", "1e3", "\"deny\"", "\"allow\"", "\"audit\"", "[\"os\", \"os\"]",
    "[\"a..b\"]", "[\"a.b\"]", "[\"/x\", \"/x\"]", "1979-05-27", "\"stockade\"", "\"-bad\"",
    "\"a.b.c\"", "\"x\".repeat", "\"\\u0000\"", "'lit'", "\"\"\"multi\nline\"\"\"",
];

/// The shared byte mutations, plus 4 kinds of this harness's own: TOML and policy tokens (2 of
/// them), a value swapped after `=`, a line duplicated or dropped.
fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    replay::mutate(rng, input, corpus, 4, MAX_INPUT, |rng, kind, out| match kind {
        0 | 1 => replay::insert_token(rng, out, TOKENS),
        2 => {
            // Replace the value after a random `=` (up to the end of the line).
            let eqs: Vec<usize> = out
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'=')
                .map(|(i, _)| i)
                .collect();
            if let Some(&eq) = eqs.get(rng.below(eqs.len().max(1))) {
                let end = out[eq..].iter().position(|&b| b == b'\n').map_or(out.len(), |p| eq + p);
                let v = VALUES[rng.below(VALUES.len())];
                out.splice(eq + 1..end, format!(" {v}").into_bytes());
            }
        }
        _ => replay::duplicate_or_drop_line(rng, out),
    })
}

/// A coarse outcome class: "ok", or the error message with digits and quoted text removed.
fn outcome(data: &[u8]) -> String {
    let Ok(src) = std::str::from_utf8(data) else {
        return "utf8".into();
    };
    match stockade_policy::Policy::from_toml(src, "fuzz.toml") {
        Ok(_) => "ok".into(),
        Err(e) => {
            let text = e.to_string();
            let mut shape = String::new();
            let mut in_quote = false;
            for c in text.chars() {
                if c == '"' {
                    in_quote = !in_quote;
                } else if !in_quote && !c.is_ascii_digit() {
                    shape.push(c);
                }
            }
            shape
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Options {
        seconds,
        seed,
        mut paths,
    } = Options::parse(std::env::args().skip(1));
    if paths.is_empty() {
        paths.push(root.join("../crates/stockade-policy/resources/valid"));
        paths.push(root.join("../crates/stockade-policy/resources/invalid"));
        paths.push(root.join("corpus/policy_parse"));
    }
    let mut seeds = Vec::new();
    replay::read_seeds(&paths, &mut seeds);
    assert!(!seeds.is_empty(), "no seed inputs in {paths:?}");
    eprintln!("policy_replay: {} seeds, {seconds} s, --seed {seed}", seeds.len());

    let last_panic = LastPanic::install();
    let crash = |input: &[u8]| -> ! {
        let file = replay::save_crash(&root.join("artifacts/policy_replay"), input);
        eprintln!(
            "policy_replay: CRASH, input saved to {}\n{}\n--- input ({} bytes) ---\n{}",
            file.display(),
            last_panic.message(),
            input.len(),
            String::from_utf8_lossy(input)
        );
        std::process::exit(1);
    };
    let run = |input: &[u8]| std::panic::catch_unwind(|| stockade_fuzz::check(input)).is_ok();

    let mut corpus = Corpus::default();
    for (name, bytes) in &seeds {
        if !run(bytes) {
            eprintln!("policy_replay: seed {name} crashes");
            crash(bytes);
        }
        corpus.classes.insert(outcome(bytes));
        corpus.inputs.push(bytes.clone());
    }
    let start = Instant::now();
    let mut parsed = 0u64;
    let execs = corpus.fuzz(
        &mut Rng::new(seed),
        start + Duration::from_secs(seconds),
        64,
        mutate,
        |input| {
            if !run(input) {
                crash(input);
            }
            let class = outcome(input);
            if class == "ok" {
                parsed += 1;
            }
            class
        },
    );
    eprintln!(
        "policy_replay: no crash; {execs} inputs in {:.1} s ({parsed} parsed and round-tripped), {} outcome classes, corpus {}",
        start.elapsed().as_secs_f64(),
        corpus.classes.len(),
        corpus.inputs.len()
    );
}
