//! Builder: plan in, block out.
//!
//! A builder claims a plan in the bucket, reads the series its source names
//! (staged OpenMetrics samples, Cortex chunks, Prometheus blocks), merges
//! and deduplicates them, writes one TSDB block for the plan's tenant and
//! UTC day, uploads it with meta.json last and records the outcome next to
//! the plan.
//!
//! Not for: deciding which plans exist (the scanner's job), detecting that
//! a silent builder is dead (the scheduler's), or reading blocks back to
//! check them (`verify`, with `tsdb`'s reader).
//!
//! The API is the builder loop ([`run_builder`], [`run_builder_until`],
//! [`run_builder_notifying`] and their [`BuilderConfig`]; [`run_builders`]
//! for several in one process) and the helpers
//! for blocks in a bucket. Two coherent pieces stay modules of their own:
//! [`cortex`], the Cortex chunk-store source, which the command line
//! configures and tests and benchmarks drive plan by plan; and
//! [`failpoint`], the drill points a test or fire drill arms to kill a
//! builder at one stage.

mod blocks;
mod builders;
mod claim;
pub mod cortex;
pub mod failpoint;
mod heartbeat;
mod openmetrics;
mod plan_build;
mod prometheus;
mod sink;
mod workdir;
mod worker;

pub use blocks::{list_tenant_blocks, local_block, RemoteBlock};
pub use builders::{run_builders, split_config};
pub use claim::DEFAULT_RELIST_INTERVAL;
#[doc(hidden)]
pub use claim::{ClaimStep, NoopBuilder};
pub use plan_build::BuiltBlock;
pub use prometheus::fetch_block;
pub use sink::SinkStats;
pub use worker::{
    run_builder, run_builder_notifying, run_builder_until, BuilderConfig, BuilderSummary,
};

pub use protocol::tenant::TenantFilter;
