//! `GET /api/health`: is the box serving? For monitoring (a Nagios check, an uptime probe,
//! a load balancer), so it takes no login and is served on both listeners, the plain one
//! to the LAN too (see [`crate::plain`]).
//!
//! `200 {"status":"ok"}` when the HTTP service answers and the database answers a read
//! within [`PROBE_TIMEOUT`]; `503 {"status":"unavailable","reason":"database"}` when it does
//! not (a wedged or overloaded database thread: messages cannot be stored). The body holds
//! nothing else, and in particular no version: anyone on the LAN may ask, and a version
//! tells an attacker which known bugs apply; admins see it in `ivmd status` and
//! `GET /api/admin/status`.
//!
//! Cheap for an unauthenticated peer: the database is asked at most once every
//! [`PROBE_EVERY`], one probe at a time; every other request gets the last answer. A flood
//! of health checks costs one small read transaction a second and the connection caps.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ivm_actors::database::{Db, Ping};

use crate::AppState;

/// How long an answer is reused.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long the database may take to answer the probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The last probe's answer, shared by every request.
#[derive(Debug, Default)]
pub struct Health {
    /// When the last probe finished, and whether the database answered.
    last: Mutex<Option<(Instant, bool)>>,
    /// Held while a probe runs, so only one runs at a time.
    probing: tokio::sync::Mutex<()>,
}

impl Health {
    fn fresh(&self) -> Option<bool> {
        let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.filter(|(at, _)| at.elapsed() < PROBE_EVERY)
            .map(|(_, ok)| ok)
    }

    /// Whether the database answers: the last probe's answer while it is fresh, else a new
    /// probe (requests that arrive meanwhile wait for it, bounded by [`PROBE_TIMEOUT`]).
    pub async fn database_ok(&self, db: &Db) -> bool {
        if let Some(ok) = self.fresh() {
            return ok;
        }
        let _one = self.probing.lock().await;
        if let Some(ok) = self.fresh() {
            return ok;
        }
        let probe = db.call(Ping);
        let ok = matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(())));
        if !ok {
            tracing::warn!("health check: the database did not answer");
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), ok));
        ok
    }
}

/// `GET /api/health`.
pub async fn health(State(state): State<AppState>) -> Response {
    let (code, body) = if state.health.database_ok(&state.db).await {
        (StatusCode::OK, serde_json::json!({ "status": "ok" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "unavailable", "reason": "database" }),
        )
    };
    (code, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix::test]
    async fn one_probe_serves_the_next_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = std::sync::Arc::new(ivm_store::Store::open(dir.path()).expect("store"));
        let db = Db::start(store, 1);
        let h = Health::default();
        assert!(h.database_ok(&db).await);
        let first = h.last.lock().expect("lock").expect("probed").0;
        assert!(h.database_ok(&db).await);
        assert_eq!(
            h.last.lock().expect("lock").expect("probed").0,
            first,
            "answered from the last probe"
        );
        // Once it is old, the next request probes again.
        *h.last.lock().expect("lock") = Some((Instant::now() - PROBE_EVERY, true));
        assert!(h.database_ok(&db).await);
        assert!(h.last.lock().expect("lock").expect("probed").0 > first);
    }
}
