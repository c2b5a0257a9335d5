//! `--dry-run`: what a scan would plan, and roughly how big the blocks
//! would be, without writing anything to the bucket.
//!
//! It is the scan itself (the same discovery, tenant filters, `--from`/`--to`
//! and resumption markers) with the publishing step replaced by a tally
//! ([`crate::scan::Output::DryRun`]): no plan, staged object, marker or
//! `scan-complete` is written. Scratch files (sort runs, staged samples,
//! local plan files) live in a temp dir under the work dir and are removed
//! when it ends. What it counts, per source:
//!
//! - OpenMetrics: series, samples and output chunks of each tenant-day,
//!   exactly as staged (duplicates not yet dropped).
//! - Prometheus blocks: from each block's meta.json, prorated by the share
//!   of the block's time range inside the day; replicas are not added up
//!   (the largest replica counts), see [`prometheus_day`].
//! - Cortex: series and chunk references of each plan, from the index scan;
//!   samples are unknown without reading chunks.
//!
//! Byte figures are estimates of the output blocks, explained by
//! [`DryRunReport::render`]. Not for: building anything, or checking that
//! chunks or blocks are readable (`verify` does that after a build).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use protocol::bucket::Bucket;
use protocol::names::day_to_date;
use protocol::source::SourceSpec;

use crate::prometheus::SourceBlock;
use crate::scan::{scan_into, Output, ScanConfig};

/// XOR chunk data of regularly scraped series: Prometheus' long-standing
/// figure is about 1.37 bytes per sample; we use 1.4 (in tenths, to stay in
/// integers).
pub(crate) const XOR_TENTHS_OF_BYTE_PER_SAMPLE: u64 = 14;
/// Per output chunk, outside the compressed samples: the segment file's
/// length, encoding and CRC, and the chunk's entry in the index.
pub(crate) const CHUNK_OVERHEAD_BYTES: u64 = 16;
/// Per series in the index: label references, postings and its share of
/// the symbol table, for series of about ten labels.
pub(crate) const INDEX_BYTES_PER_SERIES: u64 = 160;
/// Per Cortex chunk reference: Cortex cuts chunks at about 1 KiB of encoded
/// samples (DoubleDelta and Varbit chunks are fixed 1 KiB pages), and the
/// XOR re-encoding in the block is about as dense.
pub(crate) const CORTEX_BYTES_PER_CHUNK: u64 = 1024;

/// One plan a scan would write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DryRunDay {
    /// The tenant the plan is for.
    pub tenant: String,
    /// UTC day index (unix seconds / 86400).
    pub day: i32,
    /// Series in the plan (Cortex: series IDs, before merging equal labels).
    pub series: u64,
    /// Output chunks (OpenMetrics), source chunks (Prometheus, prorated) or
    /// chunk references of the plan (Cortex).
    pub chunks: u64,
    /// `None` where the scan cannot know without reading chunks (Cortex).
    pub samples: Option<u64>,
    /// Estimated size of the block (see [`DryRunReport::estimate_note`]).
    pub estimated_bytes: u64,
}

/// What `--dry-run` found.
#[derive(Clone, Debug, Default)]
pub struct DryRunReport {
    /// `openmetrics`, `prometheus` or `cortex`.
    pub source: String,
    /// Sorted by tenant, then day.
    pub days: Vec<DryRunDay>,
    /// Units a real scan would skip: marked `scanned.*` by an earlier scan.
    pub already_scanned: Vec<String>,
    /// Tenant IDs refused (escaped), as in [`crate::ScanReport`].
    pub invalid_tenants: BTreeSet<String>,
    /// OpenMetrics samples outside `--from`/`--to`.
    pub samples_outside_range: u64,
}

/// Scans `source` as [`crate::scan`] would and reports the plans it would
/// write, writing nothing to the bucket.
pub async fn dry_run(cfg: &ScanConfig, source: &SourceSpec) -> Result<DryRunReport> {
    let mut out = Output::DryRun(Vec::new());
    let report = scan_into(cfg, source, &mut out).await?;
    let mut days = match out {
        Output::DryRun(days) => days,
        Output::Bucket => Vec::new(),
    };
    days.sort_by(|a, b| (&a.tenant, a.day).cmp(&(&b.tenant, b.day)));
    Ok(DryRunReport {
        source: source.kind().to_string(),
        days,
        already_scanned: report.already_scanned,
        invalid_tenants: report.invalid_tenants,
        samples_outside_range: report.samples_outside_range,
    })
}

/// Output block bytes for a day of known samples.
pub fn estimate_block_bytes(series: u64, chunks: u64, samples: u64) -> u64 {
    samples.saturating_mul(XOR_TENTHS_OF_BYTE_PER_SAMPLE) / 10
        + chunks.saturating_mul(CHUNK_OVERHEAD_BYTES)
        + series.saturating_mul(INDEX_BYTES_PER_SERIES)
}

/// Output block bytes for a Cortex plan: chunks times a typical size.
pub fn estimate_cortex_bytes(series: u64, chunk_refs: u64) -> u64 {
    chunk_refs.saturating_mul(CORTEX_BYTES_PER_CHUNK)
        + series.saturating_mul(INDEX_BYTES_PER_SERIES)
}

/// Sizes of the given blocks (chunks and index), by URL: from meta.json's
/// `thanos.files` when it has them, else from the directory or a listing.
pub(crate) async fn block_sizes<'a>(
    blocks: impl Iterator<Item = &'a SourceBlock>,
) -> Result<HashMap<String, u64>> {
    let mut out = HashMap::new();
    for b in blocks {
        if out.contains_key(&b.url) {
            continue;
        }
        let size = block_size(b).await?;
        out.insert(b.url.clone(), size);
    }
    Ok(out)
}

async fn block_size(b: &SourceBlock) -> Result<u64> {
    if let Some(t) = &b.meta.thanos {
        let listed: u64 = t.files.iter().filter_map(|f| f.size_bytes).sum();
        if listed > 0 {
            return Ok(listed);
        }
    }
    if let Some(dir) = b.url.strip_prefix("file://") {
        return dir_size(Path::new(dir)).with_context(|| format!("block {}", b.url));
    }
    let Some((parent, name)) = b.url.rsplit_once('/') else {
        return Ok(0);
    };
    let bucket = Bucket::open(parent)?;
    Ok(bucket.list(name).await?.iter().map(|o| o.size).sum())
}

/// Bytes of the regular files under `dir`, one level of subdirectories
/// deep (a block holds `index`, `meta.json` and `chunks/`).
fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let meta = e.metadata()?;
        if meta.is_file() {
            total += meta.len();
        } else if meta.is_dir() {
            for c in std::fs::read_dir(e.path())? {
                let m = c?.metadata()?;
                if m.is_file() {
                    total += m.len();
                }
            }
        }
    }
    Ok(total)
}

/// One tenant-day of Prometheus blocks. Chunks, samples and bytes of each
/// block are prorated by the share of its `[minTime, maxTime)` inside the
/// day and summed per source; series are the largest block's count (a
/// series usually lives in every block of a day, so summing would multiply
/// it). Replicas hold the same data, so the largest source is reported,
/// not their sum: an estimate of the deduplicated block.
pub(crate) fn prometheus_day(
    tenant: &str,
    day: i32,
    blocks: &[&SourceBlock],
    sizes: &HashMap<String, u64>,
) -> DryRunDay {
    let (day_start, day_end) = (
        i64::from(day) * base::DAY_MS,
        (i64::from(day) + 1) * base::DAY_MS,
    );
    // Per source: (series, chunks, samples, bytes).
    let mut per_source: BTreeMap<usize, (u64, f64, f64, f64)> = BTreeMap::new();
    for b in blocks {
        let (min, max) = (b.meta.min_time, b.meta.max_time);
        let span = (max - min).max(1) as f64;
        let inside = (max.min(day_end) - min.max(day_start)).max(0) as f64;
        let share = (inside / span).clamp(0.0, 1.0);
        let s = &b.meta.stats;
        let e = per_source.entry(b.source).or_default();
        e.0 = e.0.max(s.num_series);
        e.1 += s.num_chunks as f64 * share;
        e.2 += s.num_samples as f64 * share;
        e.3 += sizes.get(&b.url).copied().unwrap_or(0) as f64 * share;
    }
    let mut d = DryRunDay {
        tenant: tenant.to_string(),
        day,
        series: 0,
        chunks: 0,
        samples: Some(0),
        estimated_bytes: 0,
    };
    for (series, chunks, samples, bytes) in per_source.into_values() {
        d.series = d.series.max(series);
        d.chunks = d.chunks.max(chunks.round() as u64);
        d.samples = d.samples.max(Some(samples.round() as u64));
        d.estimated_bytes = d.estimated_bytes.max(bytes.round() as u64);
    }
    d
}

/// `1.5 MiB`-style sizes for the table.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Sums of a group of days; samples stay unknown if any day's are.
#[derive(Default)]
struct Totals {
    plans: u64,
    series: u64,
    chunks: u64,
    samples: Option<u64>,
    bytes: u64,
}

impl Totals {
    fn add(&mut self, d: &DryRunDay) {
        self.samples = match (self.plans, self.samples, d.samples) {
            (0, _, s) => s,
            (_, Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        self.plans += 1;
        self.series += d.series;
        self.chunks += d.chunks;
        self.bytes += d.estimated_bytes;
    }
}

fn samples_cell(s: Option<u64>) -> String {
    s.map_or_else(|| "-".to_string(), |n| n.to_string())
}

impl DryRunReport {
    /// Series over all plans.
    pub fn total_series(&self) -> u64 {
        self.days.iter().map(|d| d.series).sum()
    }

    /// Estimated bytes of all blocks.
    pub fn total_estimated_bytes(&self) -> u64 {
        self.days.iter().map(|d| d.estimated_bytes).sum()
    }

    /// How the byte figures were estimated, for this report's source.
    pub fn estimate_note(&self) -> String {
        match self.source.as_str() {
            "cortex" => format!(
                "bytes: {CORTEX_BYTES_PER_CHUNK} B per Cortex chunk reference (Cortex cuts chunks at about 1 KiB) \
                 + {INDEX_BYTES_PER_SERIES} B of index per series; samples are unknown until chunks are read (-)"
            ),
            "prometheus" => "bytes: the source blocks' sizes (thanos.files or the files themselves), \
                 prorated by the share of each block's time range inside the day; chunks and samples \
                 from meta.json prorated the same way; series: the largest block of the day; \
                 replicas are not added up (the largest counts)"
                .to_string(),
            _ => format!(
                "bytes: {}.{} B per sample (XOR) + {CHUNK_OVERHEAD_BYTES} B per chunk of at most {} samples \
                 + {INDEX_BYTES_PER_SERIES} B of index per series; duplicates not yet dropped",
                XOR_TENTHS_OF_BYTE_PER_SAMPLE / 10,
                XOR_TENTHS_OF_BYTE_PER_SAMPLE % 10,
                crate::openmetrics::SAMPLES_PER_CHUNK
            ),
        }
    }

    /// A table per tenant-day, a total per tenant and overall, and how the
    /// bytes were estimated. Tenant IDs are validated, so printing them
    /// is safe; refused ones are printed escaped.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "dry run ({} source): nothing was written to the bucket",
            self.source
        );
        for u in &self.already_scanned {
            let _ = writeln!(
                s,
                "{u} was scanned before and would be skipped (delete its scanned.* marker to scan it again)"
            );
        }
        for t in &self.invalid_tenants {
            let _ = writeln!(s, "invalid tenant ID \"{t}\" would be skipped");
        }
        if self.samples_outside_range > 0 {
            let _ = writeln!(
                s,
                "{} samples outside --from/--to would be left out",
                self.samples_outside_range
            );
        }
        let header = format!(
            "{:<24} {:<10} {:>7} {:>12} {:>12} {:>14} {:>12}",
            "tenant", "day", "index", "series", "chunks", "samples", "est. bytes"
        );
        let _ = writeln!(s, "{header}");
        let mut all = Totals::default();
        let mut i = 0;
        while i < self.days.len() {
            let tenant = &self.days[i].tenant;
            let mut t = Totals::default();
            while let Some(d) = self.days.get(i).filter(|d| &d.tenant == tenant) {
                let _ = writeln!(
                    s,
                    "{:<24} {:<10} {:>7} {:>12} {:>12} {:>14} {:>12}",
                    d.tenant,
                    day_to_date(d.day),
                    d.day,
                    d.series,
                    d.chunks,
                    samples_cell(d.samples),
                    human_bytes(d.estimated_bytes)
                );
                t.add(d);
                all.add(d);
                i += 1;
            }
            let _ = writeln!(
                s,
                "{:<24} {:<18} {:>12} {:>12} {:>14} {:>12}",
                format!("total {tenant}"),
                format!("{} days", t.plans),
                t.series,
                t.chunks,
                samples_cell(t.samples),
                human_bytes(t.bytes)
            );
        }
        let _ = writeln!(
            s,
            "{:<24} {:<18} {:>12} {:>12} {:>14} {:>12}",
            "TOTAL",
            format!("{} plans", all.plans),
            all.series,
            all.chunks,
            samples_cell(all.samples),
            human_bytes(all.bytes)
        );
        let _ = writeln!(s, "{}", self.estimate_note());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb::{BlockMeta, BlockStats};

    fn block(source: usize, min: i64, max: i64, series: u64, samples: u64) -> SourceBlock {
        SourceBlock {
            source,
            url: format!("file:///s{source}/{min}"),
            meta: BlockMeta {
                ulid: ulid::Ulid::new(),
                min_time: min,
                max_time: max,
                stats: BlockStats {
                    num_samples: samples,
                    num_series: series,
                    num_chunks: samples / 100,
                },
                compaction: Default::default(),
                version: 1,
                thanos: None,
            },
        }
    }

    #[test]
    fn prometheus_days_prorate_and_do_not_add_replicas() {
        const H: i64 = 3_600_000;
        // Source 0: one block from 12h to 36h, half of it in day 0.
        // Source 1 (a replica): two blocks covering day 0's second half.
        let a = block(0, 12 * H, 36 * H, 10, 2400);
        let b = block(1, 12 * H, 18 * H, 10, 600);
        let c = block(1, 18 * H, 24 * H, 12, 600);
        let sizes: HashMap<String, u64> = [(a.url.clone(), 4000), (b.url.clone(), 1000)]
            .into_iter()
            .collect();
        let d = prometheus_day("t", 0, &[&a, &b, &c], &sizes);
        assert_eq!(d.samples, Some(1200));
        assert_eq!(d.chunks, 12);
        assert_eq!(d.series, 12);
        assert_eq!(d.estimated_bytes, 2000);
    }

    #[test]
    fn estimates_and_render() {
        assert_eq!(estimate_block_bytes(0, 0, 1000), 1400);
        assert_eq!(
            estimate_block_bytes(2, 3, 10),
            14 + 3 * CHUNK_OVERHEAD_BYTES + 2 * INDEX_BYTES_PER_SERIES
        );
        assert_eq!(
            estimate_cortex_bytes(1, 2),
            2 * CORTEX_BYTES_PER_CHUNK + INDEX_BYTES_PER_SERIES
        );
        let day = |tenant: &str, day, samples| DryRunDay {
            tenant: tenant.into(),
            day,
            series: 2,
            chunks: 3,
            samples,
            estimated_bytes: 2048,
        };
        let r = DryRunReport {
            source: "cortex".into(),
            days: vec![
                day("a", 20773, None),
                day("a", 20774, None),
                day("b", 20773, None),
            ],
            invalid_tenants: ["..".to_string()].into_iter().collect(),
            ..Default::default()
        };
        let text = r.render();
        assert!(text.contains("2026-11-16"), "{text}");
        assert!(text.contains("total a"), "{text}");
        assert!(text.contains("total b"), "{text}");
        let total = text.lines().find(|l| l.starts_with("TOTAL")).unwrap();
        assert!(
            total.contains("3 plans") && total.contains("6.0 KiB"),
            "{total}"
        );
        assert!(total.contains(" 6 ") && total.contains(" 9 "), "{total}");
        assert!(text.contains("per Cortex chunk"), "{text}");
        assert!(text.contains("invalid tenant ID \"..\""), "{text}");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }
}
