//! `stockade check`: static security analysis of Python files (see crates/stockade-check), and the
//! pre-screen `stockade run` applies when the policy asks for it.
//!
//! Exit codes: 0 nothing to report (or the pre-screen accepts), 1 findings at or above the
//! thresholds (or the pre-screen refuses), 2 bad usage or configuration.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::Args;
use stockade_check::baseline::Baseline;
use stockade_check::report::{self, Format, Summary};
use stockade_check::{Config, Finding, Level, Profile, Settings};
use stockade_policy::Policy;

pub const EXIT_FINDINGS: u8 = 1;
const EXIT_USAGE: u8 = 2;

#[derive(Args)]
pub struct CheckArgs {
    /// Files or directories to check (default: the current directory); `-` reads stdin.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Output format: text (with code frames), json, sarif (2.1.0) or github (annotations).
    #[arg(long, default_value = "text", value_name = "FORMAT")]
    format: String,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Pre-screen untrusted code instead of auditing it: refuse imports the policy forbids,
    /// dunder walks, dynamic code, reflection; exit 1 when refused.
    #[arg(long)]
    prescreen: bool,
    /// Stockade policy whose import rules the pre-screen enforces.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Built-in stockade profile whose import rules the pre-screen enforces (strict, data).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Only these rules (ids, id prefixes like STK6, names, Bandit ids or ruff codes).
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    select: Vec<String>,
    /// Not these rules.
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    ignore: Vec<String>,
    /// Report findings of at least this severity (low, medium, high).
    #[arg(long, value_name = "LEVEL")]
    severity: Option<String>,
    /// Report findings of at least this confidence (low, medium, high).
    #[arg(long, value_name = "LEVEL")]
    confidence: Option<String>,
    /// Glob of paths to skip (repeatable; adds to the configuration's `exclude`).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// pyproject.toml to read `[tool.stockade]` from (default: found from the first path up).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Ignore any pyproject.toml configuration.
    #[arg(long)]
    isolated: bool,
    /// Report only findings the baseline FILE does not account for.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Write every current finding to FILE as a baseline and exit 0.
    #[arg(long, value_name = "FILE")]
    write_baseline: Option<PathBuf>,
    /// Ignore suppression comments (for audits).
    #[arg(long)]
    no_suppressions: bool,
    /// The file name to report for code read from stdin.
    #[arg(long, value_name = "NAME", default_value = "stdin.py")]
    stdin_filename: String,
    /// Exit 0 even when there are findings.
    #[arg(long)]
    exit_zero: bool,
    /// Print the rules (id, name, severity, confidence, CWE, Bandit and ruff aliases) and exit.
    #[arg(long)]
    list_rules: bool,
    /// Colour: auto, always, never.
    #[arg(long, default_value = "auto", value_name = "WHEN")]
    color: String,
}

pub struct CheckFailure(pub String);

fn usage(message: impl Into<String>) -> (u8, CheckFailure) {
    (EXIT_USAGE, CheckFailure(message.into()))
}

pub fn cmd_check(args: CheckArgs) -> Result<u8, (u8, CheckFailure)> {
    let format = Format::parse(&args.format).ok_or_else(|| {
        usage(format!(
            "--format: `{}` is not one of text, json, sarif, github",
            args.format
        ))
    })?;
    if args.list_rules {
        print!("{}", list_rules(format));
        return Ok(0);
    }
    let profile = if args.prescreen {
        Profile::Prescreen
    } else {
        Profile::Audit
    };
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };

    let config = if args.isolated {
        None
    } else if let Some(file) = &args.config {
        Some(
            Config::from_pyproject(file)
                .map_err(|e| usage(e.to_string()))?
                .ok_or_else(|| usage(format!("{}: no [tool.stockade] table", file.display())))?,
        )
    } else {
        let start = paths
            .iter()
            .find(|p| p.as_os_str() != "-")
            .cloned()
            .unwrap_or_else(|| PathBuf::from("."));
        Config::discover(&start).map_err(|e| usage(e.to_string()))?
    };
    let mut settings = match &config {
        Some(config) => Settings::from_config(profile, config).map_err(|e| usage(e.to_string()))?,
        None => Settings::new(profile),
    };
    if !args.select.is_empty() {
        settings.select(&args.select).map_err(|e| usage(format!("--{e}")))?;
    }
    settings.ignore(&args.ignore).map_err(|e| usage(format!("--{e}")))?;
    if let Some(level) = &args.severity {
        settings.min_severity = parse_level("severity", level)?;
    }
    if let Some(level) = &args.confidence {
        settings.min_confidence = parse_level("confidence", level)?;
    }
    if !args.exclude.is_empty() {
        let mut all = config.as_ref().map(|c| c.exclude.clone()).unwrap_or_default();
        all.extend(args.exclude.iter().cloned());
        settings.set_excludes(&all).map_err(|e| usage(format!("--{e}")))?;
    }
    if args.no_suppressions {
        settings.honour_suppressions = false;
    }
    if args.prescreen {
        // Imports are judged by a stockade policy: the one named, else — unless the configuration
        // lists its own — the default policy `stockade run` would use, so both layers agree.
        let configured = config
            .as_ref()
            .is_some_and(|c| !c.prescreen.forbidden_imports.is_empty() || c.prescreen.allowed_imports.is_some());
        let policy = match (&args.policy, &args.profile) {
            (Some(file), None) => Some(Policy::load(file).map_err(|e| usage(format!("invalid policy: {e}")))?),
            (None, Some(name)) => {
                Some(Policy::profile(name).ok_or_else(|| usage(format!("unknown profile {name:?}")))?)
            }
            (Some(_), Some(_)) => return Err(usage("--profile and --policy cannot be combined")),
            (None, None) => (!configured).then(Policy::strict),
        };
        if let Some(policy) = policy {
            stockade_runner::prescreen::apply_policy(&mut settings, &policy);
        }
    }

    let mut findings: Vec<Finding> = Vec::new();
    let mut files_checked = 0;
    let (stdin, on_disk): (Vec<&PathBuf>, Vec<&PathBuf>) = paths.iter().partition(|p| p.as_os_str() == "-");
    if !stdin.is_empty() {
        let mut source = Vec::new();
        std::io::stdin()
            .read_to_end(&mut source)
            .map_err(|e| usage(format!("cannot read stdin: {e}")))?;
        let report = match stockade_check::decode_source(source) {
            Ok(text) => stockade_check::check_source(&args.stdin_filename, &text, &settings),
            Err(why) => stockade_check::FileReport::unreadable(&args.stdin_filename, &why),
        };
        findings.extend(report.findings);
        files_checked += 1;
    }
    if !on_disk.is_empty() {
        let on_disk: Vec<PathBuf> = on_disk.into_iter().cloned().collect();
        // Files are checked as the walk finds them; the reports come back in path order.
        let checked = stockade_check::check_paths(&on_disk, &settings);
        if let Some(missing) = checked.missing.first() {
            return Err(usage(format!("{missing}: no such file or directory")));
        }
        files_checked += checked.files;
        for report in checked.reports {
            findings.extend(report.findings);
        }
    }

    let before = findings.len();
    findings.retain(|f| f.severity >= settings.min_severity && f.confidence >= settings.min_confidence);
    let below_threshold = before - findings.len();

    if let Some(path) = &args.write_baseline {
        let baseline = Baseline::from_findings(findings.iter().filter(|f| f.suppression.is_none()));
        let text = serde_json::to_string_pretty(&baseline).unwrap_or_default();
        std::fs::write(path, text + "\n").map_err(|e| usage(format!("{}: {e}", path.display())))?;
        eprintln!(
            "stockade check: wrote {} finding(s) to the baseline {}",
            baseline.fingerprints.values().sum::<u32>(),
            path.display()
        );
        return Ok(0);
    }
    let baseline_path = args.baseline.clone().or_else(|| {
        let config = config.as_ref()?;
        let file = PathBuf::from(config.baseline.as_ref()?);
        Some(config.root.as_ref().map_or(file.clone(), |root| root.join(&file)))
    });
    if let Some(path) = baseline_path {
        let baseline = Baseline::load(&path).map_err(usage)?;
        baseline.apply(findings.iter_mut());
    }

    let color = match args.color.as_str() {
        "always" => true,
        "never" => false,
        "auto" => args.output.is_none() && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        other => return Err(usage(format!("--color: `{other}` is not auto, always or never"))),
    };
    let summary = Summary {
        findings: &findings,
        files_checked,
        below_threshold,
        prescreen: args.prescreen,
        color,
    };
    let rendered = report::render(format, &summary);
    match &args.output {
        Some(path) => std::fs::write(path, rendered).map_err(|e| usage(format!("{}: {e}", path.display())))?,
        None => {
            let _ = std::io::stdout().lock().write_all(rendered.as_bytes());
        }
    }
    let active = findings.iter().filter(|f| f.is_active()).count();
    Ok(if active > 0 && !args.exit_zero {
        EXIT_FINDINGS
    } else {
        0
    })
}

fn parse_level(flag: &str, value: &str) -> Result<Level, (u8, CheckFailure)> {
    stockade_check::config::parse_level(flag, value).map_err(|e| usage(format!("--{e}")))
}

fn list_rules(format: Format) -> String {
    let rules: Vec<&stockade_check::Rule> = stockade_check::registry::ALL.iter().map(|r| r.meta()).collect();
    if format == Format::Json {
        return serde_json::to_string_pretty(&rules).unwrap_or_default() + "\n";
    }
    let mut out = String::new();
    for m in rules {
        let aliases: Vec<&str> = m.bandit.iter().chain(m.ruff.iter()).copied().collect();
        out.push_str(&format!(
            "{}  {:<34} {:<6} {:<6} CWE-{:<5} {:<10} {}\n",
            m.id,
            m.name,
            m.severity.as_str(),
            m.confidence.as_str(),
            m.cwe,
            aliases.join(","),
            m.summary
        ));
    }
    out
}
