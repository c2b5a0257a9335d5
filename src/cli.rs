//! Command line: flag names and defaults are a contract (README, "Command
//! line"); scripts and CI jobs depend on them. One name means one thing in
//! every subcommand: `--tenant` selects tenants, `--target-tenant` names
//! where a source without tenants goes, `--bucket` is the plan bucket and
//! `--output` where blocks are, `--concurrency` and `--poll-interval` have
//! one default each.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use protocol::bucket::{Bucket, BucketOptions, Throttle};
use protocol::names::{date_to_day, PlanCompression, DEFAULT_PREFIX};
use protocol::source::SourceSpec;
use protocol::tenant::TenantFilter;
use scanner::DayRange;

#[derive(Parser, Debug)]
#[command(
    name = "blocksconvert",
    version,
    about = "Moves Prometheus-ecosystem history into daily per-tenant TSDB blocks"
)]
pub(crate) struct Cli {
    /// Log lines as text or JSON.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Command {
    /// Scan, schedule and build every plan in this process, with progress; then a summary.
    Run(crate::run::RunArgs),
    /// Turn a source into plan files in the bucket.
    Scan(ScanArgs),
    /// Claim plans from the bucket and build their blocks.
    Build(BuildArgs),
    /// Compare the blocks in the bucket with the source, sample for sample.
    Verify(VerifyArgs),
    /// Generate a small source, convert it into DIR and verify the result.
    Demo(DemoArgs),
    /// Watch the bucket: retry or fail stale plans, serve /status and /metrics.
    Schedule(crate::schedule::ScheduleArgs),
    /// Print the state of every plan, per tenant, with totals.
    Status(crate::status::StatusArgs),
    /// Delete failed files (and stale progress files) so plans run again.
    Retry(crate::retry::RetryArgs),
}

#[derive(Args, Debug, Clone)]
pub(crate) struct BucketArgs {
    /// Plan bucket: a path, file:///abs/dir, s3://bucket/prefix, gs://bucket/prefix or memory://.
    #[arg(long)]
    pub bucket: String,
    /// Prefix of plan and status files in the bucket.
    #[arg(long, default_value = DEFAULT_PREFIX)]
    pub prefix: String,
    #[command(flatten)]
    pub access: BucketAccessArgs,
}

impl BucketArgs {
    /// The plan bucket alone, for commands that only read or tend plans
    /// (`status`, `verify`, `retry`, `schedule`): a missing local bucket is
    /// an error, never created (a typo would otherwise show an empty
    /// campaign).
    pub(crate) fn open(&self) -> Result<Bucket> {
        Ok(Bucket::open_existing_with(
            &self.bucket,
            self.access.options(),
        )?)
    }

    /// The plan bucket of a writer (`scan`), created if missing.
    pub(crate) fn open_for_writing(&self) -> Result<Bucket> {
        Ok(Bucket::open_with(&self.bucket, self.access.options())?)
    }

    /// The plan bucket and `output` (default: the plan bucket), opened with
    /// one set of options so that the rate limits hold over both, and over
    /// every builder and scheduler of the process they are cloned into.
    /// Both are created if missing: `run` scans into the plan bucket.
    pub(crate) fn open_buckets(&self, output: Option<&str>) -> Result<Buckets> {
        self.buckets(output, true)
    }

    /// [`BucketArgs::open_buckets`] for `build`, which only reads plans:
    /// the plan bucket must exist; the output is created if missing.
    pub(crate) fn open_buckets_existing(&self, output: Option<&str>) -> Result<Buckets> {
        self.buckets(output, false)
    }

    fn buckets(&self, output: Option<&str>, create_plans: bool) -> Result<Buckets> {
        let opts = self.access.options();
        let plans = if create_plans {
            Bucket::open_with(&self.bucket, opts.clone())?
        } else {
            Bucket::open_existing_with(&self.bucket, opts.clone())?
        };
        let output = match output {
            Some(url) => Bucket::open_with(url, opts)?,
            None => plans.clone(),
        };
        Ok(Buckets { plans, output })
    }
}

/// The buckets of one process, sharing one throttle ([`BucketArgs::open_buckets`]).
#[derive(Clone, Debug)]
pub(crate) struct Buckets {
    /// Plans, progress and outcome files.
    pub plans: Bucket,
    /// Where blocks go.
    pub output: Bucket,
}

/// How the process talks to object storage (plan bucket and `--output`).
#[derive(Args, Debug, Clone)]
pub(crate) struct BucketAccessArgs {
    /// Cap on bucket requests per second, over the whole process (0: unlimited).
    #[arg(long, default_value_t = 0.0)]
    pub bucket_rate_limit: f64,
    /// Cap on bytes per second to and from the bucket, e.g. 100MiB (0: unlimited).
    #[arg(long, default_value = "0", value_parser = parse_size)]
    pub bucket_bytes_limit: usize,
    /// Retries of a failed bucket request (with backoff) before the operation fails.
    #[arg(long, default_value_t = 5)]
    pub bucket_retries: u32,
    /// Time allowed for one bucket request or upload part before it is retried (0s: no limit).
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub bucket_timeout: Duration,
}

impl BucketAccessArgs {
    /// Options with a new throttle: the handles opened with clones of one
    /// value share its limits, those opened from two calls do not.
    pub(crate) fn options(&self) -> BucketOptions {
        let mut o = BucketOptions::default();
        o.retry.retries = self.bucket_retries;
        o.op_timeout = (!self.bucket_timeout.is_zero()).then_some(self.bucket_timeout);
        o.throttle = throttle(self.bucket_rate_limit, self.bucket_bytes_limit);
        o
    }
}

/// A shared throttle, or `None` when both limits are off.
fn throttle(requests_per_sec: f64, bytes_per_sec: usize) -> Option<Arc<Throttle>> {
    let t = Throttle::new(
        (requests_per_sec > 0.0).then_some(requests_per_sec),
        (bytes_per_sec > 0).then_some(bytes_per_sec as f64),
    );
    (!t.is_unlimited()).then(|| Arc::new(t))
}

#[derive(Args, Debug, Clone)]
pub(crate) struct WorkArgs {
    /// Local scratch space for sort runs, plans and blocks being built (default: per user).
    #[arg(long, default_value_os_t = default_work_dir())]
    pub work_dir: PathBuf,
    /// Bound for in-memory sorting and grouping, e.g. 512MiB; beyond it, data spills to --work-dir.
    #[arg(long, default_value = "512MiB", value_parser = parse_size)]
    pub memory_budget: usize,
}

/// The tenant filter, the same two flags in every subcommand: `--tenant`
/// always selects, never names where data goes (that is
/// `--target-tenant`, [`TargetTenantArgs`]).
#[derive(Args, Debug, Clone)]
pub(crate) struct TenantArgs {
    /// Only these tenants (comma separated or repeated).
    // `--allowed-tenants`: this flag's name before `--tenant` meant the
    // filter everywhere; kept for scripts.
    #[arg(
        long = "tenant",
        alias = "allowed-tenants",
        value_delimiter = ',',
        value_name = "TENANT"
    )]
    pub tenants: Vec<String>,
    /// Skip tenants matching this regular expression.
    #[arg(long)]
    pub ignore_tenants: Option<regex::Regex>,
}

impl TenantArgs {
    pub(crate) fn filter(&self) -> TenantFilter {
        TenantFilter {
            allowed: self.tenants.clone(),
            ignored: self.ignore_tenants.clone(),
        }
    }

    /// The tenant when `--tenant` names exactly one.
    fn only_one(&self) -> Option<&str> {
        match self.tenants.as_slice() {
            [t] => Some(t),
            _ => None,
        }
    }
}

/// Where the data of a source that names no tenant goes (`scan`, `run`,
/// `verify`).
#[derive(Args, Debug, Clone)]
pub(crate) struct TargetTenantArgs {
    /// Tenant of a source that names none (OpenMetrics; Prometheus blocks without
    /// --tenant-label). Default: the tenant --tenant names, when it names one.
    #[arg(long)]
    pub target_tenant: Option<String>,
}

impl TargetTenantArgs {
    /// `--target-tenant`, else the one tenant the filter names: `--tenant
    /// t` alone keeps meaning "tenant t" for a source without tenants.
    pub(crate) fn resolve(&self, filter: &TenantArgs) -> Option<String> {
        self.target_tenant
            .clone()
            .or_else(|| filter.only_one().map(String::from))
    }
}

#[derive(Args, Debug, Clone)]
pub(crate) struct ScanArgs {
    /// openmetrics:PATH
    #[arg(long)]
    pub source: SourceSpec,
    #[command(flatten)]
    pub bucket: BucketArgs,
    #[command(flatten)]
    pub target: TargetTenantArgs,
    #[command(flatten)]
    pub work: WorkArgs,
    /// First UTC day to convert (YYYY-MM-DD).
    #[arg(long, value_parser = parse_day)]
    pub from: Option<i32>,
    /// Day after the last one to convert (YYYY-MM-DD, exclusive).
    #[arg(long, value_parser = parse_day)]
    pub to: Option<i32>,
    /// Plan file compression.
    #[arg(long, value_enum, default_value = "snappy")]
    pub plan_compression: Compression,
    #[command(flatten)]
    pub tenants: TenantArgs,
    #[command(flatten)]
    pub cortex_scan: CortexScanArgs,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// Report what would be converted (tenants, days, series, chunks, estimated bytes); write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Options of `--source prometheus:...`.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct PrometheusArgs {
    /// Take each block's tenant from this Thanos external label (prometheus source).
    #[arg(long)]
    pub tenant_label: Option<String>,
    /// Remove this label (a replica label) from every series before merging replicas; repeatable.
    #[arg(long = "drop-label")]
    pub drop_labels: Vec<String>,
}

impl PrometheusArgs {
    pub(crate) fn options(&self) -> scanner::prometheus::PrometheusOptions {
        scanner::prometheus::PrometheusOptions {
            tenant_label: self.tenant_label.clone(),
            drop_labels: self.drop_labels.clone(),
        }
    }
}

/// Reading a Cortex index (`--source cortex:CONFIG.yaml`): what the YAML does not say.
#[derive(Args, Debug, Clone)]
pub(crate) struct CortexScanArgs {
    /// Requests to the source in flight at once: index reads (Bigtable row ranges, DynamoDB
    /// scan segments) and plan uploads when scanning, chunk reads when building.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Only these index tables (comma separated, exact names).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Scan at most this many index tables, newest first (0: all).
    #[arg(long, default_value_t = 0)]
    pub tables_limit: usize,
    /// Bigtable project, replacing storage.bigtable.project of the config.
    #[arg(long)]
    pub bigtable_project: Option<String>,
    /// Bigtable instance, replacing storage.bigtable.instance of the config.
    #[arg(long)]
    pub bigtable_instance: Option<String>,
    /// DynamoDB URL as in Cortex (dynamodb://REGION or http://KEY:SECRET@HOST:PORT), replacing the config's.
    #[arg(long)]
    pub dynamodb_url: Option<String>,
    /// Cap on index read requests per second per store (0: unlimited).
    #[arg(long, default_value_t = 0.0)]
    pub index_rate_limit: f64,
}

impl CortexScanArgs {
    fn options(&self, tenants: &TenantArgs) -> scanner::CortexScanOptions {
        scanner::CortexScanOptions {
            concurrency: self.concurrency,
            tenants: tenants.filter(),
            tables: self.tables.clone(),
            tables_limit: self.tables_limit,
            bigtable_project: self.bigtable_project.clone(),
            bigtable_instance: self.bigtable_instance.clone(),
            dynamodb_url: self.dynamodb_url.clone(),
            requests_per_sec: (self.index_rate_limit > 0.0).then_some(self.index_rate_limit),
            bigtable_emulator_host: None,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Compression {
    None,
    Gzip,
    Snappy,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct BuildArgs {
    #[command(flatten)]
    pub bucket: BucketArgs,
    /// Where blocks go (default: the plan bucket).
    #[arg(long)]
    pub output: Option<String>,
    #[command(flatten)]
    pub work: WorkArgs,
    #[command(flatten)]
    pub tenants: TenantArgs,
    /// Exit once nothing is left to claim and the scan is complete.
    #[arg(long)]
    pub once: bool,
    /// Builders in this process, each building one plan at a time; they split --memory-budget
    /// evenly (--concurrency is per plan).
    #[arg(long, default_value_t = DEFAULT_BUILDERS)]
    pub builders: usize,
    /// Name of this builder in progress and finished files (default: host name and process ID);
    /// with several builders, `-0`, `-1`, ... is appended.
    #[arg(long)]
    pub name: Option<String>,
    /// How often an idle builder looks for new plans.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// How often a building builder rewrites its progress file.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// Age after which a builder lists the prefix again to see new plans, once its claims paid for the last listing (4 per page).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub relist_interval: Duration,
    /// Fault injection for tests and drills: hold each claim this long before building.
    #[arg(long, hide = true, default_value = "0s", value_parser = parse_duration)]
    pub pause_after_claim: Duration,
    /// Fault injection for tests and drills: stop dead (thread blocked, heartbeat alive) when
    /// the first plan reaches this stage, so the process can be killed there.
    #[arg(long, hide = true, value_parser = str::parse::<builder::failpoint::Stage>)]
    pub pause_at: Option<builder::failpoint::Stage>,
    /// The source plans need to reach: cortex:CONFIG.yaml for Cortex plans, prometheus:ROOT[,ROOT...]
    /// (as given to the scan) for Prometheus plans, whose blocks must lie under these roots.
    #[arg(long)]
    pub source: Option<SourceSpec>,
    #[command(flatten)]
    pub cortex: CortexArgs,
}

/// Reaching a Cortex chunk store (`--source cortex:CONFIG.yaml`).
#[derive(Args, Debug, Clone)]
pub(crate) struct CortexArgs {
    /// Requests to the source in flight at once: index reads (Bigtable row ranges, DynamoDB
    /// scan segments) and plan uploads when scanning, chunk reads when building.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    #[command(flatten)]
    pub store: ChunkStoreArgs,
}

/// How chunks are read and judged; shared by `build`, `verify` and `run`.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ChunkStoreArgs {
    /// Directory of the filesystem chunk store, replacing the config's (cortex source).
    #[arg(long)]
    pub chunks_dir: Option<PathBuf>,
    /// A corrupt chunk (undecodable, bad checksum, samples out of order or outside its
    /// key's range) fails its plan naming it, or is skipped and counted (cortex source).
    #[arg(long, default_value = "fail", value_parser = str::parse::<builder::cortex::CorruptChunkPolicy>)]
    pub on_corrupt_chunk: builder::cortex::CorruptChunkPolicy,
    /// Cap on chunk reads per second from the chunk store, over the whole process (0: unlimited).
    #[arg(long, default_value_t = 0.0)]
    pub chunk_rate_limit: f64,
    /// Cap on chunk bytes per second read from the chunk store, e.g. 50MiB (0: unlimited).
    #[arg(long, default_value = "0", value_parser = parse_size)]
    pub chunk_bytes_limit: usize,
}

impl CortexArgs {
    /// The chunk store of `source`, when it is a Cortex one.
    pub(crate) fn source(
        &self,
        source: Option<&SourceSpec>,
    ) -> Result<Option<Arc<builder::cortex::CortexSource>>> {
        let Some(SourceSpec::Cortex(path)) = source else {
            return Ok(None);
        };
        let fetch = builder::cortex::FetchOptions {
            concurrency: self.concurrency,
            throttle: throttle(self.store.chunk_rate_limit, self.store.chunk_bytes_limit),
            ..Default::default()
        };
        let mut src =
            builder::cortex::CortexSource::load(path, self.store.chunks_dir.clone(), fetch)?;
        src.on_corrupt_chunk = self.store.on_corrupt_chunk;
        Ok(Some(Arc::new(src)))
    }
}

#[derive(Args, Debug, Clone)]
pub(crate) struct VerifyArgs {
    /// The plan bucket and prefix, as given to run/build (Cortex sources are verified plan by plan).
    #[command(flatten)]
    pub bucket: BucketArgs,
    /// Where the blocks are, as given to run/build (default: the plan bucket).
    #[arg(long)]
    pub output: Option<String>,
    /// The source the blocks were converted from, as given to the scan.
    #[arg(long)]
    pub source: SourceSpec,
    #[command(flatten)]
    pub tenants: TenantArgs,
    #[command(flatten)]
    pub target: TargetTenantArgs,
    /// First UTC day to verify (YYYY-MM-DD), as given to scan/run.
    #[arg(long, value_parser = parse_day)]
    pub from: Option<i32>,
    /// Day after the last one to verify (YYYY-MM-DD, exclusive).
    #[arg(long, value_parser = parse_day)]
    pub to: Option<i32>,
    #[command(flatten)]
    pub work: WorkArgs,
    /// Differences to print (all are counted).
    #[arg(long, default_value_t = 20)]
    pub max_differences: usize,
    #[command(flatten)]
    pub cortex: CortexArgs,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct DemoArgs {
    /// Directory used as the bucket (created).
    pub dir: Option<PathBuf>,
}

pub(crate) fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(crate::progress::LogWriter);
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Json => b.json().init(),
    }
}

/// Exit code of a command line refused before anything ran (as clap's own).
pub(crate) const USAGE: u8 = 2;

pub(crate) async fn dispatch(cmd: Command) -> Result<ExitCode> {
    if let Err(msg) = validate(&cmd) {
        eprintln!("error: {msg}");
        return Ok(ExitCode::from(USAGE));
    }
    match cmd {
        Command::Scan(a) if a.dry_run => {
            let bucket = a.bucket.open_for_writing()?;
            let report = scanner::dry_run(&scan_config(&a, bucket), &a.source).await?;
            print!("{}", report.render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan(a) => {
            let bucket = a.bucket.open_for_writing()?;
            let report = scanner::scan(&scan_config(&a, bucket), &a.source).await?;
            crate::report::print_scan(&report);
            Ok(ExitCode::SUCCESS)
        }
        Command::Build(a) => {
            let mut cfg = builder_config(
                &a.bucket.open_buckets_existing(a.output.as_deref())?,
                &a.bucket.prefix,
                &a.work,
                &a.tenants,
                a.name,
                a.poll_interval,
                a.heartbeat,
            );
            cfg.cortex = a.cortex.source(a.source.as_ref())?;
            cfg.prometheus_roots = prometheus_roots(a.source.as_ref());
            cfg.pause_after_claim = a.pause_after_claim;
            cfg.relist_interval = a.relist_interval;
            if let Some(stage) = a.pause_at {
                builder::failpoint::arm(stage);
            }
            let stop = crate::run::stop_on_signals();
            let (summary, failure) =
                builder::run_builders(&cfg, a.builders, a.once, stop.clone(), None).await;
            if let Some(e) = failure {
                return Err(e);
            }
            let interrupted = stop.is_cancelled();
            crate::report::print_run_summary(&summary, None, Duration::ZERO, interrupted);
            if interrupted {
                return Ok(ExitCode::from(crate::run::INTERRUPTED));
            }
            Ok(exit_code(summary.failed.is_empty()))
        }
        Command::Run(a) => crate::run::run(a).await,
        Command::Verify(a) => {
            let plans = a.bucket.open()?;
            let blocks = match &a.output {
                Some(url) => Bucket::open_existing_with(url, a.bucket.access.options())?,
                None => plans.clone(),
            };
            let cfg = verify::VerifyConfig {
                prometheus: verify::PrometheusOptions {
                    tenant_label: a.prometheus.tenant_label.clone(),
                    drop_labels: a.prometheus.drop_labels.clone(),
                },
                bucket: blocks,
                plans,
                tenant: a.target.resolve(&a.tenants),
                tenants: a.tenants.filter(),
                work_dir: a.work.work_dir,
                memory_budget: a.work.memory_budget,
                days: verify::DayRange {
                    from: a.from,
                    to: a.to,
                },
                max_reported: a.max_differences,
                cortex: a
                    .cortex
                    .source(Some(&a.source))?
                    .map(|source| verify::CortexVerify {
                        config: source.config.clone(),
                        chunks_dir: source.chunks_dir.clone(),
                        fetch: source.fetch.clone(),
                        skip_corrupt_chunks: source.on_corrupt_chunk
                            == builder::cortex::CorruptChunkPolicy::Skip,
                        prefix: a.bucket.prefix.clone(),
                    }),
            };
            let report = verify::verify(&cfg, &a.source).await?;
            crate::report::print_verify(&report);
            Ok(exit_code(report.ok()))
        }
        Command::Demo(a) => crate::demo::demo(a.dir).await,
        Command::Schedule(a) => crate::schedule::schedule(a).await,
        Command::Status(a) => crate::status::status(a).await,
        Command::Retry(a) => crate::retry::retry(a).await,
    }
}

pub(crate) fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The scan `a` asks for, into `bucket` (the plan bucket).
pub(crate) fn scan_config(a: &ScanArgs, bucket: Bucket) -> scanner::ScanConfig {
    scanner::ScanConfig {
        bucket,
        prefix: a.bucket.prefix.clone(),
        work_dir: a.work.work_dir.clone(),
        memory_budget: a.work.memory_budget,
        compression: match a.plan_compression {
            Compression::None => PlanCompression::None,
            Compression::Gzip => PlanCompression::Gzip,
            Compression::Snappy => PlanCompression::Snappy,
        },
        days: DayRange {
            from: a.from,
            to: a.to,
        },
        tenant: a.target.resolve(&a.tenants),
        cortex: a.cortex_scan.options(&a.tenants),
        prometheus: a.prometheus.options(),
    }
}

/// A builder over `buckets`; Cortex sources and fault injection are set by
/// the caller.
pub(crate) fn builder_config(
    buckets: &Buckets,
    prefix: &str,
    work: &WorkArgs,
    tenants: &TenantArgs,
    name: Option<String>,
    poll_interval: Duration,
    heartbeat: Duration,
) -> builder::BuilderConfig {
    builder::BuilderConfig {
        bucket: buckets.plans.clone(),
        output: buckets.output.clone(),
        prefix: prefix.to_string(),
        work_dir: work.work_dir.clone(),
        memory_budget: work.memory_budget,
        name: name.unwrap_or_else(default_builder_name),
        poll_interval,
        heartbeat,
        tenants: tenants.filter(),
        cortex: None,
        prometheus_roots: Vec::new(),
        block: None,
        pause_after_claim: Duration::ZERO,
        relist_interval: builder::DEFAULT_RELIST_INTERVAL,
    }
}

/// The roots of a `--source prometheus:...`, the only places a builder
/// reads Prometheus blocks from; none for other sources.
pub(crate) fn prometheus_roots(source: Option<&SourceSpec>) -> Vec<String> {
    match source {
        Some(SourceSpec::Prometheus(roots)) => roots.clone(),
        _ => Vec::new(),
    }
}

pub(crate) fn default_builder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "builder".into());
    format!("{host}-{}", std::process::id())
}

/// Largest size a flag takes (1 PiB): anything above is a typo, and
/// would overflow arithmetic on it further on.
const MAX_SIZE: u64 = 1 << 50;

/// Longest duration a flag takes (10 years): beyond it, adding the
/// duration to a clock can overflow.
const MAX_DURATION: Duration = Duration::from_secs(10 * 366 * 86_400);

/// Smallest `--memory-budget` the scanner and builder can work in: one
/// sort run must hold a few records and one label set.
pub(crate) const MIN_MEMORY_BUDGET: usize = 64 << 10;

/// `--concurrency` of every subcommand: one default for one meaning.
const DEFAULT_CONCURRENCY: usize = 32;

/// `--builders` of `build` and `run`: three plans at a time keep two cores
/// busy, since a plan's sorting, block writing, health check and upload
/// run on one core while two others load; a third of the budget each.
/// On the hold-out (9 plans, 2 cores) three took 0.81 s, two 0.88 s,
/// four 0.85 s.
pub(crate) const DEFAULT_BUILDERS: usize = 3;

/// `512MiB`, `1.5GiB`, `100MB`, `65536` (bytesize's syntax). A bare `K`,
/// `M`, `G` or `T` is binary (`M` is MiB), as it always was here and as
/// Kubernetes manifests next to these flags read it.
pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let binary;
    let t = match t.strip_suffix(['K', 'M', 'G', 'T']) {
        Some(n) if n.ends_with(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') => {
            binary = format!("{t}iB");
            binary.as_str()
        }
        _ => t,
    };
    let n = t
        .parse::<bytesize::ByteSize>()
        .map_err(|e| format!("{s:?} is not a size like 512MiB or 1.5GiB: {e}"))?
        .as_u64();
    if n > MAX_SIZE {
        return Err(format!("{s:?} is larger than 1PiB"));
    }
    usize::try_from(n).map_err(|_| format!("{s:?} is too large"))
}

/// `10s`, `5m`, `2h`, `250ms`, `1h30m`, `1h 30m` (humantime's syntax); a
/// bare number is seconds. At most ten years.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let d = match t.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(t)
            .map_err(|e| format!("{t:?} is not a duration like 30s or 1h30m: {e}"))?,
    };
    if d > MAX_DURATION {
        return Err(format!("{t:?} is longer than ten years"));
    }
    Ok(d)
}

/// `$TMPDIR/blocksconvert-<user>`: per user, so that two users of one
/// machine do not share (or fail on each other's) scratch files.
fn default_work_dir() -> PathBuf {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .unwrap_or_else(|| {
            use std::os::unix::fs::MetadataExt;
            // /proc/self belongs to the process's user: its uid without libc.
            std::fs::metadata("/proc/self")
                .map(|m| m.uid().to_string())
                .unwrap_or_else(|_| "user".into())
        });
    std::env::temp_dir().join(format!("blocksconvert-{user}"))
}

/// Checks across flags and of values clap cannot judge alone, before
/// anything runs: the message names the flag and what it needs.
fn validate(cmd: &Command) -> Result<(), String> {
    fn positive(flag: &str, d: Duration) -> Result<(), String> {
        if d.is_zero() {
            return Err(format!("{flag} must be longer than 0s"));
        }
        Ok(())
    }
    fn count(flag: &str, n: u64) -> Result<(), String> {
        if n == 0 {
            return Err(format!("{flag} must be at least 1"));
        }
        Ok(())
    }
    fn shared_budget(w: &WorkArgs, builders: usize) -> Result<(), String> {
        if builders > 1 && w.memory_budget / builders < MIN_MEMORY_BUDGET {
            return Err(format!(
                "--memory-budget {} split among --builders {builders} leaves too little to work in \
                 (at least {}KiB each)",
                w.memory_budget,
                MIN_MEMORY_BUDGET >> 10
            ));
        }
        Ok(())
    }
    fn work(w: &WorkArgs) -> Result<(), String> {
        if w.memory_budget < MIN_MEMORY_BUDGET {
            return Err(format!(
                "--memory-budget {} is too small to work in (at least {}KiB)",
                w.memory_budget,
                MIN_MEMORY_BUDGET >> 10
            ));
        }
        Ok(())
    }
    fn days(from: Option<i32>, to: Option<i32>) -> Result<(), String> {
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err("--from must be a day before --to (--to is exclusive)".into());
            }
        }
        Ok(())
    }
    fn rate(flag: &str, r: f64) -> Result<(), String> {
        if !r.is_finite() || r < 0.0 {
            return Err(format!(
                "{flag} must be a number of at least 0 (0: unlimited)"
            ));
        }
        Ok(())
    }
    fn access(b: &BucketArgs) -> Result<(), String> {
        rate("--bucket-rate-limit", b.access.bucket_rate_limit)
    }
    fn store(c: &ChunkStoreArgs) -> Result<(), String> {
        rate("--chunk-rate-limit", c.chunk_rate_limit)
    }
    fn scan(a: &ScanArgs) -> Result<(), String> {
        access(&a.bucket)?;
        work(&a.work)?;
        days(a.from, a.to)?;
        target(&a.target, &a.tenants, &a.source, &a.prometheus)?;
        count("--concurrency", a.cortex_scan.concurrency as u64)?;
        rate("--index-rate-limit", a.cortex_scan.index_rate_limit)
    }
    /// `--target-tenant` must pass the filter, and with `--tenant-label`
    /// a lone `--tenant` would be both the filter and the fallback tenant,
    /// silently leaving out every other labelled tenant: refused.
    fn target(
        t: &TargetTenantArgs,
        filter: &TenantArgs,
        source: &SourceSpec,
        prom: &PrometheusArgs,
    ) -> Result<(), String> {
        if let Some(tenant) = &t.target_tenant {
            if !filter.filter().allows(tenant) {
                return Err(format!(
                    "--target-tenant {tenant:?} is left out by --tenant/--ignore-tenants"
                ));
            }
        }
        let labelled = matches!(source, SourceSpec::Prometheus(_)) && prom.tenant_label.is_some();
        if labelled && t.target_tenant.is_none() && !filter.tenants.is_empty() {
            return Err(
                "with --tenant-label, --tenant only selects tenants: name the tenant of \
                 blocks without the label with --target-tenant (e.g. the same one)"
                    .into(),
            );
        }
        Ok(())
    }
    fn stale(stale_after: Duration, heartbeat: Duration) -> Result<(), String> {
        if stale_after <= heartbeat {
            return Err(format!(
                "--stale-after ({}) must be longer than --heartbeat ({}): \
                 otherwise a live builder's plan is taken as stale",
                humantime::format_duration(stale_after),
                humantime::format_duration(heartbeat)
            ));
        }
        Ok(())
    }
    match cmd {
        Command::Scan(a) => scan(a),
        Command::Build(a) => {
            access(&a.bucket)?;
            work(&a.work)?;
            positive("--poll-interval", a.poll_interval)?;
            positive("--heartbeat", a.heartbeat)?;
            count("--concurrency", a.cortex.concurrency as u64)?;
            count("--builders", a.builders as u64)?;
            shared_budget(&a.work, a.builders)?;
            store(&a.cortex.store)
        }
        Command::Run(a) => {
            scan(&a.scan)?;
            store(&a.chunk_store)?;
            count("--builders", a.builders as u64)?;
            shared_budget(&a.scan.work, a.builders)?;
            count("--max-attempts", u64::from(a.max_attempts))?;
            positive("--heartbeat", a.heartbeat)?;
            positive("--stale-after", a.stale_after)?;
            positive("--scan-interval", a.scan_interval)?;
            positive("--poll-interval", a.poll_interval)?;
            stale(a.stale_after, a.heartbeat)
        }
        Command::Verify(a) => {
            access(&a.bucket)?;
            work(&a.work)?;
            days(a.from, a.to)?;
            target(&a.target, &a.tenants, &a.source, &a.prometheus)?;
            count("--concurrency", a.cortex.concurrency as u64)?;
            store(&a.cortex.store)
        }
        Command::Schedule(a) => {
            access(&a.bucket)?;
            count("--max-attempts", u64::from(a.max_attempts))?;
            positive("--scan-interval", a.scan_interval)?;
            positive("--stale-after", a.stale_after)
        }
        Command::Status(a) => {
            access(&a.bucket)?;
            positive("--stale-after", a.stale_after)
        }
        Command::Retry(a) => {
            access(&a.bucket)?;
            positive("--stale-after", a.stale_after)
        }
        Command::Demo(_) => Ok(()),
    }
}

fn parse_day(s: &str) -> Result<i32, String> {
    date_to_day(s).ok_or_else(|| format!("{s:?} is not a date like 2026-11-16"))
}

#[cfg(test)]
mod tests;
