//! Errors of the jail: which setup step failed, and why.

use std::fmt;
use std::io;

/// One step of setting up or entering the jail. Every setup failure names its step, both in the
/// parent (host side) and in the jail child, which reports it back over the error pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Step {
    /// Checking the interpreter and what the root needs.
    Interpreter,
    /// Creating the run's cgroups.
    Cgroup,
    /// Creating pipes.
    Pipes,
    /// clone(2) into new namespaces.
    Clone,
    /// Writing uid_map / gid_map.
    IdMaps,
    /// Moving the jail into its cgroups.
    JoinCgroup,
    /// Waiting for the supervisor's go-ahead.
    WaitForIdMaps,
    /// unshare(CLONE_NEWCGROUP) after joining the run cgroup.
    CgroupNamespace,
    /// Clearing supplementary groups.
    Groups,
    /// Building the tmpfs root with its read-only binds.
    BuildRoot,
    /// pivot_root into the new root and detaching the old one.
    PivotRoot,
    /// Setting the hostname.
    Hostname,
    /// Bringing loopback up.
    Loopback,
    /// Applying rlimits.
    Rlimits,
    /// setsid(2).
    Session,
    /// Arranging and closing file descriptors.
    CloseFds,
    /// Switching to the unprivileged jail uid/gid.
    DropPrivileges,
    /// Dropping every capability.
    DropCapabilities,
    /// Forking the interpreter from the jail's init.
    Fork,
    /// PR_SET_NO_NEW_PRIVS.
    NoNewPrivs,
    /// landlock_restrict_self.
    Landlock,
    /// Loading the seccomp filter.
    Seccomp,
    /// execve of the interpreter.
    Exec,
    /// Supervising the run.
    Supervise,
}

impl Step {
    /// Stable kebab-case name (as in the JSON result and messages).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Step::Interpreter => "interpreter",
            Step::Cgroup => "cgroup",
            Step::Pipes => "pipes",
            Step::Clone => "clone",
            Step::IdMaps => "id-maps",
            Step::JoinCgroup => "join-cgroup",
            Step::WaitForIdMaps => "wait-for-id-maps",
            Step::CgroupNamespace => "cgroup-namespace",
            Step::Groups => "groups",
            Step::BuildRoot => "build-root",
            Step::PivotRoot => "pivot-root",
            Step::Hostname => "hostname",
            Step::Loopback => "loopback",
            Step::Rlimits => "rlimits",
            Step::Session => "session",
            Step::CloseFds => "close-fds",
            Step::DropPrivileges => "drop-privileges",
            Step::DropCapabilities => "drop-capabilities",
            Step::Fork => "fork",
            Step::NoNewPrivs => "no-new-privs",
            Step::Landlock => "landlock",
            Step::Seccomp => "seccomp",
            Step::Exec => "exec",
            Step::Supervise => "supervise",
        }
    }

    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_code(code: u8) -> Option<Step> {
        ALL_STEPS.iter().copied().find(|s| s.code() == code)
    }
}

const ALL_STEPS: &[Step] = &[
    Step::Interpreter,
    Step::Cgroup,
    Step::Pipes,
    Step::Clone,
    Step::IdMaps,
    Step::JoinCgroup,
    Step::WaitForIdMaps,
    Step::CgroupNamespace,
    Step::Groups,
    Step::BuildRoot,
    Step::PivotRoot,
    Step::Hostname,
    Step::Loopback,
    Step::Rlimits,
    Step::Session,
    Step::CloseFds,
    Step::DropPrivileges,
    Step::DropCapabilities,
    Step::Fork,
    Step::NoNewPrivs,
    Step::Landlock,
    Step::Seccomp,
    Step::Exec,
    Step::Supervise,
];

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure while building or entering the jail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A step failed with an OS error.
    #[error("sandbox setup failed at {step}: {detail}")]
    Step {
        /// The step.
        step: Step,
        /// What was being done, without host paths that the caller did not give.
        detail: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The interpreter could not be found or inspected.
    #[error(transparent)]
    Interpreter(#[from] crate::interpreter::InterpreterError),
    /// A layer the policy requires cannot be applied on this host.
    #[error(
        "refusing to run: {layer} is not available on this host ({reason}); pass --allow-degraded to run without it"
    )]
    LayerMissing {
        /// Layer name.
        layer: String,
        /// Why.
        reason: String,
    },
    /// The run was asked for something invalid (e.g. a script that cannot be read).
    #[error("{0}")]
    Request(String),
}

impl SetupError {
    /// The step at which this failure happened.
    #[must_use]
    pub fn step(&self) -> Step {
        match self {
            SetupError::Step { step, .. } => *step,
            SetupError::Interpreter(_) | SetupError::Request(_) => Step::Interpreter,
            SetupError::LayerMissing { .. } => Step::Interpreter,
        }
    }
}

/// Attach a step to an `io::Result`.
pub(crate) trait AtStep<T> {
    fn at(self, step: Step, detail: &str) -> Result<T, SetupError>;
}

impl<T, E: Into<io::Error>> AtStep<T> for Result<T, E> {
    fn at(self, step: Step, detail: &str) -> Result<T, SetupError> {
        self.map_err(|e| SetupError::Step {
            step,
            detail: detail.to_string(),
            source: e.into(),
        })
    }
}
