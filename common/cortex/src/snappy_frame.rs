//! The snappy framing format around chunk metadata, read the way Go's
//! `snappy.Reader` reads it.
//!
//! Reading must report how many framed bytes were consumed (Cortex checks
//! the metadata length word against it) and must stop once the JSON value is
//! complete, because the data length word follows the frames directly; a
//! general-purpose frame decoder would read on into it. Writing (byte-exact
//! as Go's `snappy.NewBufferedWriter`, for test data) is `cortex-testgen`'s.

const STREAM_ID: &[u8; 10] = b"\xff\x06\x00\x00sNaPpY";
const MAX_BLOCK: usize = 65536;

fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// Decodes frames from the start of `framed` until `done(decoded so far)`
/// gives a value; returns it and how many framed bytes were read. The
/// first frame must be the stream identifier, as Go requires.
pub(crate) fn decode_until<T>(
    framed: &[u8],
    done: impl Fn(&[u8]) -> Option<T>,
) -> Result<(T, usize), String> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut first = true;
    loop {
        if !first {
            if let Some(value) = done(&out) {
                return Ok((value, pos));
            }
        }
        let header = framed
            .get(pos..pos + 4)
            .ok_or_else(|| format!("stream ends at byte {pos} before the value is complete"))?;
        let kind = header[0];
        let len =
            usize::from(header[1]) | usize::from(header[2]) << 8 | usize::from(header[3]) << 16;
        let body = framed
            .get(pos + 4..pos + 4 + len)
            .ok_or_else(|| format!("frame at byte {pos} announces {len} bytes past the end"))?;
        if first && kind != 0xff {
            return Err(format!(
                "stream starts with frame type {kind:#04x}, not the stream identifier"
            ));
        }
        first = false;
        match kind {
            0xff if body != &STREAM_ID[4..] => return Err("bad stream identifier".into()),
            0xff => {}
            0x00 | 0x01 => {
                let (crc, payload) = body
                    .split_first_chunk::<4>()
                    .ok_or_else(|| format!("frame at byte {pos} too short for its checksum"))?;
                let block = if kind == 0x00 {
                    let n = snap::raw::decompress_len(payload).map_err(|e| e.to_string())?;
                    if n > MAX_BLOCK {
                        return Err(format!("block of {n} bytes exceeds {MAX_BLOCK}"));
                    }
                    snap::raw::Decoder::new()
                        .decompress_vec(payload)
                        .map_err(|e| format!("frame at byte {pos}: {e}"))?
                } else {
                    if payload.len() > MAX_BLOCK {
                        return Err(format!(
                            "block of {} bytes exceeds {MAX_BLOCK}",
                            payload.len()
                        ));
                    }
                    payload.to_vec()
                };
                if masked_crc(&block) != u32::from_le_bytes(*crc) {
                    return Err(format!("frame at byte {pos}: checksum mismatch"));
                }
                out.extend_from_slice(&block);
            }
            0x02..=0x7f => return Err(format!("unskippable frame type {kind:#04x}")),
            _ => {}
        }
        pos += 4 + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of `kind` holding `block` (compressed already when kind 0).
    fn frame(kind: u8, block: &[u8], body: &[u8], out: &mut Vec<u8>) {
        out.push(kind);
        out.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes()[..3]);
        out.extend_from_slice(&masked_crc(block).to_le_bytes());
        out.extend_from_slice(body);
    }

    #[test]
    fn round_trip_and_consumed_length() {
        let data = b"{\"a\":1}\n".repeat(20);
        let (head, tail) = data.split_at(50);
        let mut framed = STREAM_ID.to_vec();
        // One compressed and one stored frame: Go writes either, by size.
        let compressed = snap::raw::Encoder::new().compress_vec(head).unwrap();
        frame(0x00, head, &compressed, &mut framed);
        frame(0x01, tail, tail, &mut framed);
        let n = framed.len();
        framed.extend_from_slice(&[0, 0, 0, 9]);
        let whole = |b: &[u8]| (b.len() >= data.len()).then(|| b.to_vec());
        let (out, used) = decode_until(&framed, whole).unwrap();
        assert_eq!((out, used), (data.clone(), n));
        assert!(decode_until(&framed[..n - 1], whole).is_err());
        let mut bad = framed.clone();
        bad[12] ^= 1;
        assert!(decode_until(&bad, whole).is_err());
        assert!(decode_until(&framed[10..], |_| Some(())).is_err());
    }
}
