//! The bodies of the fuzz targets, shared by the `cargo fuzz` binaries in
//! `fuzz/fuzz_targets/` (nightly, libFuzzer) and by the stable smoke test
//! `tests/fuzz_smoke.rs` (CI), so both exercise exactly the same code.
//!
//! Each body takes arbitrary bytes and must return without panicking: an
//! input our decoders refuse is fine, a panic, an overflow (debug builds) or
//! a runaway allocation is a bug. Where a cheap property holds for every
//! accepted input (XOR re-encoding gives back the same samples), the body
//! asserts it, so the fuzzer also finds wrong answers, not only crashes.
//!
//! This file is not a module of any crate of the workspace; it is included
//! with `#[path]` and only depends on the format crates under `common/`.

use std::io::Cursor;
use std::path::Path;

use cortex::encoding::{self, Encoding};
use cortex::ChunkKey;
use openmetrics::OpenMetricsParser;
use protocol::plan::{PlanCompression, PlanReader};
use tsdb::{BlockReader, XorAppender, XorIterator};

/// Work done per input is bounded so that a small input describing a huge
/// structure (a million postings, a plan of blank lines) stays fast; the
/// decoders themselves must still not blow up on it.
const MAX_ITEMS: usize = 10_000;

/// The selector byte of `cortex_chunk` inputs that means "a whole chunk
/// object"; selectors 1..=5 mean "the data section of encoding `selector - 1`".
pub(crate) const CORTEX_OBJECT: u8 = 0;

/// `cortex_chunk`: the first byte selects what the rest is (see
/// [`CORTEX_OBJECT`]); every path must end in `Ok` or a typed error.
pub(crate) fn cortex_chunk(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 6 {
        CORTEX_OBJECT => cortex_object(rest),
        n => {
            if let Some(enc) = Encoding::from_id(n - 1) {
                let _ = encoding::decode(enc, rest);
            }
        }
    }
}

/// A whole object: parse, decode its samples, normalise its labels, then
/// decode it again through the keyed path with a key that matches it, so
/// the identity checks run too.
fn cortex_object(bytes: &[u8]) {
    let Ok(obj) = cortex::parse_object(bytes) else {
        return;
    };
    let _ = obj.samples();
    let _ = obj.labels();
    let key = ChunkKey {
        user: obj.meta.user_id.clone(),
        fingerprint: obj.meta.fingerprint,
        from: obj.meta.from,
        through: obj.meta.through,
        checksum: Some(crc32c::crc32c(bytes)),
    };
    let _ = key.external_key();
    match cortex::decode_samples(&key, bytes) {
        Ok((again, _)) => assert_eq!(again, obj, "keyed decode disagrees with parse_object"),
        Err(e) => {
            // Only the samples can fail here: the object itself parsed.
            let _ = e.to_string();
        }
    }
}

/// `plan`: the first byte selects the compression (plain, gzip, snappy),
/// the rest is the plan file.
pub(crate) fn plan(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let compression = match selector % 3 {
        0 => PlanCompression::None,
        1 => PlanCompression::Gzip,
        _ => PlanCompression::Snappy,
    };
    let mut reader = match PlanReader::with_compression("fuzz.plan", rest, compression) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = reader.header().effective_source();
    for _ in 0..MAX_ITEMS {
        match reader.next_entry() {
            Ok(Some(entry)) => {
                let _ = entry.source();
            }
            Ok(None) => break,
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
}

/// `openmetrics`: the input is an OpenMetrics text file.
pub(crate) fn openmetrics(data: &[u8]) {
    let mut parser = OpenMetricsParser::new(Cursor::new(data));
    for _ in 0..MAX_ITEMS {
        match parser.next_sample() {
            Ok(Some(s)) => {
                let _ = s.series.metric_name();
                let _ = s.series.label_pairs().count();
                let _ = s.series.labels();
            }
            Ok(None) => break,
            Err(e) => {
                assert!(e.line() >= 1, "error without a line: {e}");
                break;
            }
        }
    }
}

/// `xor_chunk`: the input is a Prometheus XOR chunk (2-byte count and bit
/// stream). Whatever decodes completely must survive re-encoding unchanged.
pub(crate) fn xor_chunk(data: &[u8]) {
    let Ok(it) = XorIterator::new(data) else {
        return;
    };
    let announced = it.num_samples();
    let mut samples = Vec::new();
    for s in it {
        match s {
            Ok(s) => samples.push(s),
            Err(_) => return,
        }
    }
    assert_eq!(
        samples.len(),
        announced,
        "iterator ended early without an error"
    );
    let mut app = XorAppender::new();
    for &(t, v) in &samples {
        if app.try_append(t, v).is_err() {
            return;
        }
    }
    let again: Vec<(i64, u64)> = XorIterator::new(app.bytes())
        .expect("our own chunk has a header")
        .map(|s| s.map(|(t, v)| (t, v.to_bits())))
        .collect::<Result<_, _>>()
        .expect("our own chunk decodes");
    let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(again, want, "XOR re-encoding changed the samples");
}

/// Splits a `tsdb_block` input into its files; see [`pack_block`].
pub(crate) fn unpack_block(data: &[u8]) -> (&[u8], &[u8], Vec<&[u8]>) {
    fn take<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            let all = *rest;
            *rest = &[];
            return all;
        };
        let len = (u32::from_le_bytes(*len) as usize).min(tail.len());
        let (part, tail) = tail.split_at(len);
        *rest = tail;
        part
    }
    let mut rest = data;
    let meta = take(&mut rest);
    let index = take(&mut rest);
    let mut segments = Vec::new();
    while !rest.is_empty() && segments.len() < 4 {
        segments.push(take(&mut rest));
    }
    (meta, index, segments)
}

/// A `tsdb_block` input: meta.json, index and segment files, each with a
/// 4-byte little-endian length in front.
pub(crate) fn pack_block(meta: &[u8], index: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [meta, index]
        .into_iter()
        .chain(segments.iter().map(Vec::as_slice))
    {
        let len = u32::try_from(part.len()).expect("seed files are small");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// `tsdb_block`: a whole block in memory (see [`pack_block`]), read the way
/// `verify` and the health check read blocks: every lookup of the index,
/// then every series down to its samples.
pub(crate) fn tsdb_block(data: &[u8]) {
    let (meta, index, segments) = unpack_block(data);
    let segments = segments.into_iter().map(<[u8]>::to_vec).collect();
    let Ok(block) = BlockReader::from_bytes(Path::new("fuzz"), meta, index.to_vec(), segments)
    else {
        return;
    };
    let ix = block.index();
    let _ = ix.symbols().take(MAX_ITEMS).count();
    for name in ix.label_names().into_iter().take(64) {
        let _ = ix.label_index(name);
        if let Ok(values) = ix.label_values(name) {
            for value in values.iter().take(64) {
                if let Ok(refs) = ix.postings(name, value) {
                    for r in refs.into_iter().take(64) {
                        let _ = ix.series(r);
                    }
                }
            }
        }
    }
    let _ = ix.verify_sections();
    let mut chunks = 0;
    for series in block.series().take(MAX_ITEMS) {
        let Ok((_, metas)) = series else { break };
        for c in metas {
            chunks += 1;
            if chunks > MAX_ITEMS {
                return;
            }
            let _ = block.chunk_samples(&c);
        }
    }
}
