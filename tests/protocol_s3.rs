//! The bucket protocol on S3, served by `moto_server` (installed by
//! `scripts/install-test-deps.sh`; skipped with a message when missing,
//! unless BLOCKSCONVERT_TEST_REQUIRE_TOOLS is set). moto honours
//! `If-None-Match: *` (claims) and `If-Match` (fenced heartbeats) on PUT,
//! answering 412 as S3 does, so the real conditional paths run here.
//!
//! One test function runs every scenario against one server, each in its
//! own bucket: the variables pointing this process at moto are set once.

mod protocol_support;

use protocol_support::faults::kill_at_every_stage;
use protocol_support::{empty_prefix, kill_and_recover, race, retry_failed, takeover, Env, Moto};

#[test]
fn protocol_on_s3() {
    let Some(moto) = Moto::start() else { return };
    for (k, v) in moto.vars() {
        std::env::set_var(k, v);
    }
    race(&Env::s3(&moto, "race"), 4, &["t0", "t1", "t2", "t3"], 50);
    kill_and_recover(&Env::s3(&moto, "killed"));
    let env = Env::s3(&moto, "takeover");
    takeover(&env, "200ms", "fast");
    takeover(&env, "1h", "slow");
    retry_failed(&Env::s3(&moto, "retry"));
    empty_prefix(&Env::s3(&moto, "rooted"));
    let (rows, samples) = kill_at_every_stage(&Env::s3(&moto, "drills"));
    for r in &rows {
        eprintln!(
            "s3: killed at {} | {} | attempts {:?}",
            r.stage, r.plan, r.attempts
        );
    }
    eprintln!("s3: verify found all {samples} samples");
}
