//! A generator of realistic Cortex chunk stores, for tests and benchmarks.
//!
//! It writes what a Cortex campaign starts from, on the local filesystem:
//! chunk objects in Cortex's filesystem object store layout (each encoding,
//! round-robin over series), the Cortex config YAML pointing at them, and the
//! plan files Cortex's scanner would have written, plus `scan-complete`.
//! The store carries the cases that matter to the builder: replicas written
//! as overlapping, differently cut chunks (ingester replication), chunks
//! crossing midnight (listed in both days' plans), samples before the first
//! and after the last planned day (clipped away), and optionally series whose
//! chunk metadata repeats a label (Cortex's duplicate-label bug) split over
//! two series IDs that must merge into one series.
//!
//! Generation streams series by series: memory is one series' samples plus
//! one plan writer per day of the tenant being generated, whatever the
//! number of series. It is not a model of Cortex's index (no index entries
//! are written; the scanner's tests have their own fixtures).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use base::{Labels, LabelsError, DAY_MS};
use cortex::{encoding, ChunkMetadata, Encoding, EncodingError, Sample};
use protocol::names::{day_to_date, scan_complete_key, PlanId};
use protocol::plan::{PlanCompression, PlanEntry, PlanHeader, PlanWriter};

use crate::object::encode_object;

/// What to generate. Every series covers all `days` (plus a few samples on
/// each side) at `step_ms`.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Tenants, named `tenant-0`, `tenant-1`, …
    pub tenants: usize,
    /// Series per tenant.
    pub series: usize,
    /// First planned UTC day (days since the epoch).
    pub start_day: i32,
    /// Planned days from `start_day` on.
    pub days: u32,
    /// Scrape interval in ms (at least 10).
    pub step_ms: i64,
    /// Samples per chunk before an ingester cuts it (Cortex's default is
    /// about 120 to 360 for a 15 s to 60 s scrape).
    pub samples_per_chunk: usize,
    /// Encodings, assigned to series round-robin.
    pub encodings: Vec<Encoding>,
    /// Copies of every sample, each cut into chunks at other points.
    pub replicas: u8,
    /// Every 97th series has the duplicate-label bug.
    pub duplicate_label_bug: bool,
    /// Seeds label values and sample values: same seed, same store.
    pub seed: u64,
    /// Keep every expected series and sample in the report (tests only:
    /// memory grows with the whole generation).
    pub keep_expected: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            tenants: 1,
            series: 100,
            start_day: 20_000,
            days: 1,
            step_ms: 60_000,
            samples_per_chunk: 240,
            encodings: vec![Encoding::Bigchunk],
            replicas: 1,
            duplicate_label_bug: false,
            seed: 1,
            keep_expected: false,
        }
    }
}

/// What one plan should build into.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanExpectation {
    /// Plan entries (series IDs) written.
    pub entries: u64,
    /// Distinct series (after label normalisation) with a sample in the day.
    pub series: u64,
    /// Deduplicated samples inside the day.
    pub samples: u64,
}

/// Series text (as [`Labels`]' Display) -> samples `(t, value bits)`.
pub type ExpectedSeries = BTreeMap<String, Vec<(i64, u64)>>;

/// What was written and what the builder should make of it.
#[derive(Clone, Debug, Default)]
pub struct GenReport {
    /// The Cortex config YAML written next to the chunks directory.
    pub config_path: PathBuf,
    /// Chunk objects written.
    pub chunks: u64,
    /// Their total size.
    pub chunk_bytes: u64,
    /// Every plan written, with what it should build into.
    pub plans: BTreeMap<PlanId, PlanExpectation>,
    /// Filled only with [`GenOptions::keep_expected`].
    pub expected: BTreeMap<PlanId, ExpectedSeries>,
}

impl GenReport {
    /// Samples the blocks of all plans should hold.
    pub fn total_samples(&self) -> u64 {
        self.plans.values().map(|p| p.samples).sum()
    }
    /// Series summed over all plans (a series in two days counts twice).
    pub fn total_series(&self) -> u64 {
        self.plans.values().map(|p| p.series).sum()
    }
}

/// Why generation stopped.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// Writing a chunk, plan or config file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The samples of a series cannot be encoded.
    #[error("encoding series {series}: {source}")]
    Encode {
        /// `<tenant>/<fingerprint>`.
        series: String,
        /// The encoder's error.
        #[source]
        source: EncodingError,
    },
    /// The generated labels of a series are invalid.
    #[error("labels of series {series}: {source}")]
    Labels {
        /// Which series.
        series: String,
        /// Why.
        #[source]
        source: LabelsError,
    },
    /// Options that cannot produce a store.
    #[error("invalid options: {0}")]
    Options(String),
    /// Loading the store into a table store (reading a chunk back, a
    /// request) failed.
    #[error("loading the store: {0}")]
    Load(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GenError + '_ {
    move |source| GenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// SplitMix64: cheap, seedable and good enough to scatter values.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// One open plan file.
struct OpenPlan {
    path: PathBuf,
    writer: PlanWriter<BufWriter<File>>,
}

/// Writes the store. The config goes next to `chunks_dir`
/// (`<parent>/cortex.yaml`); plans go to
/// `<bucket_dir>/<prefix>/<tenant>/<day>.plan.snappy`.
pub fn generate(
    opts: &GenOptions,
    chunks_dir: &Path,
    bucket_dir: &Path,
    prefix: &str,
) -> Result<GenReport, GenError> {
    if opts.encodings.is_empty() || opts.replicas == 0 || opts.step_ms < 10 {
        return Err(GenError::Options(
            "need an encoding, a replica and step_ms >= 10".into(),
        ));
    }
    if opts.samples_per_chunk < 2 || opts.days == 0 {
        return Err(GenError::Options(
            "need samples_per_chunk >= 2 and days >= 1".into(),
        ));
    }
    std::fs::create_dir_all(chunks_dir).map_err(io_err(chunks_dir))?;
    let mut report = GenReport {
        config_path: write_config(opts, chunks_dir)?,
        ..GenReport::default()
    };
    for tenant in 0..opts.tenants {
        generate_tenant(opts, tenant, chunks_dir, bucket_dir, prefix, &mut report)?;
    }
    let done = bucket_dir.join(scan_complete_key(prefix));
    if let Some(dir) = done.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    std::fs::write(&done, b"").map_err(io_err(&done))?;
    Ok(report)
}

fn write_config(opts: &GenOptions, chunks_dir: &Path) -> Result<PathBuf, GenError> {
    let chunks_abs = std::path::absolute(chunks_dir).map_err(io_err(chunks_dir))?;
    let path = chunks_abs
        .parent()
        .unwrap_or(&chunks_abs)
        .join("cortex.yaml");
    let yaml = config_yaml(
        opts,
        "store: bigtable-hashed\n    object_store: filesystem",
        &format!("  filesystem:\n    directory: {}\n", chunks_abs.display()),
    );
    std::fs::write(&path, yaml).map_err(io_err(&path))?;
    Ok(path)
}

/// The Cortex config of a generated store: one v11 period with weekly
/// `index_` and `chunks_` tables; `stores` are the period's `store` (and
/// `object_store`) lines, `storage` the indented body of `storage:`.
pub(crate) fn config_yaml(opts: &GenOptions, stores: &str, storage: &str) -> String {
    // The period starts well before the data: 168h tables need no alignment
    // here, and a period starting on the first day would be just as valid.
    format!(
        "schema:\n  configs:\n  - from: {}\n    {stores}\n    schema: v11\n    index: {{prefix: index_, period: 168h}}\n    chunks: {{prefix: chunks_, period: 168h}}\nstorage:\n{storage}",
        day_to_date(opts.start_day - 30),
    )
}

/// One stored copy of a series: series ID, fingerprint, metric as stored.
type SeriesCopy = (String, u64, Vec<(String, String)>);

/// A series' identity in the store.
struct SeriesDef {
    ids: Vec<SeriesCopy>,
    labels: Labels,
    encoding: Encoding,
}

fn series_def(opts: &GenOptions, tenant: usize, i: usize) -> Result<SeriesDef, GenError> {
    let metric: Vec<(String, String)> = vec![
        ("__name__".into(), format!("gen_metric_{}", i % 50)),
        ("instance".into(), format!("host-{}:9100", i / 50)),
        ("job".into(), "node".into()),
        ("zone".into(), format!("z{}", mix(opts.seed ^ i as u64) % 3)),
    ];
    let labels = Labels::normalize(metric.iter().map(|(n, v)| (n.as_str(), v.as_str()))).map_err(
        |source| GenError::Labels {
            series: format!("{tenant}/{i}"),
            source,
        },
    )?;
    let fp = mix(opts.seed ^ ((tenant as u64) << 40) ^ i as u64);
    let mut ids = vec![(format!("s{i:08}-{fp:016x}"), fp, metric.clone())];
    if opts.duplicate_label_bug && i.is_multiple_of(97) {
        // Cortex's bug stored `job` twice; such a series got its own
        // fingerprint and series ID next to the clean one.
        let mut buggy = metric;
        buggy.insert(2, ("job".into(), "node".into()));
        let fp2 = mix(fp);
        ids.push((format!("s{i:08}-{fp2:016x}-dup"), fp2, buggy));
    }
    Ok(SeriesDef {
        ids,
        labels,
        encoding: opts.encodings[i % opts.encodings.len()],
    })
}

/// The series' samples: from a few steps before the first day to a few
/// after the last, scrape-jittered by a few ms, values a bounded walk.
fn series_samples(opts: &GenOptions, tenant: usize, i: usize) -> Vec<Sample> {
    let key = opts.seed ^ ((tenant as u64) << 48) ^ ((i as u64) << 8);
    let lead = 1 + (i % 7) as i64;
    let jitter = (opts.step_ms / 10).min(3) as u64;
    // Phase plus jitter stays under a step, so every day holds exactly
    // one sample per step.
    let phase = (mix(key) % (opts.step_ms as u64 - jitter)) as i64;
    let start = i64::from(opts.start_day) * DAY_MS - lead * opts.step_ms + phase;
    let end = (i64::from(opts.start_day) + i64::from(opts.days)) * DAY_MS + lead * opts.step_ms;
    let mut out = Vec::with_capacity(((end - start) / opts.step_ms) as usize + 1);
    let mut v = (mix(key ^ 1) % 1000) as f64;
    let mut k = 0i64;
    loop {
        let h = mix(key ^ (k as u64).wrapping_mul(0x1000_0001));
        let t = start + k * opts.step_ms + (h % (jitter + 1)) as i64;
        if t >= end {
            break;
        }
        // Counters and gauges alike compress to a realistic size with
        // small, mostly integral steps.
        v += match h >> 60 {
            0..=9 => 1.0,
            10..=13 => 0.0,
            _ => ((h >> 32) % 100) as f64 / 4.0,
        };
        out.push((t, v));
        k += 1;
    }
    out
}

fn generate_tenant(
    opts: &GenOptions,
    tenant: usize,
    chunks_dir: &Path,
    bucket_dir: &Path,
    prefix: &str,
    report: &mut GenReport,
) -> Result<(), GenError> {
    let user = format!("tenant-{tenant}");
    let days: Vec<i32> = (0..opts.days as i32).map(|d| opts.start_day + d).collect();
    let mut plans = Vec::with_capacity(days.len());
    for &day in &days {
        let id = PlanId {
            tenant: user.clone(),
            day,
        };
        let path = bucket_dir.join(id.plan_key(prefix, PlanCompression::Snappy));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let file = File::create(&path).map_err(io_err(&path))?;
        let header = PlanHeader {
            user: user.clone(),
            day_index: day,
            source: None,
        };
        let writer = PlanWriter::new(BufWriter::new(file), PlanCompression::Snappy, &header)
            .map_err(io_err(&path))?;
        plans.push(OpenPlan { path, writer });
        report.plans.insert(id, PlanExpectation::default());
    }
    for i in 0..opts.series {
        let def = series_def(opts, tenant, i)?;
        let samples = series_samples(opts, tenant, i);
        // Per copy (series ID), per day: chunk IDs overlapping the day.
        let mut per_day: Vec<Vec<Vec<String>>> = vec![vec![Vec::new(); days.len()]; def.ids.len()];
        for r in 0..opts.replicas as usize {
            // Each replica cuts at other points and the later ones miss the
            // first samples (an ingester that joined late): overlapping,
            // differently bounded chunks of the same samples.
            let skip = r * 3;
            let first_cut = opts.samples_per_chunk / (r + 1) + r;
            let mut lo = skip.min(samples.len());
            let mut n = 0usize;
            while lo < samples.len() {
                let len = if n == 0 {
                    first_cut
                } else {
                    opts.samples_per_chunk
                };
                let hi = (lo + len.max(1)).min(samples.len());
                // Chunks of a duplicate-bug series alternate between its
                // buggy and clean copies.
                let copy = n % def.ids.len();
                let (_, fp, metric) = &def.ids[copy];
                for id in write_chunks(
                    &user,
                    *fp,
                    metric,
                    def.encoding,
                    &samples[lo..hi],
                    chunks_dir,
                    report,
                )? {
                    for (d, &day) in days.iter().enumerate() {
                        let (ds, de) = (i64::from(day) * DAY_MS, i64::from(day + 1) * DAY_MS);
                        if id.1 < de && id.2 >= ds {
                            per_day[copy][d].push(id.0.clone());
                        }
                    }
                }
                lo = hi;
                n += 1;
            }
        }
        for (d, &day) in days.iter().enumerate() {
            let plan_id = PlanId {
                tenant: user.clone(),
                day,
            };
            let exp = report.plans.entry(plan_id.clone()).or_default();
            for (copy, (sid, _, _)) in def.ids.iter().enumerate() {
                let chunk_ids = std::mem::take(&mut per_day[copy][d]);
                if chunk_ids.is_empty() {
                    continue;
                }
                let plan = &mut plans[d];
                plan.writer
                    .write_entry(&PlanEntry::Cortex {
                        series_id: sid.clone(),
                        chunk_ids,
                    })
                    .map_err(io_err(&plan.path))?;
                exp.entries += 1;
            }
            let (ds, de) = (i64::from(day) * DAY_MS, i64::from(day + 1) * DAY_MS);
            let in_day: Vec<&Sample> = samples.iter().filter(|s| (ds..de).contains(&s.0)).collect();
            if in_day.is_empty() {
                continue;
            }
            exp.series += 1;
            exp.samples += in_day.len() as u64;
            if opts.keep_expected {
                report.expected.entry(plan_id).or_default().insert(
                    def.labels.to_string(),
                    in_day.iter().map(|s| (s.0, s.1.to_bits())).collect(),
                );
            }
        }
    }
    for plan in plans {
        let path = plan.path;
        let mut out = plan.writer.finish().map_err(io_err(&path))?;
        out.flush().map_err(io_err(&path))?;
    }
    Ok(())
}

/// Writes the chunk objects an ingester would flush for `samples`; returns
/// `(external key, from, through)` per object.
fn write_chunks(
    user: &str,
    fingerprint: u64,
    metric: &[(String, String)],
    enc: Encoding,
    samples: &[Sample],
    chunks_dir: &Path,
    report: &mut GenReport,
) -> Result<Vec<(String, i64, i64)>, GenError> {
    let sections = encoding::encode(enc, samples).map_err(|source| GenError::Encode {
        series: format!("{user}/{fingerprint:016x}"),
        source,
    })?;
    // A Prometheus 1.x encoding overflows into several chunks; their bounds
    // come from how many samples each took.
    let mut out = Vec::with_capacity(sections.len());
    let mut at = 0usize;
    for data in sections {
        let taken = encoding::decode(enc, &data)
            .map_err(|source| GenError::Encode {
                series: format!("{user}/{fingerprint:016x}"),
                source,
            })?
            .len();
        let part = &samples[at..(at + taken).min(samples.len())];
        at += taken;
        let (Some(first), Some(last)) = (part.first(), part.last()) else {
            continue;
        };
        let meta = ChunkMetadata {
            fingerprint,
            user_id: user.to_string(),
            from: first.0,
            through: last.0,
            metric: metric.to_vec(),
            encoding: enc,
        };
        let (key, bytes) = encode_object(&meta, &data);
        let path = chunks_dir.join(key.filesystem_name());
        std::fs::write(&path, &bytes).map_err(io_err(&path))?;
        report.chunks += 1;
        report.chunk_bytes += bytes.len() as u64;
        out.push((key.external_key(), first.0, last.0));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::plan::PlanReader;

    #[test]
    fn plans_list_midnight_chunks_in_both_days() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = GenOptions {
            series: 10,
            days: 2,
            replicas: 3,
            samples_per_chunk: 100,
            encodings: vec![Encoding::Bigchunk, Encoding::Varbit, Encoding::Delta],
            duplicate_label_bug: true,
            keep_expected: true,
            ..GenOptions::default()
        };
        let report = generate(
            &opts,
            &tmp.path().join("chunks"),
            &tmp.path().join("b"),
            "m",
        )
        .unwrap();
        assert!(tmp.path().join("b/m/scan-complete").exists());
        assert!(report.config_path.exists());
        assert_eq!(report.plans.len(), 2);
        let per_day = 1440;
        for (id, exp) in &report.plans {
            assert_eq!(exp.series, 10, "{id:?}");
            assert_eq!(exp.samples, 10 * per_day, "{id:?}");
            // Series 0 has the duplicate-label bug: two IDs.
            assert_eq!(exp.entries, 11, "{id:?}");
            let path = tmp
                .path()
                .join("b")
                .join(id.plan_key("m", PlanCompression::Snappy));
            let mut r = PlanReader::new(
                &path.to_string_lossy(),
                std::io::BufReader::new(File::open(&path).unwrap()),
            )
            .unwrap();
            let mut n = 0;
            while let Some(PlanEntry::Cortex { chunk_ids, .. }) = r.next_entry().unwrap() {
                assert!(!chunk_ids.is_empty());
                n += 1;
            }
            assert_eq!(n, 11);
        }
        let keys: Vec<_> = report.plans.keys().collect();
        let shared = |id: &PlanId| -> std::collections::HashSet<String> {
            let path = tmp
                .path()
                .join("b")
                .join(id.plan_key("m", PlanCompression::Snappy));
            let mut r = PlanReader::new(
                &path.to_string_lossy(),
                std::io::BufReader::new(File::open(&path).unwrap()),
            )
            .unwrap();
            let mut s = std::collections::HashSet::new();
            while let Some(PlanEntry::Cortex { chunk_ids, .. }) = r.next_entry().unwrap() {
                s.extend(chunk_ids);
            }
            s
        };
        assert!(shared(keys[0]).intersection(&shared(keys[1])).count() >= 10);
        assert_eq!(report.expected[keys[0]].len(), 10);
    }

    #[test]
    fn rejects_options_it_cannot_honour() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = GenOptions {
            encodings: vec![],
            ..GenOptions::default()
        };
        assert!(matches!(
            generate(&opts, tmp.path(), tmp.path(), "m"),
            Err(GenError::Options(_))
        ));
    }
}
