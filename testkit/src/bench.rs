//! What every benchmark needs: its knobs from the environment and the cost
//! of one child process (wall time, CPU, peak RSS) as the kernel counted it.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// `name` from the environment, parsed, or `default` when unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What `wait4` says about one finished child.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// Seconds from spawn to exit.
    pub wall: f64,
    /// Seconds of CPU, user plus system.
    pub cpu: f64,
    /// Peak resident set, bytes.
    pub peak_rss: u64,
    /// How the child ended.
    pub status: ExitStatus,
}

/// Runs `cmd` to completion and measures it through `wait4`, which, unlike
/// `Child::wait`, also returns the child's resource use.
pub fn measure(cmd: &mut Command) -> Usage {
    let started = Instant::now();
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in, and
    // `pid` is our own child, not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    let wall = started.elapsed().as_secs_f64();
    // Reaped by wait4 already: keep `child` from being waited on again.
    std::mem::forget(child);
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Usage {
        wall,
        cpu: (tv(usage.ru_utime) + tv(usage.ru_stime)).as_secs_f64(),
        peak_rss: usage.ru_maxrss as u64 * 1024,
        status: ExitStatus::from_raw(status),
    }
}
