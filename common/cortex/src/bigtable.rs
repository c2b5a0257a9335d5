//! A small Cloud Bigtable client: what reading a Cortex index or chunk
//! table needs, over gRPC.
//!
//! - [`BigtableClient::list_tables`]: table discovery (admin API).
//! - [`BigtableClient::sample_row_keys`] and [`BigtableClient::read_rows`]:
//!   full scans split into row ranges, read as a stream of rows that
//!   resumes after the last complete row when the stream breaks.
//! - [`BigtableClient::fetch_chunks`]: chunk objects by external key from a
//!   chunk table (row key = key, cell `f:c`), 100 rows per request as Cortex.
//!
//! Creating tables and writing cells (test data for the emulator) is
//! `cortex-testgen`'s, over [`BigtableClient::raw_channels`].
//!
//! `BIGTABLE_EMULATOR_HOST` selects the emulator (plaintext, no auth), as in
//! Google's own clients; otherwise the production endpoints are used with
//! TLS and a bearer token from the application-default credentials.
//!
//! It knows nothing about Cortex entries: turning cells into index entries
//! is [`super::schema::parse_bigtable_cell`]'s job.
//!
//! Over 800 lines because the client, its resumable row reader and the
//! `ReadRows` cell-chunk assembler share private state and are tested
//! together; the proto messages are already apart (`proto`).

pub(crate) mod limits;
mod proto;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status, Streaming};

use self::limits::{RateLimiter, RetryPolicy};
use self::proto::*;
use base::retry::Backoff;
use tracing::warn;

const DATA_ENDPOINT: &str = "https://bigtable.googleapis.com";
const ADMIN_ENDPOINT: &str = "https://bigtableadmin.googleapis.com";
/// Rows per chunk read request (Cortex's `maxRowReads`).
pub const CHUNK_BATCH: usize = 100;
/// Bigtable cells can be up to 100 MiB; the default 4 MiB would refuse large chunks.
const MAX_MESSAGE: usize = 256 << 20;

/// A Bigtable request that failed, naming the table.
#[derive(Debug, thiserror::Error)]
pub enum BigtableError {
    /// The endpoint is unusable (bad URL, TLS setup).
    #[error("bigtable: cannot set up a connection to {endpoint}: {reason}")]
    Connect {
        /// The endpoint URL.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// No usable Google credentials or token.
    #[error("bigtable: credentials: {0}")]
    Credentials(String),
    /// The server's answer, after retrying transient ones.
    #[error("bigtable {op} on {table}: {status} (after {attempts} attempts)")]
    Rpc {
        /// The RPC, e.g. `ReadRows`.
        op: &'static str,
        /// The table, `*` for instance-wide calls.
        table: String,
        /// Attempts made, the first included.
        attempts: u32,
        /// The last gRPC status.
        status: Box<Status>,
    },
    /// A response that breaks the API's rules.
    #[error("bigtable {op} on {table}: {reason}")]
    Protocol {
        /// The RPC.
        op: &'static str,
        /// The table.
        table: String,
        /// What is wrong.
        reason: String,
    },
}

/// Connection settings.
#[derive(Clone, Debug)]
pub struct BigtableOptions {
    /// Google Cloud project ID.
    pub project: String,
    /// Bigtable instance ID.
    pub instance: String,
    /// `host:port` of an emulator; defaults to `$BIGTABLE_EMULATOR_HOST`.
    pub emulator_host: Option<String>,
    /// Retries of transient failures (per request; per break of a row stream).
    pub retry: RetryPolicy,
    /// Requests (reads, samples, lists) per second over this client; `None`: unlimited.
    pub requests_per_sec: Option<f64>,
}

impl BigtableOptions {
    /// Defaults for an instance: emulator from the environment, default
    /// retries, no rate limit.
    pub fn new(project: &str, instance: &str) -> Self {
        BigtableOptions {
            project: project.to_string(),
            instance: instance.to_string(),
            emulator_host: std::env::var("BIGTABLE_EMULATOR_HOST")
                .ok()
                .filter(|h| !h.is_empty()),
            retry: RetryPolicy::default(),
            requests_per_sec: None,
        }
    }
}

/// One cell of a row: family, qualifier, value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// Column family.
    pub family: String,
    /// Column qualifier.
    pub qualifier: Vec<u8>,
    /// Newest value (empty when the read stripped values).
    pub value: Vec<u8>,
}

/// A complete row, cells in the order the server sent them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Row key.
    pub key: Vec<u8>,
    /// The row's cells.
    pub cells: Vec<Cell>,
}

/// Rows `[start, end)`; an empty `start` is the table's start, `None` its end.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KeyRange {
    /// First row key, inclusive; empty: the table's first row.
    pub start: Vec<u8>,
    /// Row key after the last row; `None`: to the table's end.
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    /// The ranges between consecutive sampled keys, covering the whole table.
    pub fn split_at(samples: &[Vec<u8>]) -> Vec<KeyRange> {
        let mut keys: Vec<&Vec<u8>> = samples.iter().filter(|k| !k.is_empty()).collect();
        keys.sort();
        keys.dedup();
        let mut out = Vec::with_capacity(keys.len() + 1);
        let mut start = Vec::new();
        for k in keys {
            out.push(KeyRange {
                start: std::mem::replace(&mut start, k.clone()),
                end: Some(k.clone()),
            });
        }
        out.push(KeyRange { start, end: None });
        out
    }
}

/// OAuth scope of the bearer tokens: Bigtable's data and admin APIs both
/// accept the cloud-platform scope.
const AUTH_SCOPES: &[&str] = &["https://www.googleapis.com/auth/cloud-platform"];

/// Google's application-default credentials (a service-account JSON named
/// by `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's user credentials, the
/// metadata server), found on the first request since finding them is
/// async; tokens are cached and refreshed by `gcp_auth`.
#[derive(Clone, Default)]
struct Auth(Arc<tokio::sync::OnceCell<Arc<dyn gcp_auth::TokenProvider>>>);

impl Auth {
    async fn bearer(&self) -> Result<String, BigtableError> {
        let cred = |e: gcp_auth::Error| BigtableError::Credentials(e.to_string());
        let provider = self
            .0
            .get_or_try_init(gcp_auth::provider)
            .await
            .map_err(cred)?;
        let token = provider.token(AUTH_SCOPES).await.map_err(cred)?;
        Ok(format!("Bearer {}", token.as_str()))
    }
}

/// A client's connections, see [`BigtableClient::raw_channels`].
#[derive(Clone, Debug)]
pub struct RawChannels {
    /// The data API (`google.bigtable.v2.Bigtable`).
    pub data: Channel,
    /// The admin API (`google.bigtable.admin.v2.BigtableTableAdmin`).
    pub admin: Channel,
}

/// A client for one Bigtable instance. Cheap to clone; clones share the
/// HTTP/2 connections and the rate limit.
#[derive(Clone)]
pub struct BigtableClient {
    data: Channel,
    admin: Channel,
    auth: Option<Auth>,
    project: String,
    instance: String,
    retry: RetryPolicy,
    limiter: Arc<RateLimiter>,
}

impl std::fmt::Debug for BigtableClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigtableClient")
            .field("project", &self.project)
            .field("instance", &self.instance)
            .finish()
    }
}

fn is_retriable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Internal
            | Code::Unknown
    )
}

impl BigtableError {
    fn rpc(op: &'static str, table: &str, attempts: u32, status: Status) -> Self {
        BigtableError::Rpc {
            op,
            table: table.to_string(),
            attempts,
            status: Box::new(status),
        }
    }

    /// Only RPC failures with a retriable code: bad credentials, missing
    /// tables or permissions are answers, not accidents.
    fn is_transient(&self) -> bool {
        matches!(self, BigtableError::Rpc { status, .. } if is_retriable(status))
    }
}

impl BigtableClient {
    /// Sets up lazily connected channels; nothing is sent until the first
    /// request. Must be called inside a Tokio runtime.
    pub fn connect(opts: &BigtableOptions) -> Result<Self, BigtableError> {
        let (data, admin, auth) = match &opts.emulator_host {
            Some(host) => {
                let ch = plain_channel(host)?;
                (ch.clone(), ch, None)
            }
            None => (
                tls_channel(DATA_ENDPOINT)?,
                tls_channel(ADMIN_ENDPOINT)?,
                Some(Auth::default()),
            ),
        };
        Ok(BigtableClient {
            data,
            admin,
            auth,
            project: opts.project.clone(),
            instance: opts.instance.clone(),
            retry: opts.retry,
            limiter: Arc::new(RateLimiter::new(opts.requests_per_sec)),
        })
    }

    /// `projects/P/instances/I`, the parent of the instance's tables.
    pub fn instance_name(&self) -> String {
        format!("projects/{}/instances/{}", self.project, self.instance)
    }

    /// The gRPC channels, for requests this client has no method for:
    /// `cortex-testgen` creates tables and writes cells with them. Requests
    /// sent this way carry no credentials, so they reach the emulator only.
    pub fn raw_channels(&self) -> RawChannels {
        RawChannels {
            data: self.data.clone(),
            admin: self.admin.clone(),
        }
    }

    fn table_name(&self, table: &str) -> String {
        format!("{}/tables/{table}", self.instance_name())
    }

    async fn request<T>(&self, msg: T, table: &str) -> Result<tonic::Request<T>, BigtableError> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(Duration::from_secs(300));
        if let Some(auth) = &self.auth {
            let v = MetadataValue::try_from(auth.bearer().await?)
                .map_err(|e| BigtableError::Credentials(e.to_string()))?;
            req.metadata_mut().insert("authorization", v);
            // Routing header the production service expects.
            if let Ok(v) = MetadataValue::try_from(format!(
                "table_name={}",
                url::form_urlencoded::byte_serialize(self.table_name(table).as_bytes())
                    .collect::<String>()
            )) {
                req.metadata_mut().insert("x-goog-request-params", v);
            }
        }
        Ok(req)
    }

    fn grpc(channel: &Channel) -> tonic::client::Grpc<Channel> {
        tonic::client::Grpc::new(channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }

    async fn unary<Req, Resp>(
        &self,
        admin: bool,
        path: &'static str,
        op: &'static str,
        table: &str,
        msg: Req,
    ) -> Result<Resp, BigtableError>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.retry
            .run(
                BigtableError::is_transient,
                |e, n, wait| {
                    warn!(op, table, attempt = n, error = %e, backoff = ?wait,
                        "bigtable request failed; retrying");
                },
                |attempt| {
                    let msg = msg.clone();
                    async move {
                        self.limiter.acquire().await;
                        let mut grpc = Self::grpc(if admin { &self.admin } else { &self.data });
                        let req = self.request(msg, table).await?;
                        let res = async {
                            grpc.ready()
                                .await
                                .map_err(|e| Status::unavailable(e.to_string()))?;
                            let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
                            grpc.unary(req, PathAndQuery::from_static(path), codec)
                                .await
                        }
                        .await;
                        res.map(tonic::Response::into_inner)
                            .map_err(|status| BigtableError::rpc(op, table, attempt, status))
                    }
                },
            )
            .await
            .map_err(|f| f.error)
    }

    async fn stream<Req, Resp>(
        &self,
        path: &'static str,
        table: &str,
        msg: Req,
    ) -> Result<Streaming<Resp>, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.limiter.acquire().await;
        let mut grpc = Self::grpc(&self.data);
        let req = self
            .request(msg, table)
            .await
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        Ok(grpc
            .server_streaming(req, PathAndQuery::from_static(path), codec)
            .await?
            .into_inner())
    }

    /// Names (without the instance path) of every table of the instance.
    pub async fn list_tables(&self) -> Result<Vec<String>, BigtableError> {
        let prefix = format!("{}/tables/", self.instance_name());
        let mut names = Vec::new();
        let mut page_token = String::new();
        loop {
            let resp: ListTablesResponse = self
                .unary(
                    true,
                    "/google.bigtable.admin.v2.BigtableTableAdmin/ListTables",
                    "ListTables",
                    "*",
                    ListTablesRequest {
                        parent: self.instance_name(),
                        view: 1,
                        page_token: page_token.clone(),
                        page_size: 0,
                    },
                )
                .await?;
            for t in resp.tables {
                let name = t.name.strip_prefix(&prefix).unwrap_or(&t.name);
                names.push(name.to_string());
            }
            if resp.next_page_token.is_empty() {
                break;
            }
            page_token = resp.next_page_token;
        }
        names.sort();
        Ok(names)
    }

    /// Sampled row keys splitting the table into ranges of similar size.
    pub async fn sample_row_keys(&self, table: &str) -> Result<Vec<Vec<u8>>, BigtableError> {
        self.retry
            .run(
                BigtableError::is_transient,
                |e, n, wait| {
                    warn!(table, attempt = n, error = %e, backoff = ?wait,
                        "bigtable SampleRowKeys failed; retrying");
                },
                |attempt| async move {
                    let res = async {
                        let mut s: Streaming<SampleRowKeysResponse> = self
                            .stream(
                                "/google.bigtable.v2.Bigtable/SampleRowKeys",
                                table,
                                SampleRowKeysRequest {
                                    table_name: self.table_name(table),
                                    app_profile_id: String::new(),
                                },
                            )
                            .await?;
                        let mut keys = Vec::new();
                        while let Some(m) = s.message().await? {
                            keys.push(m.row_key);
                        }
                        Ok::<_, Status>(keys)
                    }
                    .await;
                    res.map_err(|status| {
                        BigtableError::rpc("SampleRowKeys", table, attempt, status)
                    })
                },
            )
            .await
            .map_err(|f| f.error)
    }

    /// Reads the rows of `range`, newest cell per column only. With
    /// `keys_only`, cell values are stripped by the server (index scans
    /// need only row keys and qualifiers).
    pub fn read_rows(&self, table: &str, range: KeyRange, keys_only: bool) -> RowReader {
        let mut filters = vec![RowFilter {
            filter: Some(Filter::CellsPerColumnLimit(1)),
        }];
        if keys_only {
            filters.push(RowFilter {
                filter: Some(Filter::StripValue(true)),
            });
        }
        RowReader {
            client: self.clone(),
            table: table.to_string(),
            target: Target::Range(range),
            filter: RowFilter {
                filter: Some(Filter::Chain(Chain { filters })),
            },
            committed: None,
            stream: None,
            assembler: Assembler::default(),
            ready: std::collections::VecDeque::new(),
            backoff: Backoff::new(self.retry),
            done: false,
        }
    }

    /// Fetches chunk objects by external key from a chunk table: row key =
    /// key, cell `f:c` (other cells of the row are read and ignored). The
    /// result is aligned with `keys`; a key without a row is `None` (the
    /// caller decides whether that is an error: Cortex's Bigtable client
    /// treats it as one).
    pub async fn fetch_chunks(
        &self,
        table: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, BigtableError> {
        let mut found = HashMap::with_capacity(keys.len());
        for batch in keys.chunks(CHUNK_BATCH) {
            let mut reader = RowReader {
                client: self.clone(),
                table: table.to_string(),
                target: Target::Keys(batch.iter().map(|k| k.as_bytes().to_vec()).collect()),
                filter: RowFilter {
                    // No family or qualifier filter: `f:c` is picked below.
                    // Regex filters cost the server work per cell (the
                    // emulator compiles them per cell: a tenth of the
                    // `cortex_run_bigtable` bench's wall), and Cortex's own
                    // chunk reads sent none.
                    filter: Some(Filter::CellsPerColumnLimit(1)),
                },
                committed: None,
                stream: None,
                assembler: Assembler::default(),
                ready: std::collections::VecDeque::new(),
                backoff: Backoff::new(self.retry),
                done: false,
            };
            while let Some(row) = reader.next_row().await? {
                if let Some(cell) = row
                    .cells
                    .into_iter()
                    .find(|c| c.family == "f" && c.qualifier == b"c")
                {
                    found.insert(row.key, cell.value);
                }
            }
        }
        // Each value is moved out once; a key asked twice gets a copy.
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(keys.len());
        let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let value = match first.entry(k.as_str()) {
                Entry::Occupied(e) => out[*e.get()].clone(),
                Entry::Vacant(e) => {
                    e.insert(i);
                    found.remove(k.as_bytes())
                }
            };
            out.push(value);
        }
        Ok(out)
    }
}

fn plain_channel(host: &str) -> Result<Channel, BigtableError> {
    let endpoint = format!("http://{host}");
    Ok(Endpoint::from_shared(endpoint.clone())
        .map_err(|e| BigtableError::Connect {
            endpoint: endpoint.clone(),
            reason: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .connect_lazy())
}

fn tls_channel(endpoint: &str) -> Result<Channel, BigtableError> {
    let err = |e: tonic::transport::Error| BigtableError::Connect {
        endpoint: endpoint.to_string(),
        reason: e.to_string(),
    };
    Ok(Endpoint::from_shared(endpoint.to_string())
        .map_err(err)?
        .tls_config(ClientTlsConfig::new().with_webpki_roots())
        .map_err(err)?
        .connect_timeout(Duration::from_secs(10))
        .tcp_keepalive(Some(Duration::from_secs(30)))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy())
}

enum Target {
    Range(KeyRange),
    Keys(Vec<Vec<u8>>),
}

/// A stream of complete rows from `ReadRows`. A broken stream is re-opened
/// after the last complete row, so no row is returned twice or lost.
pub struct RowReader {
    client: BigtableClient,
    table: String,
    target: Target,
    filter: RowFilter,
    /// Key of the last row handed to `ready`.
    committed: Option<Vec<u8>>,
    stream: Option<Streaming<ReadRowsResponse>>,
    assembler: Assembler,
    ready: std::collections::VecDeque<Row>,
    /// Failures since the stream last delivered a response.
    backoff: Backoff,
    done: bool,
}

impl RowReader {
    fn row_set(&self) -> Option<RowSet> {
        match &self.target {
            Target::Range(r) => {
                let start = match &self.committed {
                    Some(k) => Some(StartKey::Open(k.clone())),
                    None if r.start.is_empty() => None,
                    None => Some(StartKey::Closed(r.start.clone())),
                };
                if let (Some(end), Some(c)) = (&r.end, &self.committed) {
                    if c >= end {
                        return None;
                    }
                }
                Some(RowSet {
                    row_keys: Vec::new(),
                    row_ranges: vec![RowRange {
                        start_key: start,
                        end_key: r.end.clone().map(EndKey::Open),
                    }],
                })
            }
            Target::Keys(keys) => {
                let rest: Vec<Vec<u8>> = keys
                    .iter()
                    .filter(|k| self.committed.as_ref().is_none_or(|c| *k > c))
                    .cloned()
                    .collect();
                (!rest.is_empty()).then_some(RowSet {
                    row_keys: rest,
                    row_ranges: Vec::new(),
                })
            }
        }
    }

    /// The next complete row, or `None` at the end of the range.
    pub async fn next_row(&mut self) -> Result<Option<Row>, BigtableError> {
        loop {
            if let Some(row) = self.ready.pop_front() {
                return Ok(Some(row));
            }
            if self.done {
                return Ok(None);
            }
            let res = self.pump().await;
            match res {
                Ok(()) => {}
                Err(status) => {
                    let wait = if is_retriable(&status) {
                        self.backoff.next_wait()
                    } else {
                        None
                    };
                    let Some(wait) = wait else {
                        return Err(BigtableError::rpc(
                            "ReadRows",
                            &self.table,
                            self.backoff.attempt(),
                            status,
                        ));
                    };
                    warn!(table = %self.table, attempt = self.backoff.attempt() - 1, error = %status,
                        backoff = ?wait, "bigtable ReadRows stream broke; resuming after the last complete row");
                    self.stream = None;
                    self.assembler = Assembler::default();
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Reads one response into `ready` (or marks the end).
    async fn pump(&mut self) -> Result<(), Status> {
        if self.stream.is_none() {
            let Some(rows) = self.row_set() else {
                self.done = true;
                return Ok(());
            };
            let req = ReadRowsRequest {
                table_name: self.client.table_name(&self.table),
                rows: Some(rows),
                filter: Some(self.filter.clone()),
                rows_limit: 0,
                app_profile_id: String::new(),
            };
            self.stream = Some(
                self.client
                    .stream("/google.bigtable.v2.Bigtable/ReadRows", &self.table, req)
                    .await?,
            );
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        match stream.message().await? {
            Some(resp) => {
                self.backoff.reset();
                for chunk in resp.chunks {
                    if let Some(row) = self.assembler.push(chunk).map_err(|reason| {
                        Status::internal(format!("bad ReadRows response: {reason}"))
                    })? {
                        self.committed = Some(row.key.clone());
                        self.ready.push_back(row);
                    }
                }
            }
            None => {
                if self.assembler.in_progress() {
                    return Err(Status::internal("ReadRows stream ended inside a row"));
                }
                self.done = true;
            }
        }
        Ok(())
    }
}

/// Turns `CellChunk`s into rows (the ReadRows merging rules).
#[derive(Default)]
struct Assembler {
    key: Vec<u8>,
    family: String,
    qualifier: Vec<u8>,
    value: Vec<u8>,
    cells: Vec<Cell>,
    started: bool,
}

impl Assembler {
    fn in_progress(&self) -> bool {
        self.started
    }

    fn push(&mut self, c: CellChunk) -> Result<Option<Row>, &'static str> {
        if let Some(RowStatus::ResetRow(true)) = c.row_status {
            *self = Assembler::default();
            return Ok(None);
        }
        if !c.row_key.is_empty() {
            if self.started && c.row_key != self.key {
                return Err("new row key before the previous row was committed");
            }
            self.key = c.row_key;
            self.started = true;
        } else if !self.started {
            return Err("cell chunk without a row key");
        }
        if let Some(f) = c.family_name {
            self.family = f.value;
        }
        if let Some(q) = c.qualifier {
            self.qualifier = q.value;
        }
        // A cell in one piece (every chunk object Cortex wrote) is moved,
        // not copied: chunk reads are most of a build's bytes.
        if self.value.is_empty() {
            self.value = c.value;
        } else {
            self.value.extend_from_slice(&c.value);
        }
        if c.value_size == 0 {
            // The last (or only) piece of a cell: every such chunk is one
            // cell, as in Google's clients.
            self.cells.push(Cell {
                family: self.family.clone(),
                qualifier: self.qualifier.clone(),
                value: std::mem::take(&mut self.value),
            });
        }
        if let Some(RowStatus::CommitRow(true)) = c.row_status {
            let row = Row {
                key: std::mem::take(&mut self.key),
                cells: std::mem::take(&mut self.cells),
            };
            *self = Assembler::default();
            return Ok(Some(row));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(
        row: &[u8],
        fam: Option<&str>,
        q: Option<&[u8]>,
        v: &[u8],
        size: i32,
        st: Option<RowStatus>,
    ) -> CellChunk {
        CellChunk {
            row_key: row.to_vec(),
            family_name: fam.map(|f| StringValue { value: f.into() }),
            qualifier: q.map(|q| BytesValue { value: q.to_vec() }),
            timestamp_micros: 0,
            value: v.to_vec(),
            value_size: size,
            row_status: st,
        }
    }

    #[test]
    fn assembles_split_cells_and_resets() {
        let mut a = Assembler::default();
        assert_eq!(
            a.push(chunk(b"r1", Some("f"), Some(b"q1"), b"ab", 4, None)),
            Ok(None)
        );
        assert_eq!(a.push(chunk(b"", None, None, b"cd", 0, None)), Ok(None));
        let row = a
            .push(chunk(
                b"",
                None,
                Some(b"q2"),
                b"x",
                0,
                Some(RowStatus::CommitRow(true)),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(row.key, b"r1");
        assert_eq!(row.cells.len(), 2);
        assert_eq!(row.cells[0].value, b"abcd");
        assert_eq!(row.cells[1].qualifier, b"q2");
        assert_eq!(row.cells[1].family, "f");
        // A reset drops the partial row.
        assert_eq!(
            a.push(chunk(b"r2", Some("f"), Some(b"q"), b"1", 0, None)),
            Ok(None)
        );
        assert_eq!(
            a.push(chunk(
                b"",
                None,
                None,
                b"",
                0,
                Some(RowStatus::ResetRow(true))
            )),
            Ok(None)
        );
        assert!(!a.in_progress());
        let row = a
            .push(chunk(
                b"r2",
                Some("f"),
                Some(b"q"),
                b"2",
                0,
                Some(RowStatus::CommitRow(true)),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(
            row.cells,
            vec![Cell {
                family: "f".into(),
                qualifier: b"q".to_vec(),
                value: b"2".to_vec()
            }]
        );
        // A chunk without a row key outside a row is a protocol error.
        assert!(a.push(chunk(b"", None, None, b"", 0, None)).is_err());
    }

    #[test]
    fn splits_cover_the_table() {
        let r = KeyRange::split_at(&[b"m".to_vec(), b"c".to_vec(), Vec::new(), b"m".to_vec()]);
        assert_eq!(
            r,
            vec![
                KeyRange {
                    start: Vec::new(),
                    end: Some(b"c".to_vec())
                },
                KeyRange {
                    start: b"c".to_vec(),
                    end: Some(b"m".to_vec())
                },
                KeyRange {
                    start: b"m".to_vec(),
                    end: None
                },
            ]
        );
        assert_eq!(KeyRange::split_at(&[]), vec![KeyRange::default()]);
    }
}
