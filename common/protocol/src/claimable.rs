//! The claimable-plans index: the new plans of the scheduler's last
//! listing, in shard files `P/claimable.<i>`, so that a builder refills
//! its candidate pool with one GET instead of a listing of the whole
//! campaign (thousands of LIST pages at a million plans).
//!
//! The index is derived and may be old, absent or forged: plan files stay
//! the truth. A builder claims an indexed plan exactly as one of its own
//! listing (create-if-absent of the progress file, then of the attempt file
//! one past the highest attempt the index saw, which fences an old index as
//! it fences an old listing), and falls back to listing the prefix when the
//! index does not help. Every entry is parsed with the same code as a
//! listing's keys ([`crate::names::split_plan_key`], tenant validation,
//! [`crate::names::parse_file_name_ref`]).
//!
//! Shard `i` of `S` holds the plans whose ring position ([`ring_of`]) falls
//! in the `i`-th of `S` equal ranges of the ring, sorted by ring position:
//! a builder reads the shard at its own position and claims forward, then
//! the next shard. The format is lines of text, small and streamable:
//!
//! ```text
//! blocksconvert-claimable 1 <as_of RFC 3339> <i> <S> <entries>
//! <highest attempt seen> <tenant>/<day>.plan[.<compression>]
//! ...
//! ```
//!
//! Not here: deciding when to publish (the scheduler) or to read (the
//! builder's claimer).

use chrono::{DateTime, Utc};

use crate::names::{
    join_prefix, parse_file_name_ref, split_plan_key, PlanCompression, PlanFileRef, PlanId,
};
use crate::tenant::validate_tenant;

/// Top-level names of the index's shards: `P/claimable.<i>`. The dot keeps
/// them apart from tenant directories, like `P/scanned.<unit>`.
pub const CLAIMABLE_PREFIX: &str = "claimable.";
/// Plans a shard holds on average: about 300 KB, one GET.
pub const PLANS_PER_SHARD: usize = 10_000;
/// Entries a shard may hold before a reader refuses it: well above what
/// the scheduler writes (ring ranges are even), far below what would hurt
/// a builder's memory.
pub const MAX_SHARD_ENTRIES: usize = 20 * PLANS_PER_SHARD;
/// Shards an index has at most: a campaign of a billion plans.
pub const MAX_SHARDS: u32 = 100_000;
const MAGIC: &str = "blocksconvert-claimable";
const VERSION: &str = "1";

/// The key of shard `i`: `P/claimable.<i>`.
pub fn shard_key(prefix: &str, i: u32) -> String {
    join_prefix(prefix, &format!("{CLAIMABLE_PREFIX}{i}"))
}

/// The key prefix of every shard, for one listing of them
/// ([`crate::bucket::Bucket::list_key_prefix`]).
pub fn shards_key_prefix(prefix: &str) -> String {
    join_prefix(prefix, CLAIMABLE_PREFIX)
}

/// The shard number in a key of the index, if it is one.
pub fn parse_shard_key(prefix: &str, key: &str) -> Option<u32> {
    let rel = crate::names::relative_key(prefix, key)?;
    let n = rel.strip_prefix(CLAIMABLE_PREFIX)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.len() > 10 {
        return None;
    }
    n.parse().ok()
}

/// Where a plan sits on the ring that builders order plans by: the same
/// for every builder and for the scheduler's index, so builders starting
/// at different positions claim different plans.
pub fn ring_of(id: &PlanId) -> u64 {
    let mut h = base::fnv1a64(id.tenant.as_bytes()) ^ (id.day as u32 as u64);
    // fnv's low bits mix poorly for near keys; finish with splitmix64.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The shard of `shards` whose ring range holds `ring`.
pub fn shard_of(ring: u64, shards: u32) -> u32 {
    ((u128::from(ring) * u128::from(shards.max(1))) >> 64) as u32
}

/// How many shards an index of `plans` plans has.
pub fn shard_count(plans: usize) -> u32 {
    u32::try_from(plans.div_ceil(PLANS_PER_SHARD))
        .unwrap_or(MAX_SHARDS)
        .clamp(1, MAX_SHARDS)
}

/// One claimable plan of the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimableEntry {
    /// The plan.
    pub id: PlanId,
    /// Its plan file's compression.
    pub compression: PlanCompression,
    /// The highest attempt number the listing saw (0: none); a claim
    /// writes the next.
    pub attempt: u32,
}

/// One shard of the index.
#[derive(Clone, Debug, PartialEq)]
pub struct Shard {
    /// When the listing it comes from started: no plan became unclaimable
    /// before this time without the listing seeing it.
    pub as_of: DateTime<Utc>,
    /// Its number, `0..shards`.
    pub index: u32,
    /// How many shards this version of the index has.
    pub shards: u32,
    /// Its plans, in ring order.
    pub entries: Vec<ClaimableEntry>,
}

/// A shard read back: its entries that parse, and what was dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedShard {
    /// The shard, with only the entries that parse.
    pub shard: Shard,
    /// Entries dropped: no valid plan key under the prefix.
    pub rejected: u64,
    /// The first dropped entry, escaped, for a log line.
    pub first_rejected: Option<String>,
}

/// Why a shard is not usable at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("claimable-plans shard: {0}")]
pub struct ShardError(String);

impl Shard {
    /// The shards of an index of `entries` (any order), listed at `as_of`.
    pub fn split(as_of: DateTime<Utc>, entries: Vec<ClaimableEntry>) -> Vec<Shard> {
        let shards = shard_count(entries.len());
        let mut out: Vec<Shard> = (0..shards)
            .map(|index| Shard {
                as_of,
                index,
                shards,
                entries: Vec::new(),
            })
            .collect();
        let mut ranked: Vec<(u64, ClaimableEntry)> =
            entries.into_iter().map(|e| (ring_of(&e.id), e)).collect();
        ranked.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        for (ring, e) in ranked {
            out[shard_of(ring, shards) as usize].entries.push(e);
        }
        out
    }

    /// The shard as stored.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::with_capacity(64 + self.entries.len() * 32);
        s.push_str(&format!(
            "{MAGIC} {VERSION} {} {} {} {}\n",
            self.as_of
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            self.index,
            self.shards,
            self.entries.len()
        ));
        for e in &self.entries {
            let rel = e.id.plan_key("", e.compression);
            s.push_str(&format!("{} {rel}\n", e.attempt));
        }
        s.into_bytes()
    }

    /// Reads a shard of the index of `prefix`. The header must be whole
    /// and consistent (else the shard is refused); an entry that does not
    /// name a valid plan file under the prefix is dropped and counted.
    pub fn parse(prefix: &str, body: &[u8]) -> Result<ParsedShard, ShardError> {
        let text = std::str::from_utf8(body).map_err(|_| ShardError("not UTF-8".into()))?;
        let mut lines = text.split_terminator('\n');
        let header = lines.next().ok_or_else(|| ShardError("empty".into()))?;
        let f: Vec<&str> = header.split(' ').collect();
        let [magic, version, as_of, index, shards, count] = f[..] else {
            return Err(ShardError("no header".into()));
        };
        if magic != MAGIC || version != VERSION {
            return Err(ShardError("unknown format".into()));
        }
        let bad = |what: &str| ShardError(format!("bad {what} in the header"));
        let as_of = DateTime::parse_from_rfc3339(as_of)
            .map_err(|_| bad("time"))?
            .with_timezone(&Utc);
        let index: u32 = index.parse().map_err(|_| bad("shard number"))?;
        let shards: u32 = shards.parse().map_err(|_| bad("shard count"))?;
        let count: usize = count.parse().map_err(|_| bad("entry count"))?;
        if shards == 0 || shards > MAX_SHARDS || index >= shards {
            return Err(bad("shard number"));
        }
        if count > MAX_SHARD_ENTRIES {
            return Err(ShardError(format!("{count} entries, over the cap")));
        }
        let mut out = ParsedShard {
            shard: Shard {
                as_of,
                index,
                shards,
                entries: Vec::with_capacity(count),
            },
            rejected: 0,
            first_rejected: None,
        };
        let mut seen = 0usize;
        for line in lines {
            seen += 1;
            if seen > count {
                return Err(ShardError("more entries than the header says".into()));
            }
            match parse_entry(prefix, line) {
                Some(e) => out.shard.entries.push(e),
                None => {
                    out.rejected += 1;
                    if out.first_rejected.is_none() {
                        let shown: String = line.chars().take(300).collect();
                        out.first_rejected = Some(shown.escape_debug().to_string());
                    }
                }
            }
        }
        if seen != count {
            return Err(ShardError(format!(
                "{seen} entries, the header says {count}: cut short"
            )));
        }
        Ok(out)
    }
}

/// One entry, parsed as a listing's key would be.
fn parse_entry(prefix: &str, line: &str) -> Option<ClaimableEntry> {
    let (attempt, rel) = line.split_once(' ')?;
    if attempt.is_empty() || attempt.len() > 10 || !attempt.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let attempt: u32 = attempt.parse().ok()?;
    let key = join_prefix(prefix, rel);
    let (tenant, file) = split_plan_key(prefix, &key)?;
    validate_tenant(tenant).ok()?;
    let (day, PlanFileRef::Plan(compression)) = parse_file_name_ref(file)? else {
        return None;
    };
    let id = PlanId {
        tenant: tenant.to_string(),
        day,
    };
    // Only the canonical spelling: the key a claim will use is rebuilt
    // from the ID, so it must be the key the entry names.
    (id.plan_key(prefix, compression) == key).then_some(ClaimableEntry {
        id,
        compression,
        attempt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t: &str, day: i32, c: PlanCompression, attempt: u32) -> ClaimableEntry {
        ClaimableEntry {
            id: PlanId {
                tenant: t.into(),
                day,
            },
            compression: c,
            attempt,
        }
    }

    #[test]
    fn shards_round_trip_in_ring_order() {
        let as_of = DateTime::parse_from_rfc3339("2026-12-01T05:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let entries: Vec<ClaimableEntry> = (0..25_000)
            .map(|i| {
                let c = [PlanCompression::None, PlanCompression::Snappy][i % 2];
                entry(
                    &format!("team-{}", i % 700),
                    20_000 - (i / 700) as i32,
                    c,
                    (i % 3) as u32,
                )
            })
            .collect();
        let shards = Shard::split(as_of, entries.clone());
        assert_eq!(shards.len(), 3);
        let mut back = Vec::new();
        for s in &shards {
            let p = Shard::parse("P/x", &s.encode()).unwrap();
            assert_eq!(p.rejected, 0);
            assert_eq!(&p.shard, s);
            let rings: Vec<u64> = s.entries.iter().map(|e| ring_of(&e.id)).collect();
            assert!(rings.windows(2).all(|w| w[0] <= w[1]));
            assert!(rings.iter().all(|&r| shard_of(r, 3) == s.index));
            back.extend(p.shard.entries);
        }
        let key = |e: &ClaimableEntry| (e.id.clone(), e.attempt);
        let mut a: Vec<_> = entries.iter().map(key).collect();
        let mut b: Vec<_> = back.iter().map(key).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        // Also under an empty prefix, and an empty index is one shard.
        let empty = Shard::split(as_of, Vec::new());
        assert_eq!(empty.len(), 1);
        assert_eq!(
            Shard::parse("", &empty[0].encode()).unwrap().shard,
            empty[0]
        );
    }

    #[test]
    fn forged_entries_are_dropped_and_broken_shards_refused() {
        let head = |n: usize| format!("{MAGIC} 1 2026-12-01T05:00:00Z 0 1 {n}\n");
        let lines = [
            "0 t/20000.plan",
            "2 team_b.prod/19000.plan.snappy",
            "0 ../t/20000.plan",
            "0 t/../20000.plan",
            "0 a b/20000.plan",
            "0 t/20000.progress",
            "0 t/20000.finished.01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "0 t/x/20000.plan",
            "x t/20000.plan",
            "-1 t/20000.plan",
            "0 t/020000.plan",
            "0 /t/20000.plan",
            "0 t\u{7}/20000.plan",
            "99999999999 t/20000.plan",
            "0",
        ];
        let body = format!("{}{}\n", head(lines.len()), lines.join("\n"));
        let p = Shard::parse("P", body.as_bytes()).unwrap();
        let ids: Vec<(String, i32, u32)> = p
            .shard
            .entries
            .iter()
            .map(|e| (e.id.tenant.clone(), e.id.day, e.attempt))
            .collect();
        assert_eq!(
            ids,
            [("t".into(), 20000, 0), ("team_b.prod".into(), 19000, 2)]
        );
        assert_eq!(p.rejected, lines.len() as u64 - 2);
        assert!(p.first_rejected.unwrap().contains("../t"));

        for broken in [
            String::new(),
            "hello\n".to_string(),
            format!("{MAGIC} 2 2026-12-01T05:00:00Z 0 1 0\n"),
            format!("{MAGIC} 1 yesterday 0 1 0\n"),
            format!("{MAGIC} 1 2026-12-01T05:00:00Z 1 1 0\n"),
            format!("{MAGIC} 1 2026-12-01T05:00:00Z 0 0 0\n"),
            format!("{}0 t/1.plan\n", head(2)),
            format!("{}0 t/1.plan\n0 t/2.plan\n", head(1)),
            format!(
                "{MAGIC} 1 2026-12-01T05:00:00Z 0 1 {}\n",
                MAX_SHARD_ENTRIES + 1
            ),
        ] {
            assert!(Shard::parse("P", broken.as_bytes()).is_err(), "{broken:?}");
        }
        assert!(Shard::parse("P", &[0xff, 0xfe]).is_err());
    }

    #[test]
    fn shard_keys() {
        assert_eq!(shard_key("P", 7), "P/claimable.7");
        assert_eq!(shard_key("", 0), "claimable.0");
        assert_eq!(parse_shard_key("P", "P/claimable.12"), Some(12));
        for k in [
            "P/claimable.",
            "P/claimable.x",
            "P/claimable.-1",
            "Q/claimable.1",
        ] {
            assert_eq!(parse_shard_key("P", k), None, "{k}");
        }
        assert_eq!(shard_of(0, 5), 0);
        assert_eq!(shard_of(u64::MAX, 5), 4);
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(10_001), 2);
    }
}
