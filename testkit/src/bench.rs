//! What every benchmark needs: its knobs from the environment and the cost
//! of one child process (wall time, CPU, peak RSS) as the kernel counted it.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
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

/// The middle value (the upper one of an even count); `v` must not be empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The release binary to measure (`BENCH_BIN`, else `release/blocksconvert`
/// under `$CARGO_TARGET_DIR` or `default_target`) and the one to compare it
/// with (`BENCH_BEFORE`, optional). Exits naming what is missing, so a
/// benchmark never measures a stale or absent build by accident.
pub fn release_binaries(bench: &str, default_target: &Path) -> (PathBuf, Option<PathBuf>) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| default_target.to_path_buf(), PathBuf::from);
    let after = std::env::var_os("BENCH_BIN")
        .map_or_else(|| target.join("release/blocksconvert"), PathBuf::from);
    let before = std::env::var_os("BENCH_BEFORE").map(PathBuf::from);
    for b in std::iter::once(&after).chain(before.as_ref()) {
        if !b.is_file() {
            eprintln!(
                "{bench} bench: {} is missing; run `cargo build --release -p blocksconvert` first",
                b.display()
            );
            std::process::exit(1);
        }
    }
    (after, before)
}
