use super::*;

fn header(source: Option<PlanSource>) -> PlanHeader {
    PlanHeader {
        user: "tenant-1".into(),
        day_index: 20773,
        source,
    }
}

fn write(compression: PlanCompression, h: &PlanHeader, entries: &[PlanEntry]) -> Vec<u8> {
    let mut w = PlanWriter::new(Vec::new(), compression, h).unwrap();
    for e in entries {
        w.write_entry(e).unwrap();
    }
    assert_eq!(w.entries(), entries.len() as u64);
    w.finish().unwrap()
}

fn read_all(name: &str, bytes: &[u8]) -> Result<(PlanHeader, Vec<PlanEntry>, u64), PlanError> {
    let mut r = PlanReader::new(name, bytes)?;
    let mut v = Vec::new();
    while let Some(e) = r.next_entry()? {
        v.push(e);
    }
    Ok((r.header().clone(), v, r.skipped()))
}

fn cortex(sid: &str, cs: &[&str]) -> PlanEntry {
    PlanEntry::Cortex {
        series_id: sid.into(),
        chunk_ids: cs.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn round_trips_every_source_and_compression() {
    let cases = [
        (
            None,
            vec![cortex("s1", &["t/1:2:3:4"]), cortex("s2", &["a", "b"])],
        ),
        (
            Some(PlanSource::Prometheus),
            vec![
                PlanEntry::Prometheus {
                    block: "s3://b/p/01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
                    drop_labels: vec![],
                },
                PlanEntry::Prometheus {
                    block: "file:///data/01ARZ3NDEKTSV4RRFFQ69G5FAW".into(),
                    drop_labels: vec!["replica".into(), "prometheus".into()],
                },
            ],
        ),
        (
            Some(PlanSource::OpenMetrics),
            vec![PlanEntry::OpenMetrics {
                staged: "migration/t/20773.staged.0".into(),
            }],
        ),
        (Some(PlanSource::Cortex), vec![]),
    ];
    for (source, entries) in cases {
        let h = header(source);
        for c in [
            PlanCompression::None,
            PlanCompression::Gzip,
            PlanCompression::Snappy,
        ] {
            let bytes = write(c, &h, &entries);
            let name = format!("migration/tenant-1/20773{}", c.suffix());
            let (got_h, got, skipped) = read_all(&name, &bytes).unwrap();
            assert_eq!(
                (got_h, got, skipped),
                (h.clone(), entries.clone(), 0),
                "{name}"
            );
        }
    }
}

#[test]
fn plain_format_is_cortex_compatible() {
    let bytes = write(
        PlanCompression::None,
        &header(None),
        &[cortex("sid1", &["c1", "c2"])],
    );
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "{\"user\":\"tenant-1\",\"day_index\":20773}\n\
         {\"sid\":\"sid1\",\"cs\":[\"c1\",\"c2\"]}\n\
         {\"complete\":true}\n"
    );
    let bytes = write(
        PlanCompression::None,
        &header(Some(PlanSource::OpenMetrics)),
        &[],
    );
    assert!(String::from_utf8(bytes)
        .unwrap()
        .starts_with("{\"user\":\"tenant-1\",\"day_index\":20773,\"source\":\"openmetrics\"}\n"));
}

#[test]
fn cortex_entries_without_sid_or_chunks_are_skipped_and_counted() {
    let plan = "{\"user\":\"u\",\"day_index\":1}\n\
                {\"sid\":\"a\",\"cs\":[\"x\"]}\n\
                {\"sid\":\"\",\"cs\":[\"x\"]}\n\
                {\"sid\":\"b\",\"cs\":[]}\n\
                {\"sid\":\"c\"}\n\
                \n\
                {\"sid\":\"d\",\"cs\":[\"y\"],\"unknown\":1}\n\
                {\"complete\":true}\n";
    let (_, entries, skipped) = read_all("u/1.plan", plan.as_bytes()).unwrap();
    assert_eq!(entries, vec![cortex("a", &["x"]), cortex("d", &["y"])]);
    assert_eq!(skipped, 3);
}

#[test]
fn missing_footer_is_refused() {
    let bytes = write(PlanCompression::None, &header(None), &[cortex("s", &["c"])]);
    let text = String::from_utf8(bytes).unwrap();
    let truncated = text.trim_end().rsplit_once('\n').unwrap().0;
    let e = read_all("t/20773.plan", truncated.as_bytes()).unwrap_err();
    assert!(matches!(e, PlanError::Incomplete { line: 2, .. }), "{e}");
    assert!(
        e.to_string().starts_with("plan t/20773.plan: incomplete"),
        "{e}"
    );

    let e = read_all("t/20773.plan", b"").unwrap_err();
    assert!(matches!(e, PlanError::Incomplete { .. }), "{e}");
}

#[test]
fn truncated_snappy_stream_is_refused() {
    let bytes = write(
        PlanCompression::Snappy,
        &header(None),
        &[cortex("s", &["c"])],
    );
    let e = read_all("t/1.plan.snappy", &bytes[..bytes.len() - 3]).unwrap_err();
    assert!(e.to_string().contains("t/1.plan.snappy"), "{e}");
}

#[test]
fn data_after_footer_is_refused() {
    for extra in [
        "{\"sid\":\"s\",\"cs\":[\"c\"]}\n",
        "{\"complete\":true}\n",
        "x\n",
    ] {
        let plan = format!("{{\"user\":\"u\",\"day_index\":1}}\n{{\"complete\":true}}\n{extra}");
        let e = read_all("p.plan", plan.as_bytes()).unwrap_err();
        assert!(matches!(e, PlanError::AfterFooter { line: 3, .. }), "{e}");
    }
    // Trailing blank lines are not data.
    let plan = "{\"user\":\"u\",\"day_index\":1}\n{\"complete\":true}\n\n  \n";
    assert!(read_all("p.plan", plan.as_bytes()).is_ok());
}

#[test]
fn bad_lines_name_plan_and_line() {
    let plan = "{\"user\":\"u\",\"day_index\":1}\n{\"sid\":\"a\",\"cs\":[\"x\"]}\n{\"sid\":\n";
    let e = read_all("u/1.plan", plan.as_bytes()).unwrap_err();
    assert!(
        e.to_string().starts_with("plan u/1.plan: line 3: bad JSON"),
        "{e}"
    );

    for bad_header in [
        "{\"day_index\":1}",
        "{\"user\":\"\",\"day_index\":1}",
        "{\"user\":\"u\"}",
        "{\"complete\":true}",
    ] {
        let e = read_all("u/1.plan", bad_header.as_bytes()).unwrap_err();
        assert!(
            e.to_string()
                .contains("line 1: first line is not a plan header"),
            "{e}"
        );
    }

    let plan = "{\"user\":\"u\",\"day_index\":1,\"source\":\"prometheus\"}\n{\"sid\":\"a\",\"cs\":[\"x\"]}\n{\"complete\":true}\n";
    let e = read_all("u/1.plan", plan.as_bytes()).unwrap_err();
    assert!(
        e.to_string()
            .contains("line 2: expected a prometheus entry"),
        "{e}"
    );

    let plan = "{\"user\":\"u\",\"day_index\":1,\"source\":\"bogus\"}\n{\"complete\":true}\n";
    assert!(read_all("u/1.plan", plan.as_bytes()).is_err());
}

#[test]
fn writer_refuses_entries_readers_would_drop_or_reject() {
    let mut w = PlanWriter::new(Vec::new(), PlanCompression::None, &header(None)).unwrap();
    assert!(w.write_entry(&cortex("", &["c"])).is_err());
    assert!(w.write_entry(&cortex("s", &[])).is_err());
    assert!(w
        .write_entry(&PlanEntry::Prometheus {
            block: "x".into(),
            drop_labels: vec![],
        })
        .is_err());
}

#[test]
fn names_map_to_compression() {
    assert_eq!(
        PlanCompression::split_name("m/t/20773.plan.snappy"),
        Some(("m/t/20773", PlanCompression::Snappy))
    );
    assert_eq!(
        PlanCompression::split_name("20773.plan.gz"),
        Some(("20773", PlanCompression::Gzip))
    );
    assert_eq!(
        PlanCompression::split_name("20773.plan"),
        Some(("20773", PlanCompression::None))
    );
    assert_eq!(PlanCompression::split_name("20773.progress"), None);
    assert_eq!(
        PlanCompression::for_reading("x.plan.snappy"),
        PlanCompression::Snappy
    );
    assert_eq!(
        PlanCompression::for_reading("x.plan"),
        PlanCompression::None
    );
}

#[test]
fn iterator_stops_after_an_error() {
    let mut r = PlanReader::new("p.plan", &b"{\"user\":\"u\",\"day_index\":1}\n"[..]).unwrap();
    assert!(matches!(r.next(), Some(Err(PlanError::Incomplete { .. }))));
    assert!(r.next().is_none());
}

#[test]
fn prometheus_entries_without_drop_labels_still_read() {
    let text = "{\"user\":\"t\",\"day_index\":3,\"source\":\"prometheus\"}\n{\"block\":\"file:///a/B\"}\n{\"complete\":true}\n";
    let mut r = PlanReader::new("t/3.plan", text.as_bytes()).unwrap();
    assert_eq!(
        r.next_entry().unwrap(),
        Some(PlanEntry::Prometheus {
            block: "file:///a/B".into(),
            drop_labels: vec![],
        })
    );
    // Written without the field when empty, so such plans look as before.
    let mut w = PlanWriter::new(Vec::new(), PlanCompression::None, r.header()).unwrap();
    w.write_entry(&PlanEntry::Prometheus {
        block: "file:///a/B".into(),
        drop_labels: vec![],
    })
    .unwrap();
    assert_eq!(String::from_utf8(w.finish().unwrap()).unwrap(), text);
}
