//! The scheduler of a campaign: watches the bucket and keeps it moving.
//!
//! Every scan interval it lists the plan prefix once and derives every
//! plan's state from the names alone (`protocol::state`). A plan whose
//! builder stopped heartbeating for longer than `stale_after` is made
//! claimable again, or failed once its attempts are used up. It serves what
//! it saw at `/status` and `/metrics` ([`Scheduler::serve`]), and
//! [`Scheduler::watch`] is the one loop both `blocksconvert schedule` and
//! `blocksconvert run` go through. `status` ([`collect_status`]) and
//! `retry` ([`retry`]) are the same code without the loop.
//!
//! Not for: talking to builders or handing out plans. Builders claim plans
//! themselves with create-if-absent, so a scheduler that is down only
//! delays retries of stale plans; it never stops the builders. After each
//! scan it publishes the plans it saw claimable as an index
//! (`P/claimable.<i>`) that builders refill their candidate pools from
//! instead of listing the campaign themselves; the index is derived, and
//! builders list when it is missing or old. It links no
//! source SDK: everything it knows comes from the plan bucket.

mod cache;
mod http;
mod index;
mod metrics;
mod report;
mod retry;
mod stale;
mod watch;

pub use report::{
    classify, InProgressPlan, PlanRef, ProblemPlan, SchedulerCounters, StateCountsJson,
    StatusReport, TenantStatus, Totals, TotalsFrom,
};
pub use retry::{retry, RetryReport, RetrySelection};
pub use watch::{
    collect_status, list_plans, run_scheduler, PlanListing, Scheduler, SchedulerConfig, Server,
    WatchOptions, DEFAULT_LISTEN,
};
