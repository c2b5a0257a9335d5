//! Chunk objects written the way Cortex 1.x wrote them: jsoniter's field
//! order and escaping for the metadata, Go's snappy framing around it.
//!
//! Byte-exactness matters because a chunk ID's CRC-32C covers the whole
//! object: to re-encode a fixture and get its ID back (and so check our
//! reading against real Cortex output), every byte must match.

use cortex::{write_json_string, ChunkKey, ChunkMetadata};

use crate::snappy_go;

/// The snappy framing format's stream identifier frame.
const STREAM_ID: &[u8; 10] = b"\xff\x06\x00\x00sNaPpY";
/// Largest uncompressed block per frame.
const MAX_BLOCK: usize = 65536;

/// The framing format's checksum: CRC-32C, rotated and offset ("masked").
fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// Appends `data` framed as Go's buffered snappy writer does on `Close`: the
/// stream identifier, then one frame per 64 KiB block, compressed unless
/// compression saves less than 1/8.
pub fn snappy_frame_go(data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(STREAM_ID);
    for block in data.chunks(MAX_BLOCK) {
        let compressed = snappy_go::compress(block);
        let crc = masked_crc(block).to_le_bytes();
        let (kind, body) = if compressed.len() >= block.len() - block.len() / 8 {
            (0x01u8, block)
        } else {
            (0x00u8, &compressed[..])
        };
        let len = (body.len() + 4) as u32;
        out.push(kind);
        out.extend_from_slice(&len.to_le_bytes()[..3]);
        out.extend_from_slice(&crc);
        out.extend_from_slice(body);
    }
}

/// Cortex's `encodeModelTime`: seconds, then `.` and 3 digits if ms ≠ 0.
fn write_time(out: &mut Vec<u8>, t: i64) {
    if t < 0 {
        out.push(b'-');
    }
    let t = t.unsigned_abs();
    out.extend_from_slice((t / 1000).to_string().as_bytes());
    match t % 1000 {
        0 => {}
        ms => out.extend_from_slice(format!(".{ms:03}").as_bytes()),
    }
}

/// The metadata JSON exactly as Cortex writes it (`json.NewEncoder(w).Encode`
/// with jsoniter's fastest config), newline included. Labels are written in
/// the given order; Cortex's are sorted.
pub fn metadata_json(meta: &ChunkMetadata) -> Vec<u8> {
    let mut j = Vec::with_capacity(256);
    j.extend_from_slice(format!("{{\"fingerprint\":{},\"userID\":", meta.fingerprint).as_bytes());
    write_json_string(&mut j, &meta.user_id);
    j.extend_from_slice(b",\"from\":");
    write_time(&mut j, meta.from);
    j.extend_from_slice(b",\"through\":");
    write_time(&mut j, meta.through);
    j.extend_from_slice(b",\"metric\":{");
    for (i, (n, v)) in meta.metric.iter().enumerate() {
        if i > 0 {
            j.push(b',');
        }
        write_json_string(&mut j, n);
        j.push(b':');
        write_json_string(&mut j, v);
    }
    j.extend_from_slice(format!("}},\"encoding\":{}}}\n", meta.encoding.id()).as_bytes());
    j
}

/// Encodes a chunk object as Cortex's `Chunk.Encode` does; returns the
/// object and its key (with the CRC-32C checksum).
pub fn encode_object(meta: &ChunkMetadata, data: &[u8]) -> (ChunkKey, Vec<u8>) {
    let mut out = vec![0u8; 4];
    snappy_frame_go(&metadata_json(meta), &mut out);
    let meta_len = out.len() as u32;
    out[..4].copy_from_slice(&meta_len.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    let key = ChunkKey {
        user: meta.user_id.clone(),
        fingerprint: meta.fingerprint,
        from: meta.from,
        through: meta.through,
        checksum: Some(crc32c::crc32c(&out)),
    };
    (key, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex::Encoding;

    fn meta() -> ChunkMetadata {
        ChunkMetadata {
            fingerprint: 0x4b0c_98ed_703d_6da9,
            user_id: "alpha".into(),
            from: 1_794_808_800_123,
            through: 1_794_812_400_000,
            metric: vec![
                ("__name__".into(), "m".into()),
                ("path".into(), "C:\\temp\\new \"q\"\n".into()),
            ],
            encoding: Encoding::Varbit,
        }
    }

    #[test]
    fn metadata_json_matches_jsoniter_formatting() {
        let j = String::from_utf8(metadata_json(&meta())).unwrap();
        assert_eq!(
            j,
            "{\"fingerprint\":5407865398122868137,\"userID\":\"alpha\",\"from\":1794808800.123,\
             \"through\":1794812400,\"metric\":{\"__name__\":\"m\",\"path\":\"C:\\\\temp\\\\new \\\"q\\\"\\n\"},\
             \"encoding\":2}\n"
        );
        let mut out = Vec::new();
        write_time(&mut out, 5);
        out.push(b' ');
        write_time(&mut out, -1050);
        out.push(b' ');
        write_time(&mut out, 12_340);
        assert_eq!(out, b"0.005 -1.050 12.340");
    }

    #[test]
    fn framed_metadata_reads_back_across_blocks() {
        // Metadata over 64 KiB spans two frames; the reader must find the
        // JSON end and the data length word right after the last frame.
        let mut m = meta();
        m.metric.push(("big".into(), "x".repeat(70_000)));
        let data = cortex::encoding::bigchunk::encode(&[(1, 1.0)]).unwrap();
        let (key, bytes) = encode_object(&m, &data);
        let obj = cortex::decode_object(&key, &bytes).unwrap();
        assert_eq!((obj.meta, obj.data), (m, data));
        // Repetitive metadata compresses: at least one frame is type 0.
        let frames = &bytes[4 + STREAM_ID.len()..];
        assert_eq!(frames[0], 0x00);
    }
}
