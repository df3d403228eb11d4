//! What the link tells `ivmd status`: written by the link's loop only, read by anyone,
//! without a lock or a message to the link (a status request never waits on the cluster).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use ivm_wire::rest::GlobalLinkStatus;

/// The link's state now.
#[derive(Debug, Default)]
pub struct LinkStatus {
    up: AtomicBool,
    published: AtomicUsize,
}

impl LinkStatus {
    /// Whether the link is connected to the cluster.
    pub fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// How many users the directory holds for this box (as of the last publish).
    pub fn published(&self) -> usize {
        self.published.load(Ordering::Relaxed)
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    pub(crate) fn set_published(&self, n: usize) {
        self.published.store(n, Ordering::Relaxed);
    }
}

/// A running link as the status pages see it: its box name and its [`LinkStatus`].
#[derive(Debug, Clone)]
pub struct GlobalView {
    /// `[global] box_name`.
    pub box_name: String,
    /// The link's state.
    pub status: Arc<LinkStatus>,
}

impl GlobalView {
    /// The link now, with `outbox` entries waiting (counted in the store by the caller).
    pub fn now(&self, outbox: u64) -> GlobalLinkStatus {
        GlobalLinkStatus {
            box_name: self.box_name.clone(),
            up: self.status.up(),
            published_users: self.status.published(),
            outbox,
        }
    }
}
