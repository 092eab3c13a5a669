//! A libFuzzer-free fuzzer for the Python checker (`stockade_check::check_source`), for stable
//! Rust and CI.
//!
//! ```text
//! check_replay [--seconds N] [--seed S] [DIR|FILE]...
//! check_replay --write-seeds DIR     # the built-in seeds (up to 16 KiB) as files, for cargo-fuzz
//! ```
//!
//! Runs the built-in tricky inputs (deep nesting of every kind, NUL bytes, invalid UTF-8, bidi
//! controls, huge tokens, unterminated strings, tab/CR/form-feed mixes, encoding declarations, new
//! syntax) and every seed file (default: the checker's fixtures, the pre-screen corpus and
//! `fuzz/corpus/check_source`), then mutates them with a xorshift-driven mutator (byte flips,
//! inserts, deletes, duplicated ranges, splices, Python tokens, re-indented, duplicated or dropped
//! lines, ranges wrapped in many brackets, tokens repeated many times) for N seconds (default 20).
//! An input whose outcome is new (a new combination of rules that fired) joins the working corpus.
//! Each input goes through [`stockade_fuzz::check_python`] with the audit and two pre-screen
//! settings: no internal failure, findings inside the text, same findings when checked twice.
//!
//! The fuzzing runs in a child process (the same binary with `--child`), which writes each input
//! to `fuzz/artifacts/check_replay/in-flight` before checking it, so that a crash no panic handler
//! sees (a stack overflow aborts the process) still leaves the input behind. A crash writes the
//! input to `fuzz/artifacts/check_replay/crash-<hash>`, prints it and exits 1.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use stockade_fuzz::replay::{self, Corpus, LastPanic, Options, Rng};

/// The longest input the mutator makes (longer seeds are checked but not mutated).
const MAX_INPUT: usize = 64 * 1024;

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    ",",
    ".",
    ";",
    "=",
    ":=",
    "->",
    "@",
    "*",
    "**",
    "+",
    "-",
    "~",
    "not ",
    " and ",
    " or ",
    " if ",
    " else ",
    " for ",
    " in ",
    " is ",
    "lambda ",
    "lambda: ",
    "yield ",
    "yield from ",
    "await ",
    "async ",
    "def ",
    "class ",
    "return ",
    "import ",
    "from ",
    " as ",
    "global ",
    "nonlocal ",
    "del ",
    "match ",
    "case ",
    "type ",
    "try:",
    "except* ",
    "finally:",
    "with ",
    "while ",
    "pass",
    "...",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "    ",
    "\x0c",
    "\\\n",
    "\0",
    "#",
    "# coding: utf-7\n",
    "# stockade: ignore[STK903]",
    "# nosec",
    "'",
    "\"",
    "'''",
    "\"\"\"",
    "f'",
    "f\"",
    "rb'",
    "b'",
    "u'",
    "t'",
    "f'{",
    "}'",
    "{x!r:>{w}}",
    "{{",
    "}}",
    "\\N{LOW LINE}",
    "\\x5f",
    "\\u005f",
    "\u{202e}",
    "\u{2066}",
    "\u{2069}",
    "\u{feff}",
    "é",
    "ｅｖａｌ",
    "ª",
    "𝔢𝔳𝔞𝔩",
    "_",
    "__",
    "__class__",
    "__globals__",
    "__builtins__",
    "__subclasses__",
    "__import__",
    "f_back",
    "gi_frame",
    "eval",
    "exec",
    "compile",
    "getattr",
    "setattr",
    "globals",
    "vars",
    "dir",
    "type",
    "super",
    "__name__",
    "__init__",
    "self",
    "cls",
    ".format(",
    ".format_map(",
    "str.format",
    "operator.attrgetter",
    "importlib.import_module",
    "sys.modules",
    "sys._getframe",
    "base64.b64decode(",
    ".decode()",
    "[::-1]",
    "chr(",
    "bytes.fromhex(",
    "codecs.decode(",
    "'rot13'",
    "os",
    "subprocess",
    "builtins",
    "ctypes",
    "pickle",
    "0",
    "1",
    "0x",
    "1e308",
    "1j",
    "0_0",
    "-1",
    "x",
    "y",
    "C",
    "None",
    "True",
];

fn builtin_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, text: String| seeds.push((format!("<{name}>"), text.into_bytes()));
    // Nesting of every kind the parser or the walk recurses on.
    for n in [100, 1000, 3000] {
        add("parens", format!("x = {}1{}\n", "(".repeat(n), ")".repeat(n)));
        add("lists", format!("x = {}1{}\n", "[".repeat(n), "]".repeat(n)));
        add("dicts", format!("x = {}1{}\n", "{1: ".repeat(n), "}".repeat(n)));
        add("calls", format!("x = {}1{}\n", "f(".repeat(n), ")".repeat(n)));
        add("subscripts", format!("x = a{}\n", "[0]".repeat(n)));
        add("attributes", format!("x = a{}\n", ".b".repeat(n)));
        add("binops", format!("x = 0{}\n", " + 0".repeat(n)));
        add("power", format!("x = 2{}\n", " ** 2".repeat(n)));
        add("unary", format!("x = {}1\n", "-".repeat(n)));
        add("not", format!("x = {}y\n", "not ".repeat(n)));
        add("await", format!("async def f():\n    {}x\n", "await ".repeat(n)));
        add("lambdas", format!("f = {}0\n", "lambda: ".repeat(n)));
        add("ternary", format!("x = {}0\n", "1 if c else ".repeat(n)));
        add("compare", format!("x = a{}\n", " < a".repeat(n)));
        add("boolops", format!("x = a{}\n", " and a".repeat(n)));
        add("starred", format!("x = [{}a]\n", "*".repeat(n.min(50))));
    }
    for n in [50, 200, 1000] {
        let mut ifs = String::new();
        for i in 0..n {
            ifs.push_str(&" ".repeat(i));
            ifs.push_str("if x:\n");
        }
        ifs.push_str(&" ".repeat(n));
        ifs.push_str("pass\n");
        add("ifs", ifs);
        let mut defs = String::new();
        for i in 0..n {
            defs.push_str(&"\t".repeat(i));
            defs.push_str("def f():\n");
        }
        defs.push_str(&"\t".repeat(n));
        defs.push_str("return eval(x)\n");
        add("defs", defs);
        add(
            "fstrings",
            format!("x = {}1{}\n", "f'{".repeat(n.min(200)), "}'".repeat(n.min(200))),
        );
        add(
            "patterns",
            format!(
                "match x:\n    case {}y{}:\n        pass\n",
                "[".repeat(n),
                "]".repeat(n)
            ),
        );
        add(
            "classpatterns",
            format!(
                "match x:\n    case {}y{}:\n        pass\n",
                "C(".repeat(n),
                ")".repeat(n)
            ),
        );
        add("decorators", format!("{}def f(): pass\n", "@d\n".repeat(n)));
        add("withs", format!("with {}:\n    pass\n", vec!["a as b"; n].join(", ")));
    }
    // Bytes and characters that tokenizers disagree on.
    add("nul", "x = 1\0\nimport os\n".into());
    add("nul-only", "\0".into());
    add("bidi", "s = '\u{202e}' # \u{2066} admin \u{2069}\nif access_level != 'user\u{202e} \u{2066}// Check if admin\u{2069} \u{2066}':\n    pass\n".into());
    add("bom", "\u{feff}import os\n".into());
    add("cr", "x = 1\r# comment\rimport os\r".into());
    add("crlf-mix", "if x:\r\n\tpass\n        pass\r".into());
    add("tabs-spaces", "if x:\n\tif y:\n        pass\n\t    pass\n".into());
    add("formfeed", "\x0cif x:\n\x0c    pass\n  \x0c  pass\n".into());
    add("continuation-eof", "x = 1 + \\".into());
    add("continuation-comment", "x = 1 \\\n# c\n".into());
    add("utf7", "# coding: utf-7\n#+AAo-import os\n".into());
    add(
        "unicode-escape",
        "# coding: unicode_escape\nx = 1 #\\u000aimport os\n".into(),
    );
    add("nfkc", "ｅｖａｌ('1')\nx.__ｃlass__\n𝔢𝔳𝔞𝔩(1)\n".into());
    // Huge tokens.
    add("long-name", format!("{} = 1\n", "a".repeat(60_000)));
    add("long-int", format!("x = {}\n", "9".repeat(60_000)));
    add("long-float", format!("x = 1e{}\n", "9".repeat(5_000)));
    add("long-string", format!("x = '{}'\n", "\\x41".repeat(15_000)));
    add("long-fstring", format!("x = f'{}'\n", "{a}".repeat(15_000)));
    add("many-lines", "x = 1\n".repeat(10_000));
    // Unterminated and odd literals.
    for s in [
        "'abc",
        "\"\"\"abc",
        "f'{",
        "f'{x",
        "f'{x!",
        "f'{x:",
        "f'{x:{",
        "b'\\",
        "rb'''",
        "t'{x}",
        "'\\N{",
        "'\\N{LOW",
        "u'\\U0011ffff'",
        "b'é'",
        "f'{'nested'}'",
        "f'{x=}'",
        "f'{x=!r:^20}'",
        "f'{{}}'",
        "0b",
        "0x_",
        "1__0",
        "1e",
        "...",
        "x[",
        "def f(",
        "class C(",
        "lambda",
        "@",
        "import",
        "from . import",
        "from .. import *",
    ] {
        add("literal", s.to_string());
    }
    // New and rare syntax.
    for s in [
        "type X[T: int = str, *Ts, **P] = list[T]\n",
        "def f[T](x: T) -> T: ...\n",
        "try:\n    pass\nexcept* ValueError as e:\n    pass\n",
        "async def f():\n    async with a as b, c as d:\n        async for x in y:\n            yield x\n",
        "match x:\n    case C(__class__=c) | [*_, {'k': v, **r}] if (z := v):\n        pass\n",
        "x: 'eval(1)' = 1\n",
        "@(lambda f: f.__globals__)\ndef g(): pass\n",
        "print(f'{x!r:>{width}.{prec}}', f'{\"a\" \"b\"}', f'''{\n x\n}''')\n",
        "global x; nonlocal y\ndel (a), [b]\n",
        "x = yield\n",
        "lazy import json\n",
        "from __future__ import braces\n",
        "class C:\n    __match_args__ = ('__class__',)\n    __slots__ = ('__dict__',)\n",
        "e = eval; e(getattr(__builtins__, 'ev' + 'al')('1'))\n",
        "exec(__import__('base64').b64decode(b'cHJpbnQoMSk=').decode()[::-1])\n",
        "'{0.__class__.__mro__[1].__subclasses__}'.format(1)\n",
        "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()._module.__builtins__\n",
        "import os, sys as s, a.b.c as d\nfrom ... import x\nfrom .m import (a, b as c,)\n",
        "%%timeit\n!ls\nx?\n",
    ] {
        add("syntax", s.to_string());
    }
    let mut raw = |name: &str, bytes: &[u8]| seeds.push((format!("<{name}>"), bytes.to_vec()));
    raw("invalid-utf8", b"x = '\xff'\n");
    raw("bad-continuation", b"x = '\xc3\x28'\n");
    raw("surrogate-bytes", b"x = '\xed\xa0\x80'\nimport os\n");
    raw("beyond-unicode", b"x = '\xf4\x90\x80\x80'\n");
    raw("latin1", b"# -*- coding: latin-1 -*-\nx = '\xe9'\n");
    raw("truncated-utf8", "x = 'é'".as_bytes().split_last().unwrap().1);
    seeds
}

/// The shared byte mutations, plus 7 kinds of this harness's own: Python tokens (3 of them, so
/// the likeliest), brackets around a range, a repeated token, a re-indented line, a line
/// duplicated or dropped.
fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    replay::mutate(rng, input, corpus, 7, MAX_INPUT, |rng, kind, out| {
        let len = out.len();
        match kind {
            0..=2 => replay::insert_token(rng, out, TOKENS),
            3 => {
                // Wrap a range in many brackets of one kind (deep nesting from any input).
                let (open, close) = [
                    ("(", ")"),
                    ("[", "]"),
                    ("{", "}"),
                    ("f(", ")"),
                    ("-(", ")"),
                    ("not (", ")"),
                ][rng.below(6)];
                let big = rng.below(8) == 0;
                let k = 1 + rng.below(if big { 4000 } else { 64 });
                let a = rng.below(len + 1);
                let b = a + rng.below(len - a + 1);
                out.splice(b..b, close.repeat(k).into_bytes());
                out.splice(a..a, open.repeat(k).into_bytes());
            }
            4 => {
                // Repeat a token many times.
                let t = TOKENS[rng.below(TOKENS.len())];
                let big = rng.below(8) == 0;
                let k = 1 + rng.below(if big { 3000 } else { 32 });
                let at = rng.below(len + 1);
                out.splice(at..at, t.repeat(k).into_bytes());
            }
            5 => {
                // Re-indent a line.
                let starts: Vec<usize> = std::iter::once(0)
                    .chain(out.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1))
                    .collect();
                let at = starts[rng.below(starts.len())];
                match rng.below(3) {
                    0 => {
                        let indent: &[u8] = [b"    ".as_slice(), b"\t", b" ", b"\x0c"][rng.below(4)];
                        out.splice(at..at, indent.iter().copied());
                    }
                    _ => {
                        let n = out[at..].iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
                        out.drain(at..at + n.min(1 + rng.below(8)));
                    }
                }
            }
            _ => replay::duplicate_or_drop_line(rng, out),
        }
    })
}

fn preview(input: &[u8]) -> String {
    let text = String::from_utf8_lossy(input);
    if text.len() <= 2000 {
        text.to_string()
    } else {
        let head: String = text.chars().take(1000).collect();
        let tail: String = text
            .chars()
            .rev()
            .take(500)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{head}\n[... {} bytes ...]\n{tail}", input.len())
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&root, &args[1..]);
        return;
    }
    if args.first().map(String::as_str) == Some("--write-seeds") {
        // The built-in seeds up to cargo-fuzz's -max_len, as files (fuzz/seeds/check_source).
        let dir = PathBuf::from(args.get(1).expect("--write-seeds DIR"));
        std::fs::create_dir_all(&dir).expect("create the seed directory");
        let mut written = 0;
        for (i, (name, bytes)) in builtin_seeds().into_iter().enumerate() {
            if bytes.len() <= 16 * 1024 {
                let name: String = name
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                std::fs::write(dir.join(format!("{i:03}-{name}")), bytes).expect("write a seed");
                written += 1;
            }
        }
        eprintln!("check_replay: wrote {written} seeds to {}", dir.display());
        return;
    }
    // Supervisor: run the fuzzer in a child so that an abort (stack overflow) is caught too.
    let in_flight = root.join("artifacts/check_replay/in-flight");
    let _ = std::fs::create_dir_all(in_flight.parent().unwrap());
    let _ = std::fs::remove_file(&in_flight);
    let exe = std::env::current_exe().expect("own path");
    let mut running = std::process::Command::new(exe)
        .arg("--child")
        .args(&args)
        .spawn()
        .expect("start the fuzzing child");
    // A hang is a finding too: the seeds plus the time asked for, and two minutes of grace for
    // one slow input in a debug build; past that the input in flight is saved as a hang.
    let seconds = Options::parse(args.iter().cloned()).seconds;
    let deadline = Instant::now() + Duration::from_secs(seconds + 120);
    let status = loop {
        if let Some(status) = running.try_wait().expect("wait for the fuzzing child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = running.kill();
            let _ = running.wait();
            let input = std::fs::read(&in_flight).unwrap_or_default();
            let file = replay::save_crash(&root.join("artifacts/check_replay"), &input);
            eprintln!(
                "check_replay: HANG (one input ran past {} s), input saved to {}\n--- input ({} bytes) ---\n{}",
                seconds + 120,
                file.display(),
                input.len(),
                preview(&input)
            );
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if status.success() {
        let _ = std::fs::remove_file(&in_flight);
        return;
    }
    if status.code() == Some(1) {
        std::process::exit(1); // the child found and reported a crash
    }
    let input = std::fs::read(&in_flight).unwrap_or_default();
    let file = replay::save_crash(&root.join("artifacts/check_replay"), &input);
    eprintln!(
        "check_replay: CRASH (the checker process died: {status}), input saved to {}\n--- input ({} bytes) ---\n{}",
        file.display(),
        input.len(),
        preview(&input)
    );
    std::process::exit(1);
}

fn child(root: &Path, args: &[String]) {
    let Options {
        seconds,
        seed,
        mut paths,
    } = Options::parse(args.iter().cloned());
    let explicit = !paths.is_empty();
    if !explicit {
        paths.push(root.join("../crates/stockade-check/tests/fixtures"));
        paths.push(root.join("../crates/stockade-check/tests/prescreen_corpus"));
        paths.push(root.join("seeds/check_source"));
        paths.push(root.join("corpus/check_source"));
    }
    let mut seeds = if explicit { Vec::new() } else { builtin_seeds() };
    replay::read_seeds(&paths, &mut seeds);
    assert!(!seeds.is_empty(), "no seed inputs in {paths:?}");
    eprintln!("check_replay: {} seeds, {seconds} s, --seed {seed}", seeds.len());

    let in_flight = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(root.join("artifacts/check_replay/in-flight"))
        .expect("open artifacts/check_replay/in-flight");
    let record = |input: &[u8]| {
        let _ = in_flight.set_len(0);
        let _ = in_flight.write_all_at(input, 0);
    };

    let last_panic = LastPanic::install();
    let crash = |input: &[u8]| -> ! {
        let file = replay::save_crash(&root.join("artifacts/check_replay"), input);
        eprintln!(
            "check_replay: CRASH, input saved to {}\n{}\n--- input ({} bytes) ---\n{}",
            file.display(),
            last_panic.message(),
            input.len(),
            preview(input)
        );
        let _ = std::io::stderr().flush();
        std::process::exit(1);
    };
    let run = |input: &[u8]| -> Option<String> {
        record(input);
        std::panic::catch_unwind(|| stockade_fuzz::check_python(input)).ok()
    };

    let mut corpus = Corpus::default();
    let start = Instant::now();
    for (name, bytes) in &seeds {
        match run(bytes) {
            Some(class) => {
                corpus.classes.insert(class);
            }
            None => {
                eprintln!("check_replay: seed {name} crashes");
                crash(bytes);
            }
        }
        if bytes.len() <= MAX_INPUT {
            corpus.inputs.push(bytes.clone());
        }
    }
    let seeded = start.elapsed();
    let execs = corpus.fuzz(
        &mut Rng::new(seed),
        start + Duration::from_secs(seconds),
        16,
        mutate,
        |input| run(input).unwrap_or_else(|| crash(input)),
    );
    eprintln!(
        "check_replay: no crash; {} seeds in {:.1} s, then {execs} mutated inputs in {:.1} s; {} outcome classes, corpus {}",
        seeds.len(),
        seeded.as_secs_f64(),
        (start.elapsed() - seeded).as_secs_f64(),
        corpus.classes.len(),
        corpus.inputs.len()
    );
}
