use super::*;
use object_store::memory::InMemory;
use testkit::{Fault, FaultStore, Op, Rule};

fn key() -> ChunkKey {
    ChunkKey::parse("u", "u/1:2:3:4").expect("key")
}

#[test]
fn filesystem_reads_base64_names_and_reports_missing() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    std::fs::write(dir.path().join(k.filesystem_name()), b"abc").unwrap();
    let f = ChunkFetcher::filesystem(dir.path(), FetchOptions::default());
    assert_eq!(f.fetch_local(&k).unwrap().as_deref(), Some(&b"abc"[..]));
    let missing = ChunkKey::parse("u", "u/1:2:3:5").unwrap();
    assert!(f.fetch_local(&missing).unwrap().is_none());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(
        rt.block_on(f.fetch(&k)).unwrap().as_deref(),
        Some(&b"abc"[..])
    );
    assert!(rt.block_on(f.fetch(&missing)).unwrap().is_none());
    // A file read is a request, found or not, blocking or async.
    assert_eq!(f.requests(), 4);
}

#[tokio::test(start_paused = true)]
async fn throttled_reads_go_async_and_wait_their_turn() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    std::fs::write(dir.path().join(k.filesystem_name()), vec![7u8; 1000]).unwrap();
    let opts = FetchOptions {
        throttle: Some(Arc::new(Throttle::new(Some(10.0), Some(10_000.0)))),
        ..FetchOptions::default()
    };
    let f = ChunkFetcher::filesystem(dir.path(), opts);
    assert!(!f.is_local());
    let start = tokio::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(f.fetch(&k).await.unwrap().map(|b| b.len()), Some(1000));
    }
    // 1000 bytes at 10 kB/s cost 100 ms each, as do requests at 10/s:
    // the third read starts at 200 ms, its bytes are paid by the next.
    assert_eq!(start.elapsed(), std::time::Duration::from_millis(200));
}

/// An S3 fetcher over `store`, retrying quickly.
fn objects_fetcher(store: Arc<dyn ObjectStore>) -> ChunkFetcher {
    let opts = FetchOptions {
        retry: RetryPolicy {
            retries: 3,
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
        },
        ..FetchOptions::default()
    };
    ChunkFetcher {
        backend: Backend::Objects {
            kind: "s3",
            names: vec!["s3://chunks".into()],
            stores: vec![store],
        },
        permits: Semaphore::new(1),
        opts,
        requests: Default::default(),
    }
}

#[tokio::test(start_paused = true)]
async fn object_reads_retry_transient_errors_only() {
    let (store, faults) = FaultStore::new(Arc::new(InMemory::new()));
    let k = key();
    let path = object_path(&k.external_key()).unwrap();
    store.put(&path, "chunk".into()).await.unwrap();
    let f = objects_fetcher(store);
    let chunk = Some(&b"chunk"[..]);

    // Dropped connections, a body that breaks off: retried until read.
    faults.fail(Rule::error(Op::Get, "", 1));
    faults.fail(Rule::error(Op::Get, "", 1).with_fault(Fault::BrokenBody));
    assert_eq!(f.fetch(&k).await.unwrap().as_deref(), chunk);
    assert_eq!(faults.calls(Op::Get), 3);

    // A store that stays down: the retries are bounded and counted.
    faults.fail(Rule::always(Op::Get, ""));
    let err = f.fetch(&k).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Store { attempts: 4, .. }),
        "{err}"
    );
    assert_eq!(faults.calls(Op::Get), 7);

    // Permission denied is an answer: one attempt, no retry.
    faults.clear();
    faults.fail(Rule::always(Op::Get, "").with_fault(Fault::Denied));
    let err = f.fetch(&k).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Store {
                attempts: 1,
                source: object_store::Error::PermissionDenied { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(faults.calls(Op::Get), 8);
    // Every attempt is a request.
    assert_eq!(f.requests(), 8);

    // A missing chunk is `None` at once.
    faults.clear();
    let missing = ChunkKey::parse("u", "u/1:2:3:5").unwrap();
    assert!(f.fetch(&missing).await.unwrap().is_none());
    assert_eq!(faults.calls(Op::Get), 9);
    assert_eq!(f.fetch(&k).await.unwrap().as_deref(), chunk);
}

fn config(yaml: &str) -> CortexConfig {
    CortexConfig::parse(yaml).expect("config")
}

#[test]
fn chunk_tables_need_their_store_settings() {
    let c = config(
        "configs:\n- from: 2020-01-01\n  store: bigtable\n  schema: v9\n  index: {prefix: i_, period: 168h}\n  chunks: {prefix: c_, period: 168h}\n",
    );
    let err = ChunkFetcher::for_day(&c, 20000, None, FetchOptions::default()).unwrap_err();
    assert!(err.to_string().contains("storage.bigtable"), "{err}");
    let err = ChunkFetcher::for_day(&c, 10, None, FetchOptions::default()).unwrap_err();
    assert!(matches!(err, FetchError::NoPeriod { .. }), "{err}");
}

#[test]
fn s3_url_with_endpoint_and_several_buckets() {
    let c = config(
        "storage:\n  aws:\n    s3: http://k%2Fx:s@127.0.0.1:9/b1,b2\n    s3forcepathstyle: true\nconfigs:\n- from: 2020-01-01\n  store: aws-dynamo\n  object_store: s3\n  schema: v11\n",
    );
    let f = ChunkFetcher::for_day(&c, 20000, None, FetchOptions::default()).unwrap();
    assert_eq!(f.describe(), "s3 chunk store s3://b1,s3://b2");
    assert!(!f.is_local());
}

#[test]
fn percent_escapes() {
    assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
}

#[test]
fn small_file_reads_are_whole_at_any_size() {
    let dir = tempfile::tempdir().unwrap();
    for len in [0usize, 1, 4095, 4096, 4097, 20_000] {
        let path = dir.path().join(format!("f{len}"));
        let body: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &body).unwrap();
        assert_eq!(read_small_file(&path).unwrap(), body, "{len} bytes");
    }
    let missing = read_small_file(&dir.path().join("absent")).unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
}
