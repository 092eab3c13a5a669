//! One test per isolation property and per limit, each run through a real jail and checked
//! with evidence on the host. Attack payloads live in tests/escapes (escapes.rs); this file
//! proves each layer is in force and each limit is enforced and reported.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{control_code, jail_code, parse_result, status, stdout, stockade, system_python};

fn token() -> String {
    let mut buf = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut buf)
        .unwrap();
    format!("tok{}", buf.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Pids of host processes whose command line contains `needle`.
fn host_processes_with(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) && pid != std::process::id() as i32 {
                out.push(pid);
            }
        }
    }
    out
}

fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn is_root() -> bool {
    nix_euid() == 0
}

fn nix_euid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

// ===== Sanity =====

#[test]
fn can_run_hello_example() {
    let out = stockade()
        .args(["run", "--no-guard", "examples/hello.py"])
        .current_dir(common::repo())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("hello from CPython"), "{text}");
    assert!(text.contains("uid 1000 pid 2 cwd /tmp host stockade"), "{text}");
}

#[test]
fn exit_code_and_signal_pass_through() {
    let out = stockade()
        .args(["run", "--no-guard", "-c", "import sys; sys.exit(7)"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let out = stockade()
        .args([
            "run",
            "--no-guard",
            "-c",
            "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128 + 15));
    let r = jail_code("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", &[]);
    assert_eq!(status(&r), "killed");
    assert_eq!(r["signal"], 15);
}

#[test]
fn script_arguments_and_stdin_reach_the_code() {
    let mut child = stockade()
        .args([
            "run",
            "--no-guard",
            "-c",
            "import sys; print(sys.argv[1:], sys.stdin.read().upper())",
            "a",
            "--b",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"piped input").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "['a', '--b'] PIPED INPUT");
}

#[test]
fn program_from_stdin_with_dash() {
    let mut child = stockade()
        .args(["run", "--no-guard", "-", "x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"import sys\nprint('from stdin', sys.argv[1:])\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "from stdin ['x']");
}

// ===== User namespace =====

#[test]
fn user_namespace_maps_to_unprivileged_host_uid() {
    let tok = token();
    let mut child = stockade()
        .args([
            "run",
            "--no-guard",
            "--json",
            "-c",
            "import os, sys, time; print(os.getuid(), os.getgid()); sys.stdout.flush(); time.sleep(30)",
            &tok,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = wait_for(Duration::from_secs(10), || {
        host_processes_with(&tok).into_iter().find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .map(|c| c.contains("python"))
                .unwrap_or(false)
        })
    })
    .expect("jailed python visible on the host");
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = st.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
    let host_uids: Vec<u32> = uid_line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    let cap_eff = st.lines().find(|l| l.starts_with("CapEff:")).unwrap().to_string();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        host_uids.iter().all(|&u| u != 0),
        "jailed process is host root: {uid_line}"
    );
    if is_root() {
        assert!(
            host_uids.iter().all(|&u| u >= 0x4000_0000),
            "expected a per-run uid: {uid_line}"
        );
    }
    assert!(cap_eff.ends_with("0000000000000000"), "{cap_eff}");
}

// ===== Mount namespace and the minimal root =====

#[test]
fn root_holds_only_what_the_interpreter_needs() {
    let r = jail_code("import os; print(sorted(os.listdir('/')))", &[]);
    assert_eq!(status(&r), "ok", "{r}");
    assert_eq!(
        stdout(&r).trim(),
        "['dev', 'etc', 'lib', 'lib64', 'proc', 'root', 'sandbox', 'tmp', 'usr']"
    );
    let r = jail_code(
        "import os; print(sorted(os.listdir('/dev')))",
        &["--python", system_python()],
    );
    assert_eq!(
        stdout(&r).trim(),
        "['fd', 'full', 'null', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']"
    );
    let r = jail_code(
        "import os; print(sorted(os.listdir('/etc')))",
        &["--python", system_python()],
    );
    assert_eq!(
        stdout(&r).trim(),
        "['group', 'hostname', 'hosts', 'ld.so.cache', 'nsswitch.conf', 'passwd']"
    );
}

#[test]
fn host_files_are_not_in_the_jail() {
    let dir = tempfile::tempdir().unwrap();
    let tok = token();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, &tok).unwrap();
    let code = format!(
        "import os\nfor p in [{:?}, '/etc/shadow', '/root/.bashrc', '/home']:\n    try:\n        print(open(p).read())\n    except Exception as e:\n        print(type(e).__name__)",
        secret.display().to_string()
    );
    let r = jail_code(&code, &[]);
    assert!(!r.to_string().contains(&tok), "secret leaked: {r}");
    assert_eq!(stdout(&r).lines().filter(|l| l.contains("Error")).count(), 4, "{r}");
    let control = control_code(&code, 10);
    assert!(
        String::from_utf8_lossy(&control.stdout).contains(&tok),
        "control could not read the secret"
    );
}

#[test]
fn root_and_binds_are_read_only_and_scratch_is_writable() {
    let code = "import os\nfor p in ['/x', '/etc/passwd', '/usr/x', '/sandbox/x', '/dev/x', '/proc/x']:\n    try:\n        open(p, 'w').write('x'); print('WROTE', p)\n    except OSError as e:\n        print(p, e.errno)\nopen('/tmp/ok', 'w').write('y'); print('scratch', open('/tmp/ok').read())";
    let r = jail_code(code, &[]);
    assert!(!stdout(&r).contains("WROTE"), "{r}");
    assert!(stdout(&r).contains("scratch y"), "{r}");
}

#[test]
fn mountinfo_shows_no_host_paths() {
    let dir = tempfile::tempdir().unwrap();
    let r = jail_code("print(open('/proc/self/mountinfo').read())", &[]);
    let info = stdout(&r);
    assert!(!info.contains("/work"), "{info}");
    assert!(!info.contains(&dir.path().display().to_string()));
    assert!(info.lines().any(|l| l.contains(" / / ")), "{info}");
}

// ===== Core dumps =====

/// A crash must not start the host's core-dump helper (a piped `kernel.core_pattern` runs it as
/// root outside the jail): RLIMIT_CORE is 1, which the kernel reads as "no dump", and the jail
/// cannot lower it to 0 (`jail_code` runs without the guard: the jail is what is tested).
/// Control: outside, both calls lower it.
#[test]
fn core_dumps_cannot_be_turned_back_on() {
    let code = "import resource\nC = resource.RLIMIT_CORE\nprint('limit', resource.getrlimit(C))\n\
                for how in ('setrlimit', 'prlimit'):\n    try:\n        \
                resource.setrlimit(C, (0, 0)) if how == 'setrlimit' else resource.prlimit(0, C, (0, 0))\n        \
                print(how, 'LOWERED')\n    except (OSError, ValueError) as e:\n        print(how, 'refused', e)\n\
                print('after', resource.getrlimit(C))";
    let r = jail_code(code, &[]);
    let out = stdout(&r);
    assert!(out.contains("limit (1, 1)"), "{r}");
    // (Python reports setrlimit's EPERM as "not allowed to raise maximum limit".)
    assert!(
        out.contains("setrlimit refused") && out.contains("prlimit refused"),
        "{r}"
    );
    assert!(!out.contains("LOWERED") && out.contains("after (1, 1)"), "{r}");
    let control = control_code(code, 10);
    let c = String::from_utf8_lossy(&control.stdout);
    assert!(c.contains("setrlimit LOWERED") && c.contains("prlimit LOWERED"), "{c}");
}

// ===== Pid namespace =====

#[test]
fn pid_namespace_shows_only_the_run() {
    let r = jail_code(
        "import os; print(os.getpid(), sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
        &[],
    );
    assert_eq!(stdout(&r).trim(), "2 [1, 2]", "{r}");
}

#[test]
fn no_process_outlives_the_run() {
    let tok = token();
    let code = format!(
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execv('{}', ['python', '-c', 'import time; time.sleep(60)', '{tok}'])\n    os._exit(0)\ntime.sleep(0.3)\nprint('parent done')",
        system_python()
    );
    let r = jail_code(&code, &["--python", system_python()]);
    assert_eq!(status(&r), "ok", "{r}");
    assert!(host_processes_with(&tok).is_empty(), "a daemon survived the run");
    // Control: without the jail the daemon does outlive its parent (inside the control's own
    // pid namespace, which the control's unshare tears down afterwards).
    let control = Command::new("timeout")
        .args([
            "-s",
            "KILL",
            "10",
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            "sh",
            "-c",
        ])
        .arg(format!(
            "{} -c \"$1\"; sleep 0.5; grep -l {tok} /proc/[0-9]*/cmdline | wc -l",
            system_python()
        ))
        .arg("sh")
        .arg(&code)
        .output()
        .unwrap();
    let survivors: i32 = String::from_utf8_lossy(&control.stdout)
        .lines()
        .last()
        .unwrap_or("0")
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(survivors >= 1, "control daemon did not survive: {control:?}");
}

#[test]
fn killing_stockade_kills_the_jail() {
    let tok = token();
    let mut child = stockade()
        .args([
            "run",
            "--no-guard",
            "--python",
            system_python(),
            "-c",
            "import time; time.sleep(60)",
            &tok,
        ])
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(10), || {
        (host_processes_with(&tok).len() >= 2).then_some(())
    })
    .expect("jail started");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let gone = wait_for(Duration::from_secs(5), || {
        host_processes_with(&tok).is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "jail survived SIGKILL of stockade: {:?}",
        host_processes_with(&tok)
    );
}

#[test]
fn nothing_of_the_run_is_left_on_the_host() {
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count();
    let child = stockade()
        .args([
            "run",
            "--no-guard",
            "--json",
            "-c",
            "import os; open('/tmp/big', 'wb').write(os.urandom(1 << 20)); os.fork(); os.fork()",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let supervisor = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(status(&parse_result(&out)), "ok");
    let mounts_after = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count();
    assert_eq!(mounts_before, mounts_after);
    let prefix = format!("run-{supervisor}-");
    let mut bases = vec![
        "/sys/fs/cgroup/pids/stockade".to_string(),
        "/sys/fs/cgroup/cpuacct/stockade".to_string(),
    ];
    for line in std::fs::read_to_string("/proc/self/cgroup").unwrap().lines() {
        if let Some(path) = line
            .strip_prefix(|c: char| c.is_ascii_digit())
            .and_then(|l| l.strip_prefix(":memory:"))
        {
            bases.push(format!("/sys/fs/cgroup/memory{}/stockade", path.trim_end_matches('/')));
        }
    }
    for base in bases {
        if let Ok(entries) = std::fs::read_dir(&base) {
            let left: Vec<_> = entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .collect();
            assert!(left.is_empty(), "run cgroup left in {base}");
        }
    }
}

// ===== Network namespace =====

#[test]
fn network_namespace_has_only_loopback_and_no_route_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        "import socket\nprint(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2); print('CONNECTED')\nexcept OSError as e:\n    print('refused', e.errno)"
    );
    let r = jail_code(&code, &[]);
    assert!(stdout(&r).starts_with("['lo']"), "{r}");
    assert!(!stdout(&r).contains("CONNECTED"));
    assert!(
        listener.accept().is_err(),
        "the listener got a connection from the jail"
    );
    let control = control_code(&code, 10);
    assert!(
        String::from_utf8_lossy(&control.stdout).contains("CONNECTED"),
        "{control:?}"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(listener.accept().is_ok(), "control connection not seen");
}

// ===== IPC, UTS and cgroup namespaces =====

#[test]
fn ipc_namespace_hides_host_shared_memory() {
    let made = Command::new("ipcmk").args(["-M", "4096"]).output().unwrap();
    let text = String::from_utf8_lossy(&made.stdout).to_string();
    let id: String = text.split_whitespace().last().unwrap_or("").to_string();
    let code = "print(len(open('/proc/sysvipc/shm').readlines()) - 1)";
    let r = jail_code(code, &[]);
    let host_count = std::fs::read_to_string("/proc/sysvipc/shm").unwrap().lines().count() - 1;
    let _ = Command::new("ipcrm").args(["-m", &id]).output();
    assert!(host_count >= 1, "host segment missing: {text}");
    assert_eq!(stdout(&r).trim(), "0", "{r}");
}

#[test]
fn uts_namespace_has_its_own_hostname() {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let r = jail_code("import socket, os\nprint(socket.gethostname())\ntry:\n    socket.sethostname('evil')\nexcept OSError as e:\n    print('denied', e.errno)", &[]);
    assert_eq!(stdout(&r), "stockade\ndenied 1\n", "{r}");
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), host);
}

#[test]
fn cgroup_namespace_hides_the_host_hierarchy() {
    let r = jail_code("print(open('/proc/self/cgroup').read())", &[]);
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for line in stdout(&r).lines().filter(|l| !l.is_empty()) {
        let path = line.splitn(3, ':').nth(2).unwrap();
        assert!(
            path == "/" || !own.contains(path) || path.len() < 2,
            "host cgroup path visible: {line}"
        );
        assert!(!line.contains("stockade/run-"), "{line}");
    }
}

// ===== Privileges, Landlock and seccomp =====

#[test]
fn cgroup_v1_migrations_are_made_cheap_and_doctor_says_so() {
    // On cgroup v1 every run's first cgroup move waited an RCU grace period (5-25 ms). As root
    // on Linux 6.0+ stockade mounts a controller-less v1 hierarchy with `favordynmods`, which
    // keeps the kernel's threadgroup rwsem off its fast path so moves never wait.
    let r = jail_code("print('ran')", &[]);
    assert_eq!(status(&r), "ok", "{r}");
    let v1 = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.contains("memory"));
    let out = stockade().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !v1 || !is_root() {
        assert!(!text.contains("favordynmods"), "{text}");
        return;
    }
    let favoured = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.contains("favordynmods"));
    if text.contains("does not offer favordynmods") {
        assert!(!favoured, "{text}");
        return; // an older kernel: reported, nothing mounted
    }
    assert!(favoured, "no favordynmods hierarchy after a run: {text}");
    assert!(
        text.contains("cgroup v1 migrations skip the RCU grace period (favordynmods"),
        "{text}"
    );
}

#[test]
fn no_capabilities_no_new_privs_seccomp_on() {
    let r = jail_code("print(''.join(l for l in open('/proc/self/status') if l.split(':')[0] in ('CapInh','CapPrm','CapEff','CapBnd','CapAmb','NoNewPrivs','Seccomp')))", &[]);
    let text = stdout(&r);
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(cap) && l.ends_with("0000000000000000")),
            "{cap}: {text}"
        );
    }
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    // Securebits locked (NOROOT, NO_SETUID_FIXUP, KEEP_CAPS_LOCKED, NO_CAP_AMBIENT_RAISE + locks).
    let r = jail_code(
        "import ctypes\nprint(hex(ctypes.CDLL(None).prctl(27, 0, 0, 0, 0)))",
        &[],
    );
    assert_eq!(stdout(&r).trim(), "0xef", "{r}");
}

#[test]
fn new_namespaces_and_mounts_are_refused() {
    let code = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nfor name, call in [('unshare', lambda: libc.unshare(0x10000000)), ('mount', lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)), ('setns', lambda: libc.setns(0, 0))]:\n    rc = call(); print(name, rc, ctypes.get_errno())";
    let r = jail_code(code, &[]);
    assert_eq!(stdout(&r), "unshare -1 1\nmount -1 1\nsetns -1 1\n", "{r}");
}

#[test]
fn environment_holds_only_what_the_policy_names() {
    let tok = token();
    let out = stockade()
        .args([
            "run",
            "--no-guard",
            "--json",
            "-c",
            "import os; print(sorted(os.environ))",
        ])
        .env("STOCKADE_TEST_SECRET", &tok)
        .output()
        .unwrap();
    let r = parse_result(&out);
    assert_eq!(
        stdout(&r).trim(),
        "['HOME', 'LANG', 'PATH', 'PYTHONNOUSERSITE', 'PYTHONPATH']",
        "{r}"
    );
    assert!(!r.to_string().contains(&tok));
}

#[test]
fn only_stdio_is_open_in_the_jail() {
    let r = jail_code(
        "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))",
        &[],
    );
    // 0-2, the report channel (3), and the directory fd listdir itself holds.
    assert_eq!(stdout(&r).trim(), "[0, 1, 2, 3, 4]", "{r}");
}

// ===== Limits =====

#[test]
fn wall_time_limit() {
    let r = jail_code("import time; time.sleep(30)", &["--timeout", "1"]);
    assert_eq!(status(&r), "timeout", "{r}");
    let wall = r["usage"]["wall_ms"].as_u64().unwrap();
    assert!((1000..2500).contains(&wall), "{wall}");
    let out = stockade()
        .args(["run", "--no-guard", "--timeout", "0.5", "-c", "while True: pass"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
}

#[test]
fn cpu_time_limit() {
    let r = jail_code("while True: pass", &["--cpu", "1", "--timeout", "10"]);
    assert_eq!(status(&r), "cpu_limit", "{r}");
    assert!(r["usage"]["wall_ms"].as_u64().unwrap() < 5000);
}

#[test]
fn cpu_time_limit_counts_all_processes() {
    let code = "import os\nfor _ in range(3):\n    if os.fork() == 0:\n        while True: pass\nwhile True: pass";
    let r = jail_code(code, &["--cpu", "2", "--timeout", "20"]);
    assert_eq!(status(&r), "cpu_limit", "{r}");
    assert!(r["usage"]["wall_ms"].as_u64().unwrap() < 6000, "{r}");
}

#[test]
fn memory_limit() {
    let r = jail_code(
        "b = bytearray(512 * 1024 * 1024); print('allocated')",
        &["--memory", "64M"],
    );
    assert_eq!(status(&r), "memory_limit", "{r}");
    assert!(!stdout(&r).contains("allocated"));
    let r = jail_code(
        "b = bytearray(32 * 1024 * 1024); print('allocated')",
        &["--memory", "128M"],
    );
    assert_eq!(status(&r), "ok", "{r}");
}

#[test]
fn process_limit_fork_bomb() {
    let r = jail_code(
        "import os\nwhile True:\n    os.fork()",
        &["--pids", "16", "--timeout", "10"],
    );
    assert_eq!(status(&r), "pids_limit", "{r}");
}

#[test]
fn process_limit_thread_bomb() {
    let r = jail_code(
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(10,), daemon=True).start()",
        &["--pids", "16", "--timeout", "10"],
    );
    assert_eq!(status(&r), "pids_limit", "{r}");
}

#[test]
fn file_size_limit() {
    let r = jail_code("open('/tmp/f', 'wb').write(b'x' * (2 << 20))", &["--file-size", "1M"]);
    assert_eq!(status(&r), "file_limit", "{r}");
}

#[test]
fn scratch_size_limit() {
    let code = "import os\nn = 0\ntry:\n    for i in range(1000):\n        open(f'/tmp/f{i}', 'wb').write(b'x' * (256 << 10)); n += 1\nexcept OSError as e:\n    print('stopped', e.errno, n)";
    let r = jail_code(code, &["--scratch", "4M"]);
    let text = stdout(&r);
    assert!(text.starts_with("stopped 28 "), "{r}");
    let n: u32 = text.split_whitespace().last().unwrap().parse().unwrap();
    assert!(n <= 16, "{n} files of 256K in a 4M scratch");
}

#[test]
fn open_files_limit() {
    let code = "fs = []\ntry:\n    while True: fs.append(open('/dev/null'))\nexcept OSError as e:\n    print(e.errno, len(fs))";
    let r = jail_code(code, &["--open-files", "32"]);
    let text = stdout(&r);
    assert!(text.starts_with("24 "), "{r}");
    let n: u32 = text.split_whitespace().last().unwrap().parse().unwrap();
    assert!(n <= 32);
}

#[test]
fn output_limit_cuts_and_stops() {
    let r = jail_code(
        "import sys\nwhile True: sys.stdout.write('x' * 4096)",
        &["--output", "64K", "--timeout", "10"],
    );
    assert_eq!(status(&r), "output_limit", "{r:.200}");
    assert_eq!(stdout(&r).len(), 64 * 1024);
    assert_eq!(r["stdout_truncated"], true);
    let r = jail_code(
        "import sys\nwhile True: sys.stderr.write('y' * 4096)",
        &["--output", "16K", "--timeout", "10"],
    );
    assert_eq!(status(&r), "output_limit");
    assert_eq!(r["stderr"].as_str().unwrap().len(), 16 * 1024);
    assert_eq!(r["stderr_truncated"], true);
}

#[test]
fn limits_and_isolation_are_reported() {
    let r = jail_code("pass", &["--memory", "100M", "--pids", "20"]);
    assert_eq!(r["limits"]["memory_bytes"], 100 * 1024 * 1024);
    assert_eq!(r["limits"]["processes"], 20);
    let layers = r["isolation"]["layers"].as_array().unwrap();
    for name in [
        "user-namespace",
        "mount-namespace",
        "pid-namespace",
        "network-namespace",
        "ipc-namespace",
        "uts-namespace",
        "cgroup-namespace",
        "capabilities",
        "no-new-privs",
        "landlock",
        "seccomp",
    ] {
        let layer = layers
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("no layer {name}"));
        assert_eq!(layer["active"], true, "{layer}");
    }
    assert_eq!(r["isolation"]["degraded"], false);
    // Limits are reported as the jail's cgroup enforces them, not as the host could.
    let memory = layers.iter().find(|l| l["name"] == "memory-limit").unwrap();
    let joined = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.contains("memory") || l.contains(" - cgroup2 "));
    if joined {
        assert!(memory["mechanism"].as_str().unwrap().contains("(joined)"), "{memory}");
    }
    for key in ["wall_ms", "user_cpu_ms", "sys_cpu_ms", "peak_memory_kib"] {
        assert!(r["usage"][key].is_u64(), "{key}");
    }
}

#[test]
fn a_symlinked_read_only_bind_is_resolved_once_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("x.txt"), "through the link").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&data, &link).unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[[filesystem.read-only]]\nhost = {:?}\njail = \"/data\"\n",
            link.display().to_string()
        ),
    )
    .unwrap();
    let r = jail_code(
        "print(open('/data/x.txt').read())",
        &["--policy", policy.to_str().unwrap()],
    );
    assert_eq!(stdout(&r), "through the link\n", "{r}");
    let mount = r["isolation"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "mount-namespace")
        .unwrap()["mechanism"]
        .as_str()
        .unwrap()
        .to_string();
    let real = std::fs::canonicalize(&data).unwrap();
    assert!(
        mount.contains(&format!(
            "{} (the symlink {} resolved) bound at /data",
            real.display(),
            link.display()
        )),
        "{mount}"
    );
}

// ===== Fail closed =====

#[test]
fn missing_layer_is_refused_unless_degraded_is_allowed() {
    let out = stockade()
        .args(["run", "--no-guard", "-c", "print('ran')"])
        .env("STOCKADE_DISABLE_LAYERS", "landlock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(122));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("landlock") && err.contains("--allow-degraded"), "{err}");
    let out = stockade()
        .args(["run", "--no-guard", "--json", "--allow-degraded", "-c", "print('ran')"])
        .env("STOCKADE_DISABLE_LAYERS", "landlock,seccomp")
        .output()
        .unwrap();
    let r = parse_result(&out);
    assert_eq!(stdout(&r), "ran\n");
    assert_eq!(r["isolation"]["degraded"], true);
    let missing: Vec<&str> = r["isolation"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["active"] == false)
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["landlock", "seccomp", "guard"]);
}

// ===== Interpreters, venvs, unprivileged callers =====

#[test]
fn pyenv_shim_is_resolved_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("shims")).unwrap();
    std::fs::create_dir_all(root.join("versions/fake/bin")).unwrap();
    std::os::unix::fs::symlink(system_python(), root.join("versions/fake/bin/python3")).unwrap();
    std::fs::write(
        root.join("shims/python3"),
        "#!/usr/bin/env bash\nexec pyenv exec python3 \"$@\"\n",
    )
    .unwrap();
    std::fs::write(root.join("version"), "fake\n").unwrap();
    let path = format!("{}:/usr/bin:/bin", root.join("shims").display());
    let out = stockade()
        .args(["run", "--no-guard", "-c", "import sys; print(sys.executable)"])
        .env("PATH", path)
        .env("PYENV_ROOT", root)
        .env_remove("PYENV_VERSION")
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), system_python(), "{out:?}");
}

#[test]
fn script_interpreter_is_rejected_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("python3");
    std::fs::write(&fake, "#!/bin/sh\necho hi\n").unwrap();
    let out = stockade()
        .args(["run", "--no-guard", "--python"])
        .arg(&fake)
        .args(["-c", "pass"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a script, not an interpreter binary"));
}

fn numpy_venv() -> std::path::PathBuf {
    common::numpy_venv()
}

#[test]
fn numpy_from_a_venv_works() {
    let venv = numpy_venv();
    let r = jail_code(
        "import numpy as np\na = np.arange(12.0).reshape(3, 4)\nprint(np.__version__.split('.')[0], a.sum(), (a @ a.T).trace())",
        &["--venv", venv.to_str().unwrap(), "--memory", "512M"],
    );
    assert_eq!(status(&r), "ok", "{r}");
    assert!(stdout(&r).trim().ends_with("66.0 506.0"), "{r}");
    // The venv is read-only.
    let r = jail_code(
        &format!("open('{}/pwned', 'w')", venv.display()),
        &["--venv", venv.to_str().unwrap()],
    );
    assert_eq!(status(&r), "error");
    assert!(!venv.join("pwned").exists());
}

fn as_nobody(args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_stockade"))
        .args(args)
        .env("HOME", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn runs_as_an_ordinary_user() {
    if !is_root() {
        eprintln!("skipped: needs root to switch to nobody");
        return;
    }
    let out = as_nobody(&[
        "run",
        "--no-guard",
        "--json",
        "--python",
        system_python(),
        "-c",
        "import os; print(os.getuid(), open('/etc/hostname').read().strip())",
    ]);
    let r = parse_result(&out);
    assert_eq!(status(&r), "ok", "{r}");
    assert_eq!(stdout(&r).trim(), "1000 stockade");
    assert_eq!(r["limits"]["memory_mechanism"], "rlimit-as", "{r}");
    let user_ns = r["isolation"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "user-namespace")
        .unwrap()
        .clone();
    assert!(
        user_ns["mechanism"].as_str().unwrap().contains("host uid 65534"),
        "{user_ns}"
    );
    // Limits still hold without cgroups.
    let out = as_nobody(&[
        "run",
        "--no-guard",
        "--json",
        "--python",
        system_python(),
        "--memory",
        "64M",
        "-c",
        "b = bytearray(256 << 20)",
    ]);
    assert_eq!(status(&parse_result(&out)), "memory_limit");
    let out = as_nobody(&[
        "run",
        "--no-guard",
        "--json",
        "--python",
        system_python(),
        "--pids",
        "8",
        "-c",
        "import os\nwhile True: os.fork()",
    ]);
    let r = parse_result(&out);
    assert!(["pids_limit", "error"].contains(&status(&r)), "{r}");
    assert!(
        r["stderr"]
            .as_str()
            .unwrap()
            .contains("Resource temporarily unavailable"),
        "{r}"
    );
}

#[test]
fn jail_init_shows_no_host_arguments_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let tok = token();
    let script = dir.path().join(format!("{tok}.py"));
    std::fs::write(&script, "print(repr(open('/proc/1/cmdline').read().rstrip('\\0')))\ntry:\n    open('/proc/1/environ').read()\nexcept OSError as e:\n    print('environ', e.errno)\n").unwrap();
    let out = stockade()
        .args(["run", "--no-guard", "--json"])
        .arg(&script)
        .env("STOCKADE_TEST_SECRET", &tok)
        .output()
        .unwrap();
    let r = parse_result(&out);
    assert_eq!(stdout(&r), "'stockade-init'\nenviron 13\n", "{r}");
    assert!(!stdout(&r).contains(&tok));
}

#[test]
fn secret_values_never_appear_in_results_logs_or_passthrough() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "version = 1\n[env]\npass = [\"API_TOKEN\"]\nsecret = [\"API_TOKEN\"]\n",
    )
    .unwrap();
    let log = dir.path().join("audit.jsonl");
    let tok = format!("sk-{}", token());
    let code = "import os, sys\nt = os.environ['API_TOKEN']\nprint('out', t)\nprint('err', t, file=sys.stderr)\nos.system('echo ' + t)";
    let out = stockade()
        .args(["run", "--json", "--policy"])
        .arg(&policy)
        .arg("--audit-log")
        .arg(&log)
        .args(["-c", code])
        .env("API_TOKEN", &tok)
        .output()
        .unwrap();
    let r = parse_result(&out);
    assert_eq!(stdout(&r), "out [secret]\n", "{r}");
    assert!(r["stderr"].as_str().unwrap().starts_with("err [secret]\n"), "{r}");
    assert!(!r.to_string().contains(&tok));
    let trail = std::fs::read_to_string(&log).unwrap();
    assert!(trail.contains("os.system"), "{trail}");
    assert!(!trail.contains(&tok), "{trail}");
    // Passthrough mode redacts the live stream too.
    let out = stockade()
        .args(["run", "--policy"])
        .arg(&policy)
        .args(["-c", code])
        .env("API_TOKEN", &tok)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("out [secret]"), "{all}");
    assert!(!all.contains(&tok), "{all}");
}

#[test]
fn stopping_stockade_with_sigterm_still_reports_and_cleans_up() {
    let tok = token();
    let child = stockade()
        .args([
            "run",
            "--no-guard",
            "--json",
            "--python",
            system_python(),
            "-c",
            "import time; print('started', flush=True); time.sleep(60)",
            &tok,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(10), || {
        (host_processes_with(&tok).len() >= 2).then_some(())
    })
    .expect("jail started");
    // Let the interpreter reach its print before stopping it.
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let r = parse_result(&out);
    assert_eq!(status(&r), "killed", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("signal 15"), "{r}");
    assert_eq!(stdout(&r), "started\n");
    assert!(wait_for(Duration::from_secs(5), || host_processes_with(&tok)
        .is_empty()
        .then_some(()))
    .is_some());
}

/// A venv under the host's /tmp would be hidden by the jail's scratch (/tmp): stockade binds it
/// under /run/host instead, and it stays importable (with the guard, its packages allowed).
#[test]
fn venv_under_host_tmp_is_importable() {
    let dir = tempfile::tempdir().unwrap(); // under the host's /tmp
    let venv = dir.path().join("venv");
    assert!(Command::new(system_python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap()
        .success());
    std::fs::write(venv.join("lib/python3.11/site-packages/tmpmod.py"), "VALUE = 42\n").unwrap();
    let out = stockade()
        .args(["run", "--json", "--venv"])
        .arg(&venv)
        .args([
            "-c",
            "import tmpmod, sys; print(tmpmod.VALUE, tmpmod.__file__.startswith('/run/host/'))",
        ])
        .output()
        .unwrap();
    let r = parse_result(&out);
    assert_eq!(stdout(&r), "42 True\n", "{r}");
}

/// Of a venv, only its site-packages enter the jail: the rest of the directory is the host's
/// (pip.conf with a private index's token here). Control: the same code outside the jail reads
/// the token.
#[test]
fn only_the_venvs_site_packages_are_visible() {
    // Bound at its own path, and (under the host's /tmp) relocated under /run/host.
    for dir in [
        tempfile::tempdir_in(common::repo().join("target")).unwrap(),
        tempfile::tempdir().unwrap(),
    ] {
        venv_shows_only_site_packages(&dir.path().join("venv"));
    }
}

fn venv_shows_only_site_packages(venv: &std::path::Path) {
    assert!(Command::new(system_python())
        .args(["-m", "venv", "--without-pip"])
        .arg(venv)
        .status()
        .unwrap()
        .success());
    let secret = token();
    std::fs::write(
        venv.join("pip.conf"),
        format!("[global]\nindex-url = https://ci:{secret}@pypi.example.invalid/simple\n"),
    )
    .unwrap();
    std::fs::write(venv.join("lib/python3.11/site-packages/venvmod.py"), "VALUE = 7\n").unwrap();
    // The venv's root as the code sees it (a venv under the host's /tmp is under /run/host).
    let code = "import os, venvmod\nprint('import', venvmod.VALUE)\n\
                root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(venvmod.__file__))))\n\
                found = []\nfor d, _, fs in os.walk(root):\n    for f in fs:\n        try:\n            \
                found.append(open(os.path.join(d, f), errors='replace').read())\n        except OSError:\n            pass\n\
                print('files', len(found), 'pip.conf' in os.listdir(root))\nprint('\\n'.join(found))";
    let out = stockade()
        .args(["run", "--json", "--no-guard", "--venv"])
        .arg(venv)
        .args(["-c", code])
        .output()
        .unwrap();
    let r = parse_result(&out);
    assert!(stdout(&r).starts_with("import 7\n"), "{r}");
    assert!(!stdout(&r).contains(&secret), "{r}");
    assert!(stdout(&r).contains("files 1 False"), "{r}");
    let site = venv.join("lib/python3.11/site-packages");
    let control = control_code(
        &format!(
            "import sys; sys.path.insert(0, {:?})\n{code}",
            site.display().to_string()
        ),
        20,
    );
    assert!(
        String::from_utf8_lossy(&control.stdout).contains(&secret),
        "{control:?}"
    );
}
