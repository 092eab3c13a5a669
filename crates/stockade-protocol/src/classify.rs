//! The one status classifier: what the supervisor observed → a [`Status`] and a reason.
//!
//! Cold runs, pool runs and session cells all end here. Every input is something the
//! supervisor saw from outside the run (a wait status it reaped, a deadline it enforced, a
//! cgroup counter it read) — except the two stderr markers, which only ever turn a non-zero
//! exit the run chose into a more precise limit status, never an `ok`.

use crate::result::{SetupFailure, Status};

/// Why the supervisor stopped the run, if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The wall-clock deadline passed.
    Timeout,
    /// The run's processes together used the CPU-time limit.
    CpuLimit,
    /// stdout or stderr passed the output limit.
    OutputLimit,
    /// The supervisor was told to stop (signal number it received, or a caller's cancel).
    Signal(i32),
    /// The jail serving the run died or stopped answering.
    JailLost(String),
}

/// How the run's main process ended, as reaped by its parent outside the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
    /// Not known: the jail died before reporting (the signal that killed the jail, if any).
    Unknown(Option<i32>),
}

/// The limits, for reasons in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitValues {
    /// Wall-clock limit in ms.
    pub wall_ms: u64,
    /// CPU limit in ms.
    pub cpu_ms: u64,
    /// Memory limit in bytes.
    pub memory: u64,
    /// Processes.
    pub processes: u32,
    /// File size in bytes.
    pub file_size: u64,
    /// Output bytes per stream.
    pub output: u64,
}

/// Everything the classifier looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The jail (or the guard, before the code started) failed to set up.
    pub setup_failure: Option<SetupFailure>,
    /// The supervisor stopped the run.
    pub stop: Option<Stop>,
    /// How the run's main process ended.
    pub exit: Exit,
    /// CPU time of all the run's processes, in ms.
    pub cpu_ms: u64,
    /// OOM kills in the run's memory cgroup during the run.
    pub oom_kills: u64,
    /// Fork/clone failures at the pids cgroup limit during the run.
    pub pids_limit_hits: u64,
    /// Memory is limited by a cgroup (else by `RLIMIT_AS`, whose hit is a `MemoryError`).
    pub memory_by_cgroup: bool,
    /// The run's stderr shows an uncaught `OSError: [Errno 27] File too large`.
    pub stderr_file_too_large: bool,
    /// The run's stderr has a line starting with `MemoryError`.
    pub stderr_memory_error: bool,
    /// The limits, for the reason text.
    pub limits: LimitValues,
}

/// The classifier's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// Status.
    pub status: Status,
    /// Why, in words (None for plain ok/error).
    pub reason: Option<String>,
    /// The exit code reported.
    pub exit_code: Option<i32>,
    /// The signal reported.
    pub signal: Option<i32>,
}

const SIGKILL: i32 = 9;
const SIGXCPU: i32 = 24;
const SIGXFSZ: i32 = 25;

/// Classify one run. Pure: same observation, same answer.
#[must_use]
pub fn classify(o: &Observation) -> Classified {
    let (mut exit_code, mut signal) = match o.exit {
        Exit::Code(c) => (Some(c), None),
        Exit::Signal(s) => (None, Some(s)),
        Exit::Unknown(s) => (None, s),
    };
    let l = &o.limits;
    let done = |status, reason: Option<String>, exit_code, signal| Classified {
        status,
        reason,
        exit_code,
        signal,
    };
    if o.setup_failure.is_some() {
        return done(Status::SetupFailed, None, exit_code, signal);
    }
    if let Some(stop) = &o.stop {
        if matches!(o.exit, Exit::Unknown(_)) {
            // The main process died with the jail, by the SIGKILL the supervisor sent.
            signal = Some(SIGKILL);
        }
        let (status, reason) = match stop {
            Stop::Timeout => (Status::Timeout, format!("wall-clock limit of {} ms reached", l.wall_ms)),
            Stop::CpuLimit => (
                Status::CpuLimit,
                format!("CPU-time limit of {} ms reached (all processes of the run)", l.cpu_ms),
            ),
            Stop::OutputLimit => (
                Status::OutputLimit,
                format!("output limit of {} bytes per stream exceeded", l.output),
            ),
            Stop::Signal(s) => (Status::Killed, format!("stockade received signal {s}")),
            Stop::JailLost(why) => (Status::Killed, why.clone()),
        };
        return done(status, Some(reason), exit_code, signal);
    }
    let failed = exit_code != Some(0);
    let (status, reason) = if let Exit::Unknown(_) = o.exit {
        // The jail died without reporting its interpreter: killed from outside.
        exit_code = None;
        (Status::Killed, None)
    } else if signal == Some(SIGXCPU) || (signal == Some(SIGKILL) && o.cpu_ms + 50 >= l.cpu_ms) {
        (
            Status::CpuLimit,
            Some(format!("CPU-time limit of {} ms reached", l.cpu_ms)),
        )
    } else if signal == Some(SIGXFSZ) {
        (
            Status::FileLimit,
            Some(format!("file-size limit of {} bytes reached", l.file_size)),
        )
    } else if o.oom_kills > 0 && failed {
        (
            Status::MemoryLimit,
            Some(format!("memory limit of {} bytes reached (OOM kill)", l.memory)),
        )
    } else if o.pids_limit_hits > 0 && failed {
        (
            Status::PidsLimit,
            Some(format!("process/thread limit of {} reached", l.processes)),
        )
    } else if exit_code.is_some_and(|c| c != 0) && o.stderr_file_too_large {
        (
            Status::FileLimit,
            Some(format!("file-size limit of {} bytes reached (EFBIG)", l.file_size)),
        )
    } else if exit_code.is_some_and(|c| c != 0) && !o.memory_by_cgroup && o.stderr_memory_error {
        (
            Status::MemoryLimit,
            Some(format!("memory limit of {} bytes reached (RLIMIT_AS)", l.memory)),
        )
    } else if exit_code == Some(0) {
        (Status::Ok, None)
    } else if exit_code.is_some() {
        (Status::Error, None)
    } else {
        (Status::Killed, None)
    };
    done(status, reason, exit_code, signal)
}

/// The stderr markers the classifier reads, found in (the tail of) a run's stderr.
#[must_use]
pub fn stderr_markers(stderr: &str) -> (bool, bool) {
    (
        stderr.contains("[Errno 27] File too large"),
        stderr.lines().any(|l| l.starts_with("MemoryError")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Observation {
        Observation {
            setup_failure: None,
            stop: None,
            exit: Exit::Code(0),
            cpu_ms: 10,
            oom_kills: 0,
            pids_limit_hits: 0,
            memory_by_cgroup: true,
            stderr_file_too_large: false,
            stderr_memory_error: false,
            limits: LimitValues {
                wall_ms: 10_000,
                cpu_ms: 2_000,
                memory: 1 << 28,
                processes: 64,
                file_size: 1 << 20,
                output: 1 << 20,
            },
        }
    }

    #[test]
    fn table() {
        type Tweak = fn(&mut Observation);
        type Case = (&'static str, Tweak, Status, Option<i32>, Option<i32>);
        let cases: &[Case] = &[
            ("exit 0", |_| {}, Status::Ok, Some(0), None),
            ("exit 3", |o| o.exit = Exit::Code(3), Status::Error, Some(3), None),
            (
                "setup failure wins",
                |o| {
                    o.setup_failure = Some(SetupFailure {
                        step: "mount".into(),
                        message: "x".into(),
                    });
                    o.stop = Some(Stop::Timeout);
                },
                Status::SetupFailed,
                Some(0),
                None,
            ),
            (
                "timeout, main process died with the jail",
                |o| {
                    o.stop = Some(Stop::Timeout);
                    o.exit = Exit::Unknown(None);
                },
                Status::Timeout,
                None,
                Some(9),
            ),
            (
                "timeout beats a clean exit that raced it",
                |o| o.stop = Some(Stop::Timeout),
                Status::Timeout,
                Some(0),
                None,
            ),
            (
                "cpu stop",
                |o| {
                    o.stop = Some(Stop::CpuLimit);
                    o.exit = Exit::Signal(9);
                },
                Status::CpuLimit,
                None,
                Some(9),
            ),
            (
                "output stop",
                |o| o.stop = Some(Stop::OutputLimit),
                Status::OutputLimit,
                Some(0),
                None,
            ),
            (
                "caller's signal",
                |o| o.stop = Some(Stop::Signal(15)),
                Status::Killed,
                Some(0),
                None,
            ),
            (
                "jail lost",
                |o| {
                    o.stop = Some(Stop::JailLost("gone".into()));
                    o.exit = Exit::Unknown(Some(9));
                },
                Status::Killed,
                None,
                Some(9),
            ),
            (
                "unknown exit, no stop",
                |o| o.exit = Exit::Unknown(Some(9)),
                Status::Killed,
                None,
                Some(9),
            ),
            (
                "SIGXCPU",
                |o| o.exit = Exit::Signal(24),
                Status::CpuLimit,
                None,
                Some(24),
            ),
            (
                "SIGKILL at the rlimit's hard limit",
                |o| {
                    o.exit = Exit::Signal(9);
                    o.cpu_ms = 1_990;
                },
                Status::CpuLimit,
                None,
                Some(9),
            ),
            (
                "SIGKILL well under the CPU limit",
                |o| o.exit = Exit::Signal(9),
                Status::Killed,
                None,
                Some(9),
            ),
            (
                "SIGXFSZ",
                |o| o.exit = Exit::Signal(25),
                Status::FileLimit,
                None,
                Some(25),
            ),
            (
                "OOM and failed",
                |o| {
                    o.oom_kills = 1;
                    o.exit = Exit::Signal(9);
                },
                Status::MemoryLimit,
                None,
                Some(9),
            ),
            (
                "OOM of a child, but the run exited 0",
                |o| o.oom_kills = 1,
                Status::Ok,
                Some(0),
                None,
            ),
            (
                "pids hit and failed",
                |o| {
                    o.pids_limit_hits = 2;
                    o.exit = Exit::Code(1);
                },
                Status::PidsLimit,
                Some(1),
                None,
            ),
            (
                "EFBIG in stderr",
                |o| {
                    o.stderr_file_too_large = true;
                    o.exit = Exit::Code(1);
                },
                Status::FileLimit,
                Some(1),
                None,
            ),
            (
                "EFBIG text but exit 0 is ok",
                |o| o.stderr_file_too_large = true,
                Status::Ok,
                Some(0),
                None,
            ),
            (
                "MemoryError under RLIMIT_AS",
                |o| {
                    o.memory_by_cgroup = false;
                    o.stderr_memory_error = true;
                    o.exit = Exit::Code(1);
                },
                Status::MemoryLimit,
                Some(1),
                None,
            ),
            (
                "MemoryError with a memory cgroup is the code's own error",
                |o| {
                    o.stderr_memory_error = true;
                    o.exit = Exit::Code(1);
                },
                Status::Error,
                Some(1),
                None,
            ),
            (
                "another signal",
                |o| o.exit = Exit::Signal(11),
                Status::Killed,
                None,
                Some(11),
            ),
        ];
        for (name, tweak, status, exit_code, signal) in cases {
            let mut o = base();
            tweak(&mut o);
            let c = classify(&o);
            assert_eq!(c.status, *status, "{name}");
            assert_eq!((c.exit_code, c.signal), (*exit_code, *signal), "{name}");
            assert_eq!(
                c.reason.is_some(),
                !matches!(
                    c.status,
                    Status::Ok | Status::Error | Status::Killed | Status::SetupFailed
                ) || matches!(o.stop, Some(Stop::Signal(_) | Stop::JailLost(_))),
                "{name}: reason {:?}",
                c.reason
            );
        }
    }

    #[test]
    fn markers() {
        assert_eq!(
            stderr_markers("Traceback...\nOSError: [Errno 27] File too large\n"),
            (true, false)
        );
        assert_eq!(stderr_markers("x\nMemoryError\n"), (false, true));
        assert_eq!(stderr_markers("no MemoryError here"), (false, false));
    }
}
