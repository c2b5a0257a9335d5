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

#[test]
fn plain_decimal_fast_path_agrees_with_the_full_parse() {
    let mut seed = 7u64;
    for i in 0..200_000u64 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let int_digits = (seed >> 60) as usize % 13 + 1;
        let frac_digits = ((seed >> 56) as usize % (16 - int_digits)).max(1);
        let int = (seed >> 8) % 10u64.pow(int_digits as u32);
        let frac = (seed >> 3) % 10u64.pow(frac_digits as u32);
        let sign = if i % 3 == 0 { "-" } else { "" };
        let tok = format!("{sign}{int}.{frac:0frac_digits$}");
        let fast = parse_go_float(tok.as_bytes()).unwrap();
        let full: f64 = tok.parse().unwrap();
        assert_eq!(fast.to_bits(), full.to_bits(), "{tok}");
        if sign.is_empty() {
            let ms = parse_timestamp(tok.as_bytes()).unwrap();
            assert_eq!(ms, (full * 1000.0) as i64, "{tok}");
        }
    }
    // Shapes the fast path leaves to the full parse.
    for tok in [
        "1.",
        ".5",
        "+1.5",
        "1.5e3",
        "1234567890.1234567",
        "-0.0",
        "1_0.0",
    ] {
        let got = parse_go_float(tok.as_bytes());
        match tok.parse::<f64>() {
            Ok(want) if !tok.contains('_') => {
                assert_eq!(got.unwrap().to_bits(), want.to_bits(), "{tok}")
            }
            _ => assert!(got.is_err(), "{tok}"),
        }
    }
}

/// Parses `input` cut into blocks at every possible line boundary set by
/// `cut_every` lines, with line numbers offset as the scanner does.
fn parse_blocks(input: &str, cut_every: usize) -> Result<Vec<Owned>, OpenMetricsError> {
    let mut blocks: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut lines = 0;
    for (i, c) in input.char_indices() {
        if c == '\n' {
            lines += 1;
            if lines % cut_every == 0 {
                blocks.push(&input[start..=i]);
                start = i + 1;
            }
        }
    }
    if start < input.len() || blocks.is_empty() {
        blocks.push(&input[start..]);
    } else {
        // The input ended on a cut: the last block is the last non-empty one.
    }
    let mut out = Vec::new();
    let mut base = 0;
    let n = blocks.len();
    for (k, b) in blocks.into_iter().enumerate() {
        let mut p = BlockParser::new(b.as_bytes(), k + 1 == n);
        loop {
            match p.next_sample() {
                Ok(Some(s)) => out.push(Owned {
                    labels: s
                        .series
                        .labels()
                        .map_err(|e| e.offset_lines(base))?
                        .to_string(),
                    ts: s.timestamp_ms,
                    bits: s.value.to_bits(),
                }),
                Ok(None) => break,
                Err(e) => return Err(e.offset_lines(base)),
            }
        }
        assert!(p.next_sample()?.is_none());
        base += p.line_number();
    }
    Ok(out)
}

#[test]
fn blocks_parse_like_the_stream_at_any_cut() {
    let good =
        "# HELP a_total x\n# TYPE a_total counter\na_total{x=\"1\"} 1 1\na_total{x=\"1\"} 2 2\n\
                b{y=\"\\\"q\\\"\"} 1.5 3.25\nb{y=\"\\\"q\\\"\"} NaN 4\n# EOF\n";
    let cases: Vec<String> = vec![
        good.to_owned(),
        good.trim_end_matches('\n').to_owned(),
        good.replace("# EOF\n", ""),
        format!("{good}\n"),
        format!("{good}x 1 1\n"),
        good.replace("b{y", "b{,y"),
        good.replace(" 4\n", "\n"),
        good.replace("# EOF\n", "# EOF\nc 1 1"),
        good.replace("a_total{x=\"1\"} 2 2", "a_total{x=\"1\",x=\"2\"} 2 2"),
        good.replace("# HELP a_total x\n", "# HELP a_total x\n\n"),
        good.replace("# EOF\n", "c 1 1"),
        String::new(),
        "# EOF".to_owned(),
    ];
    for case in &cases {
        let want = parse_all(case).map_err(|e| e.to_string());
        for cut in 1..=8 {
            let got = parse_blocks(case, cut).map_err(|e| e.to_string());
            assert_eq!(got, want, "cut every {cut} lines: {case:?}");
        }
    }
}

#[test]
fn series_text_parses_back_alone() {
    let s = SeriesRef::parse("m{a=\"x\",b=\"\\n\"}", 3).unwrap();
    assert_eq!(
        s.labels().unwrap().to_string(),
        "{__name__=\"m\", a=\"x\", b=\"\\n\"}"
    );
    assert_eq!(SeriesRef::parse("m{a=\"x\"} 1", 4).unwrap_err().line(), 4);
    assert!(SeriesRef::parse("m{a=\"x\",a=\"y\"}", 5)
        .unwrap()
        .labels()
        .is_err());
}
