//! Request bodies: how large and how slow they may be.
//!
//! Every route reads at most [`SMALL_BODY`] and must receive it within [`BODY_TIMEOUT`]; the
//! one upload route (`POST /api/messages`) reads up to `max_upload_bytes` within
//! [`UPLOAD_TIMEOUT`], and only after its bearer token has been checked: the handler's
//! [`crate::auth::AuthUser`] extractor runs before the multipart body is touched, so an
//! unauthenticated peer never gets more than a request head read (issue 10: twelve partial
//! 23 MiB login bodies took the box from 52 to 334 MB).
//!
//! The deadline is on the whole body, not between chunks: a peer trickling one byte every few
//! seconds would otherwise hold a request (and its connection slot) open for ever.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// Largest body of every route but the upload: JSON requests are a few hundred bytes.
pub const SMALL_BODY: usize = 64 * 1024;
/// Time to receive a small body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Time to receive an upload (25 MiB in five minutes is about 700 kbit/s).
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// Time to receive an update bundle (`PUT /api/admin/update`, admins only; up to 352 MiB: an
/// hour is about 800 kbit/s).
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(3600);

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(pub Duration);

/// Whether `err` (or one of its sources) is a [`BodyTimeout`].
pub fn is_timeout(err: &(dyn StdError + 'static)) -> bool {
    let mut e: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(cur) = e {
        if cur.is::<BodyTimeout>() {
            return true;
        }
        e = cur.source();
    }
    false
}

/// A body that fails with [`BodyTimeout`] once its deadline has passed.
pub struct DeadlineBody {
    inner: Body,
    limit: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    /// `inner`, which must be read completely within `limit` from now.
    pub fn new(inner: Body, limit: Duration) -> Self {
        DeadlineBody {
            inner,
            limit,
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(r) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(r);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimeout(self.limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether this request is the authenticated upload, which gets the large limits.
pub fn is_upload(method: &Method, path: &str) -> bool {
    method == Method::POST && path == "/api/messages"
}

/// Middleware: puts the body under its deadline ([`UPLOAD_TIMEOUT`] for the upload route,
/// [`BODY_TIMEOUT`] for the rest).
///
/// An upload refused before its body was read (no token, over quota) leaves megabytes unread
/// on an HTTP/1.1 connection, which the server then closes; a client that reused it for its
/// next request would see that request fail with no answer. So such a refusal says
/// `Connection: close`, and well-behaved clients open a new connection.
pub async fn deadline(req: Request, next: Next) -> Response {
    let update = req.method() == Method::PUT && req.uri().path() == "/api/admin/update";
    let upload = update || is_upload(req.method(), req.uri().path());
    let limit = if update {
        UPDATE_TIMEOUT
    } else if upload {
        UPLOAD_TIMEOUT
    } else {
        BODY_TIMEOUT
    };
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    let req = req.map(|b| Body::new(DeadlineBody::new(b, limit)));
    let mut resp = next.run(req).await;
    if upload && http1 && !resp.status().is_success() {
        resp.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_fails_at_its_deadline() {
        let (tx, rx) = futures_channel();
        let body = DeadlineBody::new(rx, Duration::from_secs(30));
        let reader = tokio::spawn(async move { body.collect().await.map(|c| c.to_bytes()) });
        // One byte every 10 s: never idle between chunks, but too slow in all.
        for _ in 0..5 {
            if tx.try_send(Ok(Bytes::from_static(b"x"))).is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        let err = reader.await.expect("join").expect_err("must time out");
        assert!(is_timeout(&err), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_in_time_is_untouched() {
        let body = DeadlineBody::new(Body::from("hello"), Duration::from_secs(1));
        let got = body.collect().await.expect("body").to_bytes();
        assert_eq!(&got[..], b"hello");
    }

    /// A body fed through a channel, so the test decides when bytes arrive.
    fn futures_channel() -> (
        tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
        Body,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        (tx, Body::from_stream(stream))
    }
}
