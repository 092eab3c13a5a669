//! Configuration: `[tool.stockade]` in pyproject.toml (found by walking up from the checked
//! paths), then command-line flags on top. `Settings` is the resolved form the checker reads.
//!
//! ```toml
//! [tool.stockade]
//! select = ["STK6", "STK801"]        # ids, id prefixes, names, Bandit ids or ruff codes
//! ignore = ["STK101"]
//! exclude = ["tests/fixtures/**"]    # also applies to files named on the command line
//! per-file-ignores = { "tests/**" = ["STK101", "STK105"] }
//! severity = "low"                   # report findings at or above these levels
//! confidence = "low"
//! allow-bare-suppressions = false    # let a bare `# nosec`/`# noqa` suppress everything on a line
//! baseline = "stockade-baseline.json"
//!
//! [tool.stockade.prescreen]
//! forbidden-imports = ["os", "subprocess"]   # module prefixes refused by --prescreen
//! allowed-imports = ["json", "math"]         # if set, every other module is refused
//! forbidden-calls = ["os.system", "os.exec*"] # functions refused when called or referenced
//! ```

use crate::registry::{Level, Profile, RuleId, ALL};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{key}: {message}")]
    Value { key: String, message: String },
}

/// The `[tool.stockade]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub select: Option<Vec<String>>,
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub per_file_ignores: BTreeMap<String, Vec<String>>,
    pub severity: Option<String>,
    pub confidence: Option<String>,
    pub allow_bare_suppressions: Option<bool>,
    pub baseline: Option<String>,
    #[serde(default)]
    pub prescreen: PrescreenConfig,
    /// The directory of the pyproject.toml the table came from; globs are relative to it.
    #[serde(skip)]
    pub root: Option<PathBuf>,
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PrescreenConfig {
    #[serde(default)]
    pub forbidden_imports: Vec<String>,
    pub allowed_imports: Option<Vec<String>>,
    /// Functions refused when called or referenced (`os.system`; `os.exec*` for a prefix).
    #[serde(default)]
    pub forbidden_calls: Vec<String>,
}

#[derive(Deserialize)]
struct PyProject {
    tool: Option<Tool>,
}

#[derive(Deserialize)]
struct Tool {
    stockade: Option<toml::Value>,
}

impl Config {
    /// Reads `[tool.stockade]` from one pyproject.toml; `Ok(None)` if it has no such table.
    pub fn from_pyproject(path: &Path) -> Result<Option<Config>, ConfigError> {
        let err = |message: String| ConfigError::File {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let doc: PyProject = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let Some(table) = doc.tool.and_then(|t| t.stockade) else {
            return Ok(None);
        };
        let mut config: Config = table
            .try_into()
            .map_err(|e: toml::de::Error| err(format!("[tool.stockade]: {e}")))?;
        config.root = path.parent().map(Path::to_path_buf);
        config.source = Some(path.to_path_buf());
        Ok(Some(config))
    }

    /// Finds the nearest pyproject.toml with a `[tool.stockade]` table, from `start` upwards.
    pub fn discover(start: &Path) -> Result<Option<Config>, ConfigError> {
        let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
        let mut dir = if start.is_dir() {
            Some(start.as_path())
        } else {
            start.parent()
        };
        while let Some(d) = dir {
            let candidate = d.join("pyproject.toml");
            if candidate.is_file() {
                if let Some(config) = Config::from_pyproject(&candidate)? {
                    return Ok(Some(config));
                }
            }
            dir = d.parent();
        }
        Ok(None)
    }
}

/// A module → refusal reason predicate for the pre-screen (e.g. a stockade policy's import rules).
pub type ImportPolicy = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What the checker runs with.
#[derive(Clone)]
pub struct Settings {
    enabled: Vec<bool>,
    pub profile: Profile,
    pub honour_suppressions: bool,
    pub allow_bare_suppressions: bool,
    pub forbidden_imports: Vec<String>,
    pub allowed_imports: Option<Vec<String>>,
    /// Consulted by the pre-screen in addition to the two lists above.
    pub import_policy: Option<ImportPolicy>,
    /// Functions the pre-screen refuses when called or referenced: dotted names, or prefixes
    /// ending in `*` (`os.exec*`).
    pub forbidden_calls: Vec<String>,
    pub min_severity: Level,
    pub min_confidence: Level,
    pub root: Option<PathBuf>,
    exclude: GlobSet,
    per_file_ignores: Vec<(GlobSet, Vec<RuleId>)>,
    /// Off only in the test that compares the taint pass with and without its gate.
    pub(crate) taint_gate: bool,
}

impl Settings {
    /// Every rule of `profile` (plus the engine's), nothing excluded. Suppression comments are
    /// honoured in the audit; the pre-screen ignores them, since the code under review wrote them.
    pub fn new(profile: Profile) -> Settings {
        Settings {
            enabled: ALL
                .iter()
                .map(|r| r.meta().profile == profile || r.meta().profile == Profile::Engine)
                .collect(),
            profile,
            honour_suppressions: profile != Profile::Prescreen,
            allow_bare_suppressions: false,
            forbidden_imports: Vec::new(),
            allowed_imports: None,
            import_policy: None,
            forbidden_calls: Vec::new(),
            min_severity: Level::Low,
            min_confidence: Level::Low,
            root: None,
            exclude: GlobSet::empty(),
            per_file_ignores: Vec::new(),
            taint_gate: true,
        }
    }

    /// Settings from a configuration file on top of `profile`'s defaults.
    pub fn from_config(profile: Profile, config: &Config) -> Result<Settings, ConfigError> {
        let mut settings = Settings::new(profile);
        if let Some(select) = &config.select {
            settings.select(select)?;
        }
        settings.ignore(&config.ignore)?;
        if let Some(severity) = &config.severity {
            settings.min_severity = parse_level("severity", severity)?;
        }
        if let Some(confidence) = &config.confidence {
            settings.min_confidence = parse_level("confidence", confidence)?;
        }
        settings.allow_bare_suppressions = config.allow_bare_suppressions.unwrap_or(false);
        settings.set_excludes(&config.exclude)?;
        for (pattern, ids) in &config.per_file_ignores {
            let key = format!("per-file-ignores.\"{pattern}\"");
            let glob = build_globs(&key, std::slice::from_ref(pattern))?;
            let rules = ids
                .iter()
                .map(|id| resolve_rules(&key, id))
                .collect::<Result<Vec<_>, _>>()?;
            settings
                .per_file_ignores
                .push((glob, rules.into_iter().flatten().collect()));
        }
        settings.forbidden_imports = config.prescreen.forbidden_imports.clone();
        settings.allowed_imports = config.prescreen.allowed_imports.clone();
        settings.forbidden_calls = config.prescreen.forbidden_calls.clone();
        settings.root = config.root.clone();
        Ok(settings)
    }

    /// Why the pre-screen refuses importing `module`, if it does: under a `forbidden_imports`
    /// prefix, outside every `allowed_imports` prefix, or refused by `import_policy`.
    pub fn import_refusal(&self, module: &str) -> Option<String> {
        let covers = |entry: &String| {
            module
                .strip_prefix(entry.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        };
        if let Some(entry) = self.forbidden_imports.iter().find(|e| covers(e)) {
            return Some(format!("`{entry}` is a forbidden import"));
        }
        if let Some(allowed) = &self.allowed_imports {
            if !allowed.iter().any(covers) {
                return Some("it is not in the allowed imports".to_string());
            }
        }
        self.import_policy.as_ref().and_then(|policy| policy(module))
    }

    /// The `forbidden_calls` entry that covers the dotted name `function`, if any.
    pub fn forbidden_call(&self, function: &str) -> Option<&str> {
        self.forbidden_calls
            .iter()
            .find(|entry| match entry.strip_suffix('*') {
                Some(prefix) => function.starts_with(prefix),
                None => function == entry.as_str(),
            })
            .map(String::as_str)
    }

    pub fn is_enabled(&self, rule: RuleId) -> bool {
        self.enabled[rule.index()]
    }

    /// Enables exactly the rules named (plus engine findings, which cannot be turned off).
    pub fn select(&mut self, keys: &[String]) -> Result<(), ConfigError> {
        let mut enabled = vec![false; ALL.len()];
        for key in keys {
            for rule in resolve_rules("select", key)? {
                enabled[rule.index()] = true;
            }
        }
        for rule in ALL {
            if rule.meta().profile == Profile::Engine && *rule != RuleId::UnusedSuppression {
                enabled[rule.index()] = true;
            }
        }
        self.enabled = enabled;
        Ok(())
    }

    pub fn ignore(&mut self, keys: &[String]) -> Result<(), ConfigError> {
        for key in keys {
            for rule in resolve_rules("ignore", key)? {
                if rule != RuleId::SyntaxError && rule != RuleId::UnreadableFile {
                    self.enabled[rule.index()] = false;
                }
            }
        }
        Ok(())
    }

    pub fn set_excludes(&mut self, patterns: &[String]) -> Result<(), ConfigError> {
        self.exclude = build_globs("exclude", patterns)?;
        Ok(())
    }

    /// Whether a path is excluded (matched relative to the configuration's directory).
    pub fn is_excluded(&self, path: &Path) -> bool {
        self.exclude.is_match(self.relative(path)) || self.exclude.is_match(path)
    }

    pub fn ignored_in_file(&self, path: &str, rule: RuleId) -> bool {
        if self.per_file_ignores.is_empty() {
            return false;
        }
        let relative = self.relative(Path::new(path));
        self.per_file_ignores
            .iter()
            .any(|(glob, rules)| rules.contains(&rule) && (glob.is_match(&relative) || glob.is_match(path)))
    }

    fn relative(&self, path: &Path) -> PathBuf {
        let Some(root) = &self.root else {
            return path.to_path_buf();
        };
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        absolute.strip_prefix(root).map(Path::to_path_buf).unwrap_or(absolute)
    }
}

pub fn parse_level(key: &str, value: &str) -> Result<Level, ConfigError> {
    Level::parse(value).ok_or_else(|| ConfigError::Value {
        key: key.to_string(),
        message: format!("`{value}` is not a level (low, medium, high)"),
    })
}

/// A rule id, name, alias, or id prefix (`STK6` selects STK6xx).
pub fn resolve_rules(key: &str, value: &str) -> Result<Vec<RuleId>, ConfigError> {
    if let Some(rule) = RuleId::lookup(value) {
        return Ok(vec![rule]);
    }
    if value.starts_with("STK") {
        let matched: Vec<RuleId> = ALL.iter().copied().filter(|r| r.meta().id.starts_with(value)).collect();
        if !matched.is_empty() {
            return Ok(matched);
        }
    }
    Err(ConfigError::Value {
        key: key.to_string(),
        message: format!(
            "`{value}` is not a rule id, name, prefix or Bandit/ruff alias (see `stockade check --list-rules`)"
        ),
    })
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("profile", &self.profile)
            .field("honour_suppressions", &self.honour_suppressions)
            .field("forbidden_imports", &self.forbidden_imports)
            .field("allowed_imports", &self.allowed_imports)
            .field("import_policy", &self.import_policy.is_some())
            .finish_non_exhaustive()
    }
}

fn build_globs(key: &str, patterns: &[String]) -> Result<GlobSet, ConfigError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|e| ConfigError::Value {
            key: key.to_string(),
            message: format!("`{pattern}`: {e}"),
        })?;
        builder.add(glob);
        // `dir` and `dir/` also exclude everything below.
        if !pattern.contains('*') {
            let below = format!("{}/**", pattern.trim_end_matches('/'));
            builder.add(Glob::new(&below).map_err(|e| ConfigError::Value {
                key: key.into(),
                message: e.to_string(),
            })?);
        }
    }
    builder.build().map_err(|e| ConfigError::Value {
        key: key.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_aliases_select() {
        let mut s = Settings::new(Profile::Audit);
        s.select(&["STK6".into(), "B101".into()]).unwrap();
        assert!(s.is_enabled(RuleId::SubprocessShellTrue));
        assert!(s.is_enabled(RuleId::AssertUsed));
        assert!(!s.is_enabled(RuleId::ExecUsed));
        assert!(s.is_enabled(RuleId::SyntaxError));
        let err = s.select(&["STK99x".into()]).unwrap_err().to_string();
        assert!(err.contains("select: `STK99x` is not a rule"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyproject.toml");
        std::fs::write(&path, "[tool.stockade]\nselct = []\n").unwrap();
        let err = Config::from_pyproject(&path).unwrap_err().to_string();
        assert!(err.contains("unknown field `selct`"), "{err}");
    }

    #[test]
    fn excludes_and_per_file_ignores_are_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyproject.toml");
        std::fs::write(
            &path,
            "[tool.stockade]\nexclude = [\"gen\"]\nper-file-ignores = { \"tests/*.py\" = [\"assert-used\"] }\n",
        )
        .unwrap();
        let config = Config::from_pyproject(&path).unwrap().unwrap();
        let s = Settings::from_config(Profile::Audit, &config).unwrap();
        assert!(s.is_excluded(&dir.path().join("gen/x.py")));
        assert!(!s.is_excluded(&dir.path().join("src/x.py")));
        let test_file = dir.path().join("tests/test_a.py");
        assert!(s.ignored_in_file(test_file.to_str().unwrap(), RuleId::AssertUsed));
        assert!(!s.ignored_in_file(test_file.to_str().unwrap(), RuleId::ExecUsed));
    }
}
