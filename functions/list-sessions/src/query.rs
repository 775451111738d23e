//! The query string of `GET /sessions`: `limit` and the `next` cursor of the page before.

use lambda_http::{Request, RequestExt};
use shared::ApiError;
use shared::error::FieldErrors;
use shared::store::SessionCursor;

/// Sessions per page when `limit` is not given.
pub const LIMIT_DEFAULT: usize = 100;
/// The largest `limit`.
pub const LIMIT_MAX: usize = 100;

const LIMIT_MESSAGE: &str = "must be a whole number from 1 to 100";
const NEXT_MESSAGE: &str = "must be the next cursor of a page of your sessions";
const ONCE_MESSAGE: &str = "must be given at most once";

/// What one page is asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct PageQuery {
    /// Sessions at most, 1..=[`LIMIT_MAX`].
    pub limit: usize,
    /// Where the page starts: after the page that handed out this cursor.
    pub after: Option<SessionCursor>,
}

impl PageQuery {
    /// Reads `limit` and `next` from the query string (other parameters are ignored); a cursor
    /// counts only if it is one of `user_id`'s. Every problem is a `400 validation_error` under
    /// its parameter's name.
    pub fn parse(req: &Request, user_id: &str) -> Result<Self, ApiError> {
        let params = req.query_string_parameters_ref();
        let values = |name: &str| params.and_then(|p| p.all(name)).unwrap_or_default();
        let mut errors = FieldErrors::new();
        let mut fail = |name: &str, message: &str| {
            errors.insert(name.to_owned(), vec![message.to_owned()]);
        };
        let limit = match values("limit").as_slice() {
            [] => Some(LIMIT_DEFAULT),
            [one] => parse_limit(one).or_else(|| {
                fail("limit", LIMIT_MESSAGE);
                None
            }),
            _ => {
                fail("limit", ONCE_MESSAGE);
                None
            }
        };
        let after = match values("next").as_slice() {
            [] => Some(None),
            [one] => match SessionCursor::decode(one, user_id) {
                Some(cursor) => Some(Some(cursor)),
                None => {
                    fail("next", NEXT_MESSAGE);
                    None
                }
            },
            _ => {
                fail("next", ONCE_MESSAGE);
                None
            }
        };
        match (limit, after) {
            (Some(limit), Some(after)) => Ok(Self { limit, after }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// Digits only (no sign, no spaces), 1..=[`LIMIT_MAX`].
fn parse_limit(text: &str) -> Option<usize> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| (1..=LIMIT_MAX).contains(n))
}

#[cfg(test)]
mod tests {
    use super::parse_limit;

    #[test]
    fn a_limit_is_a_plain_whole_number_from_1_to_100() {
        for (text, expected) in [
            ("1", Some(1)),
            ("100", Some(100)),
            ("042", Some(42)),
            ("0", None),
            ("101", None),
            ("1000", None),
            ("-1", None),
            ("+5", None),
            ("5 ", None),
            ("2.0", None),
            ("1e2", None),
            ("", None),
            ("ten", None),
        ] {
            assert_eq!(parse_limit(text), expected, "{text:?}");
        }
    }
}
