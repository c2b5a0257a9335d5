//! Local stand-ins for the Cortex index stores: the Bigtable emulator
//! (`cbtemulator`, shipped with the Google Cloud SDK) and moto's DynamoDB
//! API server (`moto_server`, from PyPI, installed into `.venv` by
//! `scripts/install-test-deps.sh`). Each runs on a free port of 127.0.0.1
//! and is killed when its guard is dropped.
//!
//! A missing tool skips the test with a message, or fails it when
//! `BLOCKSCONVERT_TEST_REQUIRE_TOOLS` is set (CI must not pass by skipping).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const CBTEMULATOR: &str = "/usr/lib/google-cloud-sdk/platform/bigtable-emulator/cbtemulator";

/// A running emulator; killed (and reaped) on drop.
pub struct Emulator {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// The port it listens on, picked free at start.
    pub port: u16,
    name: &'static str,
}

impl Emulator {
    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.name, self.addr)
    }
}

/// Whether missing tools must fail the tests.
pub fn tools_required() -> bool {
    std::env::var_os("BLOCKSCONVERT_TEST_REQUIRE_TOOLS").is_some()
}

/// Skips (prints why, returns `None`) or, when tools are required, fails.
fn missing(tool: &str, exe: &Path) -> Option<Emulator> {
    assert!(
        !tools_required(),
        "{tool} is required but {} does not exist (run scripts/install-test-deps.sh)",
        exe.display()
    );
    eprintln!(
        "skipping: {tool} not installed at {} (run scripts/install-test-deps.sh)",
        exe.display()
    );
    None
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port())
}

fn spawn(name: &'static str, exe: &Path, args: &[String], port: u16) -> Result<Emulator> {
    let child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let mut em = Emulator {
        child,
        addr: format!("127.0.0.1:{port}"),
        port,
        name,
    };
    let end = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = em.child.try_wait()? {
            bail!("{name} exited with {status} before listening on port {port}");
        }
        if Instant::now() > end {
            bail!("{name} did not listen on port {port} within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(em)
}

/// Starts `cbtemulator` (path from `CBTEMULATOR`, else the Cloud SDK's).
/// Point clients at it with `BIGTABLE_EMULATOR_HOST` = [`Emulator::addr`].
pub fn bigtable() -> Result<Option<Emulator>> {
    let exe = std::env::var_os("CBTEMULATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CBTEMULATOR));
    if !exe.exists() {
        return Ok(missing("cbtemulator", &exe));
    }
    let port = free_port()?;
    let args = [
        "-host".to_string(),
        "127.0.0.1".into(),
        "-port".into(),
        port.to_string(),
    ];
    spawn("cbtemulator", &exe, &args, port).map(Some)
}

/// Starts `moto_server` (path from `MOTO_SERVER`, else `.venv/bin/moto_server`
/// of the workspace). It serves DynamoDB and S3 at [`Emulator::endpoint`],
/// with any credentials.
pub fn moto() -> Result<Option<Emulator>> {
    let exe = std::env::var_os("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/moto_server"));
    if !exe.exists() {
        return Ok(missing("moto_server", &exe));
    }
    let port = free_port()?;
    let args = [
        "-H".to_string(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
    ];
    spawn("moto_server", &exe, &args, port).map(Some)
}
