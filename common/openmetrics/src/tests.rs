use super::*;

/// Owned copy of a sample, for assertions.
#[derive(Debug, PartialEq)]
struct Owned {
    labels: String,
    ts: i64,
    bits: u64,
}

fn parse_all(input: &str) -> Result<Vec<Owned>, OpenMetricsError> {
    let mut p = OpenMetricsParser::new(input.as_bytes());
    let mut out = Vec::new();
    while let Some(s) = p.next_sample()? {
        out.push(Owned {
            labels: s.series.labels()?.to_string(),
            ts: s.timestamp_ms,
            bits: s.value.to_bits(),
        });
    }
    // Once finished, it stays finished.
    assert!(p.next_sample()?.is_none());
    Ok(out)
}

fn err_of(input: &str) -> String {
    match parse_all(input) {
        Ok(v) => panic!("accepted {input:?}: {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parses_what_promtool_writes_bit_exact() {
    // Expected values were produced by promtool 2.42 create-blocks-from
    // openmetrics on this input, then `promtool tsdb dump`.
    let input = concat!(
        "# HELP a_total some help \\n with \"escapes\"\n",
        "# TYPE a_total counter\n",
        "# UNIT a_seconds seconds\n",
        "a_total{l=\"x\\\\y\\\"z\\nw\",e=\"\",u=\"ü€\"} 1 1700000000.123 # {trace_id=\"abc\"} 1 1700000000.1\n",
        "a_total{l=\"b\"} NaN 1700000000.001\n",
        "a_total{l=\"c\"} +Inf 1700000000.9999\n",
        "a_total{l=\"d\"} -Inf 1700000000.0005\n",
        "a_total{l=\"e\"} 1.5e3 1700000001.7\n",
        "a_total{l=\"f\"} -0 1700000002.3\n",
        "a_total{l=\"g\"} 0.1 1.7e9\n",
        "a_total{l=\"h\"} 1e-400 1700000003.14159\n",
        "a_total{l=\"j\"} 1 1700000005.015\n",
        "# EOF\n",
    );
    let got = parse_all(input).unwrap();
    let want = [
        (
            "{__name__=\"a_total\", l=\"x\\\\y\\\"z\\nw\", u=\"ü€\"}",
            1700000000123,
            1f64.to_bits(),
        ),
        (
            "{__name__=\"a_total\", l=\"b\"}",
            1700000000001,
            0x7ff8_0000_0000_0001,
        ),
        (
            "{__name__=\"a_total\", l=\"c\"}",
            1700000000999,
            f64::INFINITY.to_bits(),
        ),
        (
            "{__name__=\"a_total\", l=\"d\"}",
            1700000000000,
            f64::NEG_INFINITY.to_bits(),
        ),
        (
            "{__name__=\"a_total\", l=\"e\"}",
            1700000001700,
            1500f64.to_bits(),
        ),
        (
            "{__name__=\"a_total\", l=\"f\"}",
            1700000002300,
            (-0f64).to_bits(),
        ),
        (
            "{__name__=\"a_total\", l=\"g\"}",
            1700000000000,
            0.1f64.to_bits(),
        ),
        (
            "{__name__=\"a_total\", l=\"h\"}",
            1700000003141,
            0f64.to_bits(),
        ),
        (
            "{__name__=\"a_total\", l=\"j\"}",
            1700000005015,
            1f64.to_bits(),
        ),
    ];
    assert_eq!(got.len(), want.len());
    for (g, (l, ts, bits)) in got.iter().zip(want) {
        assert_eq!((g.labels.as_str(), g.ts, g.bits), (l, ts, bits));
    }
}

#[test]
fn unescapes_label_values_like_prometheus() {
    let mut p = OpenMetricsParser::new(&b"m{a=\"q\\\"\\\\\\n\\t\\\\n\"} 1 1\n# EOF"[..]);
    let s = p.next_sample().unwrap().unwrap();
    let pairs: Vec<_> = s.series.label_pairs().collect();
    // `\t` is not an escape Prometheus knows: the backslash stays.
    assert_eq!(pairs, vec![("a", Cow::from("q\"\\\n\\t\\n"))]);
    assert_eq!(s.series.metric_name(), "m");
    assert_eq!(s.series.text(), "m{a=\"q\\\"\\\\\\n\\t\\\\n\"}");
}

#[test]
fn unicode_and_empty_label_sets() {
    let got = parse_all("température{ville=\"Zürich\"} 1 1\n# EOF\n");
    assert!(got.is_err(), "metric names are ASCII");
    let got = parse_all("t{ville=\"Zürich 🌧\"} 1 1\nt{} 2 2\nt 3 3\n# EOF").unwrap();
    assert_eq!(got[0].labels, "{__name__=\"t\", ville=\"Zürich 🌧\"}");
    assert_eq!(got[1].labels, "{__name__=\"t\"}");
    assert_eq!(got[2].labels, "{__name__=\"t\"}");
}

#[test]
fn integer_fast_paths_agree_with_float_path() {
    // Up to 15 digits for values and 12 for timestamps take the integer
    // path of the line scanner; longer ones the float path.
    for tok in [
        "0",
        "1",
        "999999999999",
        "1700000000",
        "9999999999999",
        "123456789012345",
        "9007199254740993",
    ] {
        let line = format!("m {tok} {tok}\n# EOF\n");
        let mut p = OpenMetricsParser::new(line.as_bytes());
        let s = p.next_sample().unwrap().unwrap();
        let f = parse_go_float(tok.as_bytes()).unwrap();
        assert_eq!(s.value.to_bits(), f.to_bits(), "{tok}");
        assert_eq!(s.timestamp_ms, (f * 1000.0) as i64, "{tok}");
        assert_eq!(s.timestamp_ms, parse_timestamp(tok.as_bytes()).unwrap());
    }
    // 2^53 + 1 seconds: the float path rounds, as Go does.
    assert_eq!(
        parse_timestamp(b"9007199254740993").unwrap(),
        9_007_199_254_740_992_000
    );
    assert_eq!(
        parse_timestamp(b"9300000000000000").unwrap_err(),
        "timestamp out of range"
    );
    assert_eq!(parse_timestamp(b"-9223372036854775.808").unwrap(), i64::MIN);
}

#[test]
fn go_float_syntax() {
    for (tok, want) in [
        ("inf", f64::INFINITY),
        ("+Infinity", f64::INFINITY),
        ("-INF", f64::NEG_INFINITY),
        ("1E3", 1000.0),
        (".5", 0.5),
        ("1.", 1.0),
        ("+2.5e-1", 0.25),
    ] {
        assert_eq!(parse_go_float(tok.as_bytes()).unwrap(), want, "{tok}");
    }
    assert!(parse_go_float(b"nan").unwrap().is_nan());
    for bad in [
        "+NaN", "-nan", "infinit", "1e400", "-1e400", "0x1p3", "1_000", "1e", "", "abc", "1,5",
    ] {
        assert!(parse_go_float(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn missing_eof_is_an_error() {
    assert!(err_of("").contains("line 1: data does not end with # EOF"));
    assert!(err_of("m 1 1\n").contains("line 2: data does not end with # EOF"));
    assert!(err_of("m 1 1").contains("line 1: data does not end with # EOF"));
}

#[test]
fn data_after_eof_is_an_error() {
    assert!(err_of("m 1 1\n# EOF\nm 2 2\n").contains("line 3: unexpected data after # EOF"));
    assert!(err_of("# EOF\n\n").contains("unexpected data after # EOF"));
    assert!(err_of("# EOF \n").contains("line 1: unexpected data after # EOF"));
    assert!(parse_all("# EOF").unwrap().is_empty());
}

#[test]
fn bad_lines_name_the_line_and_reason() {
    let cases = [
        ("m 1 1\nm x 2\n# EOF\n", "line 2: bad value \"x\""),
        (
            "m 1 1\nm 1\n# EOF\n",
            "line 2: expected timestamp for series m, got none",
        ),
        (
            "m 1 NaN\n# EOF\n",
            "line 1: bad timestamp \"NaN\": invalid timestamp",
        ),
        ("m 1 +Inf\n# EOF\n", "invalid timestamp"),
        ("m 1 1e400\n# EOF\n", "value out of range"),
        ("m  1 1\n# EOF\n", "expected value after metric"),
        ("m 1 1 \n# EOF\n", "expected end of line or exemplar"),
        ("m 1 1 1\n# EOF\n", "expected end of line or exemplar"),
        (
            "m{a=\"1\",} 1 1\n# EOF\n",
            "expected label name after comma",
        ),
        ("m{a=\"1\" b=\"2\"} 1 1\n# EOF\n", "expected ',' or '}'"),
        ("m{a=1} 1 1\n# EOF\n", "expected quoted label value"),
        ("m{a:b=\"1\"} 1 1\n# EOF\n", "expected '=' after label name"),
        ("m{a=\"1} 1 1\n# EOF\n", "unterminated label value"),
        ("m{a=\"1\"}1 1\n# EOF\n", "expected value after metric"),
        (
            "m{a=\"1\",a=\"2\"} 1 1\n# EOF\n",
            "label name \"a\" is not unique",
        ),
        (
            "m{__name__=\"x\"} 1 1\n# EOF\n",
            "label name \"__name__\" is not unique",
        ),
        ("\n# EOF\n", "line 1: empty line"),
        ("# some comment\n# EOF\n", "invalid comment"),
        ("# TYPE m bogus\n# EOF\n", "invalid metric type \"bogus\""),
        ("# TYPE m\n# EOF\n", "expected text in # TYPE"),
        ("# UNIT m_bytes seconds\n# EOF\n", "unit not a suffix"),
        ("m 1 1 # {a=\"b\"} 1\n# EOF\n", "does not support exemplars"),
        (
            "m_total 1 1 # {a=\"b\"}\n# EOF\n",
            "expected value after exemplar labels",
        ),
        (
            "m_total 1 1 # {a=\"b\"} 1 NaN\n# EOF\n",
            "invalid exemplar timestamp",
        ),
        (
            "m_total 1 1 # {a=\"b\"} 1 1 1\n# EOF\n",
            "expected end of line after exemplar",
        ),
        (
            "m_total 1 # {a=\"b\"} 1\n# EOF\n",
            "expected timestamp for series m_total",
        ),
        ("m 0x1p3 1\n# EOF\n", "unsupported character in float"),
        ("m 1 1\r\n# EOF\n", "bad timestamp"),
    ];
    for (input, want) in cases {
        let e = err_of(input);
        assert!(e.contains(want), "{input:?}: got {e:?}, want {want:?}");
    }
    // A NUL byte is a valid label value character; the missing EOF is not.
    let e = parse_all("m{a=\"\u{0}\"} 1 1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "openmetrics line 2: data does not end with # EOF"
    );
}

#[test]
fn invalid_utf8_label_value_is_an_error() {
    let mut p = OpenMetricsParser::new(&b"m{a=\"\xff\"} 1 1\n# EOF\n"[..]);
    let e = p.next_sample().unwrap_err();
    assert_eq!(e.line(), 1);
    assert!(e.to_string().contains("not valid UTF-8"), "{e}");
    let mut p = OpenMetricsParser::new(&b"# HELP m \xff\n# EOF\n"[..]);
    assert!(p.next_sample().is_err());
}

#[test]
fn exemplars_are_accepted_and_ignored() {
    let got = parse_all(concat!(
        "c_total 1 10 # {} 0.5\n",
        "c_total 2 20 # {trace_id=\"a\",span=\"b\"} 1 19.5\n",
        "h_bucket{le=\"1\"} 3 30 # {x=\"y\"} +Inf\n",
        "# EOF\n"
    ))
    .unwrap();
    assert_eq!(
        got.iter().map(|o| o.ts).collect::<Vec<_>>(),
        [10_000, 20_000, 30_000]
    );
}

#[test]
fn repeated_series_lines_are_still_checked() {
    // The second line shares the cached series prefix but is itself bad.
    let e = err_of("m{a=\"1\"} 1 1\nm{a=\"1\"} 1 x\n# EOF\n");
    assert!(e.contains("line 2: bad timestamp"), "{e}");
    // A longer series sharing the prefix is a different series.
    let got = parse_all("m 1 1\nmm 1 2\nm 1 3\n# EOF\n").unwrap();
    assert_eq!(got[1].labels, "{__name__=\"mm\"}");
}

#[test]
fn empty_values_are_dropped_before_the_duplicate_check() {
    let got = parse_all("m{a=\"\",a=\"x\",b=\"\"} 1 1\n# EOF\n").unwrap();
    assert_eq!(got[0].labels, "{__name__=\"m\", a=\"x\"}");
}

#[test]
fn overlong_line_is_refused() {
    let mut input = vec![b'm'; MAX_LINE_BYTES + 1];
    input.extend_from_slice(b" 1 1\n# EOF\n");
    let mut p = OpenMetricsParser::new(io::BufReader::with_capacity(1 << 16, &input[..]));
    let e = p.next_sample().unwrap_err();
    assert!(e.to_string().contains("line longer than"), "{e}");
}

#[test]
fn lines_split_across_reader_buffers() {
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!("metric_{}{{i=\"{i}\"}} {i} {i}\n", i % 7));
    }
    text.push_str("# EOF\n");
    let mut p = OpenMetricsParser::new(io::BufReader::with_capacity(7, text.as_bytes()));
    let mut n = 0;
    while let Some(s) = p.next_sample().unwrap() {
        assert_eq!(s.timestamp_ms, n * 1000);
        assert_eq!(s.value, n as f64);
        n += 1;
    }
    assert_eq!(n, 1000);
}
