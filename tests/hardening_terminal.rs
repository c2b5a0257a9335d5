//! Terminal safety (issue 13, class 8): text from the bucket is escaped
//! before `status` prints it, and a status file over the 1 MiB cap makes
//! its plan invalid instead of being read whole.

use std::path::Path;
use std::process::Command;

#[path = "support/cli.rs"]
mod cli;
use cli::{bin, put};

fn status(bucket: &Path) -> String {
    let out = Command::new(bin())
        .args(["status", "--bucket"])
        .arg(bucket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn failure_reasons_are_printed_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    put(&bucket, "migration/t/1.plan", b"x");
    // Clears the screen, rings the bell and reverses the line when cat'ed.
    let reason = "boom\u{1b}[2J\u{7}\u{202e}txet\r\nFAKE LINE";
    let rec = serde_json::json!({"reason": reason, "builder": "b", "at": "t", "attempt": 1});
    put(
        &bucket,
        "migration/t/1.failed",
        serde_json::to_vec(&rec).unwrap(),
    );
    let out = status(&bucket);
    assert!(out.contains("FAILED t/1"), "{out}");
    assert!(
        !out.chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
        "raw control characters in {out:?}"
    );
    assert!(
        out.contains("boom\\u{1b}[2J\\u{7}\\u{202e}txet\\u{d}\\u{a}FAKE LINE"),
        "{out}"
    );
}

#[test]
fn a_status_file_over_the_cap_is_invalid_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    put(&bucket, "migration/t/1.plan", b"x");
    put(&bucket, "migration/t/1.failed", vec![b'A'; (1 << 20) + 1]);
    put(&bucket, "migration/t/2.plan", b"x");
    put(
        &bucket,
        "migration/t/2.finished.01ARZ3NDEKTSV4RRFFQ69G5FAV",
        vec![b' '; 3 << 20],
    );
    let out = status(&bucket);
    assert!(
        out.contains("INVALID t/1") && out.contains("1.failed is 1048577 bytes"),
        "{out}"
    );
    assert!(
        out.contains("INVALID t/2") && out.contains("is 3145728 bytes"),
        "{out}"
    );
    assert!(!out.contains("FAILED t/1"), "{out}");
}
