//! Scan throughput and memory of the Cortex index scanner.
//!
//! Loads at least 1,000,000 generated index entries (schema v11, `gcp` row
//! layout: one row per entry, the layout with the most rows) into a fresh
//! Bigtable emulator, then scans them in a child process (so the loading
//! does not count) with a memory budget, and prints entries/s and the
//! child's peak RSS (`VmHWM`). Fails if the peak exceeds the budget plus
//! 64 MiB.
//!
//! `cargo bench -p scanner --bench cortex_scan`; `BENCH_ENTRIES` changes
//! the entry count, `BENCH_BUDGET_MIB` the budget (default 64).

use std::path::Path;
use std::time::Instant;

use base::DAY_MS;
use cortex::bigtable::{BigtableClient, BigtableOptions};
use cortex::schema::{bigtable_cell, chunk_entries};
use cortex::{BigtableLayout, PeriodConfig, PeriodicTableConfig, SchemaVersion};
use cortex_testgen::BigtableLoad;
use scanner::{CortexScanOptions, DayRange};

const DAY0: i64 = 20_776;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn period() -> PeriodConfig {
    PeriodConfig {
        from_day: DAY0 - 7,
        store: "gcp".into(),
        object_store: "filesystem".into(),
        schema: SchemaVersion::V11,
        index: PeriodicTableConfig {
            prefix: "idx_".into(),
            period_secs: 7 * base::DAY_SECS,
        },
        chunks: PeriodicTableConfig::default(),
        row_shards: 16,
    }
}

async fn load(client: &BigtableClient, target: u64) -> u64 {
    let p = period();
    client
        .create_table("idx_2968", &["f"])
        .await
        .expect("create table");
    let mut written = 0u64;
    let mut cells = Vec::with_capacity(20_000);
    let mut chunk = 0u64;
    while written < target {
        let tenant = ["alpha", "bravo", "charlie", "delta"][(chunk % 4) as usize];
        // One series per chunk: label entries of a series repeat per chunk and
        // overwrite each other, and the table must hold distinct entries.
        let series = chunk;
        let inst = format!("host-{series}");
        let labels = [
            ("__name__", "node_cpu_seconds_total"),
            ("instance", inst.as_str()),
            ("job", "node"),
        ];
        let from = DAY0 * DAY_MS + (chunk / 80_000) as i64 * 3_600_000;
        let id = format!(
            "{tenant}/{series:x}:{from:x}:{:x}:{chunk:x}",
            from + 3_000_000
        );
        for e in chunk_entries(&p, tenant, from, from + 3_000_000, &labels, &id).expect("entries") {
            let (row, q) = bigtable_cell(BigtableLayout::Gcp, &e.hash, &e.range);
            cells.push((row, "f".to_string(), q, e.value));
            written += 1;
        }
        chunk += 1;
        if cells.len() >= 10_000 {
            client.write_cells("idx_2968", &cells).await.expect("write");
            cells.clear();
        }
    }
    if !cells.is_empty() {
        client.write_cells("idx_2968", &cells).await.expect("write");
    }
    written
}

/// The measured part, in a child process.
async fn child(host: &str, dir: &Path, budget: usize) {
    let cfg_path = dir.join("cfg.yaml");
    std::fs::write(
        &cfg_path,
        "configs:\n- from: 2026-11-12\n  store: gcp\n  object_store: filesystem\n  schema: v11\n  index:\n    prefix: idx_\n    period: 168h\nstorage:\n  bigtable:\n    project: bench\n    instance: bench\n",
    )
    .expect("config");
    let bucket_dir = dir.join("bucket");
    std::fs::create_dir_all(&bucket_dir).expect("bucket dir");
    let cfg = scanner::ScanConfig {
        bucket: protocol::bucket::Bucket::local(&bucket_dir).expect("bucket"),
        prefix: "migration".into(),
        work_dir: dir.join("work"),
        memory_budget: budget,
        compression: protocol::names::PlanCompression::Snappy,
        days: DayRange::default(),
        tenant: None,
        prometheus: Default::default(),
        cortex: CortexScanOptions {
            concurrency: 16,
            bigtable_emulator_host: Some(host.to_string()),
            ..Default::default()
        },
    };
    let start = Instant::now();
    let report = scanner::scan(&cfg, &protocol::source::SourceSpec::Cortex(cfg_path))
        .await
        .expect("scan");
    let secs = start.elapsed().as_secs_f64();
    let stats = report.cortex.expect("cortex stats");
    let entries = stats.counts.total_entries();
    println!(
        "RESULT entries={entries} kept={} plans={} series={} spilled_runs={} secs={secs:.2} entries_per_sec={:.0} peak_rss_kib={}",
        stats.counts.kept,
        report.plans.len(),
        report.series,
        report.spilled_runs,
        entries as f64 / secs,
        vm_hwm_kib()
    );
}

fn main() {
    let budget = (env_num("BENCH_BUDGET_MIB", 64) as usize) << 20;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(host) = std::env::var("CORTEX_SCAN_BENCH_CHILD") {
        let dir = std::env::var("CORTEX_SCAN_BENCH_DIR").expect("dir");
        rt.block_on(child(&host, Path::new(&dir), budget));
        return;
    }
    let Some(em) = testkit::emulators::bigtable().expect("emulator") else {
        return;
    };
    let target = env_num("BENCH_ENTRIES", 1_000_000);
    let mut opts = BigtableOptions::new("bench", "bench");
    opts.emulator_host = Some(em.addr.clone());
    let t = Instant::now();
    // Channels need the runtime: connect inside it.
    let written = rt.block_on(async {
        let client = BigtableClient::connect(&opts).expect("client");
        load(&client, target).await
    });
    println!(
        "loaded {written} index entries in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("CORTEX_SCAN_BENCH_CHILD", &em.addr)
        .env("CORTEX_SCAN_BENCH_DIR", dir.path())
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scan child failed");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .expect("result line");
    let field = |k: &str| -> u64 {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as u64)
            .unwrap_or(0)
    };
    let peak = field("peak_rss_kib") << 10;
    println!(
        "cortex scan: {} entries, {} entries/s, peak RSS {:.1} MiB (budget {} MiB)",
        field("entries"),
        field("entries_per_sec"),
        peak as f64 / (1 << 20) as f64,
        budget >> 20
    );
    assert!(
        field("entries") >= written,
        "scan saw fewer entries than loaded"
    );
    assert!(
        peak < (budget + (64 << 20)) as u64,
        "peak RSS {peak} over budget + 64 MiB"
    );
}
