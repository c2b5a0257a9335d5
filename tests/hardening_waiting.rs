//! Nothing waits silently (issue 13, class 6): `build --once` with nothing
//! claimable and no `scan-complete` marker says what it waits for, naming
//! the marker's key, from the first wait on.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/cli.rs"]
mod cli;
use cli::bin;

#[test]
fn an_idle_build_names_the_marker_it_waits_for() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    std::fs::create_dir_all(bucket.join("migration")).unwrap();
    let mut child = Command::new(bin())
        .args(["build", "--once", "--poll-interval", "100ms", "--name", "b"])
        .args(["--builders", "2", "--bucket"])
        .arg(&bucket)
        .arg("--work-dir")
        .arg(tmp.path().join("work"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Well under the one-minute repeat: the first wait must be logged.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        assert!(
            child.try_wait().unwrap().is_none(),
            "build --once returned without a scan-complete marker"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(
        text.contains("waiting for the scan-complete marker"),
        "{text}"
    );
    assert!(text.contains("migration/scan-complete"), "{text}");
    // Once by each builder of the process, not at every poll.
    assert_eq!(text.matches("no plan to claim").count(), 2, "{text}");
    for b in ["builder=b-0", "builder=b-1"] {
        assert_eq!(text.matches(b).count(), 1, "{b}: {text}");
    }
}
