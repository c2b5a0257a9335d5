//! The few messages of the Bigtable v2 data API and admin API we use,
//! declared by hand with `prost` derives (field numbers from googleapis'
//! `google/bigtable/v2/{bigtable,data}.proto` and
//! `google/bigtable/admin/v2/{bigtable_table_admin,table}.proto`).
//!
//! Declaring them here avoids a protoc build step and the full generated
//! API; unknown fields sent by the server are skipped by prost.

use std::collections::HashMap;

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ReadRowsRequest {
    #[prost(string, tag = "1")]
    pub(super) table_name: String,
    #[prost(message, optional, tag = "2")]
    pub(super) rows: Option<RowSet>,
    #[prost(message, optional, tag = "3")]
    pub(super) filter: Option<RowFilter>,
    #[prost(int64, tag = "4")]
    pub(super) rows_limit: i64,
    #[prost(string, tag = "5")]
    pub(super) app_profile_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct RowSet {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub(super) row_keys: Vec<Vec<u8>>,
    #[prost(message, repeated, tag = "2")]
    pub(super) row_ranges: Vec<RowRange>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct RowRange {
    #[prost(oneof = "StartKey", tags = "1, 2")]
    pub(super) start_key: Option<StartKey>,
    #[prost(oneof = "EndKey", tags = "3, 4")]
    pub(super) end_key: Option<EndKey>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub(super) enum StartKey {
    #[prost(bytes, tag = "1")]
    Closed(Vec<u8>),
    #[prost(bytes, tag = "2")]
    Open(Vec<u8>),
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub(super) enum EndKey {
    #[prost(bytes, tag = "3")]
    Open(Vec<u8>),
    #[prost(bytes, tag = "4")]
    Closed(Vec<u8>),
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct RowFilter {
    #[prost(oneof = "Filter", tags = "1, 5, 6, 12, 13")]
    pub(super) filter: Option<Filter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Chain {
    #[prost(message, repeated, tag = "1")]
    pub(super) filters: Vec<RowFilter>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub(super) enum Filter {
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
pub(super) struct ReadRowsResponse {
    #[prost(message, repeated, tag = "1")]
    pub(super) chunks: Vec<CellChunk>,
    #[prost(bytes = "vec", tag = "2")]
    pub(super) last_scanned_row_key: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct StringValue {
    #[prost(string, tag = "1")]
    pub(super) value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct BytesValue {
    #[prost(bytes = "vec", tag = "1")]
    pub(super) value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct CellChunk {
    #[prost(bytes = "vec", tag = "1")]
    pub(super) row_key: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    pub(super) family_name: Option<StringValue>,
    #[prost(message, optional, tag = "3")]
    pub(super) qualifier: Option<BytesValue>,
    #[prost(int64, tag = "4")]
    pub(super) timestamp_micros: i64,
    #[prost(bytes = "vec", tag = "6")]
    pub(super) value: Vec<u8>,
    #[prost(int32, tag = "7")]
    pub(super) value_size: i32,
    #[prost(oneof = "RowStatus", tags = "8, 9")]
    pub(super) row_status: Option<RowStatus>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub(super) enum RowStatus {
    #[prost(bool, tag = "8")]
    ResetRow(bool),
    #[prost(bool, tag = "9")]
    CommitRow(bool),
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct SampleRowKeysRequest {
    #[prost(string, tag = "1")]
    pub(super) table_name: String,
    #[prost(string, tag = "2")]
    pub(super) app_profile_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct SampleRowKeysResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub(super) row_key: Vec<u8>,
    #[prost(int64, tag = "2")]
    pub(super) offset_bytes: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Table {
    #[prost(string, tag = "1")]
    pub(super) name: String,
    #[prost(map = "string, message", tag = "3")]
    pub(super) column_families: HashMap<String, ColumnFamily>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ColumnFamily {}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ListTablesRequest {
    #[prost(string, tag = "1")]
    pub(super) parent: String,
    /// `NAME_ONLY` = 1.
    #[prost(int32, tag = "2")]
    pub(super) view: i32,
    #[prost(string, tag = "3")]
    pub(super) page_token: String,
    #[prost(int32, tag = "4")]
    pub(super) page_size: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ListTablesResponse {
    #[prost(message, repeated, tag = "1")]
    pub(super) tables: Vec<Table>,
    #[prost(string, tag = "2")]
    pub(super) next_page_token: String,
}
