//! The admin's view of the media gateways for analog phones (`/api/admin/gateways`, admins
//! only): the configured gateways and line assignments from the store (`ivmd gateway add`,
//! `ivmd line assign`), joined with the gateway actor's live state (up or down, each line
//! idle, off-hook, ringing or in a call).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use ivm_actors::database::Op;
use ivm_actors::gateway::GetGateways;
use ivm_store::{Store, StoreError};
use ivm_wire::rest::{GatewayInfo, GatewayLineInfo};

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

/// `GET /api/admin/gateways`: every gateway with its live state.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<GatewayInfo>>, ApiError> {
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
    Ok(Json(gateways))
}
