//! The scheduler's Prometheus metrics, in the text exposition format at
//! `/metrics`. Everything is set from the latest [`StatusReport`] and the
//! scheduler's counters, so the page and the metrics cannot disagree.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::report::StatusReport;

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

pub(crate) struct Metrics {
    registry: Registry,
    plans: Family<Labels, Gauge>,
    tenant_plans: Family<Labels, Gauge>,
    totals: Family<Labels, Gauge>,
    pub(crate) scans: Counter,
    pub(crate) scan_errors: Counter,
    pub(crate) retries: Counter,
    pub(crate) failed_stale: Counter,
    scan_seconds: FloatGauge,
    last_scan: FloatGauge,
    oldest_in_progress: FloatGauge,
    plans_per_hour: FloatGauge,
    eta: FloatGauge,
    scan_complete: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("blocksconvert_scheduler");
        let m = Metrics {
            registry: Registry::default(),
            plans: Family::default(),
            tenant_plans: Family::default(),
            totals: Family::default(),
            scans: Counter::default(),
            scan_errors: Counter::default(),
            retries: Counter::default(),
            failed_stale: Counter::default(),
            scan_seconds: FloatGauge::default(),
            last_scan: FloatGauge::default(),
            oldest_in_progress: FloatGauge::default(),
            plans_per_hour: FloatGauge::default(),
            eta: FloatGauge::default(),
            scan_complete: Gauge::default(),
        };
        registry.register(
            "plans",
            "Plans by state, from the last listing",
            m.plans.clone(),
        );
        registry.register(
            "tenant_plans",
            "Plans by tenant and state",
            m.tenant_plans.clone(),
        );
        registry.register(
            "finished",
            "Sums over finished files (what: blocks, series, samples_in, samples_out, duplicates_dropped, bytes)",
            m.totals.clone(),
        );
        registry.register("scans", "Bucket listings done", m.scans.clone());
        registry.register(
            "scan_errors",
            "Listings or actions that failed",
            m.scan_errors.clone(),
        );
        registry.register(
            "retries",
            "Stale plans made claimable again",
            m.retries.clone(),
        );
        registry.register(
            "stale_failures",
            "Stale plans failed after their last attempt",
            m.failed_stale.clone(),
        );
        registry.register(
            "scan_duration_seconds",
            "Time the last scan took",
            m.scan_seconds.clone(),
        );
        registry.register(
            "last_scan_timestamp_seconds",
            "When the last scan ended",
            m.last_scan.clone(),
        );
        registry.register(
            "oldest_in_progress_seconds",
            "Age of the oldest claim still held",
            m.oldest_in_progress.clone(),
        );
        registry.register(
            "plans_per_hour",
            "Recent throughput",
            m.plans_per_hour.clone(),
        );
        registry.register(
            "eta_seconds",
            "Estimated time left (-1: unknown)",
            m.eta.clone(),
        );
        registry.register(
            "scan_complete",
            "1 once the scan-complete marker exists",
            m.scan_complete.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Sets every gauge from a report.
    pub(crate) fn observe(&self, r: &StatusReport, scan_seconds: f64) {
        let states = |c: &crate::report::StateCountsJson| {
            [
                ("new", c.new),
                ("in_progress", c.in_progress),
                ("stale", c.stale),
                ("finished", c.finished),
                ("failed", c.failed),
                ("invalid", c.invalid),
            ]
        };
        for (s, n) in states(&r.states) {
            self.plans
                .get_or_create(&vec![("state", s.to_string())])
                .set(clamp(n));
        }
        // Tenants come and go with filters and hand edits: start afresh.
        self.tenant_plans.clear();
        for t in &r.tenants {
            for (s, n) in states(&t.states) {
                self.tenant_plans
                    .get_or_create(&vec![
                        ("tenant", t.tenant.clone()),
                        ("state", s.to_string()),
                    ])
                    .set(clamp(n));
            }
        }
        let tot = &r.totals;
        for (what, n) in [
            ("blocks", tot.blocks),
            ("series", tot.series),
            ("samples_in", tot.samples_in),
            ("samples_out", tot.samples_out),
            ("duplicates_dropped", tot.duplicates_dropped),
            ("bytes", tot.bytes),
        ] {
            self.totals
                .get_or_create(&vec![("what", what.to_string())])
                .set(clamp(n));
        }
        self.scan_seconds.set(scan_seconds);
        self.last_scan
            .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
        self.oldest_in_progress.set(
            r.oldest_in_progress
                .as_ref()
                .and_then(|o| o.age_seconds)
                .unwrap_or(0) as f64,
        );
        self.plans_per_hour.set(r.plans_per_hour.unwrap_or(0.0));
        self.eta.set(r.eta_seconds.unwrap_or(-1.0));
        self.scan_complete.set(i64::from(r.scan_complete));
    }

    /// The text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut s, &self.registry);
        s
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{StateCountsJson, TenantStatus};

    #[test]
    fn renders_states_and_tenants() {
        let m = Metrics::new();
        let r = StatusReport {
            states: StateCountsJson {
                new: 3,
                finished: 2,
                ..Default::default()
            },
            tenants: vec![TenantStatus {
                tenant: "t1".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        m.observe(&r, 0.5);
        m.retries.inc();
        let text = m.render();
        assert!(
            text.contains("blocksconvert_scheduler_plans{state=\"new\"} 3"),
            "{text}"
        );
        assert!(text
            .contains("blocksconvert_scheduler_tenant_plans{tenant=\"t1\",state=\"finished\"} 0"));
        assert!(text.contains("blocksconvert_scheduler_retries_total 1"));
        assert!(text.ends_with("# EOF\n"));
    }
}
