//! The admin's view of the media gateways for analog phones (`/api/admin/gateways`, admins
//! only): the configured gateways and line assignments from the store (`ivmd gateway add`,
//! `ivmd line assign`), joined with the gateway actor's live state (up or down, each line
//! idle, off-hook, ringing or in a call); and assigning a line to a user, as `ivmd line
//! assign` does (`PUT /api/admin/gateways/{gateway}/lines`). The gateway actor reads the
//! assignments from the store again every 2 s, so a change holds within that.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ivm_actors::database::Op;
use ivm_actors::gateway::GetGateways;
use ivm_store::{Store, StoreError};
use ivm_wire::rest::{GatewayInfo, GatewayLineInfo, LineAssignment};

use crate::auth::AdminUser;
use crate::error::ApiError;
use crate::AppState;

/// The stored gateways with their lines' users.
struct StoredGateways;

impl Op for StoredGateways {
    type Output = Vec<GatewayInfo>;
    fn run(self, s: &Store) -> Result<Vec<GatewayInfo>, StoreError> {
        let mut out = Vec::new();
        for g in s.gateways()? {
            let mut lines = Vec::new();
            for ep in g.endpoint_names() {
                let user = match g.lines.get(&ep) {
                    Some(u) => s.user(*u)?,
                    None => None,
                };
                lines.push(GatewayLineInfo {
                    endpoint: ep,
                    user: user.as_ref().map(|u| u.guid),
                    user_name: user.as_ref().map(|u| u.name.clone()),
                    extension: user.map(|u| u.extension),
                    state: "unknown".into(),
                });
            }
            out.push(GatewayInfo {
                name: g.name.clone(),
                protocol: g.protocol.as_str().into(),
                address: g.address.to_string(),
                state: "off".into(),
                lines,
            });
        }
        Ok(out)
    }
}

/// Assigns one line (the store checks the gateway, the endpoint and the user).
struct AssignLine {
    gateway: String,
    endpoint: String,
    user: Option<String>,
}

impl Op for AssignLine {
    type Output = ();
    fn run(self, s: &Store) -> Result<(), StoreError> {
        let user = match &self.user {
            Some(name) => Some(
                s.user_by_name(name)?
                    .ok_or_else(|| StoreError::Invalid(format!("no user {name:?}")))?
                    .guid,
            ),
            None => None,
        };
        s.assign_line(&self.gateway, &self.endpoint, user)?;
        Ok(())
    }
}

/// `GET /api/admin/gateways`: every gateway with its live state.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<GatewayInfo>>, ApiError> {
    Ok(Json(now(&state).await?))
}

/// `PUT /api/admin/gateways/{gateway}/lines`: assign a line to a user or (`"user": null`)
/// unassign it; answers every gateway as `GET` does. 404 for an unknown gateway, 400 for an
/// endpoint the gateway does not have or an unknown user.
pub async fn assign_line(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(gateway): Path<String>,
    crate::json::JsonBody(req): crate::json::JsonBody<LineAssignment>,
) -> Result<Json<Vec<GatewayInfo>>, ApiError> {
    let who = req.user.clone();
    let endpoint = req.endpoint.clone();
    state
        .db
        .call(AssignLine {
            gateway: gateway.clone(),
            endpoint: req.endpoint,
            user: req.user,
        })
        .await?;
    tracing::info!(by = %admin.user.name, gateway, endpoint, user = ?who, "line assignment changed");
    Ok(Json(now(&state).await?))
}

/// The stored gateways joined with the actor's live state.
async fn now(state: &AppState) -> Result<Vec<GatewayInfo>, ApiError> {
    let mut gateways = state.db.call(StoredGateways).await?;
    if let Some(actor) = &state.gateways {
        let live = actor.send(GetGateways).await.map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the box is shutting down",
            )
        })?;
        for g in gateways.iter_mut() {
            let now = live.iter().find(|l| l.name == g.name);
            let up = now.is_some_and(|l| l.up);
            g.state = if up { "up" } else { "down" }.into();
            for line in g.lines.iter_mut().filter(|_| up) {
                if let Some((_, st)) = now
                    .into_iter()
                    .flat_map(|l| l.lines.iter())
                    .find(|(e, _)| *e == line.endpoint)
                {
                    line.state = (*st).into();
                }
            }
        }
    }
    Ok(gateways)
}
