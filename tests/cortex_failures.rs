//! What the Cortex builder and verifier do when the chunk store is not what
//! the plans say: a corrupt chunk fails its plan with a failed file naming
//! the chunk; a missing chunk is counted and skipped, as Cortex does for
//! object stores; verify notices samples a block has but the store lost.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");
const CASE: &str = "testdata/cortex/v11-hashed-xor";

fn case() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(CASE)
}

struct Setup {
    _tmp: tempfile::TempDir,
    bucket: PathBuf,
    chunks: PathBuf,
    work: PathBuf,
    source: String,
}

/// A bucket with the alpha plan of day 20775 and a private copy of the chunks.
fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    let plans = bucket.join("migration/alpha");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::copy(
        case().join("plans/alpha/20775.plan.snappy"),
        plans.join("20775.plan.snappy"),
    )
    .unwrap();
    std::fs::write(bucket.join("migration/scan-complete"), b"").unwrap();
    let chunks = tmp.path().join("chunks");
    std::fs::create_dir_all(&chunks).unwrap();
    for e in std::fs::read_dir(case().join("chunks")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), chunks.join(e.file_name())).unwrap();
    }
    let config = tmp.path().join("cortex.yaml");
    std::fs::copy(case().join("schema.yaml"), &config).unwrap();
    Setup {
        bucket,
        chunks,
        work: tmp.path().join("work"),
        source: format!("cortex:{}", config.display()),
        _tmp: tmp,
    }
}

fn run(cmd: &str, s: &Setup) -> Output {
    let mut args = vec![
        cmd,
        "--bucket",
        s.bucket.to_str().unwrap(),
        "--source",
        &s.source,
        "--chunks-dir",
        s.chunks.to_str().unwrap(),
        "--work-dir",
        s.work.to_str().unwrap(),
    ];
    if cmd == "build" {
        args.extend(["--once", "--poll-interval", "50ms"]);
    }
    Command::new(BIN)
        .args(&args)
        .output()
        .expect("running blocksconvert")
}

/// The chunk IDs of the plan, in plan order (from the decompressed copy).
fn plan_chunk_ids() -> Vec<String> {
    let text = std::fs::read_to_string(case().join("plans/alpha/20775.plan.jsonl")).unwrap();
    let mut ids = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(cs) = v["cs"].as_array() {
            ids.extend(cs.iter().map(|c| c.as_str().unwrap().to_string()));
        }
    }
    ids
}

fn file_of(s: &Setup, id: &str) -> PathBuf {
    s.chunks.join(cortex::filesystem_file_name(id))
}

fn block_count(bucket: &Path) -> usize {
    std::fs::read_dir(bucket.join("alpha")).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().join("meta.json").is_file())
        })
        .count()
    })
}

#[test]
fn corrupt_chunk_fails_the_plan_naming_the_chunk() {
    let s = setup();
    let id = plan_chunk_ids()[3].clone();
    let file = file_of(&s, &id);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&file, bytes).unwrap();

    let out = run("build", &s);
    assert!(!out.status.success(), "build must fail");
    let failed = std::fs::read_to_string(s.bucket.join("migration/alpha/20775.failed")).unwrap();
    assert!(
        failed.contains(&id),
        "failed file must name chunk {id}: {failed}"
    );
    assert!(failed.contains("checksum"), "{failed}");
    assert_eq!(block_count(&s.bucket), 0, "no block may be uploaded");
}

#[test]
fn missing_chunk_is_skipped_and_verify_sees_the_loss() {
    let s = setup();
    let out = run("build", &s);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(block_count(&s.bucket), 1);
    let out = run("verify", &s);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The store loses a chunk after the build: the block now holds samples
    // the store does not, which verify must report.
    let id = plan_chunk_ids()[0].clone();
    std::fs::remove_file(file_of(&s, &id)).unwrap();
    let out = run("verify", &s);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "verify must fail:\n{stdout}");

    // Rebuilding without the chunk works: it is skipped, as Cortex does.
    std::fs::remove_dir_all(s.bucket.join("alpha")).unwrap();
    for e in std::fs::read_dir(s.bucket.join("migration/alpha")).unwrap() {
        let p = e.unwrap().path();
        if !p.to_string_lossy().ends_with(".plan.snappy") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let out = run("build", &s);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run("verify", &s);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
