//! Building a plan of Prometheus blocks: the blocks of every replica that
//! overlap the day, merged by series into one block.
//!
//! Entries come in preference order (first source listed, then earlier
//! blocks), and so do the samples handed to the sink for each series, so
//! that of equal timestamps the sink keeps the first source's value.
//!
//! A block's series come sorted by their full label sets. Removing replica
//! labels (`drop_labels`) can break that order: `{a="1",r="x"}` sorts after
//! `{a="1",b="2",r="x"}`, but `{a="1"}` sorts before `{a="1",b="2"}`, and two
//! series of one block may become one. So each block with labels to drop is
//! checked first, reading its index only; if the order survives (the usual
//! case: a replica label that no series carries, or one every series
//! carries in the same place), its series are streamed as they are,
//! otherwise they go through the external sort, bounded by the memory
//! budget. Only chunks overlapping the day are decoded.
//!
//! Not for: deciding which blocks belong to a day (the scanner), or chunk
//! cutting and deduplication (the sink).

use std::cmp::Ordering;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use base::codec::{get_f64, get_uvarint, get_varint, put_f64, put_uvarint, put_varint};
use base::Labels;
use protocol::bucket::Bucket;
use protocol::names::PlanId;
use protocol::plan::PlanEntry;
use sort::{ExternalSorter, SortRecord, Sorted};
use tracing::info;
use tsdb::{BlockReadError, BlockReader, ChunkMeta};

use crate::plan_build::BuiltBlock;
use crate::sink::DaySink;
use crate::worker::BuilderConfig;

/// Why the series of a source block cannot be merged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    #[error("block {block}: series {series} comes after {previous}: the index is not sorted")]
    OutOfOrder {
        block: String,
        series: String,
        previous: String,
    },
    #[error("block {block}: series {series} has no label left after dropping {dropped:?}")]
    EmptyAfterDrop {
        block: String,
        series: String,
        dropped: Vec<String>,
    },
    #[error("block URL {url:?}: {reason}")]
    BadBlockUrl { url: String, reason: &'static str },
}

pub(crate) async fn build(
    cfg: &BuilderConfig,
    id: &PlanId,
    entries: Vec<PlanEntry>,
    work: tempfile::TempDir,
) -> Result<BuiltBlock> {
    // Every entry is checked before any is read: the plan comes from the
    // bucket, and a forged one must not make this builder open a path or
    // URL it was not given (another tenant's blocks, a metadata endpoint).
    let mut admitted = Vec::with_capacity(entries.len());
    for e in entries {
        let PlanEntry::Prometheus { block, drop_labels } = e else {
            bail!("not a prometheus entry");
        };
        let local = admit_block(&cfg.prometheus_roots, &block)?;
        admitted.push((block, drop_labels, local));
    }
    let mut sources = Vec::with_capacity(admitted.len());
    for (i, (block, drop_labels, local)) in admitted.into_iter().enumerate() {
        let dir = match local {
            Some(dir) => dir,
            None => fetch_block(&block, &work.path().join(format!("src-{i}")))
                .await
                .with_context(|| format!("fetching source block {block}"))?,
        };
        sources.push(SourceInput {
            url: block,
            dir,
            drop_labels,
        });
    }
    crate::failpoint::reached(crate::failpoint::Stage::Fetching);
    let (day_start, day_end) = (id.day_start_ms(), id.day_end_ms());
    let budget = cfg.memory_budget;
    let tenant = id.tenant.clone();
    let parent = work.path().to_path_buf();
    let block = cfg.block_ulid();
    let (dir, meta, stats) = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut sink = DaySink::create(
            &parent,
            block,
            day_start,
            day_end,
            (budget / 2).max(1 << 20),
        )?;
        let merged = merge_blocks(
            &sources,
            &parent,
            day_start,
            day_end,
            budget / 2,
            &mut |l, s| sink.add_series(l, s).map_err(anyhow::Error::from),
        )?;
        info!(
            blocks = sources.len(),
            resorted = merged.resorted,
            "source blocks merged"
        );
        Ok(sink.finish(&tenant)?)
    })
    .await??;
    Ok(BuiltBlock {
        dir,
        meta,
        stats,
        consumed: Vec::new(),
        work,
    })
}

/// A block location as the confinement check sees it.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    /// An absolute local path, not yet resolved.
    Local(PathBuf),
    /// `scheme://bucket/a/b`: the scheme and the `/`-separated parts after it.
    Remote(String, Vec<String>),
}

/// Parses a root (`--source`, from the user) or an entry (from a plan);
/// `..`, `.`, empty parts and query strings are refused outright rather
/// than normalised, since a plan has no reason to carry them.
fn location(s: &str) -> Result<Location, &'static str> {
    if s.chars()
        .any(|c| c.is_control() || c == '\\' || c == '?' || c == '#')
    {
        return Err("control characters, backslashes, '?' and '#' are not allowed");
    }
    let parts = |rest: &str| -> Result<Vec<String>, &'static str> {
        let rest = rest.trim_end_matches('/');
        let v: Vec<String> = rest.split('/').map(str::to_string).collect();
        if v.iter().any(|p| p.is_empty() || p == "." || p == "..") {
            return Err("empty, '.' and '..' path components are not allowed");
        }
        Ok(v)
    };
    match s.split_once("://") {
        Some(("file", rest)) => {
            if !rest.starts_with('/') {
                return Err("file:// URLs need an absolute path");
            }
            parts(&rest[1..])?;
            Ok(Location::Local(PathBuf::from(rest)))
        }
        Some((scheme, rest)) => Ok(Location::Remote(scheme.to_string(), parts(rest)?)),
        None if s.starts_with('/') => {
            parts(&s[1..])?;
            Ok(Location::Local(PathBuf::from(s)))
        }
        None => Err("a relative path"),
    }
}

/// Checks that plan entry `block` names a block under one of `roots` (the
/// builder's `--source prometheus:ROOT,...`), the way the scanner found
/// them: a root that is itself a block, or a block directory directly
/// under a root. Local paths are compared after resolving symlinks, so a
/// link inside a root cannot lead out of it, and the block's own files
/// must stay inside it too. Returns the resolved directory of a local
/// block (read in place); `None` for a remote one, to be downloaded.
fn admit_block(roots: &[String], block: &str) -> Result<Option<PathBuf>> {
    let refuse = |why: &str| {
        anyhow::anyhow!(
            "prometheus entry {:?} refused: {why}; this builder reads only blocks under its \
             sources ({})",
            block.escape_debug().to_string(),
            if roots.is_empty() {
                "none given: pass --source prometheus:ROOT[,ROOT...] as to the scan".to_string()
            } else {
                roots.join(", ")
            }
        )
    };
    let entry = location(block).map_err(refuse)?;
    let name_ok = |name: Option<&str>| name.is_some_and(|n| ulid::Ulid::from_string(n).is_ok());
    match entry {
        Location::Remote(scheme, parts) => {
            if !name_ok(parts.last().map(String::as_str)) {
                return Err(refuse("the last path element is not a block ULID"));
            }
            let parent = &parts[..parts.len() - 1];
            for r in roots {
                if let Ok(Location::Remote(rs, rp)) = location(r) {
                    if rs == scheme && rp.as_slice() == parent {
                        return Ok(None);
                    }
                }
            }
            Err(refuse("not a block directly under a source root"))
        }
        Location::Local(path) => {
            if !name_ok(path.file_name().and_then(|n| n.to_str())) {
                return Err(refuse("the last path element is not a block ULID"));
            }
            // Resolving only looks at directory entries; nothing is read.
            let real = std::fs::canonicalize(&path)
                .map_err(|e| refuse(&format!("cannot resolve {}: {e}", path.display())))?;
            let under = roots.iter().any(|r| {
                let Ok(Location::Local(root)) = location(r) else {
                    return false;
                };
                std::fs::canonicalize(root)
                    .is_ok_and(|root| real == root || real.parent() == Some(root.as_path()))
            });
            if !under {
                return Err(refuse(&format!(
                    "{} is not a block directly under a source root",
                    real.display()
                )));
            }
            if let Some(file) = escaping_file(&real) {
                return Err(refuse(&format!(
                    "{} leads out of the block through a symlink",
                    file.display()
                )));
            }
            Ok(Some(real))
        }
    }
}

/// A file or directory under `dir` (a block: two levels deep) whose
/// resolved path leaves `dir`, or that cannot be resolved.
fn escaping_file(dir: &Path) -> Option<PathBuf> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            return Some(d);
        };
        for e in entries {
            let Ok(e) = e else { return Some(d) };
            let p = e.path();
            match std::fs::canonicalize(&p) {
                Ok(real) if real.starts_with(dir) => {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        pending.push(p);
                    }
                }
                _ => return Some(p),
            }
        }
    }
    None
}

/// A series and its samples, as merged.
pub(crate) type Series = (Labels, Vec<(i64, f64)>);

/// Where merged series go, one call per series in label order.
pub(crate) type SeriesOut<'a> = dyn FnMut(&Labels, &[(i64, f64)]) -> Result<()> + 'a;

/// One source block of a plan, on local disk.
#[derive(Clone, Debug)]
pub(crate) struct SourceInput {
    pub url: String,
    pub dir: PathBuf,
    pub drop_labels: Vec<String>,
}

/// What a merge did beyond the sink's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MergeStats {
    /// Blocks whose series had to be re-sorted after dropping labels.
    pub resorted: usize,
}

/// The local directory of a block URL: in place for `file://` URLs and
/// plain paths, otherwise downloaded into `dest` (which must not exist).
pub async fn fetch_block(url: &str, dest: &Path) -> Result<PathBuf> {
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(bad_url(url, "file:// URLs need an absolute path").into());
        }
        return Ok(PathBuf::from(path));
    }
    if !url.contains("://") {
        return Ok(PathBuf::from(url));
    }
    let Some((parent, name)) = url.trim_end_matches('/').rsplit_once('/') else {
        return Err(bad_url(url, "no block directory name").into());
    };
    // The name comes from a plan in the bucket: it must be a block ULID,
    // which also keeps it from escaping the work dir.
    if ulid::Ulid::from_string(name).is_err() {
        return Err(bad_url(url, "the last path element is not a block ULID").into());
    }
    let bucket = Bucket::open(parent)?;
    let block_dir = dest.join(name);
    let objects = bucket.list(name).await?;
    if objects.is_empty() {
        bail!("block {url}: no objects");
    }
    for o in objects {
        let rel = o.key.strip_prefix(&format!("{name}/")).unwrap_or(&o.key);
        let safe = Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(bad_url(
                url,
                "an object name inside the block is not a plain relative path",
            )
            .into());
        }
        let file = block_dir.join(rel);
        if let Some(p) = file.parent() {
            std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
        }
        bucket.download_file(&o.key, &file).await?;
    }
    Ok(block_dir)
}

fn bad_url(url: &str, reason: &'static str) -> MergeError {
    MergeError::BadBlockUrl {
        url: url.to_string(),
        reason,
    }
}

/// Merges the series of `sources` (in preference order) restricted to
/// chunks overlapping `[day_start, day_end)`, calling `out` once per series
/// in label order with the samples of all sources, time-ordered, the
/// preferred source's first among equal timestamps. Sort runs go under
/// `work`, bounded by `sort_budget` bytes in all.
pub(crate) fn merge_blocks(
    sources: &[SourceInput],
    work: &Path,
    day_start: i64,
    day_end: i64,
    sort_budget: usize,
    out: &mut SeriesOut<'_>,
) -> Result<MergeStats> {
    let mut readers = Vec::with_capacity(sources.len());
    for s in sources {
        readers.push(BlockReader::open(&s.dir).with_context(|| format!("source block {}", s.url))?);
    }
    let mut needs_sort = Vec::with_capacity(sources.len());
    for (s, r) in sources.iter().zip(&readers) {
        needs_sort.push(!order_survives(r, s)?);
    }
    let sorting = needs_sort.iter().filter(|&&n| n).count();
    let stats = MergeStats { resorted: sorting };
    let per_sort = (sort_budget / sorting.max(1)).max(1 << 20);
    let window = (day_start, day_end);
    let mut streams = Vec::with_capacity(sources.len());
    for ((s, r), sort) in sources.iter().zip(&readers).zip(needs_sort) {
        streams.push(if sort {
            Stream::Sorted(sort_block(r, s, window, work, per_sort)?)
        } else {
            Stream::Direct(Box::new(DirectStream {
                reader: r,
                source: s,
                series: Box::new(r.series()),
                previous: None,
                window,
            }))
        });
    }
    let mut heads = Vec::with_capacity(streams.len());
    for st in &mut streams {
        heads.push(st.next()?);
    }
    let mut samples = Vec::new();
    while let Some(min) = heads.iter().flatten().map(|(l, _)| l).min().cloned() {
        samples.clear();
        for (head, st) in heads.iter_mut().zip(&mut streams) {
            // A re-sorted block may hold the series more than once (two of
            // its series became one): take every copy.
            while head.as_ref().is_some_and(|(l, _)| *l == min) {
                if let Some((_, s)) = head.take() {
                    samples.extend(s);
                }
                *head = st.next()?;
            }
        }
        // Stable: equal timestamps keep source preference order.
        samples.sort_by_key(|&(t, _)| t);
        out(&min, &samples)?;
    }
    Ok(stats)
}

/// Whether the block's series stay strictly sorted once the labels are
/// dropped; reads the index only.
fn order_survives(r: &BlockReader, s: &SourceInput) -> Result<bool> {
    if s.drop_labels.is_empty() {
        return Ok(true);
    }
    let mut previous: Option<Labels> = None;
    for item in r.series() {
        let (labels, _) = item.with_context(|| format!("source block {}", s.url))?;
        let dropped = labels.without(&s.drop_labels);
        if previous
            .as_ref()
            .is_some_and(|p| p.cmp(&dropped) != Ordering::Less)
        {
            return Ok(false);
        }
        previous = Some(dropped);
    }
    Ok(true)
}

/// The samples of the chunks of one series that overlap the window.
fn window_samples(
    r: &BlockReader,
    chunks: &[ChunkMeta],
    (start, end): (i64, i64),
) -> Result<Vec<(i64, f64)>, BlockReadError> {
    let mut out = Vec::new();
    for c in chunks
        .iter()
        .filter(|c| c.max_time >= start && c.min_time < end)
    {
        out.extend(r.chunk_samples(c)?);
    }
    Ok(out)
}

/// The series of a block (labels dropped), or the error naming it.
fn dropped_labels(s: &SourceInput, labels: &Labels) -> Result<Labels, MergeError> {
    let dropped = labels.without(&s.drop_labels);
    if dropped.is_empty() {
        return Err(MergeError::EmptyAfterDrop {
            block: s.url.clone(),
            series: labels.to_string(),
            dropped: s.drop_labels.clone(),
        });
    }
    Ok(dropped)
}

type SeriesIter<'a> =
    Box<dyn Iterator<Item = Result<(Labels, Vec<ChunkMeta>), BlockReadError>> + 'a>;

enum Stream<'a> {
    Direct(Box<DirectStream<'a>>),
    Sorted(Sorted<SeriesRecord>),
}

impl Stream<'_> {
    fn next(&mut self) -> Result<Option<Series>> {
        match self {
            Stream::Direct(d) => d.next(),
            Stream::Sorted(s) => match s.next() {
                None => Ok(None),
                Some(r) => {
                    let r = r.context("reading re-sorted series back")?;
                    Ok(Some((r.labels, r.samples)))
                }
            },
        }
    }
}

/// A block read in index order, with a check that the order holds.
struct DirectStream<'a> {
    reader: &'a BlockReader,
    source: &'a SourceInput,
    series: SeriesIter<'a>,
    previous: Option<Labels>,
    window: (i64, i64),
}

impl DirectStream<'_> {
    fn next(&mut self) -> Result<Option<Series>> {
        let ctx = || format!("source block {}", self.source.url);
        for item in self.series.by_ref() {
            let (labels, chunks) = item.with_context(ctx)?;
            let labels = dropped_labels(self.source, &labels)?;
            if let Some(p) = &self.previous {
                if *p >= labels {
                    return Err(MergeError::OutOfOrder {
                        block: self.source.url.clone(),
                        series: labels.to_string(),
                        previous: p.to_string(),
                    }
                    .into());
                }
            }
            self.previous = Some(labels.clone());
            let samples = window_samples(self.reader, &chunks, self.window).with_context(ctx)?;
            if !samples.is_empty() {
                return Ok(Some((labels, samples)));
            }
        }
        Ok(None)
    }
}

/// Every series of a block with labels dropped, sorted by the new labels
/// (stable: copies of one series stay in index order).
fn sort_block(
    r: &BlockReader,
    s: &SourceInput,
    window: (i64, i64),
    work: &Path,
    budget: usize,
) -> Result<Sorted<SeriesRecord>> {
    let ctx = || format!("source block {}", s.url);
    let mut sorter = ExternalSorter::new(work, budget)
        .with_context(|| format!("sort runs in {}", work.display()))?;
    for item in r.series() {
        let (labels, chunks) = item.with_context(ctx)?;
        let labels = dropped_labels(s, &labels)?;
        let samples = window_samples(r, &chunks, window).with_context(ctx)?;
        if !samples.is_empty() {
            sorter
                .push(SeriesRecord { labels, samples })
                .with_context(ctx)?;
        }
    }
    sorter.finish().with_context(ctx)
}

/// A series of a re-sorted block; ordered by labels only.
struct SeriesRecord {
    labels: Labels,
    samples: Vec<(i64, f64)>,
}

impl PartialEq for SeriesRecord {
    fn eq(&self, other: &Self) -> bool {
        self.labels == other.labels
    }
}
impl Eq for SeriesRecord {}
impl PartialOrd for SeriesRecord {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for SeriesRecord {
    fn cmp(&self, other: &Self) -> Ordering {
        self.labels.cmp(&other.labels)
    }
}

impl SortRecord for SeriesRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        self.labels.encode(out);
        put_uvarint(out, self.samples.len() as u64);
        let mut prev = 0i64;
        for &(t, v) in &self.samples {
            put_varint(out, t.wrapping_sub(prev));
            put_f64(out, v);
            prev = t;
        }
    }

    fn decode(buf: &mut &[u8]) -> std::io::Result<Self> {
        let labels = Labels::decode(buf)?;
        let n = get_uvarint(buf)? as usize;
        let mut samples = Vec::with_capacity(n.min(1 << 20));
        let mut prev = 0i64;
        for _ in 0..n {
            prev = prev.wrapping_add(get_varint(buf)?);
            samples.push((prev, get_f64(buf)?));
        }
        Ok(SeriesRecord { labels, samples })
    }

    fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.labels.heap_size() + self.samples.capacity() * 16
    }
}

#[cfg(test)]
mod tests;
