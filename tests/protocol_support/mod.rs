//! The bucket-protocol scenarios, run by `protocol_local.rs` on a local
//! directory and by `protocol_s3.rs` on S3 served by `moto_server`.
//!
//! Every worker is a real child process of the `blocksconvert` binary, so
//! a SIGKILL is a real crash; the test process only makes plans (through
//! `blocksconvert scan`), plays the intruder in the takeover scenario, and
//! inspects the bucket.

#![allow(dead_code)]

pub(crate) mod faults;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use protocol::bucket::Bucket;
use protocol::names::{parse_plan_key, PlanFile, PlanId};
use protocol::records::{AttemptRecord, ProgressRecord};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");
pub(crate) const PREFIX: &str = "migration";
/// 2026-11-16.
pub(crate) const DAY0: i64 = 20_773;

/// Where a scenario runs: a bucket URL and the variables children need.
pub(crate) struct Env {
    pub url: String,
    pub vars: Vec<(String, String)>,
    pub work: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Env {
    /// A local bucket in a fresh temporary directory.
    pub(crate) fn local() -> Env {
        let work = tempfile::tempdir().expect("temp dir");
        let url = work.path().join("bucket").to_string_lossy().into_owned();
        Env::with(url, Vec::new(), work)
    }

    /// An S3 bucket on `moto`, created here.
    pub(crate) fn s3(moto: &Moto, bucket: &str) -> Env {
        moto.create_bucket(bucket);
        Env::with(
            format!("s3://{bucket}"),
            moto.vars(),
            tempfile::tempdir().expect("temp dir"),
        )
    }

    fn with(url: String, vars: Vec<(String, String)>, work: tempfile::TempDir) -> Env {
        Env {
            url,
            vars,
            work,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).envs(self.vars.iter().map(|(k, v)| (k, v)));
        c.env("RUST_LOG", "info");
        c
    }

    /// Runs a command to the end, returning status and output.
    pub(crate) fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.cmd(args).output().expect("running blocksconvert");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) fn run_ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args);
        assert!(ok, "blocksconvert {args:?} failed:\n{stdout}\n{stderr}");
        stdout
    }

    /// A builder child; its log goes to a file under the work dir.
    pub(crate) fn spawn_builder(&self, name: &str, extra: &[&str]) -> Child {
        let work = self.work.path().join(format!("work-{name}"));
        let log =
            std::fs::File::create(self.work.path().join(format!("{name}.log"))).expect("log file");
        let mut args = vec![
            "build",
            "--bucket",
            &self.url,
            "--name",
            name,
            // One builder a process: the drills follow each process's
            // plans by its name.
            "--builders",
            "1",
            "--poll-interval",
            "100ms",
            "--memory-budget",
            "16MiB",
        ];
        let work = work.to_string_lossy().into_owned();
        args.extend(["--work-dir", &work]);
        args.extend(extra);
        self.cmd(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning a builder")
    }

    pub(crate) fn wait_until(&self, timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
        let end = Instant::now() + timeout;
        while !f() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.work.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    pub(crate) fn bucket(&self) -> Bucket {
        Bucket::open(&self.url).expect("opening the bucket")
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Every key in the bucket.
    pub(crate) fn keys(&self) -> Vec<String> {
        let b = self.bucket();
        self.block_on(b.list(""))
            .expect("listing")
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    /// Writes one OpenMetrics file per tenant with samples on `days`
    /// consecutive days from [`DAY0`], and scans each: `tenants × days` plans.
    pub(crate) fn make_plans(&self, tenants: &[&str], days: i64) {
        for t in tenants {
            let path = self.work.path().join(format!("{t}.om"));
            let mut text = String::from("# TYPE up gauge\n");
            for d in 0..days {
                for i in 0..3 {
                    let ts = (DAY0 + d) * base::DAY_SECS + 3_600 + i * 60;
                    text.push_str(&format!(
                        "up{{job=\"j{}\",tenant=\"{t}\"}} {} {ts}\n",
                        i % 2,
                        d + i
                    ));
                }
            }
            text.push_str("# EOF\n");
            std::fs::write(&path, text).expect("writing input");
            let src = format!("openmetrics:{}", path.display());
            let work = self.work.path().join("scan-work");
            self.run_ok(&[
                "scan",
                "--source",
                &src,
                "--bucket",
                &self.url,
                "--tenant",
                t,
                "--work-dir",
                &work.to_string_lossy(),
            ]);
        }
    }

    /// The protocol files of every plan, by plan.
    pub(crate) fn plan_files(&self) -> BTreeMap<PlanId, Vec<PlanFile>> {
        let mut out: BTreeMap<PlanId, Vec<PlanFile>> = BTreeMap::new();
        for k in self.keys() {
            if let Some((id, f)) = parse_plan_key(PREFIX, &k) {
                out.entry(id).or_default().push(f);
            }
        }
        out
    }

    /// Block directories of a tenant with a meta.json (visible blocks) and
    /// every block directory (partial ones included).
    pub(crate) fn blocks(&self, tenant: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut visible = BTreeSet::new();
        let mut all = BTreeSet::new();
        for k in self.keys() {
            let mut parts = k.split('/');
            if parts.next() != Some(tenant) {
                continue;
            }
            let Some(block) = parts.next() else { continue };
            all.insert(block.to_string());
            if parts.next() == Some("meta.json") {
                visible.insert(block.to_string());
            }
        }
        (visible, all)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let b = self.bucket();
        self.block_on(b.get_opt(key))
            .expect("reading")
            .map(|b| b.to_vec())
    }

    pub(crate) fn progress(&self, id: &PlanId) -> Option<ProgressRecord> {
        serde_json::from_slice(&self.get(&id.progress_key(PREFIX))?).ok()
    }

    pub(crate) fn attempt(&self, id: &PlanId, k: u32) -> Option<AttemptRecord> {
        serde_json::from_slice(&self.get(&id.attempt_key(PREFIX, k))?).ok()
    }

    /// Waits until `builder` holds a plan and has recorded its attempt;
    /// returns the plan and the block the attempt names.
    pub(crate) fn wait_for_claim(&self, builder: &str, timeout: Duration) -> (PlanId, String) {
        let end = Instant::now() + timeout;
        loop {
            for (id, fs) in self.plan_files() {
                if self.progress(&id).is_none_or(|p| p.builder != builder) {
                    continue;
                }
                for k in attempts(&fs) {
                    if let Some(a) = self.attempt(&id, k).filter(|a| a.builder == builder) {
                        return (id, a.block);
                    }
                }
            }
            assert!(
                Instant::now() < end,
                "{builder} claimed nothing within {timeout:?}:\n{}",
                self.log(builder)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `promtool tsdb analyze` accepts every visible block of `tenant` (on a
/// local bucket, where promtool can open them in place).
pub(crate) fn promtool_accepts_blocks(env: &Env, tenant: &str) {
    if env.url.contains("://") {
        return;
    }
    if !testkit::promtool::available() {
        assert!(
            !testkit::emulators::tools_required(),
            "promtool is required"
        );
        return;
    }
    let dir = Path::new(&env.url).join(tenant);
    for block in env.blocks(tenant).0 {
        let report = testkit::promtool::analyze(&dir, &block)
            .unwrap_or_else(|e| panic!("promtool rejects {tenant}/{block}: {e:#}"));
        assert!(report.contains("Duration: 24h0m0s"), "{report}");
    }
}

/// Asserts that every plan ended with exactly one finished file naming a
/// visible block, that no progress is left, and that each tenant has one
/// visible block per plan and no other block directory.
pub(crate) fn assert_one_block_per_plan(env: &Env, tenants: &[&str], days: i64) {
    let files = env.plan_files();
    assert_eq!(files.len() as i64, tenants.len() as i64 * days, "plans");
    for t in tenants {
        let (visible, all) = env.blocks(t);
        let mut named = BTreeSet::new();
        for (id, fs) in files.iter().filter(|(id, _)| id.tenant == *t) {
            let finished: Vec<&String> = fs
                .iter()
                .filter_map(|f| match f {
                    PlanFile::Finished(b) => Some(b),
                    _ => None,
                })
                .collect();
            assert_eq!(finished.len(), 1, "{id}: finished files {fs:?}");
            assert!(
                !fs.iter().any(|f| matches!(f, PlanFile::Progress { .. })),
                "{id}: progress left: {fs:?}"
            );
            assert!(
                !fs.iter().any(|f| matches!(f, PlanFile::Failed { .. })),
                "{id}: failed: {fs:?}"
            );
            assert!(
                visible.contains(finished[0]),
                "{id}: block {} not visible",
                finished[0]
            );
            named.insert(finished[0].clone());
        }
        assert_eq!(
            visible, named,
            "{t}: visible blocks are exactly those finished files name"
        );
        assert_eq!(all, named, "{t}: no partial block left");
    }
}

pub(crate) fn attempts(fs: &[PlanFile]) -> Vec<u32> {
    let mut v: Vec<u32> = fs
        .iter()
        .filter_map(|f| match f {
            PlanFile::Attempt(k) => Some(*k),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

pub(crate) fn wait_child(
    child: &mut Child,
    timeout: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let end = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("waiting") {
            return s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills a child on drop, so a failing assertion leaves no process behind.
pub(crate) struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `schedule --exit-when-done` (stale after `stale_after`) while
/// `rescuer` (a builder named "rescuer") builds, until the campaign is done and every progress file is
/// gone; then stops the rescuer. Returns the scheduler's stdout and log.
pub(crate) fn schedule_until_done(
    env: &Env,
    stale_after: &str,
    mut rescuer: KillOnDrop,
) -> (String, String) {
    let log_path = env.work.path().join("scheduler.log");
    let mut scheduler = KillOnDrop(
        env.cmd(&[
            "schedule",
            "--bucket",
            &env.url,
            "--listen",
            "127.0.0.1:0",
            "--scan-interval",
            "300ms",
            "--stale-after",
            stale_after,
            "--max-attempts",
            "3",
            "--exit-when-done",
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).expect("scheduler log"))
        .spawn()
        .expect("spawning the scheduler"),
    );
    let status = wait_child(&mut scheduler.0, Duration::from_secs(120), "scheduler");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut out = String::new();
    if let Some(mut o) = scheduler.0.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    let builder_log = env.log("rescuer");
    assert!(
        status.success(),
        "scheduler: {status}\n{out}\n{log}\n{builder_log}"
    );
    // The scheduler counts a plan finished from its finished file; the
    // builder removes its progress file just after.
    env.wait_until(Duration::from_secs(20), "progress files gone", || {
        !env.keys().iter().any(|k| k.ends_with(".progress"))
    });
    let _ = rescuer.0.kill();
    let _ = rescuer.0.wait();
    (out, log)
}

// ---------------------------------------------------------------- scenarios

/// Several builders race over `tenants × days` plans; each plan is claimed
/// exactly once (one attempt file), built once, one block each.
pub(crate) fn race(env: &Env, builders: usize, tenants: &[&str], days: i64) {
    env.make_plans(tenants, days);
    let names: Vec<String> = (0..builders).map(|i| format!("racer{i}")).collect();
    let mut children: Vec<KillOnDrop> = names
        .iter()
        .map(|n| KillOnDrop(env.spawn_builder(n, &["--once", "--heartbeat", "1s"])))
        .collect();
    for (c, n) in children.iter_mut().zip(&names) {
        let s = wait_child(&mut c.0, Duration::from_secs(150), n);
        assert!(s.success(), "{n} failed: {s}\n{}", env.log(n));
    }
    assert_one_block_per_plan(env, tenants, days);
    let mut by_builder: BTreeMap<String, usize> = BTreeMap::new();
    for (id, fs) in env.plan_files() {
        assert_eq!(
            attempts(&fs),
            vec![1],
            "{id}: claimed more than once: {fs:?}"
        );
        let a = env.attempt(&id, 1).expect("attempt record");
        *by_builder.entry(a.builder).or_default() += 1;
    }
    assert!(
        by_builder.len() >= 2,
        "the builders did race: {by_builder:?}"
    );
    let json = env.run_ok(&["status", "--bucket", &env.url, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("status JSON");
    assert_eq!(
        v["states"]["finished"],
        tenants.len() as i64 * days,
        "{json}"
    );
    assert_eq!(v["scan_complete"], true);
    eprintln!("race: plans per builder {by_builder:?}");
}

/// A builder is SIGKILLed while it holds a plan, after having uploaded part
/// of its block (planted here, as a crash mid-upload would leave it). The
/// scheduler finds the progress stale, the plan goes back, another builder
/// builds it and removes the dead attempt's block: one block per plan.
pub(crate) fn kill_and_recover(env: &Env) {
    let tenant = "killed";
    env.make_plans(&[tenant], 3);
    let mut victim = KillOnDrop(env.spawn_builder(
        "victim",
        &["--pause-after-claim", "10m", "--heartbeat", "200ms"],
    ));
    let (id, doomed) = env.wait_for_claim("victim", Duration::from_secs(60));
    victim.0.kill().expect("SIGKILL");
    let _ = victim.0.wait();
    // What a crash in the middle of the upload leaves, meta.json included
    // (a crash between meta.json and the finished file): a meta.json naming
    // the block and the plan's day, which is what lets the next attempt
    // prove the block is this plan's and remove it.
    let b = env.bucket();
    let day_ms = i64::from(id.day) * base::DAY_MS;
    let meta = serde_json::json!({
        "ulid": doomed,
        "minTime": day_ms,
        "maxTime": day_ms + base::DAY_MS,
        "stats": {"numSamples": 1, "numSeries": 1, "numChunks": 1},
        "compaction": {"level": 1, "sources": [doomed]},
        "version": 1,
    });
    env.block_on(b.put(&format!("{tenant}/{doomed}/chunks/000001"), "partial"))
        .expect("planting");
    env.block_on(b.put(&format!("{tenant}/{doomed}/meta.json"), meta.to_string()))
        .expect("planting");

    let rescuer = KillOnDrop(env.spawn_builder("rescuer", &["--heartbeat", "250ms"]));
    let (out, sched_log) = schedule_until_done(env, "3s", rescuer);
    assert!(sched_log.contains("stale: retrying"), "{sched_log}");

    assert_one_block_per_plan(env, &[tenant], 3);
    let files = env.plan_files();
    assert_eq!(attempts(&files[&id]), vec![1, 2], "{id}: {:?}", files[&id]);
    let second = env.attempt(&id, 2).expect("second attempt");
    assert_eq!(second.builder, "rescuer");
    let (_, all) = env.blocks(tenant);
    assert!(
        !all.contains(&doomed),
        "the dead attempt's block was removed"
    );
    assert!(out.contains("TOTAL"), "{out}");
}

/// While a builder holds a plan, the intruder (standing in for a stale
/// takeover) replaces its progress file. With a fast heartbeat the builder
/// notices while paused; with a slow one only its check before meta.json
/// can. Either way: no meta.json, no finished file, the intruder's
/// progress file untouched.
pub(crate) fn takeover(env: &Env, heartbeat: &str, tenant: &str) {
    env.make_plans(&[tenant], 1);
    let name = format!("holder-{tenant}");
    let mut holder = KillOnDrop(env.spawn_builder(
        &name,
        &[
            "--once",
            "--pause-after-claim",
            "5s",
            "--heartbeat",
            heartbeat,
        ],
    ));
    let (id, block) = env.wait_for_claim(&name, Duration::from_secs(60));
    let b = env.bucket();
    let intruder = ProgressRecord {
        builder: "intruder".into(),
        started: protocol::records::now_rfc3339(),
        heartbeat: protocol::records::now_rfc3339(),
        stage: "claimed".into(),
        series_done: 0,
        attempt: 2,
        block: "01KBXGZ4TQ3YV3N7Z5RAVXJ8PQ".into(),
    };
    let key = id.progress_key(PREFIX);
    env.block_on(b.delete(&key)).expect("deleting");
    let created = env
        .block_on(b.create_if_absent(&key, serde_json::to_vec(&intruder).expect("json")))
        .expect("creating");
    assert!(created.is_some(), "the intruder's claim");
    let status = wait_child(&mut holder.0, Duration::from_secs(60), &name);
    let log = env.log(&name);
    assert!(status.success(), "{name}: {status}\n{log}");
    assert!(log.contains("stopped without publishing"), "{log}");
    let fs = &env.plan_files()[&id];
    assert!(
        !fs.iter().any(|f| matches!(f, PlanFile::Finished(_))),
        "{fs:?}"
    );
    let (visible, _) = env.blocks(tenant);
    assert!(!visible.contains(&block), "the holder published its block");
    assert!(visible.is_empty(), "{visible:?}");
    assert_eq!(
        env.progress(&id).map(|p| p.builder),
        Some("intruder".into())
    );
}

/// A plan fails (its staged samples are missing); `retry` deletes the
/// failed file; with the samples back, the next build finishes it.
pub(crate) fn retry_failed(env: &Env) {
    let tenant = "flaky";
    env.make_plans(&[tenant], 2);
    let id = PlanId {
        tenant: tenant.into(),
        day: DAY0 as i32 + 1,
    };
    let b = env.bucket();
    let staged_key = id.staged_key(PREFIX);
    let staged = env.block_on(b.get(&staged_key)).expect("staged samples");
    env.block_on(b.delete(&staged_key)).expect("deleting");
    let (ok, out, err) = env.run(&[
        "build",
        "--bucket",
        &env.url,
        "--once",
        "--poll-interval",
        "100ms",
        "--name",
        "first",
        "--work-dir",
        &env.work.path().join("w1").to_string_lossy(),
    ]);
    assert!(!ok, "a failed plan makes build --once fail\n{out}\n{err}");
    assert!(out.contains("FAILED"), "{out}");
    assert!(env.plan_files()[&id].contains(&PlanFile::Failed { cortex: false }));

    let status = env.run_ok(&["status", "--bucket", &env.url]);
    assert!(status.contains("FAILED flaky/"), "{status}");
    let date = protocol::names::day_to_date(id.day);
    let out = env.run_ok(&[
        "retry", "--bucket", &env.url, "--tenant", tenant, "--day", &date,
    ]);
    assert!(out.contains("1 failed plans will run again"), "{out}");
    assert!(!env.plan_files()[&id].contains(&PlanFile::Failed { cortex: false }));

    env.block_on(b.put(&staged_key, staged)).expect("restoring");
    env.run_ok(&[
        "build",
        "--bucket",
        &env.url,
        "--once",
        "--poll-interval",
        "100ms",
        "--name",
        "second",
        "--work-dir",
        &env.work.path().join("w2").to_string_lossy(),
    ]);
    assert_one_block_per_plan(env, &[tenant], 2);
    assert_eq!(attempts(&env.plan_files()[&id]), vec![1, 2]);
}

/// `--prefix ""` puts the plans at the bucket root, next to the blocks:
/// scan, build, status and verify all find their files there, and status
/// does not take the blocks for stray objects.
pub(crate) fn empty_prefix(env: &Env) {
    let tenant = "rooted";
    let days: i64 = 2;
    let path = env.work.path().join("rooted.om");
    let mut text = String::from("# TYPE up gauge\n");
    let mut samples = 0u64;
    for d in 0..days {
        for i in 0..5 {
            let ts = (DAY0 + d) * base::DAY_SECS + 7_200 + i * 60;
            text.push_str(&format!("up{{job=\"j{}\"}} {} {ts}\n", i % 2, d * 10 + i));
            samples += 1;
        }
    }
    text.push_str("# EOF\n");
    std::fs::write(&path, text).expect("writing input");
    let source = format!("openmetrics:{}", path.display());
    let work = env.work.path().join("rooted-work");
    let work = work.to_string_lossy();
    let common = ["--bucket", &env.url, "--prefix", ""];

    let mut scan = vec!["scan", "--source", &source, "--tenant", tenant];
    scan.extend(["--work-dir", &work]);
    scan.extend(common);
    env.run_ok(&scan);
    let keys = env.keys();
    assert!(keys.iter().any(|k| k == "scan-complete"), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("scanned.")), "{keys:?}");
    let plans: Vec<_> = keys
        .iter()
        .filter_map(|k| parse_plan_key("", k))
        .filter(|(_, f)| matches!(f, PlanFile::Plan(_)))
        .collect();
    assert_eq!(plans.len() as i64, days, "{keys:?}");

    let mut build = vec!["build", "--once", "--poll-interval", "100ms"];
    build.extend(["--name", "rooted", "--work-dir", &work]);
    build.extend(common);
    let out = env.run_ok(&build);
    assert!(!out.contains("FAILED"), "{out}");

    let mut status = vec!["status", "--json"];
    status.extend(common);
    let json = env.run_ok(&status);
    let v: serde_json::Value = serde_json::from_str(&json).expect("status JSON");
    assert_eq!(v["plans"], days, "{json}");
    assert_eq!(v["states"]["finished"], days, "{json}");
    assert_eq!(
        v["ignored_objects"]["count"], 0,
        "blocks at the root are not stray objects: {json}"
    );
    // The tenant's directory also holds its plan files here.
    let (visible, all) = env.blocks(tenant);
    let block_dirs = all.iter().filter(|d| !d.contains('.')).count();
    assert_eq!(
        (visible.len() as i64, block_dirs as i64),
        (days, days),
        "{all:?}"
    );
    assert!(
        !env.keys()
            .iter()
            .any(|k| k.ends_with(".staged") || k.ends_with(".progress")),
        "{:?}",
        env.keys()
    );

    let mut verify = vec!["verify", "--source", &source, "--tenant", tenant];
    verify.extend(["--work-dir", &work]);
    verify.extend(common);
    let out = env.run_ok(&verify);
    assert_eq!(faults::verified_samples(&out), samples, "{out}");
    promtool_accepts_blocks(env, tenant);
}

// ---------------------------------------------------------------- moto

/// `moto_server` on a free port of 127.0.0.1, killed on drop.
pub(crate) struct Moto {
    child: Child,
    pub endpoint: String,
    port: u16,
}

impl Moto {
    /// Starts moto, or `None` (the test is skipped) when it is not
    /// installed, unless BLOCKSCONVERT_TEST_REQUIRE_TOOLS is set.
    pub(crate) fn start() -> Option<Moto> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let exe: PathBuf = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".venv/bin/moto_server"));
        if !exe.exists() {
            assert!(
                std::env::var_os("BLOCKSCONVERT_TEST_REQUIRE_TOOLS").is_none(),
                "moto_server is required (run scripts/install-test-deps.sh)"
            );
            eprintln!(
                "skipping: {} not installed (run scripts/install-test-deps.sh)",
                exe.display()
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let end = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// Creates a bucket (moto accepts the unsigned request).
    pub(crate) fn create_bucket(&self, name: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connecting to moto");
        write!(
            s,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("writing");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("reading");
        assert!(
            resp.starts_with("HTTP/1.1 200"),
            "creating bucket {name}: {resp}"
        );
    }

    /// The variables the children (and this process) need to reach moto.
    pub(crate) fn vars(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
