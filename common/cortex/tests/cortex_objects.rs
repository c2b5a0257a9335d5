//! Chunk objects written as Cortex writes them (by `cortex-testgen`) decode
//! back, and every way an object can be damaged is a typed error.

use cortex::{
    decode_object, encoding, filesystem_file_name, parse_object, ChunkKey, ChunkMetadata,
    ChunkObject, Encoding, ObjectError, ObjectErrorKind, Sample,
};
use cortex_testgen::{encode_object, metadata_json, snappy_frame_go};

fn meta(encoding: Encoding) -> ChunkMetadata {
    ChunkMetadata {
        fingerprint: 0x4b0c_98ed_703d_6da9,
        user_id: "alpha".into(),
        from: 1_794_808_800_123,
        through: 1_794_812_400_000,
        metric: vec![
            ("__name__".into(), "m".into()),
            ("path".into(), "C:\\temp\\new \"q\"\n".into()),
            ("x".into(), "café ☕".into()),
        ],
        encoding,
    }
}

fn object(encoding: Encoding) -> (ChunkKey, Vec<u8>) {
    let samples: Vec<Sample> = (0..10)
        .map(|i| (1_794_808_800_123 + i * 1000, i as f64))
        .collect();
    let data = encoding::encode(encoding, &samples).unwrap().remove(0);
    encode_object(&meta(encoding), &data)
}

fn kind(r: Result<ChunkObject, ObjectError>) -> ObjectErrorKind {
    r.unwrap_err().kind
}

#[test]
fn encoder_output_decodes_back() {
    for e in [
        Encoding::DoubleDelta,
        Encoding::Varbit,
        Encoding::Bigchunk,
        Encoding::PrometheusXorChunk,
    ] {
        let (key, bytes) = object(e);
        let obj = decode_object(&key, &bytes).unwrap();
        assert_eq!(obj.meta, meta(e));
        assert_eq!(obj.samples().unwrap().len(), 10);
        let json = metadata_json(&obj.meta);
        assert!(
            json.starts_with(b"{\"fingerprint\":5407"),
            "{}",
            String::from_utf8_lossy(&json)
        );
        assert!(json.ends_with(
            b"},\"encoding\":"
                .as_slice()
                .iter()
                .chain(e.id().to_string().as_bytes())
                .chain(b"}\n")
                .copied()
                .collect::<Vec<u8>>()
                .as_slice()
        ));
    }
}

#[test]
fn bit_flip_is_a_checksum_error_naming_the_key() {
    let (key, mut bytes) = object(Encoding::Bigchunk);
    let n = bytes.len();
    bytes[n - 3] ^= 0x10;
    let err = decode_object(&key, &bytes).unwrap_err();
    assert!(matches!(err.kind, ObjectErrorKind::Checksum { .. }));
    assert!(err.to_string().contains(&key.external_key()), "{err}");
}

#[test]
fn truncated_objects_fail_cleanly() {
    let (key, bytes) = object(Encoding::DoubleDelta);
    for cut in [0, 3, 4, 10, 40, bytes.len() - 1] {
        let mut k = key.clone();
        k.checksum = Some(crc32c::crc32c(&bytes[..cut]));
        assert!(decode_object(&k, &bytes[..cut]).is_err(), "cut {cut}");
    }
    let err = parse_object(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(matches!(err, ObjectErrorKind::DataLength { .. }), "{err}");
}

fn rebuild(json: &[u8], data: &[u8], old_length_word: bool) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    snappy_frame_go(json, &mut out);
    let len = if old_length_word {
        out.len() - 4
    } else {
        out.len()
    } as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn both_metadata_length_conventions_and_wrong_lengths() {
    let json = metadata_json(&meta(Encoding::Bigchunk));
    let data = bigchunk_data();
    for old in [false, true] {
        let obj = parse_object(&rebuild(&json, &data, old)).unwrap();
        assert_eq!(obj.meta, meta(Encoding::Bigchunk));
    }
    let mut bad = rebuild(&json, &data, false);
    bad[3] = bad[3].wrapping_add(1);
    assert!(matches!(
        parse_object(&bad),
        Err(ObjectErrorKind::MetadataLength { .. })
    ));
}

fn bigchunk_data() -> Vec<u8> {
    encoding::bigchunk::encode(&[(1, 1.0), (2, 2.0)]).unwrap()
}

#[test]
fn unknown_and_missing_encodings() {
    let data = bigchunk_data();
    let j = br#"{"fingerprint":1,"userID":"u","from":1,"through":2,"metric":{"__name__":"m"},"encoding":9}"#;
    assert_eq!(
        parse_object(&rebuild(j, &data, false)),
        Err(ObjectErrorKind::UnknownEncoding(9))
    );
    // Old chunks: no fingerprint, user or encoding; Delta means DoubleDelta.
    let dd = encoding::doubledelta::encode(&[(1000, 1.0), (2000, 2.0)])
        .unwrap()
        .remove(0);
    let j = br#"{"from":1,"through":2,"metric":{"__name__":"m"}}"#;
    let obj = parse_object(&rebuild(j, &dd, true)).unwrap();
    assert_eq!(obj.meta.encoding, Encoding::Delta);
    assert_eq!(obj.samples().unwrap(), vec![(1000, 1.0), (2000, 2.0)]);
}

#[test]
fn duplicate_label_names_are_kept() {
    let j = br#"{"fingerprint":1,"userID":"u","from":1.5,"through":2.001,"metric":{"b":"1","__name__":"m","b":"1","c":"x"},"encoding":3}"#;
    let obj = parse_object(&rebuild(j, &bigchunk_data(), false)).unwrap();
    let names: Vec<&str> = obj.meta.metric.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["b", "__name__", "b", "c"]);
    assert_eq!((obj.meta.from, obj.meta.through), (1500, 2001));
    assert_eq!(obj.labels().unwrap().len(), 3);
}

#[test]
fn bad_snappy_and_bad_json() {
    let (_, bytes) = object(Encoding::Bigchunk);
    let mut b = bytes.clone();
    b[4] = 0x00; // stream identifier replaced
    assert!(matches!(parse_object(&b), Err(ObjectErrorKind::Snappy(_))));
    let mut b = bytes.clone();
    b[4 + 10 + 4] ^= 0xff; // frame checksum
    assert!(matches!(parse_object(&b), Err(ObjectErrorKind::Snappy(_))));
    let bad = rebuild(b"{\"from\":1,]", &bigchunk_data(), false);
    assert!(matches!(parse_object(&bad), Err(ObjectErrorKind::Json(_))));
}

#[test]
fn metadata_over_several_frames() {
    let data = bigchunk_data();
    let long = "v".repeat(100_000);
    let j = format!(
        r#"{{"fingerprint":1,"userID":"u","from":1,"through":2,"metric":{{"__name__":"m","l":"{long}"}},"encoding":3}}"#
    );
    for old in [false, true] {
        let obj = parse_object(&rebuild(j.as_bytes(), &data, old)).unwrap();
        assert_eq!(obj.meta.metric[1].1.len(), long.len());
    }
    // Refused at its first field but complete only in the second frame:
    // the error is the value's, not a length mismatch from stopping early.
    let j = format!(r#"{{"from":"x","metric":{{"l":"{long}"}},"through":2}}"#);
    let err = parse_object(&rebuild(j.as_bytes(), &data, false)).unwrap_err();
    assert!(matches!(err, ObjectErrorKind::Json(_)), "{err}");
    // More than whitespace after the value.
    let bad = rebuild(br#"{"from":1,"through":2} x"#, &data, false);
    assert!(matches!(parse_object(&bad), Err(ObjectErrorKind::Json(_))));
}

#[test]
fn metadata_must_match_the_key() {
    let (key, bytes) = object(Encoding::Varbit);
    let mut other = meta(Encoding::Varbit);
    other.through += 1;
    let (_, moved) = encode_object(&other, &encoding::varbit::encode(&[(1, 1.0)]).unwrap()[0]);
    let mut k = key.clone();
    k.checksum = Some(crc32c::crc32c(&moved));
    assert!(matches!(
        kind(decode_object(&k, &moved)),
        ObjectErrorKind::WrongMetadata {
            field: "through",
            ..
        }
    ));
    assert_eq!(
        filesystem_file_name(&key.external_key()),
        key.filesystem_name()
    );
    assert!(decode_object(&key, &bytes).is_ok());
}
