use super::*;

fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
    s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn round_trip(s: &[Sample]) -> (usize, Vec<Sample>) {
    let chunks = encode(s).unwrap();
    let out = chunks.iter().flat_map(|c| decode(c).unwrap()).collect();
    (chunks.len(), out)
}

#[test]
fn masks_match_cortex_table() {
    assert_eq!(MASK[1], [0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01]);
    assert_eq!(MASK[3], [0xE0, 0x70, 0x38, 0x1C, 0x0E, 0x07, 0x03, 0x01]);
    assert_eq!(MASK[8], [0xFF, 0x7F, 0x3F, 0x1F, 0x0F, 0x07, 0x03, 0x01]);
}

#[test]
fn round_trips_every_value_encoding() {
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let series: Vec<Vec<Sample>> = vec![
        (0..400).map(|i| (i * 15_000, 42.0)).collect(),
        (0..400)
            .map(|i| (i * 60_000 + (i * 31 % 51) - 25, (i * 3) as f64))
            .collect(),
        (0..400).map(|i| (i * 60_000, i as f64 * 0.1)).collect(),
        (0..300)
            .map(|i| {
                (
                    i * 1000,
                    f64::from_bits(
                        0x4000_0000_0000_0000
                            ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 12,
                    ),
                )
            })
            .collect(),
        vec![
            (0, 1.0),
            (1, stale),
            (2, 3.0),
            (3_000_000_000, stale),
            (3_000_000_001, -0.0),
        ],
        vec![(7, 1.0)],
        vec![(7, 1.0), (8, 2.0)],
    ];
    for s in series {
        let (_, out) = round_trip(&s);
        assert_eq!(bits(&out), bits(&s));
    }
}

#[test]
fn full_chunks_overflow() {
    let s: Vec<Sample> = (0..5000)
        .map(|i| (i * 1000 + (i % 7), (i as f64).sqrt()))
        .collect();
    let (n, out) = round_trip(&s);
    assert!(n > 1);
    assert_eq!(bits(&out), bits(&s));
}

#[test]
fn length_rules_and_garbage() {
    let c = encode(&[(1, 1.0), (2, 2.0), (3, 4.0)]).unwrap().remove(0);
    assert!(decode(&c[..100]).is_err());
    let ml = (usize::from(u16::from_be_bytes([c[36], c[37]]).max(THIRD_SAMPLE_BIT)) / 8) + 1;
    assert_eq!(decode(&c[..ml]).unwrap().len(), 3);
    let mut state = 0x1234_5678u64;
    for _ in 0..2000 {
        let mut g = c.clone();
        for b in g.iter_mut() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (state >> 56) as u8;
        }
        let _ = decode(&g);
    }
}
