//! Prometheus 1.x Varbit chunks (Cortex encoding 2).
//!
//! A Gorilla-like bit stream in a fixed 1024-byte buffer, big-endian where it
//! matters. Header: first time @0, first value @8, last time @16, last value
//! @24 (all 8 bytes), first Δt (3 bytes) @32, flags @35 (low 2 bits: value
//! encoding zero / int double-delta / XOR / direct; top bit: closed), bit
//! offset of the next sample (u16) @36, then the payload from bit 304. An
//! open chunk keeps a 9-byte footer (zero-ΔΔt counter offset, last Δt, last
//! Δv or XOR window) that the payload may overwrite once the chunk fills. A
//! closed chunk holds one more sample in the "last" header fields.
//!
//! The decoder follows Cortex's iterator step by step (including where it
//! stops on damaged data); the encoder follows its `Add`, so re-encoding a
//! chunk's samples reproduces Cortex's bytes.

use super::{Encoding, EncodingError, Sample, CHUNK_LEN};

const FIRST_VALUE_OFFSET: usize = 8;
const LAST_TIME_OFFSET: usize = 16;
const LAST_VALUE_OFFSET: usize = 24;
const FIRST_TIME_DELTA_OFFSET: usize = 32;
const FLAG_OFFSET: usize = 35;
const NEXT_OFFSET_OFFSET: usize = 36;
const FIRST_VALUE_DELTA_OFFSET: usize = 38;
const COUNT_OFFSET_BIT_OFFSET: usize = CHUNK_LEN - 9;
const LAST_TIME_DELTA_OFFSET: usize = CHUNK_LEN - 7;
const LAST_VALUE_DELTA_OFFSET: usize = CHUNK_LEN - 4;
const LAST_LEADING_OFFSET: usize = CHUNK_LEN - 4;
const LAST_SIGNIFICANT_OFFSET: usize = CHUNK_LEN - 3;

const FIRST_SAMPLE_BIT: u16 = 0;
const SECOND_SAMPLE_BIT: u16 = 1;
const THIRD_SAMPLE_BIT: u16 = (FIRST_VALUE_DELTA_OFFSET * 8) as u16;
const NEXT_OFFSET_THRESHOLD: u16 = (8 * COUNT_OFFSET_BIT_OFFSET) as u16;
const MAX_TIME_DELTA: i64 = 1 << 24;
const TOTAL_BITS: usize = CHUNK_LEN * 8;

const ENC_ZERO: u8 = 0;
const ENC_INT: u8 = 1;
const ENC_XOR: u8 = 2;
const ENC_DIRECT: u8 = 3;

fn worst_case_bits(enc: u8) -> usize {
    match enc {
        ENC_ZERO => 27,
        ENC_INT => 27 + 38,
        ENC_XOR => 27 + 13 + 64,
        _ => 27 + 64,
    }
}

/// `MASK[n][p]`: `n` consecutive bits starting `p` bits from a byte's MSB
/// (clipped at the byte's end).
const MASK: [[u8; 8]; 9] = {
    let mut m = [[0u8; 8]; 9];
    let mut n = 1;
    while n <= 8 {
        let mut p = 0;
        while p < 8 {
            let ones: u16 = (1u16 << n) - 1;
            m[n][p] = ((ones << (8 - n)) >> p) as u8;
            p += 1;
        }
        n += 1;
    }
    m
};

fn err(reason: impl Into<String>) -> EncodingError {
    EncodingError::invalid(Encoding::Varbit, reason)
}

fn go_shl(x: u64, n: u32) -> u64 {
    x.checked_shl(n).unwrap_or(0)
}

fn go_shr(x: u64, n: u32) -> u64 {
    x.checked_shr(n).unwrap_or(0)
}

fn is_int32(v: f64) -> bool {
    (-2_147_483_648.0..2_147_483_648.0).contains(&v) && v.fract() == 0.0
}

fn is_signed_int_n(i: i64, n: u32) -> bool {
    let upper = 1i64 << (n - 1);
    i < upper && i >= upper - (1i64 << n)
}

/// Leading zeros (at most 31) and significant bits of an XOR pattern.
fn count_bits(p: u64) -> (u8, u8) {
    if p == 0 {
        return (0, 0);
    }
    let lz = p.leading_zeros() as u8;
    let sig = 64 - lz - p.trailing_zeros() as u8;
    if lz > 31 {
        (31, sig + lz - 31)
    } else {
        (lz, sig)
    }
}

#[derive(Clone, Debug)]
struct Buf(Box<[u8; CHUNK_LEN]>);

impl Buf {
    fn u64_at(&self, off: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[off..off + 8]);
        u64::from_be_bytes(b)
    }
    fn put_u64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_be_bytes());
    }
    fn u24_at(&self, off: usize) -> i64 {
        (i64::from(self.0[off]) << 16)
            | (i64::from(self.0[off + 1]) << 8)
            | i64::from(self.0[off + 2])
    }
    fn put_u24(&mut self, off: usize, v: i64) {
        self.0[off] = (v >> 16) as u8;
        self.0[off + 1] = (v >> 8) as u8;
        self.0[off + 2] = v as u8;
    }
    fn u16_at(&self, off: usize) -> u16 {
        u16::from_be_bytes([self.0[off], self.0[off + 1]])
    }
    fn put_u16(&mut self, off: usize, v: u16) {
        self.0[off..off + 2].copy_from_slice(&v.to_be_bytes());
    }
    fn i32_at(&self, off: usize) -> i32 {
        i32::from_be_bytes([
            self.0[off],
            self.0[off + 1],
            self.0[off + 2],
            self.0[off + 3],
        ])
    }
    fn put_i32(&mut self, off: usize, v: i32) {
        self.0[off..off + 4].copy_from_slice(&v.to_be_bytes());
    }
    fn next_offset(&self) -> u16 {
        self.u16_at(NEXT_OFFSET_OFFSET)
    }
    fn value_encoding(&self) -> u8 {
        self.0[FLAG_OFFSET] & 0x03
    }
    fn closed(&self) -> bool {
        self.0[FLAG_OFFSET] > 0x7f
    }
    fn first(&self) -> Sample {
        (
            self.u64_at(0) as i64,
            f64::from_bits(self.u64_at(FIRST_VALUE_OFFSET)),
        )
    }
    fn last(&self) -> Sample {
        (
            self.u64_at(LAST_TIME_OFFSET) as i64,
            f64::from_bits(self.u64_at(LAST_VALUE_OFFSET)),
        )
    }

    /// Reads `n` (≤ 64) bits at bit `offset`; the caller checks bounds.
    fn read_bits(&self, offset: usize, mut n: usize) -> u64 {
        let mut result = 0u64;
        let mut byte = offset / 8;
        let mut bit = offset % 8;
        while n > 0 {
            let mut take = 8 - bit;
            let mut trailing = 0;
            if take > n {
                trailing = take - n;
                take = n;
            }
            result = go_shl(result, take as u32)
                | u64::from((self.0[byte] & MASK[take][bit]) >> trailing);
            n -= take;
            byte += 1;
            bit = 0;
        }
        result
    }
}

/// Decodes a Varbit data section: the full 1024 bytes, or exactly the prefix
/// Cortex's `marshalLen` allows.
pub fn decode(data: &[u8]) -> Result<Vec<Sample>, EncodingError> {
    let mut c = Buf(Box::new([0u8; CHUNK_LEN]));
    let copied = data.len().min(CHUNK_LEN);
    c.0[..copied].copy_from_slice(&data[..copied]);
    let marshal_len = (usize::from(c.next_offset().max(THIRD_SAMPLE_BIT)) / 8 + 1).min(CHUNK_LEN);
    if copied != CHUNK_LEN && copied != marshal_len {
        return Err(err(format!(
            "{copied} bytes, want {marshal_len} or {CHUNK_LEN}"
        )));
    }
    read_samples(&c)
}

struct Iter<'a> {
    c: &'a Buf,
    pos: u16,
    len: u16,
    t: i64,
    dt: i64,
    repeats: u8,
    v: f64,
    dv: i64,
    leading: u16,
    significant: u16,
    enc: u8,
    failed: bool,
}

impl Iter<'_> {
    fn bounds(&mut self) {
        self.failed = true;
    }

    fn control_bits(&mut self, max: u16) -> u16 {
        let mut count = 0;
        while count < max && usize::from(self.pos / 8) < CHUNK_LEN {
            let b = self.c.0[usize::from(self.pos / 8)] & MASK[1][usize::from(self.pos % 8)];
            self.pos += 1;
            if b == 0 {
                return count;
            }
            count += 1;
        }
        if usize::from(self.pos / 8) >= CHUNK_LEN {
            self.bounds();
        }
        count
    }

    fn bits(&mut self, n: u16) -> u64 {
        if TOTAL_BITS < usize::from(self.pos) + usize::from(n) {
            self.bounds();
            return 0;
        }
        let u = self.c.read_bits(usize::from(self.pos), usize::from(n));
        self.pos += n;
        u
    }

    fn signed(&mut self, n: u16) -> i64 {
        let mut u = self.bits(n);
        if n < 64 && u >= 1 << (n - 1) {
            u = u.wrapping_sub(1 << n);
        }
        u as i64
    }

    fn read_ddt(&mut self) {
        if self.repeats > 0 {
            self.repeats -= 1;
        } else {
            match self.control_bits(3) {
                0 => self.repeats = self.bits(7) as u8,
                1 => self.dt = self.dt.wrapping_add(self.signed(6)),
                2 => self.dt = self.dt.wrapping_add(self.signed(17)),
                _ => self.dt = self.dt.wrapping_add(self.signed(23)),
            }
        }
        self.t = self.t.wrapping_add(self.dt);
    }

    fn read_ddv(&mut self) {
        let add = match self.control_bits(4) {
            0 => 0,
            1 => self.signed(6),
            2 => self.signed(13),
            3 => self.signed(20),
            _ => self.signed(33),
        };
        self.dv = self.dv.wrapping_add(add);
        self.v += self.dv as f64;
    }

    fn read_xor(&mut self) {
        match self.control_bits(2) {
            0 => return,
            1 => {}
            _ => {
                self.leading = self.bits(5) as u16;
                self.significant = self.bits(6) as u16 + 1;
            }
        }
        let shift = 64u16
            .wrapping_sub(self.significant)
            .wrapping_sub(self.leading);
        let delta = go_shl(self.bits(self.significant), u32::from(shift));
        self.v = f64::from_bits(self.v.to_bits() ^ delta);
    }

    /// One step of Cortex's `Scan`: `Ok(None)` at the end.
    fn scan(&mut self) -> Option<Sample> {
        if self.pos > self.len {
            return None;
        }
        if self.pos == self.len && self.repeats == 0 {
            self.pos = self.len.wrapping_add(1);
            return self.c.closed().then(|| self.c.last());
        }
        if self.pos == FIRST_SAMPLE_BIT {
            (self.t, self.v) = self.c.first();
            self.pos = SECOND_SAMPLE_BIT;
            return Some((self.t, self.v));
        }
        if self.pos == SECOND_SAMPLE_BIT {
            if self.len == THIRD_SAMPLE_BIT && !self.c.closed() {
                self.pos = self.len + 1;
                return Some(self.c.last());
            }
            self.dt = self.c.u24_at(FIRST_TIME_DELTA_OFFSET);
            self.t = self.t.wrapping_add(self.dt);
            match self.enc {
                ENC_ZERO => self.pos = THIRD_SAMPLE_BIT,
                ENC_INT => {
                    self.dv = i64::from(self.c.i32_at(FIRST_VALUE_DELTA_OFFSET));
                    self.v += self.dv as f64;
                    self.pos = THIRD_SAMPLE_BIT + 32;
                }
                ENC_XOR => {
                    self.pos = THIRD_SAMPLE_BIT;
                    self.read_xor();
                }
                _ => {
                    self.v = f64::from_bits(self.c.u64_at(FIRST_VALUE_DELTA_OFFSET));
                    self.pos = THIRD_SAMPLE_BIT + 64;
                }
            }
            return (!self.failed).then_some((self.t, self.v));
        }
        self.read_ddt();
        match self.enc {
            ENC_ZERO => {}
            ENC_INT => self.read_ddv(),
            ENC_XOR => self.read_xor(),
            _ => self.v = f64::from_bits(self.bits(64)),
        }
        (!self.failed).then_some((self.t, self.v))
    }
}

fn read_samples(c: &Buf) -> Result<Vec<Sample>, EncodingError> {
    let mut it = Iter {
        c,
        pos: 0,
        len: c.next_offset(),
        t: i64::MIN,
        dt: 0,
        repeats: 0,
        v: 0.0,
        dv: 0,
        leading: 0,
        significant: 1,
        enc: c.value_encoding(),
        failed: false,
    };
    let mut out = Vec::new();
    while let Some(s) = it.scan() {
        out.push(s);
    }
    if it.failed {
        return Err(err(format!(
            "bit stream runs past the chunk end after {} samples",
            out.len()
        )));
    }
    Ok(out)
}

/// An open Varbit chunk being appended to, as Cortex's ingester held it.
#[derive(Clone, Debug)]
pub struct VarbitChunk(Buf);

impl Default for VarbitChunk {
    fn default() -> Self {
        VarbitChunk(Buf(Box::new([0u8; CHUNK_LEN])))
    }
}

impl VarbitChunk {
    /// A fresh chunk with zero value encoding, as Cortex creates it.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_encoding(enc: u8) -> Self {
        let mut c = Self::new();
        c.0 .0[FLAG_OFFSET] = enc;
        c
    }

    /// The data section Cortex writes: always the full buffer.
    pub fn marshal(&self) -> Vec<u8> {
        self.0 .0.to_vec()
    }

    /// The samples appended so far, decoded back.
    pub fn samples(&self) -> Result<Vec<Sample>, EncodingError> {
        read_samples(&self.0)
    }

    fn set_last(&mut self, (t, v): Sample) {
        self.0.put_u64(LAST_TIME_OFFSET, t as u64);
        self.0.put_u64(LAST_VALUE_OFFSET, v.to_bits());
    }

    fn add_last(&mut self, s: Sample) {
        self.set_last(s);
        self.0 .0[FLAG_OFFSET] |= 0x80;
    }

    fn set_next_offset(&mut self, o: u16) {
        self.0.put_u16(NEXT_OFFSET_OFFSET, o);
    }

    fn set_encoding(&mut self, enc: u8) {
        self.0 .0[FLAG_OFFSET] = (self.0 .0[FLAG_OFFSET] & !0x03) | enc;
    }

    /// Appends a sample; returns the overflow chunk now holding it when this
    /// chunk is full (the caller closes this one and continues with that).
    pub fn add(&mut self, s: Sample) -> Result<Option<Self>, EncodingError> {
        let offset = self.0.next_offset();
        if self.0.closed() {
            return overflow(s);
        }
        if offset > NEXT_OFFSET_THRESHOLD {
            self.add_last(s);
            return Ok(None);
        }
        if offset == FIRST_SAMPLE_BIT {
            self.0.put_u64(0, s.0 as u64);
            self.0.put_u64(FIRST_VALUE_OFFSET, s.1.to_bits());
            self.set_last(s);
            self.set_next_offset(SECOND_SAMPLE_BIT);
            return Ok(None);
        }
        if offset == SECOND_SAMPLE_BIT {
            let dt = s.0.wrapping_sub(self.0.first().0);
            if dt < 0 {
                return Err(err(format!("first Δt is less than zero: {dt}")));
            }
            if dt > MAX_TIME_DELTA {
                self.add_last(s);
                return Ok(None);
            }
            self.0.put_u24(FIRST_TIME_DELTA_OFFSET, dt);
            self.0.put_u24(LAST_TIME_DELTA_OFFSET, dt);
            self.set_last(s);
            self.set_next_offset(THIRD_SAMPLE_BIT);
            return Ok(None);
        }
        self.add_later(s, offset)
    }

    fn add_later(
        &mut self,
        (t, v): Sample,
        mut offset: u16,
    ) -> Result<Option<Self>, EncodingError> {
        let (last_t, last_v) = self.0.last();
        let last_dt = self.0.u24_at(LAST_TIME_DELTA_OFFSET);
        let new_dt = t.wrapping_sub(last_t);
        let mut enc = self.0.value_encoding();
        if new_dt < 0 {
            return Err(err(format!("Δt is less than zero: {new_dt}")));
        }
        if offset == THIRD_SAMPLE_BIT {
            (offset, enc) = self.prep_third(last_v, v, enc);
        }
        if new_dt > MAX_TIME_DELTA || usize::from(offset) + worst_case_bits(enc) > TOTAL_BITS {
            self.add_last((t, v));
            return Ok(None);
        }
        let transcode_to = if enc == ENC_ZERO && v != last_v {
            Some(if is_int32(v - last_v) {
                ENC_INT
            } else {
                ENC_XOR
            })
        } else if enc == ENC_INT && !is_int32(v - last_v) {
            Some(ENC_XOR)
        } else {
            None
        };
        if let Some(new_enc) = transcode_to {
            if usize::from(offset) <= CHUNK_LEN * 4 {
                let mut result = self.transcode_and_add(new_enc, (t, v))?;
                if result.len() <= 2 {
                    let mut rest = result.drain(..);
                    if let Some(first) = rest.next() {
                        *self = first;
                        return Ok(rest.next());
                    }
                }
            }
            return overflow((t, v));
        }
        let Some(o) = self.add_dd_time(offset, last_dt, new_dt) else {
            self.add_last((t, v));
            return Ok(None);
        };
        offset = match enc {
            ENC_ZERO => o,
            ENC_INT => self.add_dd_value(o, last_v, v)?,
            ENC_XOR => self.add_xor_value(o, last_v, v),
            _ => self.add_bits(o, v.to_bits(), 64),
        };
        self.set_next_offset(offset);
        self.set_last((t, v));
        Ok(None)
    }

    fn transcode_and_add(&self, enc: u8, s: Sample) -> Result<Vec<Self>, EncodingError> {
        let mut body = vec![Self::with_encoding(enc)];
        for sample in self.samples()?.into_iter().chain(std::iter::once(s)) {
            let head = body
                .last_mut()
                .ok_or_else(|| err("transcoding lost its chunk"))?;
            if let Some(next) = head.add(sample)? {
                body.push(next);
            }
        }
        Ok(body)
    }

    fn prep_third(&mut self, last_v: f64, new_v: f64, mut enc: u8) -> (u16, u8) {
        let mut offset = THIRD_SAMPLE_BIT;
        let first_v = self.0.first().1;
        let first_dv = last_v - first_v;
        let (_, first_sig) = count_bits(first_v.to_bits() ^ last_v.to_bits());
        let (_, second_sig) = count_bits(last_v.to_bits() ^ new_v.to_bits());
        if enc == ENC_ZERO && last_v == first_v && last_v == new_v {
        } else if enc <= ENC_INT && is_int32(first_dv) {
            enc = ENC_INT;
            self.0.put_i32(FIRST_VALUE_DELTA_OFFSET, first_dv as i32);
            self.0.put_i32(LAST_VALUE_DELTA_OFFSET, first_dv as i32);
            offset += 32;
        } else if enc == ENC_DIRECT || u16::from(first_sig) + u16::from(second_sig) > 100 {
            enc = ENC_DIRECT;
            self.0.put_u64(FIRST_VALUE_DELTA_OFFSET, last_v.to_bits());
            offset += 64;
        } else {
            enc = ENC_XOR;
            offset = self.add_xor_value(offset, first_v, last_v);
        }
        self.set_encoding(enc);
        self.set_next_offset(offset);
        (offset, enc)
    }

    /// `None` when ΔΔt needs more than 23 bits (the chunk gets closed).
    fn add_dd_time(&mut self, mut offset: u16, last_dt: i64, new_dt: i64) -> Option<u16> {
        let dd = new_dt.wrapping_sub(last_dt);
        if !is_signed_int_n(dd, 23) {
            return None;
        }
        self.0.put_u24(LAST_TIME_DELTA_OFFSET, new_dt);
        let mut rep_offset = self.0.u16_at(COUNT_OFFSET_BIT_OFFSET);
        let mut repeats = if rep_offset == 0 {
            0
        } else {
            self.0.read_bits(usize::from(rep_offset), 7) + 1
        };
        if dd == 0 {
            if repeats == 0 || repeats == 128 {
                offset = self.add_zero_bit(offset);
                rep_offset = offset;
                offset += 7;
                repeats = 0;
            }
            self.set_zero_ddt_repeats(repeats + 1, rep_offset);
            return Some(offset);
        }
        self.set_zero_ddt_repeats(0, rep_offset);
        Some(if is_signed_int_n(dd, 6) {
            let o = self.add_one_bits_then_zero(offset, 1);
            self.add_signed(o, dd, 6)
        } else if is_signed_int_n(dd, 17) {
            let o = self.add_one_bits_then_zero(offset, 2);
            self.add_signed(o, dd, 17)
        } else {
            let o = self.add_one_bits(offset, 3);
            self.add_signed(o, dd, 23)
        })
    }

    fn set_zero_ddt_repeats(&mut self, repeats: u64, offset: u16) {
        match repeats {
            0 => {
                self.0.put_u16(COUNT_OFFSET_BIT_OFFSET, 0);
                return;
            }
            1 => {
                if offset + 7 <= NEXT_OFFSET_THRESHOLD {
                    self.0.put_u16(COUNT_OFFSET_BIT_OFFSET, offset);
                }
            }
            _ => {
                let p = usize::from(offset % 8);
                let byte = usize::from(offset / 8);
                self.0 .0[byte] &= !MASK[7][p];
                if p > 1 {
                    self.0 .0[byte + 1] &= !MASK[p - 1][0];
                }
            }
        }
        self.add_bits(offset, repeats - 1, 7);
    }

    fn add_dd_value(&mut self, offset: u16, last_v: f64, new_v: f64) -> Result<u16, EncodingError> {
        let new_dv = (new_v - last_v) as i64;
        let dd = new_dv.wrapping_sub(i64::from(self.0.i32_at(LAST_VALUE_DELTA_OFFSET)));
        self.0.put_i32(LAST_VALUE_DELTA_OFFSET, new_dv as i32);
        Ok(if dd == 0 {
            self.add_zero_bit(offset)
        } else {
            let (ones, width) = [(1, 6), (2, 13), (3, 20), (4, 33)]
                .into_iter()
                .find(|&(_, w)| is_signed_int_n(dd, w))
                .ok_or_else(|| err(format!("value double-delta {dd} needs more than 33 bits")))?;
            let o = if ones < 4 {
                self.add_one_bits_then_zero(offset, ones)
            } else {
                self.add_one_bits(offset, ones)
            };
            self.add_signed(o, dd, width as u16)
        })
    }

    fn add_xor_value(&mut self, offset: u16, last_v: f64, new_v: f64) -> u16 {
        let xor = last_v.to_bits() ^ new_v.to_bits();
        if xor == 0 {
            return self.add_zero_bit(offset);
        }
        let last_lead = self.0 .0[LAST_LEADING_OFFSET];
        let last_sig = self.0 .0[LAST_SIGNIFICANT_OFFSET];
        let (lead, sig) = count_bits(xor);
        if lead >= last_lead
            && u16::from(lead) + u16::from(sig) <= u16::from(last_lead) + u16::from(last_sig)
            && last_sig.wrapping_sub(sig) < 10
        {
            let o = self.add_one_bits_then_zero(offset, 1);
            let shift = 64u8.wrapping_sub(last_lead).wrapping_sub(last_sig);
            return self.add_bits(o, go_shr(xor, u32::from(shift)), u16::from(last_sig));
        }
        self.0 .0[LAST_LEADING_OFFSET] = lead;
        self.0 .0[LAST_SIGNIFICANT_OFFSET] = sig;
        let mut o = self.add_one_bits(offset, 2);
        o = self.add_bits(o, u64::from(lead), 5);
        o = self.add_bits(o, u64::from(sig) - 1, 6);
        self.add_bits(o, go_shr(xor, u32::from(64 - lead - sig)), u16::from(sig))
    }

    fn add_zero_bit(&mut self, offset: u16) -> u16 {
        if offset >= NEXT_OFFSET_THRESHOLD {
            // Below the footer the buffer was never written, so it is zero already.
            self.0 .0[usize::from(offset / 8)] &= !MASK[1][usize::from(offset % 8)];
        }
        offset + 1
    }

    fn add_one_bits(&mut self, mut offset: u16, n: u16) -> u16 {
        let b = (8 - offset % 8).min(n);
        self.0 .0[usize::from(offset / 8)] |= MASK[usize::from(b)][usize::from(offset % 8)];
        offset += b;
        let rest = n - b;
        if rest > 0 {
            self.0 .0[usize::from(offset / 8)] |= MASK[usize::from(rest)][0];
            offset += rest;
        }
        offset
    }

    fn add_one_bits_then_zero(&mut self, offset: u16, n: u16) -> u16 {
        let o = self.add_one_bits(offset, n);
        self.add_zero_bit(o)
    }

    fn add_signed(&mut self, offset: u16, i: i64, n: u16) -> u16 {
        let i = if i < 0 && n < 64 { i + (1i64 << n) } else { i };
        self.add_bits(offset, i as u64, n)
    }

    fn add_bits(&mut self, offset: u16, pattern: u64, mut n: u16) -> u16 {
        let new_offset = offset + n;
        if new_offset > NEXT_OFFSET_THRESHOLD {
            // Clear the footer bits about to be overwritten.
            let mut pos = offset.max(NEXT_OFFSET_THRESHOLD);
            while pos < new_offset {
                let in_byte = pos % 8;
                let clear = (new_offset - pos).min(8 - in_byte);
                self.0 .0[usize::from(pos / 8)] &= !MASK[usize::from(clear)][usize::from(in_byte)];
                pos += clear;
            }
        }
        let mut byte = usize::from(offset / 8);
        let mut free = 8 - offset % 8;
        while n > 0 {
            if n <= free {
                self.0 .0[byte] |= go_shl(pattern, u32::from(free - n)) as u8;
                break;
            }
            self.0 .0[byte] |= go_shr(pattern, u32::from(n - free)) as u8;
            n -= free;
            free = 8;
            byte += 1;
        }
        new_offset
    }
}

fn overflow(s: Sample) -> Result<Option<VarbitChunk>, EncodingError> {
    let mut c = VarbitChunk::new();
    c.add(s)?;
    Ok(Some(c))
}

/// Appends samples to a fresh chunk, following overflows; one marshalled
/// data section per resulting chunk.
pub fn encode(samples: &[Sample]) -> Result<Vec<Vec<u8>>, EncodingError> {
    let mut done = Vec::new();
    let mut head = VarbitChunk::new();
    let mut head_used = false;
    for &s in samples {
        head_used = true;
        if let Some(next) = head.add(s)? {
            done.push(head.marshal());
            head = next;
        }
    }
    if head_used {
        done.push(head.marshal());
    }
    Ok(done)
}

#[cfg(test)]
mod tests;
