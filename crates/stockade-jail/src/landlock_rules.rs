//! Landlock: the second filesystem layer, written from the same plan as the mounts, so that a
//! mount that is ever wrong still exposes nothing the plan did not name.

use std::io;

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use crate::plan::LandlockPlan;

/// How well the kernel enforced the ruleset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// Every requested right is enforced.
    Full,
    /// The kernel's ABI is older: some rights (e.g. TCP, scoping) are not enforced.
    Partial,
}

impl Enforcement {
    /// For the isolation report: what the kernel enforced, with its ABI.
    #[must_use]
    pub fn describe(self) -> String {
        let abi = stockade_sys::landlock_abi().unwrap_or(0);
        match self {
            Enforcement::Full => format!(
                "ruleset matching the mount view, fully enforced (kernel ABI {abi}: files, TCP, abstract unix sockets and signals scoped)"
            ),
            Enforcement::Partial => format!(
                "ruleset matching the mount view, partially enforced (kernel ABI {abi} lacks some of the requested rights)"
            ),
        }
    }
}

fn to_io(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Restrict the calling process (before exec). `no_new_privs` must already be set.
pub(crate) fn restrict_self(plan: &LandlockPlan) -> io::Result<Enforcement> {
    restrict(prepare(plan)?)
}

/// The ruleset with every rule added, not yet enforced: a jail built ahead prepares it (a few
/// system calls per path) before its program arrives and only [`restrict`]s after.
pub(crate) fn prepare(plan: &LandlockPlan) -> io::Result<RulesetCreated> {
    let abi = ABI::V6;
    let read = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev;
    Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(to_io)?
        .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
        .map_err(to_io)?
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(to_io)?
        .create()
        .map_err(to_io)?
        .add_rules(path_beneath_rules(["/"], AccessFs::ReadDir))
        .map_err(to_io)?
        .add_rules(path_beneath_rules(&plan.read_only, read))
        .map_err(to_io)?
        .add_rules(path_beneath_rules(&plan.pseudo, AccessFs::ReadFile | AccessFs::ReadDir))
        .map_err(to_io)?
        .add_rules(path_beneath_rules(&plan.devices, device))
        .map_err(to_io)?
        .add_rules(path_beneath_rules(
            &plan.read_write,
            all & !(AccessFs::MakeChar | AccessFs::MakeBlock | AccessFs::Execute),
        ))
        .map_err(to_io)?
        .add_rules(
            plan.connect_ports
                .iter()
                .map(|&port| Ok::<_, landlock::RulesetError>(NetPort::new(port, AccessNet::ConnectTcp))),
        )
        .map_err(to_io)
}

/// Enforce a prepared ruleset on the calling process.
pub(crate) fn restrict(ruleset: RulesetCreated) -> io::Result<Enforcement> {
    let status = ruleset.restrict_self().map_err(to_io)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(Enforcement::Full),
        RulesetStatus::PartiallyEnforced => Ok(Enforcement::Partial),
        RulesetStatus::NotEnforced => Err(io::Error::other("the kernel did not enforce the Landlock ruleset")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;

    use super::*;

    const CHILD_ENV: &str = "STOCKADE_LANDLOCK_TEST_CHILD";

    /// Landlock is the second layer "if a mount is ever wrong": with host paths visible (no mount
    /// namespace at all here), the ruleset alone must still refuse everything the plan does not
    /// name. Runs in a re-executed copy of this test binary, so the test runner is never
    /// restricted.
    #[test]
    fn landlock_alone_denies_paths_the_plan_does_not_name() {
        if let Ok(dirs) = std::env::var(CHILD_ENV) {
            let (allowed, other) = dirs.split_once(':').unwrap();
            let (allowed, other) = (PathBuf::from(allowed), PathBuf::from(other));
            nix::sys::prctl::set_no_new_privs().unwrap();
            let plan = LandlockPlan {
                read_only: vec![allowed.clone()],
                ..LandlockPlan::default()
            };
            restrict_self(&plan).unwrap();
            let read_allowed = std::fs::read_to_string(allowed.join("f")).is_ok();
            let read_other = std::fs::read_to_string(other.join("f")).map_err(|e| e.raw_os_error());
            let write_allowed = std::fs::write(allowed.join("g"), "x").map_err(|e| e.raw_os_error());
            let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.raw_os_error());
            // TCP is handled with no rule: connecting even to loopback is refused.
            let port: u16 = std::env::var("STOCKADE_LANDLOCK_TEST_PORT").unwrap().parse().unwrap();
            let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.raw_os_error());
            println!("TCP {:?}", tcp.map(|_| ()));
            println!(
                "RESULT {read_allowed} {read_other:?} {write_allowed:?} {:?}",
                passwd.map(|_| ())
            );
            return;
        }
        let allowed = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        std::fs::write(allowed.path().join("f"), "a").unwrap();
        std::fs::write(other.path().join("f"), "b").unwrap();
        // Control: without Landlock the other file and /etc/passwd are readable.
        assert!(std::fs::read_to_string(other.path().join("f")).is_ok());
        assert!(std::fs::read_to_string("/etc/passwd").is_ok());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Control: without Landlock the connection is made.
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "landlock_rules::tests::landlock_alone_denies_paths_the_plan_does_not_name",
                "--nocapture",
            ])
            .env(
                CHILD_ENV,
                format!("{}:{}", allowed.path().display(), other.path().display()),
            )
            .env("STOCKADE_LANDLOCK_TEST_PORT", port.to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("RESULT true Err(Some(13)) Err(Some(13)) Err(Some(13))"),
            "{text}"
        );
    }
}
