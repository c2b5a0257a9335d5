//! Loading test data into the Bigtable emulator: creating tables and
//! writing cells, which the product client never does.
//!
//! Sent over the client's own channels ([`BigtableClient::raw_channels`])
//! without credentials, so only the emulator accepts them.

use std::future::Future;

use base::retry::RetryPolicy;
use cortex::bigtable::{BigtableClient, BigtableError};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Status};

use self::proto::*;

/// A cell to write: (row key, family, qualifier, value).
pub type CellWrite = (Vec<u8>, String, Vec<u8>, Vec<u8>);

/// Mutations per `MutateRows` request (the API allows 100,000).
const MUTATION_BATCH: usize = 10_000;

/// Writing to the emulator with a [`BigtableClient`]'s connection.
pub trait BigtableLoad {
    /// Creates a table with the given column families.
    fn create_table(
        &self,
        table: &str,
        families: &[&str],
    ) -> impl Future<Output = Result<(), BigtableError>> + Send;

    /// Writes cells `(row, family, qualifier, value)` with timestamp 0, as
    /// Cortex does (so a rewrite replaces the cell).
    fn write_cells(
        &self,
        table: &str,
        cells: &[CellWrite],
    ) -> impl Future<Output = Result<(), BigtableError>> + Send;
}

fn rpc_error(op: &'static str, table: &str, attempts: u32, status: Status) -> BigtableError {
    BigtableError::Rpc {
        op,
        table: table.to_string(),
        attempts,
        status: Box::new(status),
    }
}

async fn ready(channel: &Channel) -> Result<tonic::client::Grpc<Channel>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    Ok(grpc)
}

impl BigtableLoad for BigtableClient {
    async fn create_table(&self, table: &str, families: &[&str]) -> Result<(), BigtableError> {
        let admin = self.raw_channels().admin;
        let msg = CreateTableRequest {
            parent: self.instance_name(),
            table_id: table.to_string(),
            table: Some(Table {
                column_families: families
                    .iter()
                    .map(|f| (f.to_string(), ColumnFamily {}))
                    .collect(),
            }),
        };
        // A just-started emulator may still refuse connections for a moment.
        RetryPolicy::default()
            .run(
                |s: &Status| s.code() == Code::Unavailable,
                |_, _, _| {},
                |_| async {
                    let mut grpc = ready(&admin).await?;
                    let codec = tonic_prost::ProstCodec::<CreateTableRequest, Table>::default();
                    let path = PathAndQuery::from_static(
                        "/google.bigtable.admin.v2.BigtableTableAdmin/CreateTable",
                    );
                    grpc.unary(tonic::Request::new(msg.clone()), path, codec)
                        .await
                },
            )
            .await
            .map_err(|f| rpc_error("CreateTable", table, f.attempts, f.error))?;
        Ok(())
    }

    async fn write_cells(&self, table: &str, cells: &[CellWrite]) -> Result<(), BigtableError> {
        let data = self.raw_channels().data;
        let table_name = format!("{}/tables/{table}", self.instance_name());
        for batch in cells.chunks(MUTATION_BATCH) {
            let entries: Vec<MutateRowsEntry> = batch
                .iter()
                .map(|(row, family, qualifier, value)| MutateRowsEntry {
                    row_key: row.clone(),
                    mutations: vec![Mutation {
                        set_cell: Some(SetCell {
                            family_name: family.clone(),
                            column_qualifier: qualifier.clone(),
                            timestamp_micros: 0,
                            value: value.clone(),
                        }),
                    }],
                })
                .collect();
            let req = MutateRowsRequest {
                table_name: table_name.clone(),
                entries,
            };
            let res = async {
                let mut grpc = ready(&data).await?;
                let codec =
                    tonic_prost::ProstCodec::<MutateRowsRequest, MutateRowsResponse>::default();
                let path = PathAndQuery::from_static("/google.bigtable.v2.Bigtable/MutateRows");
                let mut s = grpc
                    .server_streaming(tonic::Request::new(req), path, codec)
                    .await?
                    .into_inner();
                while let Some(m) = s.message().await? {
                    if let Some(bad) = m
                        .entries
                        .iter()
                        .find(|e| e.status.as_ref().is_some_and(|s| s.code != 0))
                    {
                        let s = bad.status.clone().unwrap_or_default();
                        return Err(Status::new(Code::from(s.code), s.message));
                    }
                }
                Ok(())
            }
            .await;
            res.map_err(|status| rpc_error("MutateRows", table, 1, status))?;
        }
        Ok(())
    }
}

/// The write-side messages of the Bigtable v2 data and admin APIs, declared
/// by hand with `prost` derives as `cortex`'s read-side ones are (field
/// numbers from googleapis' `google/bigtable/v2/bigtable.proto`, `data.proto`
/// and `admin/v2/bigtable_table_admin.proto`, `table.proto`); fields we
/// never set are left out, which the wire format allows.
mod proto {
    use std::collections::HashMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct MutateRowsRequest {
        #[prost(string, tag = "1")]
        pub(super) table_name: String,
        #[prost(message, repeated, tag = "2")]
        pub(super) entries: Vec<MutateRowsEntry>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct MutateRowsEntry {
        #[prost(bytes = "vec", tag = "1")]
        pub(super) row_key: Vec<u8>,
        #[prost(message, repeated, tag = "2")]
        pub(super) mutations: Vec<Mutation>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Mutation {
        #[prost(message, optional, tag = "1")]
        pub(super) set_cell: Option<SetCell>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct SetCell {
        #[prost(string, tag = "1")]
        pub(super) family_name: String,
        #[prost(bytes = "vec", tag = "2")]
        pub(super) column_qualifier: Vec<u8>,
        #[prost(int64, tag = "3")]
        pub(super) timestamp_micros: i64,
        #[prost(bytes = "vec", tag = "4")]
        pub(super) value: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct MutateRowsResponse {
        #[prost(message, repeated, tag = "1")]
        pub(super) entries: Vec<MutateRowsResult>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct MutateRowsResult {
        #[prost(message, optional, tag = "2")]
        pub(super) status: Option<RpcStatus>,
    }

    /// `google.rpc.Status` without its details.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct RpcStatus {
        #[prost(int32, tag = "1")]
        pub(super) code: i32,
        #[prost(string, tag = "2")]
        pub(super) message: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct CreateTableRequest {
        #[prost(string, tag = "1")]
        pub(super) parent: String,
        #[prost(string, tag = "2")]
        pub(super) table_id: String,
        #[prost(message, optional, tag = "3")]
        pub(super) table: Option<Table>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Table {
        #[prost(map = "string, message", tag = "3")]
        pub(super) column_families: HashMap<String, ColumnFamily>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct ColumnFamily {}
}
