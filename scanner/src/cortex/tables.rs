//! Which index tables a scan reads (Cortex's scanner, reference §4.1).
//!
//! For every readable period (schema v9–v11, a Bigtable or DynamoDB index
//! store) the tables listed by the store are matched to the period by name
//! and time range; then the user's filters apply: exact names, time range,
//! newest-first limit. Pure functions over names, so they are tested
//! without a store.

use base::DAY_MS;
use cortex::{IndexStore, SchemaConfig};

/// One index table to scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IndexTable {
    pub name: String,
    /// Index of its period in `configs:`.
    pub period: usize,
    pub store: IndexStore,
    /// `[start_ms, end_ms)`; a non-periodic table ends at `i64::MAX`.
    pub start_ms: i64,
    pub end_ms: i64,
}

impl IndexTable {
    pub(super) fn overlaps(&self, other: &IndexTable) -> bool {
        self.start_ms < other.end_ms && other.start_ms < self.end_ms
    }
}

/// Tables of period `ix` among `names` (all tables of its store).
///
/// Cortex keeps a table when its start lies in `[from, next.from)`; we keep
/// it when its range *overlaps* that interval, so that a period whose `from`
/// is not aligned to the table period still gets its first table (Cortex
/// would silently skip it). The last period ends at tomorrow's UTC
/// midnight, as in Cortex, so tables created ahead of time are left out.
pub(super) fn tables_of_period(
    schema: &SchemaConfig,
    ix: usize,
    names: &[String],
    now_ms: i64,
) -> Vec<IndexTable> {
    let Some(p) = schema.configs.get(ix) else {
        return Vec::new();
    };
    let from = p.from_ms();
    let until = match schema.configs.get(ix + 1) {
        Some(next) => next.from_ms(),
        None => (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS,
    };
    let mut out = Vec::new();
    for name in names {
        let Some((start, end)) = p.index.table_range(name) else {
            continue;
        };
        let (start, end) = if p.index.period_secs == 0 {
            (from, i64::MAX)
        } else {
            (start, end)
        };
        if start < until && from < end {
            out.push(IndexTable {
                name: name.clone(),
                period: ix,
                store: p.index_store(),
                start_ms: start,
                end_ms: end,
            });
        }
    }
    out
}

/// The user's table filters (Cortex's order: names, newest first, time
/// range, limit).
#[derive(Clone, Debug, Default)]
pub(super) struct TableFilter {
    /// Exact names; empty: all.
    pub names: Vec<String>,
    /// Keep tables ending after this time (ms).
    pub from_ms: Option<i64>,
    /// Keep tables starting before this time (ms).
    pub to_ms: Option<i64>,
    /// At most this many tables, newest first; 0: all.
    pub limit: usize,
}

pub(super) fn filter_tables(mut tables: Vec<IndexTable>, f: &TableFilter) -> Vec<IndexTable> {
    if !f.names.is_empty() {
        tables.retain(|t| f.names.contains(&t.name));
    }
    tables.sort_by(|a, b| {
        b.start_ms
            .cmp(&a.start_ms)
            .then_with(|| a.name.cmp(&b.name))
    });
    tables.dedup_by(|a, b| a.name == b.name);
    tables.retain(|t| {
        f.from_ms.is_none_or(|from| t.end_ms > from) && f.to_ms.is_none_or(|to| t.start_ms < to)
    });
    if f.limit > 0 {
        tables.truncate(f.limit);
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex::CortexConfig;

    const YAML: &str = "
configs:
- from: 2026-10-01
  store: bigtable-hashed
  schema: v11
  index: {prefix: index_, period: 168h}
- from: 2026-11-19
  store: gcp
  schema: v10
  index: {prefix: new_, period: 168h}
";

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn matches_tables_to_periods() {
        let cfg = CortexConfig::parse(YAML).unwrap();
        let all = names(&[
            "index_2960",
            "index_2961",
            "index_2967",
            "index_2968",
            "index_x",
            "chunks_2967",
            "new_2967",
            "new_2968",
            "new_2999",
        ]);
        // 2026-11-19 is day 20776, the first day of week 2968 (weeks start on Thursdays).
        let now = 2968 * 604_800_000 + 3 * DAY_MS;
        let of = |ix| -> Vec<String> {
            tables_of_period(&cfg.schema, ix, &all, now)
                .into_iter()
                .map(|t| t.name)
                .collect()
        };
        // index_2960 ends where the period starts; index_2968 starts where the next one does.
        assert_eq!(of(0), names(&["index_2961", "index_2967"]));
        // new_2999 starts after tomorrow: not created by Cortex yet, left out.
        assert_eq!(of(1), names(&["new_2968"]));
    }

    #[test]
    fn filters_newest_first_with_limit_and_range() {
        let t = |name: &str, week: i64| IndexTable {
            name: name.into(),
            period: 0,
            store: IndexStore::DynamoDb,
            start_ms: week * 604_800_000,
            end_ms: (week + 1) * 604_800_000,
        };
        let all = vec![t("i1", 1), t("i3", 3), t("i2", 2), t("i4", 4)];
        let got = |f: TableFilter| -> Vec<String> {
            filter_tables(all.clone(), &f)
                .into_iter()
                .map(|t| t.name)
                .collect()
        };
        assert_eq!(
            got(TableFilter::default()),
            names(&["i4", "i3", "i2", "i1"])
        );
        assert_eq!(
            got(TableFilter {
                limit: 2,
                ..Default::default()
            }),
            names(&["i4", "i3"])
        );
        assert_eq!(
            got(TableFilter {
                names: names(&["i1", "i3"]),
                limit: 1,
                ..Default::default()
            }),
            names(&["i3"])
        );
        // [week 2, week 4): i2 and i3; i1 ends exactly at the start.
        assert_eq!(
            got(TableFilter {
                from_ms: Some(2 * 604_800_000),
                to_ms: Some(4 * 604_800_000),
                ..Default::default()
            }),
            names(&["i3", "i2"])
        );
    }
}
