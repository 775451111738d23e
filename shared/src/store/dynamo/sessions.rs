//! The session cap's and `GET /sessions`' reads and writes on the sessions table: the user's
//! live sessions as the cap weighs them, the conditional end of one past the cap, and one page
//! of a user's live sessions. All go through the `by-user` index (user id, then start time),
//! never a scan.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::Deserialize;

use super::{DynamoStore, SESSIONS_BY_USER, SessionItem, classify, decode_failed, n};
use crate::store::{Eviction, Session, SessionCursor, SessionPage, SessionUse, StoreError};

/// Queries one page may take: a long run of ended sessions (revoked, or expired and not yet
/// swept by TTL) between live ones ends the page early, with a cursor, instead of reading on.
const PAGE_ROUNDS: usize = 4;

/// What the cap reads of a session (the query projects only these).
#[derive(Deserialize)]
struct UseItem {
    pk: String,
    created_at: u64,
    /// Absent on sessions started before it was kept: `rotated_at` stands in.
    #[serde(default)]
    last_used_at: Option<u64>,
    #[serde(default)]
    rotated_at: u64,
}

/// The user's sessions live at `now` but `except`: one `Query` (more only past 1 MB), its
/// filter applied by DynamoDB, so only the live ones' ids and times come back. It reads (and
/// is billed for) every index item of the user, live or ended until TTL sweeps it.
pub(super) async fn live_uses(
    store: &DynamoStore,
    user_id: &str,
    except: &str,
    now: u64,
) -> Result<Vec<SessionUse>, StoreError> {
    const OP: &str = "counting a user's live sessions";
    let mut uses = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = store
            .client
            .query()
            .table_name(&store.tables.sessions)
            .index_name(SESSIONS_BY_USER)
            .key_condition_expression("user_id = :id")
            .filter_expression("revoked = :false AND expires_at > :now AND pk <> :except")
            .projection_expression("pk, created_at, last_used_at, rotated_at")
            .expression_attribute_values(":id", AttributeValue::S(user_id.to_owned()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":except", AttributeValue::S(except.to_owned()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        for item in page.items() {
            let item: UseItem =
                serde_dynamo::from_item(item.clone()).map_err(|e| decode_failed(OP, e))?;
            uses.push(SessionUse {
                id: item.pk,
                created_at: item.created_at,
                last_used_at: item.last_used_at.unwrap_or(item.rotated_at),
            });
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(uses),
        }
    }
}

/// Ends `victim` past the cap by deleting its item: one conditional `DeleteItem`, only while it
/// is `user_id`'s, live at `now` and last used when `victim` says. Deleted, not marked revoked,
/// so the user's index keeps no trace of it: counting and listing stay bounded by the cap, and
/// ending every session reads no pile of evicted ones. A refused condition brings the item back
/// (no extra read) to tell a session used meanwhile from one already ended.
pub(super) async fn evict(
    store: &DynamoStore,
    user_id: &str,
    victim: &SessionUse,
    now: u64,
) -> Result<Eviction, StoreError> {
    const OP: &str = "ending a session past the cap";
    let result = store
        .client
        .delete_item()
        .table_name(&store.tables.sessions)
        .key("pk", AttributeValue::S(victim.id.clone()))
        .condition_expression(
            "user_id = :uid AND revoked = :false AND expires_at > :now AND \
             (last_used_at = :used OR (attribute_not_exists(last_used_at) AND rotated_at = :used))",
        )
        .expression_attribute_values(":false", AttributeValue::Bool(false))
        .expression_attribute_values(":uid", AttributeValue::S(user_id.to_owned()))
        .expression_attribute_values(":now", n(now))
        .expression_attribute_values(":used", n(victim.last_used_at))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    let error = match result {
        Ok(_) => return Ok(Eviction::Ended),
        Err(e) => e,
    };
    let found = match error.as_service_error() {
        Some(DeleteItemError::ConditionalCheckFailedException(refused)) => refused.item().cloned(),
        _ => return Err(classify(OP, error)),
    };
    let found: Option<Session> = found
        .map(|item| {
            serde_dynamo::from_item::<_, SessionItem>(item)
                .map(|item| item.into_session().0)
                .map_err(|e| decode_failed(OP, e))
        })
        .transpose()?;
    Ok(match found {
        Some(s) if s.user_id == user_id && s.is_live(now) => Eviction::Used,
        _ => Eviction::Gone,
    })
}

/// At most `limit` of the user's live sessions, newest first, after `after`. Each query asks
/// DynamoDB to look at one item more than a page holds (its `Limit` counts items read, before
/// the filter drops ended ones), so a page of all live sessions also tells whether more follow;
/// a page ends as soon as it is full. So a page costs about `limit` index items however many
/// sessions the user has, and one query unless ended sessions sit among the live ones.
pub(super) async fn page(
    store: &DynamoStore,
    user_id: &str,
    now: u64,
    limit: usize,
    after: Option<&SessionCursor>,
) -> Result<SessionPage, StoreError> {
    const OP: &str = "listing a page of a user's sessions";
    let cursor_of = |key: HashMap<String, AttributeValue>| {
        serde_dynamo::from_item::<_, SessionCursor>(key).map_err(|e| decode_failed(OP, e))
    };
    let mut start = after
        .map(|cursor| serde_dynamo::to_item(cursor).map_err(|e| decode_failed(OP, e)))
        .transpose()?;
    let mut sessions: Vec<Session> = Vec::new();
    for _ in 0..PAGE_ROUNDS {
        let out = store
            .client
            .query()
            .table_name(&store.tables.sessions)
            .index_name(SESSIONS_BY_USER)
            .key_condition_expression("user_id = :id")
            .filter_expression("revoked = :false AND expires_at > :now")
            .expression_attribute_values(":id", AttributeValue::S(user_id.to_owned()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now))
            // Newest first: the index's sort key is created_at.
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        for item in out.items() {
            let item: SessionItem =
                serde_dynamo::from_item(item.clone()).map_err(|e| decode_failed(OP, e))?;
            sessions.push(item.into_session().0);
        }
        let read_on = out.last_evaluated_key.filter(|key| !key.is_empty());
        if sessions.len() > limit {
            // The page ends inside what was read: it goes on after its last session.
            sessions.truncate(limit);
            let next = sessions.last().map(SessionCursor::after);
            return Ok(SessionPage { sessions, next });
        }
        match read_on {
            // Full, or nothing more to read: it goes on where the reading stopped.
            Some(key) if sessions.len() == limit => {
                let next = Some(cursor_of(key)?);
                return Ok(SessionPage { sessions, next });
            }
            Some(key) => start = Some(key),
            None => {
                return Ok(SessionPage {
                    sessions,
                    next: None,
                });
            }
        }
    }
    // More to read after a run of ended sessions: a shorter page, going on where it stopped.
    let next = start.map(cursor_of).transpose()?;
    Ok(SessionPage { sessions, next })
}
