//! Building a plan of staged OpenMetrics samples.
//!
//! Each staged object is already sorted by series; a plan normally has one.
//! When it has several (the same tenant and day staged from several files),
//! they are merged by series, the samples of earlier entries first, so the
//! first occurrence of a timestamp still wins.

use std::fs::File;
use std::io::BufReader;

use anyhow::{bail, Context, Result};
use protocol::names::{join_prefix, parse_plan_key, PlanFile, PlanId};
use protocol::plan::PlanEntry;
use protocol::staged::{StagedReader, StagedSeries};

use crate::plan_build::BuiltBlock;
use crate::sink::DaySink;
use crate::worker::BuilderConfig;

pub(crate) async fn build(
    cfg: &BuilderConfig,
    id: &PlanId,
    entries: Vec<PlanEntry>,
    work: tempfile::TempDir,
) -> Result<BuiltBlock> {
    let mut staged = Vec::new();
    let mut consumed = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        let PlanEntry::OpenMetrics { staged: rel } = e else {
            bail!("not an openmetrics entry");
        };
        let key = join_prefix(&cfg.prefix, &rel);
        // The entry comes from the bucket: it may name only this plan's own
        // staged object, never another tenant's (whose samples would land
        // in this block, and which would be deleted as consumed).
        match parse_plan_key(&cfg.prefix, &key) {
            Some((owner, PlanFile::Staged)) if owner == *id => {}
            _ => bail!(
                "staged entry {:?} names an object that is not this plan's staged samples ({})",
                rel.escape_debug().to_string(),
                id.staged_key(&cfg.prefix)
            ),
        }
        let local = work.path().join(format!("staged-{i}"));
        cfg.bucket
            .download_file(&key, &local)
            .await
            .with_context(|| format!("downloading staged samples {key}"))?;
        staged.push((key.clone(), local));
        consumed.push(key);
    }
    crate::failpoint::reached(crate::failpoint::Stage::Fetching);
    let (day_start, day_end) = (id.day_start_ms(), id.day_end_ms());
    let memory_budget = cfg.memory_budget;
    let tenant = id.tenant.clone();
    let parent = work.path().to_path_buf();
    let block = cfg.block_ulid();
    let (dir, meta, stats) = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut readers = Vec::with_capacity(staged.len());
        for (key, local) in &staged {
            let f = File::open(local).with_context(|| format!("opening {}", local.display()))?;
            let r = StagedReader::new(BufReader::with_capacity(1 << 20, f))
                .with_context(|| format!("staged samples {key}"))?;
            readers.push((key.clone(), r));
        }
        let mut sink = DaySink::create(&parent, block, day_start, day_end, memory_budget)?;
        merge_into(&mut readers, &mut sink)?;
        Ok(sink.finish(&tenant)?)
    })
    .await??;
    Ok(BuiltBlock {
        dir,
        meta,
        stats,
        consumed,
        work,
    })
}

/// K-way merge of the staged readers by series; few readers, so a linear
/// scan for the smallest head is simpler than a heap and as fast.
fn merge_into(
    readers: &mut [(String, StagedReader<BufReader<File>>)],
    sink: &mut DaySink,
) -> Result<()> {
    let mut heads: Vec<Option<StagedSeries>> = Vec::with_capacity(readers.len());
    for (key, r) in readers.iter_mut() {
        heads.push(
            r.next_series()
                .with_context(|| format!("staged samples {key}"))?,
        );
    }
    let mut samples = Vec::new();
    loop {
        let Some(min) = heads.iter().flatten().map(|(l, _)| l).min().cloned() else {
            return Ok(());
        };
        samples.clear();
        for (i, head) in heads.iter_mut().enumerate() {
            if head.as_ref().is_some_and(|(l, _)| *l == min) {
                if let Some((_, s)) = head.take() {
                    samples.extend(s);
                }
                let (key, r) = &mut readers[i];
                *head = r
                    .next_series()
                    .with_context(|| format!("staged samples {key}"))?;
            }
        }
        // Stable: for equal timestamps, earlier entries stay first.
        samples.sort_by_key(|&(t, _)| t);
        sink.add_series(&min, &samples)?;
    }
}
