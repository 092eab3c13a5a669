//! A jail's process tree, read from the host's `/proc` by the supervisor (outside the run):
//! for CPU accounting where no cgroup counts it, and to end a session cell's leftovers.

use std::fs;

/// The children of `pid` (all its threads' children).
fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            out.extend(text.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
    out
}

/// Every descendant of `root` (not `root`).
#[must_use]
pub(crate) fn descendants(root: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut stack = children(root);
    while let Some(pid) = stack.pop() {
        if out.len() > 100_000 {
            break;
        }
        out.push(pid);
        stack.extend(children(pid));
    }
    out
}

/// SIGKILL every descendant of `root` except `keep` (and `keep`'s ancestors are never its
/// descendants): repeated until none is left or `rounds` passes, since a process may fork while
/// it is being looked for. Returns how many were signalled.
pub(crate) fn kill_descendants_except(root: i32, keep: i32, rounds: usize) -> usize {
    let mut total = 0;
    for _ in 0..rounds {
        // Zombies are dead already (their parent reaps them).
        let victims: Vec<i32> = descendants(root)
            .into_iter()
            .filter(|p| *p != keep && !is_zombie(*p))
            .collect();
        if victims.is_empty() {
            break;
        }
        for pid in &victims {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
        }
        total += victims.len();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    total
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .and_then(|i| s.get(i + 2..i + 3))
                .map(|st| st == "Z" || st == "X")
        })
        .unwrap_or(true)
}

/// CPU time of `pid`: its own and that of its reaped children (utime + stime + cutime +
/// cstime), in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name's closing parenthesis start at field 3 (proc(5)).
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0;
    };
    let fields: Vec<&str> = after.split(' ').collect();
    // utime, stime, cutime, cstime are fields 14-17.
    (14..=17)
        .filter_map(|n| fields.get(n - 3).and_then(|v| v.parse::<i64>().ok()))
        .map(|v| v.max(0).unsigned_abs())
        .sum()
}

/// CPU time in nanoseconds of `root` and everything below it, reaped or alive.
#[must_use]
pub(crate) fn tree_cpu_ns(root: i32) -> u64 {
    // Linux fixes USER_HZ at 100.
    let ticks: u64 = std::iter::once(root).chain(descendants(root)).map(cpu_ticks).sum();
    ticks * 10_000_000
}
