//! Command lines refused before anything runs (issue 13, classes 4 and 5):
//! typos in bucket URLs and flag values exit with a message naming the
//! flag or the valid forms, never a panic, never a stray directory.

use std::path::Path;
use std::process::{Command, Output};

#[path = "support/cli.rs"]
mod cli;
use cli::bin;

fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("TMPDIR", cwd)
        .output()
        .expect("running blocksconvert")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Nothing but what the test itself put in `dir`.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Fails if anything (a bucket, a work dir) was created in `dir`.
fn assert_nothing_created(dir: &Path) {
    let created = entries(dir);
    assert!(created.is_empty(), "created {created:?}");
}

/// `run` of an OpenMetrics file into a local bucket: the flags every case
/// here starts from.
const RUN: [&str; 7] = [
    "run",
    "--source",
    "openmetrics:in.om",
    "--bucket",
    "b",
    "--tenant",
    "t",
];

#[test]
fn url_typos_are_errors_not_local_directories() {
    let cwd = tempfile::tempdir().unwrap();
    for url in ["s3:/b", "s3//b", "S3://b", "gcs://b", "s3:b"] {
        for cmd in [
            &["status", "--bucket", url][..],
            &["retry", "--bucket", url][..],
        ] {
            let o = run_in(cwd.path(), cmd);
            assert_eq!(o.status.code(), Some(1), "{cmd:?}: {}", stderr(&o));
            assert!(
                stderr(&o).contains("valid forms"),
                "{cmd:?}: {}",
                stderr(&o)
            );
        }
    }
    assert_nothing_created(cwd.path());
}

#[test]
fn readers_never_create_a_missing_bucket() {
    let cwd = tempfile::tempdir().unwrap();
    let o = run_in(cwd.path(), &["status", "--bucket", "no-such-bucket"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("no bucket directory"), "{err}");
    // Printed absolute, so the user sees which directory was looked at.
    let abs = cwd.path().canonicalize().unwrap().join("no-such-bucket");
    let shown = std::path::absolute(cwd.path().join("no-such-bucket")).unwrap();
    assert!(
        err.contains(&*abs.to_string_lossy()) || err.contains(&*shown.to_string_lossy()),
        "{err}"
    );
    let o = run_in(
        cwd.path(),
        &["build", "--once", "--bucket", "no-such-bucket"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_nothing_created(cwd.path());
}

#[test]
fn bad_flag_values_exit_2_before_anything_runs() {
    let cwd = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--builders", "0"], "--builders"),
        (&["--max-attempts", "0"], "--max-attempts"),
        (&["--heartbeat", "0s"], "--heartbeat"),
        (&["--poll-interval", "0s"], "--poll-interval"),
        (&["--scan-interval", "0"], "--scan-interval"),
        (
            &["--stale-after", "30s", "--heartbeat", "1m"],
            "--stale-after",
        ),
        (
            &["--stale-after", "1m", "--heartbeat", "1m"],
            "--stale-after",
        ),
        (&["--from", "2026-01-02", "--to", "2026-01-01"], "--from"),
        (&["--from", "2026-01-02", "--to", "2026-01-02"], "--from"),
        (&["--memory-budget", "1KiB"], "--memory-budget"),
        (&["--memory-budget", "0"], "--memory-budget"),
        (&["--concurrency", "0"], "--concurrency"),
        (&["--heartbeat", "99999999999h"], "--heartbeat"),
        (
            &["--memory-budget", "99999999999999999999GiB"],
            "--memory-budget",
        ),
        (&["--bucket-rate-limit=-1"], "--bucket-rate-limit"),
    ];
    for (extra, flag) in cases {
        let args: Vec<&str> = RUN.iter().chain(extra.iter()).copied().collect();
        let o = run_in(cwd.path(), &args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(flag), "{extra:?} does not name {flag}: {err}");
        assert!(!err.contains("panicked"), "{extra:?}: {err}");
    }
    for cmd in [
        &["build", "--bucket", "b", "--poll-interval", "0s"][..],
        &["build", "--bucket", "b", "--concurrency", "0"][..],
        &["build", "--bucket", "b", "--builders", "0"][..],
        &[
            "build",
            "--bucket",
            "b",
            "--memory-budget",
            "64KiB",
            "--builders",
            "2",
        ][..],
        &["schedule", "--bucket", "b", "--max-attempts", "0"][..],
        &["schedule", "--bucket", "b", "--scan-interval", "0s"][..],
        &["status", "--bucket", "b", "--stale-after", "0s"][..],
    ] {
        let o = run_in(cwd.path(), cmd);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", stderr(&o));
    }
    // Refused before anything ran: no bucket, no work dir.
    assert_nothing_created(cwd.path());
}

#[test]
fn human_durations_and_fractional_sizes_are_accepted() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(
        cwd.path().join("in.om"),
        "# TYPE up gauge\nup{job=\"a\"} 1 1700000000\n# EOF\n",
    )
    .unwrap();
    let flags = [
        "--memory-budget",
        "1.5GiB",
        "--stale-after",
        "1h30m",
        "--heartbeat",
        "1m30s",
        "--dry-run",
    ];
    let args: Vec<&str> = RUN.iter().chain(&flags).copied().collect();
    let o = run_in(cwd.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// What `--help` of `cmd` says about `flag`: its line and the wrapped
/// lines after it, up to the next flag.
fn help_of(cmd: &str, flag: &str) -> Option<String> {
    let o = Command::new(bin()).args([cmd, "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let head = format!("{flag} ");
    let mut lines = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(&head));
    let first = lines.next()?;
    let mut out: Vec<&str> = first.split_whitespace().collect();
    for l in lines.take_while(|l| !l.trim_start().starts_with('-')) {
        out.extend(l.split_whitespace());
    }
    Some(out.join(" "))
}

#[test]
fn one_flag_one_meaning_and_default_across_subcommands() {
    for flag in [
        "--builders",
        "--concurrency",
        "--poll-interval",
        "--memory-budget",
        "--work-dir",
    ] {
        let seen: Vec<(&str, String)> = ["run", "scan", "build", "verify"]
            .into_iter()
            .filter_map(|c| help_of(c, flag).map(|h| (c, h)))
            .collect();
        assert!(seen.len() >= 2, "{flag}: {seen:?}");
        for (c, h) in &seen[1..] {
            assert_eq!(h, &seen[0].1, "{flag}: {c} differs from {}", seen[0].0);
        }
    }
}

/// `--tenant` selects tenants in every subcommand (issue 13): one help
/// text wherever the filter is, and where data goes is another flag,
/// `--target-tenant`, only where a source is read.
#[test]
fn tenant_is_the_filter_everywhere_and_the_target_has_its_own_name() {
    let filter = help_of("build", "--tenant").expect("build --tenant");
    assert!(filter.contains("Only these tenants"), "{filter}");
    for cmd in ["run", "scan", "verify", "schedule", "status"] {
        assert_eq!(
            help_of(cmd, "--tenant").as_ref(),
            Some(&filter),
            "{cmd} --tenant"
        );
    }
    let retry = help_of("retry", "--tenant").expect("retry --tenant");
    assert!(retry.contains("Only"), "retry --tenant filters: {retry}");
    for cmd in ["run", "scan", "verify"] {
        assert!(help_of(cmd, "--target-tenant").is_some(), "{cmd}");
    }
    for cmd in ["build", "schedule", "status", "retry"] {
        assert!(help_of(cmd, "--target-tenant").is_none(), "{cmd}");
    }
}

/// An OpenMetrics file (one series, one day) in `dir`.
fn om_file(dir: &Path) {
    std::fs::write(
        dir.join("in.om"),
        "# TYPE up gauge\nup{job=\"a\"} 1 1700000000\nup{job=\"a\"} 2 1700000060\n# EOF\n",
    )
    .unwrap();
}

/// `--target-tenant` names where a source without tenants goes; a lone
/// `--tenant` still does (scripts written before it); a target the filter
/// leaves out, or a lone `--tenant` beside `--tenant-label`, is refused.
#[test]
fn target_tenant_names_where_data_goes() {
    let cwd = tempfile::tempdir().unwrap();
    om_file(cwd.path());
    let work = cwd.path().join("w");
    let work = work.to_str().unwrap();
    let run = |bucket: &str, tenant_flags: &[&str]| {
        let mut args = vec![
            "run",
            "--source",
            "openmetrics:in.om",
            "--bucket",
            bucket,
            "--work-dir",
            work,
            "--progress",
            "never",
        ];
        args.extend(tenant_flags);
        run_in(cwd.path(), &args)
    };
    // Directories only: the prefix also holds the scan markers and the
    // claimable-plans index, files beside the tenants.
    let tenant_dirs = |bucket: &str| {
        let prefix = cwd.path().join(bucket).join("migration");
        let mut v = entries(&prefix);
        v.retain(|e| prefix.join(e).is_dir());
        v
    };
    let o = run("b1", &["--target-tenant", "team-x"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(tenant_dirs("b1"), ["team-x"]);
    let o = run("b2", &["--tenant", "team-y"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(tenant_dirs("b2"), ["team-y"]);

    let o = run("b3", &["--target-tenant", "x", "--tenant", "y"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--target-tenant"), "{}", stderr(&o));
    let o = run_in(
        cwd.path(),
        &[
            "scan",
            "--source",
            "prometheus:data",
            "--tenant-label",
            "tenant",
            "--tenant",
            "a",
            "--bucket",
            "b4",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--target-tenant"), "{}", stderr(&o));
    assert!(!cwd.path().join("b3").exists() && !cwd.path().join("b4").exists());
}

/// `verify` names buckets as `run` and `build` do: `--bucket` the plans,
/// `--output` the blocks.
#[test]
fn verify_takes_output_like_run_and_build() {
    for cmd in ["run", "build", "verify"] {
        assert!(help_of(cmd, "--output").is_some(), "{cmd} --output");
    }
    let cwd = tempfile::tempdir().unwrap();
    om_file(cwd.path());
    let common = ["--source", "openmetrics:in.om", "--tenant", "t"];
    let mut args = vec!["run", "--bucket", "plans", "--output", "blocks"];
    args.extend(["--work-dir", "w", "--progress", "never"]);
    args.extend(common);
    let o = run_in(cwd.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "--work-dir", "w"];
        args.extend(common);
        args.extend(extra);
        run_in(cwd.path(), &args)
    };
    let o = verify(&["--bucket", "plans", "--output", "blocks"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("verify: OK"), "{out}");
    // The plan bucket holds no block: verify must not look there.
    let o = verify(&["--bucket", "plans"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

/// Class 9: two users of one machine get different default work dirs, so
/// one cannot fail on (or sweep) the other's scratch files.
#[test]
fn the_default_work_dir_is_per_user() {
    let tmp = tempfile::tempdir().unwrap();
    let default_for = |user: &str| {
        let o = Command::new(bin())
            .args(["build", "--help"])
            .env("TMPDIR", tmp.path())
            .env("USER", user)
            .output()
            .expect("running blocksconvert");
        assert!(o.status.success(), "{}", stderr(&o));
        let help = String::from_utf8_lossy(&o.stdout).into_owned();
        let flag = help.find("--work-dir").expect("--work-dir in help");
        let start = help[flag..].find("[default: ").expect("a default") + flag + 10;
        let end = help[start..].find(']').unwrap() + start;
        help[start..end].to_string()
    };
    let (alice, bob) = (default_for("alice"), default_for("bob"));
    assert_ne!(alice, bob, "both users default to {alice}");
    for dir in [&alice, &bob] {
        assert!(
            Path::new(dir).starts_with(tmp.path()),
            "{dir} is not under $TMPDIR"
        );
    }
}
