//! The seccomp filter against the real kernel.
//!
//! Each case spawns a fresh `python3.11` whose `pre_exec` sets no_new_privs and installs
//! the filter, so the test runner itself is never filtered. The probe prints one JSON
//! object of verdicts. The same probe also runs without a filter (`control`), which shows
//! that each assertion can fail. Tests run as root here, so the probe's control run keeps
//! its dangerous calls harmless: invalid arguments, or a forked child that exits at once.
//! The probe uses x86_64 syscall numbers; the BPF-level unit tests in `src/seccomp.rs`
//! cover the rules on every architecture.
#![cfg(target_arch = "x86_64")]

use std::collections::HashMap;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use seccompiler::BpfProgram;
use serde_json::Value;
use stockade_jail::seccomp::{self, SeccompOptions};

const PYTHON: &str = "/usr/bin/python3.11";

const EPERM: i64 = libc::EPERM as i64;
const ENOSYS: i64 = libc::ENOSYS as i64;
const EAFNOSUPPORT: i64 = libc::EAFNOSUPPORT as i64;
const SIGSYS: i64 = libc::SIGSYS as i64;

/// Prints `{case: {"ret": .., "errno": .., "signal": ..}}`. Raw syscalls go through
/// `ctypes` with every argument as a full 64-bit `c_ulong`, so high bits reach the kernel.
const PROBE: &str = r#"
import asyncio, ctypes, json, mmap, os, socket, subprocess, sys, threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
M64 = (1 << 64) - 1

def sc(nr, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a & M64) for a in args])
    return {"ret": ret, "errno": ctypes.get_errno() if ret == -1 else 0}

def in_child(fn):
    """Run fn in a forked child; report its result and the signal that killed it, if any."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(w, json.dumps(fn()).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    out = json.loads(data) if data else {}
    out["signal"] = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    return out

def py(fn):
    try:
        fn()
        return {"ret": 0, "errno": 0}
    except OSError as e:
        return {"ret": -1, "errno": e.errno}

def raw_clone(flags):
    # Like fork: no new stack, so the child returns here with 0 and exits at once.
    res = sc(56, flags, 0, 0, 0, 0)
    if res["ret"] == 0:
        os._exit(0)
    if res["ret"] > 0:
        os.waitpid(res["ret"], 0)
        res["ret"] = 1
    return res

def thread_works():
    box = []
    t = threading.Thread(target=lambda: box.append(42))
    t.start(); t.join()
    return {"ret": 0 if box == [42] else -1, "errno": 0}

def fork_works():
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    return {"ret": os.WEXITSTATUS(status), "errno": 0}

def subprocess_works():
    p = subprocess.run(["/bin/true"])
    return {"ret": p.returncode, "errno": 0}

def asyncio_works():
    async def main():
        await asyncio.sleep(0)
        return 5
    return {"ret": asyncio.run(main()), "errno": 0}

def int80_getpid():
    # i386 ABI from a 64-bit process: mov eax, 20 (getpid); int 0x80; ret
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.write(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3")
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    return {"ret": ctypes.CFUNCTYPE(ctypes.c_int)(addr)(), "errno": 0}

NEWUSER, NEWNET, NEWNS, NEWPID = 0x10000000, 0x40000000, 0x20000, 0x20000000
SIGCHLD = 17
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
X32 = 0x40000000
scratch = ctypes.create_string_buffer(256)
buf = ctypes.addressof(scratch)

v = {}
v["thread"] = thread_works()
v["fork"] = fork_works()
v["subprocess"] = subprocess_works()
v["asyncio"] = asyncio_works()
v["ptrace"] = sc(101, 0xDEAD, 0, 0, 0)                 # invalid request: EIO if allowed
v["mount"] = sc(165, 0, 0, 0, 0, 0)                    # NULL target: EFAULT if allowed
v["umount2"] = sc(166, 0, 0)
v["unshare_newuser"] = in_child(lambda: sc(272, NEWUSER))
v["setns"] = sc(308, (1 << 64) - 1, 0)                   # fd -1: EBADF if allowed
v["bpf"] = sc(321, 0xFFFF, 0, 0)
v["keyctl"] = sc(250, 0xFFFF, 0, 0, 0, 0)
v["io_uring_setup"] = sc(425, 0, 0)
v["perf_event_open"] = sc(298, 0, 0, M64, M64, 0)
v["userfaultfd"] = sc(323, 0xFFFFFFFF)
v["open_by_handle_at"] = sc(304, M64, 0, 0)
v["process_vm_readv"] = sc(310, os.getpid(), 0, 0, 0, 0, 0)
v["pidfd_getfd"] = sc(438, M64, M64, 0)
v["kcmp"] = sc(312, os.getpid(), os.getpid(), 0, 0, 0)
v["clone_newuser"] = raw_clone(NEWUSER | SIGCHLD)
v["clone_newnet"] = raw_clone(NEWNET | SIGCHLD)
v["clone_newns"] = raw_clone(NEWNS | SIGCHLD)
v["clone_newpid"] = raw_clone(NEWPID | SIGCHLD)
v["clone_plain"] = raw_clone(SIGCHLD)
v["clone3"] = sc(435, 0, 0)                              # size 0: EINVAL if allowed
v["socket_unix"] = py(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
v["socketpair"] = py(lambda: [s.close() for s in socket.socketpair()])
v["socket_inet"] = py(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
v["socket_inet6"] = py(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close())
v["socket_inet6_stream"] = py(lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close())
v["socket_udp"] = py(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close())
v["socket_raw_inet"] = sc(41, 2, 3, 1)                   # AF_INET, SOCK_RAW, ICMP
v["socket_netlink"] = py(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close())
v["socket_packet"] = sc(41, 17, 3, 0)                    # AF_PACKET
v["socket_netlink_high_bits"] = sc(41, (1 << 32) | 16, 3, 0)
v["socketpair_inet"] = sc(53, 2, 1, 0, buf)
v["tiocsti"] = sc(16, 0, TIOCSTI, buf)                   # stdin is /dev/null: ENOTTY if allowed
v["tiocsti_high_bits"] = sc(16, 0, (1 << 32) | TIOCSTI, buf)
v["tiocsti_all_high_bits"] = sc(16, 0, (0xFFFFFFFF << 32) | TIOCSTI, buf)
v["tioclinux"] = sc(16, 0, TIOCLINUX, buf)
v["tcgets"] = sc(16, 0, 0x5401, buf)                     # ENOTTY both ways
pr, pw = os.pipe()
os.write(pw, b"abc")
# FIONREAD with high bits set still works: the kernel reads `unsigned int cmd`.
v["fionread_high_bits"] = sc(16, pr, (1 << 32) | 0x541B, buf)
v["fionread_value"] = {"ret": ctypes.c_int.from_buffer(scratch).value, "errno": 0}
v["personality_query"] = sc(135, 0xFFFFFFFF)
v["personality_no_aslr"] = in_child(lambda: sc(135, 0x0040000))
v["landlock_abi"] = sc(444, 0, 0, 1)                     # LANDLOCK_CREATE_RULESET_VERSION
v["x32_getpid"] = in_child(lambda: sc(X32 | 39))
v["int80_getpid"] = in_child(int80_getpid)
print(json.dumps(v))
"#;

fn python_available() -> bool {
    if Path::new(PYTHON).exists() {
        return true;
    }
    eprintln!("skipping: {PYTHON} not found");
    false
}

/// Run the probe, with the filter installed right before `execve` when `filter` is set.
fn run_probe(filter: Option<BpfProgram>) -> HashMap<String, Value> {
    let mut cmd = Command::new(PYTHON);
    cmd.args(["-I", "-S", "-c", PROBE])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(prog) = filter {
        let hook = move || -> io::Result<()> {
            nix::sys::prctl::set_no_new_privs()?;
            seccomp::install(&prog).map_err(|e| io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(libc::EINVAL)))
        };
        set_pre_exec(&mut cmd, hook);
    }
    let out = cmd.output().expect("failed to run the probe");
    assert!(out.status.success(), "probe failed: {:?}", out.status);
    serde_json::from_slice(&out.stdout).expect("probe printed invalid JSON")
}

#[allow(unsafe_code)]
fn set_pre_exec(cmd: &mut Command, hook: impl FnMut() -> io::Result<()> + Send + Sync + 'static) {
    // SAFETY: `hook` runs between fork and execve in a child of a multi-threaded process.
    // It only calls prctl and seccomp on an already compiled program and builds errors from
    // raw errnos, none of which allocates or takes a lock.
    unsafe {
        cmd.pre_exec(hook);
    }
}

fn filtered() -> &'static HashMap<String, Value> {
    static V: OnceLock<HashMap<String, Value>> = OnceLock::new();
    V.get_or_init(|| {
        let prog = seccomp::compile(&SeccompOptions::default()).unwrap();
        run_probe(Some(prog))
    })
}

fn filtered_inet() -> &'static HashMap<String, Value> {
    static V: OnceLock<HashMap<String, Value>> = OnceLock::new();
    V.get_or_init(|| {
        let prog = seccomp::compile(&SeccompOptions {
            allow_tcp4: true,
            ..SeccompOptions::default()
        })
        .unwrap();
        run_probe(Some(prog))
    })
}

fn control() -> &'static HashMap<String, Value> {
    static V: OnceLock<HashMap<String, Value>> = OnceLock::new();
    V.get_or_init(|| run_probe(None))
}

fn errno(v: &HashMap<String, Value>, case: &str) -> i64 {
    v[case]["errno"]
        .as_i64()
        .unwrap_or_else(|| panic!("{case}: {}", v[case]))
}

fn ret(v: &HashMap<String, Value>, case: &str) -> i64 {
    v[case]["ret"].as_i64().unwrap_or_else(|| panic!("{case}: {}", v[case]))
}

fn signal(v: &HashMap<String, Value>, case: &str) -> Option<i64> {
    v[case]["signal"].as_i64()
}

/// `case` fails with `expected` under the filter but not without it.
fn assert_denied(case: &str, expected: i64) {
    let (f, c) = (filtered(), control());
    assert_eq!(errno(f, case), expected, "{case} filtered: {}", f[case]);
    assert_ne!(errno(c, case), expected, "{case} control: {}", c[case]);
}

// ===== Canary =====

#[test]
fn tests_can_fail() {
    if !python_available() {
        return;
    }
    let c = control();
    assert_eq!(errno(c, "socket_netlink"), 0, "{}", c["socket_netlink"]);
    assert_eq!(ret(c, "unshare_newuser"), 0, "{}", c["unshare_newuser"]);
    assert_eq!(ret(c, "clone_newuser"), 1, "{}", c["clone_newuser"]);
    assert_eq!(errno(c, "clone3"), libc::EINVAL as i64);
    assert_eq!(errno(c, "tiocsti"), libc::ENOTTY as i64);
    assert_eq!(signal(c, "x32_getpid"), None);
    assert_eq!(signal(c, "int80_getpid"), None);
}

// ===== Python keeps working =====

#[test]
fn can_use_threads_fork_subprocess_and_asyncio() {
    if !python_available() {
        return;
    }
    let f = filtered();
    assert_eq!(ret(f, "thread"), 0);
    assert_eq!(ret(f, "fork"), 7);
    assert_eq!(ret(f, "subprocess"), 0);
    assert_eq!(ret(f, "asyncio"), 5);
    assert_eq!(ret(f, "clone_plain"), 1, "{}", f["clone_plain"]);
}

#[test]
fn can_query_personality_and_use_landlock() {
    if !python_available() {
        return;
    }
    let (f, c) = (filtered(), control());
    assert_eq!(ret(f, "personality_query"), ret(c, "personality_query"));
    assert!(ret(f, "personality_query") >= 0);
    // Allowed on purpose: same answer (ABI version or EOPNOTSUPP) as without the filter.
    assert_eq!(f["landlock_abi"], c["landlock_abi"]);
}

// ===== Reaching other processes and the kernel =====

#[test]
fn cannot_use_denied_syscalls() {
    if !python_available() {
        return;
    }
    for case in [
        "ptrace",
        "mount",
        "umount2",
        "setns",
        "bpf",
        "keyctl",
        "io_uring_setup",
        "perf_event_open",
        "userfaultfd",
        "open_by_handle_at",
        "process_vm_readv",
        "pidfd_getfd",
        "kcmp",
    ] {
        assert_denied(case, EPERM);
    }
}

#[test]
fn cannot_change_personality_flags() {
    if !python_available() {
        return;
    }
    assert_denied("personality_no_aslr", EPERM);
}

// ===== Namespaces =====

#[test]
fn cannot_unshare() {
    if !python_available() {
        return;
    }
    assert_denied("unshare_newuser", EPERM);
}

#[test]
fn cannot_clone_into_new_namespaces() {
    if !python_available() {
        return;
    }
    for case in ["clone_newuser", "clone_newnet", "clone_newns", "clone_newpid"] {
        assert_denied(case, EPERM);
    }
}

#[test]
fn clone3_reports_enosys() {
    if !python_available() {
        return;
    }
    assert_denied("clone3", ENOSYS);
}

// ===== Sockets =====

#[test]
fn can_use_unix_sockets() {
    if !python_available() {
        return;
    }
    for v in [filtered(), filtered_inet()] {
        assert_eq!(errno(v, "socket_unix"), 0);
        assert_eq!(errno(v, "socketpair"), 0);
    }
}

#[test]
fn cannot_open_other_socket_families() {
    if !python_available() {
        return;
    }
    for case in [
        "socket_inet",
        "socket_inet6",
        "socket_netlink",
        "socket_packet",
        "socket_netlink_high_bits",
        "socketpair_inet",
    ] {
        assert_denied(case, EAFNOSUPPORT);
    }
}

#[test]
fn allow_tcp4_opens_only_tcp_over_ipv4() {
    if !python_available() {
        return;
    }
    let v = filtered_inet();
    assert_eq!(errno(v, "socket_inet"), 0);
    assert_eq!(errno(v, "socket_inet6"), EAFNOSUPPORT);
    assert_eq!(errno(v, "socket_inet6_stream"), EAFNOSUPPORT);
    assert_eq!(errno(v, "socket_udp"), EAFNOSUPPORT);
    assert_eq!(errno(v, "socket_raw_inet"), EAFNOSUPPORT);
    // The control: without the filter, UDP sockets open (raw ones need a capability).
    assert_eq!(errno(control(), "socket_udp"), 0);
    assert_eq!(errno(v, "socket_netlink"), EAFNOSUPPORT);
    assert_eq!(errno(v, "socket_packet"), EAFNOSUPPORT);
}

// ===== Terminal =====

#[test]
fn cannot_inject_terminal_input_even_with_high_bits() {
    if !python_available() {
        return;
    }
    for case in ["tiocsti", "tiocsti_high_bits", "tiocsti_all_high_bits", "tioclinux"] {
        assert_denied(case, EPERM);
    }
    // Other ioctls still reach the kernel.
    assert_eq!(errno(filtered(), "tcgets"), errno(control(), "tcgets"));
}

#[test]
fn kernel_ignores_high_bits_of_ioctl_cmd() {
    if !python_available() {
        return;
    }
    // Why the filter compares 32 bits: `FIONREAD | 1 << 32` is still FIONREAD to the
    // kernel, so a 64-bit comparison against TIOCSTI would miss `TIOCSTI | 1 << 32`.
    for v in [control(), filtered()] {
        assert_eq!(ret(v, "fionread_high_bits"), 0, "{}", v["fionread_high_bits"]);
        assert_eq!(ret(v, "fionread_value"), 3);
    }
}

// ===== Other ABIs =====

#[test]
fn x32_syscall_kills_the_process() {
    if !python_available() {
        return;
    }
    let (f, c) = (filtered(), control());
    assert_eq!(signal(f, "x32_getpid"), Some(SIGSYS), "{}", f["x32_getpid"]);
    // Without the filter: ENOSYS (this kernel has no x32) or a pid, never a signal.
    assert_eq!(signal(c, "x32_getpid"), None);
}

#[test]
fn int80_syscall_kills_the_process() {
    if !python_available() {
        return;
    }
    let (f, c) = (filtered(), control());
    assert_eq!(signal(f, "int80_getpid"), Some(SIGSYS), "{}", f["int80_getpid"]);
    assert_eq!(signal(c, "int80_getpid"), None, "{}", c["int80_getpid"]);
}
