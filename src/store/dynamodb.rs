//! DynamoDB behind every storage port but the vault (connector records, API keys,
//! idempotency records, service keys, rate counters): one table keyed by `pk`/`sk`, items
//! written with `serde_dynamo` so that they read naturally in the console, and every change
//! of a record made by one conditional write, in one transaction with the event that
//! records it.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | connector | `TENANT#<tenant>` | `CONN#<connector_id>` |
//! | event of a connector's history | `TENANT#<tenant>` | `EVT#<connector_id>#<event_id>` (+ `ttl`) |
//! | API key | `KEY#<sha256 of key>` | `KEY` |
//! | API key id (finds the key to revoke) | `KEYID#<key_id>` | `KEY` (+ `hash`) |
//! | idempotency | `TENANT#<tenant>` | `IDEM#<sha256 of key>` (+ `ttl`, the table's TTL attribute) |
//! | service key | `SERVICE` | `KEY#<name>` |
//! | rate counter | `RATE#<tenant>\|<operation>` | `W#<window end>` (+ `n`, `ttl`) |

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    ApiKeys, Changes, Claim, ConnectorEvents, ConnectorPage, ConnectorRecords, EventPage,
    EventPageBuilder, Holder, IdempotencyRecord, IdempotencyRecords, IdempotencyState, Identities,
    PageBuilder, RateCounters, Remembered, ServiceKeys, StoreError, decide_claim,
};
use crate::domain::apikey::{ApiKeyRecord, KeyHash};
use crate::domain::connector::{Connector, ListFilter};
use crate::domain::events::ConnectorEvent;
use crate::domain::ids::{ConnectorId, TenantId};
use crate::domain::timestamp::Timestamp;

type Item = HashMap<String, AttributeValue>;

const PK: &str = "pk";
const SK: &str = "sk";
/// Epoch seconds after which DynamoDB may delete the item (reads check it too).
const TTL: &str = "ttl";
/// The attribute of a key id's pointer that holds the key's hash.
const KEY_HASH: &str = "hash";
/// A fresh value on every write of an idempotency record, for optimistic takeover.
const WRITE_TOKEN: &str = "write_token";
/// How many times a claim re-reads after losing a race on the same key.
const CLAIM_ATTEMPTS: usize = 5;

/// A DynamoDB-backed store over one table; the client is built once per process.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

fn connector_sk(id: &ConnectorId) -> String {
    format!("CONN#{id}")
}

fn key_pk(hash: &str) -> String {
    format!("KEY#{hash}")
}

/// The item that finds an API key's hash from its id (for revocation).
fn key_id_pk(key_id: &str) -> String {
    format!("KEYID#{key_id}")
}

fn event_sk(id: &ConnectorId, event_id: &str) -> String {
    format!("EVT#{id}#{event_id}")
}

fn idempotency_sk(key_hash: &str) -> String {
    format!("IDEM#{key_hash}")
}

/// A write that lost its condition is a `Conflict`; anything else is a fault.
fn classify<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if e.code() == Some("ConditionalCheckFailedException") {
        StoreError::Conflict
    } else {
        StoreError::Unavailable(Box::new(e))
    }
}

/// The error of a conditional write on an existing record: the item the failed condition
/// returned (`ReturnValuesOnConditionCheckFailure=ALL_OLD`) tells a record at another
/// version (`Conflict`) from none at all (`NotFound`) without another read.
fn lost_condition<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + ConditionFailure + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match e.as_service_error().map(ConditionFailure::old_item) {
        Some(Some(_)) => StoreError::Conflict,
        Some(None) if e.code() == Some("ConditionalCheckFailedException") => StoreError::NotFound,
        _ => classify(e),
    }
}

/// The errors of the conditional record writes, which may carry the item as it was.
trait ConditionFailure {
    /// The item a failed condition found, if it failed on its condition and one was there.
    fn old_item(&self) -> Option<&Item>;
}

impl ConditionFailure for UpdateItemError {
    fn old_item(&self) -> Option<&Item> {
        match self {
            UpdateItemError::ConditionalCheckFailedException(e) => e.item(),
            _ => None,
        }
    }
}

fn to_item<T: Serialize>(value: &T, pk: String, sk: String) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.insert(PK.into(), s(pk));
    item.insert(SK.into(), s(sk));
    Ok(item)
}

fn from_item<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    for k in [PK, SK, TTL, WRITE_TOKEN] {
        item.remove(k);
    }
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get_item(&self, pk: String, sk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item)
    }

    /// Every item whose `attribute` begins with `prefix`, across all scan pages.
    async fn scan_prefix(&self, attribute: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(#a, :p)")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":p", s(prefix))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(classify)
    }

    /// Writes `record` if the key is unclaimed (`expected_token` `None`) or still holds
    /// the write `expected_token` names. A lost condition answers what the key holds
    /// now, from the failed write itself.
    async fn put_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        record: &IdempotencyRecord,
        expected_token: Option<AttributeValue>,
    ) -> Result<Written, StoreError> {
        let mut item = to_item(record, tenant_pk(tenant), idempotency_sk(key_hash))?;
        item.insert(
            TTL.into(),
            AttributeValue::N(record.expires_at.unix().to_string()),
        );
        let written = s(ulid::Ulid::new().to_string());
        item.insert(WRITE_TOKEN.into(), written.clone());
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let put = match expected_token {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(token) => put
                .condition_expression("#t = :t")
                .expression_attribute_names("#t", WRITE_TOKEN)
                .expression_attribute_values(":t", token),
        };
        match put.send().await {
            Ok(_) => Ok(Written::Done),
            Err(e) => match e.as_service_error().map(ConditionFailure::old_item) {
                // The SDK retried this very write after a lost reply: it is done.
                Some(Some(found)) if found.get(WRITE_TOKEN) == Some(&written) => Ok(Written::Done),
                Some(Some(found)) => Ok(Written::Lost(Some(Box::new(stamped(found.clone())?)))),
                Some(None) if e.code() == Some("ConditionalCheckFailedException") => {
                    Ok(Written::Lost(None))
                }
                _ => Err(classify(e)),
            },
        }
    }
}

/// An idempotency record and the token of the write that stored it.
type Stamped = (IdempotencyRecord, Option<AttributeValue>);

fn stamped(mut item: Item) -> Result<Stamped, StoreError> {
    let token = item.remove(WRITE_TOKEN);
    Ok((from_item(item)?, token))
}

/// What a conditional write of an idempotency record did.
enum Written {
    Done,
    /// Its condition failed: what the key holds now (nothing, if it was removed).
    Lost(Option<Box<Stamped>>),
}

impl ConditionFailure for PutItemError {
    fn old_item(&self) -> Option<&Item> {
        match self {
            PutItemError::ConditionalCheckFailedException(e) => e.item(),
            _ => None,
        }
    }
}

/// The item of an event: under its tenant, after its connector's other events, forgotten
/// by the table's TTL once it expires.
fn event_item(event: &ConnectorEvent) -> Result<Item, StoreError> {
    let mut item = to_item(
        event,
        tenant_pk(&event.tenant),
        event_sk(&event.connector_id, &event.event_id),
    )?;
    item.insert(
        TTL.into(),
        AttributeValue::N(event.expires_at.unix().to_string()),
    );
    Ok(item)
}

fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// What a transaction that writes a record and its event did.
enum Transacted {
    Done,
    /// The record's condition failed: the record as it was, if there was one.
    RecordCondition(Option<Item>),
}

/// How many times a transaction that met another on the same item is sent again.
const TRANSACTION_ATTEMPTS: u32 = 3;

impl DynamoStore {
    /// Writes `record` and `event` in one transaction: both or neither. The SDK gives the
    /// transaction an idempotency token, so its own retry after a lost reply is answered
    /// as done.
    async fn transact(
        &self,
        record: TransactWriteItem,
        event: &ConnectorEvent,
    ) -> Result<Transacted, StoreError> {
        let event = TransactWriteItem::builder()
            .put(built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(event_item(event)?))
                    .condition_expression("attribute_not_exists(pk)")
                    .build(),
            )?)
            .build();
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            let sent = self
                .client
                .transact_write_items()
                .transact_items(record.clone())
                .transact_items(event.clone())
                .send()
                .await;
            let Err(e) = sent else {
                return Ok(Transacted::Done);
            };
            let reasons = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    c.cancellation_reasons()
                }
                _ => return Err(StoreError::Unavailable(Box::new(e))),
            };
            let code = |i: usize| reasons.get(i).and_then(|r| r.code());
            if code(0) == Some("ConditionalCheckFailed") {
                let old = reasons.first().and_then(|r| r.item()).cloned();
                return Ok(Transacted::RecordCondition(old));
            }
            let conflict = reasons
                .iter()
                .any(|r| r.code() == Some("TransactionConflict"));
            if !conflict || attempt == TRANSACTION_ATTEMPTS {
                return Err(StoreError::Unavailable(Box::new(e)));
            }
            // Another transaction held the item: it ends within milliseconds.
            tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt) * 20)).await;
        }
        Err(StoreError::Unavailable(
            "a transaction kept meeting others".into(),
        ))
    }
}

#[async_trait]
impl ConnectorRecords for DynamoStore {
    async fn insert_connector(
        &self,
        connector: &Connector,
        event: &ConnectorEvent,
    ) -> Result<(), StoreError> {
        let item = to_item(
            connector,
            tenant_pk(&connector.tenant),
            connector_sk(&connector.id),
        )?;
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        match self
            .transact(TransactWriteItem::builder().put(put).build(), event)
            .await?
        {
            Transacted::Done => Ok(()),
            Transacted::RecordCondition(_) => Err(StoreError::Conflict),
        }
    }

    async fn get_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
    ) -> Result<Option<Arc<Connector>>, StoreError> {
        self.get_item(tenant_pk(tenant), connector_sk(id))
            .await?
            .map(|item| from_item(item).map(Arc::new))
            .transpose()
    }

    async fn list_connectors(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        after: Option<&ConnectorId>,
        limit: usize,
    ) -> Result<ConnectorPage, StoreError> {
        // BETWEEN is inclusive: the `after` item itself comes back first and is skipped.
        let upper = after.map_or_else(|| "CONN$".to_owned(), connector_sk);
        // Unfiltered, the page and one more tell whether more follow; filtered, pages as
        // large as the budget allows (a Query page holds at most 1 MB either way).
        let wanted = if filter.is_empty() {
            limit + 2
        } else {
            PageBuilder::budget(limit)
        };
        let page_size = i32::try_from(wanted.min(1000)).unwrap_or(1000);
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(tenant_pk(tenant)))
            .expression_attribute_values(":lo", s("CONN#"))
            .expression_attribute_values(":hi", s(upper))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(page_size)
            .into_paginator()
            .items()
            .send();
        let mut page = PageBuilder::new(filter, after, limit);
        // Pages are read as the stream is; the last one read is the one that fills the page.
        while let Some(item) = items.next().await {
            if let Some(done) = page.push(Arc::new(from_item(item.map_err(classify)?)?)) {
                return Ok(done);
            }
        }
        Ok(page.finish())
    }

    async fn replace_connector(
        &self,
        read: &Connector,
        next: &Connector,
        event: &ConnectorEvent,
    ) -> Result<Connector, StoreError> {
        let changes = Changes::between(read, next)?;
        let mut names = HashMap::from([("#version".to_owned(), "version".to_owned())]);
        let mut values = HashMap::from([(
            ":expected".to_owned(),
            AttributeValue::N(read.version.to_string()),
        )]);
        let mut clauses = Vec::new();
        let mut set = Vec::new();
        for (i, (field, value)) in changes.set.iter().enumerate() {
            let value = serde_dynamo::to_attribute_value(value)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            set.push(format!("#s{i} = :s{i}"));
            names.insert(format!("#s{i}"), field.clone());
            values.insert(format!(":s{i}"), value);
        }
        if !set.is_empty() {
            clauses.push(format!("SET {}", set.join(", ")));
        }
        let mut removed = Vec::new();
        for (i, field) in changes.removed.iter().enumerate() {
            removed.push(format!("#r{i}"));
            names.insert(format!("#r{i}"), field.clone());
        }
        if !removed.is_empty() {
            clauses.push(format!("REMOVE {}", removed.join(", ")));
        }
        let key = HashMap::from([
            (PK.to_owned(), s(tenant_pk(&next.tenant))),
            (SK.to_owned(), s(connector_sk(&next.id))),
        ]);
        let write = if clauses.is_empty() {
            // Nothing changes: the record's part of the transaction is its condition.
            TransactWriteItem::builder().condition_check(built(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .condition_expression("#version = :expected")
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build(),
            )?)
        } else {
            TransactWriteItem::builder().update(built(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression(clauses.join(" "))
                    .condition_expression("#version = :expected")
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build(),
            )?)
        };
        match self.transact(write.build(), event).await? {
            Transacted::Done => Ok(next.clone()),
            Transacted::RecordCondition(None) => Err(StoreError::NotFound),
            Transacted::RecordCondition(Some(item)) => {
                // A retry that finds this write done (its reply lost, and the retry not
                // recognised by its token) is this write's success, not a lost race.
                let stored: Connector = from_item(item)?;
                if stored.version == next.version && changes.visible_in(&stored) {
                    Ok(next.clone())
                } else {
                    Err(StoreError::Conflict)
                }
            }
        }
    }

    async fn delete_connector(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        expected_version: u64,
        event: &ConnectorEvent,
    ) -> Result<(), StoreError> {
        let delete = built(
            Delete::builder()
                .table_name(&self.table)
                .key(PK, s(tenant_pk(tenant)))
                .key(SK, s(connector_sk(id)))
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(
                    ":expected",
                    AttributeValue::N(expected_version.to_string()),
                )
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )?;
        match self
            .transact(TransactWriteItem::builder().delete(delete).build(), event)
            .await?
        {
            Transacted::Done => Ok(()),
            Transacted::RecordCondition(Some(_)) => Err(StoreError::Conflict),
            Transacted::RecordCondition(None) => Err(StoreError::NotFound),
        }
    }

    async fn all_connectors(&self) -> Result<Vec<Connector>, StoreError> {
        self.scan_prefix(SK, "CONN#")
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }
}

#[async_trait]
impl ConnectorEvents for DynamoStore {
    async fn append_event(&self, event: &ConnectorEvent) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(event_item(event)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn list_events(
        &self,
        tenant: &TenantId,
        id: &ConnectorId,
        after: Option<&str>,
        limit: usize,
        now: Timestamp,
    ) -> Result<EventPage, StoreError> {
        let lower = format!("EVT#{id}#");
        // BETWEEN is inclusive: the `after` event itself comes back first and is skipped.
        let upper = after.map_or_else(|| format!("EVT#{id}$"), |e| event_sk(id, e));
        let page_size = i32::try_from((limit + 2).min(1000)).unwrap_or(1000);
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            // The table's TTL deletes expired items within days, not at once.
            .filter_expression("#ttl > :now")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":pk", s(tenant_pk(tenant)))
            .expression_attribute_values(":lo", s(lower))
            .expression_attribute_values(":hi", s(upper))
            .expression_attribute_values(":now", AttributeValue::N(now.unix().to_string()))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(page_size)
            .into_paginator()
            .items()
            .send();
        let mut page = EventPageBuilder::new(after, limit, now);
        while let Some(item) = items.next().await {
            if let Some(done) = page.push(from_item(item.map_err(classify)?)?) {
                return Ok(done);
            }
        }
        Ok(page.finish())
    }
}

/// A rate counter's item: `RATE#<key>` / `W#<window end>`, forgotten by the table's TTL.
#[async_trait]
impl RateCounters for DynamoStore {
    async fn hit(&self, key: &str, window_end: Timestamp) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(format!("RATE#{key}")))
            .key(SK, s(format!("W#{}", window_end.unix())))
            .update_expression("ADD #n :one SET #ttl = :end")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":end", AttributeValue::N(window_end.unix().to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(classify)?;
        out.attributes
            .as_ref()
            .and_then(|a| a.get("n"))
            .and_then(|n| n.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Corrupt("a rate counter without a count".into()))
    }

    async fn give_back(&self, key: &str, window_end: Timestamp) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(format!("RATE#{key}")))
            .key(SK, s(format!("W#{}", window_end.unix())))
            .update_expression("ADD #n :minus_one")
            // Only a counter that was hit: never one made by the give-back itself.
            .condition_expression("#n > :zero")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| match classify(e) {
                StoreError::Conflict => Ok(()),
                other => Err(other),
            })
    }
}

#[async_trait]
impl ApiKeys for DynamoStore {
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        // The id's pointer first, so that a key that can be used can always be revoked.
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(key_id_pk(&key.key_id)))
            .item(SK, s("KEY"))
            .item(KEY_HASH, s(key.hash.as_str()))
            .send()
            .await
            .map_err(classify)?;
        let item = to_item(key, key_pk(key.hash.as_str()), "KEY".into())?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<Arc<ApiKeyRecord>>, StoreError> {
        self.get_item(key_pk(hash.as_str()), "KEY".into())
            .await?
            .map(|item| from_item(item).map(Arc::new))
            .transpose()
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut keys: Vec<ApiKeyRecord> = self
            .scan_prefix(PK, "KEY#")
            .await?
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        keys.sort_by_key(|k| k.created_at);
        Ok(keys)
    }

    async fn revoke_api_key(&self, key_id: &str, at: Timestamp) -> Result<(), StoreError> {
        let hash = match self.get_item(key_id_pk(key_id), "KEY".into()).await? {
            Some(pointer) => pointer
                .get(KEY_HASH)
                .and_then(|h| h.as_s().ok())
                .cloned()
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("key {key_id}'s pointer has no hash"))
                })?,
            // A key stored before ids had pointers: found by the one scan that is left.
            None => self
                .list_api_keys()
                .await?
                .into_iter()
                .find(|k| k.key_id == key_id)
                .map(|k| k.hash.as_str().to_owned())
                .ok_or(StoreError::NotFound)?,
        };
        let at =
            serde_dynamo::to_attribute_value(at).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let revoked = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key_pk(&hash)))
            .key(SK, s("KEY"))
            .update_expression("SET revoked_at = :at")
            // The first revocation's time stays (an unrevoked key stores a null).
            .condition_expression(
                "key_id = :id AND (attribute_not_exists(revoked_at) OR attribute_type(revoked_at, :null))",
            )
            .expression_attribute_values(":at", at)
            .expression_attribute_values(":id", s(key_id))
            .expression_attribute_values(":null", s("NULL"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match revoked.map_err(lost_condition) {
            // Revoked already: revoking again changes nothing.
            Err(StoreError::Conflict) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[async_trait]
impl IdempotencyRecords for DynamoStore {
    async fn claim_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        fingerprint: &str,
        new_resource_id: &ConnectorId,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        // A new key is the common case: the first write assumes the key is free, and a
        // lost condition hands back what it holds, so no read comes first.
        let mut held: Option<Box<Stamped>> = None;
        for _ in 0..CLAIM_ATTEMPTS {
            let (existing, token) = match held.take().map(|b| *b) {
                Some((record, token)) => (Some(record), token),
                None => (None, None),
            };
            let (claim, write) = decide_claim(existing, fingerprint, new_resource_id, now);
            let Some(record) = write else {
                return Ok(claim);
            };
            match self
                .put_idempotency(tenant, key_hash, &record, token)
                .await?
            {
                Written::Done => return Ok(claim),
                // Another request wrote the key first: decide again on what it wrote.
                Written::Lost(found) => held = found,
            }
        }
        Ok(Claim::InProgress)
    }

    async fn complete_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        holder: &Holder<'_>,
        response: &Remembered,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let done = serde_dynamo::to_attribute_value(IdempotencyState::Done {
            response: response.clone(),
        })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let expires_at = now.plus_seconds(super::IDEMPOTENCY_TTL_SECONDS);
        let expires = serde_dynamo::to_attribute_value(expires_at)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // Written without reading: the condition says the claim is still this request's
        // (a takeover after a lapsed lease is of the same request, with the same ids).
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(tenant_pk(tenant)))
            .key(SK, s(idempotency_sk(key_hash)))
            .update_expression("SET #state = :done, #expires = :expires, #ttl = :ttl, #t = :t")
            .condition_expression("fingerprint = :fp AND resource_id = :rid")
            .expression_attribute_values(":fp", s(holder.fingerprint))
            .expression_attribute_values(":rid", s(holder.resource_id.as_str()))
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#expires", "expires_at")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_names("#t", WRITE_TOKEN)
            .expression_attribute_values(":done", done)
            .expression_attribute_values(":expires", expires)
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.unix().to_string()))
            .expression_attribute_values(":t", s(ulid::Ulid::new().to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| match classify(e) {
                StoreError::Conflict => StoreError::NotFound,
                other => other,
            })
    }

    async fn release_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        holder: &Holder<'_>,
    ) -> Result<(), StoreError> {
        let released = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(tenant_pk(tenant)))
            .key(SK, s(idempotency_sk(key_hash)))
            // Only this request's claim: never an answer, nor another request's claim.
            .condition_expression(
                "fingerprint = :fp AND resource_id = :rid AND #state.#tag = :in_progress",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#tag", "state")
            .expression_attribute_values(":fp", s(holder.fingerprint))
            .expression_attribute_values(":rid", s(holder.resource_id.as_str()))
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await;
        match released.map_err(classify) {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(other) => Err(other),
        }
    }
}

#[async_trait]
impl ServiceKeys for DynamoStore {
    async fn shared_key(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let sk = format!("KEY#{name}");
        for _ in 0..2 {
            if let Some(item) = self.get_item("SERVICE".into(), sk.clone()).await? {
                return super::decode_shared_key(item.get("key").and_then(|v| v.as_s().ok()));
            }
            let written = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, s("SERVICE"))
                .item(SK, s(sk.clone()))
                .item("key", s(hex::encode(candidate)))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .map_err(classify);
            match written {
                Ok(_) => return Ok(candidate),
                // Another instance created it first: read theirs.
                Err(StoreError::Conflict) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Unavailable(
            format!("service key {name} could not be read").into(),
        ))
    }
}

/// A pool's items: `IDENTITY#<pool>` holds `NEXT` (how many candidates were handed out,
/// so a new account's claim starts past them instead of trying each) and `HELD#<identity>`
/// (its tenant); `IDENTITY#<pool>#<tenant>` / `HOLDS` is what an account holds.
#[async_trait]
impl Identities for DynamoStore {
    async fn assign_identity(
        &self,
        pool: &str,
        tenant: &TenantId,
        candidates: &[String],
    ) -> Result<Option<String>, StoreError> {
        let own = (format!("IDENTITY#{pool}#{tenant}"), "HOLDS".to_owned());
        let held = |item: &Item| {
            item.get("identity")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("{pool}: an assignment without an identity"))
                })
        };
        if let Some(item) = self.get_item(own.0.clone(), own.1.clone()).await? {
            return held(&item).map(Some);
        }
        // Candidates are tried in order from a hint of how many are held; each claim is
        // conditional, so a stale hint costs a refused claim and never gives one twice, and
        // a lost race spends no candidate.
        let start = self
            .get_item(format!("IDENTITY#{pool}"), "NEXT".to_owned())
            .await?
            .and_then(|item| {
                item.get("n")
                    .and_then(|n| n.as_n().ok())
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0_usize);
        for (i, candidate) in candidates.iter().enumerate().skip(start) {
            let put = |pk: String, sk: String, attribute: &str, value: &str| {
                built(
                    Put::builder()
                        .table_name(&self.table)
                        .item(PK, s(pk))
                        .item(SK, s(sk))
                        .item(attribute, s(value))
                        .condition_expression("attribute_not_exists(pk)")
                        .build(),
                )
                .map(|p| TransactWriteItem::builder().put(p).build())
            };
            let sent = self
                .client
                .transact_write_items()
                .transact_items(put(
                    format!("IDENTITY#{pool}"),
                    format!("HELD#{candidate}"),
                    "tenant",
                    tenant.as_str(),
                )?)
                .transact_items(put(own.0.clone(), own.1.clone(), "identity", candidate)?)
                .send()
                .await;
            let Err(e) = sent else {
                self.advance_identity_hint(pool, i + 1).await;
                return Ok(Some(candidate.clone()));
            };
            let reasons = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    c.cancellation_reasons()
                }
                _ => return Err(StoreError::Unavailable(Box::new(e))),
            };
            let failed =
                |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
            if failed(1) {
                // The account was given one meanwhile (by another instance).
                let item = self.get_item(own.0.clone(), own.1.clone()).await?;
                return item.as_ref().map(held).transpose();
            }
            if !failed(0) {
                return Err(StoreError::Unavailable(Box::new(e)));
            }
        }
        Ok(None)
    }
}

impl DynamoStore {
    /// Moves the pool's hint up to `held` candidates; a hint already past it stays, and a
    /// failure only costs later claims a refused try.
    async fn advance_identity_hint(&self, pool: &str, held: usize) {
        let advanced = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(format!("IDENTITY#{pool}")))
            .key(SK, s("NEXT"))
            .update_expression("SET #n = :held")
            .condition_expression("attribute_not_exists(#n) OR #n < :held")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":held", AttributeValue::N(held.to_string()))
            .send()
            .await;
        if let Err(e) = advanced
            && !e
                .as_service_error()
                .is_some_and(aws_sdk_dynamodb::operation::update_item::UpdateItemError::is_conditional_check_failed_exception)
        {
            tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), pool, "the identity pool's hint was not advanced");
        }
    }
}

/// Creates the table as `template.yaml` declares it (on-demand, `pk`/`sk` strings), for
/// emulators and tests; in AWS the stack owns it.
///
/// # Errors
/// When DynamoDB refuses, e.g. the table exists.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let corrupt = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Corrupt(e.to_string());
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(corrupt)
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(corrupt)
    };
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute(PK)?)
        .attribute_definitions(attribute(SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(classify)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::{
        ConditionalCheckFailedException, ProvisionedThroughputExceededException,
    };
    use aws_smithy_types::body::SdkBody;

    use super::*;

    /// The metadata a service error is parsed with: its code.
    fn code(code: &str) -> aws_sdk_dynamodb::error::ErrorMetadata {
        aws_sdk_dynamodb::error::ErrorMetadata::builder()
            .code(code)
            .build()
    }

    fn answered(err: PutItemError) -> StoreError {
        let status = 400u16.try_into().expect("a status");
        classify(SdkError::service_error(
            err,
            HttpResponse::new(status, SdkBody::empty()),
        ))
    }

    #[test]
    fn throttling_is_a_retryable_fault_and_a_lost_condition_a_conflict() {
        let throttled = PutItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("slow down")
                .meta(code("ProvisionedThroughputExceededException"))
                .build(),
        );
        assert!(matches!(answered(throttled), StoreError::Unavailable(_)));
        let lost = PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .meta(code("ConditionalCheckFailedException"))
                .build(),
        );
        assert!(matches!(answered(lost), StoreError::Conflict));
    }
}
