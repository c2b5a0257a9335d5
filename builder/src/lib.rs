//! Builder: plan in, block out.
//!
//! A builder claims a plan in the bucket, reads the series its source names
//! (staged OpenMetrics samples; Cortex chunks and Prometheus blocks as those
//! sources land), merges and deduplicates them, writes one TSDB block for
//! the plan's tenant and UTC day, uploads it with meta.json last and records
//! the outcome next to the plan. It decides nothing about which plans exist
//! (the scanner's job) or when a silent builder is dead (the scheduler's).

pub mod blocks;
pub mod claim;
pub mod cortex;
pub mod failpoint;
pub mod heartbeat;
pub mod openmetrics;
pub mod plan_build;
pub mod prometheus;
pub mod sink;
pub mod workdir;
pub mod worker;

pub use worker::{run_builder, BuilderConfig, BuilderSummary, Outcome};

pub use protocol::tenant::TenantFilter;
