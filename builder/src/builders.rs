//! Several builders in one process (`build --builders N`, `run --builders N`).
//!
//! A builder holds one plan at a time, and a plan's stages do not all use
//! every core: loading decodes and merges on all of them, but sorting by
//! labels, writing the block and uploading it run on one. N builders in a
//! process hold up to N plans, so one plan's serial stages overlap
//! another's loading, and on a remote chunk store one plan's fetches fill
//! the time another spends writing.
//!
//! The process's `--memory-budget` is what the operator sized the pod for,
//! so it is split evenly among the builders rather than given to each: N
//! changes how the work is cut, never the memory the process may use.
//! `--concurrency` stays per plan, as it always was: a fetch-bound store
//! (Bigtable's batched reads most of all) wants reads in flight, and halving
//! them per plan made a hold-out `run` from the Bigtable emulator 17%
//! slower; what bounds the process's load on the chunk store is
//! `--chunk-rate-limit`, shared by all its builders. Otherwise the builders
//! share only the bucket, that rate limit and the process's work dir:
//! each claims on its own under its own name (`<name>-<i>`, so progress,
//! attempt and finished files tell them apart), exactly as N `build`
//! processes would.

use std::sync::Arc;

use anyhow::anyhow;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::worker::{run_builder_notifying, BuilderConfig, BuilderSummary};

/// The configurations of `n` builders sharing `cfg`'s process: names
/// suffixed `-<i>` (unchanged for one builder), the memory budget split
/// evenly.
pub fn split_config(cfg: &BuilderConfig, n: usize) -> Vec<BuilderConfig> {
    let n = n.max(1);
    if n == 1 {
        return vec![cfg.clone()];
    }
    (0..n)
        .map(|i| BuilderConfig {
            name: format!("{}-{i}", cfg.name),
            memory_budget: cfg.memory_budget / n,
            ..cfg.clone()
        })
        .collect()
}

/// Runs `n` builders over `cfg` ([`split_config`]) until each returns, as
/// [`run_builder_notifying`] runs one. The first builder to fail stops the
/// others (through `stop`'s child token: their plans in flight are given
/// up cleanly, as on a signal), and its error is returned with what every
/// builder did before; otherwise the summaries are added up.
pub async fn run_builders(
    cfg: &BuilderConfig,
    n: usize,
    once: bool,
    stop: CancellationToken,
    idle: Option<Arc<Notify>>,
) -> (BuilderSummary, Option<anyhow::Error>) {
    let halt = stop.child_token();
    let mut set = tokio::task::JoinSet::new();
    for c in split_config(cfg, n) {
        set.spawn(run_builder_notifying(
            Arc::new(c),
            once,
            halt.clone(),
            idle.clone(),
        ));
    }
    let mut summary = BuilderSummary::default();
    let mut failure: Option<anyhow::Error> = None;
    while let Some(joined) = set.join_next().await {
        let err = match joined {
            Ok(Ok(s)) => {
                summary.merge(s);
                continue;
            }
            Ok(Err(e)) => e.context("builder"),
            Err(e) => anyhow!("builder task: {e}"),
        };
        if failure.is_none() && n > 1 {
            warn!(error = %base::ErrorChain(&*err), "a builder stopped; stopping the others");
        }
        halt.cancel();
        failure.get_or_insert(err);
    }
    (summary, failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BuilderConfig {
        let bucket = protocol::bucket::Bucket::open("memory://").expect("memory bucket");
        BuilderConfig {
            memory_budget: 512 << 20,
            name: "host-1".into(),
            ..crate::worker::tests::config(&bucket, &std::env::temp_dir())
        }
    }

    #[test]
    fn one_builder_keeps_the_process_config() {
        let cfgs = split_config(&config(), 1);
        assert_eq!(cfgs.len(), 1);
        assert_eq!(cfgs[0].name, "host-1");
        assert_eq!(cfgs[0].memory_budget, 512 << 20);
    }

    #[test]
    fn builders_split_the_budget_and_have_names_of_their_own() {
        let cfgs = split_config(&config(), 3);
        let names: Vec<_> = cfgs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["host-1-0", "host-1-1", "host-1-2"]);
        let total: usize = cfgs.iter().map(|c| c.memory_budget).sum();
        assert!(total <= 512 << 20 && total > (512 << 20) - 3);
    }
}
