//! The few messages of the Bigtable v2 data API and admin API we use,
//! declared by hand with `prost` derives (field numbers from googleapis'
//! `google/bigtable/v2/{bigtable,data}.proto` and
//! `google/bigtable/admin/v2/{bigtable_table_admin,table}.proto`).
//!
//! Declaring them here avoids a protoc build step and the full generated
//! API; unknown fields sent by the server are skipped by prost.

use std::collections::HashMap;

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRowsRequest {
    #[prost(string, tag = "1")]
    pub table_name: String,
    #[prost(message, optional, tag = "2")]
    pub rows: Option<RowSet>,
    #[prost(message, optional, tag = "3")]
    pub filter: Option<RowFilter>,
    #[prost(int64, tag = "4")]
    pub rows_limit: i64,
    #[prost(string, tag = "5")]
    pub app_profile_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RowSet {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub row_keys: Vec<Vec<u8>>,
    #[prost(message, repeated, tag = "2")]
    pub row_ranges: Vec<RowRange>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RowRange {
    #[prost(oneof = "StartKey", tags = "1, 2")]
    pub start_key: Option<StartKey>,
    #[prost(oneof = "EndKey", tags = "3, 4")]
    pub end_key: Option<EndKey>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum StartKey {
    #[prost(bytes, tag = "1")]
    Closed(Vec<u8>),
    #[prost(bytes, tag = "2")]
    Open(Vec<u8>),
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum EndKey {
    #[prost(bytes, tag = "3")]
    Open(Vec<u8>),
    #[prost(bytes, tag = "4")]
    Closed(Vec<u8>),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RowFilter {
    #[prost(oneof = "Filter", tags = "1, 5, 6, 12, 13")]
    pub filter: Option<Filter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Chain {
    #[prost(message, repeated, tag = "1")]
    pub filters: Vec<RowFilter>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Filter {
    #[prost(message, tag = "1")]
    Chain(Chain),
    #[prost(string, tag = "5")]
    FamilyNameRegex(String),
    #[prost(bytes, tag = "6")]
    ColumnQualifierRegex(Vec<u8>),
    #[prost(int32, tag = "12")]
    CellsPerColumnLimit(i32),
    #[prost(bool, tag = "13")]
    StripValue(bool),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRowsResponse {
    #[prost(message, repeated, tag = "1")]
    pub chunks: Vec<CellChunk>,
    #[prost(bytes = "vec", tag = "2")]
    pub last_scanned_row_key: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StringValue {
    #[prost(string, tag = "1")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BytesValue {
    #[prost(bytes = "vec", tag = "1")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CellChunk {
    #[prost(bytes = "vec", tag = "1")]
    pub row_key: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    pub family_name: Option<StringValue>,
    #[prost(message, optional, tag = "3")]
    pub qualifier: Option<BytesValue>,
    #[prost(int64, tag = "4")]
    pub timestamp_micros: i64,
    #[prost(bytes = "vec", tag = "6")]
    pub value: Vec<u8>,
    #[prost(int32, tag = "7")]
    pub value_size: i32,
    #[prost(oneof = "RowStatus", tags = "8, 9")]
    pub row_status: Option<RowStatus>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum RowStatus {
    #[prost(bool, tag = "8")]
    ResetRow(bool),
    #[prost(bool, tag = "9")]
    CommitRow(bool),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SampleRowKeysRequest {
    #[prost(string, tag = "1")]
    pub table_name: String,
    #[prost(string, tag = "2")]
    pub app_profile_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SampleRowKeysResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub row_key: Vec<u8>,
    #[prost(int64, tag = "2")]
    pub offset_bytes: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MutateRowsRequest {
    #[prost(string, tag = "1")]
    pub table_name: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<MutateRowsEntry>,
    #[prost(string, tag = "3")]
    pub app_profile_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MutateRowsEntry {
    #[prost(bytes = "vec", tag = "1")]
    pub row_key: Vec<u8>,
    #[prost(message, repeated, tag = "2")]
    pub mutations: Vec<Mutation>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Mutation {
    #[prost(message, optional, tag = "1")]
    pub set_cell: Option<SetCell>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SetCell {
    #[prost(string, tag = "1")]
    pub family_name: String,
    #[prost(bytes = "vec", tag = "2")]
    pub column_qualifier: Vec<u8>,
    #[prost(int64, tag = "3")]
    pub timestamp_micros: i64,
    #[prost(bytes = "vec", tag = "4")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MutateRowsResponse {
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<MutateRowsResult>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MutateRowsResult {
    #[prost(int64, tag = "1")]
    pub index: i64,
    #[prost(message, optional, tag = "2")]
    pub status: Option<RpcStatus>,
}

/// `google.rpc.Status` without its details.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateTableRequest {
    #[prost(string, tag = "1")]
    pub parent: String,
    #[prost(string, tag = "2")]
    pub table_id: String,
    #[prost(message, optional, tag = "3")]
    pub table: Option<Table>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Table {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(map = "string, message", tag = "3")]
    pub column_families: HashMap<String, ColumnFamily>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ColumnFamily {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListTablesRequest {
    #[prost(string, tag = "1")]
    pub parent: String,
    /// `NAME_ONLY` = 1.
    #[prost(int32, tag = "2")]
    pub view: i32,
    #[prost(string, tag = "3")]
    pub page_token: String,
    #[prost(int32, tag = "4")]
    pub page_size: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListTablesResponse {
    #[prost(message, repeated, tag = "1")]
    pub tables: Vec<Table>,
    #[prost(string, tag = "2")]
    pub next_page_token: String,
}
