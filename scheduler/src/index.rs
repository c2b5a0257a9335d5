//! Publishing the claimable-plans index (`P/claimable.<i>`,
//! [`protocol::claimable`]) after each scan: the scan has listed the whole
//! prefix anyway, and with the index a builder refills its candidate pool
//! with one GET instead of its own listing of the campaign.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use protocol::bucket::Bucket;
use protocol::claimable::{parse_shard_key, shard_key, shards_key_prefix, ClaimableEntry, Shard};
use protocol::names::PlanId;
use protocol::state::PlanFiles;
use tracing::debug;

/// Shards written at once: a campaign of a million plans has 100.
const CONCURRENT_PUTS: usize = 8;

/// What one publication wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Published {
    /// Claimable plans in the index.
    pub plans: usize,
    /// Shards written.
    pub shards: u32,
    /// Shards of a bigger earlier index deleted.
    pub removed: usize,
}

/// Writes the claimable plans of `plans` (as they stand after this scan's
/// retries) as the index listed at `as_of`, then deletes the shards of a
/// bigger earlier index. Shards are written before anything is deleted, so
/// a reader finds either version's shard, each consistent in itself.
pub(crate) async fn publish(
    bucket: &Bucket,
    prefix: &str,
    as_of: chrono::DateTime<chrono::Utc>,
    plans: &BTreeMap<PlanId, PlanFiles>,
) -> Result<Published> {
    let entries: Vec<ClaimableEntry> = plans
        .iter()
        .filter(|(_, f)| f.is_claimable())
        .filter_map(|(id, f)| {
            let &(compression, _) = f.plan()?;
            Some(ClaimableEntry {
                id: id.clone(),
                compression,
                attempt: f.next_attempt() - 1,
            })
        })
        .collect();
    let count = entries.len();
    let shards = Shard::split(as_of, entries);
    let n = shards.len() as u32;
    // Owned futures, not a stream of closures over borrows: the scan's
    // future must stay `Send` for `tokio::spawn`.
    for chunk in shards.chunks(CONCURRENT_PUTS) {
        let puts: Vec<_> = chunk
            .iter()
            .map(|s| {
                let (bucket, key, body) = (bucket.clone(), shard_key(prefix, s.index), s.encode());
                async move {
                    bucket
                        .put(&key, body)
                        .await
                        .with_context(|| format!("writing {}", bucket.key_url(&key)))
                }
            })
            .collect();
        futures::future::try_join_all(puts).await?;
    }
    let existing = bucket
        .list_key_prefix(&shards_key_prefix(prefix))
        .await
        .context("listing the claimable-plans index")?;
    let mut removed = 0;
    for o in existing {
        if parse_shard_key(prefix, &o.key).is_some_and(|i| i >= n) {
            bucket
                .delete(&o.key)
                .await
                .with_context(|| format!("deleting {}", bucket.key_url(&o.key)))?;
            removed += 1;
        }
    }
    debug!(
        plans = count,
        shards = n,
        removed,
        "published the claimable-plans index"
    );
    Ok(Published {
        plans: count,
        shards: n,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::names::PlanCompression;
    use protocol::state::plans_from_listing;

    #[tokio::test]
    async fn the_index_holds_the_new_plans_and_replaces_a_bigger_one() {
        let b = Bucket::open("memory://").unwrap();
        for k in [
            "m/a/1.plan",
            "m/a/2.plan.snappy",
            "m/a/2.attempt.1",
            "m/a/2.attempt.2",
            "m/a/3.plan",
            "m/a/3.progress",
            "m/b/1.plan",
            "m/b/1.attempt.1",
            "m/b/1.finished.01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "m/claimable.5",
            "m/claimable.0",
        ] {
            b.put(k, "x").await.unwrap();
        }
        let plans = plans_from_listing("m", &b.list("m").await.unwrap());
        let as_of = chrono::Utc::now();
        let p = publish(&b, "m", as_of, &plans).await.unwrap();
        assert_eq!(
            p,
            Published {
                plans: 2,
                shards: 1,
                removed: 1
            }
        );
        assert!(!b.exists("m/claimable.5").await.unwrap());
        let shard = Shard::parse("m", &b.get("m/claimable.0").await.unwrap()).unwrap();
        let mut got: Vec<_> = shard
            .shard
            .entries
            .iter()
            .map(|e| {
                (
                    e.id.tenant.as_str(),
                    e.id.day,
                    e.compression.suffix(),
                    e.attempt,
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("a", 1, PlanCompression::None.suffix(), 0),
                ("a", 2, PlanCompression::Snappy.suffix(), 2)
            ]
        );
        assert_eq!(
            shard.shard.as_of.timestamp_millis(),
            as_of.timestamp_millis()
        );
        // The index files are no plans: the next scan sees the same plans.
        let again = plans_from_listing("m", &b.list("m").await.unwrap());
        assert_eq!(again, plans);
    }
}
