//! Per-connection activity: the I/O wrapper that notes every byte read or written, the request
//! counter the service keeps, and the watchdog that ends a connection doing nothing.
//!
//! hyper's own `header_read_timeout` covers an HTTP/1 connection waiting for a request head
//! (also between keep-alive requests); it does not cover the bytes before hyper knows the
//! protocol (the HTTP/2 preface sniff), an HTTP/2 connection with no streams, a body that
//! stops arriving, or a response the peer stops reading. The watchdog covers those:
//!
//! - until the first request head arrives, the connection has [`Watch::first_request`] from
//!   accept, however slowly bytes trickle in;
//! - then, while no request is being answered, it may stay silent (no byte either way) for
//!   [`Watch::idle`];
//! - while a request is being answered it is left alone (a slow handler, such as ring-me
//!   waiting for a phone, is not idleness; request bodies have their own deadline).
//!
//! An upgraded WebSocket leaves hyper's connection future, and with it the watchdog: it has
//! its own pings. The [`ConnSlot`] rides inside the I/O, so it is held until the socket closes.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::conns::ConnSlot;

/// What the watchdog reads: last byte, requests open, whether one was ever seen.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Milliseconds after `start` of the last byte read or written.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    seen_request: AtomicBool,
}

impl Activity {
    /// A new connection's activity, starting now.
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            seen_request: AtomicBool::new(false),
        })
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// A request head arrived; the guard marks it answered when dropped.
    pub fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.seen_request.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        RequestGuard(self.clone())
    }
}

/// A request being answered (see [`Activity::begin_request`]).
#[derive(Debug)]
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// The watchdog's two limits.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    /// From accept to the first request head.
    pub first_request: Duration,
    /// Silence allowed between requests.
    pub idle: Duration,
}

impl Watch {
    /// When the connection is to be closed if nothing changes, `None` while a request is
    /// being answered. Pure: the caller passes the state and the time.
    fn deadline(&self, a: &Activity) -> Option<Instant> {
        if !a.seen_request.load(Ordering::Relaxed) {
            return Some(a.start + self.first_request);
        }
        if a.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        Some(a.start + Duration::from_millis(a.last_ms.load(Ordering::Relaxed)) + self.idle)
    }

    /// Completes when the connection has been idle too long (never while a request is being
    /// answered).
    pub async fn expired(self, a: Arc<Activity>) {
        loop {
            match self.deadline(&a) {
                Some(d) if Instant::now() >= d => return,
                Some(d) => tokio::time::sleep_until(d).await,
                // Look again later: a request being answered ends on its own schedule.
                None => tokio::time::sleep(self.idle.min(Duration::from_secs(5))).await,
            }
        }
    }
}

/// A socket that notes its traffic in an [`Activity`] and holds the connection's slot.
#[derive(Debug)]
pub struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
    _slot: ConnSlot,
}

impl<T> TrackedIo<T> {
    /// Wraps `inner`; `slot` is released when this drops.
    pub fn new(inner: T, activity: Arc<Activity>, slot: ConnSlot) -> Self {
        TrackedIo {
            inner,
            activity,
            _slot: slot,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Watch = Watch {
        first_request: Duration::from_secs(20),
        idle: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_request_ends_at_the_first_deadline() {
        let a = Activity::new();
        let t0 = Instant::now();
        // Bytes trickling in do not extend the first deadline.
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            a.touch();
        }
        W.expired(a).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_counts_from_the_last_byte_and_not_during_a_request() {
        let a = Activity::new();
        let t0 = Instant::now();
        let g = a.begin_request();
        let watch = tokio::spawn(W.expired(a.clone()));
        // A request answered for five minutes is not idleness.
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(!watch.is_finished());
        drop(g);
        tokio::time::sleep(Duration::from_secs(30)).await;
        a.touch();
        watch.await.expect("watchdog");
        assert_eq!(t0.elapsed(), Duration::from_secs(300 + 30 + 60));
    }
}
