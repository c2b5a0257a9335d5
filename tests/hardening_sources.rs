//! Sources are confined (issue 13, class 2). A forged Prometheus plan
//! naming a block outside the builder's `--source prometheus:ROOT` (another
//! tenant's directory, `..`, a relative path, a symlink out of the root, a
//! metadata endpoint, another bucket) fails with a reason naming the entry,
//! and nothing is read or requested; a symlink in a local bucket pointing
//! out of it is refused.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/cli.rs"]
mod cli;
use cli::bin;

/// Day 19675 (2023-11-14), well inside one day.
const SAMPLES: &str =
    "# TYPE up gauge\nup{job=\"JOB\"} 1 1700000000\nup{job=\"JOB\"} 2 1700000060\n# EOF\n";

fn run(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> (bool, String) {
    let out = Command::new(bin())
        .current_dir(cwd)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A data dir under `dir` holding one block of `job`'s samples; its ULID.
fn data_dir(dir: &Path, job: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let input = dir.with_extension("om");
    std::fs::write(&input, SAMPLES.replace("JOB", job)).unwrap();
    let blocks = testkit::promtool::create_blocks_from_openmetrics(&input, dir).unwrap();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    blocks[0].clone()
}

/// Files under `dir` whose name contains `part`.
fn files(dir: &Path, part: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, part));
        } else if e.file_name().to_string_lossy().contains(part) {
            out.push(p);
        }
    }
    out
}

struct Setup {
    tmp: tempfile::TempDir,
    root: PathBuf,
    ulid_a: String,
    other: PathBuf,
    ulid_b: String,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(tmp.path()).unwrap();
    let root = base.join("a");
    let ulid_a = data_dir(&root, "a");
    // Another tenant's data, which team-a's builder must never copy.
    let other = base.join("b");
    let ulid_b = data_dir(&other, "secret-of-b");
    Setup {
        tmp,
        root,
        ulid_a,
        other,
        ulid_b,
    }
}

/// Scans team-a's root into a fresh bucket, rewrites its plan's block entry
/// to `forged`, and runs `build --once` with team-a's root as its source.
/// `build --once` of the plans in `bucket`, `extra` flags (`--source`)
/// added: whether it succeeded and what it printed.
fn build_once(
    cwd: &Path,
    bucket: &Path,
    work: &Path,
    extra: &[&str],
    env: &[(&str, String)],
) -> (bool, String) {
    let mut args = vec![
        "build",
        "--once",
        "--poll-interval",
        "50ms",
        "--bucket",
        bucket.to_str().unwrap(),
        "--work-dir",
        work.to_str().unwrap(),
    ];
    args.extend(extra);
    run(cwd, &args, env)
}

/// The reason in the one `.failed` marker the build left in `bucket`.
fn only_failure(bucket: &Path, out: &str) -> String {
    let failed = files(bucket, ".failed");
    assert_eq!(failed.len(), 1, "{failed:?}\n{out}");
    std::fs::read_to_string(&failed[0]).unwrap()
}

fn build_forged(
    s: &Setup,
    case: usize,
    forged: &str,
    env: &[(&str, String)],
) -> (bool, PathBuf, String) {
    let cwd = s.tmp.path();
    let bucket = cwd.join(format!("bucket-{case}"));
    let work = cwd.join(format!("work-{case}"));
    let src = format!("prometheus:{}", s.root.display());
    let b = bucket.to_str().unwrap();
    let (ok, out) = run(
        cwd,
        &[
            "scan",
            "--source",
            &src,
            "--tenant",
            "team-a",
            "--bucket",
            b,
            "--plan-compression",
            "none",
        ],
        &[],
    );
    assert!(ok, "{out}");
    let plans = files(&bucket, ".plan");
    assert_eq!(plans.len(), 1, "{plans:?}");
    let text = std::fs::read_to_string(&plans[0]).unwrap();
    let genuine = format!("file://{}/{}", s.root.display(), s.ulid_a);
    assert!(text.contains(&genuine), "{text}");
    std::fs::write(&plans[0], text.replace(&genuine, forged)).unwrap();
    let (ok, out) = build_once(cwd, &bucket, &work, &["--source", &src], env);
    (ok, bucket, out)
}

#[test]
fn forged_prometheus_entries_outside_the_roots_are_refused_unread() {
    let s = setup();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // A link inside the root, named like a block, to the other tenant's.
    let link_ulid = "01HF0000000000000000000000";
    std::os::unix::fs::symlink(s.other.join(&s.ulid_b), s.root.join(link_ulid)).unwrap();
    let (root, other, ub) = (s.root.display(), s.other.display(), &s.ulid_b);
    let forged = [
        format!("file://{other}/{ub}"),
        format!("{other}/{ub}"),
        format!("file://{root}/../b/{ub}"),
        format!("{root}/../b/{ub}"),
        format!("b/{ub}"),
        format!("file://{root}/{link_ulid}"),
        format!("http://169.254.169.254/latest/meta-data/{ub}"),
        format!("s3://other-tenant/{ub}"),
        format!("s3://other-tenant/a/{ub}"),
    ];
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "forged".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "forged".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ];
    for (i, entry) in forged.iter().enumerate() {
        let (ok, bucket, out) = build_forged(&s, i, entry, &env);
        assert!(!ok, "{entry}: build succeeded\n{out}");
        let reason = only_failure(&bucket, &format!("{entry}: {out}"));
        assert!(
            reason.contains(&entry.escape_debug().to_string()) && reason.contains("refused"),
            "{entry}: {reason}"
        );
        // Nothing of the other tenant was copied into a block.
        assert!(
            files(&bucket, "meta.json").is_empty(),
            "{entry}: a block was written\n{out}"
        );
        assert!(files(&bucket, ".finished.").is_empty(), "{entry}\n{out}");
    }
    // No request reached a host the builder was not given.
    assert!(listener.accept().is_err(), "a forged plan made a request");

    // The genuine plan still builds with the same flags.
    let genuine = format!("file://{root}/{}", s.ulid_a);
    let (ok, bucket, out) = build_forged(&s, forged.len(), &genuine, &[]);
    assert!(ok, "{out}");
    assert_eq!(files(&bucket, ".finished.").len(), 1, "{out}");
}

#[test]
fn prometheus_plans_fail_without_a_source() {
    let s = setup();
    let cwd = s.tmp.path();
    let bucket = cwd.join("bucket");
    let b = bucket.to_str().unwrap();
    let src = format!("prometheus:{}", s.root.display());
    let (ok, out) = run(
        cwd,
        &[
            "scan", "--source", &src, "--tenant", "team-a", "--bucket", b,
        ],
        &[],
    );
    assert!(ok, "{out}");
    let w = cwd.join("work");
    let (ok, out) = build_once(cwd, &bucket, &w, &[], &[]);
    assert!(!ok, "{out}");
    let reason = only_failure(&bucket, &out);
    assert!(
        reason.contains(&s.ulid_a) && reason.contains("--source prometheus:"),
        "{reason}"
    );
}

#[test]
fn a_symlink_in_a_local_bucket_is_not_followed_out_of_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let input = cwd.join("in.om");
    std::fs::write(&input, SAMPLES.replace("JOB", "a")).unwrap();
    let bucket = cwd.join("bucket");
    let b = bucket.to_str().unwrap();
    let src = format!("openmetrics:{}", input.display());
    let (ok, out) = run(
        cwd,
        &["scan", "--source", &src, "--tenant", "t", "--bucket", b],
        &[],
    );
    assert!(ok, "{out}");
    let staged = files(&bucket, ".staged");
    assert_eq!(staged.len(), 1, "{staged:?}");
    // The staged samples now live outside the bucket, reached by a link.
    let outside = cwd.join("outside.staged");
    std::fs::rename(&staged[0], &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &staged[0]).unwrap();
    let w = cwd.join("work");
    let (ok, out) = build_once(cwd, &bucket, &w, &[], &[]);
    assert!(!ok, "{out}");
    let reason = only_failure(&bucket, &out);
    let key = staged[0]
        .strip_prefix(std::fs::canonicalize(&bucket).unwrap_or(bucket.clone()))
        .map(|k| k.display().to_string());
    let key = key.unwrap_or_else(|_| {
        staged[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    });
    assert!(
        reason.contains(&key) && reason.contains("symlink"),
        "{reason}"
    );
    assert!(files(&bucket, "meta.json").is_empty(), "{out}");
    assert!(outside.exists(), "the outside file was consumed");
}
