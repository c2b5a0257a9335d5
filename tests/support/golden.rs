//! Comparison of built blocks with the dumps of the blocks Cortex's own
//! builder wrote (a case's `expected/dumps.json`). Needs `mod blocks`
//! (support/blocks.rs) beside it in the including test.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};
use testkit::promtool;

use crate::blocks::blocks_in;

/// Asserts that the bucket holds exactly one block per tenant and day of
/// `dumps_json`, each with the golden sorted dump's line count and sha256
/// and meta.json stats, and accepted by `promtool tsdb analyze`. `db` is
/// scratch space. Returns how many blocks were checked.
pub(crate) fn assert_golden_dumps(
    what: &str,
    bucket: &Path,
    dumps_json: &Path,
    db: &Path,
) -> usize {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dumps_json).expect("dumps.json"))
            .expect("dumps.json");
    let mut want = BTreeMap::new();
    for (tenant, days) in expected.as_object().expect("tenants") {
        for (day, e) in days.as_object().expect("days") {
            let day: i64 = day.parse().expect("day number");
            want.insert((tenant.clone(), day), e.clone());
        }
    }
    let blocks = blocks_in(bucket);
    assert_eq!(
        blocks.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: blocks per tenant and day"
    );
    for (k, (dir, meta)) in &blocks {
        let e = &want[k];
        let lines = promtool::sorted_block_dump(dir, db).expect("promtool dump");
        let mut h = Sha256::new();
        for l in &lines {
            h.update(l.as_bytes());
            h.update(b"\n");
        }
        let sha: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            lines.len() as u64,
            e["lines"].as_u64().expect("lines"),
            "{what} {k:?}: dump lines"
        );
        assert_eq!(
            sha,
            e["sha256"].as_str().expect("sha256"),
            "{what} {k:?}: dump sha256"
        );
        for stat in ["numSeries", "numSamples", "numChunks"] {
            assert_eq!(
                meta["stats"][stat], e["stats"][stat],
                "{what} {k:?}: {stat}"
            );
        }
        let block = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("block name");
        let analyze = promtool::analyze(db, block);
        assert!(
            analyze.is_ok(),
            "{what} {k:?}: promtool analyze: {analyze:?}"
        );
    }
    blocks.len()
}
