//! Log in, log out, who am I, my status.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use ivm_actors::client::GetPresence;
use ivm_actors::client::SetStatus as SetStatusMsg;
use ivm_actors::{database, views};
use ivm_wire::rest::{LoginRequest, LoginResponse, SetStatus, UserInfo};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::AppState;

/// `POST /api/login`: password check (argon2id on a database thread), throttled per address
/// and per name; answers a bearer token.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    if req.name.len() > 64 || req.password.len() > 1024 {
        return Err(ApiError::bad_request("name or password too long"));
    }
    let name = req.name.trim().to_ascii_lowercase();
    let ip = peer.ip();
    let checked = state
        .logins
        .lock()
        .map_err(ApiError::internal)?
        .check(ip, &name, Instant::now());
    if let Err(wait) = checked {
        tracing::warn!(%ip, user = %name, "login refused: too many failures");
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many failed logins; try again later",
        );
        e.retry_after = Some(wait.as_secs().max(1));
        return Err(e);
    }
    let ttl = state.cfg.session_ttl;
    let n = name.clone();
    let result = database::run(&state.handles.db, move |s| {
        match s.verify_password(&n, &req.password)? {
            Some(user) => {
                let (token, expires_at) = s.create_session(user.guid, ttl, SystemTime::now())?;
                Ok(Some((user, token, expires_at)))
            }
            None => Ok(None),
        }
    })
    .await?;
    let Some((user, token, expires_at)) = result else {
        state
            .logins
            .lock()
            .map_err(ApiError::internal)?
            .failed(ip, &name, Instant::now());
        tracing::warn!(%ip, user = %name, "login failed: wrong user name or password");
        return Err(ApiError::unauthorized("wrong user name or password"));
    };
    state
        .logins
        .lock()
        .map_err(ApiError::internal)?
        .succeeded(ip);
    tracing::info!(%ip, user = %user.name, "logged in");
    let status = state
        .handles
        .clients
        .send(GetPresence(vec![user.guid]))
        .await?;
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user: views::user_info(&user, status[0]),
    }))
}

/// `POST /api/logout`: ends this token's session.
pub async fn logout(State(state): State<AppState>, me: AuthUser) -> Result<StatusCode, ApiError> {
    let token = me.token;
    database::run(&state.handles.db, move |s| s.delete_session(&token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/me`.
pub async fn me(State(state): State<AppState>, me: AuthUser) -> Result<Json<UserInfo>, ApiError> {
    let status = state
        .handles
        .clients
        .send(GetPresence(vec![me.user.guid]))
        .await?;
    Ok(Json(views::user_info(&me.user, status[0])))
}

/// `PUT /api/me/status`.
pub async fn set_status(
    State(state): State<AppState>,
    me: AuthUser,
    Json(body): Json<SetStatus>,
) -> Result<StatusCode, ApiError> {
    state
        .handles
        .clients
        .send(SetStatusMsg {
            user: me.user.guid,
            status: body.status,
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}
