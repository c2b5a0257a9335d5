//! Bigchunk (Cortex encoding 3) and PrometheusXorChunk (encoding 4).
//!
//! A Bigchunk is a u16 little-endian count of sub-chunks, then for each a
//! u16 little-endian length and a Prometheus XOR chunk of that many bytes.
//! Cortex's ingester starts a sub-chunk every 120 samples. Bytes after the
//! last sub-chunk are ignored, as Cortex does. A PrometheusXorChunk's data
//! section is a single XOR chunk. The XOR format itself is
//! `tsdb`'s ([`tsdb::XorIterator`]).

use super::{Encoding, EncodingError, Sample};
use tsdb::{XorAppender, XorIterator, MAX_SAMPLES_PER_CHUNK};

fn xor_samples(
    encoding: Encoding,
    index: usize,
    chunk: &[u8],
    out: &mut Vec<Sample>,
) -> Result<(), EncodingError> {
    let wrap = |source| EncodingError::Xor {
        encoding,
        index,
        source,
    };
    XorIterator::new(chunk)
        .and_then(|it| it.decode_into(out))
        .map_err(wrap)
}

/// The samples the sub-chunk headers of a Bigchunk announce (as far as they
/// can be read), so that decoding allocates once. Only a capacity hint: a
/// corrupt section is reported by [`decode`], and the hint is capped at what
/// the bytes could hold (a sample takes at least 2 bits).
fn announced_samples(mut rest: &[u8], count: usize) -> usize {
    let cap = rest.len() * 4;
    let mut n = 0usize;
    for _ in 0..count {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_le_bytes(*len));
        let Some(sub) = tail.get(..len) else {
            break;
        };
        if let Some(h) = sub.first_chunk::<2>() {
            n += usize::from(u16::from_be_bytes(*h));
        }
        rest = &tail[len..];
    }
    n.min(cap)
}

/// Decodes a Bigchunk data section: the samples of every sub-chunk in order.
pub fn decode(data: &[u8]) -> Result<Vec<Sample>, EncodingError> {
    let invalid = |reason: String| EncodingError::invalid(Encoding::Bigchunk, reason);
    let (count, mut rest) = data.split_first_chunk::<2>().ok_or_else(|| {
        invalid(format!(
            "{} bytes, too short for the sub-chunk count",
            data.len()
        ))
    })?;
    let count = usize::from(u16::from_le_bytes(*count));
    let mut out = Vec::with_capacity(announced_samples(rest, count));
    for index in 0..count {
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or_else(|| invalid(format!("sub-chunk {index} of {count}: length missing")))?;
        let len = usize::from(u16::from_le_bytes(*len));
        if tail.len() < len {
            return Err(invalid(format!(
                "sub-chunk {index} of {count}: {len} bytes announced, {} left",
                tail.len()
            )));
        }
        let (chunk, tail) = tail.split_at(len);
        xor_samples(Encoding::Bigchunk, index, chunk, &mut out)?;
        rest = tail;
    }
    Ok(out)
}

/// Decodes a PrometheusXorChunk data section.
pub fn decode_xor(data: &[u8]) -> Result<Vec<Sample>, EncodingError> {
    let mut out = Vec::new();
    xor_samples(Encoding::PrometheusXorChunk, 0, data, &mut out)?;
    Ok(out)
}

/// Encodes samples as Cortex's ingester builds a Bigchunk: a new XOR
/// sub-chunk every 120 samples.
pub fn encode(samples: &[Sample]) -> Result<Vec<u8>, EncodingError> {
    let subs = samples.chunks(MAX_SAMPLES_PER_CHUNK);
    let count = u16::try_from(subs.len())
        .map_err(|_| EncodingError::invalid(Encoding::Bigchunk, "more than 65535 sub-chunks"))?;
    let mut out = count.to_le_bytes().to_vec();
    for sub in subs {
        let mut app = XorAppender::new();
        for &(t, v) in sub {
            app.append(t, v);
        }
        let bytes = app.into_bytes();
        let len = u16::try_from(bytes.len()).map_err(|_| {
            EncodingError::invalid(Encoding::Bigchunk, "sub-chunk over 65535 bytes")
        })?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// Encodes samples as one Prometheus XOR chunk (PrometheusXorChunk).
pub fn encode_xor(samples: &[Sample]) -> Result<Vec<u8>, EncodingError> {
    let mut app = XorAppender::new();
    for &(t, v) in samples {
        app.try_append(t, v).map_err(|source| EncodingError::Xor {
            encoding: Encoding::PrometheusXorChunk,
            index: 0,
            source,
        })?;
    }
    Ok(app.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigchunk_round_trip_cuts_every_120() {
        let s: Vec<Sample> = (0..250).map(|i| (i * 15_000, i as f64 / 3.0)).collect();
        let data = encode(&s).unwrap();
        assert_eq!(u16::from_le_bytes([data[0], data[1]]), 3);
        assert_eq!(decode(&data).unwrap(), s);
        assert_eq!(decode_xor(&encode_xor(&s).unwrap()).unwrap(), s);
        assert_eq!(decode(&encode(&[]).unwrap()).unwrap(), vec![]);
    }

    #[test]
    fn truncation_is_an_error() {
        let s: Vec<Sample> = (0..130).map(|i| (i * 1000, 1.5 * i as f64)).collect();
        let data = encode(&s).unwrap();
        for cut in 0..data.len() {
            assert!(decode(&data[..cut]).is_err(), "cut at {cut} accepted");
        }
        assert!(decode_xor(&[0]).is_err());
    }
}
