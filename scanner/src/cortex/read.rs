//! Reading index tables in parallel work units and keeping the
//! series→chunk references.
//!
//! A unit is one Bigtable row range (from `SampleRowKeys`) or one DynamoDB
//! parallel-scan segment. Units of every table run `concurrency` at a time;
//! each turns its entries into [`ChunkRef`]s and sends them in batches to
//! the single thread feeding the external sort. No unit needs to see a
//! whole series: the sort merges the pieces (so the `gcp` row layout, where
//! one series spans many rows and a split may cut through it, is fine, and
//! DynamoDB entries are read once, unlike Cortex's scan-then-query).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use cortex::bigtable::{BigtableClient, KeyRange};
use cortex::dynamodb::DynamoClient;
use cortex::schema::{classify, parse_bigtable_cell, parse_series_chunk_entry, EntryKind};
use protocol::tenant::{validate_tenant, TenantFilter};
use tokio::sync::mpsc;

use super::plans::ChunkRef;
use crate::openmetrics::DayRange;
use crate::scan::MAX_REPORTED_NAMES;

/// References per batch sent to the sort thread.
pub(crate) const BATCH: usize = 1024;

/// One piece of one table.
#[derive(Clone, Debug)]
pub(crate) enum Unit {
    Bigtable {
        client: BigtableClient,
        table: String,
        range: KeyRange,
    },
    Dynamo {
        client: DynamoClient,
        table: String,
        segment: i32,
        segments: i32,
    },
}

/// What the units saw, merged over all units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Index entries by Cortex's `type` label (`series-to-chunk`, ...).
    pub entries: BTreeMap<String, u64>,
    /// Series→chunk entries kept.
    pub kept: u64,
    /// Series→chunk entries that did not parse (e.g. hourly buckets).
    pub malformed: u64,
    /// Entries outside `--from`/`--to`.
    pub outside_days: u64,
    /// Tenant IDs Cortex would not accept (reported, skipped); at most
    /// [`MAX_REPORTED_NAMES`] of them, raw (escape before printing).
    pub invalid_tenants: BTreeSet<String>,
    /// Series→chunk entries skipped for an invalid tenant ID.
    pub invalid_tenant_entries: u64,
    /// Tenants left out by `--allowed-tenants`/`--ignore-tenants`.
    pub ignored_tenants: BTreeSet<String>,
    /// Bigtable cells outside family `f`, DynamoDB items without `h`/`r`.
    pub foreign_cells: u64,
}

impl Counts {
    /// Adds the counts of another unit (invalid tenant names stay capped).
    pub(crate) fn merge(&mut self, o: Counts) {
        for (k, v) in o.entries {
            *self.entries.entry(k).or_default() += v;
        }
        self.kept += o.kept;
        self.malformed += o.malformed;
        self.outside_days += o.outside_days;
        for t in o.invalid_tenants {
            if self.invalid_tenants.len() >= MAX_REPORTED_NAMES {
                break;
            }
            self.invalid_tenants.insert(t);
        }
        self.invalid_tenant_entries += o.invalid_tenant_entries;
        self.ignored_tenants.extend(o.ignored_tenants);
        self.foreign_cells += o.foreign_cells;
    }

    /// Index entries read, of every kind.
    pub fn total_entries(&self) -> u64 {
        self.entries.values().sum()
    }
}

fn kind_label(k: EntryKind) -> String {
    match k {
        EntryKind::MetricToSeries => "metric-to-series".into(),
        EntryKind::MetricLabelToSeries => "metric-label-to-label-value".into(),
        EntryKind::SeriesToLabelNames => "series-to-label-values".into(),
        EntryKind::SeriesToChunk => "series-to-chunk".into(),
        EntryKind::Unknown([a, b]) => format!("unknown-{a:02x}{b:02x}"),
    }
}

/// Turns entries into references, with the filters of the scan.
pub(crate) struct EntrySink {
    tenants: TenantFilter,
    days: DayRange,
    tx: mpsc::Sender<Vec<ChunkRef>>,
    batch: Vec<ChunkRef>,
    pub counts: Counts,
    /// Entry counts by kind, indexed like `kind_slot` (cheap in the hot loop).
    by_kind: [u64; 4],
}

impl EntrySink {
    pub(crate) fn new(
        tenants: TenantFilter,
        days: DayRange,
        tx: mpsc::Sender<Vec<ChunkRef>>,
    ) -> Self {
        EntrySink {
            tenants,
            days,
            tx,
            batch: Vec::with_capacity(BATCH),
            counts: Counts::default(),
            by_kind: [0; 4],
        }
    }

    /// One index entry (hash value, range value).
    pub(crate) async fn entry(&mut self, hash: &[u8], range: &[u8]) -> Result<()> {
        let kind = classify(range);
        let slot = match kind {
            EntryKind::MetricToSeries => 0,
            EntryKind::MetricLabelToSeries => 1,
            EntryKind::SeriesToLabelNames => 2,
            EntryKind::SeriesToChunk => 3,
            EntryKind::Unknown(_) => {
                *self.counts.entries.entry(kind_label(kind)).or_default() += 1;
                return Ok(());
            }
        };
        self.by_kind[slot] += 1;
        if slot != 3 {
            return Ok(());
        }
        let Ok(hash) = std::str::from_utf8(hash) else {
            self.counts.malformed += 1;
            return Ok(());
        };
        let Ok(e) = parse_series_chunk_entry(hash, range) else {
            self.counts.malformed += 1;
            return Ok(());
        };
        if validate_tenant(&e.user).is_err() {
            self.counts.invalid_tenant_entries += 1;
            // Bounded: a broken index may hold millions of bad IDs.
            if self.counts.invalid_tenants.len() < MAX_REPORTED_NAMES
                && !self.counts.invalid_tenants.contains(&e.user)
            {
                self.counts.invalid_tenants.insert(e.user);
            }
            return Ok(());
        }
        if !self.tenants.allows(&e.user) {
            if !self.counts.ignored_tenants.contains(&e.user) {
                self.counts.ignored_tenants.insert(e.user);
            }
            return Ok(());
        }
        if !self.days.contains(e.day_index) || e.day_index < 0 {
            self.counts.outside_days += 1;
            return Ok(());
        }
        self.counts.kept += 1;
        self.batch.push(ChunkRef::new(
            &e.user,
            e.day_index,
            &e.series_id,
            &e.chunk_id,
        ));
        if self.batch.len() >= BATCH {
            self.send().await?;
        }
        Ok(())
    }

    async fn send(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx
            .send(batch)
            .await
            .map_err(|_| anyhow::anyhow!("the sort thread stopped"))
    }

    /// Sends what is left and returns the counts.
    pub(crate) async fn finish(mut self) -> Result<Counts> {
        self.send().await?;
        for (slot, n) in self.by_kind.iter().enumerate() {
            if *n > 0 {
                let kind = [
                    EntryKind::MetricToSeries,
                    EntryKind::MetricLabelToSeries,
                    EntryKind::SeriesToLabelNames,
                    EntryKind::SeriesToChunk,
                ][slot];
                *self.counts.entries.entry(kind_label(kind)).or_default() += n;
            }
        }
        Ok(self.counts)
    }
}

/// Reads one unit to the end.
pub(crate) async fn read_unit(unit: Unit, mut sink: EntrySink) -> Result<Counts> {
    match unit {
        Unit::Bigtable {
            client,
            table,
            range,
        } => {
            let mut rows = client.read_rows(&table, range, true);
            while let Some(row) = rows
                .next_row()
                .await
                .with_context(|| format!("reading Bigtable table {table}"))?
            {
                for cell in &row.cells {
                    // Cortex reads family `f` only.
                    if cell.family != "f" {
                        sink.counts.foreign_cells += 1;
                        continue;
                    }
                    let (hash, range) = parse_bigtable_cell(&row.key, &cell.qualifier);
                    sink.entry(hash, range).await?;
                }
            }
        }
        Unit::Dynamo {
            client,
            table,
            segment,
            segments,
        } => {
            let mut scan = client.scan_segment(&table, segment, segments);
            while let Some((page, odd)) = scan.next_page().await.with_context(|| {
                format!("scanning DynamoDB table {table} segment {segment}/{segments}")
            })? {
                sink.counts.foreign_cells += odd;
                for (h, r) in &page {
                    sink.entry(h.as_bytes(), r).await?;
                }
            }
        }
    }
    sink.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex::schema::{encode_range_key, CHUNK_TIME_RANGE_KEY_V3, SERIES_RANGE_KEY_V1};

    #[tokio::test]
    async fn keeps_series_chunk_entries_of_valid_allowed_tenants() {
        let (tx, mut rx) = mpsc::channel(16);
        let filter = TenantFilter {
            allowed: Vec::new(),
            ignored: Some(regex::Regex::new("^skip").unwrap()),
        };
        let mut sink = EntrySink::new(
            filter,
            DayRange {
                from: Some(10),
                to: Some(20),
            },
            tx,
        );
        let chunk =
            |c: &str| encode_range_key(CHUNK_TIME_RANGE_KEY_V3, &[b"0000ffff", b"", c.as_bytes()]);
        sink.entry(b"u1:d10:sidA", &chunk("u1/1:2:3:4"))
            .await
            .unwrap();
        sink.entry(b"u:x:d11:sidB", &chunk("u/5")).await.unwrap(); // user with ':' is invalid
        sink.entry(b"skipme:d11:sidB", &chunk("c")).await.unwrap();
        sink.entry(b"u1:d25:sidA", &chunk("c")).await.unwrap();
        sink.entry(b"u1:405:sidA", &chunk("c")).await.unwrap(); // hourly bucket
        sink.entry(
            b"u1:d10:metric",
            &encode_range_key(SERIES_RANGE_KEY_V1, &[b"sid", b"", b""]),
        )
        .await
        .unwrap();
        sink.entry(b"u1:d10:x", b"zz").await.unwrap();
        let counts = sink.finish().await.unwrap();
        let batch = rx.recv().await.unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].parts(), Some(("u1", 10, "sidA", "u1/1:2:3:4")));
        assert_eq!(counts.kept, 1);
        assert_eq!(counts.malformed, 1);
        assert_eq!(counts.outside_days, 1);
        assert_eq!(
            counts.invalid_tenants.iter().collect::<Vec<_>>(),
            vec!["u:x"]
        );
        assert_eq!(
            counts.ignored_tenants.iter().collect::<Vec<_>>(),
            vec!["skipme"]
        );
        assert_eq!(counts.entries.get("series-to-chunk"), Some(&5));
        assert_eq!(counts.entries.get("metric-to-series"), Some(&1));
        assert_eq!(counts.entries.get("unknown-7a7a"), Some(&1));
    }
}
