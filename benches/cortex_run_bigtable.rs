//! `blocksconvert run` end to end from a Cortex store in the Bigtable
//! emulator: scan plus build, the figure issue 14 compares with Cortex's
//! 0.44 s scan + 2.35 s build (2.79 s).
//!
//! The store is the hold-out shape: v11 Bigchunk, 3 tenants x 360 series x
//! 3 days at 30 s, every sample pushed twice (2 replicas cut at other
//! points), written by `cortex_testgen::generate` and then moved into
//! `cbtemulator` the way Cortex's `bigtable-hashed` store held it: index
//! entries (`cortex::schema::chunk_entries`) in the weekly `index_` tables,
//! chunk objects in the weekly `chunks_` tables (row = external key, cell
//! `f:c`), `object_store` unset. Each run starts from an empty bucket and
//! scans the 3 planned days (`--from`/`--to`), so 9 plans.
//!
//! With `BENCH_BEFORE=/path/to/older/blocksconvert`, that binary and the
//! current one run alternately (`BENCH_RUNS` rounds, default 3), so both
//! see the same machine load. Per run: wall, CPU user+sys and peak RSS of
//! the process (`wait4`), and where the wall went, from the JSON log's
//! timestamps: start to the last plan written (scan), to the last plan
//! finished (build), to exit (idle tail); and chunks fetched and requests
//! sent per plan, from the "cortex plan built" lines.
//!
//! `cargo build --release -p blocksconvert`, then
//! `cargo bench -p blocksconvert --bench cortex_run_bigtable`. The binary
//! is `$CARGO_TARGET_DIR/release/blocksconvert` (or `BENCH_BIN`). Shape
//! overrides: `BENCH_TENANTS`, `BENCH_SERIES`, `BENCH_DAYS`,
//! `BENCH_REPLICAS`; `BENCH_BUILDERS` (default 3, as `run`); `BENCH_DIR` (where to
//! generate); `BENCH_KEEP_LOGS` (a directory to copy each run's JSON log
//! into, for a closer look at its timeline).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use cortex::bigtable::{BigtableClient, BigtableOptions};
use cortex::schema::{bigtable_cell, chunk_entries};
use cortex::{
    decode_object, external_key_from_filesystem_name, BigtableLayout, ChunkKey, CortexConfig,
    Encoding,
};
use cortex_testgen::{generate, BigtableLoad, CellWrite, GenOptions};
use protocol::names::day_to_date;
use testkit::bench::{env_or, measure, median, release_binaries, Usage};

/// Cortex v1.11.1 on the same shape and machine: 0.44 s scan + 2.35 s build.
const CORTEX_SECS: f64 = 2.79;
const PROJECT: &str = "bench";
const INSTANCE: &str = "bench";
/// Cells buffered per table before a write.
const FLUSH_CELLS: usize = 10_000;

/// Every chunk file under `dir` with its name relative to `dir` (a `/` of
/// the base64 name is a subdirectory).
fn chunk_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("chunk dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let name = rel.to_string_lossy().into_owned();
                out.push((path, name));
            }
        }
    }
    out.sort();
    out
}

/// The Cortex config of the store in the emulator: one v11 period from
/// well before the data, weekly tables, `object_store` unset.
fn config_yaml(start_day: i32) -> String {
    format!(
        "schema:\n  configs:\n  - from: {}\n    store: bigtable-hashed\n    schema: v11\n    \
         index: {{prefix: index_, period: 168h}}\n    chunks: {{prefix: chunks_, period: 168h}}\n\
         storage:\n  bigtable:\n    project: {PROJECT}\n    instance: {INSTANCE}\n",
        day_to_date(start_day - 30)
    )
}

/// Cells per table, written once a table holds [`FLUSH_CELLS`].
struct Writer<'a> {
    client: &'a BigtableClient,
    created: BTreeSet<String>,
    pending: BTreeMap<String, Vec<CellWrite>>,
}

impl Writer<'_> {
    async fn push(&mut self, table: String, cell: CellWrite) {
        let cells = self.pending.entry(table.clone()).or_default();
        cells.push(cell);
        if cells.len() >= FLUSH_CELLS {
            let cells = std::mem::take(cells);
            self.write(&table, &cells).await;
        }
    }

    async fn write(&mut self, table: &str, cells: &[CellWrite]) {
        if self.created.insert(table.to_string()) {
            self.client
                .create_table(table, &["f"])
                .await
                .expect("create table");
        }
        self.client
            .write_cells(table, cells)
            .await
            .expect("write cells");
    }

    async fn flush(&mut self) {
        for (table, cells) in std::mem::take(&mut self.pending) {
            if !cells.is_empty() {
                self.write(&table, &cells).await;
            }
        }
    }
}

/// Moves the generated filesystem store into the emulator; returns
/// (chunks, index entries) written.
async fn load(host: &str, yaml: &str, chunks_dir: &Path) -> (u64, u64) {
    let mut o = BigtableOptions::new(PROJECT, INSTANCE);
    o.emulator_host = Some(host.to_string());
    let client = BigtableClient::connect(&o).expect("bigtable client");
    let config = CortexConfig::parse(yaml).expect("config");
    let mut w = Writer {
        client: &client,
        created: BTreeSet::new(),
        pending: BTreeMap::new(),
    };
    let (mut chunks, mut entries) = (0, 0);
    for (file, name) in chunk_files(chunks_dir) {
        let ext = external_key_from_filesystem_name(&name).expect("base64 chunk name");
        let user = ext.split_once('/').map_or("", |(u, _)| u);
        let key = ChunkKey::parse(user, &ext).expect("chunk key");
        let bytes = std::fs::read(&file).expect("chunk file");
        let meta = decode_object(&key, &bytes).expect("chunk object").meta;
        let period = config
            .schema
            .period_for_chunk(meta.from)
            .expect("a period holds the chunk");
        let labels: Vec<(&str, &str)> = meta
            .metric
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        for e in chunk_entries(
            period,
            &meta.user_id,
            meta.from,
            meta.through,
            &labels,
            &ext,
        )
        .expect("index entries")
        {
            let (row, q) = bigtable_cell(BigtableLayout::Hashed, &e.hash, &e.range);
            w.push(e.table, (row, "f".into(), q, e.value)).await;
            entries += 1;
        }
        w.push(
            period.chunk_table_for(meta.from),
            (ext.into_bytes(), "f".into(), b"c".to_vec(), bytes),
        )
        .await;
        chunks += 1;
    }
    w.flush().await;
    (chunks, entries)
}

/// Seconds from `start` to the last log line with this message; `None`
/// if there is none.
fn last_at(log: &[serde_json::Value], start: SystemTime, message: &str) -> Option<f64> {
    log.iter()
        .filter(|l| l["fields"]["message"] == message)
        .filter_map(|l| l["timestamp"].as_str())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            let t = SystemTime::from(t);
            t.duration_since(start).map_or(0.0, |d| d.as_secs_f64())
        })
        .reduce(f64::max)
}

/// One measured run.
struct Run {
    binary: &'static str,
    usage: Usage,
    plans: usize,
    /// Start to the last plan written.
    scan: f64,
    /// Start to the last plan finished.
    built: f64,
    /// Chunks fetched and chunk-table requests over all plans, from the
    /// "cortex plan built" lines; requests `None` from a binary that does
    /// not log them.
    chunks: u64,
    requests: Option<u64>,
}

/// Sum of a numeric field over the log lines with this message; `None` if
/// one of them lacks it.
fn sum_field(log: &[serde_json::Value], message: &str, field: &str) -> Option<u64> {
    log.iter()
        .filter(|l| l["fields"]["message"] == message)
        .map(|l| l["fields"][field].as_u64())
        .sum()
}

fn main() {
    let (after, before) = release_binaries(
        "cortex_run_bigtable",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    );
    let Some(emulator) = testkit::emulators::bigtable().expect("starting cbtemulator") else {
        eprintln!("cortex_run_bigtable bench: cbtemulator is not installed");
        std::process::exit(1);
    };
    let opts = GenOptions {
        tenants: env_or("BENCH_TENANTS", 3),
        series: env_or("BENCH_SERIES", 360),
        start_day: 20_000,
        days: env_or("BENCH_DAYS", 3),
        step_ms: 30_000,
        // 4 h chunks: the hold-out's ~480 samples per chunk fetched.
        samples_per_chunk: 480,
        encodings: vec![Encoding::Bigchunk],
        replicas: env_or("BENCH_REPLICAS", 2),
        duplicate_label_bug: false,
        seed: 42,
        keep_expected: false,
    };
    let builders: usize = env_or("BENCH_BUILDERS", 3);
    let rounds: usize = env_or("BENCH_RUNS", if before.is_some() { 3 } else { 1 });
    let tmp = match std::env::var_os("BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let root = tmp.path();
    let started = Instant::now();
    let report = generate(&opts, &root.join("chunks"), &root.join("gen-plans"), "m")
        .expect("generate the chunk store");
    let yaml = config_yaml(opts.start_day);
    let cfg = root.join("cortex-bigtable.yaml");
    std::fs::write(&cfg, &yaml).expect("config");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (chunks, entries) = rt.block_on(load(&emulator.addr, &yaml, &root.join("chunks")));
    drop(rt);
    println!(
        "loaded {} tenant(s) x {} series x {} day(s), {} replica(s) into cbtemulator: \
         {chunks} chunks, {entries} index entries, {} samples to write, in {:.1} s",
        opts.tenants,
        opts.series,
        opts.days,
        opts.replicas,
        report.total_samples(),
        started.elapsed().as_secs_f64()
    );

    let mut binaries: Vec<(&'static str, &Path)> = Vec::new();
    if let Some(b) = &before {
        binaries.push(("before", b));
    }
    binaries.push(("after", &after));
    let from = day_to_date(opts.start_day);
    let to = day_to_date(opts.start_day + opts.days as i32);
    let mut runs: Vec<Run> = Vec::new();
    for round in 0..rounds {
        for &(binary, bin) in &binaries {
            let tag = format!("{binary}-{round}");
            let bucket = root.join(format!("bucket-{tag}"));
            let work = root.join(format!("work-{tag}"));
            std::fs::create_dir_all(&bucket).expect("bucket dir");
            std::fs::create_dir_all(&work).expect("work dir");
            let log = root.join(format!("run-{tag}.log"));
            let log_file = std::fs::File::create(&log).expect("log file");
            let start = SystemTime::now();
            let usage = measure(
                Command::new(bin)
                    .env("BIGTABLE_EMULATOR_HOST", &emulator.addr)
                    .args(["--log-format", "json", "run", "--progress", "never"])
                    .arg("--source")
                    .arg(format!("cortex:{}", cfg.display()))
                    .arg("--bucket")
                    .arg(&bucket)
                    .arg("--work-dir")
                    .arg(&work)
                    .args(["--from", &from, "--to", &to])
                    .args(["--builders", &builders.to_string()])
                    .stdout(Stdio::null())
                    .stderr(log_file),
            );
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(keep) = std::env::var_os("BENCH_KEEP_LOGS") {
                let keep = Path::new(&keep);
                std::fs::create_dir_all(keep).expect("log dir");
                std::fs::copy(&log, keep.join(format!("run-{tag}.log"))).expect("copying a log");
            }
            if !usage.status.success() {
                eprintln!(
                    "{binary}: blocksconvert run failed ({}):\n{text}",
                    usage.status
                );
                std::process::exit(1);
            }
            let lines: Vec<serde_json::Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            let plans = lines
                .iter()
                .filter(|l| l["fields"]["message"] == "plan finished")
                .count();
            assert_eq!(plans, report.plans.len(), "{binary}: plans finished");
            runs.push(Run {
                binary,
                plans,
                scan: last_at(&lines, start, "plan written").unwrap_or(f64::NAN),
                built: last_at(&lines, start, "plan finished").unwrap_or(f64::NAN),
                chunks: sum_field(&lines, "cortex plan built", "chunks_fetched").unwrap_or(0),
                requests: sum_field(&lines, "cortex plan built", "requests"),
                usage,
            });
            let _ = std::fs::remove_dir_all(&bucket);
            let _ = std::fs::remove_dir_all(&work);
        }
    }

    println!(
        "\n| binary | plans | wall s | to last plan written s | to last plan finished s | \
         idle tail s | CPU user+sys s | peak RSS MiB | chunks/plan | requests/plan |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let per_plan = |n: u64| n as f64 / r.plans.max(1) as f64;
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.1} | {:.0} | {} |",
            r.binary,
            r.plans,
            r.usage.wall,
            r.scan,
            r.built,
            r.usage.wall - r.built,
            r.usage.cpu,
            r.usage.peak_rss as f64 / (1 << 20) as f64,
            per_plan(r.chunks),
            r.requests
                .map_or("not logged".to_string(), |n| format!("{:.0}", per_plan(n)))
        );
    }
    println!(
        "\nmedians over {rounds} run(s); Cortex: {CORTEX_SECS} s (0.44 s scan + 2.35 s build)\n"
    );
    println!(
        "| binary | wall s | scan s | build s | idle tail s | CPU user+sys s | peak RSS MiB | Cortex / wall |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &(binary, _) in &binaries {
        let of: Vec<&Run> = runs.iter().filter(|r| r.binary == binary).collect();
        let m = |f: &dyn Fn(&Run) -> f64| median(of.iter().map(|r| f(r)).collect());
        let wall = m(&|r| r.usage.wall);
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.1} | {:.2}x |",
            binary,
            wall,
            m(&|r| r.scan),
            m(&|r| r.built - r.scan),
            m(&|r| r.usage.wall - r.built),
            m(&|r| r.usage.cpu),
            m(&|r| r.usage.peak_rss as f64 / (1 << 20) as f64),
            CORTEX_SECS / wall
        );
    }
}
