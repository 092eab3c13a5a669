//! The stable (libFuzzer-free) driver of the protocol harnesses, `src/bin/{frames,answer,
//! messages,names,events}_replay.rs`: each is one [`Harness`] handed to [`main`].
//!
//! ```text
//! <name>_replay [--seconds N] [--seed S] [DIR|FILE]...
//! <name>_replay --write-seeds [DIR]     # the built-in seeds as files (default fuzz/seeds/<target>)
//! ```
//!
//! Runs the built-in seeds ([`crate::protocol::seeds`]) and the seed files (default:
//! `fuzz/seeds/<target>`, regression inputs included, and `fuzz/corpus/<target>`), then mutates
//! them for N seconds (default 20) with the shared byte mutations plus binary ones (integers
//! overwritten with boundary values, frame headers inserted), the harness's tokens, JSON values
//! swapped after a `:`, and lines duplicated or dropped. An input with a new outcome class joins
//! the working corpus. A panic writes the input to `fuzz/artifacts/<name>_replay/crash-<hash>`,
//! prints it and exits 1.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::protocol;
use crate::replay::{self, Corpus, LastPanic, Options, Rng};

/// One protocol harness.
pub struct Harness {
    /// The stable harness's name (`frames_replay`).
    pub name: &'static str,
    /// The libFuzzer target's name, which names the seed and corpus directories
    /// (`protocol_frames`).
    pub target: &'static str,
    /// The property ([`crate::protocol`]): panics on a violation, returns an outcome class.
    pub check: fn(&[u8]) -> String,
    /// Tokens the mutator inserts.
    pub tokens: &'static [&'static str],
    /// The longest input the mutator makes.
    pub max_len: usize,
}

/// Values the mutator puts after a `:` (JSON members).
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "0.1",
    "-0.0",
    "1e308",
    "1e309",
    "4.9e-324",
    "2.2250738585072011e-308",
    "0.30000000000000004",
    "123456789.12345678",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "\"\"",
    "\"x\"",
    "\"../x\"",
    "\"/abs\"",
    "\"a//b\"",
    "\"aGk=\"",
    "\"aGk\"",
    "\"a\\u0000b\"",
    "\"\\ud800\"",
    "null",
    "true",
    "[]",
    "{}",
    "[[[[[[[[]]]]]]]]",
    "{\"a\":{\"b\":{}}}",
    "\"denied\"",
    "\"audited\"",
    "\"cold\"",
    "\"pool\"",
    "\"session\"",
    "\"ok\"",
    "\"setup_failed\"",
    "\"event\"",
    "\"guard\"",
];

/// Boundary values the mutator writes over 1, 2, 4 or 8 bytes (little-endian).
const NUMBERS: &[u64] = &[
    0,
    1,
    2,
    7,
    15,
    16,
    17,
    127,
    128,
    255,
    256,
    4095,
    4096,
    4097,
    65535,
    65536,
    1 << 20,
    (1 << 20) + 1,
    (1 << 24) - 1,
    0x7fff_ffff,
    0xffff_ffff,
    u64::MAX,
];

fn mutate(h: &Harness, rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    replay::mutate(rng, input, corpus, 6, h.max_len, |rng, kind, out| match kind {
        0 | 1 => replay::insert_token(rng, out, h.tokens),
        2 => {
            // A boundary value over 1, 2, 4 or 8 bytes somewhere (lengths, caps, counts).
            let width = 1 << rng.below(4);
            let n = NUMBERS[rng.below(NUMBERS.len())].to_le_bytes();
            let at = rng.below(out.len() + 1);
            let end = (at + width).min(out.len());
            out.splice(at..end, n[..width].iter().copied());
        }
        3 => {
            // A frame header: any kind number, a boundary length, a small nonce.
            let mut header = [0u8; 16];
            header[..3].copy_from_slice(&[b'S', b'K', stockade_protocol::PROTOCOL_VERSION]);
            header[3] = rng.below(19) as u8;
            let len = NUMBERS[rng.below(NUMBERS.len())].min(u64::from(u32::MAX)) as u32;
            header[4..8].copy_from_slice(&len.to_le_bytes());
            header[8] = rng.below(10) as u8;
            let at = rng.below(out.len() + 1);
            out.splice(at..at, header);
        }
        4 => {
            // Replace the value after a random `:` (up to the next `,` or `}`).
            let colons: Vec<usize> = out
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b':')
                .map(|(i, _)| i)
                .collect();
            if let Some(&c) = colons.get(rng.below(colons.len().max(1))) {
                let end = out[c..]
                    .iter()
                    .position(|&b| b == b',' || b == b'}')
                    .map_or(out.len(), |p| c + p);
                let v = VALUES[rng.below(VALUES.len())];
                out.splice(c + 1..end, v.bytes());
            }
        }
        _ => replay::duplicate_or_drop_line(rng, out),
    })
}

fn preview(input: &[u8]) -> String {
    let shown = &input[..input.len().min(4096)];
    let text: String = shown
        .iter()
        .map(|&b| {
            if b == b'\n' || (0x20..0x7f).contains(&b) {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect();
    if input.len() > shown.len() {
        format!("{text}\n[... {} more bytes]", input.len() - shown.len())
    } else {
        text
    }
}

/// Writes the built-in seeds to `dir`, as `<name>` files (existing files, regression inputs
/// among them, are left alone unless a seed has their name).
fn write_seeds(h: &Harness, dir: &Path) {
    std::fs::create_dir_all(dir).expect("create the seed directory");
    let seeds = protocol::seeds(h.target);
    for (name, bytes) in &seeds {
        let name: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
            .collect();
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    }
    eprintln!("{}: wrote {} seeds to {}", h.name, seeds.len(), dir.display());
}

/// Run the harness with this process's arguments.
pub fn main(h: &Harness) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--write-seeds") {
        let dir = args
            .get(1)
            .map_or_else(|| root.join("seeds").join(h.target), PathBuf::from);
        write_seeds(h, &dir);
        return;
    }
    let Options {
        seconds,
        seed,
        mut paths,
    } = Options::parse(args);
    let explicit = !paths.is_empty();
    if !explicit {
        paths.push(root.join("seeds").join(h.target));
        paths.push(root.join("corpus").join(h.target));
    }
    let mut seeds = if explicit {
        Vec::new()
    } else {
        protocol::seeds(h.target)
    };
    replay::read_seeds(&paths, &mut seeds);
    assert!(!seeds.is_empty(), "no seed inputs in {paths:?}");
    eprintln!("{}: {} seeds, {seconds} s, --seed {seed}", h.name, seeds.len());

    let last_panic = LastPanic::install();
    let crash = |input: &[u8]| -> ! {
        let file = replay::save_crash(&root.join("artifacts").join(h.name), input);
        eprintln!(
            "{}: CRASH, input saved to {}\n{}\n--- input ({} bytes) ---\n{}",
            h.name,
            file.display(),
            last_panic.message(),
            input.len(),
            preview(input)
        );
        std::process::exit(1);
    };
    let run = |input: &[u8]| std::panic::catch_unwind(|| (h.check)(input)).ok();

    let mut corpus = Corpus::default();
    let start = Instant::now();
    for (name, bytes) in &seeds {
        match run(bytes) {
            Some(class) => {
                corpus.classes.insert(class);
            }
            None => {
                eprintln!("{}: seed {name} crashes", h.name);
                crash(bytes);
            }
        }
        if bytes.len() <= h.max_len {
            corpus.inputs.push(bytes.clone());
        }
    }
    let seeded = start.elapsed();
    let execs = corpus.fuzz(
        &mut Rng::new(seed),
        start + Duration::from_secs(seconds),
        256,
        |rng, input, inputs| mutate(h, rng, input, inputs),
        |input| run(input).unwrap_or_else(|| crash(input)),
    );
    eprintln!(
        "{}: no crash; {} seeds, then {execs} mutated inputs in {:.1} s; {} outcome classes, corpus {}",
        h.name,
        seeds.len(),
        (start.elapsed() - seeded).as_secs_f64(),
        corpus.classes.len(),
        corpus.inputs.len()
    );
}
