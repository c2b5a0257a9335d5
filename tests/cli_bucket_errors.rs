//! Permanent bucket errors fail fast (issue 13, class 9): no such bucket
//! and missing credentials are not retried as if transient, and missing
//! credentials are explained in one line naming the variables to set.
//! Served by `moto_server` (skipped with a message when missing, unless
//! BLOCKSCONVERT_TEST_REQUIRE_TOOLS is set).

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "support/cli.rs"]
mod cli;
use cli::bin;

/// A moto server, killed on drop.
struct Moto(Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto() -> Option<Moto> {
    let exe: PathBuf = std::env::var_os("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server"));
    if !exe.exists() {
        assert!(
            std::env::var_os("BLOCKSCONVERT_TEST_REQUIRE_TOOLS").is_none(),
            "moto_server is required (run scripts/install-test-deps.sh)"
        );
        eprintln!("skipping: {} not installed", exe.display());
        return None;
    }
    let port = free_port();
    let child = Command::new(&exe)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto_server");
    let m = Moto(child, port);
    let end = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(m)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `status` on `url` with only `vars` of the AWS ones set; with the
/// default five retries, a retried failure would take over six seconds
/// of backoff.
fn status(url: &str, vars: &[(&str, String)]) -> (Output, Duration) {
    let mut c = Command::new(bin());
    c.args(["status", "--bucket", url]);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("GOOGLE_") {
            c.env_remove(k);
        }
    }
    for (k, v) in vars {
        c.env(k, v);
    }
    let start = Instant::now();
    let o = c.output().expect("running blocksconvert");
    (o, start.elapsed())
}

#[test]
fn permanent_bucket_errors_are_not_retried() {
    let Some(m) = moto() else { return };
    let endpoint = format!("http://127.0.0.1:{}", m.1);

    let creds = [
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
    ];
    let (o, took) = status("s3://no-such-bucket", &creds);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("NoSuchBucket") || err.contains("404"), "{err}");
    assert!(!err.contains("attempts)"), "retried: {err}");
    assert!(took < Duration::from_secs(3), "took {took:?}: {err}");

    // No credentials at all: the client falls back to a metadata endpoint
    // (here a closed port, standing in for a laptop's missing one).
    let nothing = format!("http://127.0.0.1:{}", free_port());
    let (o, took) = status(
        "s3://no-such-bucket",
        &[
            ("AWS_ENDPOINT_URL", endpoint.clone()),
            ("AWS_METADATA_ENDPOINT", nothing),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}: {err}");
}
