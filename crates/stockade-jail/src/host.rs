//! What this host can do, checked before any side effect (and printed by `stockade doctor`).

use std::fs;

use serde::Serialize;
use stockade_cgroup::{Layout, Version};

/// The kernel features stockade relies on, as found on this host.
#[derive(Debug, Clone, Serialize)]
pub struct HostSupport {
    /// Effective uid of the caller.
    pub euid: u32,
    /// Effective gid of the caller.
    pub egid: u32,
    /// User namespaces can be created by this caller (`Err` says why not).
    pub user_namespaces: Result<(), String>,
    /// Landlock ABI version, if Landlock is enabled.
    pub landlock_abi: Option<i32>,
    /// Seccomp filters are supported.
    pub seccomp: bool,
    /// Memory-limit mechanism stockade would use.
    pub memory_mechanism: &'static str,
    /// Process-limit mechanism stockade would use.
    pub pids_mechanism: &'static str,
    /// CPU accounting mechanism.
    pub cpu_mechanism: &'static str,
    /// Notes on missing cgroup controllers.
    pub cgroup_notes: Vec<String>,
    #[serde(skip)]
    pub(crate) cgroups: Layout,
}

impl HostSupport {
    /// A host with every layer and no cgroups, for plan snapshot tests.
    #[must_use]
    pub fn fixed_for_tests(euid: u32) -> HostSupport {
        HostSupport {
            euid,
            egid: euid,
            user_namespaces: Ok(()),
            landlock_abi: Some(6),
            seccomp: true,
            memory_mechanism: "rlimit-as",
            pids_mechanism: "rlimit-nproc",
            cpu_mechanism: "rlimit-cpu",
            cgroup_notes: Vec::new(),
            cgroups: Layout::default(),
        }
    }
}

fn read_trim(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn mechanism(
    slot: &Option<(Version, std::path::PathBuf)>,
    v1: &'static str,
    v2: &'static str,
    none: &'static str,
) -> &'static str {
    match slot {
        Some((Version::V1, _)) => v1,
        Some((Version::V2, _)) => v2,
        None => none,
    }
}

impl HostSupport {
    /// Probe the host. Cheap: a few small file reads and one Landlock syscall.
    #[must_use]
    pub fn probe() -> HostSupport {
        let euid = nix::unistd::geteuid().as_raw();
        let user_namespaces = if read_trim("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
            Err("user.max_user_namespaces is 0".to_string())
        } else if euid != 0 && read_trim("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
            Err("kernel.unprivileged_userns_clone is 0 (unprivileged user namespaces are disabled)".to_string())
        } else if euid != 0
            && read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
        {
            Err(
                "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)"
                    .to_string(),
            )
        } else {
            Ok(())
        };
        let cgroups = Layout::detect();
        // Operators (and the fail-closed tests) can make stockade treat a layer as unavailable.
        let disabled = std::env::var("STOCKADE_DISABLE_LAYERS").unwrap_or_default();
        let disabled = |name: &str| disabled.split(',').any(|d| d.trim() == name);
        HostSupport {
            euid,
            egid: nix::unistd::getegid().as_raw(),
            user_namespaces,
            landlock_abi: stockade_sys::landlock_abi().filter(|_| !disabled("landlock")),
            seccomp: stockade_sys::seccomp_supported() && !disabled("seccomp"),
            memory_mechanism: mechanism(&cgroups.memory, "cgroup-v1 memory", "cgroup-v2 memory.max", "rlimit-as"),
            pids_mechanism: mechanism(&cgroups.pids, "cgroup-v1 pids", "cgroup-v2 pids.max", "rlimit-nproc"),
            cpu_mechanism: mechanism(
                &cgroups.cpu,
                "rlimit-cpu + cgroup-v1 cpuacct",
                "rlimit-cpu + cgroup-v2 cpu.stat",
                "rlimit-cpu",
            ),
            cgroup_notes: cgroups.notes.clone(),
            cgroups,
        }
    }
}
