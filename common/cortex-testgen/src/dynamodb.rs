//! Loading test data into DynamoDB (moto, or a local DynamoDB): creating
//! tables with Cortex's key schema and writing items, which the product
//! client never does. Sent through the client's SDK handle
//! ([`DynamoClient::sdk_client`]), so endpoint and credentials are the
//! client's.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, WriteRequest,
};
use base::retry::{Backoff, RetryPolicy};
use cortex::dynamodb::{DynamoClient, DynamoError};

/// An item to write: (`h`, `r`, `c` or none).
pub type ItemWrite = (String, Vec<u8>, Option<Vec<u8>>);

/// Items per `BatchWriteItem` (the API's limit).
const WRITE_BATCH: usize = 25;

/// Writing test data with a [`DynamoClient`]'s connection.
pub trait DynamoLoad {
    /// Creates a table with Cortex's key schema (`h` string hash key, `r`
    /// binary range key), on demand billing. Chunk tables too: Cortex's
    /// table manager created every table alike (`dynamoTableClient.CreateTable`).
    fn create_index_table(
        &self,
        table: &str,
    ) -> impl Future<Output = Result<(), DynamoError>> + Send;

    /// Writes items `(h, r, c)` (`c` omitted when `None`, as Cortex does for
    /// empty values).
    fn put_items(
        &self,
        table: &str,
        items: &[ItemWrite],
    ) -> impl Future<Output = Result<(), DynamoError>> + Send;
}

fn err<E>(op: &'static str, table: &str, e: E) -> DynamoError
where
    E: std::error::Error + 'static,
{
    DynamoError::Request {
        op,
        table: table.to_string(),
        reason: DisplayErrorContext(e).to_string(),
    }
}

impl DynamoLoad for DynamoClient {
    async fn create_index_table(&self, table: &str) -> Result<(), DynamoError> {
        let attr = |name: &str, t| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
                .map_err(|e| err("CreateTable", table, e))
        };
        let key = |name: &str, t| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
                .map_err(|e| err("CreateTable", table, e))
        };
        self.sdk_client()
            .create_table()
            .table_name(table)
            .attribute_definitions(attr("h", ScalarAttributeType::S)?)
            .attribute_definitions(attr("r", ScalarAttributeType::B)?)
            .key_schema(key("h", KeyType::Hash)?)
            .key_schema(key("r", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| err("CreateTable", table, e))?;
        Ok(())
    }

    async fn put_items(&self, table: &str, items: &[ItemWrite]) -> Result<(), DynamoError> {
        // A batch may not name one key twice; a later write of a key wins,
        // as it would with single puts.
        let mut last: HashMap<(&str, &[u8]), usize> = HashMap::with_capacity(items.len());
        for (i, (h, r, _)) in items.iter().enumerate() {
            last.insert((h.as_str(), r.as_slice()), i);
        }
        let unique: Vec<&ItemWrite> = items
            .iter()
            .enumerate()
            .filter(|(i, (h, r, _))| last.get(&(h.as_str(), r.as_slice())) == Some(i))
            .map(|(_, item)| item)
            .collect();
        for batch in unique.chunks(WRITE_BATCH) {
            let mut requests = Vec::with_capacity(batch.len());
            for (h, r, c) in batch.iter().copied() {
                let mut put = PutRequest::builder()
                    .item("h", AttributeValue::S(h.clone()))
                    .item("r", AttributeValue::B(Blob::new(r.clone())));
                if let Some(c) = c {
                    put = put.item("c", AttributeValue::B(Blob::new(c.clone())));
                }
                let put = put.build().map_err(|e| err("BatchWriteItem", table, e))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            // Unprocessed items are an answer (throttling), not an error:
            // send them again under the shared backoff.
            let mut pending = HashMap::from([(table.to_string(), requests)]);
            let mut backoff = Backoff::new(RetryPolicy::default());
            while !pending.is_empty() {
                let resp = self
                    .sdk_client()
                    .batch_write_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await
                    .map_err(|e| err("BatchWriteItem", table, e))?;
                pending = resp.unprocessed_items.unwrap_or_default();
                pending.retain(|_, v| !v.is_empty());
                if !pending.is_empty() && !backoff.wait().await {
                    return Err(DynamoError::Unprocessed {
                        op: "BatchWriteItem",
                        table: table.to_string(),
                        reason: "items".into(),
                        attempts: backoff.attempt(),
                    });
                }
            }
        }
        Ok(())
    }
}
