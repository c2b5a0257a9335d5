//! Many builder processes over one campaign (issue 12): 8 `build --once`
//! children claim 5,000 plans (5 OpenMetrics tenants of 1,000 days) from one bucket,
//! on a local directory and on S3 (`moto_server`, skipped with a message
//! when missing unless BLOCKSCONVERT_TEST_REQUIRE_TOOLS is set). Every
//! plan must end finished exactly once: one attempt, one finished file,
//! no failed file, no progress left, one visible block and no partial
//! one; then `verify` must agree with the input.

mod protocol_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use protocol::names::{parse_plan_key, PlanFile, PlanId};
use protocol_support::{wait_child, Env, Moto, PREFIX};

const TENANTS: usize = 5;
/// Big tenants: a claim must not cost more for a tenant of many plans.
const DAYS: i64 = 1000;
const BUILDERS: usize = 8;

fn tenants() -> Vec<String> {
    (0..TENANTS).map(|i| format!("tenant-{i}")).collect()
}

/// Plans every tenant, then runs the builders to the end.
fn campaign(env: &Env) {
    let tenants = tenants();
    let names: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let t = Instant::now();
    env.make_plans(&names, DAYS);
    let planned = t.elapsed();
    let mut children: Vec<_> = (0..BUILDERS)
        .map(|b| {
            let name = format!("b{b}");
            (name.clone(), env.spawn_builder(&name, &["--once"]))
        })
        .collect();
    for (name, child) in &mut children {
        let status = wait_child(child, Duration::from_secs(600), name);
        assert!(status.success(), "{name} failed:\n{}", env.log(name));
    }
    let built = t.elapsed() - planned;
    check_each_plan_finished_once(env, &names);
    // The source names no tenant: one verify per tenant's input file.
    for tenant in &names {
        let src = format!(
            "openmetrics:{}",
            env.work.path().join(format!("{tenant}.om")).display()
        );
        let out = env.run_ok(&[
            "verify", "--bucket", &env.url, "--source", &src, "--tenant", tenant,
        ]);
        assert!(
            out.lines().any(|l| l.starts_with("verify: OK")),
            "{tenant}: verify did not say OK:\n{out}"
        );
    }
    let claimed: Vec<usize> = children
        .iter()
        .map(|(name, _)| env.log(name).matches("claimed plan").count())
        .collect();
    eprintln!(
        "{}: planned in {planned:.1?}, built in {built:.1?}, checked and verified in {:.1?}; \
         plans claimed by each builder: {claimed:?}",
        env.url,
        t.elapsed() - planned - built
    );
}

/// From one listing of the bucket: every plan has attempt 1 only, one
/// finished file naming a visible block, no failed or progress file, and
/// each tenant's block directories are exactly the blocks finished files
/// name.
fn check_each_plan_finished_once(env: &Env, tenants: &[&str]) {
    let keys = env.keys();
    let mut plans: BTreeMap<PlanId, Vec<PlanFile>> = BTreeMap::new();
    let mut visible: BTreeSet<(String, String)> = BTreeSet::new();
    let mut dirs: BTreeSet<(String, String)> = BTreeSet::new();
    for k in &keys {
        if let Some((id, f)) = parse_plan_key(PREFIX, k) {
            plans.entry(id).or_default().push(f);
            continue;
        }
        let mut parts = k.split('/');
        let (Some(tenant), Some(block)) = (parts.next(), parts.next()) else {
            continue;
        };
        if tenant == PREFIX || !tenants.contains(&tenant) {
            continue;
        }
        dirs.insert((tenant.to_string(), block.to_string()));
        if parts.next() == Some("meta.json") {
            visible.insert((tenant.to_string(), block.to_string()));
        }
    }
    assert_eq!(plans.len(), TENANTS * DAYS as usize, "plans in the bucket");
    let mut named = BTreeSet::new();
    for (id, files) in &plans {
        let finished: Vec<&String> = files
            .iter()
            .filter_map(|f| match f {
                PlanFile::Finished(b) => Some(b),
                _ => None,
            })
            .collect();
        assert_eq!(finished.len(), 1, "{id}: {files:?}");
        let attempts: Vec<u32> = files
            .iter()
            .filter_map(|f| match f {
                PlanFile::Attempt(k) => Some(*k),
                _ => None,
            })
            .collect();
        assert_eq!(attempts, [1], "{id}: claimed more than once: {files:?}");
        assert!(
            !files
                .iter()
                .any(|f| matches!(f, PlanFile::Progress { .. } | PlanFile::Failed { .. })),
            "{id}: {files:?}"
        );
        let block = (id.tenant.clone(), finished[0].clone());
        assert!(
            visible.contains(&block),
            "{id}: block {block:?} not visible"
        );
        assert!(named.insert(block), "{id}: a block named twice");
    }
    assert_eq!(
        visible, named,
        "visible blocks are those finished files name"
    );
    assert_eq!(dirs, named, "no partial block left");
}

#[test]
fn eight_builders_on_a_local_dir_finish_every_plan_once() {
    let env = Env::local();
    campaign(&env);
    // promtool judges the first and last block of each tenant: all 5,000
    // would take minutes, and `verify` already read every block whole.
    if !testkit::promtool::available_or_skip() {
        return;
    }
    for tenant in tenants() {
        let dir = std::path::Path::new(&env.url).join(&tenant);
        let mut blocks = testkit::files::block_dirs(&dir).expect("tenant dir");
        blocks.sort();
        assert_eq!(blocks.len(), DAYS as usize, "{tenant}");
        for block in [&blocks[0], &blocks[blocks.len() - 1]] {
            let id = block.file_name().unwrap().to_string_lossy();
            if let Err(e) = testkit::promtool::analyze(&dir, &id) {
                panic!("promtool refused {}: {e:#}", block.display());
            }
        }
    }
}

#[test]
fn eight_builders_on_s3_finish_every_plan_once() {
    let Some(moto) = Moto::start() else { return };
    // The test itself lists the bucket to check it.
    for (k, v) in moto.vars() {
        std::env::set_var(k, v);
    }
    campaign(&Env::s3(&moto, "many"));
}
