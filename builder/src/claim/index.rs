//! Refilling a builder's candidate pool from the scheduler's
//! claimable-plans index (`P/claimable.<i>`, [`protocol::claimable`]): one
//! GET per shard instead of a listing of the whole campaign. The index is
//! untrusted and may be old; claims from it are fenced like claims from a
//! listing (see the parent module), and the builder lists when it does not
//! help.

use protocol::claimable::{ring_of, shard_key, shard_of, Shard};
use protocol::state::{PlanFiles, Stamp};
use tracing::{debug, warn};

use super::{Candidate, Claimer, POOL_CAP};
use crate::worker::BuilderConfig;

/// The version of the claimable-plans index a builder claims from.
pub(super) struct IndexVersion {
    as_of: chrono::DateTime<chrono::Utc>,
    pub(super) shards: u32,
    /// Shards of this version this builder took into a pool.
    used: std::collections::BTreeSet<u32>,
}

impl Claimer {
    /// Makes the pool the claimable plans of one shard of the scheduler's
    /// index (`P/claimable.<i>`, [`protocol::claimable`]): the shard at
    /// this builder's ring position, or the next one this builder has not
    /// taken, of a version newer than anything it listed or read. One GET,
    /// two when the number of shards changed (three when the shard it
    /// guessed is gone). False when the index does not help: absent, older
    /// than `relist_interval` (or that far in the future), unparsable,
    /// older than this builder's last listing, or every shard of its
    /// version taken already. Failures to read it are logged, not
    /// returned: the listing is the fallback.
    pub(super) async fn refill_from_index(&mut self, cfg: &BuilderConfig) -> bool {
        let target = match &self.index {
            Some(v) => {
                let here = shard_of(self.position, v.shards);
                (0..v.shards)
                    .map(|k| (here + k) % v.shards)
                    .find(|i| !v.used.contains(i))
                    .unwrap_or(here)
            }
            None => shard_of(self.position, self.shards_hint),
        };
        let Some(mut shard) = self.read_shard(cfg, target).await else {
            return false;
        };
        if !self.is_newer(&shard) && !self.is_unused(&shard) {
            return false;
        }
        let here = shard_of(self.position, shard.shards);
        if self.is_newer(&shard) && shard.index != here {
            // The number of shards changed: this builder's own shard is
            // another one; it is as new as the one read, or newer.
            match self.read_shard(cfg, here).await {
                Some(s) if s.as_of >= shard.as_of => shard = s,
                _ => {}
            }
        }
        if self.is_newer(&shard) {
            self.index = Some(IndexVersion {
                as_of: shard.as_of,
                shards: shard.shards,
                used: Default::default(),
            });
        }
        self.shards_hint = shard.shards;
        if let Some(v) = &mut self.index {
            v.used.insert(shard.index);
        }
        self.pool_from_shard(cfg, shard);
        true
    }

    /// Whether `shard` is of a version newer than this builder's last
    /// listing and last index read.
    fn is_newer(&self, shard: &Shard) -> bool {
        let known = self.index.as_ref().map(|v| v.as_of).max(self.last_listing);
        known.is_none_or(|t| shard.as_of > t)
    }

    /// Whether `shard` is of the version this builder reads and not taken yet.
    fn is_unused(&self, shard: &Shard) -> bool {
        self.index.as_ref().is_some_and(|v| {
            v.as_of == shard.as_of && v.shards == shard.shards && !v.used.contains(&shard.index)
        })
    }

    /// Shard `i`, fresh and parsed; a shard number past the end (the index
    /// shrank) falls back to shard 0, which says how many there are now.
    async fn read_shard(&mut self, cfg: &BuilderConfig, i: u32) -> Option<Shard> {
        let mut i = i;
        let body = loop {
            let key = shard_key(&cfg.prefix, i);
            match cfg.bucket.get_opt(&key).await {
                Ok(Some(b)) => break b,
                Ok(None) if i > 0 => i = 0,
                Ok(None) => return None,
                Err(e) => {
                    warn!(key = %cfg.bucket.key_url(&key), error = %base::ErrorChain(&e), "cannot read the claimable-plans index; listing instead");
                    return None;
                }
            }
        };
        let key = shard_key(&cfg.prefix, i);
        let parsed = match Shard::parse(&cfg.prefix, &body) {
            Ok(p) => p,
            Err(e) => {
                self.warn_once(|| warn!(key = %cfg.bucket.key_url(&key), error = %e, "ignoring the claimable-plans index; listing instead"));
                return None;
            }
        };
        if parsed.rejected > 0 {
            let first = parsed.first_rejected.unwrap_or_default();
            self.warn_once(|| warn!(key = %cfg.bucket.key_url(&key), dropped = parsed.rejected, first = %first, "the claimable-plans index names objects that are no plan files under the prefix; dropped them"));
        }
        let shard = parsed.shard;
        let age = chrono::Utc::now() - shard.as_of;
        let limit =
            chrono::Duration::from_std(cfg.relist_interval).unwrap_or(chrono::Duration::MAX);
        if shard.index != i || age > limit || -age > limit {
            debug!(key = %cfg.bucket.key_url(&key), as_of = %shard.as_of, "the claimable-plans index is stale or misplaced");
            return None;
        }
        Some(shard)
    }

    fn warn_once(&mut self, log: impl FnOnce()) {
        if !self.index_warned {
            self.index_warned = true;
            log();
        }
    }

    /// The pool: the plans of `shard` this builder serves, in ring order
    /// from its position, as from a listing taken at the shard's time.
    fn pool_from_shard(&mut self, cfg: &BuilderConfig, shard: Shard) {
        let stamp = Stamp {
            size: 0,
            last_modified: shard.as_of,
        };
        let position = self.position;
        let mut ranked: Vec<(u64, Candidate)> = shard
            .entries
            .into_iter()
            .filter(|e| cfg.tenants.allows(&e.id.tenant))
            .map(|e| {
                let ring = ring_of(&e.id);
                let files = PlanFiles {
                    plans: vec![(e.compression, stamp)],
                    attempts: (e.attempt > 0)
                        .then_some((e.attempt, stamp))
                        .into_iter()
                        .collect(),
                    ..PlanFiles::default()
                };
                let c = Candidate {
                    id: e.id,
                    files,
                    compression: e.compression,
                    ring,
                };
                (ring.wrapping_sub(position), c)
            })
            .collect();
        ranked.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        ranked.dedup_by(|a, b| a.1.id == b.1.id);
        ranked.truncate(POOL_CAP);
        debug!(
            shard = shard.index,
            shards = shard.shards,
            as_of = %shard.as_of,
            candidates = ranked.len(),
            "took candidates from the claimable-plans index"
        );
        self.pool = ranked.into_iter().map(|(_, c)| Some(c)).collect();
        self.left = self.pool.len();
        self.cursor = 0;
        self.listing_pages = 1;
        self.lost_since_listing = 0;
        self.claimed_since_listing = 0;
        self.losing_streak = 0;
        self.listed_at = Some(tokio::time::Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::bucket::Bucket;
    use protocol::names::{PlanCompression, PlanId};

    async fn put_plans(bucket: &Bucket, days: &[i32]) -> Vec<PlanId> {
        let mut ids = Vec::new();
        for &day in days {
            let id = PlanId {
                tenant: "t".into(),
                day,
            };
            bucket
                .put(&id.plan_key("p", PlanCompression::None), "plan")
                .await
                .unwrap();
            ids.push(id);
        }
        ids
    }

    fn entry(id: &PlanId) -> protocol::claimable::ClaimableEntry {
        protocol::claimable::ClaimableEntry {
            id: id.clone(),
            compression: PlanCompression::None,
            attempt: 0,
        }
    }

    async fn publish(bucket: &Bucket, as_of: chrono::DateTime<chrono::Utc>, ids: &[PlanId]) {
        for s in Shard::split(as_of, ids.iter().map(entry).collect()) {
            bucket
                .put(&shard_key("p", s.index), s.encode())
                .await
                .unwrap();
        }
    }

    /// A fresh index is a pool without a listing; once its one shard is
    /// taken, the builder lists, and `None` comes only from that listing.
    #[tokio::test]
    async fn claims_from_the_index_then_lists_when_it_is_used_up() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::open("memory://").unwrap();
        let cfg = crate::worker::tests::config(&bucket, dir.path());
        let ids = put_plans(&bucket, &[1, 2, 3]).await;
        // The index names two of the three plans (the third came later).
        publish(&bucket, chrono::Utc::now(), &ids[..2]).await;
        let mut c = Claimer::new("b");
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(c.next(&cfg).await.unwrap().unwrap().id.day);
        }
        got.sort();
        assert_eq!(got, [1, 2]);
        assert!(c.last_listing.is_none(), "claimed from the index alone");
        let third = c.next(&cfg).await.unwrap().unwrap();
        assert_eq!(third.id.day, 3);
        assert!(c.last_listing.is_some(), "the used-up index made it list");
        assert!(c.next(&cfg).await.unwrap().is_none());
        assert!(bucket.exists(&ids[0].attempt_key("p", 1)).await.unwrap());
    }

    /// An absent, stale or forged index, or one older than the builder's
    /// own listing, is not used: the builder lists.
    #[tokio::test]
    async fn an_absent_stale_or_forged_index_falls_back_to_listing() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::open("memory://").unwrap();
        let mut cfg = crate::worker::tests::config(&bucket, dir.path());
        let ids = put_plans(&bucket, &[1, 2, 3, 4]).await;

        // Absent.
        let mut c = Claimer::new("b");
        assert!(c.next(&cfg).await.unwrap().is_some());
        assert!(c.last_listing.is_some() && c.index.is_none());

        // Stale: older than the relist interval.
        let old = chrono::Utc::now() - chrono::Duration::seconds(301);
        publish(&bucket, old, &ids).await;
        let mut c = Claimer::new("b");
        assert!(c.next(&cfg).await.unwrap().is_some());
        assert!(c.last_listing.is_some() && c.index.is_none());

        // Older than the builder's own last listing: nothing new in it.
        let mut c = Claimer::new("b");
        c.last_listing = Some(chrono::Utc::now());
        publish(
            &bucket,
            chrono::Utc::now() - chrono::Duration::seconds(5),
            &ids,
        )
        .await;
        assert!(!c.refill_from_index(&cfg).await);

        // Unparsable.
        bucket.put(&shard_key("p", 0), "garbage").await.unwrap();
        let mut c = Claimer::new("b");
        assert!(!c.refill_from_index(&cfg).await);

        // Forged entries are dropped, and the tenant filter applies.
        let as_of = chrono::Utc::now();
        let body = format!(
            "blocksconvert-claimable 1 {} 0 1 4\n0 ../x/1.plan\n0 t/1.progress\n0 u/1.plan\n0 t/4.plan\n",
            as_of.to_rfc3339()
        );
        bucket.put(&shard_key("p", 0), body).await.unwrap();
        cfg.tenants = protocol::tenant::TenantFilter {
            allowed: vec!["t".into()],
            ignored: None,
        };
        let mut c = Claimer::new("b");
        assert!(c.refill_from_index(&cfg).await);
        let pool: Vec<_> = c.pool.iter().flatten().map(|p| p.id.clone()).collect();
        assert_eq!(pool, [ids[3].clone()]);
        assert!(c.index_warned);
    }
}
