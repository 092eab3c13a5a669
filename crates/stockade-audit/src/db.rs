//! The local advisory database: OSV JSON records for PyPI, from a directory of `*.json` files or
//! from the export zip itself (`PyPI/all.zip`), indexed by PEP 503 name.
//!
//! The database is read on every audit rather than cached in a derived index: one format to
//! trust, nothing to go stale after `update-db`. An audit reads in full only the records that may
//! name one of its dependencies ([`Database::open_for`]); the rest are scanned for their package
//! names and dropped (bench/README.md has the numbers).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::osv::Record;
use crate::version::normalize_name;
use crate::Error;

/// Where `update-db` fetches from: OSV's export of every PyPI record.
pub const PYPI_EXPORT_URL: &str = "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip";

/// The records, and which of them name each PyPI project.
#[derive(Debug)]
pub struct Database {
    path: PathBuf,
    records: Vec<Record>,
    by_name: HashMap<String, Vec<usize>>,
    withdrawn: usize,
    /// Records in the files, read in full or not.
    total: usize,
    /// When the database was last written (the zip's, or the directory's, modification time).
    modified: Option<std::time::SystemTime>,
}

impl Database {
    /// Read every record of a database directory (every `*.json` below it) or an export zip.
    pub fn open(path: &Path) -> Result<Database, Error> {
        Database::read(path, None)
    }

    /// Read the records that may be about these projects (PEP 503 names); the others are only
    /// scanned for their package names. What an audit of these projects finds is the same as
    /// with [`Database::open`].
    pub fn open_for(path: &Path, names: &HashSet<String>) -> Result<Database, Error> {
        Database::read(path, Some(names))
    }

    fn read(path: &Path, names: Option<&HashSet<String>>) -> Result<Database, Error> {
        let meta = std::fs::metadata(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Usage(format!(
                    "no advisory database at {} (run `stockade audit update-db`, or pass --db with a \
                     directory of OSV JSON files or the PyPI export zip)",
                    path.display()
                ))
            } else {
                Error::io(path, e)
            }
        })?;
        let entries = if meta.is_dir() {
            read_dir(path, names)?
        } else {
            read_zip(path, names)?
        };
        let total = entries.len();
        let mut db = Database::from_records(path.to_path_buf(), entries.into_iter().flatten().collect());
        db.total = total;
        db.modified = meta.modified().ok();
        Ok(db)
    }

    /// A database of these records (withdrawn ones are counted and left out).
    pub fn from_records(path: PathBuf, records: Vec<Record>) -> Database {
        let mut kept = Vec::with_capacity(records.len());
        let mut withdrawn = 0;
        for r in records {
            if r.withdrawn.is_some() {
                withdrawn += 1;
            } else {
                kept.push(r);
            }
        }
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in kept.iter().enumerate() {
            let mut names: Vec<String> = r
                .affected
                .iter()
                .filter_map(|a| a.package.as_ref())
                .filter(|p| p.ecosystem == "PyPI")
                .map(|p| normalize_name(&p.name))
                .collect();
            names.sort();
            names.dedup();
            for n in names {
                by_name.entry(n).or_default().push(i);
            }
        }
        Database {
            path,
            total: kept.len() + withdrawn,
            modified: None,
            records: kept,
            by_name,
            withdrawn,
        }
    }

    /// The records that name this PyPI project (by its PEP 503 name).
    pub fn records_for(&self, normalized: &str) -> impl Iterator<Item = &Record> {
        self.by_name
            .get(normalized)
            .into_iter()
            .flatten()
            .map(|&i| &self.records[i])
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records in use (not withdrawn).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records in the database's files, including those not read in full by
    /// [`Database::open_for`] and withdrawn ones.
    pub fn total(&self) -> usize {
        self.total
    }

    /// When the database was last written, if known.
    pub fn modified(&self) -> Option<std::time::SystemTime> {
        self.modified
    }

    /// How old the database is, in whole days, if known.
    pub fn age_days(&self) -> Option<u64> {
        let age = std::time::SystemTime::now().duration_since(self.modified?).ok()?;
        Some(age.as_secs() / 86_400)
    }

    /// Records left out because they were withdrawn (of those read in full).
    pub fn withdrawn(&self) -> usize {
        self.withdrawn
    }

    /// Projects with at least one record.
    pub fn projects(&self) -> usize {
        self.by_name.len()
    }
}

/// One record, or `None` when `names` is given and the record certainly names none of them.
fn parse_record(origin: &Path, text: &[u8], names: Option<&HashSet<String>>) -> Result<Option<Record>, Error> {
    if names.is_some_and(|n| !may_name(text, n)) {
        return Ok(None);
    }
    serde_json::from_slice(text)
        .map(Some)
        .map_err(|e| Error::malformed(origin, None, format!("not an OSV record: {e}")))
}

/// Whether a record's text may name one of `names` (PEP 503 names) as a package; false only when
/// it certainly does not. Every `"name": "…"` in the text (package names, and credits' names,
/// which only cost a needless parse) is read and normalised. JSON can spell a key or a name
/// otherwise only with `\u` escapes, so a record with one is always read in full, as is one whose
/// `"name"` value is not a plain string. (`str` searches: the standard library is optimised even
/// in debug builds.)
fn may_name(text: &[u8], names: &HashSet<String>) -> bool {
    let Ok(text) = std::str::from_utf8(text) else {
        return true; // let the parser say what is wrong
    };
    if text.contains("\\u") {
        return true;
    }
    let mut rest = text;
    while let Some(i) = rest.find("\"name\"") {
        rest = &rest[i + 6..];
        let after_key = rest.trim_start();
        let Some(value) = after_key.strip_prefix(':') else {
            continue; // "name" as a string value, not a key
        };
        let Some(value) = value.trim_start().strip_prefix('"') else {
            return true;
        };
        let Some(end) = value.find('"') else {
            return true;
        };
        let name = &value[..end];
        if name.contains('\\') || names.contains(&normalize_name(name)) {
            return true;
        }
    }
    false
}

fn read_dir(root: &Path, names: Option<&HashSet<String>>) -> Result<Vec<Option<Record>>, Error> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if hidden {
                continue;
            }
            if kind.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|x| x == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    in_parallel(files.len(), |range| {
        files[range]
            .iter()
            .map(|f| {
                let text = std::fs::read(f).map_err(|e| Error::io(f, e))?;
                parse_record(f, &text, names)
            })
            .collect()
    })
}

/// Run `work` over `0..n` split into one contiguous chunk per core, and join the results in
/// order. Reading the database is most of an audit's time, and it parallelises cleanly.
fn in_parallel<T: Send>(
    n: usize,
    work: impl Fn(std::ops::Range<usize>) -> Result<Vec<T>, Error> + Sync,
) -> Result<Vec<T>, Error> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).clamp(1, 8);
    let chunk = n.div_ceil(threads).max(256);
    if n <= chunk {
        return work(0..n);
    }
    let parts: Vec<Result<Vec<T>, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let work = &work;
                scope.spawn(move || work(start..(start + chunk).min(n)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Usage("a database reader thread panicked".into())))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(n);
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

fn read_zip(path: &Path, names: Option<&HashSet<String>>) -> Result<Vec<Option<Record>>, Error> {
    // The whole archive in memory (the PyPI export is tens of MB) so each thread can read its
    // share of the entries through its own cursor.
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.as_slice()))
        .map_err(|e| Error::malformed(path, None, format!("neither a directory nor a zip of OSV records: {e}")))?;
    in_parallel(archive.len(), |range| {
        let mut archive = archive.clone();
        let mut records = Vec::with_capacity(range.len());
        let mut buf = Vec::new();
        for i in range {
            let mut entry = archive
                .by_index(i)
                .map_err(|e| Error::malformed(path, None, format!("zip entry {i}: {e}")))?;
            let name = entry
                .name()
                .map_err(|e| Error::malformed(path, None, format!("zip entry {i}: {e}")))?
                .into_owned();
            if !entry.is_file() || !name.ends_with(".json") {
                continue;
            }
            let origin = path.join(&name);
            buf.clear();
            entry
                .read_to_end(&mut buf)
                .map_err(|e| Error::malformed(&origin, None, format!("cannot inflate: {e}")))?;
            records.push(parse_record(&origin, &buf, names)?);
        }
        Ok(records)
    })
}

/// The database `--db` defaults to: `$STOCKADE_AUDIT_DB`, else `osv-pypi.zip` in
/// `$XDG_CACHE_HOME/stockade` or `~/.cache/stockade`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STOCKADE_AUDIT_DB").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("stockade").join("osv-pypi.zip"))
}

/// What `update` fetched.
#[derive(Debug)]
pub struct Updated {
    pub bytes: u64,
    pub records: usize,
}

/// Download the PyPI export from `url` to `path` (a file; the export is kept as the zip). The
/// download goes to a temporary file beside `path` and replaces it only once it opens as a
/// database, so a failed or partial download never leaves a broken one behind.
pub fn update(path: &Path, url: &str) -> Result<Updated, Error> {
    if path.is_dir() {
        return Err(Error::Usage(format!(
            "{} is a directory; update-db writes the PyPI export zip, so name a file (for example {})",
            path.display(),
            path.join("osv-pypi.zip").display()
        )));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let result = download(url, &partial).and_then(|bytes| {
        let db = Database::open(&partial)?;
        if db.is_empty() {
            return Err(Error::Download {
                url: url.to_string(),
                message: "the archive holds no OSV records".into(),
            });
        }
        std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))?;
        Ok(Updated {
            bytes,
            records: db.len(),
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn download(url: &str, to: &Path) -> Result<u64, Error> {
    let failed = |message: String| Error::Download {
        url: url.to_string(),
        message,
    };
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(20))
        .timeout(std::time::Duration::from_secs(15 * 60))
        .user_agent(concat!("stockade-audit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| failed(chain(&e)))?;
    let mut response = client.get(url).send().map_err(|e| {
        failed(format!(
            "{} (no network here? fetch the file elsewhere and pass it with --db)",
            chain(&e)
        ))
    })?;
    if !response.status().is_success() {
        return Err(failed(format!("the server answered {}", response.status())));
    }
    let mut file = std::fs::File::create(to).map_err(|e| Error::io(to, e))?;
    let bytes = response.copy_to(&mut file).map_err(|e| failed(chain(&e)))?;
    file.sync_all().map_err(|e| Error::io(to, e))?;
    Ok(bytes)
}

/// An error with its causes, `outer: inner: innermost`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_reads_keep_the_order_and_the_first_error() {
        let got = in_parallel(1000, |r| Ok(r.collect::<Vec<usize>>())).unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        let err = in_parallel(1000, |r| {
            if r.contains(&700) {
                Err(Error::malformed("db", None, "entry 700"))
            } else {
                Ok(r.collect::<Vec<usize>>())
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains("entry 700"));
    }

    fn names(list: &[&str]) -> HashSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_name_scan_skips_only_records_that_certainly_do_not_name_a_project() {
        let wanted = names(&["jinja2", "zope-interface"]);
        let yes = |t: &str| may_name(t.as_bytes(), &wanted);
        assert!(yes(
            r#"{"affected": [{"package": {"ecosystem": "PyPI", "name": "Jinja2"}}]}"#
        ));
        assert!(yes(r#"{"affected":[{"package":{"name" :	"zope.interface"}}]}"#));
        assert!(!yes(
            r#"{"affected": [{"package": {"ecosystem": "PyPI", "name": "flask"}}], "details": "jinja2"}"#
        ));
        assert!(!yes(
            r#"{"summary": "the \"name\" field", "affected": [{"package": {"name": "flask"}}]}"#
        ));
        // What the scan cannot read is parsed in full.
        assert!(yes(r#"{"affected": [{"package": {"n\u0061me": "jinja2"}}]}"#));
        assert!(yes(r#"{"affected": [{"package": {"name": "jin\/ja2"}}]}"#));
        assert!(yes(r#"{"affected": [{"package": {"name": 7}}]}"#));
        assert!(may_name(&[0xff, 0xfe], &wanted), "not UTF-8: the parser reports it");
    }

    #[test]
    fn a_big_zip_reads_in_parallel_like_in_one_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("all.zip");
        let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for i in 0..1200 {
            use std::io::Write;
            w.start_file(format!("PYSEC-0-{i}.json"), opts).unwrap();
            let rec = serde_json::json!({"id": format!("PYSEC-0-{i}"),
                "affected": [{"package": {"ecosystem": "PyPI", "name": format!("p{}", i % 7)}, "versions": ["1.0"]}]});
            w.write_all(rec.to_string().as_bytes()).unwrap();
        }
        w.start_file("README.txt", opts).unwrap();
        w.finish().unwrap();
        let db = Database::open(&path).unwrap();
        assert_eq!(db.len(), 1200);
        let ids: Vec<&str> = db.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids[..3], ["PYSEC-0-0", "PYSEC-0-1", "PYSEC-0-2"]);
        assert_eq!(ids[1199], "PYSEC-0-1199");
        assert_eq!(db.records_for("p3").count(), 171);
        let some = Database::open_for(&path, &names(&["p3", "nothing"])).unwrap();
        assert_eq!((some.len(), some.total()), (171, 1200));
        assert_eq!(some.records_for("p3").count(), 171);
        assert_eq!(some.records_for("p4").count(), 0);
    }
}
