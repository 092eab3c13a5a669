//! The pre-screen as stockade uses it: ordinary model-written programs pass with no finding, and
//! each attempt to leave Python's object model (or to hide code from the checker) is refused with
//! a finding of the rule that explains why.
//!
//! The settings are `Settings::new(Profile::Prescreen)` plus [`DEFAULT_FORBIDDEN`] and with
//! suppression comments ignored: untrusted code must not be able to wave its own findings through
//! with `# stockade: ignore[...]`.

use std::time::Instant;
use stockade_check::{check_file, check_source, Finding, Profile, RuleId, Settings, MAX_FILE_BYTES};

/// A default forbidden-import list for running untrusted snippets: process creation and the OS
/// interface (`os` and its platform modules, subprocess, pty, multiprocessing, signal, webbrowser),
/// raw sockets, native code (ctypes, cffi), the import machinery (importlib, imp, pkgutil, zipimport,
/// runpy) and interpreters/debuggers that run strings (code, codeop, pdb), the builtins namespace as
/// a module, the garbage collector's object lists, and CPython's private test/process modules.
/// `sys` stays allowed (argv, stdin/stdout, exit are everyday needs); its reflective members are
/// refused by STK906 instead. pickle/marshal stay importable; loading with them is STK903.
const DEFAULT_FORBIDDEN: &[&str] = &[
    "os",
    "posix",
    "nt",
    "subprocess",
    "_posixsubprocess",
    "pty",
    "multiprocessing",
    "signal",
    "webbrowser",
    "socket",
    "_socket",
    "ctypes",
    "_ctypes",
    "cffi",
    "importlib",
    "imp",
    "pkgutil",
    "zipimport",
    "runpy",
    "code",
    "codeop",
    "pdb",
    "builtins",
    "__builtin__",
    "gc",
    "_testcapi",
    "_testinternalcapi",
    "_xxsubinterpreters",
    "_interpreters",
];

fn prescreen_settings() -> Settings {
    let mut settings = Settings::new(Profile::Prescreen);
    settings.forbidden_imports = DEFAULT_FORBIDDEN.iter().map(|s| s.to_string()).collect();
    settings
}

fn refusals(source: &str) -> Vec<Finding> {
    check_source("snippet.py", source, &prescreen_settings())
        .findings
        .into_iter()
        .filter(Finding::is_active)
        .collect()
}

fn show(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("  {}:{} {} {}", f.line, f.column, f.rule.meta().id, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn corpus() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/prescreen_corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the corpus is in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn ordinary_programs_pass() {
    let mut failures = Vec::new();
    for (name, source) in corpus() {
        let findings = refusals(&source);
        if !findings.is_empty() {
            failures.push(format!("{name}:\n{}", show(&findings)));
        }
    }
    assert!(failures.is_empty(), "ordinary code refused:\n{}", failures.join("\n"));
}

/// (attack, the rule that must refuse it). Each is a complete snippet.
const ATTACKS: &[(&str, &str)] = &[
    // Imports, however spelled.
    ("import os", "STK901"),
    ("import os.path", "STK901"),
    ("from os import system", "STK901"),
    ("import subprocess as sp", "STK901"),
    ("from . import secrets_module", "STK901"),
    ("__import__('os').system('id')", "STK901"),
    ("__import__('o' + 's')", "STK901"),
    ("import importlib\nimportlib.import_module('subprocess')", "STK901"),
    ("import shutil\nshutil.os.system('id')", "STK901"),
    ("from shutil import os", "STK901"),
    ("import tempfile\ntempfile._os.system('id')", "STK901"),
    ("import sys\nsys.modules['os'].system('id')", "STK901"),
    (
        "import asyncio\nasyncio.run(asyncio.create_subprocess_shell('id'))",
        "STK901",
    ),
    ("import http.client\nhttp.client.socket.socket()", "STK901"),
    // Object-graph walks.
    ("[].__class__", "STK902"),
    ("().__class__.__base__.__subclasses__()", "STK902"),
    ("''.__class__.__mro__[1].__subclasses__()", "STK902"),
    ("object.__subclasses__()", "STK902"),
    ("type(0).__bases__", "STK902"),
    ("(lambda: 0).__globals__['__builtins__']", "STK902"),
    ("f = lambda: 0\nf.__code__ = g.__code__", "STK902"),
    ("print.__self__", "STK902"),
    (
        "try:\n    1/0\nexcept Exception as e:\n    e.__traceback__.tb_frame.f_back.f_globals",
        "STK902",
    ),
    ("g = (x for x in [1])\ng.gi_frame.f_globals", "STK902"),
    ("async def c(): pass\nc().cr_frame", "STK902"),
    ("quit.__call__.__globals__", "STK902"),
    ("x.__init__.__globals__['sys']", "STK902"),
    ("x.__reduce_ex__(2)", "STK902"),
    ("'{0.__class__.__mro__}'.format(1)", "STK902"),
    ("'{x.__globals__}'.format_map({'x': f})", "STK902"),
    ("'{0.__init__.__globals__[os]}'.format(f)", "STK902"),
    ("f'{{0.__class__}}'.format(1)", "STK902"),
    ("('{0.__cl' + 'ass__}').format(1)", "STK902"),
    ("getattr(1, '__class__')", "STK902"),
    ("getattr(1, '__cl' + 'ass__')", "STK902"),
    (
        "import operator\noperator.attrgetter('__class__.__base__')(1)",
        "STK902",
    ),
    ("match 1:\n    case object(__class__=c):\n        print(c)", "STK902"),
    ("class P:\n    __match_args__ = ('__class__',)", "STK902"),
    ("class A:\n    def f(self):\n        return __class__", "STK902"),
    (
        "import logging\nlogging.Formatter('{name.__class__}', style='{')",
        "STK902",
    ),
    ("x.__dict__", "STK902"),
    // Dynamic code, however reached.
    ("eval('1+1')", "STK903"),
    ("exec('x = 1')", "STK903"),
    ("compile('1', '<s>', 'eval')", "STK903"),
    ("e = eval\ne('1')", "STK903"),
    ("run = [exec][0]", "STK903"),
    ("f = lambda s, run=eval: run(s)", "STK903"),
    ("@exec\ndef f(): pass", "STK903"),
    ("class A:\n    run = exec", "STK903"),
    ("__builtins__['eval']('1')", "STK903"),
    ("__builtins__.eval('1')", "STK903"),
    ("getattr(__builtins__, 'eval')('1')", "STK903"),
    ("getattr(__builtins__, 'ev' + 'al')('1')", "STK903"),
    ("import builtins\nbuiltins.exec('1')", "STK903"),
    ("from builtins import eval as e", "STK903"),
    ("breakpoint()", "STK903"),
    ("help()", "STK903"),
    ("type('X', (), {'__eq__': f})", "STK903"),
    ("import types\ntypes.FunctionType(c, {})", "STK903"),
    ("import pickle\npickle.loads(b'x')", "STK903"),
    ("import marshal\nmarshal.loads(b'x')", "STK903"),
    ("import ctypes", "STK903"),
    ("import importlib\nm = importlib.import_module(name)", "STK903"),
    ("import doctest\ndoctest.testmod()", "STK903"),
    ("import timeit\ntimeit.timeit('import os')", "STK903"),
    ("import typing\ntyping.get_type_hints(f)", "STK903"),
    ("def f(x: \"__import__('os').system('id')\"): pass", "STK903"),
    (
        "import logging.config\nlogging.config.dictConfig({'root': {'()': 'os.system'}})",
        "STK903",
    ),
    ("import yaml\nyaml.load(data)", "STK903"),
    ("loader.load_module('os')", "STK903"),
    ("type.__call__(type, 'X', (), {})", "STK903"),
    ("type.__new__(type, 'X', (), {})", "STK903"),
    ("\u{1d49}val('1')", "STK903"),
    ("getattr(__builtins__, chr(101) + 'val')('1')", "STK903"),
    ("import sys\nsys.breakpointhook()", "STK903"),
    (
        "import sqlite3\nc = sqlite3.connect(':memory:')\nc.enable_load_extension(True)",
        "STK903",
    ),
    ("import yaml\nloader = yaml", "STK906"),
    // Attribute names chosen at run time.
    ("getattr(obj, name)", "STK904"),
    ("setattr(obj, key, 1)", "STK904"),
    ("getattr(obj, ''.join(['__gl', 'obals__']))", "STK904"),
    ("g = getattr\ng(obj, 'x')", "STK904"),
    ("list(map(getattr, objs, names))", "STK904"),
    (
        "import sys\nclass P:\n    def __getattr__(self, name):\n        return getattr(sys, name)",
        "STK904",
    ),
    ("from operator import attrgetter as ag\nf = ag", "STK904"),
    ("object.__getattribute__(obj, name)", "STK904"),
    ("import operator\noperator.methodcaller('__reduce__')(obj)", "STK904"),
    ("import string\nstring.Formatter().format('{0}', 1)", "STK904"),
    ("(prefix + '{0.x}').format(obj)", "STK904"),
    // Decoded, then run.
    ("import base64\nexec(base64.b64decode('cHJpbnQoMSk='))", "STK905"),
    ("import base64\ns = base64.b64decode(blob).decode()\nexec(s)", "STK905"),
    ("import codecs\nexec(codecs.decode('cevag(1)', 'rot13'))", "STK905"),
    ("import zlib\nexec(zlib.decompress(blob))", "STK905"),
    ("exec(bytes.fromhex('7072696e7428312900'))", "STK905"),
    ("exec(')1(tnirp'[::-1])", "STK905"),
    ("exec(''.join(map(chr, [112, 114, 105, 110, 116])))", "STK905"),
    (
        "import binascii\ngetattr(obj, binascii.unhexlify(h).decode())",
        "STK905",
    ),
    // A coding line under which CPython runs other code than the text read: refused unread.
    ("# coding: unicode_escape\nx = 1 #\\u000aimport os", "STK002"),
    (
        "#!/usr/bin/env python\n# vim: set fileencoding=utf-7 :\nx = 1",
        "STK002",
    ),
    ("# coding: utf-7\n#+AAo-import os\n", "STK002"),
    // Reflection.
    ("globals()['__builtins__']", "STK906"),
    ("vars(__builtins__)['eval']", "STK906"),
    ("g = globals", "STK906"),
    ("locals()", "STK906"),
    ("dir()", "STK906"),
    ("import sys\nsys._getframe(1).f_globals", "STK906"),
    ("import sys\nsys.modules['json']", "STK906"),
    ("import sys\ns = sys\ns.modules", "STK906"),
    ("import sys\nsys.settrace(t)", "STK906"),
    ("import sys\nsys.addaudithook(lambda *a: None)", "STK906"),
    ("import inspect\ninspect.currentframe().f_back", "STK906"),
    ("import inspect\ninspect.stack()", "STK906"),
    ("import gc\ngc.get_objects()", "STK906"),
    ("import builtins", "STK906"),
    ("__loader__.load_module('os')", "STK906"),
    (
        "import warnings\nwarnings.catch_warnings()._module.sys.modules['os']",
        "STK906",
    ),
    ("from sys import _getframe", "STK906"),
    // Red-team round: stdlib helpers that compile, import or unpickle what they are given.
    (
        "from dataclasses import dataclass\n@dataclass(init=False, repr=False)\nclass X:\n    __annotations__ = {\"a,exec('import ctypes')\": int}\n    a = 1\nX() == X()",
        "STK902",
    ),
    ("class X:\n    __annotations__['a,exec(s)'] = int", "STK902"),
    ("X.__annotations__[k] = int", "STK902"),
    ("setattr(X, '__annotations__', d)", "STK902"),
    ("ns = dict(__annotations__=d)", "STK902"),
    ("class M(type):\n    pass", "STK903"),
    ("import abc\nclass M(abc.ABCMeta):\n    pass", "STK903"),
    ("import abc\nX = abc.ABCMeta('X', (), ns)", "STK903"),
    ("X = type(int)('X', (), ns)", "STK903"),
    (
        "class A:\n    def __new__(mcs, n, b, ns):\n        return super().__new__(mcs, n, b, ns)",
        "STK903",
    ),
    (
        "class A:\n    @classmethod\n    def __prepare__(m, n, b):\n        return {k: v}",
        "STK902",
    ),
    (
        "import typing\ntyping.get_args(typing.List[\"exec('import ctypes')\"])[0]._evaluate({}, {}, frozenset())",
        "STK903",
    ),
    ("import pickle\npickle._loads(b'csubprocess\\ngetoutput\\n')", "STK903"),
    ("import pickle\npickle._Unpickler(f).load()", "STK903"),
    ("from pickle import _loads", "STK903"),
    ("import unittest\nunittest.TestLoader().loadTestsFromName('code.interact')", "STK903"),
    ("import unittest\nunittest.main(module='code')", "STK903"),
    ("import unittest\nunittest.main(argv=['x', name])", "STK903"),
    ("import unittest\nunittest.TestLoader().discover('/tmp/x')", "STK903"),
    ("import timeit\ntimeit.main(['-s', 'import ctypes', 'pass'])", "STK903"),
    ("import optparse\noptparse.Values().read_module('subprocess', 'loose')", "STK903"),
    ("import optparse\nv = optparse.Values()\nv.read_file('payload.py')", "STK903"),
    (
        "import logging.config\nlogging.config.BaseConfigurator({}).resolve('subprocess.getoutput')('id')",
        "STK903",
    ),
    ("import uuid\nuuid._get_command_stdout('id')", "STK906"),
    ("from uuid import _get_command_stdout", "STK906"),
    ("import warnings\nwarnings._setoption('error::ctypes.x')", "STK906"),
    ("import asyncio\nasyncio.unix_events.signal.pthread_kill(1, 9)", "STK901"),
];

#[test]
fn attacks_are_refused_with_a_reason() {
    let mut failures = Vec::new();
    for (attack, rule) in ATTACKS {
        let findings = refusals(attack);
        let hit = findings.iter().find(|f| f.rule.meta().id == *rule);
        match hit {
            Some(f) if !f.message.is_empty() => {}
            _ => failures.push(format!(
                "{attack:?} should be refused by {rule}; findings:\n{}",
                show(&findings)
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} attacks not refused:\n{}",
        failures.len(),
        ATTACKS.len(),
        failures.join("\n")
    );
}

#[test]
fn suppression_comments_in_untrusted_code_are_ignored() {
    let findings = refusals("exec(x)  # stockade: ignore[STK903] trusted\nimport os  # nosec B404\n");
    assert!(
        findings.iter().any(|f| f.rule == RuleId::DynamicCode),
        "{}",
        show(&findings)
    );
    assert!(
        findings.iter().any(|f| f.rule == RuleId::ForbiddenImport),
        "{}",
        show(&findings)
    );
}

#[test]
fn a_syntax_error_refuses_the_file() {
    let findings = refusals("import json\ndef f(:\n    pass\n");
    assert!(
        findings.iter().any(|f| f.rule == RuleId::SyntaxError),
        "{}",
        show(&findings)
    );
}

#[test]
fn too_deep_a_file_is_refused() {
    let deep = format!("x = 0{}\n", " + 0".repeat(5000));
    let findings = refusals(&deep);
    assert!(
        findings.iter().any(|f| f.rule == RuleId::UnreadableFile && f.line == 1),
        "{}",
        show(&findings)
    );
    // Nested brackets recurse in the parser as well as in the walk.
    let nested = format!("x = {}1{}\n", "[".repeat(3000), "]".repeat(3000));
    let findings = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || refusals(&nested))
        .unwrap()
        .join()
        .unwrap();
    assert!(
        findings.iter().any(|f| f.rule == RuleId::UnreadableFile),
        "{}",
        show(&findings)
    );
}

#[test]
fn an_oversized_or_undecodable_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.py");
    let mut text = "x = 1\n".repeat(MAX_FILE_BYTES / 6 + 1);
    text.push('\n');
    std::fs::write(&big, &text).unwrap();
    let report = check_file(&big, "big.py", &prescreen_settings());
    assert!(
        report.findings.iter().any(|f| f.rule == RuleId::UnreadableFile),
        "{}",
        show(&report.findings)
    );
    let binary = dir.path().join("binary.py");
    std::fs::write(&binary, b"x = '\xff\xfe'\n").unwrap();
    let report = check_file(&binary, "binary.py", &prescreen_settings());
    assert!(
        report.findings.iter().any(|f| f.rule == RuleId::UnreadableFile),
        "{}",
        show(&report.findings)
    );
}

/// The decoded-name map is per file: a second, unrelated source checked in the same buffer (same
/// address and length) must not inherit the first one's names.
#[test]
fn decoded_names_do_not_leak_between_files() {
    let settings = prescreen_settings();
    let first = "import base64\npayload = base64.b64decode(blob)\nexec(payload)\n";
    let second = "import base64\npayload = 'print(1)' + 'xxxxxxx'\nexec(payload)\n";
    assert_eq!(first.len(), second.len());
    let mut buffer = String::with_capacity(first.len());
    buffer.push_str(first);
    let report = check_source("a.py", &buffer, &settings);
    assert!(report.findings.iter().any(|f| f.rule == RuleId::DecodeThenExec));
    buffer.clear();
    buffer.push_str(second);
    let report = check_source("a.py", &buffer, &settings);
    assert!(
        !report.findings.iter().any(|f| f.rule == RuleId::DecodeThenExec),
        "{}",
        show(&report.findings)
    );
    assert!(report.findings.iter().any(|f| f.rule == RuleId::DynamicCode));
    // And the same source checked twice gets the same findings.
    let source = "import base64\nexec(base64.b64decode(x))\n";
    let once = check_source("b.py", source, &settings).findings;
    let twice = check_source("b.py", source, &settings).findings;
    assert_eq!(show(&once), show(&twice));
    assert_eq!(once.len(), 2, "{}", show(&once));
}

#[test]
fn the_audit_profile_does_not_run_the_prescreen() {
    let report = check_source(
        "a.py",
        "import os\n[].__class__\neval(x)\n",
        &Settings::new(Profile::Audit),
    );
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.rule.meta().profile == Profile::Prescreen),
        "{}",
        show(&report.findings)
    );
}

/// Prints (does not assert) how long pre-screening a 1,000-line realistic snippet takes; the
/// budget is 5 ms with parsing, in a release build.
#[test]
fn timing_of_a_thousand_line_snippet() {
    let mut snippet = String::new();
    for (_, source) in corpus().iter().cycle() {
        snippet.push_str(source);
        snippet.push('\n');
        if snippet.lines().count() >= 1000 {
            break;
        }
    }
    let lines = snippet.lines().count();
    let settings = prescreen_settings();
    let report = check_source("snippet.py", &snippet, &settings);
    let active: Vec<Finding> = report.findings.into_iter().filter(Finding::is_active).collect();
    assert!(active.is_empty(), "{}", show(&active));
    let runs = 20;
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(check_source("snippet.py", &snippet, &settings));
    }
    let each = start.elapsed() / runs;
    // For comparison: the same walk with no rule enabled (parse, walk, suppressions).
    let mut bare = Settings::new(Profile::Prescreen);
    bare.select(&[]).unwrap();
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(check_source("snippet.py", &snippet, &bare));
    }
    let baseline = start.elapsed() / runs;
    println!(
        "pre-screen of a {lines}-line snippet ({} bytes): {:.2} ms per check; {:.2} ms of it without any rule ({} build)",
        snippet.len(),
        each.as_secs_f64() * 1e3,
        baseline.as_secs_f64() * 1e3,
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
}

/// `STOCKADE_DUMP=file.py cargo test -p stockade-check --test prescreen dump -- --nocapture`
/// prints what the pre-screen reports for a file (a debugging aid; does nothing otherwise).
#[test]
fn dump() {
    let Ok(path) = std::env::var("STOCKADE_DUMP") else {
        return;
    };
    let source = std::fs::read_to_string(&path).unwrap();
    println!(
        "{}",
        show(&check_source(&path, &source, &prescreen_settings()).findings)
    );
}

/// `STOCKADE_STDLIB=/usr/lib/python3.11 cargo test --release -p stockade-check --test prescreen stdlib -- --nocapture`
/// prints how long the audit and the pre-screen take over a directory of Python files, and what
/// the pre-screen refuses there (a measuring aid; does nothing otherwise).
#[test]
fn stdlib() {
    let Ok(root) = std::env::var("STOCKADE_STDLIB") else {
        return;
    };
    let mut files = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("site-packages") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "py") {
                let display = path.display().to_string();
                files.push((path, display));
            }
        }
    }
    let bytes: u64 = files
        .iter()
        .map(|(p, _)| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let mut engine_only = Settings::new(Profile::Audit);
    engine_only.select(&[]).unwrap();
    for (name, settings) in [
        ("engine only (no rule)", engine_only),
        ("audit", Settings::new(Profile::Audit)),
        ("pre-screen", prescreen_settings()),
    ] {
        let start = Instant::now();
        let reports = stockade_check::check_files(&files, &settings);
        let elapsed = start.elapsed();
        let refused = reports
            .iter()
            .filter(|r| r.findings.iter().any(Finding::is_active))
            .count();
        let internal = reports
            .iter()
            .flat_map(|r| &r.findings)
            .filter(|f| f.message.contains("internal error"))
            .count();
        let mut by_rule = std::collections::BTreeMap::new();
        for f in reports.iter().flat_map(|r| &r.findings) {
            *by_rule.entry(f.rule.meta().id).or_insert(0usize) += 1;
        }
        println!(
            "{name}: {} files, {:.1} MB in {:.3} s; {refused} files with findings; {internal} internal errors",
            files.len(),
            bytes as f64 / 1e6,
            elapsed.as_secs_f64()
        );
        if name == "pre-screen" {
            println!("  findings by rule: {by_rule:?}");
            if let Ok(rule) = std::env::var("STOCKADE_STDLIB_SHOW") {
                for f in reports
                    .iter()
                    .flat_map(|r| &r.findings)
                    .filter(|f| f.rule.meta().id == rule)
                    .take(60)
                {
                    println!("  {}:{} {}\n      {}", f.path, f.line, f.message, f.line_text.trim());
                }
            }
        }
    }
}

/// The pre-screen reads hostile code on the host: more than 1 MiB is refused unread, while the
/// audit (code the team wrote) checks the same text.
#[test]
fn the_prescreen_refuses_more_than_a_mebibyte_unread() {
    let text = "x = 1\n".repeat((1 << 20) / 6 + 1);
    let refused = check_source("big.py", &text, &prescreen_settings()).findings;
    assert!(
        refused.len() == 1 && refused[0].rule == RuleId::UnreadableFile && refused[0].message.contains("pre-screen"),
        "{}",
        show(&refused)
    );
    let audited = check_source("big.py", &text, &Settings::new(Profile::Audit)).findings;
    assert!(
        !audited.iter().any(|f| f.rule == RuleId::UnreadableFile),
        "{}",
        show(&audited)
    );
}
