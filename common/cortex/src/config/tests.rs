use super::*;

fn testdata(case: &str, file: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/cortex")
        .join(case)
        .join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const FULL: &str = r#"
target: all
auth_enabled: true
server:
  http_listen_port: 9009
ingester:
  lifecycler:
    ring:
      kvstore:
        store: inmemory
schema:
  configs:
    - from: 2019-01-01
      store: aws-dynamo
      object_store: s3
      schema: v6
      index: {prefix: old_, period: 168h}
    - from: "2020-01-06"
      store: bigtable-hashed
      object_store: gcs
      schema: v11
      index:
        prefix: index_
        period: 1w
        tags: {team: x}
      chunks:
        prefix: chunks_
        period: 168h
    - from: 2021-03-01
      store: gcp
      schema: v10
      row_shards: 32
      index: {prefix: i_, period: 24h}
      chunks: {prefix: c_, period: 24h}
storage:
  engine: chunks
  bigtable: {project: p1, instance: i1, grpc_client_config: {max_recv_msg_size: 1}}
  gcs: {bucket_name: my-chunks, request_timeout: 0s}
  aws:
    dynamodb: {dynamodb_url: "dynamodb://us-east-1/", api_limit: 2}
    s3: s3://us-east-1/b1,b2
    s3forcepathstyle: true
  filesystem: {directory: /data/chunks}
limits: {ingestion_rate: 1}
"#;

#[test]
fn full_cortex_config() {
    let c = CortexConfig::parse(FULL).unwrap();
    let s = &c.schema;
    assert_eq!(s.configs.len(), 3);
    assert_eq!(s.configs[0].schema, SchemaVersion::Unsupported("v6".into()));
    assert_eq!(s.configs[0].row_shards, 0);
    let p = &s.configs[1];
    assert_eq!(p.from_day, parse_day("2020-01-06").unwrap());
    assert_eq!((p.schema.clone(), p.row_shards), (SchemaVersion::V11, 16));
    assert_eq!(p.index.period_secs, 7 * DAY_SECS);
    assert_eq!(
        p.index_store(),
        IndexStore::Bigtable(BigtableLayout::Hashed)
    );
    assert_eq!(p.chunk_store(), ChunkStore::Gcs);
    let p = &s.configs[2];
    assert_eq!(p.row_shards, 32);
    assert_eq!(
        p.chunk_store(),
        ChunkStore::IndexStore(IndexStore::Bigtable(BigtableLayout::Gcp))
    );
    assert_eq!(s.configs[0].chunk_store(), ChunkStore::S3);
    s.validate().unwrap();
    let st = &c.storage;
    assert_eq!(st.bigtable.as_ref().unwrap().project, "p1");
    assert_eq!(st.gcs.as_ref().unwrap().bucket_name, "my-chunks");
    let aws = st.aws.as_ref().unwrap();
    assert_eq!(
        aws.dynamodb.dynamodb_url.as_deref(),
        Some("dynamodb://us-east-1/")
    );
    assert!(aws.s3forcepathstyle);
    assert_eq!(aws.buckets(), ["b1", "b2"]);
    assert_eq!(st.filesystem.as_ref().unwrap().directory, "/data/chunks");
}

#[test]
fn periods_for_days_and_boundaries() {
    let c = CortexConfig::parse(FULL).unwrap();
    let s = &c.schema;
    let boundary = parse_day("2020-01-06").unwrap();
    assert!(s.period_for_day(parse_day("2018-12-31").unwrap()).is_none());
    assert_eq!(s.period_for_day(boundary - 1).unwrap().index.prefix, "old_");
    // Cortex's builder would pick "old_" here; the day's data is in the new period.
    assert_eq!(s.period_for_day(boundary).unwrap().index.prefix, "index_");
    // A chunk starting the evening before the boundary is in the old store.
    let chunk_from = boundary * DAY_MS - 3_600_000;
    assert_eq!(s.period_for_chunk(chunk_from).unwrap().index.prefix, "old_");
    assert_eq!(s.period_for_day(30_000).unwrap().index.prefix, "i_");
}

#[test]
fn fixture_schema_and_storage_files() {
    for case in [
        "v9-bigtable-doubledelta",
        "v10-gcp-varbit",
        "v11-hashed-bigchunk",
        "v11-hashed-xor",
        "v11-replicas",
        "v11-dynamodb-s3",
    ] {
        let mut c = CortexConfig::parse(&testdata(case, "schema.yaml")).unwrap();
        c.merge(CortexConfig::parse(&testdata(case, "storage.yaml")).unwrap());
        c.schema.validate().unwrap();
        let p = c.schema.period_for_day(20773).unwrap();
        assert_eq!(p.from_day, parse_day("2026-10-01").unwrap());
        // Weekly tables: index_<unix_s / 604800>.
        assert_eq!(p.index_table_for(20773 * DAY_MS), "index_2967");
        assert_eq!(p.index_table_for(20776 * DAY_MS), "index_2968");
        assert_eq!(p.chunk_table_for(20773 * DAY_MS), "chunks_2967");
        assert_eq!(
            p.index.table_range("index_2967"),
            Some((2967 * 604_800_000, 2968 * 604_800_000))
        );
        assert_eq!(p.index.table_range("chunks_2967"), None);
        assert_eq!(p.index.table_range("index_29x"), None);
        let (store, chunks, version) = match case {
            "v9-bigtable-doubledelta" => (
                IndexStore::Bigtable(BigtableLayout::ColumnKey),
                ChunkStore::Filesystem,
                SchemaVersion::V9,
            ),
            "v10-gcp-varbit" => (
                IndexStore::Bigtable(BigtableLayout::Gcp),
                ChunkStore::Filesystem,
                SchemaVersion::V10,
            ),
            "v11-dynamodb-s3" => (IndexStore::DynamoDb, ChunkStore::S3, SchemaVersion::V11),
            _ => (
                IndexStore::Bigtable(BigtableLayout::Hashed),
                ChunkStore::Filesystem,
                SchemaVersion::V11,
            ),
        };
        assert_eq!(
            (p.index_store(), p.chunk_store(), p.schema.clone()),
            (store, chunks, version),
            "{case}"
        );
        assert_eq!(
            p.row_shards,
            if p.schema == SchemaVersion::V9 { 0 } else { 16 }
        );
        match p.index_store() {
            IndexStore::DynamoDb => {
                let aws = c.storage.aws.as_ref().unwrap();
                assert!(aws.dynamodb.dynamodb_url.is_some());
                assert!(aws.s3forcepathstyle);
                assert_eq!(aws.buckets(), ["cortex-chunks"]);
            }
            _ => {
                let bt = c.storage.bigtable.as_ref().unwrap();
                assert_eq!(
                    (bt.project.as_str(), bt.instance.as_str()),
                    ("fixture-project", "fixture-instance")
                );
                assert_eq!(
                    c.storage.filesystem.as_ref().unwrap().directory,
                    "<chunks-dir>"
                );
            }
        }
    }
}

#[test]
fn durations_dates_and_errors() {
    assert_eq!(parse_duration_secs("168h"), Some(604_800));
    assert_eq!(parse_duration_secs("1w"), Some(604_800));
    assert_eq!(parse_duration_secs("1d12h"), Some(129_600));
    assert_eq!(parse_duration_secs("0s"), Some(0));
    assert_eq!(parse_duration_secs("1500ms"), None);
    assert_eq!(parse_duration_secs("h"), None);
    assert_eq!(parse_day("1970-01-02"), Some(1));
    assert_eq!(parse_day("2026-11-16"), Some(20773));
    assert!(matches!(
        CortexConfig::parse("configs:\n- from: 2020-13-01\n  schema: v9\n"),
        Err(ConfigError::BadDate { index: 0, .. })
    ));
    assert!(matches!(
        CortexConfig::parse("server: {}\n"),
        Err(ConfigError::Empty)
    ));
    assert!(matches!(
        CortexConfig::parse("configs: [\n"),
        Err(ConfigError::Yaml(_))
    ));
    let c = CortexConfig::parse(
        "configs:\n- {from: 2020-01-01, store: gcp, schema: v9, index: {prefix: i_, period: 36h}}\n",
    )
    .unwrap();
    assert!(matches!(
        c.schema.validate(),
        Err(ConfigError::Invalid { index: 0, .. })
    ));
    let c = CortexConfig::parse(
        "configs:\n- {from: 2020-01-02, store: gcs, schema: v9}\n- {from: 2020-01-01, store: gcs, schema: v9}\n",
    )
    .unwrap();
    assert!(c.schema.validate().is_err());
    let nonperiodic = PeriodicTableConfig {
        prefix: "tbl".into(),
        period_secs: 0,
    };
    assert_eq!(nonperiodic.table_for(123), "tbl");
}
