//! `POST /api/admin/restart`: an admin restarts the box from the admin page, as the front
//! panel's *Reboot* does, so an update installed from that page starts without anyone going
//! to the box. What a restart is belongs to the appliance (the [`SharedRestarter`] it hands
//! over): the image reboots, a development machine's ivmd starts again.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::auth::AdminUser;
use crate::error::ApiError;
use crate::AppState;

/// What restarts the box for `POST /api/admin/restart`: the front panel's *Reboot* (the
/// image's `systemctl reboot`; ivmd starting again where no reboot command is set). Resolves
/// once the restart is under way.
pub type SharedRestarter = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The answer to `POST /api/admin/restart`.
#[derive(Debug, Serialize)]
pub struct Restarting {
    /// What happens next.
    pub message: String,
}

/// `POST /api/admin/restart`: restarts the box, as the panel's *Reboot* does, so an admin
/// who installed an update from the admin page can start it without going to the box. 202
/// once under way (the box stops its services cleanly first); 404 where nothing restarts it.
pub async fn restart(
    State(state): State<AppState>,
    admin: AdminUser,
) -> Result<(StatusCode, Json<Restarting>), ApiError> {
    let Some(restarter) = state.restarter.clone() else {
        return Err(ApiError::not_found("this server cannot restart itself"));
    };
    tracing::warn!(user = %admin.0.user.name, "restart asked on the admin page");
    restarter().await.map_err(ApiError::internal)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Restarting {
            message: "the box is restarting; it answers again in about a minute".into(),
        }),
    ))
}
