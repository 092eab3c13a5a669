//! The seccomp-bpf filter, the last layer applied before `execve`.
//!
//! The filter is a deny list on top of default-allow: CPython, numpy, threads and asyncio
//! must keep working unchanged, and the namespaces and Landlock are the primary boundary.
//! The filter only removes kernel attack surface that Python never needs (debugging other
//! processes, mounting, namespaces, BPF, keyrings, io_uring, module loading, ...) and the
//! few argument patterns that would let the sandbox undo the namespaces (`clone` with a
//! `CLONE_NEW*` flag) or escape its terminal (`TIOCSTI`).
//!
//! [`compile`] runs in the parent, where allocating is fine, and returns a plain
//! [`BpfProgram`]; [`install`] runs in the forked child right before `execve` and does not
//! allocate. `docs/seccomp.md` describes every rule; [`dump`] prints the compiled program.
//!
//! # Program layout
//!
//! seccompiler gives every [`SeccompFilter`] a single match action, but the rules here need
//! three (`EPERM`, `EAFNOSUPPORT` for sockets, `ENOSYS` for `clone3`). So each action group
//! is compiled on its own and the bodies are spliced together:
//!
//! ```text
//! ld arch; jeq AUDIT_ARCH; ret KILL_PROCESS     architecture check (seccompiler's own)
//! ld nr; jset 0x40000000; ret KILL_PROCESS      x86_64 only: the x32 ABI
//! <EPERM group body>                            each body: ld nr; one block per syscall
//! <EAFNOSUPPORT group body>
//! <ENOSYS group body>
//! ret ALLOW
//! ```
//!
//! Each body is seccompiler's output without its leading architecture check and without
//! its trailing `ret ALLOW`. A syscall that is in none of a group's blocks jumps to that
//! trailing instruction, which after splicing is the first instruction of the next group,
//! so the groups chain. A syscall whose block matches but whose argument conditions do not
//! returns `ALLOW` from inside its block, which is correct because no syscall appears in
//! two groups (checked by [`compile`]). [`compile`] verifies the layout it relies on and
//! checks every jump target, so a change in seccompiler's code generation fails loudly.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::sync::OnceLock;

use seccompiler::{
    sock_filter, BackendError, BpfProgram, BpfProgramRef, SeccompAction, SeccompCmpArgLen, SeccompCmpOp,
    SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// What the filter allows beyond the fixed deny list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeccompOptions {
    /// Allow `AF_INET` `SOCK_STREAM` sockets (TCP over IPv4): what code needs to reach the
    /// egress proxy on 127.0.0.1:3128 (`network.mode = "proxy"`). Other IPv4 socket types,
    /// IPv6 and every other family stay refused; `AF_UNIX` is always allowed.
    pub allow_tcp4: bool,
    /// The base filter of a warm pool's jail, whose zygote gives every run its own pid, mount
    /// and IPC namespaces (docs/engine.md): `unshare` with `CLONE_NEWNS`, `CLONE_NEWIPC`,
    /// `CLONE_NEWPID` or `CLONE_NEWNET`, `setns` into a pid namespace, and `mount` are allowed
    /// here. Each run installs [`compile_run_lockdown`] on top before any of its code runs, so
    /// no run can use them.
    pub zygote: bool,
}

/// Errors from compiling or installing the filter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// seccompiler rejected one of the rule groups.
    #[error("failed to compile the seccomp filter")]
    Compile(#[source] BackendError),
    /// The spliced program broke an invariant this module relies on (see the module docs).
    #[error("compiled seccomp filter is malformed: {reason}")]
    Malformed {
        /// Which invariant failed.
        reason: &'static str,
    },
    /// The program is longer than the kernel accepts.
    #[error("seccomp filter has {len} instructions, more than the kernel limit of {max}")]
    TooLong {
        /// Number of instructions in the program.
        len: usize,
        /// The kernel limit (`BPF_MAXINSNS`).
        max: usize,
    },
    /// [`install`] was given an empty program.
    #[error("refusing to install an empty seccomp filter")]
    Empty,
    /// `prctl(PR_SET_NO_NEW_PRIVS)` failed.
    #[error("failed to set no_new_privs before installing the seccomp filter")]
    NoNewPrivs(#[source] io::Error),
    /// The `seccomp(SECCOMP_SET_MODE_FILTER)` call failed.
    #[error("failed to install the seccomp filter")]
    Install(#[source] io::Error),
}

impl SeccompError {
    /// The errno behind an install failure, for the child's `(Step, errno)` report.
    ///
    /// Does not allocate, so it can be used between `fork` and `execve`.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::NoNewPrivs(e) | Self::Install(e) => e.raw_os_error(),
            Self::Empty | Self::TooLong { .. } => Some(libc::EINVAL),
            Self::Compile(_) | Self::Malformed { .. } => None,
        }
    }
}

impl From<BackendError> for SeccompError {
    fn from(source: BackendError) -> Self {
        Self::Compile(source)
    }
}

// ===== Syscall tables =====

/// Syscalls denied with `EPERM` whatever their arguments, on every architecture.
/// `docs/seccomp.md` says why Python never needs each one; a unit test keeps the two in sync.
const ALWAYS_DENIED: &[(&str, i64)] = &[
    // Reaching into other processes.
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("process_madvise", libc::SYS_process_madvise),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("kcmp", libc::SYS_kcmp),
    // Mounts and the root directory.
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("open_tree_attr", SYS_OPEN_TREE_ATTR),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    // Namespaces.
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    // Large kernel attack surface.
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("fanotify_init", libc::SYS_fanotify_init),
    // Kernel keyrings.
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    // File handles bypass path-based checks.
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    // Whole-system administration.
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("quotactl", libc::SYS_quotactl),
    ("quotactl_fd", libc::SYS_quotactl_fd),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    ("syslog", libc::SYS_syslog),
    ("vhangup", libc::SYS_vhangup),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("sethostname", libc::SYS_sethostname),
    ("setdomainname", libc::SYS_setdomainname),
];

/// What the zygote's base filter lets through (see [`SeccompOptions::zygote`]), and a run's
/// lockdown filter takes away again.
const ZYGOTE_ONLY: &[(&str, i64)] = &[
    ("mount", libc::SYS_mount),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
];

/// `unshare` flags the zygote's base filter still refuses (the run namespaces need none of
/// them; a user namespace would bring back capabilities).
const ZYGOTE_UNSHARE_DENIED: &[(&str, i32)] = &[
    ("CLONE_NEWUSER", libc::CLONE_NEWUSER),
    ("CLONE_NEWUTS", libc::CLONE_NEWUTS),
    ("CLONE_NEWCGROUP", libc::CLONE_NEWCGROUP),
    ("CLONE_NEWTIME", 0x80),
];

/// Syscalls that start a process or replace the image. [`compile_no_processes`] refuses them
/// (and `clone` without `CLONE_THREAD`) when the policy denies processes: the guard installs it
/// once the interpreter is up, so the kernel refuses what the guard would (a re-exec without
/// the guard's preload, a script in a memfd) even when no audit event is raised.
const PROCESS_SYSCALLS: &[(&str, i64)] = &[
    ("execve", libc::SYS_execve),
    ("execveat", libc::SYS_execveat),
    #[cfg(target_arch = "x86_64")]
    ("fork", libc::SYS_fork),
    #[cfg(target_arch = "x86_64")]
    ("vfork", libc::SYS_vfork),
];

/// What the jail's init (pid 1, a few lines of Rust that reap and report) may call; everything
/// else fails with `EPERM`.
const INIT_ALLOWED: &[(&str, i64)] = &[
    ("wait4", libc::SYS_wait4),
    ("waitid", libc::SYS_waitid),
    ("write", libc::SYS_write),
    ("close", libc::SYS_close),
    ("exit", libc::SYS_exit),
    ("exit_group", libc::SYS_exit_group),
    ("rt_sigreturn", libc::SYS_rt_sigreturn),
    ("rt_sigprocmask", libc::SYS_rt_sigprocmask),
    ("restart_syscall", libc::SYS_restart_syscall),
    ("munmap", libc::SYS_munmap),
    ("sigaltstack", libc::SYS_sigaltstack),
];

/// `open_tree_attr(2)` (Linux 6.15). Not in `libc` yet; the number is the same on every
/// architecture because it comes after the unified syscall table (424 and up).
const SYS_OPEN_TREE_ATTR: i64 = 467;

/// Architecture-specific syscalls denied with `EPERM` whatever their arguments.
#[cfg(target_arch = "x86_64")]
const ARCH_DENIED: &[(&str, i64)] = &[
    ("iopl", libc::SYS_iopl),
    ("ioperm", libc::SYS_ioperm),
    ("modify_ldt", libc::SYS_modify_ldt),
    ("uselib", libc::SYS_uselib),
];
#[cfg(not(target_arch = "x86_64"))]
const ARCH_DENIED: &[(&str, i64)] = &[];

/// `CLONE_NEW*` flags that `clone(2)` may not carry. `CLONE_NEWTIME` (0x80) is missing on
/// purpose: `clone(2)` reads bits 0..8 of its flags as the exit signal (`CSIGNAL`), so
/// testing 0x80 there would deny ordinary forks, and the kernel never reads it as
/// `CLONE_NEWTIME` there anyway. A time namespace needs `unshare` or `clone3`, both denied.
const CLONE_NAMESPACE_FLAGS: &[(&str, i32)] = &[
    ("CLONE_NEWNS", libc::CLONE_NEWNS),
    ("CLONE_NEWCGROUP", libc::CLONE_NEWCGROUP),
    ("CLONE_NEWUTS", libc::CLONE_NEWUTS),
    ("CLONE_NEWIPC", libc::CLONE_NEWIPC),
    ("CLONE_NEWUSER", libc::CLONE_NEWUSER),
    ("CLONE_NEWPID", libc::CLONE_NEWPID),
    ("CLONE_NEWNET", libc::CLONE_NEWNET),
];

/// `ioctl` requests denied with `EPERM`: pushing input into the terminal's queue
/// (`TIOCSTI`) and the Linux console multiplexer (`TIOCLINUX`, which can also select and
/// paste text).
const DENIED_IOCTLS: &[(&str, u64)] = &[("TIOCSTI", libc::TIOCSTI), ("TIOCLINUX", libc::TIOCLINUX)];

/// `personality(2)` values still allowed: `PER_LINUX` (0) and the query `0xffffffff`.
const ALLOWED_PERSONAS: &[u64] = &[0, 0xffff_ffff];

/// Names of the syscalls the filter denies whatever their arguments, for docs and reports.
///
/// All of them fail with `EPERM` except `clone3`, which fails with `ENOSYS`. Syscalls that
/// are denied only for some arguments (`clone`, `socket`, `socketpair`, `ioctl`,
/// `personality`) are not listed.
pub fn denied_syscalls() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        ALWAYS_DENIED
            .iter()
            .chain(ARCH_DENIED)
            .map(|&(name, _)| name)
            .chain(["clone3"])
            .collect()
    })
}

/// Names of the syscalls the zygote's base filter allows and a run's lockdown takes away.
pub fn zygote_only_syscalls() -> impl Iterator<Item = &'static str> {
    ZYGOTE_ONLY.iter().map(|&(name, _)| name)
}

/// Names of the syscalls [`compile_no_processes`] refuses outright.
pub fn process_syscalls() -> impl Iterator<Item = &'static str> {
    PROCESS_SYSCALLS.iter().map(|&(name, _)| name)
}

// ===== Compiling =====

#[cfg(target_arch = "x86_64")]
const TARGET: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const TARGET: TargetArch = TargetArch::aarch64;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
#[cfg(target_arch = "riscv64")]
const TARGET: TargetArch = TargetArch::riscv64;
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH: u32 = 0xc000_00f3; // AUDIT_ARCH_RISCV64

/// `__X32_SYSCALL_BIT`: on x86_64 the x32 ABI shares `AUDIT_ARCH_X86_64` and is told apart
/// only by this bit in the syscall number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Classic BPF opcodes (linux/bpf_common.h) used by this module and by seccompiler.
const LD_W_ABS: u16 = 0x20;
const ALU_AND_K: u16 = 0x54;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JGE_K: u16 = 0x35;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

// Offsets into `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARGS: u32 = 16;

const MAX_INSNS: usize = 4096; // BPF_MAXINSNS

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The architecture check seccompiler puts at the start of every program; ours keeps it.
fn arch_check() -> [sock_filter; 3] {
    [
        stmt(LD_W_ABS, DATA_ARCH),
        jump(JMP_JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
    ]
}

/// Kill any x32 syscall. It must come right after the architecture check: the deny list
/// below compares plain x86_64 numbers, and `ptrace | X32_SYSCALL_BIT` would not match
/// them. Every other high bit is harmless: the kernel answers `ENOSYS` for numbers that
/// are neither x86_64 nor x32 syscalls.
#[cfg(target_arch = "x86_64")]
fn abi_check() -> Vec<sock_filter> {
    vec![
        stmt(LD_W_ABS, DATA_NR),
        jump(JMP_JSET_K, X32_SYSCALL_BIT, 0, 1),
        stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
    ]
}

#[cfg(not(target_arch = "x86_64"))]
fn abi_check() -> Vec<sock_filter> {
    Vec::new()
}

/// One condition on the low 32 bits of a syscall argument.
///
/// Every argument tested here is an `int` or `unsigned int` in the kernel (or, for
/// `clone`, is truncated with `lower_32_bits`), so the kernel ignores the high half. A
/// 64-bit comparison could be bypassed by setting high bits the kernel then drops.
fn arg32(index: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, SeccompError> {
    Ok(SeccompCondition::new(index, SeccompCmpArgLen::Dword, op, value)?)
}

type Rules = Vec<(i64, Vec<SeccompRule>)>;

/// Rules of the `EPERM` group: the fixed deny list plus the argument-dependent rules.
fn eperm_rules(opts: &SeccompOptions) -> Result<Rules, SeccompError> {
    let mut rules: Rules = ALWAYS_DENIED
        .iter()
        .chain(ARCH_DENIED)
        .filter(|(name, _)| !(opts.zygote && ZYGOTE_ONLY.iter().any(|(z, _)| z == name)))
        .map(|&(_, nr)| (nr, Vec::new()))
        .collect();
    if opts.zygote {
        let unshare = ZYGOTE_UNSHARE_DENIED
            .iter()
            .map(|&(_, flag)| {
                let flag = u64::from(flag.unsigned_abs());
                SeccompRule::new(vec![arg32(0, SeccompCmpOp::MaskedEq(flag), flag)?]).map_err(SeccompError::from)
            })
            .collect::<Result<_, _>>()?;
        rules.push((libc::SYS_unshare, unshare));
        let pid_ns = u64::from(libc::CLONE_NEWPID.unsigned_abs());
        rules.push((
            libc::SYS_setns,
            vec![SeccompRule::new(vec![arg32(1, SeccompCmpOp::Ne, pid_ns)?])?],
        ));
    }

    // clone: deny when any namespace flag is set (rules in one chain are OR-ed).
    let clone = CLONE_NAMESPACE_FLAGS
        .iter()
        .map(|&(_, flag)| {
            let flag = u64::from(flag.unsigned_abs());
            SeccompRule::new(vec![arg32(0, SeccompCmpOp::MaskedEq(flag), flag)?]).map_err(SeccompError::from)
        })
        .collect::<Result<_, _>>()?;
    rules.push((libc::SYS_clone, clone));

    // ioctl: deny the terminal-injection requests, comparing `unsigned int cmd`.
    let ioctl = DENIED_IOCTLS
        .iter()
        .map(|&(_, cmd)| SeccompRule::new(vec![arg32(1, SeccompCmpOp::Eq, cmd)?]).map_err(SeccompError::from))
        .collect::<Result<_, _>>()?;
    rules.push((libc::SYS_ioctl, ioctl));

    // Core dumps: the jail's RLIMIT_CORE is 1, which the kernel reads as "no core dump" even
    // when the host's core_pattern pipes dumps to a helper that runs as root outside every
    // namespace (systemd-coredump, apport). Lowering it to 0 would turn those dumps back on,
    // so the limit may not be set: `setrlimit(RLIMIT_CORE, ..)` and `prlimit64(_, RLIMIT_CORE,
    // new, _)` with a new value are denied; reading it stays allowed.
    let core = u64::from(libc::RLIMIT_CORE);
    rules.push((
        libc::SYS_setrlimit,
        vec![SeccompRule::new(vec![arg32(0, SeccompCmpOp::Eq, core)?])?],
    ));
    rules.push((
        libc::SYS_prlimit64,
        vec![SeccompRule::new(vec![
            arg32(1, SeccompCmpOp::Eq, core)?,
            SeccompCondition::new(2, SeccompCmpArgLen::Qword, SeccompCmpOp::Ne, 0)?,
        ])?],
    ));

    // personality: deny unless the value is one of the allowed ones (conditions are AND-ed).
    let persona = ALLOWED_PERSONAS
        .iter()
        .map(|&p| arg32(0, SeccompCmpOp::Ne, p))
        .collect::<Result<_, _>>()?;
    rules.push((libc::SYS_personality, vec![SeccompRule::new(persona)?]));

    Ok(rules)
}

/// Rules of the `EAFNOSUPPORT` group: `socket` and `socketpair` outside the allowed
/// address families. The error is the one the kernel gives for a family it lacks, which
/// callers already handle (for example when probing for IPv6).
fn socket_rules(opts: &SeccompOptions) -> Result<Rules, SeccompError> {
    let unix = u64::from(libc::AF_UNIX.unsigned_abs());
    let inet = u64::from(libc::AF_INET.unsigned_abs());
    let mut rules = Rules::new();
    for nr in [libc::SYS_socket, libc::SYS_socketpair] {
        let mut any_of = Vec::new();
        if opts.allow_tcp4 && nr == libc::SYS_socket {
            any_of.push(SeccompRule::new(vec![
                arg32(0, SeccompCmpOp::Ne, unix)?,
                arg32(0, SeccompCmpOp::Ne, inet)?,
            ])?);
            // AF_INET SOCK_STREAM with a protocol other than TCP (MPTCP, SCTP): only TCP.
            any_of.push(SeccompRule::new(vec![
                arg32(0, SeccompCmpOp::Eq, inet)?,
                arg32(2, SeccompCmpOp::Ne, 0)?,
                arg32(2, SeccompCmpOp::Ne, u64::from(libc::IPPROTO_TCP.unsigned_abs()))?,
            ])?);
            // AF_INET with any type but SOCK_STREAM (the low 4 bits; the high ones are
            // SOCK_NONBLOCK and SOCK_CLOEXEC).
            for ty in (0..16u64).filter(|t| *t != u64::from(libc::SOCK_STREAM.unsigned_abs())) {
                any_of.push(SeccompRule::new(vec![
                    arg32(0, SeccompCmpOp::Eq, inet)?,
                    arg32(1, SeccompCmpOp::MaskedEq(0xf), ty)?,
                ])?);
            }
        } else {
            any_of.push(SeccompRule::new(vec![arg32(0, SeccompCmpOp::Ne, unix)?])?);
        }
        rules.push((nr, any_of));
    }
    Ok(rules)
}

/// Rules of the `ENOSYS` group. `clone3` passes its flags in a struct that seccomp cannot
/// read, so it cannot be filtered by flag. `ENOSYS` makes glibc (pthread_create,
/// posix_spawn) fall back to `clone`, whose flags the `EPERM` group checks.
fn enosys_rules() -> Rules {
    vec![(libc::SYS_clone3, Vec::new())]
}

/// Compile one action group with seccompiler and cut out its body (see the module docs).
fn group_body(rules: Rules, errno: i32) -> Result<Vec<sock_filter>, SeccompError> {
    let errno = u32::try_from(errno).map_err(|_| SeccompError::Malformed {
        reason: "negative errno",
    })?;
    let rules: BTreeMap<i64, Vec<SeccompRule>> = rules.into_iter().collect();
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno), TARGET)?;
    let prog = BpfProgram::try_from(filter)?;
    let prefix = arch_check();
    let Some(body) = prog.strip_prefix(&prefix[..]) else {
        return Err(SeccompError::Malformed {
            reason: "seccompiler output does not start with the architecture check",
        });
    };
    let Some(body) = body.strip_suffix(&[allow()][..]) else {
        return Err(SeccompError::Malformed {
            reason: "seccompiler output does not end with the default allow",
        });
    };
    Ok(body.to_vec())
}

fn allow() -> sock_filter {
    stmt(RET_K, libc::SECCOMP_RET_ALLOW)
}

/// Compile the filter for `opts`.
///
/// Call this before forking: it allocates. The result is passed to [`install`] in the
/// child.
pub fn compile(opts: &SeccompOptions) -> Result<BpfProgram, SeccompError> {
    // The filter depends on nothing but `opts`: a process compiling it again (a supervisor of
    // a jail built ahead compiles the request's plan on the run's path) takes it from here.
    static MADE: std::sync::Mutex<Vec<(SeccompOptions, BpfProgram)>> = std::sync::Mutex::new(Vec::new());
    let made = |m: &Vec<(SeccompOptions, BpfProgram)>| m.iter().find(|(o, _)| o == opts).map(|(_, p)| p.clone());
    if let Some(p) = MADE.lock().ok().as_deref().and_then(made) {
        return Ok(p);
    }
    let prog = compile_uncached(opts)?;
    if let Ok(mut m) = MADE.lock() {
        m.push((*opts, prog.clone()));
    }
    Ok(prog)
}

fn compile_uncached(opts: &SeccompOptions) -> Result<BpfProgram, SeccompError> {
    let groups = [
        (libc::EPERM, eperm_rules(opts)?),
        (libc::EAFNOSUPPORT, socket_rules(opts)?),
        (libc::ENOSYS, enosys_rules()),
    ];

    // Splicing is only correct if no syscall is in two groups.
    let mut seen = BTreeSet::new();
    for (_, rules) in &groups {
        for (nr, _) in rules {
            if !seen.insert(*nr) {
                return Err(SeccompError::Malformed {
                    reason: "a syscall appears in two rule groups",
                });
            }
        }
    }

    let mut prog: BpfProgram = arch_check().to_vec();
    prog.extend(abi_check());
    for (errno, rules) in groups {
        prog.extend(group_body(rules, errno)?);
    }
    prog.push(allow());
    verify(&prog)?;
    Ok(prog)
}

/// A filter of one `EPERM` group: what a run's process installs on top of the base filter.
fn single_group(rules: Rules) -> Result<BpfProgram, SeccompError> {
    let mut prog: BpfProgram = arch_check().to_vec();
    prog.extend(abi_check());
    prog.extend(group_body(rules, libc::EPERM)?);
    prog.push(allow());
    verify(&prog)?;
    Ok(prog)
}

fn process_rules() -> Result<Rules, SeccompError> {
    let mut rules: Rules = PROCESS_SYSCALLS.iter().map(|&(_, nr)| (nr, Vec::new())).collect();
    // clone without CLONE_THREAD makes a process; with it, a thread (which stays allowed).
    let thread = u64::from(libc::CLONE_THREAD.unsigned_abs());
    rules.push((
        libc::SYS_clone,
        vec![SeccompRule::new(vec![arg32(0, SeccompCmpOp::MaskedEq(thread), 0)?])?],
    ));
    Ok(rules)
}

/// The filter a warm run's process adds before any of its code runs: the zygote-only
/// syscalls (`mount`, `unshare`, `setns`) are refused again, and with `no_processes` also
/// everything [`compile_no_processes`] refuses.
pub fn compile_run_lockdown(no_processes: bool) -> Result<BpfProgram, SeccompError> {
    let mut rules: Rules = ZYGOTE_ONLY.iter().map(|&(_, nr)| (nr, Vec::new())).collect();
    rules.push((libc::SYS_umount2, Vec::new()));
    if no_processes {
        rules.extend(process_rules()?);
    }
    single_group(rules)
}

/// The filter that makes the kernel refuse new processes: `execve`, `execveat`, `fork`,
/// `vfork`, and `clone` without `CLONE_THREAD` fail with `EPERM` (threads still work; `clone3`
/// is already `ENOSYS` in the base filter, so glibc falls back to `clone`).
pub fn compile_no_processes() -> Result<BpfProgram, SeccompError> {
    single_group(process_rules()?)
}

/// The jail init's own filter: an allow-list of what reaping and reporting need.
pub fn compile_init() -> Result<BpfProgram, SeccompError> {
    static MADE: OnceLock<BpfProgram> = OnceLock::new();
    if let Some(p) = MADE.get() {
        return Ok(p.clone());
    }
    let prog = compile_init_uncached()?;
    Ok(MADE.get_or_init(|| prog).clone())
}

fn compile_init_uncached() -> Result<BpfProgram, SeccompError> {
    let rules: BTreeMap<i64, Vec<SeccompRule>> = INIT_ALLOWED.iter().map(|&(_, nr)| (nr, Vec::new())).collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM.unsigned_abs()),
        SeccompAction::Allow,
        TARGET,
    )?;
    let prog = BpfProgram::try_from(filter)?;
    verify(&prog)?;
    Ok(prog)
}

/// A program as the bytes of its `struct sock_filter` array (how it is written into the jail
/// for the guard and the zygote to install).
#[must_use]
pub fn to_bytes(prog: BpfProgramRef<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(prog.len() * 8);
    for insn in prog {
        out.extend_from_slice(&insn.code.to_ne_bytes());
        out.push(insn.jt);
        out.push(insn.jf);
        out.extend_from_slice(&insn.k.to_ne_bytes());
    }
    out
}

/// Check what the kernel's verifier would reject, so that it fails here in the parent
/// with a clear error rather than in the child: length, known opcodes, jump targets and a
/// final `ret`.
fn verify(prog: &[sock_filter]) -> Result<(), SeccompError> {
    if prog.len() > MAX_INSNS {
        return Err(SeccompError::TooLong {
            len: prog.len(),
            max: MAX_INSNS,
        });
    }
    let in_range = |target: usize| target < prog.len();
    for (pc, insn) in prog.iter().enumerate() {
        let ok = match insn.code {
            LD_W_ABS => insn.k % 4 == 0 && insn.k < 64,
            ALU_AND_K | RET_K => true,
            JMP_JA => usize::try_from(insn.k).is_ok_and(|k| in_range(pc + 1 + k)),
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                in_range(pc + 1 + usize::from(insn.jt)) && in_range(pc + 1 + usize::from(insn.jf))
            }
            _ => false,
        };
        if !ok {
            return Err(SeccompError::Malformed {
                reason: "instruction with an unknown opcode or an out-of-range jump",
            });
        }
    }
    match prog.last() {
        Some(last) if last.code == RET_K => Ok(()),
        _ => Err(SeccompError::Malformed {
            reason: "program does not end with a return",
        }),
    }
}

// ===== Installing =====

/// Install `prog` on the calling thread.
///
/// The caller has already set `PR_SET_NO_NEW_PRIVS`; seccompiler sets it again, which is
/// harmless. This does not allocate, so it can run between `fork` and `execve` in a child
/// of a multi-threaded parent. Nothing after it may need a denied syscall, so it must be
/// the last setup step before `execve`.
pub fn install(prog: BpfProgramRef<'_>) -> Result<(), SeccompError> {
    if prog.is_empty() {
        return Err(SeccompError::Empty);
    }
    if prog.len() > MAX_INSNS {
        // seccompiler casts the length to u16; never let it wrap.
        return Err(SeccompError::TooLong {
            len: prog.len(),
            max: MAX_INSNS,
        });
    }
    seccompiler::apply_filter(prog).map_err(|e| match e {
        seccompiler::Error::Prctl(e) => SeccompError::NoNewPrivs(e),
        seccompiler::Error::Seccomp(e) => SeccompError::Install(e),
        seccompiler::Error::EmptyFilter => SeccompError::Empty,
        // Backend errors come from compiling and ThreadSync from TSYNC; neither is used here.
        _ => SeccompError::Install(io::Error::from_raw_os_error(libc::EINVAL)),
    })
}

// ===== Dumping =====

/// Disassemble `prog`, one instruction per line, with absolute jump targets.
///
/// ```text
///    0: ld   [4]                ; arch
///    1: jeq  #0xc000003e   jt 3 jf 2
///    2: ret  KILL_PROCESS
/// ```
pub fn dump(prog: BpfProgramRef<'_>) -> String {
    let mut out = String::new();
    for (pc, insn) in prog.iter().enumerate() {
        let next = pc + 1;
        let line = match insn.code {
            LD_W_ABS => {
                let ld = format!("ld   [{}]", insn.k);
                match field_name(insn.k) {
                    Some(field) => format!("{ld:<24}; {field}"),
                    None => ld,
                }
            }
            ALU_AND_K => format!("and  #{:#x}", insn.k),
            JMP_JA => format!("ja   {}", next + insn.k as usize),
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                let op = match insn.code {
                    JMP_JEQ_K => "jeq ",
                    JMP_JGT_K => "jgt ",
                    JMP_JGE_K => "jge ",
                    _ => "jset",
                };
                format!(
                    "{op} #{:<#12x} jt {} jf {}",
                    insn.k,
                    next + usize::from(insn.jt),
                    next + usize::from(insn.jf)
                )
            }
            RET_K => format!("ret  {}", action_name(insn.k)),
            _ => format!(
                "unknown code={:#06x} jt={} jf={} k={:#x}",
                insn.code, insn.jt, insn.jf, insn.k
            ),
        };
        let _ = writeln!(out, "{pc:>4}: {line}");
    }
    out
}

fn field_name(offset: u32) -> Option<String> {
    match offset {
        DATA_NR => Some("nr".to_owned()),
        DATA_ARCH => Some("arch".to_owned()),
        o if o >= DATA_ARGS => {
            let (arg, half) = ((o - DATA_ARGS) / 8, (o - DATA_ARGS) % 8);
            let half = if half == 0 { "low" } else { "high" };
            Some(format!("args[{arg}] {half} 32 bits"))
        }
        _ => None,
    }
}

fn action_name(k: u32) -> String {
    let data = k & libc::SECCOMP_RET_DATA;
    match k & libc::SECCOMP_RET_ACTION_FULL {
        libc::SECCOMP_RET_ALLOW => "ALLOW".to_owned(),
        libc::SECCOMP_RET_KILL_PROCESS => "KILL_PROCESS".to_owned(),
        libc::SECCOMP_RET_KILL_THREAD => "KILL_THREAD".to_owned(),
        libc::SECCOMP_RET_ERRNO => {
            let name = match i32::try_from(data).unwrap_or(0) {
                libc::EPERM => " EPERM",
                libc::ENOSYS => " ENOSYS",
                libc::EAFNOSUPPORT => " EAFNOSUPPORT",
                _ => "",
            };
            format!("ERRNO({data}){name}")
        }
        libc::SECCOMP_RET_TRAP => "TRAP".to_owned(),
        libc::SECCOMP_RET_LOG => "LOG".to_owned(),
        other => format!("{other:#x}"),
    }
}

#[cfg(test)]
mod tests {
    //! The compiled program is run through a small classic-BPF interpreter, so every rule,
    //! the arch/x32 prelude and the splicing are checked without touching the kernel.
    //! `tests/seccomp.rs` checks the same rules against the real kernel.

    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Verdict {
        Allow,
        Errno(i32),
        Kill,
    }

    fn run(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> Verdict {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, arg) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_le_bytes());
        }
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let insn = &prog[pc];
            pc += 1;
            match insn.code {
                LD_W_ABS => {
                    let k = insn.k as usize;
                    a = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                }
                ALU_AND_K => a &= insn.k,
                JMP_JA => pc += insn.k as usize,
                JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                    let taken = match insn.code {
                        JMP_JEQ_K => a == insn.k,
                        JMP_JGT_K => a > insn.k,
                        JMP_JGE_K => a >= insn.k,
                        _ => a & insn.k != 0,
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                RET_K => {
                    return match insn.k & libc::SECCOMP_RET_ACTION_FULL {
                        libc::SECCOMP_RET_ALLOW => Verdict::Allow,
                        libc::SECCOMP_RET_KILL_PROCESS => Verdict::Kill,
                        libc::SECCOMP_RET_ERRNO => Verdict::Errno((insn.k & libc::SECCOMP_RET_DATA) as i32),
                        other => panic!("unexpected action {other:#x}"),
                    }
                }
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn call(prog: &[sock_filter], nr: i64, args: [u64; 6]) -> Verdict {
        run(prog, AUDIT_ARCH, u32::try_from(nr).unwrap(), args)
    }

    fn default_prog() -> BpfProgram {
        compile(&SeccompOptions::default()).unwrap()
    }

    #[test]
    fn fits_and_verifies() {
        for allow_tcp4 in [false, true] {
            for zygote in [false, true] {
                let prog = compile(&SeccompOptions { allow_tcp4, zygote }).unwrap();
                assert!(prog.len() < MAX_INSNS / 4, "{} instructions", prog.len());
                verify(&prog).unwrap();
            }
        }
    }

    #[test]
    fn the_core_dump_limit_can_be_read_but_not_set() {
        let prog = default_prog();
        let core = u64::from(libc::RLIMIT_CORE);
        let nofile = u64::from(libc::RLIMIT_NOFILE);
        let buf = 0x7fff_0000_1000_u64; // any non-null pointer
        assert_eq!(
            call(&prog, libc::SYS_setrlimit, [core, buf, 0, 0, 0, 0]),
            Verdict::Errno(libc::EPERM)
        );
        assert_eq!(
            call(&prog, libc::SYS_setrlimit, [nofile, buf, 0, 0, 0, 0]),
            Verdict::Allow
        );
        // prlimit64(pid, resource, new, old)
        assert_eq!(
            call(&prog, libc::SYS_prlimit64, [0, core, buf, 0, 0, 0]),
            Verdict::Errno(libc::EPERM)
        );
        assert_eq!(
            call(&prog, libc::SYS_prlimit64, [0, core, buf, buf, 0, 0]),
            Verdict::Errno(libc::EPERM)
        );
        assert_eq!(
            call(&prog, libc::SYS_prlimit64, [123, core, 1 << 32, 0, 0, 0]),
            Verdict::Errno(libc::EPERM)
        );
        assert_eq!(
            call(&prog, libc::SYS_prlimit64, [0, core, 0, buf, 0, 0]),
            Verdict::Allow
        );
        assert_eq!(
            call(&prog, libc::SYS_prlimit64, [0, nofile, buf, buf, 0, 0]),
            Verdict::Allow
        );
        assert_eq!(
            call(&prog, libc::SYS_getrlimit, [core, buf, 0, 0, 0, 0]),
            Verdict::Allow
        );
    }

    #[test]
    fn the_zygote_may_make_run_namespaces_and_a_run_may_not() {
        let zygote = compile(&SeccompOptions {
            zygote: true,
            ..SeccompOptions::default()
        })
        .unwrap();
        let plain = default_prog();
        let lockdown = compile_run_lockdown(false).unwrap();
        let flags = |f: i32| u64::from(f.unsigned_abs());
        let run_ns = flags(libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWPID | libc::CLONE_NEWNET);
        assert_eq!(
            call(&zygote, libc::SYS_unshare, [run_ns, 0, 0, 0, 0, 0]),
            Verdict::Allow
        );
        assert_eq!(
            call(&plain, libc::SYS_unshare, [run_ns, 0, 0, 0, 0, 0]),
            Verdict::Errno(libc::EPERM)
        );
        assert_eq!(
            call(&lockdown, libc::SYS_unshare, [run_ns, 0, 0, 0, 0, 0]),
            Verdict::Errno(libc::EPERM)
        );
        for (name, flag) in ZYGOTE_UNSHARE_DENIED {
            let f = flags(*flag) | flags(libc::CLONE_NEWNS);
            assert_eq!(
                call(&zygote, libc::SYS_unshare, [f, 0, 0, 0, 0, 0]),
                Verdict::Errno(libc::EPERM),
                "{name}"
            );
        }
        let pid_ns = flags(libc::CLONE_NEWPID);
        assert_eq!(call(&zygote, libc::SYS_setns, [3, pid_ns, 0, 0, 0, 0]), Verdict::Allow);
        assert_eq!(
            call(&zygote, libc::SYS_setns, [3, 0, 0, 0, 0, 0]),
            Verdict::Errno(libc::EPERM)
        );
        assert_eq!(
            call(&zygote, libc::SYS_setns, [3, flags(libc::CLONE_NEWUSER), 0, 0, 0, 0]),
            Verdict::Errno(libc::EPERM)
        );
        assert_eq!(
            call(&lockdown, libc::SYS_setns, [3, pid_ns, 0, 0, 0, 0]),
            Verdict::Errno(libc::EPERM)
        );
        assert_eq!(call(&zygote, libc::SYS_mount, [0; 6]), Verdict::Allow);
        assert_eq!(call(&lockdown, libc::SYS_mount, [0; 6]), Verdict::Errno(libc::EPERM));
        // clone with a namespace flag stays denied for the zygote too.
        assert_eq!(
            call(&zygote, libc::SYS_clone, [pid_ns, 0, 0, 0, 0, 0]),
            Verdict::Errno(libc::EPERM)
        );
        // Everything else is unchanged.
        for nr in [
            libc::SYS_read,
            libc::SYS_mmap,
            libc::SYS_futex,
            libc::SYS_shmget,
            libc::SYS_execve,
        ] {
            assert_eq!(call(&zygote, nr, [0; 6]), Verdict::Allow, "{nr}");
            assert_eq!(call(&lockdown, nr, [0; 6]), Verdict::Allow, "{nr}");
        }
        assert_eq!(call(&zygote, libc::SYS_ptrace, [0; 6]), Verdict::Errno(libc::EPERM));
    }

    #[test]
    fn no_processes_refuses_exec_and_fork_but_not_threads() {
        let prog = compile_no_processes().unwrap();
        let locked = compile_run_lockdown(true).unwrap();
        for p in [&prog, &locked] {
            for &(name, nr) in PROCESS_SYSCALLS {
                assert_eq!(call(p, nr, [0; 6]), Verdict::Errno(libc::EPERM), "{name}");
            }
            let fork_flags = u64::from(libc::SIGCHLD.unsigned_abs());
            assert_eq!(
                call(p, libc::SYS_clone, [fork_flags, 0, 0, 0, 0, 0]),
                Verdict::Errno(libc::EPERM)
            );
            // pthread_create's flags.
            let thread = (libc::CLONE_VM
                | libc::CLONE_FS
                | libc::CLONE_FILES
                | libc::CLONE_SIGHAND
                | libc::CLONE_THREAD
                | libc::CLONE_SYSVSEM
                | libc::CLONE_SETTLS
                | libc::CLONE_PARENT_SETTID
                | libc::CLONE_CHILD_CLEARTID)
                .unsigned_abs();
            assert_eq!(
                call(p, libc::SYS_clone, [u64::from(thread), 0, 0, 0, 0, 0]),
                Verdict::Allow
            );
            assert_eq!(call(p, libc::SYS_read, [0; 6]), Verdict::Allow);
        }
    }

    #[test]
    fn init_may_only_reap_and_report() {
        let prog = compile_init().unwrap();
        for &(name, nr) in INIT_ALLOWED {
            assert_eq!(call(&prog, nr, [0; 6]), Verdict::Allow, "{name}");
        }
        for nr in [
            libc::SYS_execve,
            libc::SYS_open,
            libc::SYS_openat,
            libc::SYS_kill,
            libc::SYS_socket,
            libc::SYS_clone,
        ] {
            assert_eq!(call(&prog, nr, [0; 6]), Verdict::Errno(libc::EPERM), "{nr}");
        }
        assert_eq!(to_bytes(&prog).len(), prog.len() * 8);
    }

    #[test]
    fn wrong_arch_is_killed() {
        let prog = default_prog();
        // AUDIT_ARCH_I386: `int 0x80` from a 64-bit process on x86_64.
        assert_eq!(run(&prog, 0x4000_0003, 20, [0; 6]), Verdict::Kill, "i386 getpid");
        assert_eq!(run(&prog, 0x4000_0028, 20, [0; 6]), Verdict::Kill, "arm");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_syscalls_are_killed() {
        let prog = default_prog();
        for nr in [libc::SYS_getpid, libc::SYS_read, libc::SYS_ptrace, 512, 547] {
            let nr = u32::try_from(nr).unwrap() | X32_SYSCALL_BIT;
            assert_eq!(run(&prog, AUDIT_ARCH, nr, [0; 6]), Verdict::Kill, "{nr:#x}");
        }
        // Other high bits are not syscalls at all (ENOSYS from the kernel); let them through.
        assert_eq!(run(&prog, AUDIT_ARCH, 0x8000_0027, [0; 6]), Verdict::Allow);
    }

    #[test]
    fn fully_denied_syscalls_get_eperm_whatever_the_arguments() {
        let prog = default_prog();
        for &(name, nr) in ALWAYS_DENIED.iter().chain(ARCH_DENIED) {
            for args in [[0; 6], [u64::MAX; 6], [1, 2, 3, 4, 5, 6]] {
                assert_eq!(call(&prog, nr, args), Verdict::Errno(libc::EPERM), "{name}");
            }
        }
    }

    #[test]
    fn clone3_gets_enosys() {
        assert_eq!(
            call(&default_prog(), libc::SYS_clone3, [0; 6]),
            Verdict::Errno(libc::ENOSYS)
        );
    }

    #[test]
    fn clone_with_a_namespace_flag_is_denied() {
        let prog = default_prog();
        let sigchld = libc::SIGCHLD as u64;
        for &(name, flag) in CLONE_NAMESPACE_FLAGS {
            let flag = u64::from(flag.unsigned_abs());
            for flags in [flag, flag | sigchld, flag | 0x3d0f00 | sigchld] {
                assert_eq!(
                    call(&prog, libc::SYS_clone, [flags, 0, 0, 0, 0, 0]),
                    Verdict::Errno(libc::EPERM),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn clone_for_threads_and_fork_is_allowed() {
        let prog = default_prog();
        // glibc fork(): CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD.
        let fork = 0x0120_0011;
        // glibc pthread_create fallback: CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|
        // PARENT_SETTID|CHILD_CLEARTID.
        let thread = 0x003d_0f00;
        // Every exit signal, including those with bit 0x80 (CLONE_NEWTIME's value) clear
        // or set in CSIGNAL: the filter must not look at the low byte.
        for flags in [fork, thread, 0xff, 0x80 | libc::CLONE_VFORK as u64] {
            assert_eq!(
                call(&prog, libc::SYS_clone, [flags, 0, 0, 0, 0, 0]),
                Verdict::Allow,
                "{flags:#x}"
            );
        }
    }

    #[test]
    fn clone_flags_above_32_bits_are_ignored_like_the_kernel_does() {
        // `lower_32_bits(clone_flags)`: only the low half decides.
        let prog = default_prog();
        let newuser = u64::from(libc::CLONE_NEWUSER.unsigned_abs());
        assert_eq!(
            call(&prog, libc::SYS_clone, [newuser | 1 << 40, 0, 0, 0, 0, 0]),
            Verdict::Errno(libc::EPERM)
        );
        assert_eq!(
            call(&prog, libc::SYS_clone, [1 << 40 | 17, 0, 0, 0, 0, 0]),
            Verdict::Allow
        );
    }

    #[test]
    fn socket_families() {
        let unix = libc::AF_UNIX as u64;
        let inet = libc::AF_INET as u64;
        let inet6 = libc::AF_INET6 as u64;
        let (stream, dgram, raw) = (libc::SOCK_STREAM as u64, libc::SOCK_DGRAM as u64, libc::SOCK_RAW as u64);
        let flags = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u64;
        let others = [libc::AF_NETLINK, libc::AF_PACKET, libc::AF_ALG, libc::AF_VSOCK].map(|f| f as u64);
        let refused = || Verdict::Errno(libc::EAFNOSUPPORT);
        for allow_tcp4 in [false, true] {
            let prog = compile(&SeccompOptions {
                allow_tcp4,
                ..SeccompOptions::default()
            })
            .unwrap();
            for nr in [libc::SYS_socket, libc::SYS_socketpair] {
                let verdict = |family: u64, ty: u64| call(&prog, nr, [family, ty, 0, 0, 0, 0]);
                assert_eq!(verdict(unix, stream), Verdict::Allow);
                assert_eq!(verdict(unix, dgram), Verdict::Allow);
                // High bits of `int family` are dropped by the kernel; they must not matter.
                assert_eq!(verdict(unix | 1 << 32, stream), Verdict::Allow);
                let tcp4 = || {
                    if allow_tcp4 && nr == libc::SYS_socket {
                        Verdict::Allow
                    } else {
                        refused()
                    }
                };
                assert_eq!(verdict(inet, stream), tcp4());
                assert_eq!(verdict(inet, stream | flags), tcp4());
                let with_protocol = |proto: u64| call(&prog, nr, [inet, stream, proto, 0, 0, 0]);
                assert_eq!(with_protocol(libc::IPPROTO_TCP as u64), tcp4());
                for proto in [libc::IPPROTO_MPTCP as u64, libc::IPPROTO_SCTP as u64, 17, 255] {
                    assert_eq!(with_protocol(proto), refused(), "protocol {proto}");
                }
                assert_eq!(verdict(inet | 1 << 32, stream), tcp4());
                for ty in [dgram, raw, dgram | flags, raw | 1 << 32, 0, 15] {
                    assert_eq!(verdict(inet, ty), refused(), "AF_INET type {ty:#x}");
                }
                for ty in [stream, dgram] {
                    assert_eq!(verdict(inet6, ty), refused());
                }
                for family in others {
                    assert_eq!(verdict(family, raw), refused());
                    assert_eq!(verdict(family | 1 << 32, raw), refused());
                }
            }
        }
    }

    #[test]
    fn ioctl_terminal_injection_is_denied_even_with_high_bits() {
        let prog = default_prog();
        for &(name, cmd) in DENIED_IOCTLS {
            for high in [0, 1 << 32, 0xffff_ffff << 32] {
                assert_eq!(
                    call(&prog, libc::SYS_ioctl, [0, cmd | high, 0, 0, 0, 0]),
                    Verdict::Errno(libc::EPERM),
                    "{name} | {high:#x}"
                );
            }
        }
        for cmd in [libc::TCGETS, libc::TIOCGWINSZ, libc::FIONREAD, libc::FIOCLEX] {
            assert_eq!(call(&prog, libc::SYS_ioctl, [0, cmd, 0, 0, 0, 0]), Verdict::Allow);
        }
    }

    #[test]
    fn a_64_bit_ioctl_comparison_would_be_bypassed() {
        // The mistake `arg32` avoids: with a Qword comparison, `TIOCSTI | 1 << 32` is
        // allowed, yet the kernel truncates `cmd` to 32 bits and runs TIOCSTI.
        let rule = SeccompCondition::new(1, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, libc::TIOCSTI).unwrap();
        let rules = [(libc::SYS_ioctl, vec![SeccompRule::new(vec![rule]).unwrap()])];
        let filter = SeccompFilter::new(
            rules.into_iter().collect(),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            TARGET,
        )
        .unwrap();
        let naive = BpfProgram::try_from(filter).unwrap();
        let tiocsti = |cmd| call(&naive, libc::SYS_ioctl, [0, cmd, 0, 0, 0, 0]);
        assert_eq!(tiocsti(libc::TIOCSTI), Verdict::Errno(libc::EPERM));
        assert_eq!(tiocsti(libc::TIOCSTI | 1 << 32), Verdict::Allow);
    }

    #[test]
    fn personality_only_query_and_per_linux() {
        let prog = default_prog();
        let persona = |p: u64| call(&prog, libc::SYS_personality, [p, 0, 0, 0, 0, 0]);
        assert_eq!(persona(0xffff_ffff), Verdict::Allow);
        assert_eq!(persona(0), Verdict::Allow);
        assert_eq!(persona(0x0040_0000), Verdict::Errno(libc::EPERM)); // READ_IMPLIES_EXEC
        assert_eq!(persona(0x0004_0000), Verdict::Errno(libc::EPERM)); // ADDR_NO_RANDOMIZE
        assert_eq!(persona(0x0010_0000), Verdict::Errno(libc::EPERM)); // MMAP_PAGE_ZERO
    }

    #[test]
    fn everyday_syscalls_are_allowed() {
        let prog = default_prog();
        let everyday = [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_mmap,
            libc::SYS_mprotect,
            libc::SYS_futex,
            libc::SYS_epoll_pwait,
            libc::SYS_getrandom,
            libc::SYS_rt_sigaction,
            libc::SYS_exit_group,
            libc::SYS_wait4,
            libc::SYS_execve,
            libc::SYS_pidfd_open,
            libc::SYS_seccomp,
            libc::SYS_prctl,
            libc::SYS_landlock_create_ruleset,
            libc::SYS_landlock_add_rule,
            libc::SYS_landlock_restrict_self,
        ];
        for nr in everyday {
            assert_eq!(call(&prog, nr, [0; 6]), Verdict::Allow, "{nr}");
        }
    }

    #[test]
    fn denied_syscalls_lists_each_name_once() {
        let names = denied_syscalls();
        let unique: BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(names.contains(&"clone3") && names.contains(&"ptrace"));
    }

    #[test]
    fn docs_mention_every_rule() {
        let doc = include_str!("../../../docs/seccomp.md");
        for name in denied_syscalls() {
            assert!(doc.contains(&format!("`{name}`")), "docs/seccomp.md misses {name}");
        }
        let flags = CLONE_NAMESPACE_FLAGS.iter().map(|&(name, _)| name);
        for name in flags.chain(DENIED_IOCTLS.iter().map(|&(name, _)| name)) {
            assert!(doc.contains(name), "docs/seccomp.md misses {name}");
        }
        for name in zygote_only_syscalls().chain(process_syscalls()) {
            assert!(doc.contains(&format!("`{name}`")), "docs/seccomp.md misses {name}");
        }
    }

    #[test]
    fn dump_shows_the_prelude() {
        let text = dump(&default_prog());
        let mut lines = text.lines();
        assert!(lines.next().unwrap().contains("ld   [4]"));
        assert!(lines.next().unwrap().contains("jeq"));
        assert!(lines.next().unwrap().ends_with("ret  KILL_PROCESS"));
        assert!(text.contains("ERRNO(1) EPERM"));
        assert!(text.contains("ERRNO(38) ENOSYS"));
        assert!(text.contains("ERRNO(97) EAFNOSUPPORT"));
        assert!(text.trim_end().ends_with("ret  ALLOW"));
    }
}
