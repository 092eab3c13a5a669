//! The public attack suite: every payload in `tests/escapes/` runs inside the jail, and the
//! test checks HOST evidence that the attack failed (a file that must not exist, a listener
//! that must get no connection, a token that must not appear, a process that must not survive,
//! a limit that must be reported). Every payload also runs as a control WITHOUT the jail
//! (`common::control_script`: own pid + mount namespace, rlimits, timeout; never bare on the
//! host) and the test asserts that the control did succeed, so every test can fail.
//! `tests/escapes/README.md` lists the payloads, their class and their evidence.

mod common;

use std::io::ErrorKind;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// Run payload `name` in the jail with the default attack limits.
fn jail(name: &str, args: &[&str]) -> serde_json::Value {
    jail_script(&escape_payload(name), args, &attack_limits(&[]), &[], None)
}

/// Run payload `name` as an unconfined control.
fn control(name: &str, args: &[&str]) -> String {
    control_text(&control_script(&escape_payload(name), args, &[], None, 20))
}

/// The jail must not leak `needle`; the control must. `what` names the secret for messages.
fn assert_leak_blocked(r: &serde_json::Value, control: &str, needle: &str, what: &str) {
    assert!(
        !result_text(r).contains(needle),
        "ESCAPE: {what} leaked out of the jail:\n{}",
        result_text(r)
    );
    assert!(
        control.contains(needle),
        "control did not reach {what} (test is vacuous):\n{control}"
    );
}

/// Accept any connection that reached `l` (connections wait in the backlog even after the
/// client went away), polling for a short while.
fn tcp_accepted(l: &TcpListener) -> bool {
    l.set_nonblocking(true).unwrap();
    let end = Instant::now() + Duration::from_millis(300);
    loop {
        match l.accept() {
            Ok(_) => return true,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(_) => return false,
        }
    }
}

fn unix_accepted(l: &UnixListener) -> bool {
    l.set_nonblocking(true).unwrap();
    let end = Instant::now() + Duration::from_millis(300);
    loop {
        match l.accept() {
            Ok(_) => return true,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(_) => return false,
        }
    }
}

/// Whether a datagram is waiting on `s` (received, or arriving within 300 ms).
fn udp_received(s: &UdpSocket) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 2048];
    s.recv_from(&mut buf).is_ok()
}

fn ok_status(r: &serde_json::Value) {
    assert!(
        matches!(status(r), "ok" | "error"),
        "unexpected status {}: {}",
        status(r),
        result_text(r)
    );
}

// ===== Sanity: the jail runs payloads at all =====

#[test]
fn can_run_payload_with_args_and_scratch() {
    let r = jail("disk_fill.py", &["/tmp", "2"]);
    assert_eq!(status(&r), "ok", "{}", result_text(&r));
    assert!(stdout(&r).contains("WROTE 2"), "{}", result_text(&r));
}

#[test]
fn can_report_isolation_layers() {
    let r = jail_code("print('hi')", &["--python", system_python()]);
    assert_eq!(status(&r), "ok");
    assert_eq!(
        r["isolation"]["degraded"], false,
        "suite needs a fully isolated jail: {r}"
    );
}

// ===== Host file reads =====

#[test]
fn cannot_read_host_etc_shadow() {
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap();
    let line = shadow.lines().next().unwrap();
    let r = jail("read_etc_shadow.py", &[]);
    ok_status(&r);
    assert_leak_blocked(&r, &control("read_etc_shadow.py", &[]), line, "/etc/shadow");
}

#[test]
fn cannot_read_root_home() {
    let bashrc = std::fs::read_to_string("/root/.bashrc").unwrap();
    let line = bashrc.lines().max_by_key(|l| l.len()).unwrap();
    let r = jail("read_root_bashrc.py", &[]);
    assert_leak_blocked(&r, &control("read_root_bashrc.py", &[]), line, "/root/.bashrc");
}

#[test]
fn cannot_read_host_secret_file() {
    let h = HostSecret::new();
    let r = jail("read_host_secret.py", &[&h.secret_str()]);
    assert_leak_blocked(
        &r,
        &control("read_host_secret.py", &[&h.secret_str()]),
        &h.token,
        "host secret",
    );
}

#[test]
fn cannot_read_host_via_proc_self_root() {
    let h = HostSecret::new();
    let r = jail("read_via_proc_self_root.py", &[&h.secret_str()]);
    let c = control("read_via_proc_self_root.py", &[&h.secret_str()]);
    assert_leak_blocked(&r, &c, &h.token, "host secret via /proc/self/root");
}

#[test]
fn cannot_read_host_via_proc_1_root() {
    let h = HostSecret::new();
    let r = jail("read_via_proc_1_root.py", &[&h.secret_str()]);
    let c = control("read_via_proc_1_root.py", &[&h.secret_str()]);
    assert_leak_blocked(&r, &c, &h.token, "host secret via /proc/1/root");
}

#[test]
fn cannot_read_host_via_symlink_in_scratch() {
    let h = HostSecret::new();
    let r = jail("symlink_to_host.py", &[&h.secret_str()]);
    let c = control("symlink_to_host.py", &[&h.secret_str()]);
    assert_leak_blocked(&r, &c, &h.token, "host secret via symlink");
}

#[test]
fn cannot_read_host_via_hardlink() {
    let h = HostSecret::new();
    let r = jail("hardlink_to_host.py", &[&h.secret_str()]);
    let c = control("hardlink_to_host.py", &[&h.secret_str()]);
    assert_leak_blocked(&r, &c, &h.token, "host secret via hard link");
}

#[test]
fn cannot_open_host_file_by_handle() {
    // The control (root, CAP_DAC_READ_SEARCH) makes a file handle for the host secret and
    // opens it; the jail gets the same handle and a file on the same filesystem (the
    // interpreter is bind-mounted from the host root filesystem, as is the host /tmp here).
    let h = HostSecret::new();
    let c = control("open_by_handle.py", &["make", &h.secret_str()]);
    let handle = c.lines().find_map(|l| l.strip_prefix("HANDLE ")).expect(&c).to_string();
    let r = jail("open_by_handle.py", &["use", &handle, system_python()]);
    assert_leak_blocked(&r, &c, &h.token, "host secret via open_by_handle_at");
}

#[test]
fn cannot_read_host_sys() {
    let names: Vec<String> = ["/sys/block", "/sys/class/net"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap().flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lo" && !n.starts_with("loop") && n.len() >= 3)
        .collect();
    assert!(!names.is_empty());
    let r = jail("read_sys.py", &[]);
    let c = control("read_sys.py", &[]);
    let jail_out = stdout(&r);
    for n in &names {
        assert!(
            !jail_out.contains(&format!(" {n}")),
            "ESCAPE: /sys entry {n} visible:\n{jail_out}"
        );
        assert!(c.contains(n.as_str()), "control did not list {n}:\n{c}");
    }
}

#[test]
fn cannot_learn_host_paths_from_mountinfo() {
    // The payload runs from a host directory with a random name; the jail must not reveal
    // it. The control shows the payload really reads the host's mount table.
    let h = HostSecret::new();
    let script = h.path().join("mountinfo_leak.py");
    std::fs::copy(escape_payload("mountinfo_leak.py"), &script).unwrap();
    let r = jail_script(&script, &[], &attack_limits(&[]), &[], None);
    ok_status(&r);
    assert!(
        !stdout(&r).contains(&h.dir_name()),
        "ESCAPE: host path in mount table:\n{}",
        stdout(&r)
    );
    let c = control_text(&control_script(&script, &[], &[], None, 20));
    assert!(c.contains(" / / "), "control did not read the host mount table:\n{c}");
}

/// Regression: /proc/1/cmdline in the jail used to be the host-side stockade argv (host paths of
/// the script, policy and venv); fixed by b8f9003 "Scrub the jail init's cmdline and environ".
#[test]
fn cannot_learn_host_paths_from_init_cmdline() {
    let h = HostSecret::new();
    let script = h.path().join("init_cmdline_leak.py");
    std::fs::copy(escape_payload("init_cmdline_leak.py"), &script).unwrap();
    let r = jail_script(&script, &[], &attack_limits(&[]), &[], None);
    let c = control_text(&control_script(&script, &[], &[], None, 20));
    assert_leak_blocked(&r, &c, &h.dir_name(), "host script directory");
}

// ===== Secrets: environment, inherited fds, other processes' memory =====

const SECRET_VAR: &str = "STOCKADE_TEST_SECRET";

#[test]
fn cannot_read_caller_environment() {
    let tok = random_token();
    let p = escape_payload("env_secret.py");
    let r = jail_script(&p, &[], &attack_limits(&[]), &[(SECRET_VAR, &tok)], None);
    let c = control_text(&control_script(&p, &[], &[(SECRET_VAR, &tok)], None, 20));
    assert_leak_blocked(&r, &c, &tok, "caller environment");
}

#[test]
fn cannot_read_init_environ() {
    let tok = random_token();
    let p = escape_payload("read_init_environ.py");
    let r = jail_script(&p, &[], &attack_limits(&[]), &[(SECRET_VAR, &tok)], None);
    let c = control_text(&control_script(&p, &[], &[(SECRET_VAR, &tok)], None, 20));
    assert_leak_blocked(&r, &c, &tok, "caller environment via /proc/1/environ");
}

#[test]
fn cannot_read_other_processes_environ_or_cmdline() {
    let tok = random_token();
    let p = escape_payload("scan_proc_environ.py");
    let r = jail_script(&p, &[], &attack_limits(&[]), &[(SECRET_VAR, &tok)], None);
    let c = control_text(&control_script(&p, &[], &[(SECRET_VAR, &tok)], None, 20));
    assert_leak_blocked(&r, &c, &tok, "caller environment via /proc/*/environ");
}

#[test]
fn cannot_read_inherited_fds_by_number() {
    let h = HostSecret::new();
    let p = escape_payload("scan_fd_range.py");
    let r = jail_script(&p, &[], &attack_limits(&[]), &[], Some(&h.secret()));
    let c = control_text(&control_script(&p, &[], &[], Some(&h.secret()), 20));
    assert_leak_blocked(&r, &c, &h.token, "secret on inherited fds 5..9");
}

#[test]
fn cannot_reopen_inherited_fds_via_proc() {
    let h = HostSecret::new();
    let p = escape_payload("proc_fd_reopen.py");
    let r = jail_script(&p, &[], &attack_limits(&[]), &[], Some(&h.secret()));
    let c = control_text(&control_script(&p, &[], &[], Some(&h.secret()), 20));
    assert_leak_blocked(&r, &c, &h.token, "secret on inherited fds 5..9 via /proc/*/fd");
}

#[test]
fn cannot_peek_parent_memory_with_ptrace() {
    let tok = random_token();
    let p = escape_payload("ptrace_parent.py");
    let r = jail_script(&p, &[], &attack_limits(&[]), &[(SECRET_VAR, &tok)], None);
    let c = control_text(&control_script_under_parent(&p, &[], &[(SECRET_VAR, &tok)], None, 20));
    assert_leak_blocked(&r, &c, &tok, "caller environment via ptrace");
}

#[test]
fn cannot_read_parent_memory_with_process_vm_readv() {
    let tok = random_token();
    let p = escape_payload("process_vm_readv.py");
    let r = jail_script(&p, &[], &attack_limits(&[]), &[(SECRET_VAR, &tok)], None);
    let c = control_text(&control_script_under_parent(&p, &[], &[(SECRET_VAR, &tok)], None, 20));
    assert_leak_blocked(&r, &c, &tok, "caller environment via process_vm_readv");
}

#[test]
fn cannot_read_parent_memory_via_proc_mem() {
    let tok = random_token();
    let p = escape_payload("proc_mem_parent.py");
    let r = jail_script(&p, &[], &attack_limits(&[]), &[(SECRET_VAR, &tok)], None);
    let c = control_text(&control_script_under_parent(&p, &[], &[(SECRET_VAR, &tok)], None, 20));
    assert_leak_blocked(&r, &c, &tok, "caller environment via /proc/<ppid>/mem");
}

#[test]
fn cannot_steal_parent_fds_with_pidfd_getfd() {
    let h = HostSecret::new();
    let p = escape_payload("pidfd_getfd_parent.py");
    let r = jail_script(&p, &[], &attack_limits(&[]), &[], Some(&h.secret()));
    let c = control_text(&control_script_under_parent(&p, &[], &[], Some(&h.secret()), 20));
    assert_leak_blocked(&r, &c, &h.token, "secret fds of the parent via pidfd_getfd");
}

// ===== Host writes =====

#[test]
fn cannot_create_file_in_host_dir() {
    let h = HostSecret::new();
    let dir = h.path().to_string_lossy().into_owned();
    let pwned = h.path().join("pwned");
    let r = jail("write_host_dir.py", &[&dir]);
    ok_status(&r);
    assert!(
        !pwned.exists(),
        "ESCAPE: jail created {}:\n{}",
        pwned.display(),
        result_text(&r)
    );
    control("write_host_dir.py", &[&dir]);
    assert!(pwned.exists(), "control did not create the file (test is vacuous)");
}

#[test]
fn cannot_write_proc_sys() {
    let sysctl = "/proc/sys/vm/overcommit_ratio";
    let before = std::fs::read_to_string(sysctl).unwrap().trim().to_string();
    let changed = (before.parse::<u64>().unwrap() + 1).to_string();
    let r = jail("write_proc_sys.py", &[sysctl, &changed]);
    let after = std::fs::read_to_string(sysctl).unwrap().trim().to_string();
    if after != before {
        std::fs::write(sysctl, &before).unwrap();
    }
    assert_eq!(after, before, "ESCAPE: jail changed {sysctl}:\n{}", result_text(&r));
    // The control writes the current value back: it proves the write is possible unconfined
    // without changing the host.
    let c = control("write_proc_sys.py", &[sysctl, &before]);
    assert!(c.contains("WROTE"), "control could not write {sysctl}:\n{c}");
}

fn sysrq_help_count() -> Option<usize> {
    let out = std::process::Command::new("dmesg").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).matches("sysrq: HELP").count())
}

#[test]
fn cannot_trigger_sysrq() {
    let host_has_sysrq = Path::new("/proc/sysrq-trigger").exists();
    let before = sysrq_help_count();
    let r = jail("sysrq_trigger.py", &[]);
    assert!(
        !stdout(&r).contains("SYSRQ_WRITTEN"),
        "ESCAPE: wrote /proc/sysrq-trigger:\n{}",
        result_text(&r)
    );
    if let Some(b) = before {
        assert_eq!(
            sysrq_help_count(),
            Some(b),
            "ESCAPE: host kernel log shows a SysRq from the jail"
        );
    }
    if !host_has_sysrq {
        // Kernel built without CONFIG_MAGIC_SYSRQ: the control cannot succeed either.
        eprintln!("control skipped: host kernel has no /proc/sysrq-trigger");
        return;
    }
    let c = control("sysrq_trigger.py", &[]);
    assert!(
        c.contains("SYSRQ_WRITTEN"),
        "control could not write sysrq-trigger:\n{c}"
    );
    if let Some(b) = before {
        assert!(
            sysrq_help_count().unwrap() > b,
            "control's SysRq did not reach the kernel log"
        );
    }
}

#[test]
fn cannot_chmod_host_file() {
    let h = HostSecret::new();
    std::fs::set_permissions(h.secret(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = jail("chmod_host_file.py", &[&h.secret_str()]);
    let mode = std::fs::metadata(h.secret()).unwrap().mode() & 0o777;
    assert_eq!(
        mode,
        0o600,
        "ESCAPE: jail changed the mode of a host file:\n{}",
        result_text(&r)
    );
    control("chmod_host_file.py", &[&h.secret_str()]);
    assert_eq!(
        std::fs::metadata(h.secret()).unwrap().mode() & 0o777,
        0o777,
        "control chmod failed"
    );
}

#[test]
fn cannot_chmod_host_device_nodes() {
    let before = std::fs::metadata("/dev/null").unwrap().mode() & 0o7777;
    let r = jail("chmod_dev_null.py", &["600"]);
    let after = std::fs::metadata("/dev/null").unwrap().mode() & 0o7777;
    if after != before {
        std::fs::set_permissions("/dev/null", std::fs::Permissions::from_mode(before)).unwrap();
    }
    assert_eq!(
        after,
        before,
        "ESCAPE: jail changed the host's /dev/null mode:\n{}",
        result_text(&r)
    );
    // The control sets the current mode again: possible unconfined, and the host is unchanged.
    let c = control("chmod_dev_null.py", &[&format!("{before:o}")]);
    assert!(c.contains("CHMOD_OK /dev/null"), "{c}");
}

#[test]
fn cannot_chown_host_file() {
    let h = HostSecret::new();
    let owner = std::fs::metadata(h.secret()).unwrap().uid();
    let r = jail("chown_host_file.py", &[&h.secret_str()]);
    assert_eq!(
        std::fs::metadata(h.secret()).unwrap().uid(),
        owner,
        "ESCAPE: jail changed the owner of a host file:\n{}",
        result_text(&r)
    );
    control("chown_host_file.py", &[&h.secret_str()]);
    assert_ne!(
        std::fs::metadata(h.secret()).unwrap().uid(),
        owner,
        "control chown failed"
    );
}

#[test]
fn cannot_write_host_file_via_reopened_fd() {
    let h = HostSecret::new();
    let marker = format!("pwned-{}", random_token());
    let p = escape_payload("write_via_proc_fd.py");
    let r = jail_script(&p, &[&marker], &attack_limits(&[]), &[], Some(&h.secret()));
    let content = std::fs::read_to_string(h.secret()).unwrap();
    assert!(
        !content.contains(&marker),
        "ESCAPE: jail wrote to a read-only inherited host file:\n{}",
        result_text(&r)
    );
    control_script(&p, &[&marker], &[], Some(&h.secret()), 20);
    assert!(
        std::fs::read_to_string(h.secret()).unwrap().contains(&marker),
        "control could not write"
    );
}

// ===== Network =====

#[test]
fn cannot_connect_to_host_loopback_tcp() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let r = jail("tcp_connect_loopback.py", &[&port]);
    assert!(
        !tcp_accepted(&l),
        "ESCAPE: host listener got a connection:\n{}",
        result_text(&r)
    );
    control("tcp_connect_loopback.py", &[&port]);
    assert!(tcp_accepted(&l), "control did not connect (test is vacuous)");
}

#[test]
fn cannot_connect_to_host_external_address() {
    // The host's own outbound address (no packet is sent by connect() on a UDP socket).
    let probe = UdpSocket::bind("0.0.0.0:0").unwrap();
    let Ok(()) = probe.connect("192.0.2.1:9").or_else(|_| probe.connect("10.0.0.1:9")) else {
        eprintln!("skipped: host has no non-loopback route");
        return;
    };
    let ip = probe.local_addr().unwrap().ip().to_string();
    let l = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let r = jail("tcp_connect_host_ip.py", &[&ip, &port]);
    assert!(
        !tcp_accepted(&l),
        "ESCAPE: host listener on {ip} got a connection:\n{}",
        result_text(&r)
    );
    control("tcp_connect_host_ip.py", &[&ip, &port]);
    assert!(tcp_accepted(&l), "control did not connect to {ip} (test is vacuous)");
}

#[test]
fn cannot_send_udp_to_host() {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port().to_string();
    let r = jail("udp_sendto.py", &[&port]);
    assert!(
        !udp_received(&s),
        "ESCAPE: host UDP socket received a datagram:\n{}",
        result_text(&r)
    );
    control("udp_sendto.py", &[&port]);
    assert!(udp_received(&s), "control's datagram did not arrive (test is vacuous)");
}

#[test]
fn cannot_connect_to_host_unix_socket() {
    let h = HostSecret::new();
    let path = h.path().join("host.sock");
    let l = UnixListener::bind(&path).unwrap();
    let path = path.to_string_lossy().into_owned();
    let r = jail("unix_connect_host.py", &[&path]);
    assert!(
        !unix_accepted(&l),
        "ESCAPE: host unix socket got a connection:\n{}",
        result_text(&r)
    );
    control("unix_connect_host.py", &[&path]);
    assert!(unix_accepted(&l), "control did not connect (test is vacuous)");
}

#[test]
fn cannot_connect_to_host_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("stockade-test-{}", random_token());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let l = UnixListener::bind_addr(&addr).unwrap();
    let r = jail("abstract_unix.py", &[&name]);
    assert!(
        !unix_accepted(&l),
        "ESCAPE: host abstract socket got a connection:\n{}",
        result_text(&r)
    );
    control("abstract_unix.py", &[&name]);
    assert!(unix_accepted(&l), "control did not connect (test is vacuous)");
}

#[test]
fn cannot_dump_host_interfaces_over_netlink() {
    let names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lo")
        .collect();
    let r = jail("netlink_route.py", &[]);
    let c = control("netlink_route.py", &[]);
    for n in &names {
        assert!(
            !stdout(&r).contains(n.as_str()),
            "ESCAPE: host interface {n} visible:\n{}",
            stdout(&r)
        );
        assert!(c.contains(n.as_str()), "control did not see {n}:\n{c}");
    }
}

#[test]
fn cannot_send_raw_ip_packets() {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port().to_string();
    let r = jail("raw_socket_udp.py", &[&port]);
    assert!(
        !udp_received(&s),
        "ESCAPE: raw packet from the jail arrived:\n{}",
        result_text(&r)
    );
    assert!(
        !stdout(&r).contains("RAW_SENT"),
        "raw socket opened in the jail:\n{}",
        result_text(&r)
    );
    control("raw_socket_udp.py", &[&port]);
    assert!(
        udp_received(&s),
        "control's raw packet did not arrive (test is vacuous)"
    );
}

#[test]
fn cannot_open_packet_socket() {
    let r = jail("packet_socket.py", &[]);
    assert!(
        !stdout(&r).contains("PACKET_OPEN"),
        "ESCAPE: AF_PACKET socket:\n{}",
        result_text(&r)
    );
    let c = control("packet_socket.py", &[]);
    assert!(c.contains("PACKET_OPEN"), "control could not open AF_PACKET:\n{c}");
}

#[test]
fn cannot_leak_data_over_dns() {
    let dns = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = dns.local_addr().unwrap().port().to_string();
    let label = format!("x{}", &random_token()[..16]);
    let r = jail("dns_lookup.py", &[&port, &label]);
    assert!(
        !udp_received(&dns),
        "ESCAPE: DNS query reached the host:\n{}",
        result_text(&r)
    );
    assert!(
        !stdout(&r).contains("RESOLVED"),
        "name resolved in the jail:\n{}",
        result_text(&r)
    );
    control("dns_lookup.py", &[&port, &label]);
    assert!(
        udp_received(&dns),
        "control's DNS query did not arrive (test is vacuous)"
    );
}

// ===== Processes =====

fn assert_no_shell(name: &str) {
    let tok = random_token();
    let evidence = format!("SHELL-{tok}");
    let r = jail(name, &[&tok]);
    assert_leak_blocked(&r, &control(name, &[&tok]), &evidence, "a shell's output");
}

#[test]
fn cannot_run_shell_with_os_system() {
    assert_no_shell("os_system.py");
}

#[test]
fn cannot_run_host_tools_with_subprocess() {
    assert_no_shell("subprocess_shell.py");
}

#[test]
fn cannot_exec_shell_after_fork() {
    assert_no_shell("fork_exec_sh.py");
}

#[test]
fn cannot_leave_a_daemon_behind() {
    let tok = format!("stockade-daemon-{}", random_token());
    let r = jail("daemon_outlive.py", &[&tok]);
    assert!(
        stdout(&r).contains("DAEMON_UP"),
        "daemon never started in the jail:\n{}",
        result_text(&r)
    );
    std::thread::sleep(Duration::from_millis(200));
    let left = host_pids_with_cmdline(&tok);
    assert!(left.is_empty(), "ESCAPE: daemon outlived the run: host pids {left:?}");
    let c = control("daemon_outlive.py", &[&tok]);
    assert!(c.contains("DAEMON_UP"), "control daemon did not start:\n{c}");
}

#[test]
fn cannot_kill_the_supervisor() {
    let mut sentinel = std::process::Command::new("sleep").arg("60").spawn().unwrap();
    let r = jail("kill_parent.py", &[]);
    assert_eq!(status(&r), "ok", "supervisor disturbed: {}", result_text(&r));
    assert!(stdout(&r).contains("SURVIVED"), "{}", result_text(&r));
    assert!(sentinel.try_wait().unwrap().is_none(), "ESCAPE: host sentinel died");
    sentinel.kill().unwrap();
    sentinel.wait().unwrap();
    let c = control_text(&control_script_under_parent(
        &escape_payload("kill_parent.py"),
        &[],
        &[],
        None,
        20,
    ));
    assert!(
        c.contains("PARENT_KILLED_BY") && !c.contains("PARENT_SURVIVED"),
        "control did not kill its parent:\n{c}"
    );
}

#[test]
fn cannot_kill_host_processes_with_kill_minus_one() {
    let mut sentinel = std::process::Command::new("sleep").arg("60").spawn().unwrap();
    let r = jail("kill_all.py", &[]);
    assert!(
        sentinel.try_wait().unwrap().is_none(),
        "ESCAPE: kill(-1) from the jail killed a host process"
    );
    assert!(
        stdout(&r).contains("CHILD_KILLED 9"),
        "payload's kill(-1) did nothing in the jail:\n{}",
        result_text(&r)
    );
    // The control's kill(-1) is confined to its own pid namespace (unshare --pid --fork).
    let c = control("kill_all.py", &[]);
    assert!(c.contains("CHILD_KILLED 9"), "control's kill(-1) did nothing:\n{c}");
    assert!(
        sentinel.try_wait().unwrap().is_none(),
        "control's kill(-1) escaped its pid namespace"
    );
    sentinel.kill().unwrap();
    sentinel.wait().unwrap();
}

// ===== Resource exhaustion =====

#[test]
fn cannot_fork_bomb() {
    let r = jail_script(
        &escape_payload("fork_bomb.py"),
        &["100000"],
        &attack_limits(&[("--pids", "16")]),
        &[],
        None,
    );
    assert_eq!(status(&r), "pids_limit", "{}", result_text(&r));
    // Control is bounded (40 processes, own pid namespace): shows the forks succeed unconfined.
    let c = control("fork_bomb.py", &["40"]);
    assert!(c.contains("FORKED 40"), "{c}");
}

#[test]
fn cannot_thread_bomb() {
    let r = jail_script(
        &escape_payload("thread_bomb.py"),
        &["100000"],
        &attack_limits(&[("--pids", "16")]),
        &[],
        None,
    );
    assert_eq!(status(&r), "pids_limit", "{}", result_text(&r));
    let c = control("thread_bomb.py", &["40"]);
    assert!(c.contains("STARTED 40"), "{c}");
}

#[test]
fn cannot_exhaust_memory() {
    let r = jail_script(
        &escape_payload("memory_bomb.py"),
        &["2048"],
        &attack_limits(&[("--memory", "64M")]),
        &[],
        None,
    );
    assert_eq!(status(&r), "memory_limit", "{}", result_text(&r));
    // Control: meaningless as an escape test; it shows the payload really allocates.
    let c = control("memory_bomb.py", &["200"]);
    assert!(c.contains("ALLOCATED 200"), "{c}");
}

#[test]
fn cannot_spin_cpu_forever() {
    let t = Instant::now();
    let r = jail_script(
        &escape_payload("cpu_spin.py"),
        &["1000"],
        &attack_limits(&[("--cpu", "1"), ("--timeout", "10")]),
        &[],
        None,
    );
    assert!(matches!(status(&r), "cpu_limit" | "timeout"), "{}", result_text(&r));
    assert!(t.elapsed() < Duration::from_secs(8), "took {:?}", t.elapsed());
    let c = control("cpu_spin.py", &["0.3"]);
    assert!(c.contains("SPUN"), "{c}");
}

#[test]
fn cannot_sleep_forever() {
    let t = Instant::now();
    let r = jail_script(
        &escape_payload("sleep_forever.py"),
        &["3600"],
        &attack_limits(&[("--timeout", "1")]),
        &[],
        None,
    );
    let wall = t.elapsed();
    assert_eq!(status(&r), "timeout", "{}", result_text(&r));
    assert!(
        wall >= Duration::from_millis(900) && wall < Duration::from_millis(3000),
        "wall {wall:?}"
    );
    let ms = r["usage"]["wall_ms"].as_u64().unwrap();
    assert!((900..2500).contains(&ms), "reported wall_ms {ms}");
    let c = control("sleep_forever.py", &["0.1"]);
    assert!(c.contains("SLEPT"), "{c}");
}

#[test]
fn cannot_fill_host_disk() {
    let r = jail_script(
        &escape_payload("disk_fill.py"),
        &["/tmp", "200"],
        &attack_limits(&[("--scratch", "8M")]),
        &[],
        None,
    );
    let out = stdout(&r);
    let written: u64 = out
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", result_text(&r)));
    assert!(
        out.starts_with("ENOSPC"),
        "scratch never filled up:\n{}",
        result_text(&r)
    );
    assert!(written <= 8, "wrote {written} MiB into an 8 MiB scratch");
    // Control into a host dir, 4 MiB: the payload writes there unconfined.
    let h = HostSecret::new();
    let c = control("disk_fill.py", &[&h.path().to_string_lossy(), "4"]);
    assert!(c.contains("WROTE 4") && h.path().join("fill3").exists(), "{c}");
}

#[test]
fn cannot_write_huge_file() {
    let r = jail_script(
        &escape_payload("huge_file.py"),
        &["/tmp/huge", "64"],
        &attack_limits(&[("--file-size", "1M"), ("--scratch", "16M")]),
        &[],
        None,
    );
    assert_eq!(status(&r), "file_limit", "{}", result_text(&r));
    let h = HostSecret::new();
    let target = h.path().join("huge");
    let c = control("huge_file.py", &[&target.to_string_lossy(), "2"]);
    assert!(
        c.contains("WROTE 2") && std::fs::metadata(&target).unwrap().len() == 2 << 20,
        "{c}"
    );
}

fn assert_flood_capped(payload: &str, stream: &str) {
    let r = jail_script(
        &escape_payload(payload),
        &["64"],
        &attack_limits(&[("--output", "64K")]),
        &[],
        None,
    );
    assert_eq!(status(&r), "output_limit", "{}", r["reason"]);
    assert_eq!(r[format!("{stream}_truncated")], true);
    let captured = r[stream].as_str().unwrap().len();
    assert!(captured <= 64 * 1024 && captured > 0, "captured {captured} bytes");
    let out = control_script(&escape_payload(payload), &["1"], &[], None, 20);
    let n = if stream == "stdout" {
        out.stdout.len()
    } else {
        out.stderr.len()
    };
    assert_eq!(n, 1 << 20, "control produced {n} bytes");
}

#[test]
fn cannot_flood_stdout() {
    assert_flood_capped("stdout_flood.py", "stdout");
}

#[test]
fn cannot_flood_stderr() {
    assert_flood_capped("stderr_flood.py", "stderr");
}

#[test]
fn cannot_exhaust_file_descriptors() {
    let r = jail_script(
        &escape_payload("fd_exhaustion.py"),
        &[],
        &attack_limits(&[("--open-files", "64")]),
        &[],
        None,
    );
    let out = stdout(&r);
    let n: u64 = out
        .strip_prefix("EMFILE ")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}", result_text(&r)));
    assert!(n <= 64, "opened fds up to {n} with --open-files 64");
    let c = control("fd_exhaustion.py", &[]);
    let cn: u64 = c.strip_prefix("EMFILE ").and_then(|s| s.trim().parse().ok()).expect(&c);
    assert!(cn > 400, "control stopped at {cn}");
}

#[test]
fn cannot_hang_with_deep_recursion() {
    let t = Instant::now();
    let r = jail_script(
        &escape_payload("deep_recursion.py"),
        &[],
        &attack_limits(&[("--timeout", "20")]),
        &[],
        None,
    );
    assert!(t.elapsed() < Duration::from_secs(15), "took {:?}", t.elapsed());
    assert_ne!(status(&r), "timeout", "{}", result_text(&r));
    assert!(
        stdout(&r).contains("RECURSION_ERROR") || !r["signal"].is_null() || status(&r) == "memory_limit",
        "{}",
        result_text(&r)
    );
    // Control: documents the unconfined behaviour only (same interpreter, no confinement needed).
    let out = control_script(&escape_payload("deep_recursion.py"), &[], &[], None, 20);
    assert!(!out.status.success() || control_text(&out).contains("RECURSION_ERROR"));
}

// ===== Escaping the namespaces / kernel attack surface =====

fn assert_marker_blocked(name: &str, args: &[&str], marker: &str) {
    let r = jail(name, args);
    assert!(
        !stdout(&r).contains(marker),
        "ESCAPE: {marker} in the jail:\n{}",
        result_text(&r)
    );
    let c = control(name, args);
    assert!(
        c.contains(marker),
        "control did not get {marker} (test is vacuous):\n{c}"
    );
}

#[test]
fn cannot_unshare_namespaces() {
    assert_marker_blocked("unshare_ns.py", &[], "UNSHARE_OK");
}

#[test]
fn cannot_setns_into_other_namespaces() {
    assert_marker_blocked("setns_init.py", &[], "SETNS_OK");
}

#[test]
fn cannot_mount_filesystems() {
    let h = HostSecret::new();
    let r = jail("mount_ctypes.py", &["/tmp/mnt"]);
    assert!(
        !stdout(&r).contains("MOUNT_OK"),
        "ESCAPE: mount in the jail:\n{}",
        result_text(&r)
    );
    let c = control("mount_ctypes.py", &[&h.path().join("mnt").to_string_lossy()]);
    assert!(c.contains("MOUNT_OK"), "{c}");
}

#[test]
fn cannot_clone_new_user_namespace() {
    assert_marker_blocked("clone_newuser.py", &[], "CLONE_OK");
}

#[test]
fn cannot_use_keyctl() {
    let r = jail("keyctl.py", &[]);
    assert!(
        !stdout(&r).contains("_OK"),
        "ESCAPE: keyring reachable:\n{}",
        result_text(&r)
    );
    let c = control("keyctl.py", &[]);
    assert!(c.contains("KEYCTL_OK") && c.contains("ADD_KEY_OK"), "{c}");
}

#[test]
fn cannot_use_bpf() {
    assert_marker_blocked("bpf.py", &[], "BPF_OK");
}

#[test]
fn cannot_use_io_uring() {
    assert_marker_blocked("io_uring.py", &[], "IO_URING_OK");
}

#[test]
fn cannot_inject_terminal_input_with_tiocsti() {
    assert_marker_blocked("tiocsti.py", &[], "TIOCSTI_OK");
}
