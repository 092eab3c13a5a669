//! What the stable harnesses (`src/bin/policy_replay.rs`, `src/bin/check_replay.rs`) share: the
//! command line, the seed files, the xorshift generator, the byte-level mutations, the
//! time-bounded mutation loop and the crash artifacts. What each one mutates and checks beyond
//! that stays in its own file.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A xorshift64 generator: fast, and the same sequence for the same `--seed`.
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed` (which must not be 0: xorshift would stay at 0).
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// The command line both harnesses take: `[--seconds N] [--seed S] [DIR|FILE]...`.
pub struct Options {
    /// How long to fuzz (default 20).
    pub seconds: u64,
    /// The generator's seed, never 0 (default: from the clock and the process id).
    pub seed: u64,
    /// The seed files and directories; empty when none were given.
    pub paths: Vec<PathBuf>,
}

impl Options {
    /// Parses the arguments after the program name; a bad `--seconds` or `--seed` panics.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Self {
        let mut seconds = 20u64;
        let mut seed = 0x5eed_u64
            ^ std::process::id() as u64
            ^ (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64));
        let mut paths = Vec::new();
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).expect("--seconds N"),
                "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed S"),
                _ => paths.push(PathBuf::from(a)),
            }
        }
        Options {
            seconds,
            seed: seed.max(1),
            paths,
        }
    }
}

/// Appends every file under `paths` (directories recursively, in name order) to `seeds`, named by
/// its path. Unreadable paths are skipped.
pub fn read_seeds(paths: &[PathBuf], seeds: &mut Vec<(String, Vec<u8>)>) {
    for path in paths {
        collect(path, seeds);
    }
}

fn collect(path: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for p in entries {
            collect(&p, out);
        }
    } else if let Ok(bytes) = std::fs::read(path) {
        out.push((path.display().to_string(), bytes));
    }
}

/// How many kinds of mutation [`mutate`] has of its own, before the harness's.
const BYTE_KINDS: usize = 5;

/// Mutates a copy of `input` in 1 to 4 rounds, cutting it to `max_len` bytes after each. A round
/// draws one of `5 + own_kinds` kinds: the first five are byte mutations (flip a bit, insert a
/// random byte, delete up to 32 bytes, copy up to 64 bytes elsewhere, splice the head of the input
/// onto the tail of a `corpus` entry), the others are the harness's, which `own(rng, kind, out)`
/// applies for `kind` in `0..own_kinds`.
pub fn mutate(
    rng: &mut Rng,
    input: &[u8],
    corpus: &[Vec<u8>],
    own_kinds: usize,
    max_len: usize,
    mut own: impl FnMut(&mut Rng, usize, &mut Vec<u8>),
) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let kind = rng.below(BYTE_KINDS + own_kinds);
        if kind < BYTE_KINDS {
            mutate_bytes(rng, kind, &mut out, corpus);
        } else {
            own(rng, kind - BYTE_KINDS, &mut out);
        }
        out.truncate(max_len);
    }
    out
}

/// One of the byte mutations of [`mutate`]; leaves `out` alone when it does not apply (nothing to
/// flip, delete or copy in an empty input, no corpus entry to splice).
fn mutate_bytes(rng: &mut Rng, kind: usize, out: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    let len = out.len();
    match kind {
        0 if len > 0 => {
            let i = rng.below(len);
            out[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = rng.below(len + 1);
            out.insert(i, (rng.next_u64() & 0xff) as u8);
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
            let cut_a = rng.below(len + 1);
            let cut_b = rng.below(other.len() + 1);
            out.truncate(cut_a);
            out.extend_from_slice(&other[cut_b..]);
        }
        _ => {}
    }
}

/// Inserts one of `tokens` at a random place.
pub fn insert_token(rng: &mut Rng, out: &mut Vec<u8>, tokens: &[&str]) {
    let t = tokens[rng.below(tokens.len())].as_bytes();
    let at = rng.below(out.len() + 1);
    out.splice(at..at, t.iter().copied());
}

/// Duplicates a whole line (to a random place) or drops one.
pub fn duplicate_or_drop_line(rng: &mut Rng, out: &mut Vec<u8>) {
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
        *out = new.join(&b'\n');
    }
}

/// The working corpus: the inputs mutations start from, and the outcome classes seen so far.
#[derive(Default)]
pub struct Corpus {
    pub inputs: Vec<Vec<u8>>,
    pub classes: HashSet<String>,
}

impl Corpus {
    /// Until `deadline` (read every `batch` inputs), mutates a random input with `mutate` and runs
    /// the result with `run`, which returns its outcome class (and does not return on a crash). An
    /// input with a new class joins the corpus, up to 4000 inputs. Returns how many inputs ran.
    pub fn fuzz(
        &mut self,
        rng: &mut Rng,
        deadline: Instant,
        batch: usize,
        mutate: impl Fn(&mut Rng, &[u8], &[Vec<u8>]) -> Vec<u8>,
        mut run: impl FnMut(&[u8]) -> String,
    ) -> u64 {
        let mut execs = 0u64;
        while Instant::now() < deadline {
            for _ in 0..batch {
                let base = &self.inputs[rng.below(self.inputs.len())];
                let input = mutate(rng, base, &self.inputs);
                let class = run(&input);
                execs += 1;
                if self.inputs.len() < 4000 && self.classes.insert(class) {
                    self.inputs.push(input);
                }
            }
        }
        execs
    }
}

/// Keeps the message of the last panic, in place of the default print: the harnesses catch panics
/// per input and report only the one that counts.
pub struct LastPanic(Arc<Mutex<String>>);

impl LastPanic {
    /// Installs the panic hook that records the messages.
    pub fn install() -> Self {
        let last: Arc<Mutex<String>> = Arc::default();
        let hook = Arc::clone(&last);
        std::panic::set_hook(Box::new(move |info| {
            *hook.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
        }));
        LastPanic(last)
    }

    pub fn message(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Writes a crashing input to `dir/crash-<hash of the input>` and returns that path.
pub fn save_crash(dir: &Path, input: &[u8]) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    input.hash(&mut h);
    let _ = std::fs::create_dir_all(dir);
    let file = dir.join(format!("crash-{:016x}", h.finish()));
    let _ = std::fs::write(&file, input);
    file
}
