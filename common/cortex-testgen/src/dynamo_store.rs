//! A generated store as Cortex's `aws-dynamo` store holds it: index and
//! chunks both in DynamoDB, the period's `object_store` unset.
//!
//! [`load_dynamo_store`] reads the chunk objects [`crate::generate`] wrote
//! (or any filesystem chunk store of one period) and writes them the way
//! Cortex 1.x's `pkg/chunk/aws` storage client did (`writesForChunks`,
//! `dynamoDBWriteBatch.Add`): chunk table `chunks.prefix` + period of the
//! chunk's `from` (`ChunkTableFor(chunk.From)`), one item per chunk with
//! hash key `h` = external key, range key `r` = `c` (Cortex's
//! `placeholder`), the object in `c`. Tables get the index tables' key
//! schema, as Cortex's table manager created every table alike. Each chunk's
//! index entries ([`cortex::schema::chunk_entries`]) go to the index tables,
//! so the store can be scanned as well as built. The filesystem store stays
//! where it is: a build of it is the reference the DynamoDB store must match.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cortex::dynamodb::{DynamoClient, CHUNK_RANGE_VALUE};
use cortex::schema::chunk_entries;
use cortex::{decode_object, external_key_from_filesystem_name, ChunkKey, CortexConfig};

use crate::dynamodb::{DynamoLoad, ItemWrite};
use crate::store::{config_yaml, GenError, GenOptions};

/// Items buffered per table before they are written (bounds memory).
const FLUSH_ITEMS: usize = 2_000;

/// What [`load_dynamo_store`] wrote.
#[derive(Clone, Debug, Default)]
pub struct DynamoStore {
    /// The Cortex config of the DynamoDB store, next to `cortex.yaml`.
    pub config_path: PathBuf,
    /// Chunk items written (one per chunk object).
    pub chunks: u64,
    /// Index items written (entries repeated by several chunks count once
    /// per chunk).
    pub index_entries: u64,
    /// Chunk tables written to.
    pub chunk_tables: BTreeSet<String>,
    /// Index tables written to.
    pub index_tables: BTreeSet<String>,
}

/// Loads the filesystem chunk store `chunks_dir` that [`crate::generate`]
/// wrote with `opts` into DynamoDB over `client`, tables created as needed,
/// and writes `cortex-dynamo.yaml` next to `cortex.yaml`: the same schema
/// period with `store: aws-dynamo` and `dynamodb_url` (Cortex's URL form,
/// the one `client` was made from).
pub async fn load_dynamo_store(
    client: &DynamoClient,
    dynamodb_url: &str,
    opts: &GenOptions,
    chunks_dir: &Path,
) -> Result<DynamoStore, GenError> {
    let chunks_abs = std::path::absolute(chunks_dir).map_err(|source| GenError::Io {
        path: chunks_dir.to_path_buf(),
        source,
    })?;
    let yaml = config_yaml(
        opts,
        "store: aws-dynamo",
        &format!("  aws:\n    dynamodb:\n      dynamodb_url: {dynamodb_url}\n"),
    );
    let config = CortexConfig::parse(&yaml).map_err(|e| GenError::Load(format!("config: {e}")))?;
    let mut out = DynamoStore {
        config_path: chunks_abs
            .parent()
            .unwrap_or(&chunks_abs)
            .join("cortex-dynamo.yaml"),
        ..DynamoStore::default()
    };
    let mut writer = TableWriter {
        client,
        existing: client
            .list_tables()
            .await
            .map_err(|e| GenError::Load(e.to_string()))?
            .into_iter()
            .collect(),
        pending: BTreeMap::new(),
    };
    for (file, name) in chunk_files(&chunks_abs)? {
        let load = |reason: String| GenError::Load(format!("{}: {reason}", file.display()));
        let ext = external_key_from_filesystem_name(&name)
            .ok_or_else(|| load("not a base64 chunk name".into()))?;
        let user = ext.split_once('/').map_or("", |(u, _)| u);
        let key = ChunkKey::parse(user, &ext).map_err(|e| load(e.to_string()))?;
        let bytes = std::fs::read(&file).map_err(|source| GenError::Io {
            path: file.clone(),
            source,
        })?;
        let meta = decode_object(&key, &bytes)
            .map_err(|e| load(e.to_string()))?
            .meta;
        let period = config
            .schema
            .period_for_chunk(meta.from)
            .ok_or_else(|| load("no schema period holds the chunk".into()))?;
        let labels: Vec<(&str, &str)> = meta
            .metric
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let entries = chunk_entries(
            period,
            &meta.user_id,
            meta.from,
            meta.through,
            &labels,
            &ext,
        )
        .map_err(|e| load(e.to_string()))?;
        for e in entries {
            out.index_tables.insert(e.table.clone());
            out.index_entries += 1;
            let value = (!e.value.is_empty()).then_some(e.value);
            writer.push(e.table, (e.hash, e.range, value)).await?;
        }
        let table = period.chunk_table_for(meta.from);
        out.chunk_tables.insert(table.clone());
        out.chunks += 1;
        writer
            .push(table, (ext, CHUNK_RANGE_VALUE.to_vec(), Some(bytes)))
            .await?;
    }
    writer.flush_all().await?;
    std::fs::write(&out.config_path, yaml).map_err(|source| GenError::Io {
        path: out.config_path.clone(),
        source,
    })?;
    Ok(out)
}

/// Every chunk file under `dir` with its name relative to `dir`: Thanos'
/// filesystem bucket turns a `/` of the base64 name into a subdirectory.
fn chunk_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, GenError> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let io = |source| GenError::Io {
            path: d.clone(),
            source,
        };
        for entry in std::fs::read_dir(&d).map_err(io)? {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            if entry.file_type().map_err(io)?.is_dir() {
                dirs.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let name = rel.to_string_lossy().into_owned();
                out.push((path, name));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Items buffered per table, written in `BatchWriteItem`s.
struct TableWriter<'a> {
    client: &'a DynamoClient,
    existing: BTreeSet<String>,
    pending: BTreeMap<String, Vec<ItemWrite>>,
}

impl TableWriter<'_> {
    async fn push(&mut self, table: String, item: ItemWrite) -> Result<(), GenError> {
        let items = self.pending.entry(table.clone()).or_default();
        items.push(item);
        if items.len() >= FLUSH_ITEMS {
            let items = std::mem::take(items);
            self.write(&table, &items).await?;
        }
        Ok(())
    }

    async fn write(&mut self, table: &str, items: &[ItemWrite]) -> Result<(), GenError> {
        if !self.existing.contains(table) {
            self.client
                .create_index_table(table)
                .await
                .map_err(|e| GenError::Load(e.to_string()))?;
            self.existing.insert(table.to_string());
        }
        self.client
            .put_items(table, items)
            .await
            .map_err(|e| GenError::Load(e.to_string()))
    }

    async fn flush_all(&mut self) -> Result<(), GenError> {
        for (table, items) in std::mem::take(&mut self.pending) {
            if !items.is_empty() {
                self.write(&table, &items).await?;
            }
        }
        Ok(())
    }
}
