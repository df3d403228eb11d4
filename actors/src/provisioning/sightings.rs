//! Sightings of phones, kept in memory and written in batches (issue 10, item 4).
//!
//! Every TFTP, HTTP or DHCP request naming a MAC used to cost a commit (200 invented MACs
//! made 200 permanent rows in a quarter of a second). Now a request only notes what it saw
//! here; [`Sightings::flush`] writes them all in one commit (the store caps and expires
//! unassigned rows there). The flush runs every [`FLUSH_EVERY`] from [`FlushService`], at
//! shutdown, and before anything lists phones (the admin API, `ivmd phone list`, the
//! panel), so a list is never behind. Requests from outside the provisioning subnets note
//! nothing. Security state (binding, disarming) never waits here: it is written before the
//! file it governs is sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use ivm_provision::Mac;
use ivm_service::Service;
use ivm_store::{PhoneSighting, SightingLimits, SightingsFlushed, Store, StoreError};
use tokio_util::sync::CancellationToken;

use crate::database::{Db, DbError, Op};

/// How often pending sightings are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(30);

/// Most distinct MACs pending between two flushes; beyond, new MACs are dropped until the
/// next flush (known ones are still refreshed). More than the store keeps unassigned, so a
/// flood is cut here before it costs anything there.
pub const MAX_PENDING: usize = 1024;

/// Pending sightings, shared by the TFTP and HTTP front, the DHCP server and the flusher.
#[derive(Debug)]
pub struct Sightings {
    pending: Mutex<HashMap<Mac, (PhoneSighting, u64)>>,
    limits: SightingLimits,
    /// Serialises flushes, so a flush that started first commits first.
    flushing: tokio::sync::Mutex<()>,
}

impl Default for Sightings {
    fn default() -> Self {
        Sightings::new(SightingLimits::default())
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Sightings {
    /// An empty buffer whose flushes prune by `limits`.
    pub fn new(limits: SightingLimits) -> Self {
        Sightings {
            pending: Mutex::new(HashMap::new()),
            limits,
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Notes what a request told about `mac` (merged with what is pending for it: fields
    /// given later win, fields a request lacks are kept).
    pub fn note(&self, mac: Mac, s: PhoneSighting) {
        let now = unix_now();
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((old, at)) = p.get_mut(&mac) {
            old.vendor = old.vendor.or(s.vendor);
            old.model = s.model.or(old.model.take());
            old.firmware = s.firmware.or(old.firmware.take());
            old.address = s.address.or(old.address);
            *at = now;
            return;
        }
        if p.len() >= MAX_PENDING {
            tracing::debug!(mac = %mac, "sighting dropped: too many pending");
            return;
        }
        p.insert(mac, (s, now));
    }

    /// MACs pending.
    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Nothing pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes everything pending in one commit (nothing when nothing is pending). On a
    /// store error the batch is lost (sightings are refreshed by the next request) and the
    /// error returned.
    pub async fn flush(&self, db: &Db) -> Result<(), DbError> {
        let _one = self.flushing.lock().await;
        let batch: Vec<_> = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.drain().map(|(m, (s, at))| (m, s, at)).collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        let limits = self.limits;
        let n = batch.len();
        let done = db
            .call(RecordSightings {
                batch,
                limits,
                now: SystemTime::now(),
            })
            .await?;
        tracing::debug!(
            sightings = n,
            created = done.created,
            pruned = done.pruned,
            "sightings flushed"
        );
        Ok(())
    }
}

/// Writes a batch of sightings in one commit ([`Store::record_sightings`]).
struct RecordSightings {
    batch: Vec<(Mac, PhoneSighting, u64)>,
    limits: SightingLimits,
    now: SystemTime,
}

impl Op for RecordSightings {
    type Output = SightingsFlushed;
    fn run(self, s: &Store) -> Result<SightingsFlushed, StoreError> {
        s.record_sightings(self.batch, self.limits, self.now)
    }
}

/// Flushes [`Sightings`] every [`FLUSH_EVERY`] and once more at shutdown.
pub struct FlushService {
    sightings: Arc<Sightings>,
    db: Db,
}

impl FlushService {
    /// The flusher of `sightings` into `db`.
    pub fn new(sightings: Arc<Sightings>, db: Db) -> Self {
        FlushService { sightings, db }
    }
}

impl Service for FlushService {
    fn name(&self) -> &'static str {
        "phone-sightings"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = shutdown.cancelled() => break,
                }
                if let Err(e) = self.sightings.flush(&self.db).await {
                    tracing::warn!(error = %e, "phone sightings not written");
                }
            }
            if let Err(e) = self.sightings.flush(&self.db).await {
                tracing::warn!(error = %e, "phone sightings not written at shutdown");
            }
        })
    }
}
