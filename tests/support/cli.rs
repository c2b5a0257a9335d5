//! The binary under test and objects planted in a local bucket, for the
//! tests that run `blocksconvert` as a user would. Included with `#[path]`;
//! not every test uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The binary under test; `BLOCKSCONVERT_BIN` runs these tests against
/// another build (how they were seen to fail on main).
pub(crate) fn bin() -> String {
    std::env::var("BLOCKSCONVERT_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_blocksconvert").into())
}

/// Writes `data` under `key` of a local bucket, creating directories.
pub(crate) fn put(bucket: &Path, key: &str, data: impl AsRef<[u8]>) -> PathBuf {
    let p = bucket.join(key);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).unwrap();
    p
}
