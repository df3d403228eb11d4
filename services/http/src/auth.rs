//! Bearer-token authentication for every `/api` route but login.
//!
//! Tokens come from `POST /api/login`; the store keeps only their SHA-256 and an expiry, so a
//! copy of the database does not hand out sessions.

use std::time::SystemTime;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use ivm_actors::database;
use ivm_store::User;

use crate::error::ApiError;
use crate::AppState;

/// The logged-in user of a request.
pub struct AuthUser {
    /// The user, as stored.
    pub user: User,
    /// The token the request carried (for logout).
    pub token: String,
}

/// The logged-in user, who must be an admin.
pub struct AdminUser(pub AuthUser);

/// Extracts `Authorization: Bearer <token>`.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 128)
}

/// Looks a token up: the user, or `None` when it is unknown or expired.
pub async fn user_for_token(state: &AppState, token: String) -> Result<Option<User>, ApiError> {
    Ok(database::run(&state.handles.db, move |s| {
        match s.session_user(&token, SystemTime::now())? {
            Some(guid) => s.user(guid),
            None => Ok(None),
        }
    })
    .await?)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)
            .ok_or_else(|| {
                ApiError::unauthorized("log in first: missing Authorization: Bearer token")
            })?
            .to_owned();
        match user_for_token(state, token.clone()).await? {
            Some(user) => Ok(AuthUser { user, token }),
            None => Err(ApiError::unauthorized(
                "the session token is unknown or has expired; log in again",
            )),
        }
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let u = AuthUser::from_request_parts(parts, state).await?;
        if !u.user.admin {
            return Err(ApiError::forbidden("this needs an administrator"));
        }
        Ok(AdminUser(u))
    }
}
