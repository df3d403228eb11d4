//! The life cycle every long-running part of the box shares: a [`Service`] runs until one
//! [`CancellationToken`] is cancelled, then finishes its in-flight work and returns.
//!
//! Why a crate of its own: socket servers (TFTP, DHCP, SIP, HTTP) and the appliance's own
//! parts (front panel, admin socket, DHCP control) all implement [`Service`], and the engine
//! in `ivm-actors` runs them. Kept here, below the actors, a socket server can be a service
//! without depending on every actor type (it used to import `ivm_actors::engine` for it).
//!
//! # The one shutdown pattern
//! - One token for the whole box, owned by the engine. A service selects on
//!   [`CancellationToken::cancelled`] beside its work (accept, recv, a timer), and once it
//!   fires stops taking new work, finishes or hands off what is in flight, and returns. It
//!   may give helpers [`CancellationToken::child_token`]s; it never makes a token of its own
//!   that the engine cannot reach.
//! - One bounded grace for the whole stop, [`SHUTDOWN_GRACE`], measured from the moment the
//!   stop begins: the engine computes one deadline ([`Grace`]), spends what it needs of it
//!   on the client manager's in-flight posts, then cancels the token and waits for every
//!   service *together* until that same deadline ([`Running::stop`]). A service does not add
//!   a wait of its own on top (the HTTP service's WebSocket writers are waited for inside its
//!   `run`, within the engine's grace); one still running at the deadline is logged and
//!   aborted.
//!
//! ```text
//! start: Running::new() -> start(service)...      (each run(token) spawned, in order)
//! stop:  grace = Grace::new(SHUTDOWN_GRACE)
//!        ... work bounded by grace.deadline() ...
//!        running.stop(grace).await -> services that did not stop in time (aborted)
//! ```

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio::time::Instant;
pub use tokio_util::sync::CancellationToken;

/// How long a whole stop may take, from the stop signal to the last service returning.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A long-running part of the box (a socket server, the panel, a periodic flush) run by the
/// engine.
pub trait Service: Send + 'static {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Serves until `shutdown` is cancelled, then finishes in-flight work and returns.
    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()>;
}

/// The one deadline of a stop: everything the stop waits for shares it.
#[derive(Debug, Clone, Copy)]
pub struct Grace {
    deadline: Instant,
}

impl Grace {
    /// A grace of `length` from now.
    pub fn new(length: Duration) -> Self {
        Grace {
            deadline: Instant::now() + length,
        }
    }

    /// When it ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Runs `fut` until it finishes (`Some`) or the grace ends (`None`).
    pub async fn within<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        tokio::time::timeout_at(self.deadline, fut).await.ok()
    }
}

/// Services started under one token, in the order they were started.
#[derive(Debug, Default)]
pub struct Running {
    token: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Running {
    /// Nothing running yet; a fresh token.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token every service is run with (cancelled by [`Running::stop`]).
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Spawns `service` on the current tokio runtime.
    pub fn start(&mut self, service: Box<dyn Service>) {
        let name = service.name();
        tracing::info!(service = name, "starting");
        let task = tokio::spawn(service.run(self.token.clone()));
        self.tasks.push((name, task));
    }

    /// Names of the services started, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|(n, _)| *n).collect()
    }

    /// Cancels the token and waits for every service together until `grace` ends. Those
    /// still running then are aborted; their names are returned (empty: all stopped).
    pub async fn stop(self, grace: Grace) -> Vec<&'static str> {
        self.token.cancel();
        let mut late = Vec::new();
        // Every service was cancelled at once, so waiting for them one after the other
        // against the same deadline is waiting for them together.
        for (name, mut task) in self.tasks {
            match grace.within(&mut task).await {
                Some(Ok(())) => tracing::info!(service = name, "stopped"),
                Some(Err(e)) => tracing::error!(service = name, error = %e, "ended abnormally"),
                None => {
                    tracing::warn!(
                        service = name,
                        "did not stop within the grace period; aborted"
                    );
                    task.abort();
                    late.push(name);
                }
            }
        }
        late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stops `after` its token is cancelled (never, when `None`); notes that it ran.
    struct Slow {
        name: &'static str,
        after: Option<Duration>,
        stopped: tokio::sync::mpsc::UnboundedSender<&'static str>,
    }

    impl Service for Slow {
        fn name(&self) -> &'static str {
            self.name
        }
        fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
            Box::pin(async move {
                shutdown.cancelled().await;
                match self.after {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending::<()>().await,
                }
                let _ = self.stopped.send(self.name);
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_grace_for_every_service_together() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut running = Running::new();
        for (name, after) in [
            ("a", Some(Duration::from_secs(6))),
            ("b", Some(Duration::from_secs(7))),
            ("stuck", None),
            ("c", Some(Duration::from_secs(1))),
        ] {
            running.start(Box::new(Slow {
                name,
                after,
                stopped: tx.clone(),
            }));
        }
        assert_eq!(running.names(), ["a", "b", "stuck", "c"]);
        let begun = Instant::now();
        let grace = Grace::new(SHUTDOWN_GRACE);
        let late = running.stop(grace).await;
        // 6 s + 7 s would not fit one after the other; cancelled together, both do.
        assert_eq!(late, ["stuck"]);
        assert_eq!(
            Instant::now() - begun,
            SHUTDOWN_GRACE,
            "the stop ends at the deadline"
        );
        let mut stopped = Vec::new();
        while let Ok(n) = rx.try_recv() {
            stopped.push(n);
        }
        stopped.sort();
        assert_eq!(stopped, ["a", "b", "c"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_returns_as_soon_as_all_stopped() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let mut running = Running::new();
        running.start(Box::new(Slow {
            name: "quick",
            after: Some(Duration::from_millis(10)),
            stopped: tx,
        }));
        let begun = Instant::now();
        assert!(running.stop(Grace::new(SHUTDOWN_GRACE)).await.is_empty());
        assert_eq!(Instant::now() - begun, Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn what_a_grace_spent_is_gone_for_the_rest() {
        let grace = Grace::new(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(
            grace
                .within(tokio::time::sleep(Duration::from_secs(7)))
                .await,
            None,
            "only 6 s were left"
        );
        assert_eq!(
            grace
                .within(tokio::time::sleep(Duration::from_millis(1)))
                .await,
            None,
            "the grace is over"
        );
    }
}
