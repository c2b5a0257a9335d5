//! Prometheus XOR ("Gorilla") chunk encoding, bit-exact with Prometheus 2.42
//! `tsdb/chunkenc/xor.go`, plus the [`Chunker`] that cuts a series into chunks.
//!
//! Layout of one chunk: a 2-byte big-endian sample count, then a bit stream:
//! the first timestamp as a zigzag varint and the first value as 64 raw bits;
//! the second timestamp as a uvarint delta and its value as an XOR delta; every
//! later timestamp as a delta-of-delta in one of five buckets and its value as
//! an XOR delta with Gorilla's leading/trailing-zero window.
//!
//! Bit-exactness matters beyond the samples themselves: blocks are compared
//! byte for byte with what Prometheus writes, so this encoder reproduces even
//! the quirk of Prometheus' `bstream` that leaves an empty trailing byte when a
//! chunk ends on a byte boundary after a whole-byte write.
//!
//! Values are carried as raw bits, so NaN payloads (Prometheus' StaleNaN
//! `0x7ff0000000000002` included) survive a round trip.
//!
//! This module knows nothing about segment files or indexes (see
//! [`super::chunks`]) and does not check that samples are in time order: that
//! is the caller's business, as in Prometheus.

use std::fmt;

use base::codec::{encode_uvarint, unzigzag, zigzag, UvarintDecoder, MAX_VARINT_LEN};

/// Encoding byte of XOR chunks in segment files (`chunkenc.EncXOR`).
pub const ENCODING_XOR: u8 = 1;

/// Samples per chunk that Prometheus and Cortex's blocksconvert cut at.
pub const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// Most samples one chunk can count in its 2-byte header.
pub const MAX_SAMPLES_PER_XOR_CHUNK: usize = u16::MAX as usize;

const HEADER_SIZE: usize = 2;

/// Why an XOR chunk could not be decoded (or appended to).
#[allow(
    missing_docs,
    reason = "each variant's #[error] message documents it and its fields"
)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Fewer bytes than the 2-byte sample count header.
    #[error("XOR chunk of {len} bytes is shorter than its 2-byte header")]
    TooShort { len: usize },
    /// The bit stream ends before all samples the header announces.
    #[error("XOR chunk truncated: bit stream ends inside sample {sample} of {total}")]
    Truncated { sample: usize, total: usize },
    /// A timestamp varint is longer than 10 bytes or overflows 64 bits.
    #[error("XOR chunk has an overflowing timestamp varint in sample {sample}")]
    VarintOverflow { sample: usize },
    /// A value's leading-zero and significant-bit counts add up to more than 64.
    #[error("XOR chunk sample {sample}: {leading} leading zeros + {significant} significant bits exceed 64")]
    BadValueWindow {
        sample: usize,
        leading: u8,
        significant: u8,
    },
    /// Appending to a chunk whose 2-byte sample count is already at its maximum.
    #[error("XOR chunk already holds the maximum of {MAX_SAMPLES_PER_XOR_CHUNK} samples")]
    TooManySamples,
}

/// Writes bits most-significant first, keeping up to 63 pending bits in a
/// register so that the byte vector is touched once per 64 bits.
///
/// `buf` always holds the header, the flushed words (`committed` bytes in
/// all) and, between appends, a materialised copy of the pending bits so that
/// [`XorAppender::bytes`] can hand out a plain slice.
#[derive(Clone)]
struct BitWriter {
    buf: Vec<u8>,
    committed: usize,
    acc: u64,
    nacc: u32,
}

impl BitWriter {
    fn new() -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&[0; HEADER_SIZE]);
        BitWriter {
            buf,
            committed: HEADER_SIZE,
            acc: 0,
            nacc: 0,
        }
    }

    /// Drops the materialised tail so that new bits can be added.
    #[inline]
    fn reopen(&mut self) {
        self.buf.truncate(self.committed);
    }

    /// Appends the `n` low bits of `v` (1 <= n <= 64; higher bits of `v` must be 0).
    #[inline(always)]
    fn put(&mut self, v: u64, n: u32) {
        debug_assert!((1..=64).contains(&n));
        debug_assert!(n == 64 || v >> n == 0);
        let free = 64 - self.nacc;
        if n < free {
            self.acc = (self.acc << n) | v;
            self.nacc += n;
            return;
        }
        let rem = n - free;
        let word = if free == 64 {
            v
        } else {
            (self.acc << free) | (v >> rem)
        };
        self.buf.extend_from_slice(&word.to_be_bytes());
        self.committed += 8;
        self.acc = if rem == 0 { 0 } else { v & ((1u64 << rem) - 1) };
        self.nacc = rem;
    }

    /// Writes the pending bits into `buf` as Prometheus' `bstream` would hold them.
    ///
    /// `ended_with_byte_write`: whether Prometheus' last primitive for this
    /// sample was `writeByte`. After one that ends on a byte boundary,
    /// `bstream` has already appended the next (empty) byte, and that byte is
    /// part of the chunk Prometheus stores.
    #[inline]
    fn materialise(&mut self, ended_with_byte_write: bool) {
        debug_assert_eq!(self.buf.len(), self.committed);
        // Write a whole word and cut it back: cheaper than a variable-length copy.
        // With a pad byte, nacc is a multiple of 8 below 64, so 8 bytes suffice.
        let aligned = self.acc.checked_shl(64 - self.nacc).unwrap_or(0);
        self.buf.extend_from_slice(&aligned.to_be_bytes());
        let pad = usize::from(ended_with_byte_write && self.nacc.is_multiple_of(8));
        self.buf
            .truncate(self.committed + self.nacc.div_ceil(8) as usize + pad);
    }
}

/// Builds one XOR chunk sample by sample.
#[derive(Clone)]
pub struct XorAppender {
    w: BitWriter,
    num: u16,
    t: i64,
    v_bits: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for XorAppender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XorAppender")
            .field("num_samples", &self.num)
            .field("bytes", &self.w.buf.len())
            .finish()
    }
}

impl XorAppender {
    /// An empty chunk.
    pub fn new() -> Self {
        XorAppender {
            w: BitWriter::new(),
            num: 0,
            t: 0,
            v_bits: 0,
            t_delta: 0,
            // 0xff marks "no window yet", so that the first XOR delta always
            // writes its own window, as in Prometheus.
            leading: 0xff,
            trailing: 0,
        }
    }

    /// Appends one sample. Values are stored bit for bit (NaN payloads kept).
    ///
    /// # Panics
    ///
    /// If the chunk already holds [`MAX_SAMPLES_PER_XOR_CHUNK`] samples, like
    /// Prometheus; use [`XorAppender::try_append`] where that can happen.
    pub fn append(&mut self, t: i64, v: f64) {
        if let Err(e) = self.try_append(t, v) {
            panic!("{e}");
        }
    }

    /// Appends one sample, or refuses when the 2-byte sample count is full.
    pub fn try_append(&mut self, t: i64, v: f64) -> Result<(), ChunkError> {
        if self.num == u16::MAX {
            return Err(ChunkError::TooManySamples);
        }
        self.w.reopen();
        // The most one sample takes, with the tail word: 19 + 8 bytes.
        self.w.buf.reserve(32);
        let ended_with_byte_write = self.put_sample(t, v);
        self.w.materialise(ended_with_byte_write);
        self.seal_header();
        Ok(())
    }

    /// Writes one sample's bits without materialising the pending ones (so
    /// [`XorAppender::bytes`] is stale until [`BitWriter::materialise`]);
    /// returns whether its last write was a whole byte. The caller checks
    /// the sample count.
    #[inline(always)]
    fn put_sample(&mut self, t: i64, v: f64) -> bool {
        let v_bits = v.to_bits();
        let mut t_delta = 0u64;
        let ended_with_byte_write = match self.num {
            0 => {
                self.put_varint_bytes(zigzag(t));
                self.w.put(v_bits, 64);
                true
            }
            1 => {
                // Prometheus does this arithmetic in uint64, so out-of-order
                // samples wrap rather than fail; so do we.
                t_delta = t.wrapping_sub(self.t) as u64;
                self.put_varint_bytes(t_delta);
                self.put_value(v_bits)
            }
            _ => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                self.put_dod(dod);
                self.put_value(v_bits)
            }
        };
        self.num += 1;
        self.t = t;
        self.v_bits = v_bits;
        self.t_delta = t_delta;
        ended_with_byte_write
    }

    fn seal_header(&mut self) {
        self.w.buf[..HEADER_SIZE].copy_from_slice(&self.num.to_be_bytes());
    }

    /// Samples appended so far.
    pub fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    /// The whole chunk as Prometheus stores it: 2-byte BE count + bit stream.
    pub fn bytes(&self) -> &[u8] {
        &self.w.buf
    }

    /// The whole chunk, without copying.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.buf
    }

    /// Writes the LEB128 bytes of `x`, each as a whole-byte write like Prometheus.
    #[inline]
    fn put_varint_bytes(&mut self, x: u64) {
        let mut buf = [0u8; MAX_VARINT_LEN];
        let n = encode_uvarint(x, &mut buf);
        for &b in &buf[..n] {
            self.w.put(u64::from(b), 8);
        }
    }

    #[inline(always)]
    fn put_dod(&mut self, dod: i64) {
        // Bucket bounds are Prometheus' `bitRange`: -(2^(n-1)-1) ..= 2^(n-1).
        // Each bucket stores the low n bits of the two's complement.
        #[inline(always)]
        fn fits(dod: i64, n: u32) -> bool {
            -((1i64 << (n - 1)) - 1) <= dod && dod <= 1i64 << (n - 1)
        }
        let u = dod as u64;
        if dod == 0 {
            self.w.put(0, 1);
        } else if fits(dod, 14) {
            self.w.put((0b10 << 14) | (u & 0x3fff), 16);
        } else if fits(dod, 17) {
            self.w.put((0b110 << 17) | (u & 0x1_ffff), 20);
        } else if fits(dod, 20) {
            self.w.put((0b1110 << 20) | (u & 0xf_ffff), 24);
        } else {
            self.w.put(0b1111, 4);
            self.w.put(u, 64);
        }
    }

    /// Writes the XOR delta of a value; returns whether Prometheus' last
    /// primitive for it was a whole-byte write (see [`BitWriter::materialise`]).
    #[inline(always)]
    fn put_value(&mut self, v_bits: u64) -> bool {
        let delta = v_bits ^ self.v_bits;
        if delta == 0 {
            self.w.put(0, 1);
            return false;
        }
        // Five bits hold the leading-zero count, hence Prometheus' clamp.
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            let sig = u32::from(64 - self.leading - self.trailing);
            self.w.put(0b10, 2);
            self.w.put(delta >> self.trailing, sig);
            return sig.is_multiple_of(8);
        }
        self.leading = leading;
        self.trailing = trailing;
        let sig = 64 - u32::from(leading) - u32::from(trailing);
        // 64 significant bits do not fit in 6 bits and are written as 0
        // (0 itself can never occur since the delta is non-zero).
        let control = (0b11 << 11) | (u64::from(leading) << 6) | u64::from(sig & 63);
        self.w.put(control, 13);
        self.w.put(delta >> trailing, sig);
        sig.is_multiple_of(8)
    }
}

/// Reads bits most-significant first by absolute bit position.
///
/// Every read is one unaligned 8-byte load at the position's byte, shifted
/// by the position's bit: no register to refill, so no branch on how many
/// bits are buffered. Past the end of the data the stream reads as zeros;
/// the caller compares [`BitReader::overrun`] once per sample instead of
/// checking every read.
struct BitReader<'a> {
    data: &'a [u8],
    /// Bits consumed so far.
    pos: usize,
    /// Bits in `data`.
    len: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            len: data.len() * 8,
        }
    }

    /// The next 64 bits, of which at least the top 57 are the stream's
    /// (zeros past its end).
    #[inline(always)]
    fn peek(&self) -> u64 {
        let byte = self.pos >> 3;
        let word = match self.data.get(byte..byte + 8) {
            Some(w) => u64::from_be_bytes(w.try_into().unwrap_or([0; 8])),
            None => self.tail_word(byte),
        };
        word << (self.pos & 7)
    }

    /// [`BitReader::peek`]'s word near the end: the bytes left, zero padded.
    #[cold]
    fn tail_word(&self, byte: usize) -> u64 {
        let mut w = [0u8; 8];
        if let Some(rest) = self.data.get(byte..) {
            w[..rest.len()].copy_from_slice(rest);
        }
        u64::from_be_bytes(w)
    }

    #[inline(always)]
    fn skip(&mut self, n: u32) {
        self.pos += n as usize;
    }

    /// Reads `n` bits, 1 <= n <= 57.
    #[inline(always)]
    fn read(&mut self, n: u32) -> u64 {
        debug_assert!((1..=57).contains(&n));
        let v = self.peek() >> (64 - n);
        self.skip(n);
        v
    }

    /// Reads `n` bits, 1 <= n <= 64.
    #[inline(always)]
    fn read_long(&mut self, n: u32) -> u64 {
        if n <= 57 {
            return self.read(n);
        }
        let hi = self.read(n - 32);
        (hi << 32) | self.read(32)
    }

    /// Whether reads went past the end of the data (and saw padding).
    #[inline(always)]
    fn overrun(&self) -> bool {
        self.pos > self.len
    }
}

/// Payload bits of the delta-of-delta bucket announced by `ones` leading
/// 1 bits (0 to 3): 0, 14, 17 or 20. Packed in a constant, so the lookup
/// is a shift rather than a load on the decoder's chain from sample to
/// sample.
#[inline(always)]
fn dod_bucket_bits(ones: u32) -> u32 {
    debug_assert!(ones < 4);
    (0x1411_0e00u32 >> (8 * ones)) & 0xff
}

/// The signed value of an n-bit delta-of-delta bucket (`bits` < 2^n, n < 64):
/// two's complement, except that +2^(n-1) is the top value.
#[inline(always)]
fn bucket_value(bits: u64, n: u32) -> i64 {
    let half = (1u64 << n) >> 1;
    if bits > half {
        bits as i64 - (1i64 << n)
    } else {
        bits as i64
    }
}

/// Iterates over the samples of one XOR chunk.
///
/// Never panics on malformed input: a truncated or corrupt bit stream yields
/// one `Err` and then the iterator ends. Bytes after the last announced
/// sample are ignored, as Prometheus does.
pub struct XorIterator<'a> {
    br: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    v_bits: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    failed: bool,
}

impl fmt::Debug for XorIterator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XorIterator")
            .field("total", &self.total)
            .field("read", &self.read)
            .finish()
    }
}

impl<'a> XorIterator<'a> {
    /// Starts reading `chunk` (2-byte count + bit stream, as [`XorAppender::bytes`]).
    pub fn new(chunk: &'a [u8]) -> Result<Self, ChunkError> {
        let (header, stream) = chunk
            .split_first_chunk::<HEADER_SIZE>()
            .ok_or(ChunkError::TooShort { len: chunk.len() })?;
        Ok(XorIterator {
            br: BitReader::new(stream),
            total: u16::from_be_bytes(*header),
            read: 0,
            t: 0,
            v_bits: 0,
            t_delta: 0,
            // Unlike the appender, Prometheus' iterator starts with a 0/0
            // window; a corrupt chunk that "reuses" it reads 64 bits.
            leading: 0,
            trailing: 0,
            failed: false,
        })
    }

    /// Samples the chunk header announces.
    pub fn num_samples(&self) -> usize {
        usize::from(self.total)
    }

    fn truncated(&self) -> ChunkError {
        ChunkError::Truncated {
            sample: usize::from(self.read),
            total: usize::from(self.total),
        }
    }

    /// Go's `binary.ReadUvarint` over the bit stream (see `base::codec`).
    /// Past the end the stream reads as zero bytes, which end any varint;
    /// the caller's overrun check then reports the truncation.
    fn read_uvarint(&mut self) -> Result<u64, ChunkError> {
        let mut d = UvarintDecoder::new();
        loop {
            // `read(8)` yields at most 8 bits, so the cast keeps them all.
            match d.push(self.br.read(8) as u8) {
                Ok(Some(x)) => return Ok(x),
                Ok(None) => {}
                Err(_) if self.br.overrun() => return Err(self.truncated()),
                Err(_) => {
                    return Err(ChunkError::VarintOverflow {
                        sample: usize::from(self.read),
                    })
                }
            }
        }
    }

    /// One delta-of-delta: a unary bucket prefix of up to four 1s, then the
    /// bucket's bits. The common buckets come from one peeked word without
    /// a branch per bucket: consecutive samples switch buckets
    /// unpredictably (a jittered scrape's dod is 0 or a few ms).
    #[inline(always)]
    fn read_dod(&mut self) -> i64 {
        let w = self.br.peek();
        let ones = (!w).leading_zeros();
        if ones >= 4 {
            self.br.skip(4);
            return self.br.read_long(64) as i64;
        }
        let (p, n) = (ones + 1, dod_bucket_bits(ones));
        // Two shifts so that n = 0 gives 0 without a branch.
        let bits = ((w << p) >> 1) >> (63 - n);
        self.br.skip(p + n);
        bucket_value(bits, n)
    }

    /// One value: `0` (unchanged), `10` (XOR bits in the last window) or
    /// `11` (a new window, then the XOR bits), all three from one peeked
    /// word: the control bits become counts to skip rather than a branch
    /// per case. Past the end, a window read from the padding is reported
    /// as the truncation it is, not as a bad window.
    #[inline(always)]
    fn read_value(&mut self) -> Result<(), ChunkError> {
        let w = self.br.peek();
        let changed = w >> 63;
        let new_window = changed & (w >> 62) & 1;
        let win = (w << 2) >> 53;
        let (leading, sig) = ((win >> 6) as u8, (win & 63) as u8);
        // 0 significant bits stand for 64.
        let sig = if sig == 0 { 64 } else { sig };
        if new_window == 1 && u32::from(leading) + u32::from(sig) > 64 {
            // A window read from the padding past the end is a truncation.
            self.br.skip(13);
            if self.br.overrun() {
                return Err(self.truncated());
            }
            return Err(ChunkError::BadValueWindow {
                sample: usize::from(self.read),
                leading,
                significant: sig,
            });
        }
        if new_window == 1 {
            self.leading = leading;
            self.trailing = 64 - leading - sig;
        }
        self.br.skip(1 + changed as u32 + 11 * new_window as u32);
        let sig = (64 - u32::from(self.leading) - u32::from(self.trailing)) * changed as u32;
        let bits = if sig <= 57 {
            let v = (self.br.peek() >> 1) >> (63 - sig);
            self.br.skip(sig);
            v
        } else {
            self.br.read_long(sig)
        };
        self.v_bits ^= bits << self.trailing;
        Ok(())
    }

    /// The common sample, decoded from one peeked word: a delta-of-delta
    /// in the 0, 14, 17 or 20-bit bucket and a value (unchanged, in the
    /// last window or in a new one), all within the word's 57 sure bits.
    /// Each step of the general path reloads from the byte position, which
    /// puts a load on the chain from one sample to the next for every
    /// read; this puts one per sample. `false`, having consumed nothing,
    /// for anything else.
    #[inline(always)]
    fn next_in_one_word(&mut self) -> bool {
        let w = self.br.peek();
        let ones = (!w).leading_zeros();
        if ones >= 4 {
            return false;
        }
        let (p, n) = (ones + 1, dod_bucket_bits(ones));
        let bits = ((w << p) >> 1) >> (63 - n);
        let used = p + n;
        let v = w << used;
        let changed = (v >> 63) as u32;
        let new_window = changed & (v >> 62) as u32 & 1;
        let (mut leading, mut trailing) = (u32::from(self.leading), u32::from(self.trailing));
        if new_window == 1 {
            let win = ((v << 2) >> 53) as u32;
            let sig = win & 63;
            // 0 (which stands for 64) and overlong windows take the
            // general path, which reports the latter.
            if sig == 0 || (win >> 6) + sig > 64 {
                return false;
            }
            leading = win >> 6;
            trailing = 64 - leading - sig;
        }
        let sig = (64 - leading - trailing) * changed;
        let header = 1 + changed + 11 * new_window;
        if used + header + sig > 57 {
            return false;
        }
        let xor = ((v << header) >> 1) >> (63 - sig);
        self.br.skip(used + header + sig);
        let dod = bucket_value(bits, n);
        self.t_delta = self.t_delta.wrapping_add(dod as u64);
        self.t = self.t.wrapping_add(self.t_delta as i64);
        // Both fit in u8: leading < 32 (5 bits), trailing <= 64.
        (self.leading, self.trailing) = (leading as u8, trailing as u8);
        self.v_bits ^= xor << trailing;
        true
    }

    #[inline]
    fn next_sample(&mut self) -> Result<(i64, f64), ChunkError> {
        match self.read {
            0 => {
                self.t = unzigzag(self.read_uvarint()?);
                self.v_bits = self.br.read_long(64);
            }
            1 => {
                self.t_delta = self.read_uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                if !self.next_in_one_word() {
                    let dod = self.read_dod();
                    self.t_delta = self.t_delta.wrapping_add(dod as u64);
                    self.t = self.t.wrapping_add(self.t_delta as i64);
                    self.read_value()?;
                }
            }
        }
        if self.br.overrun() {
            return Err(self.truncated());
        }
        self.read += 1;
        Ok((self.t, f64::from_bits(self.v_bits)))
    }

    /// Appends every sample left to `out`: the same samples and error as
    /// iterating, in a tighter loop (one capacity check for the chunk).
    pub fn decode_into(self, out: &mut Vec<(i64, f64)>) -> Result<(), ChunkError> {
        out.reserve(self.size_hint().1.unwrap_or(0));
        self.for_each_sample(|t, v| out.push((t, v)))
    }

    /// Hands every sample left to `f`, then returns the error that ended
    /// the chunk early, if any: the same as iterating, without an `Option`
    /// and a `Result` per sample around the common path.
    #[inline]
    pub fn for_each_sample(mut self, mut f: impl FnMut(i64, f64)) -> Result<(), ChunkError> {
        if self.failed {
            return Ok(());
        }
        while self.read < self.total {
            if self.read >= 2 && self.next_in_one_word() {
                if self.br.overrun() {
                    return Err(self.truncated());
                }
                self.read += 1;
                f(self.t, f64::from_bits(self.v_bits));
                continue;
            }
            let (t, v) = self.next_sample()?;
            f(t, v);
        }
        Ok(())
    }
}

impl Iterator for XorIterator<'_> {
    type Item = Result<(i64, f64), ChunkError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.read == self.total {
            return None;
        }
        let r = self.next_sample();
        self.failed = r.is_err();
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.failed {
            return (0, Some(0));
        }
        let left = usize::from(self.total - self.read);
        (0, Some(left))
    }
}

/// An encoded XOR chunk with its bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedChunk {
    /// Time of the first sample (ms).
    pub min_time: i64,
    /// Time of the last sample (ms, inclusive).
    pub max_time: i64,
    /// Samples in the chunk (1 to [`MAX_SAMPLES_PER_CHUNK`] from a [`Chunker`]).
    pub num_samples: u32,
    /// The chunk bytes as [`XorAppender::bytes`] returns them.
    pub data: Vec<u8>,
}

/// Cuts time-ordered samples into XOR chunks of at most [`MAX_SAMPLES_PER_CHUNK`].
///
/// A chunk is handed out by the `push` that fills it, so `finish` only
/// returns the last, partly filled one.
#[derive(Debug, Default)]
pub struct Chunker {
    /// Never read before the chunk is taken, so its pending bits are
    /// materialised once per chunk, not once per sample.
    app: XorAppender,
    /// Whether the last sample's last write was a whole byte.
    ended_with_byte_write: bool,
    min_time: i64,
    max_time: i64,
}

impl Chunker {
    /// A chunker with no samples yet.
    pub fn new() -> Self {
        Chunker {
            app: XorAppender::new(),
            ended_with_byte_write: false,
            min_time: 0,
            max_time: 0,
        }
    }

    /// Adds a sample; returns the chunk it completed, if any.
    pub fn push(&mut self, t: i64, v: f64) -> Option<EncodedChunk> {
        if self.app.num_samples() == 0 {
            self.min_time = t;
        }
        self.max_time = t;
        // At most MAX_SAMPLES_PER_CHUNK samples: the 2-byte count never fills.
        self.ended_with_byte_write = self.app.put_sample(t, v);
        if self.app.num_samples() >= MAX_SAMPLES_PER_CHUNK {
            return self.take();
        }
        None
    }

    /// The last chunk, if it holds any sample.
    pub fn finish(mut self) -> Option<EncodedChunk> {
        self.take()
    }

    fn take(&mut self) -> Option<EncodedChunk> {
        let n = self.app.num_samples();
        if n == 0 {
            return None;
        }
        let mut app = std::mem::take(&mut self.app);
        app.w.materialise(self.ended_with_byte_write);
        app.seal_header();
        Some(EncodedChunk {
            min_time: self.min_time,
            max_time: self.max_time,
            num_samples: n as u32,
            data: app.into_bytes(),
        })
    }
}

#[cfg(test)]
mod tests;
