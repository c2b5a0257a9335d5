//! Small byte codecs for [`SortRecord`](super::SortRecord) implementations.
//!
//! Records spilled by the external sort are written and read back by the
//! same process, so the format only needs to be compact and fast, not
//! stable across versions. These helpers cover what records are made of:
//! unsigned and signed (zigzag) varints, length-prefixed bytes and strings,
//! and `f64` kept bit-exact (NaN payloads such as Prometheus' stale marker
//! survive). Every `get_*` consumes its value from the front of the slice
//! and fails with `InvalidData`/`UnexpectedEof` instead of panicking.

use std::io;

fn eof(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("record truncated while reading {what}"),
    )
}

/// Appends `v` as a LEB128 unsigned varint (1 to 10 bytes).
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned varint written by [`put_uvarint`].
pub fn get_uvarint(buf: &mut &[u8]) -> io::Result<u64> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate() {
        if i == 9 && b > 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "varint overflows 64 bits",
            ));
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *buf = &buf[i + 1..];
            return Ok(v);
        }
    }
    Err(eof("a varint"))
}

/// Appends `v` zigzag-encoded, so small negative numbers stay short.
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Reads a signed varint written by [`put_varint`].
pub fn get_varint(buf: &mut &[u8]) -> io::Result<i64> {
    let u = get_uvarint(buf)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

/// Appends the length of `b` as a uvarint, then `b`.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads bytes written by [`put_bytes`], borrowing them from `buf`.
pub fn get_bytes<'a>(buf: &mut &'a [u8]) -> io::Result<&'a [u8]> {
    let n = get_uvarint(buf)?;
    let n = usize::try_from(n).map_err(|_| eof("a byte string"))?;
    if n > buf.len() {
        return Err(eof("a byte string"));
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

/// Appends a string as [`put_bytes`] does.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

/// Reads a string written by [`put_str`], borrowing it from `buf`.
pub fn get_str<'a>(buf: &mut &'a [u8]) -> io::Result<&'a str> {
    let b = get_bytes(buf)?;
    std::str::from_utf8(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Reads a string written by [`put_str`] into an owned `String`.
pub fn get_string(buf: &mut &[u8]) -> io::Result<String> {
    get_str(buf).map(str::to_owned)
}

/// Appends the 8 bytes of `v`'s bit pattern (little endian).
pub fn put_f64(out: &mut Vec<u8>, v: f64) {
    put_u64(out, v.to_bits());
}

/// Reads an `f64` written by [`put_f64`], bit-exact.
pub fn get_f64(buf: &mut &[u8]) -> io::Result<f64> {
    get_u64(buf).map(f64::from_bits)
}

/// Appends `v` as 8 little-endian bytes (for values that are rarely small,
/// such as hashes).
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Reads a `u64` written by [`put_u64`].
pub fn get_u64(buf: &mut &[u8]) -> io::Result<u64> {
    let Some((head, tail)) = buf.split_first_chunk::<8>() else {
        return Err(eof("a fixed 64-bit value"));
    };
    *buf = tail;
    Ok(u64::from_le_bytes(*head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_round_trips_edges() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            let mut s = out.as_slice();
            assert_eq!(get_uvarint(&mut s).unwrap(), v);
            assert!(s.is_empty());
        }
    }

    #[test]
    fn varint_round_trips_and_is_short_for_small_negatives() {
        for v in [0, -1, 1, -64, 64, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut s = out.as_slice();
            assert_eq!(get_varint(&mut s).unwrap(), v);
        }
        let mut out = Vec::new();
        put_varint(&mut out, -1);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn truncated_and_overlong_inputs_are_errors() {
        assert!(get_uvarint(&mut &[0x80u8, 0x80][..]).is_err());
        assert!(get_uvarint(&mut &[0xffu8; 11][..]).is_err());
        assert!(get_bytes(&mut &[5u8, 1, 2][..]).is_err());
        assert!(get_str(&mut &[1u8, 0xff][..]).is_err());
        assert!(get_f64(&mut &[0u8; 7][..]).is_err());
    }

    #[test]
    fn mixed_record_round_trips_bit_exact() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let mut out = Vec::new();
        put_str(&mut out, "up{job=\"é\"}");
        put_bytes(&mut out, b"");
        put_f64(&mut out, stale);
        put_varint(&mut out, -1_700_000_000_000);
        let mut s = out.as_slice();
        assert_eq!(get_str(&mut s).unwrap(), "up{job=\"é\"}");
        assert_eq!(get_bytes(&mut s).unwrap(), b"");
        assert_eq!(get_f64(&mut s).unwrap().to_bits(), stale.to_bits());
        assert_eq!(get_varint(&mut s).unwrap(), -1_700_000_000_000);
        assert!(s.is_empty());
    }
}
