//! Landlock: the second filesystem layer, written from the same plan as the mounts, so that a
//! mount that is ever wrong still exposes nothing the plan did not name.

use std::io;

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, Scope, ABI,
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

fn to_io(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Restrict the calling process (before exec). `no_new_privs` must already be set.
pub(crate) fn restrict_self(plan: &LandlockPlan) -> io::Result<Enforcement> {
    let abi = ABI::V6;
    let read = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev;
    let status = Ruleset::default()
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
        .restrict_self()
        .map_err(to_io)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(Enforcement::Full),
        RulesetStatus::PartiallyEnforced => Ok(Enforcement::Partial),
        RulesetStatus::NotEnforced => Err(io::Error::other("the kernel did not enforce the Landlock ruleset")),
    }
}
