//! The sliding logs of [`crate::rate_limit`] on DynamoDB: one item per (policy, window,
//! subject) in the rate-limit table, holding `log`, the times of the attempts it admitted in
//! the order they were admitted, and `v`, a version bumped by every write.
//!
//! A claim is one `UpdateItem` in the usual case: append, on the condition that the log has
//! room. Room is judged without reading: fewer than `limit` entries, or (when at most
//! [`OVERFLOW`] entries too many) every entry in front of the last `limit` already stale. Only
//! when that condition fails is the log looked at (it comes back with the refusal, at no extra
//! cost): if stale entries leave room after all, the log is replaced by its counting entries
//! plus the new one, on the condition that its version has not moved. Both writes are
//! conditional on exactly what they were computed from, so concurrent claims never overshoot.
//! Stale entries are trimmed in the caller's next wave ([`trim`]), which keeps the usual claim
//! a single append.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::Deserialize;

use super::{DynamoStore, classify, decode_failed, n};
use crate::store::{Admission, Claim, StoreError};

/// How many stale entries in front an append may step over without looking at the log.
const OVERFLOW: usize = 3;
/// How many replacements a claim tries before it gives up under contention (refused).
const ROUNDS: usize = 4;
/// How many entries one trim removes at most (the rest wait for the next).
const TRIM_MAX: usize = 20;

#[derive(Debug, Default, Deserialize)]
struct LogItem {
    #[serde(default)]
    log: Vec<u64>,
    #[serde(default)]
    v: u64,
}

/// A write's outcome: done (with the log after it), or refused with the item as found (none if
/// there was no item).
type Written = Result<Vec<u64>, Option<LogItem>>;

pub(super) async fn admit(
    store: &DynamoStore,
    key: &str,
    claim: &Claim,
) -> Result<Admission, StoreError> {
    let mut found = match append(store, key, claim).await? {
        Ok(log) => return Ok(Admission::Admitted(log)),
        Err(found) => found,
    };
    for _ in 0..ROUNDS {
        let written = match found {
            // Deleted meanwhile (TTL): start it again.
            None => append(store, key, claim).await?,
            Some(item) => {
                let mut counting: Vec<u64> = item
                    .log
                    .iter()
                    .copied()
                    .filter(|&t| t > claim.stale_upto)
                    .collect();
                if counting.len() >= claim.limit as usize {
                    return Ok(Admission::Refused(item.log));
                }
                counting.push(claim.at);
                replace(store, key, claim, item.v, counting).await?
            }
        };
        match written {
            Ok(log) => return Ok(Admission::Admitted(log)),
            Err(again) => found = again,
        }
    }
    // Still contended: refused (fail closed); the limiter tells the client to retry soon.
    Ok(Admission::Refused(found.map(|i| i.log).unwrap_or_default()))
}

/// The append's condition: no log yet, fewer than `limit` entries, or `limit + k` entries
/// (k < [`OVERFLOW`]) whose first `k + 1` are all stale, so at most `limit - 1` count. Each
/// entry in front is compared, not only the `k`-th: times come from different clocks and
/// requests, so the log is not guaranteed to be in time order.
fn room(limit: u32) -> (String, HashMap<String, AttributeValue>) {
    let mut condition = String::from("attribute_not_exists(#log) OR size(#log) < :limit");
    let mut values = HashMap::from([(":limit".to_owned(), n(limit))]);
    for k in 0..OVERFLOW {
        let size = format!(":size{k}");
        let stale: Vec<String> = (0..=k).map(|i| format!("#log[{i}] <= :stale")).collect();
        condition.push_str(&format!(
            " OR (size(#log) = {size} AND {})",
            stale.join(" AND ")
        ));
        values.insert(size, n(u64::from(limit) + k as u64));
    }
    (condition, values)
}

async fn append(store: &DynamoStore, key: &str, claim: &Claim) -> Result<Written, StoreError> {
    let (condition, values) = room(claim.limit);
    let request = write(store, key, claim)
        .update_expression(
            "SET #log = list_append(if_not_exists(#log, :empty), :entry), #expires = :expires \
             ADD #v :one",
        )
        .condition_expression(condition)
        .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
        .expression_attribute_values(":entry", AttributeValue::L(vec![n(claim.at)]))
        .expression_attribute_values(":stale", n(claim.stale_upto));
    let request = values.into_iter().fold(request, |r, (name, value)| {
        r.expression_attribute_values(name, value)
    });
    written(request.send().await, "appending to rate-limit log")
}

/// Replaces the log by `log`, only if its version is still `version`.
async fn replace(
    store: &DynamoStore,
    key: &str,
    claim: &Claim,
    version: u64,
    log: Vec<u64>,
) -> Result<Written, StoreError> {
    let request = write(store, key, claim)
        .update_expression("SET #log = :log, #expires = :expires ADD #v :one")
        .condition_expression("#v = :version")
        .expression_attribute_values(":log", AttributeValue::L(log.iter().map(n).collect()))
        .expression_attribute_values(":version", n(version));
    written(request.send().await, "replacing rate-limit log")
}

/// What both claim writes share: the item, its names, the new expiry, and the log back either
/// way (after the write, or as found when the condition refused it: no extra read).
fn write(store: &DynamoStore, key: &str, claim: &Claim) -> UpdateItemFluentBuilder {
    store
        .client
        .update_item()
        .table_name(&store.tables.rate_limits)
        .key("pk", AttributeValue::S(key.to_owned()))
        .expression_attribute_names("#log", "log")
        .expression_attribute_names("#v", "v")
        .expression_attribute_names("#expires", "expires_at")
        .expression_attribute_values(":expires", n(claim.expires_at))
        .expression_attribute_values(":one", n(1))
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
}

pub(super) async fn trim(
    store: &DynamoStore,
    key: &str,
    seen: &[u64],
    stale_upto: u64,
    give_back: Option<u64>,
) -> Result<(), StoreError> {
    let mut seen = seen.to_vec();
    // A second round with the log as it came back, if entries moved meanwhile.
    for _ in 0..2 {
        let positions = positions(&seen, stale_upto, give_back);
        if positions.is_empty() {
            return Ok(());
        }
        let remove: Vec<String> = positions.iter().map(|i| format!("#log[{i}]")).collect();
        let unchanged: Vec<String> = positions
            .iter()
            .map(|i| format!("#log[{i}] = :at{i}"))
            .collect();
        let values = positions
            .iter()
            .map(|&i| (format!(":at{i}"), n(seen[i])))
            .chain([(":one".to_owned(), n(1))])
            .collect();
        let result = store
            .client
            .update_item()
            .table_name(&store.tables.rate_limits)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression(format!("REMOVE {} ADD #v :one", remove.join(", ")))
            .condition_expression(unchanged.join(" AND "))
            .set_expression_attribute_values(Some(values))
            .expression_attribute_names("#log", "log")
            .expression_attribute_names("#v", "v")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => return Ok(()),
            Err(e) => match condition_item(e, "trimming rate-limit log")? {
                Some(item) => seen = item.log,
                None => return Ok(()),
            },
        }
    }
    Ok(())
}

/// Where in `seen` the stale entries are (the first [`TRIM_MAX`]), and one entry equal to
/// `give_back` (the newest such; entries of one time are interchangeable).
fn positions(seen: &[u64], stale_upto: u64, give_back: Option<u64>) -> Vec<usize> {
    let mut positions: Vec<usize> = (0..seen.len())
        .filter(|&i| seen[i] <= stale_upto)
        .take(TRIM_MAX)
        .collect();
    let mine = give_back.and_then(|mine| {
        (0..seen.len())
            .rev()
            .find(|&i| seen[i] == mine && !positions.contains(&i))
    });
    positions.extend(mine);
    positions
}

fn written(
    result: Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        aws_sdk_dynamodb::error::SdkError<
            UpdateItemError,
            aws_sdk_dynamodb::config::http::HttpResponse,
        >,
    >,
    op: &'static str,
) -> Result<Written, StoreError> {
    match result {
        Ok(output) => {
            let item: LogItem = serde_dynamo::from_item(output.attributes.unwrap_or_default())
                .map_err(|e| decode_failed(op, e))?;
            Ok(Ok(item.log))
        }
        Err(e) => condition_item(e, op).map(Err),
    }
}

/// The item a refused condition came back with (none if there was no item); any other error
/// is a store failure.
fn condition_item(
    e: aws_sdk_dynamodb::error::SdkError<
        UpdateItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
    op: &'static str,
) -> Result<Option<LogItem>, StoreError> {
    let item = match e.as_service_error() {
        Some(UpdateItemError::ConditionalCheckFailedException(refused)) => refused.item().cloned(),
        _ => return Err(classify(op, e)),
    };
    item.map(|item| serde_dynamo::from_item(item).map_err(|e| decode_failed(op, e)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::{positions, room};

    #[test]
    fn stale_entries_and_one_given_back_entry_are_trimmed() {
        let seen = [10, 50, 11, 70, 70];
        assert_eq!(positions(&seen, 20, None), [0, 2]);
        assert_eq!(positions(&seen, 20, Some(70)), [0, 2, 4]);
        assert_eq!(positions(&seen, 5, Some(99)), Vec::<usize>::new());
    }

    #[test]
    fn the_append_condition_looks_at_every_entry_in_front() {
        let (condition, values) = room(5);
        assert!(condition.contains("size(#log) < :limit"), "{condition}");
        assert!(
            condition.contains("(size(#log) = :size2 AND #log[0] <= :stale AND #log[1] <= :stale AND #log[2] <= :stale)"),
            "{condition}"
        );
        assert_eq!(values.len(), 4);
    }
}
