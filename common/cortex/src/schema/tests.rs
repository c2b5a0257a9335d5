use super::*;

#[test]
fn labels_string_follows_cortex() {
    assert_eq!(labels_string(&[("__name__", "up")]), "up");
    assert_eq!(
        labels_string(&[("__name__", "m"), ("a", "x\"y"), ("b", "C:\\temp")]),
        "m{a=\"x\\\"y\", b=\"C:\\\\temp\"}"
    );
    assert_eq!(labels_string(&[("a", "1")]), "{a=\"1\"}");
    assert_eq!(
        go_quote("café ☕\u{a0}\u{7}\u{1b}\u{7f}\u{feff}"),
        "\"café ☕\\u00a0\\a\\x1b\\x7f\\ufeff\""
    );
    assert_eq!(go_quote("\u{10ffff}"), "\"\\U0010ffff\"");
}

#[test]
fn range_keys_round_trip_and_classify() {
    let rv = encode_range_key(CHUNK_TIME_RANGE_KEY_V3, &[b"0000abcd", b"", b"u/1:2:3:4"]);
    assert_eq!(rv, b"0000abcd\0\0u/1:2:3:4\x003\0");
    let (c, t) = decode_range_key(&rv).unwrap();
    assert_eq!((c, t), (vec![&b"0000abcd"[..], b"", b"u/1:2:3:4"], b'3'));
    assert_eq!(classify(&rv), EntryKind::SeriesToChunk);
    assert_eq!(classify(b"sid\0\0\x007\0"), EntryKind::MetricToSeries);
    assert_eq!(classify(b"h\0sid\0\x008\0"), EntryKind::MetricLabelToSeries);
    assert_eq!(classify(b"\0\0\x009\0"), EntryKind::SeriesToLabelNames);
    assert_eq!(classify(b"x\0\x01\0"), EntryKind::Unknown([1, 0]));
    assert_eq!(classify(b""), EntryKind::Unknown([0, 0]));
    assert!(decode_range_key(b"abc").is_none());
    assert_eq!(encode_time(0x1234), "00001234");
}

#[test]
fn series_chunk_entries_parse_like_the_scanner() {
    let rv = encode_range_key(CHUNK_TIME_RANGE_KEY_V3, &[b"00000001", b"", b"a:b/1:2:3:4"]);
    let e = parse_series_chunk_entry("a:b:d20773:SID", &rv).unwrap();
    assert_eq!(
        e,
        SeriesChunkEntry {
            user: "a:b".into(),
            day_index: 20773,
            series_id: "SID".into(),
            chunk_id: "a:b/1:2:3:4".into()
        }
    );
    assert!(parse_series_chunk_entry("u:20773:SID", &rv).is_err());
    assert!(parse_series_chunk_entry("d1:SID", &rv).is_err());
    assert!(parse_series_chunk_entry("u:d1:SID", b"x\0\x007\0").is_err());
}

#[test]
fn bigtable_layouts_round_trip() {
    let hash = "alpha:d20773:0W4UqbOPXbuK4+7BRFbS6UlW7oCG/RLgJTvhlTrGbMQ";
    let rv = encode_range_key(b'3', &[b"022bb9a8", b"", b"id"]);
    for layout in [
        BigtableLayout::Gcp,
        BigtableLayout::ColumnKey,
        BigtableLayout::Hashed,
    ] {
        let (row, col) = bigtable_cell(layout, hash, &rv);
        assert_eq!(parse_bigtable_cell(&row, &col), (hash.as_bytes(), &rv[..]));
    }
    assert_eq!(hash_prefix(""), "25232284e49cf2cb");
}
