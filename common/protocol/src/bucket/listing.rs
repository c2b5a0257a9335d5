//! Listings for a campaign of millions of keys: the objects whose keys
//! start with a given text (one plan's files) in one request, and a whole
//! prefix streamed through a fold, never held in memory at once.
//!
//! `object_store` matches prefixes by path segment, so `P/t/20000.` cannot
//! be a listing prefix. The narrow listing instead starts after that text
//! (S3 `start-after`, GCS `startOffset`) under the tenant directory and
//! stops at the first key past it: stores list in key order, so one page
//! holds every file of a plan. A local directory lists in no order and
//! `LocalFileSystem` stats every file it walks, so there the tenant
//! directory is read by name and only the matching files are stat-ed.

use super::retry::Failure;
use super::{object_info, parse_key, parse_prefix, Bucket, BucketKind, ObjectInfo, Result};

impl Bucket {
    /// Every object whose key starts with `key_prefix`, character by
    /// character (`P/t/20000.` is the files of one plan, not those of day
    /// 200001), sorted by key. One LIST request on S3 and GCS, however
    /// many keys the directory holds; on a local directory, one read of
    /// the directory's names.
    pub async fn list_key_prefix(&self, key_prefix: &str) -> Result<Vec<ObjectInfo>> {
        let (dir, name_prefix) = match key_prefix.rsplit_once('/') {
            Some((d, n)) => (d, n),
            None => ("", key_prefix),
        };
        if name_prefix.is_empty() {
            // A directory-like prefix: the ordinary listing is exact.
            return self.list(dir).await;
        }
        let dir_path = parse_prefix(dir)?;
        // The offset is a key of the same directory that sorts just before
        // every key starting with the name prefix.
        let offset = parse_key(key_prefix)?;
        let mut out = match (&self.kind, self.own_store) {
            (BucketKind::Local(root), true) => {
                let fs_dir = if dir.is_empty() {
                    root.clone()
                } else {
                    root.join(dir)
                };
                let (dir, name_prefix) = (dir.to_string(), name_prefix.to_string());
                self.retrying("list", key_prefix, |_| {
                    let (fs_dir, dir, name_prefix) =
                        (fs_dir.clone(), dir.clone(), name_prefix.clone());
                    async move {
                        tokio::task::spawn_blocking(move || {
                            local_names(&fs_dir, &dir, &name_prefix)
                        })
                        .await
                        .map_err(|e| Failure::Store(object_store::Error::JoinError { source: e }))?
                    }
                })
                .await?
            }
            // A store slid underneath (tests) may wrap a local directory,
            // which lists in no order: read the directory to its end.
            (kind, own) => {
                let sorted = own || !matches!(kind, BucketKind::Local(_));
                self.retrying("list", key_prefix, |_| async {
                    if let Some(t) = &self.opts.throttle {
                        t.request().await;
                    }
                    let mut stream = self.store.list_with_offset(dir_path.as_ref(), &offset);
                    let mut out = Vec::new();
                    loop {
                        match self.next_item(&mut stream).await {
                            Ok(Some(m)) => {
                                let o = object_info(m);
                                if o.key.starts_with(key_prefix) {
                                    out.push(o);
                                } else if sorted {
                                    break;
                                }
                            }
                            Ok(None) => break,
                            Err(Failure::Store(object_store::Error::InvalidPath { .. })) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Ok(out)
                })
                .await?
            }
        };
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Folds every object under `prefix` into a value made by `init`,
    /// without keeping the listing: a campaign of millions of keys costs
    /// the fold's state, not the keys. Objects come in key order on S3,
    /// GCS and in memory, and one directory at a time on a local
    /// directory. A listing that fails halfway resumes after the last key
    /// folded where the store lists in key order (a listing of thousands
    /// of pages would rarely get through otherwise), and its retries are
    /// spent only while it gets no further; on a local directory it starts
    /// over from `init()`.
    pub async fn list_fold<T>(
        &self,
        prefix: &str,
        init: impl Fn() -> T,
        step: impl Fn(&mut T, ObjectInfo),
    ) -> Result<T> {
        let p = parse_prefix(prefix)?;
        let sorted = !matches!(self.kind, BucketKind::Local(_));
        let mut fold = Fold {
            acc: init(),
            last: None,
        };
        // Retries are spent on attempts that fold nothing new: a listing
        // that keeps moving forward, a page or so per attempt (a flaky
        // store answering its continuation pages with errors), goes on.
        loop {
            let before = fold.last.clone();
            let cell = tokio::sync::Mutex::new(&mut fold);
            let r = self
                .retrying("list", prefix, |_| async {
                    let mut f = cell.lock().await;
                    self.fold_attempt(p.as_ref(), prefix, sorted, &mut f, &init, &step)
                        .await
                })
                .await;
            match r {
                Ok(()) => return Ok(fold.acc),
                Err(e) if !sorted || fold.last == before => return Err(e),
                Err(e) => tracing::warn!(bucket = %self.url, prefix, error = %e,
                    "listing broke off again further on; going on from the last key"),
            }
        }
    }

    /// One attempt of [`Bucket::list_fold`]: from the last key folded if
    /// the store lists in key order, from scratch otherwise.
    async fn fold_attempt<T>(
        &self,
        p: Option<&object_store::path::Path>,
        prefix: &str,
        sorted: bool,
        f: &mut Fold<T>,
        init: &impl Fn() -> T,
        step: &impl Fn(&mut T, ObjectInfo),
    ) -> Result<(), Failure> {
        if !sorted || f.last.is_none() {
            f.acc = init();
            f.last = None;
        }
        if let Some(t) = &self.opts.throttle {
            t.request().await;
        }
        let mut stream = match &f.last {
            Some(l) => self.store.list_with_offset(p, l),
            None => self.store.list(p),
        };
        loop {
            match self.next_item(&mut stream).await {
                Ok(Some(m)) => {
                    let location = m.location.clone();
                    step(&mut f.acc, object_info(m));
                    if sorted {
                        f.last = Some(location);
                    }
                }
                Ok(None) => return Ok(()),
                Err(Failure::Store(e @ object_store::Error::InvalidPath { .. })) => {
                    let what = e.to_string().escape_debug().to_string();
                    tracing::warn!(bucket = %self.url, prefix, error = %what, "skipping an object whose name is not a valid key");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Bucket {
    /// Folds the keys of the objects at most `depth` levels below `prefix`
    /// (1: its direct children), without sizes or times: what finding new
    /// plans needs (`P/<tenant>/<file>`, depth 2). On a local directory
    /// only the names are read, no file is stat-ed, and one directory's
    /// names are held at a time: a campaign of 100,000 finished plans
    /// lists in a fraction of what [`Bucket::list_fold`] takes there.
    /// Elsewhere it is [`Bucket::list_fold`], order and resumption
    /// included.
    pub async fn list_names_fold<T>(
        &self,
        prefix: &str,
        depth: usize,
        init: impl Fn() -> T,
        step: impl Fn(&mut T, &str),
    ) -> Result<T> {
        let rel = prefix.trim_end_matches('/');
        let (BucketKind::Local(root), true) = (&self.kind, self.own_store) else {
            return self
                .list_fold(prefix, init, |acc, o| {
                    let below = crate::names::relative_key(rel, &o.key)
                        .map_or(usize::MAX, |r| r.split('/').count());
                    if below <= depth {
                        step(acc, &o.key);
                    }
                })
                .await;
        };
        if !rel.is_empty() {
            parse_key(rel)?;
        }
        let dir = if rel.is_empty() {
            root.clone()
        } else {
            root.join(rel)
        };
        let key = |name: &str| {
            if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            }
        };
        self.retrying("list", prefix, |_| async {
            let mut acc = init();
            let d = dir.clone();
            let (files, dirs) = blocking(move || read_level(&d)).await?;
            for f in &files {
                step(&mut acc, &key(f));
            }
            if depth > 1 {
                for sub in dirs {
                    let d = dir.join(&sub);
                    let names = blocking(move || walk_names(&d, depth - 1)).await?;
                    for n in names {
                        step(&mut acc, &key(&format!("{sub}/{n}")));
                    }
                }
            }
            Ok(acc)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Failure::Store(object_store::Error::JoinError { source: e }))?
}

/// The file and directory names directly in `dir` (none if it is gone),
/// symlinks followed; names that are no valid key segment, and
/// `LocalFileSystem`'s in-flight upload files, left out.
fn read_level(dir: &std::path::Path) -> Result<(Vec<String>, Vec<String>), Failure> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(io_failure(dir, e)),
    };
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for entry in entries {
        let entry = entry.map_err(|e| io_failure(dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if is_upload_temp(&name) || parse_key(&name).is_err() {
            continue;
        }
        let ty = entry
            .file_type()
            .map_err(|e| io_failure(&entry.path(), e))?;
        let is_dir = if ty.is_symlink() {
            match std::fs::metadata(entry.path()) {
                Ok(m) if m.is_dir() => true,
                Ok(m) if m.is_file() => false,
                _ => continue,
            }
        } else if ty.is_dir() || ty.is_file() {
            ty.is_dir()
        } else {
            continue;
        };
        if is_dir {
            dirs.push(name);
        } else {
            files.push(name);
        }
    }
    Ok((files, dirs))
}

/// The files at most `depth` levels below `dir`, relative to it. The
/// depth bounds a walk through a symlink loop.
fn walk_names(dir: &std::path::Path, depth: usize) -> Result<Vec<String>, Failure> {
    let (mut files, dirs) = read_level(dir)?;
    if depth > 1 {
        for sub in dirs {
            for n in walk_names(&dir.join(&sub), depth - 1)? {
                files.push(format!("{sub}/{n}"));
            }
        }
    }
    Ok(files)
}

/// A [`Bucket::list_fold`] under way: its value and the last key folded.
struct Fold<T> {
    acc: T,
    last: Option<object_store::path::Path>,
}

/// The files of local directory `fs_dir` (key `dir`) whose names start
/// with `name_prefix`: names read first, only the matches stat-ed, as
/// `LocalFileSystem` would list them (symlinks followed, its in-flight
/// upload files `name#<digits>` left out).
fn local_names(
    fs_dir: &std::path::Path,
    dir: &str,
    name_prefix: &str,
) -> Result<Vec<ObjectInfo>, Failure> {
    let entries = match std::fs::read_dir(fs_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_failure(fs_dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_failure(fs_dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if !name.starts_with(name_prefix) || is_upload_temp(name) {
            continue;
        }
        let meta = match std::fs::metadata(entry.path()) {
            Ok(m) => m,
            // Deleted since the directory was read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_failure(&entry.path(), e)),
        };
        if !meta.is_file() {
            continue;
        }
        let key = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        if parse_key(&key).is_err() {
            continue;
        }
        out.push(ObjectInfo {
            key,
            size: meta.len(),
            last_modified: meta
                .modified()
                .map(chrono::DateTime::<chrono::Utc>::from)
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// `LocalFileSystem` writes an upload to `<name>#<digits>` and renames it.
fn is_upload_temp(name: &str) -> bool {
    name.split_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn io_failure(path: &std::path::Path, e: std::io::Error) -> Failure {
    Failure::Store(object_store::Error::Generic {
        store: "LocalFileSystem",
        source: format!("{}: {e}", path.display()).into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fill(b: &Bucket) {
        for k in [
            "P/t/1.plan",
            "P/t/1.progress",
            "P/t/10.plan",
            "P/t/10.attempt.1",
            "P/t/100.plan",
            "P/t/2.plan",
            "P/t/2.finished.01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "P/u/1.plan",
            "P/t1/1.plan",
        ] {
            b.put(k, "x").await.unwrap();
        }
    }

    async fn keys(b: &Bucket, p: &str) -> Vec<String> {
        b.list_key_prefix(p)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    #[tokio::test]
    async fn a_key_prefix_lists_one_plans_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let local = Bucket::open(dir.path().to_str().unwrap()).unwrap();
        let mem = Bucket::open("memory://").unwrap();
        // A local directory behind a slid-in store lists in no order.
        let mapped = Bucket::open(dir.path().join("m").to_str().unwrap())
            .unwrap()
            .map_store(|s| s);
        for b in [&local, &mem, &mapped] {
            fill(b).await;
            assert_eq!(
                keys(b, "P/t/1.").await,
                ["P/t/1.plan", "P/t/1.progress"],
                "{b:?}"
            );
            assert_eq!(
                keys(b, "P/t/10.").await,
                ["P/t/10.attempt.1", "P/t/10.plan"]
            );
            assert_eq!(
                keys(b, "P/t/2.").await,
                ["P/t/2.finished.01ARZ3NDEKTSV4RRFFQ69G5FAV", "P/t/2.plan"]
            );
            assert!(keys(b, "P/t/3.").await.is_empty());
            assert!(keys(b, "P/nobody/1.").await.is_empty());
            assert_eq!(keys(b, "P/u/").await, ["P/u/1.plan"]);
        }
    }

    #[tokio::test]
    async fn a_fold_sees_every_object_once() {
        let b = Bucket::open("memory://").unwrap();
        fill(&b).await;
        let n = b
            .list_fold("P/t", Vec::new, |v, o| v.push(o.key))
            .await
            .unwrap();
        assert_eq!(n.len(), 7);
        assert!(n.windows(2).all(|w| w[0] < w[1]), "{n:?}");
    }

    #[tokio::test]
    async fn a_fold_cut_off_resumes_after_the_last_key() {
        use testkit::faults::{Fault, FaultStore, Faults, Op, Rule};
        let faults = Faults::new();
        let f = faults.clone();
        let b = Bucket::open("memory://")
            .unwrap()
            .with_options(super::super::BucketOptions {
                retry: super::super::RetryPolicy {
                    retries: 2,
                    min_backoff: std::time::Duration::from_millis(1),
                    max_backoff: std::time::Duration::from_millis(4),
                },
                op_timeout: None,
                throttle: None,
            })
            .map_store(move |s| FaultStore::with_faults(s, f));
        fill(&b).await;
        // Each of 6 attempts breaks off after one object, each resuming
        // where the last one broke off: more than the 2 retries allowed,
        // but every attempt gets further.
        faults.fail(Rule::error(Op::List, "P", 6).with_fault(Fault::BrokenBody));
        let steps = std::sync::atomic::AtomicUsize::new(0);
        let n = b
            .list_fold("P", Vec::new, |v, o| {
                steps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                v.push(o.key)
            })
            .await
            .unwrap();
        assert_eq!(n.len(), 9, "{n:?}");
        assert!(n.windows(2).all(|w| w[0] < w[1]), "{n:?}");
        assert_eq!(steps.into_inner(), 9, "no object folded twice");
    }

    #[tokio::test]
    async fn a_names_fold_sees_what_a_fold_sees_to_its_depth() {
        let dir = tempfile::tempdir().unwrap();
        let local = Bucket::open(dir.path().to_str().unwrap()).unwrap();
        let mem = Bucket::open("memory://").unwrap();
        for b in [&local, &mem] {
            fill(b).await;
            b.put("P/t/01ARZ3NDEKTSV4RRFFQ69G5FAV/meta.json", "{}")
                .await
                .unwrap();
            b.put("P/scan-complete", "").await.unwrap();
            let mut names = b
                .list_names_fold("P", 2, Vec::new, |v, k| v.push(k.to_string()))
                .await
                .unwrap();
            names.sort();
            let mut want: Vec<String> = b
                .list("P")
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.key)
                .filter(|k| !k.contains("meta.json"))
                .collect();
            want.sort();
            assert_eq!(names, want, "{b:?}");
            let top = b
                .list_names_fold("P/", 1, Vec::new, |v, k| v.push(k.to_string()))
                .await
                .unwrap();
            assert_eq!(top, ["P/scan-complete"], "{b:?}");
        }
    }

    #[test]
    fn upload_temp_names() {
        assert!(is_upload_temp("1.progress#12"));
        assert!(!is_upload_temp("1.progress"));
        assert!(!is_upload_temp("a#b"));
        assert!(!is_upload_temp("a#"));
    }
}
