//! Fault scenarios over a generated Cortex campaign: builders killed at
//! every drill stage, a work dir that fills up. Run by `protocol_local.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use builder::failpoint::Stage;
use cortex::encoding::Encoding;
use cortex_testgen::{generate, GenOptions, GenReport};
use protocol::names::{PlanFile, PlanId};

use super::{
    assert_one_block_per_plan, attempts, promtool_accepts_blocks, schedule_until_done, Env,
    KillOnDrop, DAY0, PREFIX,
};

/// The sample count `verify` prints on its last line.
pub(crate) fn verified_samples(out: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("verify: OK"))
        .unwrap_or_else(|| panic!("verify did not say OK:\n{out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "samples")
        .expect("a sample count");
    words[at - 1].parse().expect("a number")
}

/// One row of what [`kill_at_every_stage`] saw: the stage a builder was
/// killed at, the plan it held, and the attempts that plan took.
#[derive(Debug)]
pub(crate) struct KillRow {
    pub stage: Stage,
    pub plan: PlanId,
    pub attempts: Vec<u32>,
}

/// A Cortex campaign of one plan per drill stage. For each stage in turn a
/// builder is started with `--pause-at STAGE`, claims the next plan, stops
/// there and is SIGKILLed: after the first stage it has read its plan,
/// later ones have fetched chunks, filled the sort, written the block,
/// uploaded part of it, uploaded meta.json, written the finished file.
/// Then a scheduler and one healthy builder finish the campaign. Whatever
/// the stage, each plan must end with exactly one visible block, nothing
/// partial left, and `verify` must find every generated sample.
pub(crate) fn kill_at_every_stage(env: &Env) -> (Vec<KillRow>, u64) {
    let (report, cortex) = cortex_campaign(env, Stage::ALL.len() as u32, 40);
    let tenants = tenants_of(&report);
    let tenants: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let cortex: Vec<&str> = cortex.iter().map(String::as_str).collect();

    let mut killed = Vec::new();
    for stage in Stage::ALL {
        let name = format!("victim-{stage}");
        let stage_arg = stage.to_string();
        let mut args = vec!["--heartbeat", "200ms", "--pause-at", stage_arg.as_str()];
        args.extend(&cortex);
        let mut victim = KillOnDrop(env.spawn_builder(&name, &args));
        let marker = builder::failpoint::marker(stage);
        env.wait_until(
            Duration::from_secs(60),
            &format!("{name} at its stage"),
            || {
                let log = env.log(&name);
                assert!(
                    victim.0.try_wait().ok().flatten().is_none(),
                    "{name} exited before reaching {stage}:\n{log}"
                );
                log.contains(&marker)
            },
        );
        let (id, _) = env.wait_for_claim(&name, Duration::from_secs(10));
        victim.0.kill().expect("SIGKILL");
        let _ = victim.0.wait();
        killed.push((stage, id));
    }

    let mut args = vec!["--heartbeat", "250ms"];
    args.extend(&cortex);
    let rescuer = KillOnDrop(env.spawn_builder("rescuer", &args));
    schedule_until_done(env, "2s", rescuer);

    assert_one_block_per_plan(env, &tenants, Stage::ALL.len() as i64);
    for t in &tenants {
        promtool_accepts_blocks(env, t);
    }
    let mut verify = vec!["verify", "--bucket", &env.url];
    verify.extend(&cortex);
    let out = env.run_ok(&verify);
    let samples = verified_samples(&out);
    assert_eq!(samples, report.total_samples(), "{out}");
    let files = env.plan_files();
    let rows = killed
        .into_iter()
        .map(|(stage, plan)| KillRow {
            stage,
            attempts: attempts(&files[&plan]),
            plan,
        })
        .collect::<Vec<_>>();
    for r in &rows {
        // Killed after its finished file, a plan is done: no second attempt.
        let want = if r.stage == Stage::WritingFinished {
            vec![1]
        } else {
            vec![1, 2]
        };
        assert_eq!(r.attempts, want, "killed at {}: {}", r.stage, r.plan);
    }
    (rows, samples)
}

/// A generated Cortex store with its plans in the bucket of `env` (written
/// in place on a local bucket, uploaded otherwise); returns the store's
/// report and the flags a builder needs to read it.
pub(crate) fn cortex_campaign(env: &Env, days: u32, series: usize) -> (GenReport, Vec<String>) {
    let local = !env.url.contains("://");
    let bucket_dir = if local {
        PathBuf::from(&env.url)
    } else {
        env.work.path().join("generated-plans")
    };
    let chunks = env.work.path().join("chunks");
    let opts = GenOptions {
        tenants: 1,
        series,
        start_day: DAY0 as i32,
        days,
        step_ms: 60_000,
        samples_per_chunk: 120,
        encodings: vec![Encoding::Bigchunk, Encoding::Varbit, Encoding::DoubleDelta],
        replicas: 2,
        ..GenOptions::default()
    };
    let report = generate(&opts, &chunks, &bucket_dir, PREFIX).expect("generating a store");
    if !local {
        upload_tree(env, &bucket_dir);
    }
    let flags = vec![
        "--source".to_string(),
        format!("cortex:{}", report.config_path.display()),
        "--chunks-dir".to_string(),
        chunks.to_string_lossy().into_owned(),
    ];
    (report, flags)
}

/// Copies every file under `dir` into the bucket, at its relative path.
fn upload_tree(env: &Env, dir: &std::path::Path) {
    let bucket = env.bucket();
    for key in testkit::files::files_under(dir) {
        let data = std::fs::read(dir.join(&key)).expect("reading a plan");
        env.block_on(bucket.put(&key, data)).expect("uploading");
    }
}

/// The tenants of a generated store.
pub(crate) fn tenants_of(report: &GenReport) -> Vec<String> {
    let set: BTreeSet<String> = report.plans.keys().map(|id| id.tenant.clone()).collect();
    set.into_iter().collect()
}

/// A builder whose work dir `tiny` is a nearly full filesystem (the caller
/// mounts it): the plan fails with a failed file that says the disk is full
/// and where, the work dir is left empty, and after `retry` a builder with
/// room builds it. Returns the failed file's reason.
pub(crate) fn work_dir_full(env: &Env, tiny: &Path) -> String {
    let (report, cortex) = cortex_campaign(env, 1, 300);
    let tiny_arg = tiny.to_string_lossy().into_owned();
    let mut args = vec![
        "build",
        "--bucket",
        &env.url,
        "--once",
        "--poll-interval",
        "100ms",
        "--name",
        "cramped",
        // The smallest budget there is, whole: one plan at a time.
        "--builders",
        "1",
        "--memory-budget",
        "64KiB",
        "--work-dir",
        &tiny_arg,
    ];
    args.extend(cortex.iter().map(String::as_str));
    let out = env.cmd(&args).output().expect("running blocksconvert");
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the plan failed, so build --once fails:\n{log}"
    );
    let left: Vec<_> = std::fs::read_dir(tiny)
        .expect("the full work dir")
        .map(|e| e.expect("an entry of the full work dir").file_name())
        .collect();
    assert!(
        left.is_empty(),
        "temp files left in the full work dir: {left:?}"
    );

    let (id, _) = report.plans.iter().next().expect("a plan");
    let fs = &env.plan_files()[id];
    assert!(fs.contains(&PlanFile::Failed { cortex: false }), "{fs:?}");
    let failed: protocol::records::FailedRecord =
        serde_json::from_slice(&env.get(&id.failed_key(PREFIX)).expect("failed file"))
            .expect("failed record");
    assert!(
        failed.reason.contains("No space left on device"),
        "{}",
        failed.reason
    );
    assert!(failed.reason.contains(&*tiny_arg), "{}", failed.reason);

    env.run_ok(&["retry", "--bucket", &env.url]);
    let mut build = vec![
        "build",
        "--bucket",
        &env.url,
        "--once",
        "--poll-interval",
        "100ms",
    ];
    let roomy = env.work.path().join("roomy");
    let roomy = roomy.to_string_lossy().into_owned();
    build.extend(["--work-dir", roomy.as_str()]);
    build.extend(cortex.iter().map(String::as_str));
    env.run_ok(&build);
    let tenants = tenants_of(&report);
    let tenants: Vec<&str> = tenants.iter().map(String::as_str).collect();
    assert_one_block_per_plan(env, &tenants, 1);
    promtool_accepts_blocks(env, tenants[0]);
    let mut verify = vec!["verify", "--bucket", &env.url];
    verify.extend(cortex.iter().map(String::as_str));
    let out = env.run_ok(&verify);
    assert_eq!(verified_samples(&out), report.total_samples(), "{out}");
    failed.reason
}
