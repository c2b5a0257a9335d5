//! Prometheus 1.x DoubleDelta chunks (Cortex encodings 0 and 1).
//!
//! A fixed 1024-byte buffer. Header, little-endian: used bytes (u16) @0,
//! time double-delta width @2, value double-delta width @3, is-integer flag
//! @4, base time @5, base value @13, base time delta @21, base value delta
//! @29; a one-sample chunk stops after the base value (21 bytes). Then one
//! (time, value) double-delta pair per sample of the declared widths; width 8
//! means the absolute timestamp / float64 value instead of a delta.
//!
//! Arithmetic is Go's: wrapping int64 for times, float64 for values, in the
//! same order of operations, so decoded values are bit-identical to Cortex's.

use super::{Encoding, EncodingError, Sample, CHUNK_LEN};

const HEADER_BYTES: usize = 37;
const HEADER_MIN_BYTES: usize = 21;
const TIME_BYTES_OFFSET: usize = 2;
const VALUE_BYTES_OFFSET: usize = 3;
const IS_INT_OFFSET: usize = 4;
const BASE_TIME_OFFSET: usize = 5;
const BASE_VALUE_OFFSET: usize = 13;
const BASE_TIME_DELTA_OFFSET: usize = 21;
const BASE_VALUE_DELTA_OFFSET: usize = 29;

fn err(reason: impl Into<String>) -> EncodingError {
    EncodingError::invalid(Encoding::DoubleDelta, reason)
}

fn u64_at(c: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = c.get(off..off + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

/// Decodes a DoubleDelta data section (normally the full 1024-byte buffer).
pub fn decode(data: &[u8]) -> Result<Vec<Sample>, EncodingError> {
    if data.len() < HEADER_MIN_BYTES {
        return Err(err(format!(
            "{} bytes, shorter than the {HEADER_MIN_BYTES}-byte header",
            data.len()
        )));
    }
    let used = usize::from(u16::from_le_bytes([data[0], data[1]]));
    if used > CHUNK_LEN {
        return Err(err(format!(
            "used length {used} exceeds the {CHUNK_LEN}-byte chunk"
        )));
    }
    if used < HEADER_MIN_BYTES {
        return Err(err(format!(
            "used length {used} is less than the header size {HEADER_MIN_BYTES}"
        )));
    }
    if used > HEADER_MIN_BYTES && used < HEADER_BYTES {
        return Err(err(format!("used length {used} cuts the header short")));
    }
    if used > data.len() {
        return Err(err(format!(
            "used length {used} exceeds the {} bytes present",
            data.len()
        )));
    }
    let c = &data[..used];
    if !matches!(c[TIME_BYTES_OFFSET], 1 | 2 | 4 | 8) {
        return Err(err(format!(
            "invalid time delta width {}",
            c[TIME_BYTES_OFFSET]
        )));
    }
    if !matches!(c[VALUE_BYTES_OFFSET], 0 | 1 | 2 | 4 | 8) {
        return Err(err(format!(
            "invalid value delta width {}",
            c[VALUE_BYTES_OFFSET]
        )));
    }
    samples(c)
}

/// Number of samples in a used buffer (Go's `Len()`).
fn sample_count(c: &[u8]) -> usize {
    if c.len() <= IS_INT_OFFSET + 1 {
        0
    } else if c.len() <= BASE_VALUE_OFFSET + 8 {
        1
    } else {
        let sample_size = usize::from(c[TIME_BYTES_OFFSET]) + usize::from(c[VALUE_BYTES_OFFSET]);
        (c.len().saturating_sub(HEADER_BYTES)) / sample_size.max(1) + 2
    }
}

/// Reads every sample of a used buffer whose header widths are known valid.
fn samples(c: &[u8]) -> Result<Vec<Sample>, EncodingError> {
    let n = sample_count(c);
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok(out);
    }
    let tb = c[TIME_BYTES_OFFSET];
    let vb = c[VALUE_BYTES_OFFSET];
    let is_int = c[IS_INT_OFFSET] == 1;
    let base_t = u64_at(c, BASE_TIME_OFFSET) as i64;
    let base_v = f64::from_bits(u64_at(c, BASE_VALUE_OFFSET));
    out.push((base_t, base_v));
    if n == 1 {
        return Ok(out);
    }
    // The base deltas are absent (zero) while the buffer is header-only.
    let base_dt = u64_at(c, BASE_TIME_DELTA_OFFSET) as i64;
    let base_dv = f64::from_bits(u64_at(c, BASE_VALUE_DELTA_OFFSET));
    out.push((
        if tb == 8 {
            base_dt
        } else {
            base_t.wrapping_add(base_dt)
        },
        if vb == 8 { base_dv } else { base_v + base_dv },
    ));
    let ss = usize::from(tb) + usize::from(vb);
    for idx in 2..n {
        let off = HEADER_BYTES + (idx - 2) * ss;
        let field = c
            .get(off..off + ss)
            .ok_or_else(|| err(format!("sample {idx} runs past the used length")))?;
        let (tf, vf) = field.split_at(usize::from(tb));
        let proj_t = base_t.wrapping_add((idx as i64).wrapping_mul(base_dt));
        let t = match tb {
            1 => proj_t.wrapping_add(i64::from(tf[0] as i8)),
            2 => proj_t.wrapping_add(i64::from(i16::from_le_bytes([tf[0], tf[1]]))),
            4 => proj_t.wrapping_add(i64::from(i32::from_le_bytes([tf[0], tf[1], tf[2], tf[3]]))),
            _ => u64_at(tf, 0) as i64,
        };
        let proj_v = base_v + (idx as f64) * base_dv;
        let v = match (is_int, vb) {
            (true, 0) => proj_v,
            (true, 1) => proj_v + f64::from(vf[0] as i8),
            (true, 2) => proj_v + f64::from(i16::from_le_bytes([vf[0], vf[1]])),
            (true, 4) => proj_v + f64::from(i32::from_le_bytes([vf[0], vf[1], vf[2], vf[3]])),
            (false, 4) => proj_v + f64::from(f32::from_le_bytes([vf[0], vf[1], vf[2], vf[3]])),
            (false, 8) => f64::from_bits(u64_at(vf, 0)),
            (int, w) => {
                return Err(err(format!(
                    "invalid value delta width {w} for {} values",
                    if int { "integer" } else { "float" }
                )))
            }
        };
        out.push((t, v));
    }
    Ok(out)
}

/// An open DoubleDelta chunk being appended to, as Cortex's ingester held it.
#[derive(Clone, Debug)]
pub struct DoubleDeltaChunk {
    buf: Box<[u8; CHUNK_LEN]>,
    used: usize,
}

impl Default for DoubleDeltaChunk {
    fn default() -> Self {
        Self::with_widths(1, 0, true)
    }
}

fn time_bytes_signed(d: i64) -> u8 {
    if d > i64::from(i32::MAX) || d < i64::from(i32::MIN) {
        8
    } else if d > i64::from(i16::MAX) || d < i64::from(i16::MIN) {
        4
    } else if d > i64::from(i8::MAX) || d < i64::from(i8::MIN) {
        2
    } else {
        1
    }
}

fn time_bytes_unsigned(d: i64) -> u8 {
    if d > i64::from(u32::MAX) {
        8
    } else if d > i64::from(u16::MAX) {
        4
    } else if d > i64::from(u8::MAX) {
        2
    } else {
        1
    }
}

fn int_value_bytes(d: f64) -> u8 {
    if d < f64::from(i32::MIN) || d > f64::from(i32::MAX) {
        8
    } else if d < f64::from(i16::MIN) || d > f64::from(i16::MAX) {
        4
    } else if d < f64::from(i8::MIN) || d > f64::from(i8::MAX) {
        2
    } else if d != 0.0 {
        1
    } else {
        0
    }
}

/// Go's `float64(int64(v)) == v` on amd64, where out-of-range conversions
/// yield MinInt64 (so 2^63 is not an int64, unlike a saturating cast).
pub(crate) fn is_int64(v: f64) -> bool {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    (-TWO_63..TWO_63).contains(&v) && v.fract() == 0.0
}

impl DoubleDeltaChunk {
    /// A fresh chunk as Cortex creates it: 1-byte time deltas, integer values
    /// with 0-byte deltas.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_widths(tb: u8, vb: u8, is_int: bool) -> Self {
        let mut buf = Box::new([0u8; CHUNK_LEN]);
        buf[TIME_BYTES_OFFSET] = tb;
        buf[VALUE_BYTES_OFFSET] = vb;
        buf[IS_INT_OFFSET] = u8::from(vb < 8 && is_int);
        DoubleDeltaChunk {
            buf,
            used: IS_INT_OFFSET + 1,
        }
    }

    fn c(&self) -> &[u8] {
        &self.buf[..self.used]
    }

    /// Samples in the chunk.
    pub fn len(&self) -> usize {
        sample_count(self.c())
    }

    /// Whether the chunk holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The data section Cortex writes: the whole buffer, used length set.
    pub fn marshal(&self) -> Vec<u8> {
        let mut out = self.buf.to_vec();
        // `used` never exceeds CHUNK_LEN, which fits a u16.
        out[..2].copy_from_slice(&(self.used as u16).to_le_bytes());
        out
    }

    fn set_u64(&mut self, off: usize, v: u64) {
        self.buf[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// Appends a sample. Returns the overflow chunk that now holds the sample
    /// (and possibly later ones) when this chunk is full: the caller closes
    /// this chunk and continues with the returned one, as the ingester did.
    pub fn add(&mut self, (t, v): Sample) -> Result<Option<Self>, EncodingError> {
        let n = self.len();
        let tb = self.buf[TIME_BYTES_OFFSET];
        let vb = self.buf[VALUE_BYTES_OFFSET];
        if n == 0 {
            self.used = BASE_VALUE_OFFSET + 8;
            self.set_u64(BASE_TIME_OFFSET, t as u64);
            self.set_u64(BASE_VALUE_OFFSET, v.to_bits());
            return Ok(None);
        }
        let base_t = u64_at(self.c(), BASE_TIME_OFFSET) as i64;
        let base_v = f64::from_bits(u64_at(self.c(), BASE_VALUE_OFFSET));
        if n == 1 {
            let base_dt = t.wrapping_sub(base_t);
            if base_dt < 0 {
                return Err(err(format!("base time delta is less than zero: {base_dt}")));
            }
            self.used = HEADER_BYTES;
            if tb >= 8 || time_bytes_unsigned(base_dt) >= 8 {
                self.buf[TIME_BYTES_OFFSET] = 8;
                self.set_u64(BASE_TIME_DELTA_OFFSET, t as u64);
            } else {
                self.set_u64(BASE_TIME_DELTA_OFFSET, base_dt as u64);
            }
            let base_dv = v - base_v;
            if vb >= 8 || base_v + base_dv != v {
                self.buf[VALUE_BYTES_OFFSET] = 8;
                self.buf[IS_INT_OFFSET] = 0;
                self.set_u64(BASE_VALUE_DELTA_OFFSET, v.to_bits());
            } else {
                self.set_u64(BASE_VALUE_DELTA_OFFSET, base_dv.to_bits());
            }
            return Ok(None);
        }
        let ss = usize::from(tb) + usize::from(vb);
        if CHUNK_LEN - self.used < ss {
            return overflow((t, v));
        }
        let base_dt = u64_at(self.c(), BASE_TIME_DELTA_OFFSET) as i64;
        let base_dv = f64::from_bits(u64_at(self.c(), BASE_VALUE_DELTA_OFFSET));
        let is_int = self.buf[IS_INT_OFFSET] == 1;
        let ddt = t.wrapping_sub(base_t.wrapping_add((n as i64).wrapping_mul(base_dt)));
        let proj_v = base_v + (n as f64) * base_dv;
        let ddv = v - proj_v;

        let (mut ntb, mut nvb, mut n_int) = (tb, vb, is_int);
        if is_int && !is_int64(ddv) {
            nvb = 4;
            n_int = false;
        } else if !is_int && vb == 4 && proj_v + f64::from(ddv as f32) != v {
            nvb = 8;
        } else {
            if tb < 8 {
                ntb = tb.max(time_bytes_signed(ddt));
            }
            if is_int && vb < 8 {
                nvb = vb.max(int_value_bytes(ddv));
            }
        }
        if tb != ntb || vb != nvb || is_int != n_int {
            if self.used * 2 < CHUNK_LEN {
                let mut result =
                    transcode_and_add(Self::with_widths(ntb, nvb, n_int), self, (t, v))?;
                if result.len() <= 2 {
                    let mut rest = result.drain(..);
                    if let Some(first) = rest.next() {
                        *self = first;
                        return Ok(rest.next());
                    }
                }
            }
            // Half full already (or transcoding spilled over two chunks):
            // Cortex starts a new chunk rather than transcoding.
            return overflow((t, v));
        }

        let off = self.used;
        self.used += ss;
        match tb {
            1 => self.buf[off] = ddt as u8,
            2 => self.buf[off..off + 2].copy_from_slice(&(ddt as u16).to_le_bytes()),
            4 => self.buf[off..off + 4].copy_from_slice(&(ddt as u32).to_le_bytes()),
            _ => self.set_u64(off, t as u64),
        }
        let off = off + usize::from(tb);
        match (is_int, vb) {
            (true, 0) => {}
            (true, 1) => self.buf[off] = ddv as i64 as i8 as u8,
            (true, 2) => self.buf[off..off + 2].copy_from_slice(&(ddv as i64 as i16).to_le_bytes()),
            (true, 4) => self.buf[off..off + 4].copy_from_slice(&(ddv as i64 as i32).to_le_bytes()),
            (false, 4) => {
                self.buf[off..off + 4].copy_from_slice(&(ddv as f32).to_bits().to_le_bytes())
            }
            (false, 8) => self.set_u64(off, v.to_bits()),
            (_, w) => return Err(err(format!("cannot append with value delta width {w}"))),
        }
        Ok(None)
    }
}

fn overflow(s: Sample) -> Result<Option<DoubleDeltaChunk>, EncodingError> {
    let mut c = DoubleDeltaChunk::new();
    c.add(s)?;
    Ok(Some(c))
}

/// Re-adds every sample of `src` to `dst` (following overflows), then `s`.
fn transcode_and_add(
    dst: DoubleDeltaChunk,
    src: &DoubleDeltaChunk,
    s: Sample,
) -> Result<Vec<DoubleDeltaChunk>, EncodingError> {
    let mut body = vec![dst];
    for sample in samples(src.c())?.into_iter().chain(std::iter::once(s)) {
        let head = body
            .last_mut()
            .ok_or_else(|| err("transcoding lost its chunk"))?;
        if let Some(next) = head.add(sample)? {
            body.push(next);
        }
    }
    Ok(body)
}

/// Appends samples to a fresh chunk, following overflows; one marshalled
/// data section per resulting chunk.
pub fn encode(samples: &[Sample]) -> Result<Vec<Vec<u8>>, EncodingError> {
    let mut done = Vec::new();
    let mut head = DoubleDeltaChunk::new();
    for &s in samples {
        if let Some(next) = head.add(s)? {
            done.push(head.marshal());
            head = next;
        }
    }
    if !head.is_empty() {
        done.push(head.marshal());
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[Sample]) -> Vec<Sample> {
        let chunks = encode(samples).unwrap();
        chunks.iter().flat_map(|c| decode(c).unwrap()).collect()
    }

    fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
        s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    #[test]
    fn round_trips_integers_floats_and_jitter() {
        let mut s: Vec<Sample> = (0..300)
            .map(|i| (1_000_000 + i * 15_000, i as f64))
            .collect();
        assert_eq!(round_trip(&s), s);
        s = (0..500)
            .map(|i| {
                (
                    1_000_000 + i * 60_000 + (i * 7919 % 51) - 25,
                    (i as f64) * 0.37 + 1e9,
                )
            })
            .collect();
        assert_eq!(bits(&round_trip(&s)), bits(&s));
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        s = vec![
            (0, 1.0),
            (10, stale),
            (20, 2.5),
            (30, stale),
            (1 << 40, -0.0),
        ];
        assert_eq!(bits(&round_trip(&s)), bits(&s));
    }

    #[test]
    fn single_and_two_sample_chunks() {
        for s in [vec![(5, 1.5)], vec![(5, 1.5), (7, 2.0)]] {
            let c = encode(&s).unwrap();
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].len(), CHUNK_LEN);
            assert_eq!(decode(&c[0]).unwrap(), s);
        }
    }

    #[test]
    fn overflows_into_new_chunks() {
        let s: Vec<Sample> = (0..2000)
            .map(|i| (i * 1000, (i * i) as f64 * 1.1))
            .collect();
        let chunks = encode(&s).unwrap();
        assert!(chunks.len() > 1);
        assert_eq!(bits(&round_trip(&s)), bits(&s));
    }

    #[test]
    fn rejects_bad_headers_without_panicking() {
        assert!(decode(&[]).is_err());
        let samples: Vec<Sample> = (0..40).map(|i| (i * 10, (i * i) as f64)).collect();
        let mut c = encode(&samples).unwrap().remove(0);
        assert_eq!(decode(&c).unwrap(), samples);
        let good = c.clone();
        c[0] = 0xff;
        c[1] = 0xff;
        assert!(decode(&c).is_err());
        c = good.clone();
        c[TIME_BYTES_OFFSET] = 3;
        assert!(decode(&c).is_err());
        c = good.clone();
        c[VALUE_BYTES_OFFSET] = 8; // integer values with 8-byte deltas
        c[IS_INT_OFFSET] = 1;
        assert!(decode(&c).is_err());
        assert!(decode(&good[..30]).is_err());
        for i in 0..good.len() {
            let mut c = good.clone();
            c[i] ^= 0x5a;
            let _ = decode(&c);
        }
    }
}
