//! Cortex chunk IDs ("external keys") and where a chunk object lives.
//!
//! A v9+ index stores each chunk as `<user>/<fp>:<from>:<through>:<checksum>`
//! (lowercase hex, no padding); that same string is the object-store key.
//! Chunks written before checksums existed are indexed as `<fp>:<from>:<through>`
//! in decimal, and stored under `<user>/` + that ID. This module parses and
//! formats both forms and maps a key to its object name in each backend.
//!
//! It does not fetch anything: the backends that read objects live with the
//! builder, and decoding an object is [`crate::decode_object`]'s job.

use std::fmt;

use base64::Engine as _;

/// Why a chunk ID from a plan or index cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a chunk ID in either form.
    #[error("invalid chunk ID {id:?}: {reason}")]
    Invalid {
        /// The ID as found.
        id: String,
        /// What part is wrong.
        reason: &'static str,
    },
    /// Cortex calls this "wrong chunk metadata": the ID names another tenant
    /// than the plan it was found in.
    #[error("chunk ID {id:?} belongs to user {found:?}, expected {expected:?}")]
    WrongUser {
        /// The ID as found.
        id: String,
        /// The plan's user.
        expected: String,
        /// The user the ID names.
        found: String,
    },
}

/// A parsed chunk ID: the identity of one chunk object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkKey {
    /// Tenant (Cortex's `userID`).
    pub user: String,
    /// The series' label fingerprint as Cortex computed it.
    pub fingerprint: u64,
    /// First sample time, ms since the epoch.
    pub from: i64,
    /// Last sample time, ms since the epoch (inclusive).
    pub through: i64,
    /// CRC-32C of the whole object; `None` for legacy (pre-checksum) IDs.
    pub checksum: Option<u32>,
}

impl ChunkKey {
    /// Parses a chunk ID as found in a plan or index, for the plan's user.
    ///
    /// An ID with a `/` must be the hex form with exactly four `:` parts and
    /// must name `plan_user`; an ID without `/` is the legacy decimal form and
    /// takes `plan_user` as its user (that is what Cortex's
    /// `ParseExternalKey` does).
    pub fn parse(plan_user: &str, id: &str) -> Result<Self, KeyError> {
        let invalid = |reason| KeyError::Invalid {
            id: id.to_string(),
            reason,
        };
        let Some((user, rest)) = id.split_once('/') else {
            let parts: Vec<&str> = id.split(':').collect();
            let [fp, from, through] = parts[..] else {
                return Err(invalid("legacy ID needs 3 ':'-separated parts"));
            };
            return Ok(ChunkKey {
                user: plan_user.to_string(),
                fingerprint: fp.parse().map_err(|_| invalid("bad decimal fingerprint"))?,
                from: parse_dec_i64(from).ok_or_else(|| invalid("bad decimal from"))?,
                through: parse_dec_i64(through).ok_or_else(|| invalid("bad decimal through"))?,
                checksum: None,
            });
        };
        if rest.contains('/') {
            return Err(invalid("more than one '/'"));
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let [fp, from, through, checksum] = parts[..] else {
            return Err(invalid("needs 4 ':'-separated hex parts after the user"));
        };
        let key = ChunkKey {
            user: user.to_string(),
            fingerprint: parse_hex_u64(fp).ok_or_else(|| invalid("bad hex fingerprint"))?,
            from: parse_hex_i64(from).ok_or_else(|| invalid("bad hex from"))?,
            through: parse_hex_i64(through).ok_or_else(|| invalid("bad hex through"))?,
            checksum: Some(
                parse_hex_u64(checksum)
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or_else(|| invalid("bad hex checksum"))?,
            ),
        };
        if key.user != plan_user {
            return Err(KeyError::WrongUser {
                id: id.to_string(),
                expected: plan_user.to_string(),
                found: key.user,
            });
        }
        Ok(key)
    }

    /// The object-store key (Cortex's `ExternalKey()`): hex with checksum, or
    /// `<user>/` + decimal legacy ID.
    pub fn external_key(&self) -> String {
        let Some(checksum) = self.checksum else {
            return self.to_string();
        };
        // Written by hand, not through `Display`: a build formats a key per
        // chunk fetched, and the formatting machinery cost 1.5% of its CPU.
        let mut out = String::with_capacity(self.user.len() + 1 + 16 + 1 + 17 + 1 + 17 + 1 + 8);
        out.push_str(&self.user);
        out.push('/');
        push_hex(&mut out, self.fingerprint);
        out.push(':');
        push_go_hex(&mut out, self.from);
        out.push(':');
        push_go_hex(&mut out, self.through);
        out.push(':');
        push_hex(&mut out, u64::from(checksum));
        out
    }

    /// The ID as the index stores it: the external key for checksummed
    /// chunks, the bare decimal `<fp>:<from>:<through>` for legacy ones.
    pub fn index_id(&self) -> String {
        match self.checksum {
            Some(_) => self.external_key(),
            None => format!("{}:{}:{}", self.fingerprint, self.from, self.through),
        }
    }

    /// The file name of this chunk in Cortex's filesystem object store.
    pub fn filesystem_name(&self) -> String {
        filesystem_file_name(&self.external_key())
    }
}

impl fmt::Display for ChunkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.checksum {
            Some(_) => f.write_str(&self.external_key()),
            None => write!(
                f,
                "{}/{}:{}:{}",
                self.user, self.fingerprint, self.from, self.through
            ),
        }
    }
}

/// Lower-case hex without leading zeros, as `{:x}`.
fn push_hex(out: &mut String, v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (64 - (v | 1).leading_zeros()).div_ceil(4);
    for i in (0..digits).rev() {
        out.push(char::from(DIGITS[((v >> (4 * i)) & 0xf) as usize]));
    }
}

/// Go's `%x` of an int64 (a sign, then the magnitude in hex), appended to
/// `out`.
fn push_go_hex(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_hex(out, v.unsigned_abs());
}

/// Cortex's filesystem object store names each chunk file by the standard,
/// padded base64 of its external key (so keys with `/` make flat files).
pub fn filesystem_file_name(external_key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(external_key.as_bytes())
}

/// The inverse of [`filesystem_file_name`]; `None` if the name is not base64
/// of UTF-8 text.
pub fn external_key_from_filesystem_name(name: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(name.as_bytes())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// 32-bit FNV-1a, as Go's `hash/fnv.New32a`.
fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in data {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Which of `bucket_count` S3 buckets holds `external_key` when Cortex was
/// given several (`-s3.buckets`): `fnv32a(key) % n`. `None` when there are
/// no buckets.
pub fn s3_bucket_index(external_key: &str, bucket_count: usize) -> Option<usize> {
    let n = u32::try_from(bucket_count).ok().filter(|&n| n > 0)?;
    usize::try_from(fnv32a(external_key.as_bytes()) % n).ok()
}

fn parse_hex_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

fn parse_hex_i64(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let magnitude = parse_hex_u64(digits)?;
    if neg {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

fn parse_dec_i64(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "alpha/4b0c98ed703d6da9:1a1e2f0e301:1a1e3d305a8:1862e67d";

    #[test]
    fn parses_and_formats_new_keys() {
        let k = ChunkKey::parse("alpha", ID).unwrap();
        assert_eq!(k.fingerprint, 0x4b0c98ed703d6da9);
        assert_eq!(k.from, 0x1a1e2f0e301);
        assert_eq!(k.through, 0x1a1e3d305a8);
        assert_eq!(k.checksum, Some(0x1862e67d));
        assert_eq!(k.external_key(), ID);
        assert_eq!(k.index_id(), ID);
        assert_eq!(
            k.filesystem_name(),
            "YWxwaGEvNGIwYzk4ZWQ3MDNkNmRhOToxYTFlMmYwZTMwMToxYTFlM2QzMDVhODoxODYyZTY3ZA=="
        );
        assert_eq!(
            external_key_from_filesystem_name(&k.filesystem_name()).as_deref(),
            Some(ID)
        );
    }

    #[test]
    fn user_must_match_the_plan() {
        let err = ChunkKey::parse("team_b.prod", ID).unwrap_err();
        assert!(matches!(err, KeyError::WrongUser { .. }), "{err}");
        assert!(err.to_string().contains("alpha"));
    }

    #[test]
    fn legacy_ids_are_decimal_and_take_the_plan_user() {
        let k = ChunkKey::parse("u1", "123:1000:2000").unwrap();
        assert_eq!(
            (
                k.user.as_str(),
                k.fingerprint,
                k.from,
                k.through,
                k.checksum
            ),
            ("u1", 123, 1000, 2000, None)
        );
        assert_eq!(k.external_key(), "u1/123:1000:2000");
        assert_eq!(k.index_id(), "123:1000:2000");
    }

    #[test]
    fn rejects_malformed_ids() {
        for id in [
            "",
            "alpha/1:2:3",
            "alpha/1:2:3:4:5",
            "alpha/x:2:3:4",
            "alpha/1:2:3:100000000",
            "alpha/b/1:2:3:4",
            "1:2",
            "1:a:2",
            "alpha/:2:3:4",
        ] {
            assert!(ChunkKey::parse("alpha", id).is_err(), "{id:?} accepted");
        }
    }

    #[test]
    fn external_key_is_gos_hex() {
        // The hand-written hex of `external_key` against `{:x}`, at the
        // edges of every field.
        let go_hex = |v: i64| match v < 0 {
            true => format!("-{:x}", v.unsigned_abs()),
            false => format!("{v:x}"),
        };
        let values = [
            0i64,
            1,
            9,
            10,
            15,
            16,
            255,
            4096,
            i64::MAX,
            i64::MIN,
            -1,
            -16,
        ];
        for &from in &values {
            for &through in &values {
                for (fingerprint, checksum) in [
                    (0u64, 0u32),
                    (u64::MAX, u32::MAX),
                    (0x4b0c_98ed_703d_6da9, 0x1f),
                ] {
                    let k = ChunkKey {
                        user: "team/a".into(),
                        fingerprint,
                        from,
                        through,
                        checksum: Some(checksum),
                    };
                    let want = format!(
                        "team/a/{fingerprint:x}:{}:{}:{checksum:x}",
                        go_hex(from),
                        go_hex(through)
                    );
                    assert_eq!(k.external_key(), want);
                    assert_eq!(k.to_string(), want);
                }
            }
        }
    }

    #[test]
    fn negative_times_round_trip_like_go() {
        let k = ChunkKey::parse("a", "a/1:-10:-1:ff").unwrap();
        assert_eq!((k.from, k.through), (-16, -1));
        assert_eq!(k.external_key(), "a/1:-10:-1:ff");
    }

    #[test]
    fn fnv32a_matches_known_vectors() {
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9cf968);
        assert_eq!(s3_bucket_index(ID, 0), None);
        assert_eq!(
            s3_bucket_index(ID, 3),
            Some((fnv32a(ID.as_bytes()) % 3) as usize)
        );
    }
}
