//! Administrator endpoints.

use axum::extract::State;
use axum::Json;
use ivm_actors::client::GetStats;
use ivm_actors::database;
use ivm_wire::rest::ServerStatus;

use crate::auth::AdminUser;
use crate::error::ApiError;
use crate::AppState;

/// `GET /api/admin/status`: uptime, connected clients, queued messages.
pub async fn status(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<ServerStatus>, ApiError> {
    let stats = state.handles.clients.send(GetStats).await?;
    let (queued, users) = database::run(&state.handles.db, |s| Ok((s.queued_count()?, s.user_count()?))).await?;
    Ok(Json(ServerStatus {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: state.handles.started.elapsed().as_secs(),
        connected_clients: stats.sessions,
        queued_messages: queued,
        users,
    }))
}
