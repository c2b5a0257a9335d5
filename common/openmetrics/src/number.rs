//! Numbers as Prometheus' OpenMetrics parser reads them.
//!
//! Values and timestamps go through Go's `strconv.ParseFloat` (behind
//! Prometheus' `parseFloat`, which also refuses `p`, `P` and `_`), and
//! timestamps in seconds become milliseconds as `int64(seconds * 1000)`.
//! Reproducing those rules keeps our samples bit-exact with promtool's.

/// Go's `math.NaN()`, which promtool stores for a `NaN` value.
pub(super) const GO_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Seconds (a float) to milliseconds, as Prometheus' OpenMetrics parser:
/// `int64(seconds * 1000)`. (Plain integers take a faster path in
/// [`super::syntax`].)
pub(super) fn parse_timestamp(tok: &[u8]) -> Result<i64, String> {
    seconds_to_ms(parse_go_float(tok)?)
}

/// `int64(secs * 1000)`, refusing what Go would convert to garbage.
pub(super) fn seconds_to_ms(secs: f64) -> Result<i64, String> {
    if !secs.is_finite() {
        return Err("invalid timestamp".into());
    }
    let ms = secs * 1000.0;
    // Go's conversion of an out-of-range float is undefined; refuse it.
    // -2^63 is exact in f64; the range is [-2^63, 2^63).
    let limit = -(i64::MIN as f64);
    if !(-limit..limit).contains(&ms) {
        return Err("timestamp out of range".into());
    }
    Ok(ms as i64)
}

/// Go's `strconv.ParseFloat(s, 64)` behind Prometheus' `parseFloat`: no
/// `p`, `P` or `_`; `inf`/`infinity` with an optional sign and `nan`
/// without one, case-insensitively; overflow to infinity is an error.
pub(super) fn parse_go_float(tok: &[u8]) -> Result<f64, String> {
    if let Some(v) = plain_decimal(tok) {
        return Ok(v);
    }
    if tok.iter().any(|&c| matches!(c, b'p' | b'P' | b'_')) {
        return Err("unsupported character in float".into());
    }
    let s = std::str::from_utf8(tok).map_err(|_| "invalid syntax".to_owned())?;
    let (signed, negative, unsigned) = match s.as_bytes().first() {
        Some(b'+') => (true, false, &s[1..]),
        Some(b'-') => (true, true, &s[1..]),
        _ => (false, false, s),
    };
    match unsigned.as_bytes().first() {
        Some(b'i' | b'I') => {
            return if unsigned.eq_ignore_ascii_case("inf")
                || unsigned.eq_ignore_ascii_case("infinity")
            {
                Ok(if negative {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                })
            } else {
                Err("invalid syntax".into())
            };
        }
        Some(b'n' | b'N') => {
            return if !signed && unsigned.eq_ignore_ascii_case("nan") {
                Ok(f64::from_bits(GO_NAN_BITS))
            } else {
                Err("invalid syntax".into())
            };
        }
        _ => {}
    }
    // Rust's and Go's decimal parsers are both correctly rounded, so they
    // agree on every finite result.
    let v: f64 = s.parse().map_err(|_| "invalid syntax".to_owned())?;
    if v.is_infinite() {
        return Err("value out of range".into());
    }
    Ok(v)
}

/// Powers of ten that are exact in `f64`.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// `-?digits.digits` with at most 15 digits in all, the common shape of
/// values and timestamps, without the general parser: the digits form an
/// integer below 2^53 and the divisor a power of ten, both exact in `f64`,
/// so the one division is correctly rounded (Clinger's fast path) and
/// equals what a full parse gives. `None`: not that shape.
fn plain_decimal(tok: &[u8]) -> Option<f64> {
    let (negative, digits) = match tok.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, tok),
    };
    let dot = digits.iter().position(|&c| c == b'.')?;
    let (int, frac) = (&digits[..dot], &digits[dot + 1..]);
    if int.is_empty() || frac.is_empty() || int.len() + frac.len() > 15 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in int.iter().chain(frac) {
        let d = c.wrapping_sub(b'0');
        if d >= 10 {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    let v = n as f64 / POW10[frac.len()];
    Some(if negative { -v } else { v })
}
