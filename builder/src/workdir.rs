//! Per-plan scratch directories under `--work-dir`, and the sweep that
//! removes those a dead builder left behind.
//!
//! A builder killed mid-plan (SIGKILL, OOM kill, a container restart that
//! keeps its `emptyDir`) cannot clean up; its plan directory may hold
//! gigabytes of sort runs and block segments, and the next builder on the
//! same work dir would fill the disk with them. So each plan directory
//! carries an owner stamp (host, PID, and the process's start time, which
//! tells a reused PID apart), and a builder sweeps the work dir once when
//! it starts. Directories of live processes, and of other hosts (a work dir
//! shared over the network), are left alone.
//!
//! A symlink in the work dir is never followed out of it: the sweep looks
//! only at real directories (a `plan-*` symlink is left alone), removes
//! symlinks inside them as links (never what they point to), and trusts
//! an owner stamp only when it is a small regular file, so a stamp linked
//! from elsewhere cannot get a live builder's directory removed.
//!
//! Not here: what goes inside a plan directory (the source builders).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tracing::{info, warn};

/// Names of plan directories start with this; nothing else is swept.
const PLAN_DIR_PREFIX: &str = "plan-";
const OWNER_FILE: &str = ".owner";
/// An owner stamp is one short line; anything longer is not one.
const MAX_OWNER_LEN: u64 = 512;
/// How long an unstamped plan directory is left to its creator.
const UNSTAMPED_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

/// Creates a plan directory in `work_dir` stamped with this process as its
/// owner. It is removed when the returned handle is dropped.
pub(crate) fn create_plan_dir(
    work_dir: &Path,
    tenant: &str,
    day: i32,
) -> Result<tempfile::TempDir> {
    std::fs::create_dir_all(work_dir)
        .with_context(|| format!("creating work dir {}", work_dir.display()))?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("{PLAN_DIR_PREFIX}{tenant}-{day}-"))
        .tempdir_in(work_dir)
        .with_context(|| format!("creating a plan dir in {}", work_dir.display()))?;
    let owner = dir.path().join(OWNER_FILE);
    std::fs::write(&owner, Owner::me().to_string())
        .with_context(|| format!("writing {}", owner.display()))?;
    Ok(dir)
}

/// Removes the plan directories of `work_dir` whose owner process is gone.
/// Returns the directories removed. Errors on single entries are logged,
/// not returned: a sweep that cannot finish must not stop the builder.
pub(crate) fn sweep_abandoned(work_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return Vec::new();
    };
    let me = Owner::me();
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let is_plan_dir = name.to_string_lossy().starts_with(PLAN_DIR_PREFIX)
            && e.file_type().is_ok_and(|t| t.is_dir());
        if !is_plan_dir {
            continue;
        }
        let dir = e.path();
        let owner = read_owner(&dir);
        let abandoned = match &owner {
            Some(o) => o.host == me.host && !o.is_alive(),
            // Not stamped yet: a builder is between creating it and
            // stamping it right now, or was killed in that instant. Only
            // an old one is the second case.
            None => older_than(&dir, UNSTAMPED_GRACE),
        };
        // Looked at again right before removing: the entry may have been
        // replaced by a symlink since it was listed. (remove_dir_all would
        // only unlink a symlink, but nothing here goes through one.)
        let still_a_dir = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_dir());
        if !abandoned || !still_a_dir {
            continue;
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                info!(dir = %dir.display(), "removed the plan dir of a builder that is gone");
                removed.push(dir);
            }
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "cannot remove an abandoned plan dir")
            }
        }
    }
    removed
}

/// The owner stamp of a plan directory, if it is one: a regular file (not
/// a symlink, FIFO or device), read through the same inode that was
/// checked, at most [`MAX_OWNER_LEN`] bytes.
fn read_owner(dir: &Path) -> Option<Owner> {
    use std::os::unix::fs::MetadataExt;
    let path = dir.join(OWNER_FILE);
    let before = std::fs::symlink_metadata(&path).ok()?;
    if !before.file_type().is_file() || before.len() > MAX_OWNER_LEN {
        return None;
    }
    let file = std::fs::File::open(&path).ok()?;
    let opened = file.metadata().ok()?;
    if (opened.dev(), opened.ino()) != (before.dev(), before.ino()) {
        return None;
    }
    let mut s = String::new();
    file.take(MAX_OWNER_LEN).read_to_string(&mut s).ok()?;
    Owner::parse(&s)
}

/// Who created a plan directory.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Owner {
    host: String,
    pid: u32,
    /// Start time of the process in clock ticks since boot (field 22 of
    /// `/proc/PID/stat`); 0 where unknown.
    started: u64,
}

impl Owner {
    fn me() -> Owner {
        let pid = std::process::id();
        Owner {
            host: hostname(),
            pid,
            started: process_start(pid).unwrap_or(0),
        }
    }

    fn parse(s: &str) -> Option<Owner> {
        let mut it = s.split_whitespace();
        let host = it.next()?.to_string();
        let pid = it.next()?.parse().ok()?;
        let started = it.next()?.parse().ok()?;
        Some(Owner { host, pid, started })
    }

    fn is_alive(&self) -> bool {
        match process_start(self.pid) {
            None => false,
            // A PID reused by another process has another start time.
            Some(started) => self.started == 0 || started == self.started,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.host, self.pid, self.started)
    }
}

fn older_than(dir: &Path, age: std::time::Duration) -> bool {
    std::fs::symlink_metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|e| e > age)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        .unwrap_or_else(|| "localhost".into())
}

/// Start time of a live process, `None` when there is no such process.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces;
    // fields are counted after its closing one.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_directories_survive_and_dead_ones_go() {
        let work = tempfile::tempdir().unwrap();
        let mine = create_plan_dir(work.path(), "t", 1).unwrap();
        let dead = work.path().join("plan-t-2-dead");
        std::fs::create_dir(&dead).unwrap();
        let gone = Owner {
            pid: u32::MAX - 1,
            ..Owner::me()
        };
        std::fs::write(dead.join(OWNER_FILE), gone.to_string()).unwrap();
        let reused = work.path().join("plan-t-3-reused");
        std::fs::create_dir(&reused).unwrap();
        let other_start = Owner {
            started: Owner::me().started + 1,
            ..Owner::me()
        };
        std::fs::write(reused.join(OWNER_FILE), other_start.to_string()).unwrap();
        let foreign = work.path().join("plan-t-4-foreign");
        std::fs::create_dir(&foreign).unwrap();
        let elsewhere = Owner {
            host: "another-host".into(),
            pid: u32::MAX - 1,
            started: 1,
        };
        std::fs::write(foreign.join(OWNER_FILE), elsewhere.to_string()).unwrap();
        let unstamped = work.path().join("plan-t-5-being-created");
        std::fs::create_dir(&unstamped).unwrap();
        let unrelated = work.path().join("keep-me");
        std::fs::create_dir(&unrelated).unwrap();

        let mut removed = sweep_abandoned(work.path());
        removed.sort();
        assert_eq!(removed, vec![dead, reused]);
        assert!(mine.path().exists());
        assert!(foreign.exists() && unrelated.exists() && unstamped.exists());
    }

    /// Nothing outside the work dir is removed or trusted through a
    /// symlink: a `plan-*` symlink to a dead builder's directory elsewhere,
    /// symlinks inside a dead plan dir, and an owner stamp linked from a
    /// dead directory into a live one.
    #[test]
    fn symlinks_are_never_followed_out_of_the_work_dir() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir(&work).unwrap();
        // Outside the work dir: a directory stamped by a dead process.
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let dead = Owner {
            pid: u32::MAX - 1,
            ..Owner::me()
        };
        std::fs::write(outside.join(OWNER_FILE), dead.to_string()).unwrap();
        std::fs::write(outside.join("precious"), "keep").unwrap();

        let linked = work.join("plan-t-1-linked");
        symlink(&outside, &linked).unwrap();
        let dead_dir = work.join("plan-t-2-dead");
        std::fs::create_dir(&dead_dir).unwrap();
        std::fs::write(dead_dir.join(OWNER_FILE), dead.to_string()).unwrap();
        symlink(&outside, dead_dir.join("runs")).unwrap();
        symlink(outside.join("precious"), dead_dir.join("block")).unwrap();
        // A live (just created, so within the unstamped grace) directory
        // whose stamp is a link to the dead one's.
        let borrowed = work.join("plan-t-3-borrowed-stamp");
        std::fs::create_dir(&borrowed).unwrap();
        symlink(outside.join(OWNER_FILE), borrowed.join(OWNER_FILE)).unwrap();
        std::fs::write(borrowed.join("sort-run"), "in use").unwrap();

        let removed = sweep_abandoned(&work);
        assert_eq!(removed, vec![dead_dir.clone()]);
        assert!(!dead_dir.exists());
        assert_eq!(
            std::fs::read_to_string(outside.join("precious")).unwrap(),
            "keep"
        );
        assert!(outside.join(OWNER_FILE).exists());
        assert!(
            std::fs::symlink_metadata(&linked).is_ok(),
            "link left alone"
        );
        assert!(
            borrowed.join("sort-run").exists(),
            "a linked stamp is not trusted"
        );
    }

    #[test]
    fn own_process_is_alive() {
        let me = Owner::me();
        assert!(me.started > 0);
        assert!(me.is_alive());
        assert_eq!(Owner::parse(&me.to_string()), Some(me));
    }
}
