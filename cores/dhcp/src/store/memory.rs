use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use crate::lease::{Lease, LeaseStore, StoreError};

/// Leases in memory, shared through an `Arc` so a test can look inside while the server
/// owns the store, and can make the next commits fail.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    leases: BTreeMap<Ipv4Addr, Lease>,
    fail: bool,
    commits: usize,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later commit fail (or succeed again).
    pub fn set_failing(&self, fail: bool) {
        if let Ok(mut i) = self.inner.lock() {
            i.fail = fail;
        }
    }

    /// The stored lease on `ip`.
    pub fn get(&self, ip: Ipv4Addr) -> Option<Lease> {
        self.inner.lock().ok()?.leases.get(&ip).cloned()
    }

    /// How many commits succeeded.
    pub fn commits(&self) -> usize {
        self.inner.lock().map(|i| i.commits).unwrap_or(0)
    }
}

impl LeaseStore for MemoryStore {
    fn load(&mut self) -> Result<Vec<Lease>, StoreError> {
        let i = self
            .inner
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?;
        Ok(i.leases.values().cloned().collect())
    }

    fn commit(&mut self, lease: &Lease) -> Result<(), StoreError> {
        let mut i = self
            .inner
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?;
        if i.fail {
            return Err(StoreError::Unavailable("failing on purpose".into()));
        }
        i.leases.insert(lease.ip, lease.clone());
        i.commits += 1;
        Ok(())
    }

    fn remove(&mut self, ip: Ipv4Addr) -> Result<(), StoreError> {
        let mut i = self
            .inner
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?;
        if i.fail {
            return Err(StoreError::Unavailable("failing on purpose".into()));
        }
        i.leases.remove(&ip);
        Ok(())
    }
}
