//! Cortex's `aws-dynamo` store with its chunks in DynamoDB chunk tables
//! (the period's `object_store` unset), end to end against `moto_server`.
//!
//! `cortex_testgen::generate` writes a store on the filesystem (chunks,
//! config, the plans Cortex's scanner would write);
//! `cortex_testgen::load_dynamo_store` then writes the same chunk objects
//! into weekly chunk tables in Cortex's layout (hash `h` = external key,
//! range `r` = `c`, the object in `c`) and their index entries into the
//! index tables. `blocksconvert run` from the DynamoDB config alone scans
//! that index and builds, fetching every chunk with batched `BatchGetItem`.
//! Its blocks must pass `promtool tsdb analyze` and dump exactly what the
//! generator's plans build into from the filesystem store, and what the
//! generator says each day holds.
//!
//! A missing moto or promtool skips the test with a message, or fails it
//! when `BLOCKSCONVERT_TEST_REQUIRE_TOOLS` is set.

#[path = "support/blocks.rs"]
mod blocks;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use blocks::blocks_in;
use cortex::dynamodb::{DynamoClient, DynamoOptions, CHUNK_BATCH, CHUNK_RANGE_VALUE};
use cortex::Encoding;
use cortex_testgen::{generate, load_dynamo_store, DynamoLoad, GenOptions};
use protocol::names::day_to_date;
use protocol::plan::{PlanEntry, PlanReader};
use testkit::{emulators, promtool};

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");

/// Cortex's `dynamodb_url` for moto, with the dummy credentials it takes.
fn dynamo_url(moto: &emulators::Emulator) -> String {
    format!("http://testkey:testsecret@{}", moto.addr)
}

async fn dynamo_client(url: &str) -> DynamoClient {
    DynamoClient::connect(&DynamoOptions {
        url: Some(url.to_string()),
        ..DynamoOptions::default()
    })
    .await
    .expect("dynamodb client")
}

/// `blocksconvert` without this process's AWS variables: only the config
/// can lead it to DynamoDB.
fn blocksconvert(args: &[&str]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("AWS_") {
            cmd.env_remove(&*k);
        }
    }
    let out = cmd.output().expect("running blocksconvert");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "blocksconvert {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// promtool's dump of one block, lines sorted; promtool must also accept
/// the block (`tsdb analyze`).
fn sorted_dump(block: &Path, scratch: &Path) -> Vec<String> {
    let db = scratch.join("db");
    let lines = promtool::sorted_block_dump(block, &db).expect("promtool dump");
    let id = block.file_name().unwrap().to_str().unwrap();
    let analyze = promtool::analyze(&db, id);
    assert!(analyze.is_ok(), "promtool analyze {id}: {analyze:?}");
    lines
}

/// (tenant, day) -> (entries, every chunk ID), from the plans under
/// `<bucket>/migration/`.
fn plans_in(bucket: &Path) -> BTreeMap<(String, i32), (usize, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    for tenant in std::fs::read_dir(bucket.join("migration")).unwrap() {
        let tenant = tenant.unwrap().path();
        if !tenant.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&tenant).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if !name.contains(".plan") {
                continue;
            }
            let file = std::io::BufReader::new(std::fs::File::open(&f).unwrap());
            let mut r = PlanReader::new(&name, file).unwrap();
            let key = (r.header().user.clone(), r.header().day_index);
            let (entries, chunks) = out.entry(key).or_insert((0, BTreeSet::new()));
            while let Some(e) = r.next_entry().unwrap() {
                let PlanEntry::Cortex { chunk_ids, .. } = e else {
                    panic!("not a Cortex entry in {name}");
                };
                *entries += 1;
                chunks.extend(chunk_ids);
            }
        }
    }
    out
}

#[test]
fn dynamodb_chunk_tables_build_the_same_blocks_as_the_filesystem() {
    if !promtool::available_or_skip() {
        return;
    }
    let Some(moto) = emulators::moto().expect("starting moto_server") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let chunks = tmp.path().join("store/chunks");
    let fs_bucket = tmp.path().join("fs-bucket");
    let opts = GenOptions {
        tenants: 2,
        series: 24,
        days: 2,
        step_ms: 60_000,
        samples_per_chunk: 120,
        encodings: vec![Encoding::Bigchunk, Encoding::Varbit, Encoding::DoubleDelta],
        replicas: 2,
        duplicate_label_bug: true,
        seed: 16,
        ..GenOptions::default()
    };
    let report = generate(&opts, &chunks, &fs_bucket, "migration").expect("generating");
    let url = dynamo_url(&moto);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let loaded = rt
        .block_on(async {
            load_dynamo_store(&dynamo_client(&url).await, &url, &opts, &chunks).await
        })
        .expect("loading into DynamoDB");
    assert_eq!(loaded.chunks, report.chunks, "chunk items");
    // Two days of one week, both in the table of that week.
    assert_eq!(loaded.chunk_tables.len(), 1, "{:?}", loaded.chunk_tables);
    assert_eq!(loaded.index_tables.len(), 1, "{:?}", loaded.index_tables);
    let config = std::fs::read_to_string(&loaded.config_path).unwrap();
    assert!(
        config.contains("store: aws-dynamo") && !config.contains("object_store"),
        "{config}"
    );

    // The reference: the generator's plans built from the filesystem store.
    let work = tmp.path().join("work");
    blocksconvert(&[
        "build",
        "--once",
        "--poll-interval",
        "50ms",
        "--bucket",
        fs_bucket.to_str().unwrap(),
        "--source",
        &format!("cortex:{}", report.config_path.display()),
        "--work-dir",
        work.to_str().unwrap(),
    ]);

    // Scan and build from DynamoDB alone: no filesystem store in the config.
    // The store holds a few samples on each side of the planned days (the
    // generator's clipping cases); the run takes the planned days only.
    let from = day_to_date(opts.start_day);
    let to = day_to_date(opts.start_day + opts.days as i32);
    let dynamo_bucket = tmp.path().join("dynamo-bucket");
    std::fs::create_dir_all(&dynamo_bucket).unwrap();
    blocksconvert(&[
        "run",
        "--source",
        &format!("cortex:{}", loaded.config_path.display()),
        "--bucket",
        dynamo_bucket.to_str().unwrap(),
        "--work-dir",
        work.to_str().unwrap(),
        "--builders",
        "2",
        "--from",
        &from,
        "--to",
        &to,
    ]);

    // The scan found every series copy and chunk the generator planned
    // (series IDs differ: the generator's are not Cortex's hashes).
    let scanned = plans_in(&dynamo_bucket);
    let generated = plans_in(&fs_bucket);
    assert_eq!(
        scanned.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>()
    );
    for (k, (entries, chunk_ids)) in &generated {
        assert_eq!(scanned[k].0, *entries, "series of plan {k:?}");
        assert!(scanned[k].1 == *chunk_ids, "chunks of plan {k:?}");
    }

    let fs_blocks = blocks_in(&fs_bucket);
    let dynamo_blocks = blocks_in(&dynamo_bucket);
    assert_eq!(
        dynamo_blocks.keys().collect::<Vec<_>>(),
        fs_blocks.keys().collect::<Vec<_>>(),
        "blocks per tenant and day"
    );
    assert_eq!(dynamo_blocks.len(), report.plans.len());
    for (id, exp) in &report.plans {
        let k = (id.tenant.clone(), i64::from(id.day));
        let (fs_dir, fs_meta) = &fs_blocks[&k];
        let (dyn_dir, dyn_meta) = &dynamo_blocks[&k];
        assert_eq!(dyn_meta["stats"]["numSamples"], exp.samples, "{k:?}");
        assert_eq!(dyn_meta["stats"]["numSeries"], exp.series, "{k:?}");
        for stat in ["numSeries", "numSamples", "numChunks"] {
            assert_eq!(
                dyn_meta["stats"][stat], fs_meta["stats"][stat],
                "{k:?} {stat}"
            );
        }
        let want = sorted_dump(fs_dir, tmp.path());
        let got = sorted_dump(dyn_dir, tmp.path());
        assert_eq!(got.len() as u64, exp.samples, "{k:?}: dump lines");
        if let Some(i) = (0..want.len()).find(|&i| got.get(i) != want.get(i)) {
            panic!(
                "{k:?}: dumps differ at line {i}: {:?} (DynamoDB) vs {:?} (filesystem)",
                got.get(i),
                want[i]
            );
        }
        assert_eq!(got.len(), want.len(), "{k:?}: dump lines");
    }
}

/// `fetch_chunks` of more keys than one `BatchGetItem` takes (moto refuses
/// more than 100, as DynamoDB does), with duplicates and missing keys:
/// every answer lands on its key.
#[test]
fn batch_get_splits_at_the_request_limit() {
    let Some(moto) = emulators::moto().expect("starting moto_server") else {
        return;
    };
    let url = dynamo_url(&moto);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = dynamo_client(&url).await;
        let table = "chunks_2857";
        client.create_index_table(table).await.unwrap();
        let n = 2 * CHUNK_BATCH + 37;
        let items: Vec<_> = (0..n)
            .map(|i| {
                (
                    format!("u/{i:x}:1:2:3"),
                    CHUNK_RANGE_VALUE.to_vec(),
                    Some(format!("object {i}").into_bytes()),
                )
            })
            .collect();
        client.put_items(table, &items).await.unwrap();
        let mut keys: Vec<String> = (0..n).rev().map(|i| format!("u/{i:x}:1:2:3")).collect();
        keys.push("u/missing:1:2:3".into());
        keys.push(keys[5].clone());
        let got = client.fetch_chunks(table, &keys).await.unwrap();
        assert_eq!(got.len(), keys.len());
        for (k, v) in keys.iter().zip(&got) {
            let want = items
                .iter()
                .find(|(h, _, _)| h == k)
                .and_then(|(_, _, c)| c.clone());
            assert_eq!(v, &want, "{k}");
        }
        assert!(got[n].is_none(), "the missing key");
    });
}
