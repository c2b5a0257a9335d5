//! Plans written by Cortex's own blocksconvert scanner (v1.11.1) read back
//! exactly, and our writer produces the same bytes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use protocol::plan::{PlanCompression, PlanEntry, PlanError, PlanHeader, PlanReader, PlanWriter};

fn plans_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/cortex/v9-bigtable-doubledelta/plans")
}

/// Every `.plan.snappy` of the fixture, with its `.plan.jsonl` twin.
fn fixture_plans() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for tenant in std::fs::read_dir(plans_dir()).unwrap() {
        for f in std::fs::read_dir(tenant.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            let name = p.to_str().unwrap();
            if let Some(base) = name.strip_suffix(".plan.snappy") {
                out.push((p.clone(), PathBuf::from(format!("{base}.plan.jsonl"))));
            }
        }
    }
    out.sort();
    assert_eq!(
        out.len(),
        4,
        "fixture plans missing under {:?}",
        plans_dir()
    );
    out
}

fn read_plan(name: &str, bytes: &[u8]) -> Result<(PlanHeader, Vec<PlanEntry>, u64), PlanError> {
    let mut r = PlanReader::new(name, bytes)?;
    let entries = r.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok((r.header().clone(), entries, r.skipped()))
}

/// The header and entries of a decompressed plan, parsed independently of
/// `protocol::plan`.
fn expected(jsonl: &str) -> (PlanHeader, Vec<PlanEntry>) {
    let lines: Vec<&str> = jsonl.lines().collect();
    assert_eq!(lines.last(), Some(&"{\"complete\":true}"));
    let h: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let header = PlanHeader {
        user: h["user"].as_str().unwrap().to_owned(),
        day_index: h["day_index"].as_i64().unwrap() as i32,
        source: None,
    };
    let entries = lines[1..lines.len() - 1]
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            PlanEntry::Cortex {
                series_id: v["sid"].as_str().unwrap().to_owned(),
                chunk_ids: v["cs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect(),
            }
        })
        .collect();
    (header, entries)
}

#[test]
fn cortex_snappy_plans_give_the_entries_of_their_jsonl() {
    for (snappy, jsonl) in fixture_plans() {
        let text = std::fs::read_to_string(&jsonl).unwrap();
        let (want_header, want_entries) = expected(&text);
        assert!(!want_entries.is_empty());
        let bytes = std::fs::read(&snappy).unwrap();
        let (header, entries, skipped) = read_plan(snappy.to_str().unwrap(), &bytes).unwrap();
        assert_eq!(header, want_header, "{snappy:?}");
        assert_eq!(entries, want_entries, "{snappy:?}");
        assert_eq!(skipped, 0);
        // The tenant and day in the header match the file's place.
        let day: i32 = snappy
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches(".plan.snappy")
            .parse()
            .unwrap();
        assert_eq!(header.day_index, day);

        // The plain twin reads the same (any name not .gz/.snappy is plain).
        let (h2, e2, _) = read_plan(jsonl.to_str().unwrap(), text.as_bytes()).unwrap();
        assert_eq!((h2, e2), (want_header, want_entries));
    }
}

#[test]
fn our_writer_reproduces_cortex_plans_byte_for_byte() {
    for (snappy, jsonl) in fixture_plans() {
        let bytes = std::fs::read(&snappy).unwrap();
        let mut r = PlanReader::new(snappy.to_str().unwrap(), &bytes[..]).unwrap();
        let header = r.header().clone();
        let mut w = PlanWriter::new(Vec::new(), PlanCompression::Snappy, &header).unwrap();
        for e in r.by_ref() {
            w.write_entry(&e.unwrap()).unwrap();
        }
        let ours = w.finish().unwrap();
        let mut plain = String::new();
        snap::read::FrameDecoder::new(&ours[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(
            plain,
            std::fs::read_to_string(&jsonl).unwrap(),
            "{snappy:?}"
        );
    }
}

#[test]
fn cortex_plan_without_footer_is_refused() {
    for (snappy, jsonl) in fixture_plans() {
        let text = std::fs::read_to_string(&jsonl).unwrap();
        let without_footer = text.strip_suffix("{\"complete\":true}\n").unwrap();
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(without_footer.as_bytes()).unwrap();
        let truncated = enc.into_inner().unwrap();
        let name = snappy.to_str().unwrap();
        let err = read_plan(name, &truncated).unwrap_err();
        assert!(matches!(err, PlanError::Incomplete { .. }), "{err}");
        assert!(err.to_string().contains(name), "{err}");

        // Cut bytes (an interrupted upload) are refused too.
        let bytes = std::fs::read(&snappy).unwrap();
        for cut in [bytes.len() / 2, bytes.len() - 1] {
            assert!(
                read_plan(name, &bytes[..cut]).is_err(),
                "{name} cut at {cut}"
            );
        }
    }
}
