//! What verifying found: counts and the first differences.

use std::fmt;

use protocol::names::day_to_date;

/// One way the blocks differ from the source.
#[derive(Clone, Debug, PartialEq)]
pub enum Difference {
    /// The source has samples in the day, the bucket no block for it.
    MissingBlock {
        /// Tenant of the day.
        tenant: String,
        /// Days since the epoch (UTC).
        day: i32,
    },
    /// A block for a day the source holds no sample of.
    ExtraBlock {
        /// Tenant the block is under.
        tenant: String,
        /// Day of the block's start.
        day: i32,
        /// The block's ULID.
        block: String,
    },
    /// More than one block for one tenant and day (a retry left one behind).
    DuplicateBlocks {
        /// Tenant of the day.
        tenant: String,
        /// Days since the epoch (UTC).
        day: i32,
        /// The ULIDs; only the first was compared.
        blocks: Vec<String>,
    },
    /// A series of the source is not in the day's block.
    MissingSeries {
        /// Tenant of the day.
        tenant: String,
        /// Days since the epoch (UTC).
        day: i32,
        /// Label set as Prometheus prints it.
        series: String,
    },
    /// The block holds a series the source has no sample of in the day.
    ExtraSeries {
        /// Tenant of the day.
        tenant: String,
        /// Days since the epoch (UTC).
        day: i32,
        /// Label set as Prometheus prints it.
        series: String,
    },
    /// One timestamp of a series present on both sides differs: a sample
    /// on one side only, or values with different bits.
    Sample {
        /// Tenant of the day.
        tenant: String,
        /// Days since the epoch (UTC).
        day: i32,
        /// Label set as Prometheus prints it.
        series: String,
        /// Timestamp, ms since the epoch.
        t: i64,
        /// The reference's value, `None` if it has no sample at `t`.
        expected: Option<f64>,
        /// The block's value, `None` if it has no sample at `t`.
        actual: Option<f64>,
    },
}

fn value(v: Option<f64>) -> String {
    match v {
        None => "nothing".into(),
        Some(v) => format!("{v} (bits {:#018x})", v.to_bits()),
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::MissingBlock { tenant, day } => write!(
                f,
                "{tenant} {}: no block, but the source has samples",
                day_to_date(*day)
            ),
            Difference::ExtraBlock { tenant, day, block } => write!(
                f,
                "{tenant} {}: block {block} has no counterpart in the source",
                day_to_date(*day)
            ),
            Difference::DuplicateBlocks {
                tenant,
                day,
                blocks,
            } => write!(
                f,
                "{tenant} {}: {} blocks for one day: {}",
                day_to_date(*day),
                blocks.len(),
                blocks.join(", ")
            ),
            Difference::MissingSeries {
                tenant,
                day,
                series,
            } => write!(
                f,
                "{tenant} {}: series {series} is missing",
                day_to_date(*day)
            ),
            Difference::ExtraSeries {
                tenant,
                day,
                series,
            } => write!(
                f,
                "{tenant} {}: series {series} is not in the source",
                day_to_date(*day)
            ),
            Difference::Sample {
                tenant,
                day,
                series,
                t,
                expected,
                actual,
            } => write!(
                f,
                "{tenant} {}: {series} at {t}: expected {}, block has {}",
                day_to_date(*day),
                value(*expected),
                value(*actual)
            ),
        }
    }
}

/// The outcome of a verification: what was compared and how it differs.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Tenant-days the source holds samples of (Cortex: plans).
    pub days: u64,
    /// Series found on both sides and compared sample by sample.
    pub series: u64,
    /// Samples of those series in the reference.
    pub samples: u64,
    /// Every difference found, reported or not.
    pub differences: u64,
    /// The first differences, up to the configured maximum.
    pub reported: Vec<Difference>,
}

impl VerifyReport {
    /// True when the blocks hold exactly what the source does.
    pub fn ok(&self) -> bool {
        self.differences == 0
    }

    pub(crate) fn differ(&mut self, d: Difference, max: usize) {
        self.differences += 1;
        if self.reported.len() < max {
            self.reported.push(d);
        }
    }

    /// Adds the counts of one day's comparison, keeping at most `max`
    /// differences in all.
    pub(crate) fn absorb(&mut self, day: VerifyReport, max: usize) {
        self.series += day.series;
        self.samples += day.samples;
        self.differences += day.differences;
        let room = max.saturating_sub(self.reported.len());
        self.reported.extend(day.reported.into_iter().take(room));
    }
}
