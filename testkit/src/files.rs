//! Directory trees in tests: which files a command left in one (a bucket
//! dir, a work dir), to prove nothing was written where it must not be,
//! and copies of one.

use std::path::{Path, PathBuf};

/// Every regular file under `dir`, as `/`-separated paths relative to it,
/// sorted. A missing `dir` has none.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Copies the tree `from` into `to` (created), e.g. blocks into a scratch
/// dir before promtool, which writes `wal/` into whatever it opens.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

/// The block directories (those holding a `meta.json`) directly under
/// `dir`, sorted: by ULID, so in creation order.
pub fn block_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.join("meta.json").is_file() {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_nested_files_relative_and_sorted() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        std::fs::write(tmp.path().join("a/b/x"), "").unwrap();
        std::fs::write(tmp.path().join("c"), "").unwrap();
        assert_eq!(super::files_under(tmp.path()), vec!["a/b/x", "c"]);
        assert!(super::files_under(&tmp.path().join("missing")).is_empty());
        let copy = tmp.path().join("copy");
        super::copy_dir(&tmp.path().join("a"), &copy).unwrap();
        assert_eq!(super::files_under(&copy), vec!["b/x"]);
    }
}
