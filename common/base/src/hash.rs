//! FNV-1a 64: the small, stable, dependency-free hash that Cortex's
//! hashed Bigtable row keys use, and that we use wherever a name only needs
//! a stable spread (scan unit names, where builders start in a plan list).

/// FNV-1a 64 of `data` (Go's `hash/fnv` `New64a`).
pub fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_vectors() {
        assert_eq!(super::fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
