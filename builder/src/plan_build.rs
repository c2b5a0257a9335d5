//! One claimed plan, from its file in the bucket to a block on local disk.
//!
//! The plan is downloaded before it is read (Cortex learnt that streaming a
//! plan from GCS breaks on long builds), its header is checked against the
//! name it was found under, and the entries go to the source's builder.
//! Everything local lives in a per-plan directory under the work dir that
//! disappears with the [`BuiltBlock`] (or at once on failure).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use protocol::names::PlanId;
use protocol::plan::{PlanEntry, PlanReader, PlanSource};
use tsdb::BlockMeta;

use crate::sink::SinkStats;
use crate::worker::BuilderConfig;

/// A block written locally and ready to upload.
pub struct BuiltBlock {
    /// The block directory (`<ULID>`, renamed from `<ULID>.tmp` when complete).
    pub dir: PathBuf,
    /// The block's meta.json, as written.
    pub meta: BlockMeta,
    /// Counts of what went in and came out, for the finished record.
    pub stats: SinkStats,
    /// Bucket objects the plan consumed (staged samples), removed once the
    /// finished file is written.
    pub consumed: Vec<String>,
    /// Keeps the plan's work directory until the block is uploaded.
    pub work: tempfile::TempDir,
}

/// The plan file was not there when the build went for it: removed by
/// hand since the listing or index that offered it. Not the plan's failure
/// (there is no plan left to fail): the builder lets the claim go.
#[derive(Debug, thiserror::Error)]
#[error("plan file {0} is gone")]
pub(crate) struct PlanGone(pub String);

pub(crate) async fn build_plan(
    cfg: &BuilderConfig,
    id: &PlanId,
    plan_key: &str,
) -> Result<BuiltBlock> {
    sweep_once(&cfg.work_dir);
    let work = crate::workdir::create_plan_dir(&cfg.work_dir, &id.tenant, id.day)?;
    let file_name = plan_key.rsplit('/').next().unwrap_or(plan_key);
    let local_plan = work.path().join(file_name);
    match cfg.bucket.download_file(plan_key, &local_plan).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Err(PlanGone(plan_key.to_string()).into()),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("plan {id}: downloading"))),
    }

    crate::failpoint::reached(crate::failpoint::Stage::PlanRead);
    let (source, entries) = read_plan(&local_plan, plan_key, id)?;
    match source {
        PlanSource::OpenMetrics => crate::openmetrics::build(cfg, id, entries, work).await,
        PlanSource::Cortex => {
            let Some(source) = cfg.cortex.as_deref() else {
                bail!("plan {id}: a Cortex plan needs --source cortex:CONFIG.yaml");
            };
            let ctx = crate::cortex::BuildContext {
                work_dir: cfg.work_dir.clone(),
                memory_budget: cfg.memory_budget,
                block: cfg.block_ulid(),
            };
            crate::cortex::build_plan(&ctx, source, id, plan_key, &local_plan, work).await
        }
        PlanSource::Prometheus => crate::prometheus::build(cfg, id, entries, work).await,
    }
    .with_context(|| format!("plan {plan_key}"))
}

/// Sweeps a work dir the first time this process builds in it, so leftovers
/// of a killed builder go before they can fill the disk.
fn sweep_once(work_dir: &Path) {
    static SWEPT: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let first = SWEPT
        .lock()
        .map(|mut s| s.insert(work_dir.to_path_buf()))
        .unwrap_or(false);
    if first {
        crate::workdir::sweep_abandoned(work_dir);
    }
}

/// Reads the whole plan, checking header against name and every entry's
/// kind against the header. Entries of staged sources are few (one per
/// staged object), so they are collected.
fn read_plan(local: &Path, plan_key: &str, id: &PlanId) -> Result<(PlanSource, Vec<PlanEntry>)> {
    let f = File::open(local).with_context(|| format!("opening {}", local.display()))?;
    let mut r = PlanReader::new(plan_key, BufReader::new(f))?;
    let h = r.header().clone();
    if h.user != id.tenant || h.day_index != id.day {
        bail!(
            "plan {plan_key}: header names tenant {:?} day {} but the file is at tenant {:?} day {}",
            h.user,
            h.day_index,
            id.tenant,
            id.day
        );
    }
    let source = h.effective_source();
    if source == PlanSource::Cortex {
        // Streamed by the Cortex builder: its plans can be huge.
        return Ok((source, Vec::new()));
    }
    let mut entries = Vec::new();
    while let Some(e) = r.next_entry()? {
        if e.source() != source {
            bail!("plan {plan_key}: a {} entry in a {source} plan", e.source());
        }
        entries.push(e);
    }
    Ok((source, entries))
}
