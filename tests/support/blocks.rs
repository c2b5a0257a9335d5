//! The blocks a `build` left in a filesystem bucket, keyed by tenant and
//! day. Included with `#[path]` by the tests that read built buckets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base::DAY_MS;

/// (tenant, day number since the epoch) -> (block dir, meta.json) of every
/// visible block; two blocks for one tenant and day fail the test.
pub(crate) fn blocks_in(bucket: &Path) -> BTreeMap<(String, i64), (PathBuf, serde_json::Value)> {
    let mut out = BTreeMap::new();
    for tenant in std::fs::read_dir(bucket).expect("bucket") {
        let tenant = tenant.expect("bucket entry");
        let name = tenant.file_name().to_string_lossy().into_owned();
        if name == "migration" || !tenant.file_type().expect("file type").is_dir() {
            continue;
        }
        for b in std::fs::read_dir(tenant.path()).expect("tenant dir") {
            let b = b.expect("block entry").path();
            let Ok(meta) = std::fs::read(b.join("meta.json")) else {
                continue;
            };
            let meta: serde_json::Value = serde_json::from_slice(&meta).expect("meta.json");
            let day = meta["minTime"].as_i64().expect("minTime") / DAY_MS;
            let prev = out.insert((name.clone(), day), (b.clone(), meta));
            assert!(prev.is_none(), "two blocks for {name} day {day}");
        }
    }
    out
}
