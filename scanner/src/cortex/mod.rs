//! The Cortex chunk-store index (Bigtable or DynamoDB) to one plan per
//! tenant and UTC day.
//!
//! Steps: find the index tables of every readable schema period
//! ([`tables`]); read them in parallel units ([`read`]), keeping only
//! series→chunk entries; sort the references with bounded memory; write
//! each (tenant, day) plan locally, upload it with bounded concurrency
//! ([`plans`]); then mark every table `scanned.<table>`.
//!
//! Why all tables of a run are sorted together and marked only at the end:
//! the same tenant and day can be indexed in two tables (at a schema period
//! boundary a chunk that starts in the old period writes its later days
//! into the old period's table, while newer chunks of those days go to the
//! new one). A plan must hold both tables' entries, so no plan is final
//! until every table that may hold its day has been read. A run that stops
//! midway has marked nothing and starts again from the beginning; plans it
//! already uploaded are rewritten with the same content.
//!
//! Resuming: a table marked by an earlier run is skipped, except when its
//! time range overlaps a table that is scanned now: then it is read again,
//! because a plan the two share would otherwise lose the marked table's
//! entries when rewritten. Tables of different days never share a plan, so
//! the usual case (new weekly tables appear) reads only the new ones.

mod plans;
pub(crate) mod read;
mod tables;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cortex::bigtable::{BigtableClient, BigtableOptions, KeyRange};
use cortex::dynamodb::{DynamoClient, DynamoOptions};
use cortex::{CortexConfig, IndexStore};
use futures::StreamExt;
use protocol::names::scanned_key;
use protocol::tenant::TenantFilter;
use sort::ExternalSorter;
use tokio::sync::{mpsc, Semaphore};
use tracing::{info, warn};

use self::plans::{write_plans, ChunkRef, LocalPlan};
use self::read::{read_unit, Counts, EntrySink, Unit};
use self::tables::{filter_tables, tables_of_period, IndexTable, TableFilter};
use crate::dry_run::{estimate_cortex_bytes, DryRunDay};
use crate::scan::{note_rejected, Output, ScanConfig, ScanReport};

/// Cortex-specific scan settings (flags the YAML does not carry).
#[derive(Clone, Debug, Default)]
pub struct CortexScanOptions {
    /// Parallel reads (Bigtable ranges, DynamoDB segments) and uploads; 0: 16.
    pub concurrency: usize,
    /// Tenants to scan (`--allowed-tenants`/`--ignore-tenants`).
    pub tenants: TenantFilter,
    /// Only these index tables (exact names); empty: all.
    pub tables: Vec<String>,
    /// At most this many tables, newest first; 0: all.
    pub tables_limit: usize,
    /// Overrides `storage.bigtable.project`.
    pub bigtable_project: Option<String>,
    /// Overrides `storage.bigtable.instance`.
    pub bigtable_instance: Option<String>,
    /// Override `storage.aws.dynamodb.dynamodb_url`.
    pub dynamodb_url: Option<String>,
    /// Cap on index requests per second, per store; `None`: unlimited.
    pub requests_per_sec: Option<f64>,
    /// `host:port` of a Bigtable emulator; `None`: `$BIGTABLE_EMULATOR_HOST`.
    pub bigtable_emulator_host: Option<String>,
}

/// What a Cortex scan saw, beyond the plans.
#[derive(Clone, Debug, Default)]
pub struct CortexStats {
    /// Tables read in this run.
    pub tables: Vec<String>,
    /// Index entries seen, kept and skipped, over all tables.
    pub counts: Counts,
    /// References seen more than once (replicated writes, several tables).
    pub duplicate_refs: u64,
}

const DEFAULT_CONCURRENCY: usize = 16;

fn load_config(path: &Path, opts: &CortexScanOptions) -> Result<CortexConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading Cortex config {}", path.display()))?;
    let mut cfg =
        CortexConfig::parse(&text).with_context(|| format!("Cortex config {}", path.display()))?;
    cfg.schema
        .validate()
        .with_context(|| format!("Cortex config {}", path.display()))?;
    let bt = cfg.storage.bigtable.get_or_insert_with(Default::default);
    if let Some(p) = &opts.bigtable_project {
        bt.project = p.clone();
    }
    if let Some(i) = &opts.bigtable_instance {
        bt.instance = i.clone();
    }
    if let Some(u) = &opts.dynamodb_url {
        let aws = cfg.storage.aws.get_or_insert_with(Default::default);
        aws.dynamodb.dynamodb_url = Some(u.clone());
    }
    Ok(cfg)
}

/// The clients of the stores the schema uses, made on first need.
#[derive(Default)]
struct Stores {
    bigtable: Option<BigtableClient>,
    dynamo: Option<DynamoClient>,
}

impl Stores {
    async fn bigtable(
        &mut self,
        cfg: &CortexConfig,
        opts: &CortexScanOptions,
    ) -> Result<BigtableClient> {
        if let Some(c) = &self.bigtable {
            return Ok(c.clone());
        }
        let bt = cfg.storage.bigtable.clone().unwrap_or_default();
        if bt.project.is_empty() || bt.instance.is_empty() {
            bail!("a Bigtable index needs storage.bigtable.project and .instance (or --bigtable-project/--bigtable-instance)");
        }
        let mut o = BigtableOptions::new(&bt.project, &bt.instance);
        o.requests_per_sec = opts.requests_per_sec;
        if let Some(h) = &opts.bigtable_emulator_host {
            o.emulator_host = Some(h.clone());
        }
        let c = BigtableClient::connect(&o)?;
        self.bigtable = Some(c.clone());
        Ok(c)
    }

    async fn dynamo(
        &mut self,
        cfg: &CortexConfig,
        opts: &CortexScanOptions,
    ) -> Result<DynamoClient> {
        if let Some(c) = &self.dynamo {
            return Ok(c.clone());
        }
        let url = cfg
            .storage
            .aws
            .as_ref()
            .and_then(|a| a.dynamodb.dynamodb_url.clone());
        let c = DynamoClient::connect(&DynamoOptions {
            url,
            requests_per_sec: opts.requests_per_sec,
            ..Default::default()
        })
        .await?;
        self.dynamo = Some(c.clone());
        Ok(c)
    }
}

/// Every index table of the readable periods, after the user's filters.
async fn discover(
    cfg: &CortexConfig,
    opts: &CortexScanOptions,
    scan: &ScanConfig,
    stores: &mut Stores,
) -> Result<Vec<IndexTable>> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut names_by_store: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut found = Vec::new();
    for (ix, p) in cfg.schema.configs.iter().enumerate() {
        if !p.schema.is_supported() {
            warn!(period = ix, schema = ?p.schema, "schema version not readable (only v9, v10, v11), skipping period");
            continue;
        }
        let key = match p.index_store() {
            IndexStore::Bigtable(_) => "bigtable",
            IndexStore::DynamoDb => "dynamodb",
            other => {
                warn!(period = ix, store = ?other, "index store not supported by this scanner, skipping period");
                continue;
            }
        };
        if !names_by_store.contains_key(key) {
            let names = if key == "bigtable" {
                stores.bigtable(cfg, opts).await?.list_tables().await?
            } else {
                stores.dynamo(cfg, opts).await?.list_tables().await?
            };
            names_by_store.insert(key, names);
        }
        let names = names_by_store
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_default();
        found.extend(tables_of_period(&cfg.schema, ix, names, now_ms));
    }
    Ok(filter_tables(
        found,
        &TableFilter {
            names: opts.tables.clone(),
            from_ms: scan.days.from.map(|d| i64::from(d) * base::DAY_MS),
            to_ms: scan.days.to.map(|d| i64::from(d) * base::DAY_MS),
            limit: opts.tables_limit,
        },
    ))
}

fn marker_key(prefix: &str, table: &str) -> String {
    scanned_key(prefix, table)
}

/// Scans the Cortex index named by the config at `path` into plans.
pub(crate) async fn scan_cortex(
    scan: &ScanConfig,
    path: &Path,
    out: &mut Output,
) -> Result<ScanReport> {
    let opts = &scan.cortex;
    let cfg = load_config(path, opts)?;
    let mut stores = Stores::default();
    let tables = discover(&cfg, opts, scan, &mut stores).await?;
    let mut report = ScanReport::default();
    let mut marked = Vec::new();
    let mut todo = Vec::new();
    for t in tables {
        if scan
            .bucket
            .exists(&marker_key(&scan.prefix, &t.name))
            .await?
        {
            marked.push(t);
        } else {
            todo.push(t);
        }
    }
    // Marked tables sharing days with a table read now are read again (see
    // the module doc); the others stay skipped.
    let (again, skipped): (Vec<_>, Vec<_>) = marked
        .into_iter()
        .partition(|m| todo.iter().any(|t| t.overlaps(m)));
    for t in &skipped {
        info!(table = %t.name, "already scanned, skipping");
        report.already_scanned.push(t.name.clone());
    }
    todo.extend(again);
    if todo.is_empty() {
        report.cortex = Some(CortexStats::default());
        return Ok(report);
    }
    let concurrency = if opts.concurrency == 0 {
        DEFAULT_CONCURRENCY
    } else {
        opts.concurrency
    };
    let mut units = Vec::new();
    for t in &todo {
        match &t.store {
            IndexStore::Bigtable(_) => {
                let client = stores.bigtable(&cfg, opts).await?;
                // A table whose sampling fails is read as one range, as Cortex does.
                let samples = match client.sample_row_keys(&t.name).await {
                    Ok(s) => s,
                    Err(e) => {
                        warn!(table = %t.name, error = %e, "SampleRowKeys failed, reading the table as one range");
                        Vec::new()
                    }
                };
                for range in KeyRange::split_at(&samples) {
                    units.push(Unit::Bigtable {
                        client: client.clone(),
                        table: t.name.clone(),
                        range,
                    });
                }
            }
            IndexStore::DynamoDb => {
                let client = stores.dynamo(&cfg, opts).await?;
                let segments = i32::try_from(concurrency)
                    .unwrap_or(i32::MAX)
                    .clamp(1, 1_000_000);
                for segment in 0..segments {
                    units.push(Unit::Dynamo {
                        client: client.clone(),
                        table: t.name.clone(),
                        segment,
                        segments,
                    });
                }
            }
            other => bail!("table {}: index store {other:?} cannot be read", t.name),
        }
    }
    let names: Vec<String> = todo.iter().map(|t| t.name.clone()).collect();
    info!(tables = ?names, units = units.len(), concurrency, "scanning Cortex index");

    std::fs::create_dir_all(&scan.work_dir)
        .with_context(|| format!("creating work dir {}", scan.work_dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix("cortex-scan-")
        .tempdir_in(&scan.work_dir)
        .with_context(|| format!("creating a scan dir in {}", scan.work_dir.display()))?;

    // Read: units in parallel, one thread feeding the sort.
    let (tx, mut rx) = mpsc::channel::<Vec<ChunkRef>>(concurrency.max(2));
    // Half the budget for sorted runs; the rest covers the sort's scratch
    // space, batches in flight and the readers.
    let sort_budget = (scan.memory_budget / 2).max(1 << 20);
    let sort_dir = work.path().to_path_buf();
    let sorter_task = tokio::task::spawn_blocking(move || -> Result<ExternalSorter<ChunkRef>> {
        let mut sorter = ExternalSorter::new(&sort_dir, sort_budget)?;
        while let Some(batch) = rx.blocking_recv() {
            for r in batch {
                sorter.push(r)?;
            }
        }
        Ok(sorter)
    });
    let days = scan.days;
    let results: Vec<Result<Counts>> = futures::stream::iter(units)
        .map(|unit| {
            let sink = EntrySink::new(opts.tenants.clone(), days, tx.clone());
            read_unit(unit, sink)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    drop(tx);
    let sorter = sorter_task.await.context("sort thread")??;
    let mut counts = Counts::default();
    for r in results {
        counts.merge(r?);
    }
    for t in &counts.invalid_tenants {
        warn!(tenant = %t.escape_debug(), "index entries of an invalid tenant ID skipped");
        note_rejected(&mut report.invalid_tenants, t);
    }
    if counts.invalid_tenant_entries > 0 {
        warn!(
            entries = counts.invalid_tenant_entries,
            tenants_named = counts.invalid_tenants.len(),
            "index entries of invalid tenant IDs skipped"
        );
    }
    if !counts.ignored_tenants.is_empty() {
        info!(tenants = ?counts.ignored_tenants, "tenants skipped by the tenant filters");
    }
    info!(entries = counts.total_entries(), kept = counts.kept, by_type = ?counts.entries, spilled_runs = sorter.spilled_runs(), "index read");
    report.spilled_runs = sorter.spilled_runs();

    // Write plans (one thread) and upload them as they are finished.
    let (ptx, mut prx) = mpsc::channel::<LocalPlan>(concurrency.max(2));
    let plan_dir = work.path().join("plans");
    let compression = scan.compression;
    let writer = tokio::task::spawn_blocking(move || -> Result<u64> {
        let dups = write_plans(sorter, &plan_dir, compression, |p| {
            ptx.blocking_send(p)
                .map_err(|_| std::io::Error::other("plan uploads stopped"))
        })?;
        Ok(dups)
    });
    let limit = Arc::new(Semaphore::new(concurrency));
    let mut uploads = tokio::task::JoinSet::new();
    while let Some(plan) = prx.recv().await {
        if out.is_dry_run() {
            let _ = tokio::fs::remove_file(&plan.file).await;
            out.record(DryRunDay {
                tenant: plan.id.tenant.clone(),
                day: plan.id.day,
                series: plan.series,
                chunks: plan.chunk_refs,
                samples: None,
                estimated_bytes: estimate_cortex_bytes(plan.series, plan.chunk_refs),
            });
            push_plan(&mut report, plan);
            continue;
        }
        let permit = limit
            .clone()
            .acquire_owned()
            .await
            .context("upload limiter")?;
        let (bucket, key) = (
            scan.bucket.clone(),
            plan.id.plan_key(&scan.prefix, compression),
        );
        uploads.spawn(async move {
            let _permit = permit;
            upload_plan(&bucket, &key, &plan.file).await?;
            let _ = tokio::fs::remove_file(&plan.file).await;
            info!(plan = %plan.id, series = plan.series, chunks = plan.chunk_refs, "plan written");
            Ok::<_, anyhow::Error>(plan)
        });
        // Collect finished uploads early so errors surface without waiting.
        while let Some(done) = uploads.try_join_next() {
            push_plan(&mut report, done.context("upload task")??);
        }
    }
    let dups = writer.await.context("plan writer thread")??;
    while let Some(done) = uploads.join_next().await {
        push_plan(&mut report, done.context("upload task")??);
    }

    // Every plan of every table is up: now the tables count as scanned.
    if !out.is_dry_run() {
        let stamp = protocol::records::now_rfc3339();
        for t in &names {
            scan.bucket
                .put(&marker_key(&scan.prefix, t), stamp.clone())
                .await?;
        }
    }
    report.plans.sort();
    report.cortex = Some(CortexStats {
        tables: names,
        counts,
        duplicate_refs: dups,
    });
    Ok(report)
}

fn push_plan(report: &mut ScanReport, plan: LocalPlan) {
    report.series += plan.series;
    report.plans.push(plan.id);
}

/// Uploads one plan file. The bucket retries transient failures itself
/// under the one retry policy (`--bucket-retries`); retrying here as well
/// would multiply the attempts and retry permanent errors too.
async fn upload_plan(bucket: &protocol::bucket::Bucket, key: &str, file: &Path) -> Result<()> {
    bucket
        .upload_file(key, file)
        .await
        .with_context(|| format!("uploading plan {key}"))
}
