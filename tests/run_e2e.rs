//! `blocksconvert run`: a whole campaign in one process (scanner,
//! scheduler, builders), through the real binary, on a local bucket and on
//! S3 (moto); its progress display on a terminal; and a clean stop on
//! SIGINT that leaves nothing behind but plans to resume.

mod protocol_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use protocol_support::{wait_child, Env, KillOnDrop, Moto, BIN, DAY0};

const TENANT: &str = "team-a";
const DAYS: i64 = 6;

/// An OpenMetrics file with samples on `DAYS` consecutive UTC days: one
/// plan per day.
fn write_input(dir: &Path) -> PathBuf {
    let mut text = String::from("# TYPE up gauge\n");
    for d in 0..DAYS {
        for s in 0..4 {
            for i in 0..20 {
                let ts = (DAY0 + d) * base::DAY_SECS + 600 + i * 60;
                text.push_str(&format!("up{{job=\"j{s}\"}} {} {ts}\n", d * 100 + i));
            }
        }
    }
    text.push_str("# EOF\n");
    let path = dir.join("input.om");
    std::fs::write(&path, text).expect("writing input");
    path
}

struct Campaign {
    env: Env,
    source: String,
    work: String,
}

impl Campaign {
    fn new(env: Env) -> Campaign {
        let input = write_input(env.work.path());
        let work = env.work.path().join("work").to_string_lossy().into_owned();
        Campaign {
            source: format!("openmetrics:{}", input.display()),
            env,
            work,
        }
    }

    fn run_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "run",
            "--source",
            &self.source,
            "--bucket",
            &self.env.url,
            "--tenant",
            TENANT,
            "--work-dir",
            &self.work,
            "--memory-budget",
            "16MiB",
            "--scan-interval",
            "200ms",
            "--poll-interval",
            "100ms",
        ];
        args.extend(extra);
        args
    }

    /// Every plan finished (`status --json`) and the blocks hold the input.
    fn assert_complete(&self) {
        let json = self
            .env
            .run_ok(&["status", "--bucket", &self.env.url, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("status JSON");
        assert_eq!(v["plans"], DAYS, "{json}");
        assert_eq!(v["states"]["finished"], DAYS, "{json}");
        assert_eq!(v["scan_complete"], true, "{json}");
        let out = self.env.run_ok(&[
            "verify",
            "--bucket",
            &self.env.url,
            "--source",
            &self.source,
            "--tenant",
            TENANT,
            "--work-dir",
            &self.work,
        ]);
        assert!(out.contains("verify: OK"), "{out}");
        let (visible, all) = self.env.blocks(TENANT);
        assert_eq!(visible.len() as i64, DAYS, "one block per day");
        assert_eq!(visible, all, "no partial block");
        protocol_support::promtool_accepts_blocks(&self.env, TENANT);
    }
}

/// `run --builders 4` converts every tenant-day, exits 0, prints the
/// summary, and logs progress lines when stderr is not a terminal.
fn run_to_the_end(c: &Campaign) {
    let (ok, stdout, stderr) = c.env.run(&c.run_args(&[
        "--builders",
        "4",
        "--progress",
        "never",
        "--progress-interval",
        "0s",
    ]));
    assert!(ok, "run failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("summary"), "{stdout}");
    assert!(stdout.contains("campaign"), "{stdout}");
    assert!(stderr.contains("progress"), "{stderr}");
    c.assert_complete();
}

#[test]
fn run_on_a_local_bucket() {
    run_to_the_end(&Campaign::new(Env::local()));
}

#[test]
fn run_on_s3() {
    let Some(moto) = Moto::start() else { return };
    // For this process's own look at the bucket; children get them from Env.
    for (k, v) in moto.vars() {
        std::env::set_var(k, v);
    }
    run_to_the_end(&Campaign::new(Env::s3(&moto, "run")));
}

/// On a terminal (a pseudo-terminal from `script`) the bar is drawn with
/// its counters, and the summary table follows.
#[test]
fn progress_bar_on_a_terminal() {
    let c = Campaign::new(Env::local());
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let out = if has_script {
        let mut cmd = quote(BIN);
        for a in c.run_args(&["--builders", "2"]) {
            cmd.push(' ');
            cmd.push_str(&quote(a));
        }
        let out = std::process::Command::new("script")
            .args(["-qfec", &cmd, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("running script");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        // No pty at hand: the same bar, forced onto a pipe.
        let (ok, stdout, stderr) = c.env.run(&c.run_args(&["--progress", "always"]));
        assert!(ok, "{stdout}\n{stderr}");
        format!("{stderr}{stdout}")
    };
    assert!(
        out.contains(&format!("{DAYS}/{DAYS} plans done")),
        "bar at the end: {out}"
    );
    assert!(out.contains("samples/s"), "{out}");
    assert!(out.contains("ETA"), "{out}");
    assert!(out.contains("samples out"), "summary table: {out}");
    c.assert_complete();
}

/// SIGINT with builds in flight: exit 130 at once, no progress file, no
/// block without meta.json, no local plan directory; a second run
/// finishes the campaign.
#[test]
fn sigint_stops_cleanly_and_a_second_run_resumes() {
    let c = Campaign::new(Env::local());
    let log = c.env.work.path().join("interrupted.log");
    let mut child = KillOnDrop(
        c.env
            .cmd(&c.run_args(&[
                "--builders",
                "2",
                "--pause-after-claim",
                "1h",
                "--heartbeat",
                "200ms",
            ]))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawning run"),
    );
    c.env.wait_until(Duration::from_secs(60), "two claims", || {
        c.env
            .keys()
            .iter()
            .filter(|k| k.ends_with(".progress"))
            .count()
            == 2
    });
    let sent = Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "sending SIGINT");
    let status = wait_child(&mut child.0, Duration::from_secs(20), "interrupted run");
    let mut stdout = String::new();
    if let Some(mut o) = child.0.stdout.take() {
        use std::io::Read;
        let _ = o.read_to_string(&mut stdout);
    }
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "stopped promptly: {:?}",
        sent.elapsed()
    );
    assert!(stdout.contains("INTERRUPTED"), "{stdout}");
    let keys = c.env.keys();
    assert!(
        !keys.iter().any(|k| k.ends_with(".progress")),
        "progress left: {keys:?}"
    );
    let (visible, all) = c.env.blocks(TENANT);
    assert_eq!(visible, all, "a block without meta.json was left");
    let leftovers: Vec<_> = std::fs::read_dir(&c.work)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("plan-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "local plan dirs left: {leftovers:?}");

    let (ok, stdout, stderr) = c
        .env
        .run(&c.run_args(&["--builders", "2", "--progress", "never"]));
    assert!(ok, "second run:\n{stdout}\n{stderr}");
    c.assert_complete();
}

/// `--from/--to` bound every command alike: `run --dry-run` lists only
/// those days, `run` converts only them, `verify` with the same range
/// passes and without it reports the days left out.
#[test]
fn a_day_range_bounds_dry_run_run_and_verify() {
    let c = Campaign::new(Env::local());
    let from = protocol::names::day_to_date((DAY0 + 1) as i32);
    let to = protocol::names::day_to_date((DAY0 + 3) as i32);
    let range = ["--from", from.as_str(), "--to", to.as_str()];

    let mut dry = c.run_args(&["--dry-run"]);
    dry.extend(range);
    let out = c.env.run_ok(&dry);
    for d in 0..DAYS {
        let date = protocol::names::day_to_date((DAY0 + d) as i32);
        assert_eq!(out.contains(&date), (1..3).contains(&d), "{date}:\n{out}");
    }
    assert!(c.env.keys().is_empty(), "dry run wrote {:?}", c.env.keys());

    let mut run = c.run_args(&["--progress", "never"]);
    run.extend(range);
    c.env.run_ok(&run);
    let (visible, _) = c.env.blocks(TENANT);
    assert_eq!(visible.len(), 2, "{visible:?}");

    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--bucket",
            &c.env.url,
            "--source",
            &c.source,
            "--tenant",
            TENANT,
            "--work-dir",
            &c.work,
        ];
        args.extend(extra);
        c.env.run(&args)
    };
    let (ok, out, err) = verify(&range);
    assert!(ok && out.contains("verify: OK: 2 days"), "{out}\n{err}");
    let (ok, out, _) = verify(&[]);
    assert!(!ok && out.contains("MISMATCH"), "{out}");
}
