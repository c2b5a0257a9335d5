//! Snappy block compression producing the same bytes as Go's
//! `github.com/golang/snappy` `Encode` (the version Cortex 1.x vendored).
//!
//! Any snappy decoder reads any snappy encoder's output, but the bytes
//! differ between encoders, and a chunk ID's checksum covers the compressed
//! metadata. To write chunk objects byte-identical to Cortex's (checked
//! against the fixtures), we follow Go's greedy matcher: hash table of 2^8 to
//! 2^14 entries sized by the input, skip heuristic of one extra byte per 32
//! misses, and Go's literal and copy tag choices. Only test data is written
//! with it; speed is no concern. Product code never writes Cortex objects
//! (plans and staged files use the `snap` crate's framing, which need not
//! match Go's bytes), so this lives here, not in `cortex`.

const MAX_BLOCK: usize = 65536;
const INPUT_MARGIN: usize = 16 - 1;
const MIN_NON_LITERAL_BLOCK: usize = 1 + 1 + INPUT_MARGIN;

fn load32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn load64(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

fn hash(u: u32, shift: u32) -> u32 {
    u.wrapping_mul(0x1e35_a7bd) >> shift
}

fn emit_literal(dst: &mut Vec<u8>, lit: &[u8]) {
    let n = lit.len() - 1;
    if n < 60 {
        dst.push((n as u8) << 2);
    } else if n < 1 << 8 {
        dst.extend_from_slice(&[60 << 2, n as u8]);
    } else {
        dst.extend_from_slice(&[61 << 2, n as u8, (n >> 8) as u8]);
    }
    dst.extend_from_slice(lit);
}

fn emit_copy(dst: &mut Vec<u8>, offset: usize, mut length: usize) {
    const COPY1: u8 = 1;
    const COPY2: u8 = 2;
    let (lo, hi) = (offset as u8, (offset >> 8) as u8);
    while length >= 68 {
        dst.extend_from_slice(&[63 << 2 | COPY2, lo, hi]);
        length -= 64;
    }
    if length > 64 {
        dst.extend_from_slice(&[59 << 2 | COPY2, lo, hi]);
        length -= 60;
    }
    if length >= 12 || offset >= 2048 {
        dst.extend_from_slice(&[((length - 1) as u8) << 2 | COPY2, lo, hi]);
    } else {
        dst.extend_from_slice(&[hi << 5 | ((length - 4) as u8) << 2 | COPY1, lo]);
    }
}

fn encode_block(dst: &mut Vec<u8>, src: &[u8]) {
    const MAX_TABLE: usize = 1 << 14;
    const MASK: u32 = (MAX_TABLE - 1) as u32;
    let mut shift = 32 - 8;
    let mut size = 1 << 8;
    while size < MAX_TABLE && size < src.len() {
        shift -= 1;
        size *= 2;
    }
    let mut table = [0u16; MAX_TABLE];
    let s_limit = src.len() - INPUT_MARGIN;
    let mut next_emit = 0;
    let mut s = 1;
    let mut next_hash = hash(load32(src, s), shift);
    'outer: loop {
        let mut skip = 32;
        let mut next_s = s;
        let mut candidate;
        loop {
            s = next_s;
            let step = skip >> 5;
            next_s = s + step;
            skip += step;
            if next_s > s_limit {
                break 'outer;
            }
            candidate = usize::from(table[(next_hash & MASK) as usize]);
            table[(next_hash & MASK) as usize] = s as u16;
            next_hash = hash(load32(src, next_s), shift);
            if load32(src, s) == load32(src, candidate) {
                break;
            }
        }
        emit_literal(dst, &src[next_emit..s]);
        loop {
            let base = s;
            s += 4;
            let mut i = candidate + 4;
            while s < src.len() && src[i] == src[s] {
                i += 1;
                s += 1;
            }
            emit_copy(dst, base - candidate, s - base);
            next_emit = s;
            if s >= s_limit {
                break 'outer;
            }
            let x = load64(src, s - 1);
            let prev_hash = hash(x as u32, shift);
            table[(prev_hash & MASK) as usize] = (s - 1) as u16;
            let curr_hash = hash((x >> 8) as u32, shift);
            candidate = usize::from(table[(curr_hash & MASK) as usize]);
            table[(curr_hash & MASK) as usize] = s as u16;
            if (x >> 8) as u32 != load32(src, candidate) {
                next_hash = hash((x >> 16) as u32, shift);
                s += 1;
                break;
            }
        }
    }
    if next_emit < src.len() {
        emit_literal(dst, &src[next_emit..]);
    }
}

/// Compresses `src` into one snappy block, byte-identical to Go's `Encode`.
pub(crate) fn compress(src: &[u8]) -> Vec<u8> {
    let mut dst = Vec::with_capacity(32 + src.len() + src.len() / 6);
    base::codec::put_uvarint(&mut dst, src.len() as u64);
    for p in src.chunks(MAX_BLOCK) {
        if p.len() < MIN_NON_LITERAL_BLOCK {
            emit_literal(&mut dst, p);
        } else {
            encode_block(&mut dst, p);
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_decodes_with_the_reference_decoder() {
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![],
            b"a".to_vec(),
            b"0123456789abcdef".to_vec(),
            b"abcabcabcabcabcabcabcabcabcabcabcabc".to_vec(),
            vec![7u8; 100_000],
        ];
        let mut x = 1u64;
        inputs.push(
            (0..200_000)
                .map(|i| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    if i % 3 == 0 {
                        (x >> 60) as u8
                    } else {
                        b"metric_name{label=\"value\"}"[i % 26]
                    }
                })
                .collect(),
        );
        for input in inputs {
            let c = compress(&input);
            assert_eq!(snap::raw::Decoder::new().decompress_vec(&c).unwrap(), input);
        }
    }
}
