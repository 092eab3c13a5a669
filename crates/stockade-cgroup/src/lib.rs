//! Per-run control groups: memory and process-count limits, usage accounting, and cleanup.
//!
//! Two layouts are supported. cgroup v2 (one unified hierarchy, `memory.max`, `pids.max`,
//! `cgroup.kill`) is used when this process's v2 cgroup can delegate the `memory` and `pids`
//! controllers. Otherwise the v1 `memory`, `pids` and `cpuacct` hierarchies are used, each on its
//! own mount, which is what hosts that boot with cgroups v1 offer. When neither is writable the
//! caller falls back to rlimits and reports that it did.
//!
//! Run cgroups are created below the caller's own cgroup (so any limit placed on stockade itself
//! still applies to its jails) in a `stockade/` directory, named `run-<pid>-<nonce>`, and removed
//! when the [`RunCgroup`] is dropped. Directories left by a supervisor that was SIGKILLed are
//! swept by the next run ([`sweep_stale`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Errors from creating or configuring a run cgroup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// A cgroup directory could not be created.
    #[error("failed to create cgroup {path}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A control file could not be written.
    #[error("failed to write {value:?} to {path}")]
    Write {
        /// The control file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Which cgroup hierarchy a controller lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// A v1 hierarchy dedicated to the controller.
    V1,
    /// The unified v2 hierarchy.
    V2,
}

/// Where each controller stockade uses can be found for this process, if anywhere.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Directory (our own cgroup in the memory hierarchy) under which run cgroups go.
    pub memory: Option<(Version, PathBuf)>,
    /// Same for pids.
    pub pids: Option<(Version, PathBuf)>,
    /// Same for CPU accounting (v1 cpuacct, or the v2 cgroup, where cpu.stat always exists).
    pub cpu: Option<(Version, PathBuf)>,
    /// Why a controller is missing, for `stockade doctor`.
    pub notes: Vec<String>,
}

/// One line of `/proc/self/mountinfo`, as far as cgroups care.
#[derive(Clone)]
struct Mount {
    mount_point: PathBuf,
    fstype: String,
    super_options: String,
}

fn mounts() -> Vec<Mount> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|line| {
            // Fields: id parent major:minor root mount-point options [optional...] - fstype source super-options
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let super_options = right.nth(1).unwrap_or("").to_string();
            Some(Mount {
                mount_point: PathBuf::from(unescape_mount_path(mount_point)),
                fstype,
                super_options,
            })
        })
        .collect()
}

fn unescape_mount_path(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// This process's cgroup path in the hierarchy that has `controller` (v1), or in v2 (`""`).
/// Our cgroup in `controller`'s hierarchy ("" for v2), from `/proc/self/cgroup`'s text.
fn own_cgroup(text: &str, controller: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if controller.is_empty() {
            list.is_empty()
        } else {
            list.split(',').any(|c| c == controller)
        };
        hit.then(|| path.to_string())
    })
}

fn writable_dir(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}

impl Layout {
    /// Look at this host's mounts and our own cgroups; on cgroup v1, also make moves into
    /// them cheap ([`favor_dynmods`], once per boot).
    #[must_use]
    pub fn detect() -> Layout {
        let mounts = mounts();
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mut layout = Layout::default();
        // v2 first: a unified hierarchy that can delegate memory+pids is the better mechanism.
        if let Some(v2) = mounts.iter().find(|m| m.fstype == "cgroup2") {
            if let Some(own) = own_cgroup(&own, "") {
                let dir = v2.mount_point.join(own.trim_start_matches('/'));
                let controllers = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
                let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
                if has("memory") && has("pids") && writable_dir(&dir) {
                    layout.memory = Some((Version::V2, dir.clone()));
                    layout.pids = Some((Version::V2, dir.clone()));
                    layout.cpu = Some((Version::V2, dir));
                    return layout;
                }
                layout.notes.push(format!(
                    "cgroup v2 at {} offers [{}], not memory+pids",
                    dir.display(),
                    controllers.trim()
                ));
            }
        }
        for (controller, slot) in [
            ("memory", &mut layout.memory),
            ("pids", &mut layout.pids),
            ("cpuacct", &mut layout.cpu),
        ] {
            let found = mounts
                .iter()
                .find(|m| m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == controller));
            match (found, own_cgroup(&own, controller)) {
                (Some(m), Some(own)) => {
                    let dir = m.mount_point.join(own.trim_start_matches('/'));
                    if writable_dir(&dir) {
                        *slot = Some((Version::V1, dir));
                    } else {
                        layout
                            .notes
                            .push(format!("cgroup v1 {controller} at {} is not writable", dir.display()));
                    }
                }
                _ => layout.notes.push(format!("no cgroup v1 {controller} hierarchy")),
            }
        }
        if [&layout.memory, &layout.pids, &layout.cpu]
            .iter()
            .any(|c| matches!(c, Some((Version::V1, _))))
        {
            layout.notes.push(favor_dynmods(&mounts).note());
        }
        layout
    }
}

/// Where stockade mounts a v1 hierarchy of its own, with no controller, only to set
/// `favordynmods` (see [`favor_dynmods`]).
pub const FAVOR_DYNMODS_DIR: &str = "/run/stockade/favordynmods";

/// Environment variable that stops stockade from setting `favordynmods` (`0`).
pub const FAVOR_DYNMODS_ENV: &str = "STOCKADE_FAVORDYNMODS";

/// Whether moving a process between cgroups waits for an RCU grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DynMods {
    /// A v1 hierarchy on this host already has `favordynmods`.
    Favoured(PathBuf),
    /// stockade mounted its own just now.
    Mounted,
    /// Not set: each run's first cgroup move waits a grace period (why).
    Waiting(String),
}

impl DynMods {
    fn note(&self) -> String {
        match self {
            DynMods::Favoured(at) => format!(
                "cgroup v1 migrations skip the RCU grace period (favordynmods, {})",
                at.display()
            ),
            DynMods::Mounted => {
                format!("cgroup v1 migrations skip the RCU grace period (favordynmods, mounted at {FAVOR_DYNMODS_DIR})")
            }
            DynMods::Waiting(why) => {
                format!("cgroup v1 migrations wait an RCU grace period (~5-25 ms per cold run): {why}")
            }
        }
    }
}

/// Make cgroup v1 migrations cheap. Moving a task takes `cgroup_threadgroup_rwsem` for writing,
/// a per-CPU rwsem whose writer waits a whole RCU grace period when the rwsem was idle: every
/// cold run paid 5-25 ms joining its cgroups. A v1 hierarchy mounted with `favordynmods`
/// (Linux 6.0+) keeps that rwsem on its slow path for good, so no writer waits; the option of
/// any hierarchy applies to the one rwsem, so a hierarchy with no controller at all does, and
/// the hierarchies in use need not be remounted (the kernel refuses to change their options).
/// The price is a slightly slower fork and exit machine-wide (readers take the slow path),
/// which is why [`FAVOR_DYNMODS_ENV`]`=0` turns it off. Idempotent: an existing
/// `favordynmods` mount is reused.
fn favor_dynmods(mounts: &[Mount]) -> DynMods {
    let opted_out = std::env::var(FAVOR_DYNMODS_ENV).is_ok_and(|v| v == "0");
    if let Some(settled) = dynmods_without_mounting(mounts, opted_out, nix::unistd::geteuid().is_root()) {
        return settled;
    }
    let dir = Path::new(FAVOR_DYNMODS_DIR);
    if let Err(e) = fs::create_dir_all(dir) {
        return DynMods::Waiting(format!("cannot create {FAVOR_DYNMODS_DIR}: {e}"));
    }
    match nix::mount::mount(
        Some("cgroup"),
        dir,
        Some("cgroup"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV | nix::mount::MsFlags::MS_NOEXEC,
        Some("none,name=stockade-favordynmods,favordynmods"),
    ) {
        Ok(()) => DynMods::Mounted,
        Err(nix::errno::Errno::EINVAL) => {
            DynMods::Waiting("this kernel does not offer favordynmods for cgroup v1 (Linux 6.0+)".into())
        }
        Err(e) => DynMods::Waiting(format!(
            "mounting a favordynmods hierarchy at {FAVOR_DYNMODS_DIR} failed: {e}"
        )),
    }
}

/// What [`favor_dynmods`] answers without mounting anything: an existing `favordynmods`
/// hierarchy, the operator's opt-out, or no privilege to mount. `None`: mount one.
fn dynmods_without_mounting(mounts: &[Mount], opted_out: bool, root: bool) -> Option<DynMods> {
    if let Some(m) = mounts
        .iter()
        .find(|m| m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == "favordynmods"))
    {
        return Some(DynMods::Favoured(m.mount_point.clone()));
    }
    if opted_out {
        return Some(DynMods::Waiting(format!("{FAVOR_DYNMODS_ENV}=0")));
    }
    if !root {
        return Some(DynMods::Waiting(
            "mounting a hierarchy with favordynmods needs root".into(),
        ));
    }
    None
}

/// Limits for one run's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory limit in bytes (page cache and tmpfs pages included).
    pub memory: u64,
    /// Maximum number of tasks (processes and threads).
    pub pids: u64,
}

/// The cgroup(s) of one run. Dropping it kills anything left inside and removes the directories.
#[derive(Debug)]
pub struct RunCgroup {
    memory: Option<(Version, PathBuf)>,
    pids: Option<(Version, PathBuf)>,
    cpu: Option<(Version, PathBuf)>,
    dirs: Vec<PathBuf>,
    /// Files read again and again (a warm jail's supervisor reads some on every run), kept
    /// open and read with `pread` at offset 0 instead of a path walk each time.
    open: Knobs,
}

/// The open files of [`RunCgroup`]'s counters, each opened on first use.
#[derive(Debug, Default)]
struct Knobs {
    cpu: std::sync::OnceLock<Option<fs::File>>,
    cpu_stat: std::sync::OnceLock<Option<fs::File>>,
    oom: std::sync::OnceLock<Option<fs::File>>,
    pids_events: std::sync::OnceLock<Option<fs::File>>,
    peak: std::sync::OnceLock<Option<fs::File>>,
    peak_reset: std::sync::OnceLock<Option<fs::File>>,
}

/// The whole of a small counter file, read from its start through a file kept open.
fn read_open(slot: &std::sync::OnceLock<Option<fs::File>>, path: impl FnOnce() -> PathBuf) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let file = slot.get_or_init(|| fs::File::open(path()).ok()).as_ref()?;
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while len < buf.len() {
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    String::from_utf8(buf[..len].to_vec()).ok()
}

fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_owned(),
        value: value.to_string(),
        source,
    })
}

fn make_dir(base: &Path, name: &str) -> Result<PathBuf, CgroupError> {
    let parent = base.join("stockade");
    if let Err(source) = fs::create_dir(&parent) {
        if source.kind() != io::ErrorKind::AlreadyExists {
            return Err(CgroupError::Create { path: parent, source });
        }
    }
    let dir = parent.join(name);
    fs::create_dir(&dir).map_err(|source| CgroupError::Create {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

impl RunCgroup {
    /// Create `stockade/<name>` in every available hierarchy and apply `limits`.
    ///
    /// On v2 the `stockade/` parent gets `+memory +pids` in its subtree_control; this works because
    /// `stockade/` itself never holds processes.
    pub fn create(layout: &Layout, name: &str, limits: Limits) -> Result<RunCgroup, CgroupError> {
        let mut cg = RunCgroup {
            memory: None,
            pids: None,
            cpu: None,
            dirs: Vec::new(),
            open: Knobs::default(),
        };
        let result = cg.populate(layout, name, limits);
        // On error, `cg` is dropped here and removes what was already made.
        result.map(|()| cg)
    }

    fn populate(&mut self, layout: &Layout, name: &str, limits: Limits) -> Result<(), CgroupError> {
        if let Some((Version::V2, base)) = &layout.memory {
            let parent = base.join("stockade");
            let _ = fs::create_dir(&parent);
            write(&base.join("cgroup.subtree_control"), "+memory +pids").ok();
            write(&parent.join("cgroup.subtree_control"), "+memory +pids")?;
            let dir = make_dir(base, name)?;
            self.dirs.push(dir.clone());
            write(&dir.join("memory.max"), &limits.memory.to_string())?;
            write(&dir.join("memory.swap.max"), "0").ok();
            write(&dir.join("pids.max"), &limits.pids.to_string())?;
            self.memory = Some((Version::V2, dir.clone()));
            self.pids = Some((Version::V2, dir.clone()));
            self.cpu = Some((Version::V2, dir));
            return Ok(());
        }
        if let Some((_, base)) = &layout.memory {
            let dir = make_dir(base, name)?;
            self.dirs.push(dir.clone());
            write(&dir.join("memory.limit_in_bytes"), &limits.memory.to_string())?;
            // Without swap accounting this file is absent; that is fine (no swap to escape to).
            write(&dir.join("memory.memsw.limit_in_bytes"), &limits.memory.to_string()).ok();
            self.memory = Some((Version::V1, dir));
        }
        if let Some((_, base)) = &layout.pids {
            let dir = make_dir(base, name)?;
            self.dirs.push(dir.clone());
            write(&dir.join("pids.max"), &limits.pids.to_string())?;
            self.pids = Some((Version::V1, dir));
        }
        if let Some((_, base)) = &layout.cpu {
            let dir = make_dir(base, name)?;
            self.dirs.push(dir.clone());
            self.cpu = Some((Version::V1, dir));
        }
        Ok(())
    }

    /// Whether memory is limited by this cgroup (else the caller must use RLIMIT_AS).
    #[must_use]
    pub fn limits_memory(&self) -> Option<Version> {
        self.memory.as_ref().map(|(v, _)| *v)
    }

    /// Whether the task count is limited by this cgroup.
    #[must_use]
    pub fn limits_pids(&self) -> Option<Version> {
        self.pids.as_ref().map(|(v, _)| *v)
    }

    /// Move `pid` (and, on v1, only that task) into every hierarchy of this run.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        let mut done: Vec<&Path> = Vec::new();
        for (_, dir) in [&self.memory, &self.pids, &self.cpu].into_iter().flatten() {
            if !done.contains(&dir.as_path()) {
                write(&dir.join("cgroup.procs"), &pid)?;
                done.push(dir);
            }
        }
        Ok(())
    }

    /// Peak memory use in bytes, if the hierarchy records it.
    #[must_use]
    pub fn memory_peak(&self) -> Option<u64> {
        let (v, dir) = self.memory.as_ref()?;
        let name = match v {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        };
        read_open(&self.open.peak, || dir.join(name))?.trim().parse().ok()
    }

    /// Start a new peak-memory measurement (a warm jail, before each run): the high-water
    /// mark is set back to the current use. False when the hierarchy cannot.
    pub fn reset_memory_peak(&self) -> bool {
        use std::os::unix::fs::FileExt;
        match &self.memory {
            Some((Version::V1, dir)) => self
                .open
                .peak_reset
                .get_or_init(|| {
                    fs::OpenOptions::new()
                        .write(true)
                        .open(dir.join("memory.max_usage_in_bytes"))
                        .ok()
                })
                .as_ref()
                .is_some_and(|f| f.write_at(b"0", 0).is_ok()),
            // Linux 6.12+: writing to memory.peak resets it for this file description only, so a
            // v2 peak is read through the same open file; not used here: report the whole jail's.
            Some((Version::V2, _)) | None => false,
        }
    }

    /// How many processes the kernel's OOM killer killed in this run.
    #[must_use]
    pub fn oom_kills(&self) -> u64 {
        let Some((v, dir)) = &self.memory else { return 0 };
        let name = match v {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        read_open(&self.open.oom, || dir.join(name))
            .and_then(|t| keyed(&t, "oom_kill"))
            .unwrap_or(0)
    }

    /// How many forks or clones failed because the task limit was reached.
    #[must_use]
    pub fn pids_limit_hits(&self) -> u64 {
        let Some((_, dir)) = &self.pids else { return 0 };
        read_open(&self.open.pids_events, || dir.join("pids.events"))
            .and_then(|t| keyed(&t, "max"))
            .unwrap_or(0)
    }

    /// Total CPU time (user+system) used by the run so far, in nanoseconds.
    #[must_use]
    pub fn cpu_usage_ns(&self) -> Option<u64> {
        match &self.cpu {
            Some((Version::V1, dir)) => read_open(&self.open.cpu, || dir.join("cpuacct.usage"))?
                .trim()
                .parse()
                .ok(),
            Some((Version::V2, dir)) => {
                keyed(&read_open(&self.open.cpu_stat, || dir.join("cpu.stat"))?, "usage_usec").map(|us| us * 1000)
            }
            None => None,
        }
    }

    /// User and system CPU time of the whole run so far, in milliseconds, if recorded. Unlike
    /// `wait4` totals this includes processes that were killed rather than reaped.
    #[must_use]
    pub fn cpu_user_sys_ms(&self) -> Option<(u64, u64)> {
        match &self.cpu {
            Some((Version::V1, dir)) => {
                // cpuacct.stat counts USER_HZ ticks, which Linux fixes at 100 per second.
                let text = fs::read_to_string(dir.join("cpuacct.stat")).ok()?;
                Some((keyed(&text, "user")? * 10, keyed(&text, "system")? * 10))
            }
            Some((Version::V2, dir)) => {
                let text = read_open(&self.open.cpu_stat, || dir.join("cpu.stat"))?;
                Some((keyed(&text, "user_usec")? / 1000, keyed(&text, "system_usec")? / 1000))
            }
            None => None,
        }
    }

    /// SIGKILL everything in the run's cgroups.
    pub fn kill_all(&self) {
        for dir in &self.dirs {
            if fs::write(dir.join("cgroup.kill"), "1").is_ok() {
                continue;
            }
            // v1 has no cgroup.kill: signal each task; the pid namespace's death does the rest.
            if let Ok(tasks) = fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in tasks.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
    }
}

fn remove_dir_patiently(dir: &Path) {
    // A memory cgroup whose last task has just been reaped can report EBUSY for a moment.
    for attempt in 0..50 {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(_) if attempt < 49 => std::thread::sleep(std::time::Duration::from_millis(2)),
            Err(_) => return,
        }
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        self.open = Knobs::default();
        self.kill_all();
        for dir in &self.dirs {
            remove_dir_patiently(dir);
        }
    }
}

/// Remove run cgroups left behind by supervisors that no longer exist (e.g. SIGKILLed ones).
/// Names are `run-<supervisor pid>-<nonce>`; a directory whose pid is dead and that holds no task
/// is removed. Errors are ignored: sweeping is best effort and never blocks a run.
pub fn sweep_stale(layout: &Layout) {
    let bases = [&layout.memory, &layout.pids, &layout.cpu];
    for (_, base) in bases.into_iter().flatten() {
        let Ok(entries) = fs::read_dir(base.join("stockade")) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("run-"))
                .and_then(|n| n.split('-').next())
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let alive = Path::new("/proc").join(pid.to_string()).exists();
            if !alive {
                let dir = entry.path();
                let empty = fs::read_to_string(dir.join("cgroup.procs"))
                    .map(|s| s.trim().is_empty())
                    .unwrap_or(false);
                if empty {
                    let _ = fs::remove_dir(&dir);
                }
            }
        }
    }
}

#[cfg(test)]
mod dynmods_tests {
    use super::*;

    fn cgroup(at: &str, options: &str) -> Mount {
        Mount {
            mount_point: PathBuf::from(at),
            fstype: "cgroup".into(),
            super_options: options.into(),
        }
    }

    #[test]
    fn an_existing_favordynmods_hierarchy_is_reused_and_the_opt_out_and_privilege_are_honoured() {
        let plain = [cgroup("/sys/fs/cgroup/memory", "rw,memory")];
        let favoured = [plain[0].clone(), cgroup("/x", "rw,favordynmods,name=y")];
        assert_eq!(
            dynmods_without_mounting(&favoured, true, false),
            Some(DynMods::Favoured(PathBuf::from("/x")))
        );
        assert!(matches!(
            dynmods_without_mounting(&plain, true, true),
            Some(DynMods::Waiting(w)) if w == "STOCKADE_FAVORDYNMODS=0"
        ));
        assert!(
            matches!(dynmods_without_mounting(&plain, false, false), Some(DynMods::Waiting(w)) if w.contains("root"))
        );
        assert_eq!(dynmods_without_mounting(&plain, false, true), None);
    }
}
