//! `stockade audit`: known vulnerabilities in a Python project's dependencies.
//!
//! The pieces, in the order an audit uses them:
//! - [`deps`] reads what is installed, or will be: `requirements.txt`, `pylock.toml`, `uv.lock`,
//!   `poetry.lock` or a venv, into an [`Inventory`] of exact versions (and what it could not judge);
//! - [`db`] loads OSV records for PyPI from a local directory or the export zip, indexed by name;
//! - [`osv`] decides whether a record affects a version (PEP 440 ordering from [`version`]) and how
//!   severe it is ([`cvss`]);
//! - [`ignore`] applies the team's accepted advisories, each with a reason and an expiry date;
//! - [`audit`] puts these together into a [`Report`], which [`report`] writes as text, JSON or
//!   SARIF 2.1.0.
//!
//! Nothing here touches the network except [`db::update`].

pub mod cvss;
pub mod db;
pub mod deps;
mod error;
pub mod ignore;
pub mod osv;
pub mod report;
pub mod version;

use std::collections::BTreeSet;

pub use db::Database;
pub use deps::{Dependency, Inventory, Location, NotAudited};
pub use error::Error;
pub use ignore::{Date, Ignore};
pub use osv::{Level, Severity};

/// One advisory (records that alias each other count once) affecting one dependency.
#[derive(Debug, Clone)]
pub struct Finding {
    pub package: String,
    pub version: String,
    pub location: Location,
    /// The id shown: of the record with the best-known severity, then the first by name.
    pub id: String,
    /// The other ids: aliases, and the ids of the records merged into this finding.
    pub aliases: Vec<String>,
    pub summary: String,
    pub severity: Severity,
    /// Releases that fix it, lowest first (empty when no fix is known).
    pub fixed_in: Vec<String>,
    /// The ignore that applies, if one does.
    pub ignored: Option<Ignore>,
    /// An ignore that would cover this finding but has expired.
    pub expired_ignore: Option<Ignore>,
}

impl Finding {
    /// The id and every alias.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

/// Everything an audit found.
#[derive(Debug)]
pub struct Report {
    pub sources: Vec<deps::Source>,
    /// Dependencies checked against the database.
    pub audited: usize,
    /// Findings, ignored ones included (see [`Finding::ignored`]).
    pub findings: Vec<Finding>,
    pub not_audited: Vec<NotAudited>,
    pub warnings: Vec<String>,
    /// Ignores that matched no finding (stale entries worth removing).
    pub unused_ignores: Vec<Ignore>,
    pub database: DatabaseSummary,
}

#[derive(Debug, Clone)]
pub struct DatabaseSummary {
    pub path: std::path::PathBuf,
    /// Records in the database (including any not read in full, see [`Database::open_for`]).
    pub records: usize,
    /// Withdrawn records among those read in full.
    pub withdrawn: usize,
    /// Days since the database was written, if known.
    pub age_days: Option<u64>,
}

impl Report {
    /// Findings no ignore applies to.
    pub fn active(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.ignored.is_none())
    }

    /// Active findings at or above `threshold`. A finding of unknown severity counts at every
    /// threshold: nothing says it is below.
    pub fn failing(&self, threshold: Level) -> usize {
        self.active()
            .filter(|f| f.severity.level == Level::Unknown || f.severity.level >= threshold)
            .count()
    }
}

impl Inventory {
    /// The PEP 503 names of the dependencies to audit: what [`Database::open_for`] needs.
    pub fn names(&self) -> std::collections::HashSet<String> {
        self.dependencies
            .iter()
            .map(|d| version::normalize_name(&d.name))
            .collect()
    }
}

/// A database at least this many days old is reported as stale: OSV's PyPI export changes daily.
pub const STALE_DAYS: u64 = 7;

/// Check every dependency of `inventory` against `db`, applying `ignores` as of `today`.
pub fn audit(inventory: &Inventory, db: &Database, ignores: &[Ignore], today: Date) -> Report {
    let mut findings = Vec::new();
    let mut not_audited = inventory.not_audited.clone();
    let mut warnings = inventory.warnings.clone();
    let mut unreadable = BTreeSet::new();
    let mut audited = 0;
    for dep in &inventory.dependencies {
        let installed = match version::parse(&dep.version) {
            Ok(v) => v,
            Err(e) => {
                not_audited.push(NotAudited {
                    name: dep.name.clone(),
                    reason: format!("version {:?} is not PEP 440 ({e})", dep.version),
                    location: dep.location.clone(),
                });
                continue;
            }
        };
        audited += 1;
        let normalized = version::normalize_name(&dep.name);
        let mut hits = Vec::new();
        for record in db.records_for(&normalized) {
            let verdict = osv::evaluate(record, &normalized, &installed);
            for u in &verdict.unreadable {
                unreadable.insert(format!("{}: {u}; that range was not used", record.id));
            }
            if verdict.affected {
                hits.push((record, verdict.fixed_in));
            }
        }
        for group in group_aliases(hits) {
            findings.push(finding(dep, group));
        }
    }
    warnings.extend(unreadable);
    if let Some(days) = db.age_days().filter(|d| *d >= STALE_DAYS) {
        warnings.push(format!(
            "the advisory database {} is {days} days old; advisories published since are missing \
             (stockade audit update-db)",
            db.path().display()
        ));
    }
    let mut used = vec![false; ignores.len()];
    for f in &mut findings {
        let ids: Vec<String> = f.ids().map(str::to_string).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let normalized = version::normalize_name(&f.package);
        for (i, ig) in ignores.iter().enumerate() {
            if !ig.covers(&ids, &normalized) {
                continue;
            }
            used[i] = true;
            if ig.expired(today) {
                f.expired_ignore.get_or_insert_with(|| ig.clone());
            } else if f.ignored.is_none() {
                f.ignored = Some(ig.clone());
            }
        }
        if f.ignored.is_some() {
            f.expired_ignore = None;
        }
    }
    findings.sort_by(|a, b| {
        (version::normalize_name(&a.package), &a.location, &a.id).cmp(&(
            version::normalize_name(&b.package),
            &b.location,
            &b.id,
        ))
    });
    Report {
        sources: inventory.sources.clone(),
        audited,
        findings,
        not_audited,
        warnings,
        unused_ignores: ignores
            .iter()
            .zip(used)
            .filter(|(_, u)| !u)
            .map(|(i, _)| i.clone())
            .collect(),
        database: DatabaseSummary {
            path: db.path().to_path_buf(),
            records: db.total(),
            age_days: db.age_days(),
            withdrawn: db.withdrawn(),
        },
    }
}

type Hit<'a> = (&'a osv::Record, Vec<String>);

/// Records that share an id or alias describe one vulnerability (PYSEC-2023-74 and
/// GHSA-j8r2-6x86-q33q are both CVE-2023-32681): group them, transitively.
fn group_aliases(hits: Vec<Hit<'_>>) -> Vec<Vec<Hit<'_>>> {
    let mut groups: Vec<(BTreeSet<String>, Vec<Hit<'_>>)> = Vec::new();
    for hit in hits {
        let ids: BTreeSet<String> = std::iter::once(&hit.0.id)
            .chain(&hit.0.aliases)
            .map(|s| s.to_ascii_uppercase())
            .collect();
        let (mut merged_ids, mut merged) = (ids, vec![hit]);
        let mut i = 0;
        while i < groups.len() {
            if groups[i].0.intersection(&merged_ids).next().is_some() {
                let (ids, hits) = groups.swap_remove(i);
                merged_ids.extend(ids);
                merged.extend(hits);
                i = 0;
            } else {
                i += 1;
            }
        }
        groups.push((merged_ids, merged));
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

fn finding(dep: &Dependency, mut group: Vec<Hit<'_>>) -> Finding {
    let rank = |s: &Severity| match s.source {
        "cvss_v3" => 3,
        "cvss_v2" => 2,
        "database" => 1,
        _ => 0,
    };
    // The primary record: the best-known severity, then the first id by name (stable output).
    group.sort_by(|a, b| {
        let (sa, sb) = (osv::severity(a.0), osv::severity(b.0));
        rank(&sb).cmp(&rank(&sa)).then_with(|| a.0.id.cmp(&b.0.id))
    });
    let primary = group[0].0;
    let mut severity = osv::severity(primary);
    for (r, _) in &group[1..] {
        let s = osv::severity(r);
        if s.level > severity.level {
            severity = s;
        }
    }
    let mut aliases = BTreeSet::new();
    let mut fixed_in: Vec<String> = Vec::new();
    for (r, fixed) in &group {
        aliases.insert(r.id.clone());
        aliases.extend(r.aliases.iter().cloned());
        fixed_in.extend(fixed.iter().cloned());
    }
    aliases.remove(&primary.id);
    fixed_in.sort_by(|a, b| match (version::parse(a), version::parse(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    });
    fixed_in.dedup();
    let summary = std::iter::once(primary)
        .chain(group.iter().map(|h| h.0))
        .map(osv::summary)
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    Finding {
        package: dep.name.clone(),
        version: dep.version.clone(),
        location: dep.location.clone(),
        id: primary.id.clone(),
        aliases: aliases.into_iter().collect(),
        summary,
        severity,
        fixed_in,
        ignored: None,
        expired_ignore: None,
    }
}
