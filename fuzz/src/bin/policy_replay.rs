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

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

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

const VALUES: &[&str] = &[
    "1", "0", "-1", "2", "65536", "65537", "1.5", "\"\"", "\"x\"", "true", "[]", "{}", "[1, \"a\"]",
    "{ a = 1 }", "\"16M\"", "\"15M\"", "\"4T\"", "\"1T\"", "\"24h\"", "\"86401s\"", "\"0s\"", "\"1s\"",
    "\"999ms\"", "\"2.5\"", "2.5", "1e3", "\"deny\"", "\"allow\"", "\"audit\"", "[\"os\", \"os\"]",
    "[\"a..b\"]", "[\"a.b\"]", "[\"/x\", \"/x\"]", "1979-05-27", "\"stockade\"", "\"-bad\"",
    "\"a.b.c\"", "\"x\".repeat", "\"\\u0000\"", "'lit'", "\"\"\"multi\nline\"\"\"",
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = out.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                out.insert(i, (rng.next() & 0xff) as u8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                out.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let piece = out[i..i + n].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, piece);
            }
            4 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let cut_a = rng.below(out.len() + 1);
                let cut_b = rng.below(other.len() + 1);
                out.truncate(cut_a);
                out.extend_from_slice(&other[cut_b..]);
            }
            5 | 6 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let at = rng.below(len + 1);
                out.splice(at..at, t.iter().copied());
            }
            7 => {
                // Replace the value after a random `=` (up to the end of the line).
                let eqs: Vec<usize> = out.iter().enumerate().filter(|(_, b)| **b == b'=').map(|(i, _)| i).collect();
                if let Some(&eq) = eqs.get(rng.below(eqs.len().max(1))) {
                    let end = out[eq..].iter().position(|&b| b == b'\n').map_or(out.len(), |p| eq + p);
                    let v = VALUES[rng.below(VALUES.len())];
                    out.splice(eq + 1..end, format!(" {v}").into_bytes());
                }
            }
            _ => {
                // Duplicate or drop a whole line.
                let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
                if lines.len() > 1 {
                    let i = rng.below(lines.len());
                    let mut new: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
                    if rng.below(2) == 0 {
                        let l = new[i].clone();
                        new.insert(rng.below(new.len() + 1), l);
                    } else {
                        new.remove(i);
                    }
                    out = new.join(&b'\n');
                }
            }
        }
        if out.len() > 16 * 1024 {
            out.truncate(16 * 1024);
        }
    }
    out
}

/// A coarse outcome class: "ok", or the error message with digits and quoted text removed.
fn outcome(data: &[u8]) -> String {
    let Ok(src) = std::str::from_utf8(data) else { return "utf8".into() };
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

fn collect(path: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for p in entries {
            collect(&p, out);
        }
    } else if let Ok(bytes) = std::fs::read(path) {
        out.push((path.to_path_buf(), bytes));
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seconds = 20u64;
    let mut seed = 0x5eed_u64 ^ std::process::id() as u64 ^ (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64));
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).expect("--seconds N"),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed S"),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        paths.push(root.join("../crates/stockade-policy/resources/valid"));
        paths.push(root.join("../crates/stockade-policy/resources/invalid"));
        paths.push(root.join("corpus/policy_parse"));
    }
    let mut seeds = Vec::new();
    for p in &paths {
        collect(p, &mut seeds);
    }
    assert!(!seeds.is_empty(), "no seed inputs in {paths:?}");
    let seed = seed.max(1);
    eprintln!("policy_replay: {} seeds, {seconds} s, --seed {seed}", seeds.len());

    // Panics are caught per input; keep the message for the report, silence the default print.
    let last_panic: Arc<Mutex<String>> = Arc::default();
    {
        let last = Arc::clone(&last_panic);
        std::panic::set_hook(Box::new(move |info| {
            *last.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
        }));
    }
    let crash = |input: &[u8]| -> ! {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        input.hash(&mut h);
        let dir = root.join("artifacts/policy_replay");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("crash-{:016x}", h.finish()));
        let _ = std::fs::write(&file, input);
        eprintln!(
            "policy_replay: CRASH, input saved to {}\n{}\n--- input ({} bytes) ---\n{}",
            file.display(),
            last_panic.lock().unwrap_or_else(|e| e.into_inner()),
            input.len(),
            String::from_utf8_lossy(input)
        );
        std::process::exit(1);
    };
    let run = |input: &[u8]| std::panic::catch_unwind(|| stockade_fuzz::check(input)).is_ok();

    let mut corpus: Vec<Vec<u8>> = Vec::new();
    let mut seen = HashSet::new();
    for (path, bytes) in &seeds {
        if !run(bytes) {
            eprintln!("policy_replay: seed {} crashes", path.display());
            crash(bytes);
        }
        seen.insert(outcome(bytes));
        corpus.push(bytes.clone());
    }
    let mut rng = Rng(seed);
    let start = Instant::now();
    let limit = Duration::from_secs(seconds);
    let (mut execs, mut parsed) = (0u64, 0u64);
    while start.elapsed() < limit {
        for _ in 0..64 {
            let base = corpus[rng.below(corpus.len())].clone();
            let input = mutate(&mut rng, &base, &corpus);
            if !run(&input) {
                crash(&input);
            }
            execs += 1;
            let class = outcome(&input);
            if class == "ok" {
                parsed += 1;
            }
            if corpus.len() < 4000 && seen.insert(class) {
                corpus.push(input);
            }
        }
    }
    eprintln!(
        "policy_replay: no crash; {execs} inputs in {:.1} s ({parsed} parsed and round-tripped), {} outcome classes, corpus {}",
        start.elapsed().as_secs_f64(),
        seen.len(),
        corpus.len()
    );
}
