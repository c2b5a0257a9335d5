//! The one varint implementation, and the small byte codecs records are
//! made of.
//!
//! Every LEB128 varint in the workspace goes through here: the index and
//! chunk segments of TSDB blocks, the timestamps inside XOR chunks, staged
//! samples, external-sort runs and the records spilled into them. There is
//! one decoding rule, Go's `binary.Uvarint` (what Prometheus reads blocks
//! with): at most [`MAX_VARINT_LEN`] bytes, and the tenth byte may only
//! carry the 64th bit, so a value that overflows 64 bits is an error, never
//! silently truncated. Only the category of one malformed input differs
//! from Go: ten bytes whose last still has its continuation bit are
//! [`VarintError::Overflow`] here at once, where Go's `Uvarint` reports a
//! too-short buffer if nothing follows them. Both are refusals, so no
//! accepted input decodes differently. Signed varints are zigzag-encoded
//! (Go's `binary.Varint`).
//!
//! The decoders come in the shapes their callers read from:
//! [`decode_uvarint`] over a slice with an offset to advance,
//! [`get_uvarint`] consuming from the front of a slice, [`read_uvarint`]
//! from a `BufRead`, and [`UvarintDecoder`] for anything else that yields
//! one byte at a time (the bit stream of an XOR chunk).
//!
//! The other helpers serve `sort::SortRecord` implementations, whose
//! records are written and read back by the same process, so they only
//! need to be compact and fast: length-prefixed bytes and strings, and
//! `f64` kept bit-exact (NaN payloads such as Prometheus' stale marker
//! survive). Every `get_*` consumes its value from the front
//! of the slice and fails with `InvalidData`/`UnexpectedEof` instead of
//! panicking.

use std::fmt;
use std::io::{self, BufRead};

/// Longest uvarint of a `u64` (Go's `binary.MaxVarintLen64`).
pub const MAX_VARINT_LEN: usize = 10;

/// Why bytes are not a varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The input ends before the byte without a continuation bit.
    Truncated,
    /// More than [`MAX_VARINT_LEN`] bytes, or a value over 64 bits.
    Overflow,
}

impl fmt::Display for VarintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VarintError::Truncated => "input ends inside a varint",
            VarintError::Overflow => "varint overflows 64 bits",
        })
    }
}

impl std::error::Error for VarintError {}

impl From<VarintError> for io::Error {
    fn from(e: VarintError) -> Self {
        let kind = match e {
            VarintError::Truncated => io::ErrorKind::UnexpectedEof,
            VarintError::Overflow => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

fn eof(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("record truncated while reading {what}"),
    )
}

/// Writes `v` as a LEB128 unsigned varint into `buf`; returns its length
/// (1 to [`MAX_VARINT_LEN`] bytes).
#[inline]
pub fn encode_uvarint(mut v: u64, buf: &mut [u8; MAX_VARINT_LEN]) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        buf[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    buf[i] = v as u8;
    i + 1
}

/// Appends `v` as a LEB128 unsigned varint (1 to 10 bytes).
#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; MAX_VARINT_LEN];
    let n = encode_uvarint(v, &mut buf);
    out.extend_from_slice(&buf[..n]);
}

/// Zigzag mapping of signed to unsigned, so small negative numbers stay
/// short as varints: 0, -1, 1, -2, … become 0, 1, 2, 3, …
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Decodes a uvarint one byte at a time, for readers that have no slice
/// to hand (a bit stream, a byte source with its own errors).
#[derive(Debug, Clone, Default)]
pub struct UvarintDecoder {
    value: u64,
    len: u32,
}

impl UvarintDecoder {
    /// A decoder that has seen no byte yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next byte: `Some(value)` when it ends the varint, `None`
    /// when more bytes are needed. Do not push again after either an
    /// answer or an error.
    #[inline]
    pub fn push(&mut self, b: u8) -> Result<Option<u64>, VarintError> {
        // The tenth byte may only carry the 64th bit (and must end the varint).
        if self.len == MAX_VARINT_LEN as u32 - 1 && b > 1 {
            return Err(VarintError::Overflow);
        }
        self.value |= u64::from(b & 0x7f) << (7 * self.len);
        self.len += 1;
        Ok((b < 0x80).then_some(self.value))
    }

    /// Bytes pushed so far.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True before the first byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Decodes the uvarint at the front of `buf`: (value, bytes used).
#[inline]
pub fn decode_uvarint(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut d = UvarintDecoder::new();
    for &b in buf {
        if let Some(v) = d.push(b)? {
            return Ok((v, d.len()));
        }
    }
    Err(VarintError::Truncated)
}

/// Decodes the zigzag varint at the front of `buf`: (value, bytes used).
#[inline]
pub fn decode_varint(buf: &[u8]) -> Result<(i64, usize), VarintError> {
    decode_uvarint(buf).map(|(u, n)| (unzigzag(u), n))
}

/// Reads an unsigned varint written by [`put_uvarint`].
#[inline]
pub fn get_uvarint(buf: &mut &[u8]) -> io::Result<u64> {
    match decode_uvarint(buf) {
        Ok((v, n)) => {
            *buf = &buf[n..];
            Ok(v)
        }
        Err(VarintError::Truncated) => Err(eof("a varint")),
        Err(e) => Err(e.into()),
    }
}

/// Reads a uvarint from `r`, `None` if `r` is at its end before the first
/// byte (a clean end of a stream of records); an end inside the varint is
/// `UnexpectedEof`, an overflow `InvalidData`.
pub fn read_uvarint(r: &mut impl BufRead) -> io::Result<Option<u64>> {
    let mut d = UvarintDecoder::new();
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return if d.is_empty() {
                Ok(None)
            } else {
                Err(VarintError::Truncated.into())
            };
        }
        let mut used = 0;
        let mut done = None;
        for &b in avail {
            used += 1;
            match d.push(b) {
                Ok(None) => {}
                Ok(Some(v)) => {
                    done = Some(Ok(v));
                    break;
                }
                Err(e) => {
                    done = Some(Err(e));
                    break;
                }
            }
        }
        r.consume(used);
        if let Some(res) = done {
            return res.map(Some).map_err(io::Error::from);
        }
    }
}

/// Appends `v` zigzag-encoded, so small negative numbers stay short.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Reads a signed varint written by [`put_varint`].
#[inline]
pub fn get_varint(buf: &mut &[u8]) -> io::Result<i64> {
    get_uvarint(buf).map(unzigzag)
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
    fn decoding_follows_go_uvarint() {
        // u64::MAX: nine 0xff then 0x01, the longest legal encoding.
        let mut max = vec![0xffu8; 9];
        max.push(0x01);
        assert_eq!(decode_uvarint(&max), Ok((u64::MAX, 10)));
        // A tenth byte carrying more than the 64th bit overflows, as in Go.
        let mut over = vec![0xffu8; 9];
        over.push(0x02);
        assert_eq!(decode_uvarint(&over), Err(VarintError::Overflow));
        over[9] = 0x80;
        assert_eq!(decode_uvarint(&over), Err(VarintError::Overflow));
        assert_eq!(decode_uvarint(&[]), Err(VarintError::Truncated));
        assert_eq!(decode_uvarint(&[0x80, 0x80]), Err(VarintError::Truncated));
        // Non-minimal encodings are accepted, as Go does.
        assert_eq!(decode_uvarint(&[0x81, 0x00, 0x7f]), Ok((1, 2)));
        assert_eq!(decode_varint(&[0x03]), Ok((-2, 1)));
    }

    #[test]
    fn encode_matches_put_and_zigzag_round_trips() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut buf = [0u8; MAX_VARINT_LEN];
            let n = encode_uvarint(v, &mut buf);
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            assert_eq!(&buf[..n], &out[..]);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn read_uvarint_tells_a_clean_end_from_a_cut() {
        let mut out = Vec::new();
        put_uvarint(&mut out, 300);
        put_uvarint(&mut out, 5);
        // A one-byte buffer makes every varint cross a refill.
        let mut r = io::BufReader::with_capacity(1, &out[..]);
        assert_eq!(read_uvarint(&mut r).unwrap(), Some(300));
        assert_eq!(read_uvarint(&mut r).unwrap(), Some(5));
        assert_eq!(read_uvarint(&mut r).unwrap(), None);
        let cut = read_uvarint(&mut &[0x80u8][..]).unwrap_err();
        assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof);
        let over = read_uvarint(&mut &[0xffu8; 11][..]).unwrap_err();
        assert_eq!(over.kind(), io::ErrorKind::InvalidData);
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
