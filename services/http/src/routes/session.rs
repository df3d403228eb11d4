//! Log in, log out, who am I, my status, my password.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use ivm_actors::client::GetPresence;
use ivm_actors::client::SetStatus as SetStatusMsg;
use ivm_actors::{database, views};
use ivm_wire::rest::{ChangePassword, LoginRequest, LoginResponse, SetStatus, UserInfo};

use crate::auth::{AnyAuthUser, AuthUser};
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
        return Err(rate_limited(
            "too many failed logins; try again later",
            wait,
        ));
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
        must_change_password: user.must_change_password,
        user: views::user_info(&user, status[0]),
    }))
}

/// 429 `rate_limited` with `Retry-After` (at least one second).
fn rate_limited(message: &str, wait: std::time::Duration) -> ApiError {
    let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
    e.retry_after = Some(wait.as_secs().max(1));
    e
}

/// `PUT /api/me/password`: the user changes their own password. The current one is checked
/// with argon2id on a database thread, and wrong guesses count in the login limiter (per
/// address and per name), so a stolen session cannot be used to guess the password faster
/// than a login could. The new one must follow the box's rules and differ from the current.
/// On success the one-time flag is cleared and every other session of the user ends; the
/// caller's stays.
pub async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AnyAuthUser(me): AnyAuthUser,
    Json(req): Json<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    if req.current_password.len() > 1024 || req.new_password.len() > 1024 {
        return Err(ApiError::bad_request("password too long"));
    }
    let ip = peer.ip();
    let name = me.user.name.clone();
    let checked = state
        .logins
        .lock()
        .map_err(ApiError::internal)?
        .check(ip, &name, Instant::now());
    if let Err(wait) = checked {
        tracing::warn!(%ip, user = %name, "password change refused: too many failures");
        return Err(rate_limited(
            "too many wrong passwords; try again later",
            wait,
        ));
    }
    let guid = me.user.guid;
    let token = me.token;
    let changed = database::run(&state.handles.db, move |s| {
        s.change_own_password(guid, &req.current_password, &req.new_password, &token)
    })
    .await?;
    if !changed {
        state
            .logins
            .lock()
            .map_err(ApiError::internal)?
            .failed(ip, &name, Instant::now());
        tracing::warn!(%ip, user = %name, "password change refused: wrong current password");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_password",
            "the current password is wrong",
        ));
    }
    state
        .logins
        .lock()
        .map_err(ApiError::internal)?
        .succeeded(ip);
    tracing::info!(%ip, user = %name, "password changed by its holder");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/logout`: ends this token's session.
pub async fn logout(
    State(state): State<AppState>,
    AnyAuthUser(me): AnyAuthUser,
) -> Result<StatusCode, ApiError> {
    let token = me.token;
    database::run(&state.handles.db, move |s| s.delete_session(&token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/me` (also for a user who must choose a new password: `must_change_password`).
pub async fn me(
    State(state): State<AppState>,
    AnyAuthUser(me): AnyAuthUser,
) -> Result<Json<UserInfo>, ApiError> {
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
