//! Unit tests of the XOR encoder and decoder (Prometheus ground truth is in
//! `common/tests/tsdb_chunks.rs`).

use super::*;

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Small deterministic generator, so failures reproduce.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut app = XorAppender::new();
    for &(t, v) in samples {
        app.append(t, v);
    }
    assert_eq!(app.num_samples(), samples.len());
    app.into_bytes()
}

fn decode(chunk: &[u8]) -> Result<Vec<(i64, f64)>, ChunkError> {
    XorIterator::new(chunk)?.collect()
}

fn assert_same(got: &[(i64, f64)], want: &[(i64, f64)]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.0, w.0, "timestamp of sample {i}");
        assert_eq!(g.1.to_bits(), w.1.to_bits(), "value bits of sample {i}");
    }
}

fn round_trip(samples: &[(i64, f64)]) -> Vec<u8> {
    let bytes = encode(samples);
    assert_same(&decode(&bytes).unwrap(), samples);
    bytes
}

#[test]
fn single_sample_layout_has_prometheus_trailing_byte() {
    // count, zigzag varint of 1000 (2000 = 0xd0 0x0f), 64 value bits, then
    // the empty byte bstream leaves after a whole-byte write.
    let bytes = round_trip(&[(1000, 1.0)]);
    let mut want = vec![0, 1, 0xd0, 0x0f];
    want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
    want.push(0);
    assert_eq!(bytes, want);
}

#[test]
fn empty_chunk_is_just_the_header() {
    assert_eq!(XorAppender::new().bytes(), &[0, 0]);
    assert!(decode(&[0, 0]).unwrap().is_empty());
}

#[test]
fn second_sample_layout() {
    // Same value: uvarint delta 15 then a single 0 bit, padded to a byte.
    let bytes = round_trip(&[(0, 2.5), (15, 2.5)]);
    let mut want = vec![0, 2, 0x00];
    want.extend_from_slice(&2.5f64.to_bits().to_be_bytes());
    want.extend_from_slice(&[15, 0]);
    assert_eq!(bytes, want);
}

#[test]
fn special_values_keep_their_bits() {
    let values = [
        f64::NAN,
        f64::from_bits(STALE_NAN),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::from_bits(0x7ff8_0000_0000_0001),
        f64::from_bits(1),
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::from_bits(STALE_NAN),
        f64::from_bits(STALE_NAN),
        1.0,
        f64::from_bits(!0),
    ];
    let samples: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64 * 15_000 - 100_000, v))
        .collect();
    round_trip(&samples);
}

#[test]
fn timestamp_buckets_at_their_edges() {
    let dods: [i64; 17] = [
        0,
        1,
        -1,
        8192,
        -8191,
        8193,
        -8192,
        65536,
        -65535,
        65537,
        -65536,
        524_288,
        -524_287,
        524_289,
        -524_288,
        1 << 40,
        -(1 << 40),
    ];
    let mut samples = vec![(-5_000_000, 1.0), (-4_000_000, 2.0)];
    let mut delta = 1_000_000i64;
    for (i, dod) in dods.iter().enumerate() {
        delta += dod;
        let t = samples.last().unwrap().0 + delta;
        samples.push((t, i as f64));
    }
    round_trip(&samples);
}

#[test]
fn extreme_and_out_of_order_timestamps_wrap_like_prometheus() {
    round_trip(&[
        (i64::MIN, 0.0),
        (i64::MAX, 1.0),
        (0, 2.0),
        (i64::MIN + 1, 3.0),
        (-1, 4.0),
        (-1, 4.0),
        (5, 4.0),
    ]);
}

#[test]
fn value_windows_including_64_significant_bits() {
    round_trip(&[
        (1, f64::from_bits(0)),
        (2, f64::from_bits(1 << 63 | 1)), // 64 significant bits
        (3, f64::from_bits(1)),           // reuses the window
        (4, f64::from_bits(0x0000_0000_0100_0000)), // leading >= 32 clamped
        (5, f64::from_bits(0x00ff_0000_0000_0000)),
        (6, f64::from_bits(0x00ff_0000_0000_00ff)),
    ]);
}

#[test]
fn million_random_samples_round_trip_through_the_chunker() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut samples = Vec::with_capacity(1_000_000);
    let mut t = -3_600_000i64;
    let mut gauge = 0.0f64;
    for i in 0..1_000_000u64 {
        let r = rng.next();
        t += match r % 16 {
            0 => 0,
            1 => (r >> 8) as i64 % 10_000_000,
            2 => 1,
            _ => 15_000 + ((r >> 8) % 51) as i64 - 25,
        };
        let v = match (r >> 32) % 8 {
            0 => f64::from_bits(rng.next()),
            1 => f64::from_bits(STALE_NAN),
            2 => gauge,
            3 => (i / 7) as f64,
            _ => {
                gauge += ((r >> 40) % 1000) as f64 / 10.0 - 50.0;
                gauge
            }
        };
        samples.push((t, v));
    }
    let mut chunker = Chunker::new();
    let mut chunks = Vec::new();
    for &(t, v) in &samples {
        chunks.extend(chunker.push(t, v));
    }
    chunks.extend(chunker.finish());
    assert_eq!(chunks.len(), 1_000_000usize.div_ceil(MAX_SAMPLES_PER_CHUNK));
    let mut decoded = Vec::with_capacity(samples.len());
    for c in &chunks {
        let got = decode(&c.data).unwrap();
        assert_eq!(got.len(), c.num_samples as usize);
        assert_eq!(got.first().unwrap().0, c.min_time);
        assert_eq!(got.last().unwrap().0, c.max_time);
        // The chunker writes bits without materialising them per sample;
        // its bytes must still be the appender's, trailing byte included.
        let mut app = XorAppender::new();
        for &(t, v) in &got {
            app.append(t, v);
        }
        assert_eq!(app.bytes(), &c.data[..]);
        decoded.extend(got);
    }
    assert_same(&decoded, &samples);
}

#[test]
fn chunker_cuts_at_120_samples() {
    let mut chunker = Chunker::new();
    let mut chunks = Vec::new();
    for i in 0..250i64 {
        if let Some(c) = chunker.push(i * 10, i as f64) {
            chunks.push(c);
        }
    }
    assert_eq!(chunks.len(), 2);
    let last = chunker.finish().unwrap();
    assert_eq!(
        (last.min_time, last.max_time, last.num_samples),
        (2400, 2490, 10)
    );
    assert_eq!((chunks[1].min_time, chunks[1].max_time), (1200, 2390));
    assert!(chunks.iter().all(|c| c.num_samples == 120));
    assert_eq!(Chunker::new().finish(), None);

    let mut exact = Chunker::new();
    let full: Vec<_> = (0..120).filter_map(|i| exact.push(i, 0.0)).collect();
    assert_eq!(full.len(), 1);
    assert_eq!(exact.finish(), None);
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let samples: Vec<_> = (0..120i64)
        .map(|i| (i * 15_000 + (i % 3) * 7, (i as f64).sqrt()))
        .collect();
    let bytes = round_trip(&samples);
    // The last byte may be Prometheus' empty trailing byte; anything
    // shorter must lose real bits.
    for len in 0..bytes.len() - 1 {
        let res = XorIterator::new(&bytes[..len]).and_then(|it| it.collect::<Result<Vec<_>, _>>());
        assert!(res.is_err(), "prefix of {len} bytes decoded");
    }
}

#[test]
fn errors_are_reported_once_then_iteration_stops() {
    let mut it = XorIterator::new(&[0, 5, 0x02]).unwrap();
    assert_eq!(
        it.next(),
        Some(Err(ChunkError::Truncated {
            sample: 0,
            total: 5
        }))
    );
    assert_eq!(it.next(), None);
    assert_eq!(
        XorIterator::new(&[7]).err(),
        Some(ChunkError::TooShort { len: 1 })
    );
    let overflow = [
        0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
    ];
    assert_eq!(
        decode(&overflow),
        Err(ChunkError::VarintOverflow { sample: 0 })
    );
}

#[test]
fn garbage_never_panics() {
    let mut rng = XorShift(42);
    for round in 0..20_000 {
        let len = (rng.next() % 200) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if round % 2 == 0 && len >= 2 {
            data[0] = 0;
            data[1] = (rng.next() % 121) as u8;
        }
        if let Ok(it) = XorIterator::new(&data) {
            let n = it.num_samples();
            assert!(it.count() <= n);
        }
    }
}

#[test]
fn try_append_refuses_a_full_chunk() {
    let mut app = XorAppender::new();
    for i in 0..MAX_SAMPLES_PER_XOR_CHUNK {
        app.append(i as i64, 1.0);
    }
    assert_eq!(app.try_append(0, 0.0), Err(ChunkError::TooManySamples));
    assert_eq!(
        XorIterator::new(app.bytes()).unwrap().count(),
        MAX_SAMPLES_PER_XOR_CHUNK
    );
}

/// The decoder as Prometheus' `xorIterator` reads, one bit at a time: the
/// reference the word-at-a-time [`XorIterator`] must match, samples and
/// errors alike, on any input.
fn reference_decode(chunk: &[u8]) -> (Vec<(i64, u64)>, Option<ChunkError>) {
    struct Bits<'a>(&'a [u8], usize);
    impl Bits<'_> {
        fn read(&mut self, n: u32) -> Option<u64> {
            let mut v = 0u64;
            for _ in 0..n {
                let byte = *self.0.get(self.1 / 8)?;
                v = (v << 1) | u64::from((byte >> (7 - self.1 % 8)) & 1);
                self.1 += 1;
            }
            Some(v)
        }
    }
    let Some((header, stream)) = chunk.split_first_chunk::<2>() else {
        return (Vec::new(), Some(ChunkError::TooShort { len: chunk.len() }));
    };
    let total = usize::from(u16::from_be_bytes(*header));
    let mut b = Bits(stream, 0);
    let mut out = Vec::new();
    let (mut t, mut v, mut t_delta, mut leading, mut trailing) = (0i64, 0u64, 0u64, 0u32, 0u32);
    for sample in 0..total {
        let truncated = ChunkError::Truncated { sample, total };
        let uvarint = |b: &mut Bits<'_>| -> Result<u64, ChunkError> {
            let mut d = UvarintDecoder::new();
            loop {
                let byte = b.read(8).ok_or(truncated.clone())? as u8;
                match d.push(byte) {
                    Ok(Some(x)) => return Ok(x),
                    Ok(None) => {}
                    Err(_) => return Err(ChunkError::VarintOverflow { sample }),
                }
            }
        };
        let step = (|| -> Result<(), ChunkError> {
            match sample {
                0 => {
                    t = unzigzag(uvarint(&mut b)?);
                    v = b.read(64).ok_or(truncated.clone())?;
                    return Ok(());
                }
                1 => t_delta = uvarint(&mut b)?,
                _ => {
                    let mut ones = 0;
                    while ones < 4 && b.read(1).ok_or(truncated.clone())? == 1 {
                        ones += 1;
                    }
                    let dod = match ones {
                        0 => 0,
                        4 => b.read(64).ok_or(truncated.clone())? as i64,
                        _ => {
                            let n = [14, 17, 20][ones - 1];
                            bucket_value(b.read(n).ok_or(truncated.clone())?, n)
                        }
                    };
                    t_delta = t_delta.wrapping_add(dod as u64);
                }
            }
            t = t.wrapping_add(t_delta as i64);
            if b.read(1).ok_or(truncated.clone())? == 0 {
                return Ok(());
            }
            if b.read(1).ok_or(truncated.clone())? == 1 {
                let l = b.read(5).ok_or(truncated.clone())? as u32;
                let mut sig = b.read(6).ok_or(truncated.clone())? as u32;
                if sig == 0 {
                    sig = 64;
                }
                if l + sig > 64 {
                    return Err(ChunkError::BadValueWindow {
                        sample,
                        leading: l as u8,
                        significant: sig as u8,
                    });
                }
                (leading, trailing) = (l, 64 - l - sig);
            }
            let sig = 64 - leading - trailing;
            v ^= b.read(sig).ok_or(truncated.clone())? << trailing;
            Ok(())
        })();
        if let Err(e) = step {
            return (out, Some(e));
        }
        out.push((t, v));
    }
    (out, None)
}

/// Checks both ways of decoding `chunk` against [`reference_decode`].
fn assert_matches_reference(chunk: &[u8]) {
    let (want, want_err) = reference_decode(chunk);
    let mut got = Vec::new();
    let mut got_err = None;
    match XorIterator::new(chunk) {
        Err(e) => got_err = Some(e),
        Ok(it) => {
            for s in it {
                match s {
                    Ok((t, v)) => got.push((t, v.to_bits())),
                    Err(e) => got_err = Some(e),
                }
            }
        }
    }
    if (&got, &got_err) != (&want, &want_err) {
        let i = got.iter().zip(&want).position(|(a, b)| a != b);
        panic!(
            "iterating {chunk:02x?}: first differing sample {i:?} of {}/{}, got error {got_err:?}, want {want_err:?}",
            got.len(),
            want.len()
        );
    }
    let mut into = Vec::new();
    let into_err = XorIterator::new(chunk)
        .and_then(|it| it.decode_into(&mut into))
        .err();
    let into: Vec<(i64, u64)> = into.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(
        (&into, &into_err),
        (&want, &want_err),
        "decode_into {chunk:02x?}"
    );
}

#[test]
fn decoder_matches_a_bit_by_bit_reference_on_damaged_chunks() {
    let mut rng = XorShift(0x5eed_cafe);
    for round in 0..300 {
        // Shapes that reach every path: jittered scrapes (0 and 14-bit
        // buckets), wide gaps (17, 20 and 64-bit buckets), small walks,
        // random bits (64 significant bits, new windows), repeats.
        let mut t = (rng.next() % 1_000_000) as i64;
        let mut v = 0.0f64;
        let n = 1 + (rng.next() % 130) as usize;
        let samples: Vec<(i64, f64)> = (0..n)
            .map(|_| {
                let r = rng.next();
                t += match round % 4 {
                    0 => 30_000 + (r % 4) as i64,
                    1 => [15_000, 30_000, 1 << 18, 1 << 30][(r % 4) as usize],
                    _ => (r % 100_000) as i64,
                };
                v = match (r >> 8) % 4 {
                    0 => v,
                    1 => v + 1.0,
                    2 => f64::from_bits(rng.next()),
                    _ => v + ((r >> 20) % 100) as f64 / 4.0,
                };
                (t, v)
            })
            .collect();
        let chunk = encode(&samples);
        assert_matches_reference(&chunk);
        for len in 0..chunk.len() {
            assert_matches_reference(&chunk[..len]);
        }
        for _ in 0..20 {
            let mut bad = chunk.clone();
            let bit = (rng.next() % (bad.len() as u64 * 8)) as usize;
            bad[bit / 8] ^= 0x80 >> (bit % 8);
            assert_matches_reference(&bad);
        }
        // A header announcing more samples than the stream holds.
        let mut more = chunk.clone();
        more[..2].copy_from_slice(&(n as u16 + 3).to_be_bytes());
        assert_matches_reference(&more);
    }
}
