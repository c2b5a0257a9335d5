//! Lookups in a written symbol table without holding the symbols in memory.
//!
//! Like Prometheus, only the position of every 32nd symbol is kept; a lookup
//! by reference walks at most 31 entries from the nearest sample, and a
//! reverse lookup binary-searches the samples and then walks. The table
//! bytes stay in the (memory-mapped) index file, so the cost in memory is
//! one `usize` per 32 symbols. Used by the writer (after the symbol stage)
//! and by the reader.

use super::encoding::{section_at, Dec};
use super::IndexFormatError;

/// Every how many symbols a position is sampled, as in Prometheus.
const SYMBOL_FACTOR: usize = 32;

/// Sampled positions of a symbol table inside some index bytes.
#[derive(Debug)]
pub(crate) struct Symbols {
    /// Absolute offsets of symbols 0, 32, 64, ...
    offsets: Vec<usize>,
    count: u32,
    /// Absolute offset of the first symbol.
    start: usize,
    /// Absolute offset just past the last symbol.
    end: usize,
}

impl Symbols {
    /// Checks the table at `off` (its CRC and that every entry decodes as
    /// UTF-8) and samples its positions.
    pub(crate) fn parse(data: &[u8], off: u64) -> Result<Self, IndexFormatError> {
        let mut d = section_at(data, off, "symbol table")?;
        let count = d.be32("symbol count")?;
        let start = d.offset() as usize;
        let mut offsets = Vec::with_capacity(count as usize / SYMBOL_FACTOR + 1);
        for i in 0..count as usize {
            if i % SYMBOL_FACTOR == 0 {
                offsets.push(d.offset() as usize);
            }
            d.uvarint_str("symbol")?;
        }
        if d.remaining() != 0 {
            return Err(IndexFormatError::Corrupt {
                offset: d.offset(),
                detail: format!("{} bytes after the last of {count} symbols", d.remaining()),
            });
        }
        Ok(Symbols {
            offsets,
            count,
            start,
            end: d.offset() as usize,
        })
    }

    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    fn cursor<'a>(&self, data: &'a [u8], at: usize) -> Dec<'a> {
        Dec::new(&data[at..self.end], at as u64)
    }

    /// The symbol with reference `r`.
    pub(crate) fn lookup<'a>(&self, data: &'a [u8], r: u32) -> Result<&'a str, IndexFormatError> {
        if r >= self.count {
            return Err(IndexFormatError::UnknownSymbol { symbol_ref: r });
        }
        let r = r as usize;
        let mut d = self.cursor(data, self.offsets[r / SYMBOL_FACTOR]);
        for _ in 0..r % SYMBOL_FACTOR {
            d.uvarint_bytes("symbol")?;
        }
        d.uvarint_str("symbol")
    }

    /// The symbol whose entry starts at absolute offset `off`: index format
    /// v1 references symbols by position in the file, not by number.
    pub(crate) fn lookup_v1<'a>(
        &self,
        data: &'a [u8],
        off: u32,
    ) -> Result<&'a str, IndexFormatError> {
        let at = off as usize;
        if at < self.start || at >= self.end {
            return Err(IndexFormatError::UnknownSymbol { symbol_ref: off });
        }
        self.cursor(data, at).uvarint_str("symbol")
    }

    /// The reference of `sym`, or `None` when the table does not hold it.
    pub(crate) fn reverse_lookup(
        &self,
        data: &[u8],
        sym: &str,
    ) -> Result<Option<u32>, IndexFormatError> {
        if self.offsets.is_empty() {
            return Ok(None);
        }
        // First sampled symbol greater than `sym`; the answer, if any, is
        // in the block of 32 before it.
        let mut lo = 0usize;
        let mut hi = self.offsets.len();
        while lo < hi {
            let mid = (lo + hi) / 2;
            let s = self
                .cursor(data, self.offsets[mid])
                .uvarint_bytes("symbol")?;
            if s > sym.as_bytes() {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        if lo == 0 {
            return Ok(None);
        }
        let block = lo - 1;
        let mut d = self.cursor(data, self.offsets[block]);
        let first = block * SYMBOL_FACTOR;
        let last = (first + SYMBOL_FACTOR).min(self.count as usize);
        for r in first..last {
            let s = d.uvarint_bytes("symbol")?;
            match s.cmp(sym.as_bytes()) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Ok(Some(r as u32)),
                std::cmp::Ordering::Greater => return Ok(None),
            }
        }
        Ok(None)
    }

    /// All symbols in order.
    pub(crate) fn iter<'a>(&self, data: &'a [u8]) -> SymbolIter<'a> {
        let start = self.offsets.first().copied().unwrap_or(self.end);
        SymbolIter {
            d: self.cursor(data, start),
            left: self.count,
        }
    }
}

/// Iterator over the symbols of a table, in order.
pub struct SymbolIter<'a> {
    d: Dec<'a>,
    left: u32,
}

impl<'a> Iterator for SymbolIter<'a> {
    type Item = Result<&'a str, IndexFormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let r = self.d.uvarint_str("symbol");
        if r.is_err() {
            self.left = 0;
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::codec::put_str;

    fn table(syms: &[String]) -> Vec<u8> {
        let mut body = (syms.len() as u32).to_be_bytes().to_vec();
        for s in syms {
            put_str(&mut body, s);
        }
        let mut data = vec![0xAA; 5];
        data.extend_from_slice(&(body.len() as u32).to_be_bytes());
        data.extend_from_slice(&body);
        data.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        data
    }

    #[test]
    fn lookups_both_ways_across_sample_blocks() {
        let syms: Vec<String> = (0..100).map(|i| format!("s{i:03}")).collect();
        let data = table(&syms);
        let t = Symbols::parse(&data, 5).unwrap();
        assert_eq!(t.count(), 100);
        for (i, s) in syms.iter().enumerate() {
            assert_eq!(t.lookup(&data, i as u32).unwrap(), s);
            assert_eq!(t.reverse_lookup(&data, s).unwrap(), Some(i as u32));
        }
        assert_eq!(t.reverse_lookup(&data, "a").unwrap(), None);
        assert_eq!(t.reverse_lookup(&data, "s0005").unwrap(), None);
        assert_eq!(t.reverse_lookup(&data, "z").unwrap(), None);
        assert!(t.lookup(&data, 100).is_err());
        // v1 references: file offsets of the entries (5 + len + count = 13).
        assert_eq!(t.lookup_v1(&data, 13).unwrap(), "s000");
        assert_eq!(t.lookup_v1(&data, 13 + 5).unwrap(), "s001");
        assert!(t.lookup_v1(&data, 12).is_err());
        assert!(t.lookup_v1(&data, 13 + 500).is_err());
        let all: Vec<&str> = t.iter(&data).collect::<Result<_, _>>().unwrap();
        assert_eq!(all.len(), 100);
        assert_eq!(all[99], "s099");
    }

    #[test]
    fn empty_table() {
        let data = table(&[]);
        let t = Symbols::parse(&data, 5).unwrap();
        assert_eq!(t.reverse_lookup(&data, "x").unwrap(), None);
        assert_eq!(t.iter(&data).count(), 0);
    }
}
