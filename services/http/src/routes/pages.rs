//! Paging of the message lists: the `limit` and `before` query and the `Link` header that
//! points at the next page.
//!
//! `GET /api/messages/inbox?limit=N&before=CURSOR` (and `/sent`): newest first, `limit`
//! 1 to [`PAGE_MAX`] (default [`PAGE_DEFAULT`]), `before` an opaque cursor the box handed
//! out. The body stays the JSON array it always was, so a client written before paging gets
//! the first page and works on; where the next page is comes in a `Link` header (RFC 8288,
//! as GitHub's API does), absent on the last page:
//!
//! ```text
//! Link: </api/messages/inbox?limit=50&before=AAABl0b1c3sAbd2k8J4sQ0WZ0mR0aC1eXw>; rel="next"
//! ```
//!
//! Anything else in the query is refused with 400 and a sentence naming it: a mistyped
//! `befor=` silently answering the first page again would have a client page forever.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ivm_store::{Cursor, Page};
use ivm_wire::rest::{PAGE_DEFAULT, PAGE_MAX};
use serde::Serialize;

use crate::error::ApiError;

/// The query of a list route, as given.
pub type RawQuery = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// What a list route was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    /// Messages on the page.
    pub limit: usize,
    /// Only messages before this one.
    pub before: Option<Cursor>,
}

/// Reads `limit` and `before`; anything else, or either twice, is a 400.
pub fn list_query(q: RawQuery) -> Result<ListQuery, ApiError> {
    let Query(pairs) = q.map_err(|e| ApiError::bad_request(format!("bad query: {e}")))?;
    let mut limit = None;
    let mut before = None;
    for (k, v) in pairs {
        match k.as_str() {
            "limit" if limit.is_none() => {
                limit = Some(
                    v.parse::<u32>()
                        .ok()
                        .filter(|n| (1..=PAGE_MAX).contains(n))
                        .ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "limit must be a whole number from 1 to {PAGE_MAX}, not {:?}",
                                short(&v)
                            ))
                        })?,
                );
            }
            "before" if before.is_none() => {
                before = Some(
                    Cursor::parse(&v).map_err(|e| ApiError::bad_request(format!("before: {e}")))?,
                );
            }
            "limit" | "before" => {
                return Err(ApiError::bad_request(format!("{k} is given twice")));
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {:?}: use limit and before",
                    short(other)
                )))
            }
        }
    }
    Ok(ListQuery {
        limit: limit.unwrap_or(PAGE_DEFAULT) as usize,
        before,
    })
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The list as a JSON array, with a `Link` to the next page when there is one.
pub fn answer<T: Serialize>(path: &str, limit: usize, page: Page<T>) -> Response {
    let mut resp = Json(page.items).into_response();
    if let Some(next) = page.next {
        let link = format!(
            "<{path}?limit={limit}&before={}>; rel=\"next\"",
            next.token()
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn q(pairs: &[(&str, &str)]) -> Result<ListQuery, ApiError> {
        list_query(Ok(Query(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )))
    }

    #[test]
    fn defaults_limits_and_cursors() {
        assert_eq!(
            q(&[]).expect("no query"),
            ListQuery {
                limit: 50,
                before: None
            }
        );
        assert_eq!(q(&[("limit", "200")]).expect("the cap").limit, 200);
        assert_eq!(q(&[("limit", "1")]).expect("one").limit, 1);
        let c = Cursor {
            created_at: 7,
            id: ivm_wire::Guid::new_v4(),
        };
        assert_eq!(
            q(&[("before", &c.token()), ("limit", "3")]).expect("both"),
            ListQuery {
                limit: 3,
                before: Some(c)
            }
        );
        for bad in [
            vec![("limit", "0")],
            vec![("limit", "201")],
            vec![("limit", "-1")],
            vec![("limit", "ten")],
            vec![("limit", "")],
            vec![("before", "")],
            vec![("before", "not-a-cursor")],
            vec![("limit", "5"), ("limit", "6")],
            vec![("befor", "x")],
            vec![("offset", "100")],
        ] {
            let e = q(&bad).expect_err("refused");
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn the_link_names_the_next_page_and_only_when_there_is_one() {
        let c = Cursor {
            created_at: 9,
            id: ivm_wire::Guid::new_v4(),
        };
        let more = answer(
            "/api/messages/sent",
            20,
            Page {
                items: vec![1, 2],
                next: Some(c),
            },
        );
        assert_eq!(
            more.headers()[header::LINK].to_str().expect("ascii"),
            format!(
                "</api/messages/sent?limit=20&before={}>; rel=\"next\"",
                c.token()
            )
        );
        let last = answer(
            "/api/messages/sent",
            20,
            Page {
                items: vec![3],
                next: None,
            },
        );
        assert!(last.headers().get(header::LINK).is_none());
    }
}
