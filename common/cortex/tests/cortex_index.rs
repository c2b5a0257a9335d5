//! The index entries we compute for the fixture chunks are exactly the cells
//! real Cortex wrote (Bigtable in every row layout, and DynamoDB), and the
//! series IDs of `series.json` are the ones the index uses.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use cortex::schema::{
    bigtable_cell, chunk_entries, classify, parse_bigtable_cell, parse_series_chunk_entry,
    series_id, EntryKind,
};
use cortex::{
    decode_object, external_key_from_filesystem_name, ChunkKey, CortexConfig, IndexStore,
};

const CASES: [&str; 6] = [
    "v9-bigtable-doubledelta",
    "v10-gcp-varbit",
    "v11-hashed-bigchunk",
    "v11-hashed-xor",
    "v11-replicas",
    "v11-dynamodb-s3",
];

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/cortex")
        .join(case)
}

fn b64(s: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_str().unwrap_or(""))
        .unwrap()
}

/// (table, hash-or-row key, range-or-qualifier, value) as stored.
type Cell = (String, Vec<u8>, Vec<u8>, Vec<u8>);

fn fixture_cells(case: &str) -> BTreeSet<Cell> {
    let mut out = BTreeSet::new();
    for e in fs::read_dir(case_dir(case).join("index")).unwrap() {
        let path = e.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        for line in fs::read_to_string(&path).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let table = v["table"].as_str().unwrap().to_string();
            let cell = if v.get("h").is_some() {
                (
                    table,
                    v["h"].as_str().unwrap().as_bytes().to_vec(),
                    b64(&v["r_b64"]),
                    b64(&v["c_b64"]),
                )
            } else {
                assert_eq!(v["family"], "f");
                (
                    table,
                    b64(&v["row_key_b64"]),
                    b64(&v["qualifier_b64"]),
                    b64(&v["value_b64"]),
                )
            };
            assert!(out.insert(cell), "{case}: duplicate cell {line}");
        }
    }
    out
}

fn chunk_keys_and_objects(case: &str) -> Vec<(ChunkKey, Vec<u8>)> {
    let dir = case_dir(case).join("chunks");
    let mut out = Vec::new();
    for e in fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let id = if name == "objects.jsonl" {
            continue;
        } else if let Some(id) = external_key_from_filesystem_name(&name) {
            id
        } else {
            // S3 case: files are named as in objects.jsonl; map back.
            let map = fs::read_to_string(dir.join("objects.jsonl")).unwrap();
            map.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|v| v["file"] == name.as_str())
                .map(|v| v["key"].as_str().unwrap().to_string())
                .unwrap()
        };
        let key = ChunkKey::parse(id.split('/').next().unwrap(), &id).unwrap();
        out.push((key, fs::read(e.path()).unwrap()));
    }
    out
}

fn config(case: &str) -> CortexConfig {
    let read = |f| fs::read_to_string(case_dir(case).join(f)).unwrap();
    let mut c = CortexConfig::parse(&read("schema.yaml")).unwrap();
    c.merge(CortexConfig::parse(&read("storage.yaml")).unwrap());
    c
}

#[test]
fn computed_entries_are_exactly_the_fixture_index() {
    for case in CASES {
        let cfg = config(case);
        let mut computed = BTreeSet::new();
        for (key, bytes) in chunk_keys_and_objects(case) {
            let obj = decode_object(&key, &bytes).unwrap();
            let labels: Vec<(&str, &str)> = obj
                .meta
                .metric
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let period = cfg.schema.period_for_chunk(key.from).unwrap();
            let entries = chunk_entries(
                period,
                &key.user,
                key.from,
                key.through,
                &labels,
                &key.index_id(),
            )
            .unwrap();
            for e in entries {
                let cell = match period.index_store() {
                    IndexStore::Bigtable(layout) => {
                        let (row, col) = bigtable_cell(layout, &e.hash, &e.range);
                        assert_eq!(
                            parse_bigtable_cell(&row, &col),
                            (e.hash.as_bytes(), &e.range[..])
                        );
                        (e.table, row, col, e.value)
                    }
                    IndexStore::DynamoDb => (e.table, e.hash.into_bytes(), e.range, e.value),
                    other => panic!("{case}: unexpected index store {other:?}"),
                };
                computed.insert(cell);
            }
        }
        let fixture = fixture_cells(case);
        let missing: Vec<_> = fixture.difference(&computed).take(3).collect();
        let extra: Vec<_> = computed.difference(&fixture).take(3).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{case}: {} fixture cells, {} computed; not computed: {missing:?}; not in fixture: {extra:?}",
            fixture.len(),
            computed.len()
        );
    }
}

#[test]
fn series_ids_of_series_json_are_the_indexed_ones() {
    for case in CASES {
        let cfg = config(case);
        let layout = match cfg.schema.configs[0].index_store() {
            IndexStore::Bigtable(l) => Some(l),
            _ => None,
        };
        let mut indexed = BTreeSet::new();
        let mut kinds = [0usize; 5];
        for (_, row, col, _) in fixture_cells(case) {
            let (hash, range) = match layout {
                Some(_) => parse_bigtable_cell(&row, &col),
                None => (&row[..], &col[..]),
            };
            let k = classify(range);
            kinds[match k {
                EntryKind::MetricToSeries => 0,
                EntryKind::MetricLabelToSeries => 1,
                EntryKind::SeriesToLabelNames => 2,
                EntryKind::SeriesToChunk => 3,
                EntryKind::Unknown(_) => 4,
            }] += 1;
            if k == EntryKind::SeriesToChunk {
                let e =
                    parse_series_chunk_entry(std::str::from_utf8(hash).unwrap(), range).unwrap();
                ChunkKey::parse(&e.user, &e.chunk_id).unwrap();
                indexed.insert((e.user, e.series_id));
            }
        }
        assert_eq!(kinds[4], 0, "{case}: unknown entries");
        assert!(
            kinds[0] > 0 && kinds[1] > 0 && kinds[3] > 0,
            "{case}: {kinds:?}"
        );
        assert_eq!(kinds[2] > 0, case.starts_with("v11"), "{case}: {kinds:?}");
        let series: serde_json::Value =
            serde_json::from_slice(&fs::read(case_dir(case).join("series.json")).unwrap()).unwrap();
        let mut from_json = BTreeSet::new();
        for (tenant, list) in series.as_object().unwrap() {
            for s in list.as_array().unwrap() {
                let mut labels: Vec<(&str, &str)> = s["labels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
                    .collect();
                labels.sort();
                from_json.insert((tenant.clone(), series_id(&labels)));
            }
        }
        assert_eq!(indexed, from_json, "{case}");
    }
}
