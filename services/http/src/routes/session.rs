//! Log in, log out, who am I, my status, my password.
//!
//! A password check is the one expensive thing an unauthenticated peer can ask for, so it
//! goes: the login limiter first (the attempt is reserved as a failure before anything is
//! checked, see [`crate::ratelimit`]), a database thread reads the stored hash, the password
//! pool runs argon2 ([`crate::password_pool`]: a full queue answers 503 at once), and a
//! database thread commits the session, checking the hash is still the one verified and
//! using up a one-time password in the same transaction.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use ivm_actors::client::GetPresence;
use ivm_actors::client::SetStatus as SetStatusMsg;
use ivm_actors::database::users::{
    CallsOf, EndSession, LoginCandidateFor, OpenSession, PasswordCandidateFor, PatchCallSettingsOf,
    ReplaceOwnPassword,
};
use ivm_actors::views;
use ivm_store::{LoginRefusal, Opened, StoreError, User};
use ivm_wire::rest::{
    CallRecord, CallSettingsView, ChangePassword, LoginRequest, LoginResponse, PatchCallSettings,
    SetStatus, UserInfo,
};
use ivm_wire::Status;

use crate::auth::{AnyAuthUser, AuthUser};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::AppState;

/// `ErrorBody.error` of a login with an expired one-time password.
pub const ONE_TIME_EXPIRED: &str = "one_time_password_expired";

/// What checking a login came to (one value per login, moved once: not boxed).
#[allow(clippy::large_enum_variant)]
enum Checked {
    /// A session was opened.
    Session {
        token: String,
        expires_at: u64,
        user: User,
    },
    /// Wrong name or password, or a one-time password already used: one failure.
    Wrong,
    /// A right one-time password past its lifetime.
    Expired,
}

/// Reads the hash, checks the password on the pool, opens the session.
async fn check_login(
    state: &AppState,
    name: String,
    password: String,
) -> Result<Checked, ApiError> {
    let db = &state.db;
    let candidate = db.call(LoginCandidateFor { name }).await?;
    let c = candidate.clone();
    let right = state.passwords.run(move || c.verify(&password)).await??;
    if !right {
        return Ok(Checked::Wrong);
    }
    let (ttl, one_time_ttl) = (state.cfg.session_ttl, state.cfg.one_time_password_ttl);
    let opened = db
        .call(OpenSession {
            candidate,
            ttl,
            one_time_ttl,
            now: SystemTime::now(),
        })
        .await?;
    Ok(match opened {
        Opened::Session {
            token,
            expires_at,
            user,
        } => Checked::Session {
            token,
            expires_at,
            user,
        },
        Opened::Refused(LoginRefusal::OneTimeExpired) => Checked::Expired,
        Opened::Refused(LoginRefusal::OneTimeUsed | LoginRefusal::Changed) => Checked::Wrong,
    })
}

/// `POST /api/login`: throttled per (address, name), per address and per name; the password
/// is checked off the database threads; answers a bearer token.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    if req.name.len() > 64 || req.password.len() > 1024 {
        return Err(ApiError::bad_request("name or password too long"));
    }
    let name = req.name.trim().to_ascii_lowercase();
    let ip = peer.ip();
    let begun = state
        .logins
        .lock()
        .map_err(ApiError::internal)?
        .begin(ip, &name, Instant::now());
    let attempt = match begun {
        Ok(a) => a,
        Err(wait) => {
            tracing::warn!(%ip, user = %name, retry_after_s = wait.as_secs().max(1), "login refused: too many failures");
            return Err(ApiError::rate_limited(
                format!(
                    "too many failed logins; try again in {} seconds",
                    wait.as_secs().max(1)
                ),
                wait,
            ));
        }
    };
    let checked = check_login(&state, name.clone(), req.password).await;
    {
        let mut limiter = state.logins.lock().map_err(ApiError::internal)?;
        match &checked {
            Ok(Checked::Session { .. }) => limiter.succeeded(attempt, Instant::now()),
            // Counted already: the reservation stays a failure.
            Ok(Checked::Wrong) => drop(attempt),
            Ok(Checked::Expired) | Err(_) => limiter.cancelled(attempt),
        }
    }
    let (token, expires_at, user) = match checked? {
        Checked::Session {
            token,
            expires_at,
            user,
        } => (token, expires_at, user),
        Checked::Wrong => {
            tracing::warn!(%ip, user = %name, "login failed: wrong user name or password");
            return Err(ApiError::unauthorized("wrong user name or password"));
        }
        Checked::Expired => {
            tracing::warn!(%ip, user = %name, "login refused: one-time password expired");
            let hours = state.cfg.one_time_password_ttl.as_secs() / 3600;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ONE_TIME_EXPIRED,
                format!(
                    "this one-time password has expired (they last {hours} hours); ask an administrator for a new one (or set one on the box's front panel)"
                ),
            ));
        }
    };
    tracing::info!(%ip, user = %user.name, one_time = user.must_change_password, "logged in");
    let status = state.clients.send(GetPresence(vec![user.guid])).await?;
    Ok(Json(LoginResponse {
        token,
        expires_at,
        must_change_password: user.must_change_password,
        user: views::user_info(&user, status[0]),
    }))
}

/// Checks the current password and hashes the new one on the pool, then stores it; `false`
/// when the current one is wrong.
async fn check_change(
    state: &AppState,
    me: &crate::auth::AuthUser,
    current: String,
    new: String,
) -> Result<bool, ApiError> {
    let guid = me.user.guid;
    let db = &state.db;
    let candidate = db.call(PasswordCandidateFor { user: guid }).await?;
    let c = candidate.clone();
    let hashed = state
        .passwords
        .run(move || {
            if !c.verify(&current)? {
                return Ok::<_, StoreError>(None);
            }
            ivm_store::hash_password(&new).map(Some)
        })
        .await??;
    let Some(hash) = hashed else {
        return Ok(false);
    };
    let replaced = db
        .call(ReplaceOwnPassword {
            candidate,
            hash,
            keep_token: me.token.clone(),
        })
        .await?;
    if !replaced {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "your password was changed meanwhile (by an administrator?); log in again",
        ));
    }
    Ok(true)
}

/// `PUT /api/me/password`: the user changes their own password. The new one must follow the
/// box's rules and differ from the current one (checked first: nothing to guess from that);
/// the current one is checked like a login, in the same limiter (per address and name), so
/// a stolen session cannot guess the password faster than a login could. On success the
/// one-time flag is cleared and every other session of the user ends; the caller's stays.
pub async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AnyAuthUser(me): AnyAuthUser,
    JsonBody(req): JsonBody<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    if req.current_password.len() > 1024 || req.new_password.len() > 1024 {
        return Err(ApiError::bad_request("password too long"));
    }
    ivm_store::validate_password(&req.new_password)?;
    if req.new_password == req.current_password {
        return Err(ApiError::bad_request(
            "the new password must differ from the current one",
        ));
    }
    let ip = peer.ip();
    let name = me.user.name.clone();
    let begun = state
        .logins
        .lock()
        .map_err(ApiError::internal)?
        .begin(ip, &name, Instant::now());
    let attempt = match begun {
        Ok(a) => a,
        Err(wait) => {
            tracing::warn!(%ip, user = %name, "password change refused: too many failures");
            return Err(ApiError::rate_limited(
                format!(
                    "too many wrong passwords; try again in {} seconds",
                    wait.as_secs().max(1)
                ),
                wait,
            ));
        }
    };
    let changed = check_change(&state, &me, req.current_password, req.new_password).await;
    {
        let mut limiter = state.logins.lock().map_err(ApiError::internal)?;
        match &changed {
            Ok(true) => limiter.succeeded(attempt, Instant::now()),
            Ok(false) => drop(attempt),
            Err(_) => limiter.cancelled(attempt),
        }
    }
    if !changed? {
        tracing::warn!(%ip, user = %name, "password change refused: wrong current password");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_password",
            "the current password is wrong",
        ));
    }
    tracing::info!(%ip, user = %name, "password changed by its holder");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/logout`: ends this token's session.
pub async fn logout(
    State(state): State<AppState>,
    AnyAuthUser(me): AnyAuthUser,
) -> Result<StatusCode, ApiError> {
    state.db.call(EndSession { token: me.token }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/me` (also for a user who must choose a new password: `must_change_password`).
pub async fn me(
    State(state): State<AppState>,
    AnyAuthUser(me): AnyAuthUser,
) -> Result<Json<UserInfo>, ApiError> {
    let status = state.clients.send(GetPresence(vec![me.user.guid])).await?;
    Ok(Json(views::user_info(&me.user, status[0])))
}

/// `PUT /api/me/status`.
pub async fn set_status(
    State(state): State<AppState>,
    me: AuthUser,
    JsonBody(body): JsonBody<SetStatus>,
) -> Result<StatusCode, ApiError> {
    state
        .clients
        .send(SetStatusMsg {
            user: me.user.guid,
            status: body.status,
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/me/settings`: my forwards, message taking and do-not-disturb. `dnd` is the
/// stored status (busy), which is what calls honour, not the live presence (which is
/// offline while no client or phone of mine is connected).
pub async fn settings(me: AuthUser) -> Result<Json<CallSettingsView>, ApiError> {
    Ok(Json(CallSettingsView {
        settings: me.user.calls,
        dnd: me.user.status == Status::Busy,
    }))
}

/// `GET /api/me/calls`: my call history (calls between extensions), newest first. Only
/// mine: the path names no user.
pub async fn calls(
    State(state): State<AppState>,
    me: AuthUser,
) -> Result<Json<Vec<CallRecord>>, ApiError> {
    Ok(Json(state.db.call(CallsOf { user: me.user.guid }).await?))
}

/// `PATCH /api/me/settings`: changes only the fields given, only mine (the path has no user:
/// nobody can name another's). Do-not-disturb sets my status (busy, or available), as
/// `PUT /api/me/status` does. A bad forward target or delay is a 400 and changes nothing
/// (do-not-disturb is set only once the rest is stored).
pub async fn patch_settings(
    State(state): State<AppState>,
    me: AuthUser,
    JsonBody(body): JsonBody<PatchCallSettings>,
) -> Result<Json<CallSettingsView>, ApiError> {
    let dnd = body.dnd;
    let settings = state
        .db
        .call(PatchCallSettingsOf {
            user: me.user.guid,
            patch: body,
        })
        .await?;
    if let Some(on) = dnd {
        let status = if on { Status::Busy } else { Status::Available };
        state
            .clients
            .send(SetStatusMsg {
                user: me.user.guid,
                status,
            })
            .await??;
    }
    Ok(Json(CallSettingsView {
        settings,
        dnd: dnd.unwrap_or(me.user.status == Status::Busy),
    }))
}
