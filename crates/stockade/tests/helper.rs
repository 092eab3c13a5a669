//! `stockade helper`: `stockade run` in a jail built ahead gives what a jail built on the spot
//! gives — same output, exit codes, statuses and limits; a fresh jail and scratch every time; a
//! `/sandbox` the code cannot write; the caller's stop reaching the run — and a helper serves only
//! its own user, while `stockade run` talks only to its own user's helper.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{parse_result, stockade, system_python};

const AHEAD: &str = "stockade helper: in the jail built ahead";
const DECLINED: &str = "stockade helper: declined";

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A helper on a socket of its own; stopped (SIGTERM) when dropped.
struct Helper {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Helper {
    fn start(extra: &[&str]) -> Helper {
        Helper::start_as(extra, None, &[])
    }

    /// `uid`: run the helper as that user (root only), its socket in a directory it owns;
    /// `env`: more of the helper's environment.
    fn start_as(extra: &[&str], uid: Option<u32>, env: &[(&str, &str)]) -> Helper {
        Helper::start_under(&[], extra, uid, env)
    }

    /// The same, the helper started through `wrapper` (a command and its flags, e.g. prlimit).
    fn start_under(wrapper: &[&str], extra: &[&str], uid: Option<u32>, env: &[(&str, &str)]) -> Helper {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("helper.sock");
        let mut cmd = match uid {
            Some(uid) => {
                std::os::unix::fs::chown(dir.path(), Some(uid), Some(uid)).unwrap();
                std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
                let mut c = Command::new("setpriv");
                c.args([
                    &format!("--reuid={uid}"),
                    &format!("--regid={uid}"),
                    "--clear-groups",
                    "--",
                ])
                .arg(env!("CARGO_BIN_EXE_stockade"))
                .env("HOME", "/nonexistent");
                c
            }
            None if !wrapper.is_empty() => {
                let mut c = Command::new(wrapper[0]);
                c.args(&wrapper[1..]).arg(env!("CARGO_BIN_EXE_stockade"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_stockade")),
        };
        let child = cmd
            .args(["helper", "--socket"])
            .arg(&socket)
            .args(["--python", system_python(), "--timeout", "10"])
            .args(extra)
            .env("STOCKADE_HELPER_TRACE", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "the helper never made its socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        Helper {
            child,
            socket,
            _dir: dir,
        }
    }

    /// `stockade run` (with the helper's flags) through this helper.
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = stockade();
        c.env("STOCKADE_HELPER", &self.socket)
            .args(["run", "--python", system_python(), "--timeout", "10"])
            .args(args);
        c
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // A test may have left it stopped: SIGTERM waits for a stopped process to go on.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap()),
            nix::sys::signal::Signal::SIGCONT,
        );
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap()),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// The same `stockade run` in a jail of its own, built on the spot.
fn local(args: &[&str]) -> Output {
    stockade()
        .args(["run", "--python", system_python(), "--timeout", "10"])
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What must be equal between the two: the run's own observable outcome.
fn outcome(o: &Output) -> serde_json::Value {
    let r = parse_result(o);
    serde_json::json!({
        "exit": o.status.code(),
        "status": r["status"],
        "exit_code": r["exit_code"],
        "stdout": r["stdout"],
        "stderr": r["stderr"],
        "limits": r["limits"],
        "violations": r["violations"].as_array().map(|v| v.iter().map(|x| x["rule"].clone()).collect::<Vec<_>>()),
        "layers": r["isolation"]["layers"].as_array().map(|v| v.iter().map(|x| (x["name"].clone(), x["active"].clone())).collect::<Vec<_>>()),
    })
}

#[test]
fn a_run_in_the_jail_built_ahead_is_the_run_of_a_jail_built_on_the_spot() {
    if !is_root() {
        eprintln!("skipped: needs root (the jail's cgroups)");
        return;
    }
    let helper = Helper::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("prog.py");
    std::fs::write(
        &script,
        "import sys\nprint('script', __file__, sys.argv[1:])\nsys.exit(3)\n",
    )
    .unwrap();
    let script = script.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["--json", "-c", "print(sum(range(10)))"],
        vec!["--json", "-c", "import sys; print(sys.argv)", "a", "b c"],
        vec!["--json", script, "x", "--y"],
        vec!["--json", "-c", "raise SystemExit(7)"],
        vec!["--json", "-c", "open('/etc/shadow').read()"],
        vec![
            "--json",
            "-c",
            "import socket; socket.create_connection(('127.0.0.1', 9))",
        ],
        vec![
            "--json",
            "-c",
            "import os, json; print(json.dumps(sorted(os.listdir('/tmp'))), os.getcwd())",
        ],
        vec!["--json", "-c", "while True: pass"],
    ];
    for args in &cases {
        let ahead = helper.run(args);
        assert!(stderr(&ahead).contains(AHEAD), "{args:?}: {}", stderr(&ahead));
        let spot = local(args);
        assert_eq!(outcome(&ahead), outcome(&spot), "{args:?}");
    }
    // Live output, stdin and the exit code, without --json.
    let mut child = helper
        .command(&[
            "-c",
            "import sys; print(sys.stdin.read().upper()); sys.stderr.write('e\\n'); sys.exit(5)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"from the caller").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "FROM THE CALLER\n");
    assert!(
        stderr(&out).contains("e\n") && stderr(&out).contains(AHEAD),
        "{}",
        stderr(&out)
    );
    // A caller whose stdin is closed (the runtime gives it /dev/null) is served as well.
    let closed = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 0<&-; exec {} run --python {} -c 'import sys; print(7, repr(sys.stdin.read()))'",
            env!("CARGO_BIN_EXE_stockade"),
            system_python()
        ))
        .env("STOCKADE_HELPER", &helper.socket)
        .output()
        .unwrap();
    assert!(closed.status.success(), "{}", stderr(&closed));
    assert_eq!(String::from_utf8_lossy(&closed.stdout), "7 ''\n");
    assert!(stderr(&closed).contains(AHEAD), "{}", stderr(&closed));
}

#[test]
fn every_run_gets_a_fresh_jail_and_cannot_write_its_sandbox() {
    if !is_root() {
        eprintln!("skipped: needs root (the jail's cgroups)");
        return;
    }
    // The jail alone (no guard, which would refuse these writes first): Landlock is what holds.
    let helper = Helper::start(&["--no-guard"]);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("self.py");
    // The run tries to leave something for the next one in every place it can name.
    std::fs::write(
        &script,
        r#"
import os, json
seen = {p: os.path.exists(p) for p in ("/tmp/left", "/sandbox/left", "/dev/shm/left")}
out = {"seen": seen, "pid": os.getpid()}
for p in ("/tmp/left", "/sandbox/left", "/sandbox/self.py"):
    try:
        with open(p, "a") as f:
            f.write("x")
        out[p] = "written"
    except OSError as e:
        out[p] = e.errno
try:
    os.chmod("/sandbox/self.py", 0o666)
    with open("/sandbox/self.py", "a") as f:
        f.write("x")
    out["chmod+write"] = "written"
except OSError as e:
    out["chmod+write"] = e.errno
mounts = [l.split() for l in open("/proc/self/mountinfo")]
out["sandbox_mount"] = [m[5].split(",")[0] for m in mounts if m[4] == "/sandbox"]
print(json.dumps(out))
"#,
    )
    .unwrap();
    let script = script.to_str().unwrap();
    let mut runs = Vec::new();
    for _ in 0..3 {
        let o = helper.run(&["--no-guard", "--json", script]);
        assert!(stderr(&o).contains(AHEAD), "{}", stderr(&o));
        let r = parse_result(&o);
        let line: serde_json::Value = serde_json::from_str(r["stdout"].as_str().unwrap().trim()).unwrap();
        runs.push(line);
    }
    for line in &runs {
        // Nothing of an earlier run is there; the scratch is the run's own.
        assert_eq!(
            line["seen"],
            serde_json::json!({"/tmp/left": false, "/sandbox/left": false, "/dev/shm/left": false})
        );
        assert_eq!(line["/tmp/left"], "written");
        // The sandbox is its own mount, writable as a file system (the program is written
        // into it just before), and read-only to the code: Landlock refuses with EACCES.
        assert_eq!(line["sandbox_mount"], serde_json::json!(["rw"]), "{line}");
        assert_eq!(line["/sandbox/left"], libc::EACCES);
        assert_eq!(line["/sandbox/self.py"], libc::EACCES);
        assert_eq!(line["chmod+write"], libc::EACCES);
    }
    // Where Landlock is absent (the host switch, here for the helper and its client alike; a
    // degraded policy), the helper builds nothing ahead and declines: the client builds its
    // jail on the spot, whose /sandbox is part of the read-only root.
    let degraded = Helper::start_as(
        &["--no-guard", "--allow-degraded"],
        None,
        &[("STOCKADE_DISABLE_LAYERS", "landlock")],
    );
    let o = degraded
        .command(&["--no-guard", "--allow-degraded", "--json", script])
        .env("STOCKADE_DISABLE_LAYERS", "landlock")
        .output()
        .unwrap();
    assert!(
        stderr(&o).contains("declined (no jail was built ahead)"),
        "{}",
        stderr(&o)
    );
    let r = parse_result(&o);
    assert_eq!(r["status"], "ok", "{r}");
    let line: serde_json::Value = serde_json::from_str(r["stdout"].as_str().unwrap().trim()).unwrap();
    let landlock = r["isolation"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "landlock")
        .unwrap();
    assert_eq!(landlock["active"], false, "{r}");
    assert_eq!(line["/sandbox/left"], libc::EROFS, "{line}");
}

#[test]
fn another_policy_or_environment_is_declined_and_run_by_the_client() {
    if !is_root() {
        eprintln!("skipped: needs root (the jail's cgroups)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "version = 1\n[env]\npass = [\"STOCKADE_T_VALUE\"]\n").unwrap();
    let policy = policy.to_str().unwrap();
    let helper = Helper::start(&["--policy", policy]);
    let code = "import os; print(os.environ.get('STOCKADE_T_VALUE'))";
    // The helper's own environment has no value: the jail built ahead passes none.
    let none = helper.run(&["--policy", policy, "--json", "-c", code]);
    assert!(stderr(&none).contains(AHEAD), "{}", stderr(&none));
    assert_eq!(parse_result(&none)["stdout"], "None\n");
    // The caller's value is the one the run must see: the jail built ahead would not pass it.
    let mut c = helper.command(&["--policy", policy, "--json", "-c", code]);
    let with = c.env("STOCKADE_T_VALUE", "from-the-caller").output().unwrap();
    assert!(
        stderr(&with).contains("declined (the jail built ahead does not serve it"),
        "{}",
        stderr(&with)
    );
    assert_eq!(parse_result(&with)["stdout"], "from-the-caller\n");
    // Another limit: the jail built ahead has the helper's.
    let other = helper.run(&["--policy", policy, "--memory", "300M", "--json", "-c", "pass"]);
    assert!(
        stderr(&other).contains("declined (another policy than the helper's)"),
        "{}",
        stderr(&other)
    );
    assert_eq!(parse_result(&other)["limits"]["memory_bytes"], 300 << 20);
    // And the next run of the helper's own policy is served ahead again.
    let again = helper.run(&["--policy", policy, "--json", "-c", "pass"]);
    assert!(stderr(&again).contains(AHEAD), "{}", stderr(&again));
}

/// Processes of a run whose code holds `marker`: the jail's interpreter (its command line
/// starts with the interpreter and its `-s -S`; the caller's has the marker too, but starts
/// with `stockade`).
fn survivors(marker: &str) -> usize {
    let pattern = format!("^{} -s -S -c .*{marker}", system_python());
    let out = Command::new("pgrep").args(["-f", &pattern]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Start `cmd` (a `stockade run` of code holding `marker`), wait until its run is there — the
/// control: while the caller lives, the run is found — then send the caller `signal` and check
/// that no process of the run survives. Returns the caller's exit status.
fn stop_caller(mut cmd: Command, marker: &str, signal: nix::sys::signal::Signal) -> std::process::ExitStatus {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while survivors(marker) == 0 {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()), signal).unwrap();
    let status = child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while survivors(marker) > 0 {
        assert!(Instant::now() < deadline, "the run outlived its caller ({signal})");
        std::thread::sleep(Duration::from_millis(50));
    }
    status
}

#[test]
fn the_callers_stop_reaches_the_run() {
    if !is_root() {
        eprintln!("skipped: needs root (the jail's cgroups)");
        return;
    }
    use nix::sys::signal::Signal;
    let helper = Helper::start(&[]);
    let code = |marker: &str| format!("import time; {marker} = 1; time.sleep(60)");
    // SIGTERM is passed on: the run is stopped and reported as it is without a helper.
    let marker = format!("stockade_helper_term_{}", std::process::id());
    let through = stop_caller(helper.command(&["-c", &code(&marker)]), &marker, Signal::SIGTERM);
    let marker = format!("stockade_local_term_{}", std::process::id());
    let mut here = stockade();
    here.args(["run", "--python", system_python(), "-c", &code(&marker)]);
    let spot = stop_caller(here, &marker, Signal::SIGTERM);
    assert_eq!(through.code(), spot.code());
    assert!(through.code().is_some_and(|c| c != 0), "{through:?}");
    // SIGKILL leaves the helper's side only the hang-up: the run is stopped all the same.
    let marker = format!("stockade_helper_kill_{}", std::process::id());
    stop_caller(helper.command(&["-c", &code(&marker)]), &marker, Signal::SIGKILL);
}

#[test]
fn the_helper_and_its_clients_trust_only_their_own_user() {
    if !is_root() {
        eprintln!("skipped: needs root to switch users");
        return;
    }
    let helper = Helper::start(&[]);
    let meta = std::fs::metadata(&helper.socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600, "the socket is its owner's only");
    // Another user is not served: it runs in a jail of its own (no helper line), as nobody.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_stockade"))
        .env("STOCKADE_HELPER", &helper.socket)
        .env("HOME", "/nonexistent")
        .args([
            "run",
            "--python",
            system_python(),
            "--json",
            "-c",
            "import os; print(os.getuid())",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("stockade helper"), "{}", stderr(&out));
    assert_eq!(parse_result(&out)["stdout"], "1000\n");
    // Control: its owner is served.
    let own = helper.run(&["--json", "-c", "pass"]);
    assert!(stderr(&own).contains(AHEAD), "{}", stderr(&own));

    // A helper of another user (nobody) is not trusted by root's `stockade run`, even pointed at.
    let foreign = Helper::start_as(&["--allow-degraded"], Some(65534), &[]);
    assert_eq!(std::fs::metadata(&foreign.socket).unwrap().uid(), 65534);
    let out = foreign.run(&["--json", "-c", "print('ran')"]);
    assert!(!stderr(&out).contains("stockade helper"), "{}", stderr(&out));
    assert_eq!(parse_result(&out)["stdout"], "ran\n");
}

#[test]
fn a_second_helper_on_a_live_socket_is_refused_and_a_stale_one_replaced() {
    let helper = Helper::start(&["--allow-degraded"]);
    let second = stockade()
        .args(["helper", "--socket"])
        .arg(&helper.socket)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(125));
    assert!(stderr(&second).contains("another helper serves"), "{}", stderr(&second));
    drop(helper);
    // A socket file nobody serves (a helper killed with SIGKILL) is replaced.
    let dir = tempfile::tempdir().unwrap();
    let stale: &Path = &dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(stale).unwrap());
    assert!(stale.exists());
    let mut child = stockade()
        .args(["helper", "--allow-degraded", "--socket"])
        .arg(stale)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(stale).is_err() {
        assert!(Instant::now() < deadline, "the stale socket was not replaced");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!stale.exists(), "the helper removes its socket when it stops");
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Run cgroups a supervisor (by pid) still has, in any hierarchy.
fn cgroups_of(supervisor: u32) -> Vec<PathBuf> {
    let prefix = format!("run-{supervisor}-");
    let mut found = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        for dir in std::fs::read_dir(hierarchy.path().join("stockade"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if dir.file_name().to_string_lossy().starts_with(&prefix) {
                found.push(dir.path());
            }
        }
    }
    found
}

#[test]
fn a_jail_left_waiting_is_replaced_at_its_age_and_leaves_nothing() {
    if !is_root() {
        eprintln!("skipped: needs root (the jail's cgroups)");
        return;
    }
    let helper = Helper::start(&["--max-age", "1"]);
    let first = jail_built_ahead(&helper, &[]);
    // Control: while it waits, its jail's cgroups are there.
    assert!(!cgroups_of(first).is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    while children(helper.child.id()).contains(&first) || !cgroups_of(first).is_empty() {
        assert!(Instant::now() < deadline, "the jail built at start was never replaced");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The replacement serves.
    let o = helper.run(&["--json", "-c", "print(1)"]);
    assert!(stderr(&o).contains(AHEAD), "{}", stderr(&o));
    let too_soon = stockade().args(["helper", "--max-age", "100ms"]).output().unwrap();
    assert_eq!(too_soon.status.code(), Some(2), "{}", stderr(&too_soon));
}

/// The helper's supervisor that has built its jail (its cgroups exist), waited for.
fn jail_built_ahead(helper: &Helper, not: &[u32]) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = children(helper.child.id())
            .into_iter()
            .find(|pid| !not.contains(pid) && !cgroups_of(*pid).is_empty());
        if let Some(pid) = ready {
            return pid;
        }
        assert!(Instant::now() < deadline, "no jail was built ahead");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn no_jail_is_built_while_a_run_is_in_progress_unless_requests_come_back_to_back() {
    use std::io::BufRead;
    if !is_root() {
        eprintln!("skipped: needs root (the jail's cgroups)");
        return;
    }
    let helper = Helper::start(&[]);
    let first = jail_built_ahead(&helper, &[]);
    let mut long = helper
        .command(&["-c", "import time; print('started', flush=True); time.sleep(8)"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(long.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "started\n");
    // While it runs, the helper's only child is the supervisor serving it: building the next
    // jail would take a core from the run.
    for _ in 0..10 {
        assert_eq!(
            children(helper.child.id()),
            vec![first],
            "a jail was built during the run"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A request meanwhile gets a jail of its own at once.
    let o = helper.run(&["--json", "-c", "print(6 * 7)"]);
    assert_eq!(parse_result(&o)["stdout"], "42\n", "{}", stderr(&o));
    // That caller came while another run was in progress: for such callers the next jail is
    // built during the run (control: the check above sees a new supervisor). The pause lets
    // that request's own supervisor remove its cgroups and go.
    std::thread::sleep(Duration::from_millis(500));
    let next = jail_built_ahead(&helper, &[first]);
    assert_ne!(next, first);
    assert!(
        long.try_wait().unwrap().is_none(),
        "the long run ended too soon for the check"
    );
    assert!(long.wait().unwrap().success());
    let o = helper.run(&["--json", "-c", "print(1)"]);
    assert!(stderr(&o).contains(AHEAD), "{}", stderr(&o));
}

/// One raw exchange with a helper: stdio on a byte, then `frame` as given; the answer's kind
/// and payload.
fn raw_exchange(helper: &Helper, frame: &[u8]) -> (u8, serde_json::Value) {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    let mut conn = std::os::unix::net::UnixStream::connect(&helper.socket).unwrap();
    let fds = [0, 1, 2];
    let iov = [std::io::IoSlice::new(b"S")];
    nix::sys::socket::sendmsg::<()>(
        conn.as_raw_fd(),
        &iov,
        &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .unwrap();
    conn.write_all(frame).unwrap();
    let mut header = [0u8; 16];
    conn.read_exact(&mut header).unwrap();
    let len = u32::from_le_bytes(header[4..8].try_into().unwrap()) as usize;
    let mut payload = vec![0u8; len];
    conn.read_exact(&mut payload).unwrap();
    (header[3], serde_json::from_slice(&payload).unwrap())
}

fn frame(kind: u8, payload: &[u8], claimed: Option<u32>) -> Vec<u8> {
    let mut f = b"SK\x01".to_vec();
    f.push(kind);
    f.extend_from_slice(&claimed.unwrap_or(u32::try_from(payload.len()).unwrap()).to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn a_request_over_the_cap_is_refused_before_it_is_read() {
    if !is_root() {
        eprintln!("skipped: needs root (the jail's cgroups)");
        return;
    }
    let helper = Helper::start(&[]);
    let policy = stockade()
        .args(["policy", "show", "--python", system_python(), "--timeout", "10"])
        .output()
        .unwrap();
    let request = serde_json::json!({
        "policy": String::from_utf8(policy.stdout).unwrap(),
        "program": {"code": "print(6 * 7)"},
        "args": [],
        "passthrough": false,
        "forward_stdin": false,
    });
    let body = serde_json::to_vec(&request).unwrap();
    // Control: the same request, its length told truly, runs (kind 8: a result).
    let (kind, answer) = raw_exchange(&helper, &frame(20, &body, None));
    assert_eq!((kind, answer["stdout"].as_str()), (8, Some("42\n")), "{answer}");
    // A length over the cap (24 MiB) is refused from the header alone (kind 9: fatal), with
    // nothing more sent: the helper never waits for, nor keeps, the payload it announced.
    let (kind, answer) = raw_exchange(&helper, &frame(20, b"", Some(100 << 20)));
    assert_eq!(kind, 9, "{answer}");
    assert_eq!(answer["kind"], "request", "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("cap"), "{answer}");
}

/// `cmd` run by `outer` (which execs what follows its own arguments), with `cmd`'s environment.
fn wrapped(mut outer: Command, cmd: &Command) -> Command {
    outer.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => outer.env(k, v),
            None => outer.env_remove(k),
        };
    }
    outer
}

/// `cmd` (a `stockade run`) in a mount namespace of its own, after `setup` (a shell line that
/// gets the path `arg` as `$0`) changed that namespace.
fn in_own_mounts(setup: &str, arg: &Path, cmd: &Command) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!("{setup} && shift && exec \"$@\""))
        .arg(arg)
        .arg("--");
    wrapped(c, cmd)
}

/// `cmd` under `setpriv` with `flags`.
fn under_setpriv(flags: &[&str], cmd: &Command) -> Command {
    let mut c = Command::new("setpriv");
    c.args(flags);
    wrapped(c, cmd)
}

/// The helper never does for a client what the client could not do itself: one in other
/// namespaces, with no_new_privs or with fewer capabilities is declined and runs its request
/// itself, in its own world. Evidence: a file the confined client cannot see stays unseen, while
/// the same request from an unconfined client (the control) reads it through the helper.
#[test]
fn a_client_more_confined_than_the_helper_is_declined_and_sees_only_its_own_world() {
    if !is_root() {
        eprintln!("skipped: needs root (the jail's cgroups, namespaces)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hidden = dir.path().join("hidden");
    std::fs::create_dir(&hidden).unwrap();
    let token = format!("stockade-hidden-{}", std::process::id());
    std::fs::write(hidden.join("flag.txt"), &token).unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        format!("version = 1\n[filesystem]\nread-only = [{{ host = {hidden:?}, jail = \"/data\" }}]\n"),
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    // The jail is what keeps the file from the code here (the guard's read list does not name
    // /data, so it is off on both sides).
    let helper = Helper::start(&["--policy", policy, "--no-guard"]);
    let code = "import os; print(sorted(os.listdir('/data'))); print(open('/data/flag.txt').read())";
    let request = helper.command(&["--policy", policy, "--no-guard", "--json", "-c", code]);
    // Control: the helper's own world, served ahead, shows the file.
    let own = helper.run(&["--policy", policy, "--no-guard", "--json", "-c", code]);
    assert!(stderr(&own).contains(AHEAD), "{}", stderr(&own));
    assert_eq!(parse_result(&own)["stdout"], format!("['flag.txt']\n{token}\n"));
    // A client whose mount namespace hides the directory under an empty tmpfs: declined, and
    // its own jail shows its own view.
    let out = in_own_mounts("mount -t tmpfs none \"$0\"", &hidden, &request)
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("declined (the client is more confined: it is in other namespaces"),
        "{}",
        stderr(&out)
    );
    let r = parse_result(&out);
    assert!(r["stdout"].as_str().unwrap().starts_with("[]\n"), "{r}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&token));
    // no_new_privs: declined (as root it still builds its own jail).
    let out = under_setpriv(&["--no-new-privs"], &request).output().unwrap();
    assert!(stderr(&out).contains("it runs with no_new_privs"), "{}", stderr(&out));
    // Fewer capabilities: declined, and then it cannot build a jail itself, as without a helper.
    let out = under_setpriv(&["--bounding-set=-all", "--inh-caps=-all"], &request)
        .output()
        .unwrap();
    assert!(stderr(&out).contains("it holds fewer capabilities"), "{}", stderr(&out));
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&token));
}

/// An audit log file is the client's to open: a client that cannot write a directory does not
/// get the helper to write there. The control: the same path from a client that can write it.
#[test]
fn an_audit_log_file_is_opened_by_the_client_not_the_helper() {
    if !is_root() {
        eprintln!("skipped: needs root (the jail's cgroups, namespaces)");
        return;
    }
    let helper = Helper::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let planted = locked.join("planted.jsonl");
    let request = helper.command(&["--audit-log", planted.to_str().unwrap(), "-c", "pass"]);
    // The client's own view of `locked` is a read-only bind of it.
    let out = in_own_mounts(
        "mount --bind \"$0\" \"$0\" && mount -o remount,bind,ro \"$0\"",
        &locked,
        &request,
    )
    .output()
    .unwrap();
    assert!(stderr(&out).contains(DECLINED), "{}", stderr(&out));
    assert!(stderr(&out).contains("Read-only file system"), "{}", stderr(&out));
    assert!(!planted.exists(), "the helper wrote where its client could not");
    // Control: the same request from a client that can write there makes the file (itself).
    let out = helper.run(&["--audit-log", planted.to_str().unwrap(), "-c", "pass"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(planted.exists());
}

/// A helper that runs out of fds (each client it serves holds one) declines the next client,
/// which builds its own jail, and goes on serving once clients leave: it never stops for good.
/// The control is the helper itself: its socket and process must still be there.
#[test]
fn a_helper_out_of_fds_declines_and_keeps_serving() {
    if !is_root() {
        eprintln!("skipped: needs root (the jail's cgroups)");
        return;
    }
    // The accept loop's soft limit; its supervisors raise theirs to the hard one.
    let mut helper = Helper::start_under(&["prlimit", "--nofile=24:4096"], &[], None, &[]);
    let socket = helper.socket.clone();
    // Clients that connect and say nothing: each holds a supervisor and an fd of the helper's.
    let idle: Vec<std::os::unix::net::UnixStream> = (0..30)
        .map(|_| std::os::unix::net::UnixStream::connect(&socket).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Declined (no jail of the helper's could take it), so it ran in a jail of its own.
    let out = helper.run(&["--json", "-c", "print('still served')"]);
    assert_eq!(parse_result(&out)["stdout"], "still served\n", "{}", stderr(&out));
    assert!(!stderr(&out).contains(AHEAD), "{}", stderr(&out));
    assert!(helper.child.try_wait().unwrap().is_none(), "the helper stopped");
    assert!(socket.exists(), "the helper removed its socket");
    // Once the idle clients leave, the helper builds ahead again.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = helper.run(&["--json", "-c", "pass"]);
        if stderr(&out).contains(AHEAD) {
            break;
        }
        assert!(Instant::now() < deadline, "never served ahead again: {}", stderr(&out));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A caller whose helper answers nothing (stopped here with SIGSTOP) is still ended by its
/// stop: it passes the signal on, waits a grace period for an answer, then dies of the signal.
/// The control: until stopped, the caller waits (the helper is really stuck).
#[test]
fn a_caller_whose_helper_is_stuck_still_ends_on_its_stop() {
    if !is_root() {
        eprintln!("skipped: needs root (the jail's cgroups)");
        return;
    }
    let helper = Helper::start(&[]);
    let helper_pid = nix::unistd::Pid::from_raw(i32::try_from(helper.child.id()).unwrap());
    nix::sys::signal::kill(helper_pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let mut caller = helper
        .command(&["-c", "print(1)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        caller.try_wait().unwrap().is_none(),
        "the caller ended though its helper is stopped"
    );
    let stopped = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(caller.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = loop {
        if let Some(s) = caller.try_wait().unwrap() {
            break s;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(15),
            "the caller ignored its stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    nix::sys::signal::kill(helper_pid, nix::sys::signal::Signal::SIGCONT).unwrap();
}
