//! Bearer-token authentication for every `/api` route but login.
//!
//! Tokens come from `POST /api/login`; the store keeps only their SHA-256 and an expiry, so a
//! copy of the database does not hand out sessions.
//!
//! A user whose password is one-time (`must_change_password`: the panel or an admin's
//! generated reset set it) gets 403 `{"error": "password change required"}` from [`AuthUser`]
//! and [`AdminUser`], so from every route but the three that take [`AnyAuthUser`]:
//! `GET /api/me`, `PUT /api/me/password` and `POST /api/logout`.

use std::time::SystemTime;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use ivm_actors::database::users::UserForToken;
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

/// The logged-in user, even one who must choose a new password first.
pub struct AnyAuthUser(pub AuthUser);

/// `ErrorBody.error` of the 403 a user with a one-time password gets.
pub const PASSWORD_CHANGE_REQUIRED: &str = "password change required";

/// The 403 for a user who must choose a new password before anything else.
pub fn password_change_required() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        PASSWORD_CHANGE_REQUIRED,
        "this password was set for you and works once: choose a new one first (PUT /api/me/password)",
    )
}

/// Extracts `Authorization: Bearer <token>`.
pub fn bearer(parts: &Parts) -> Option<&str> {
    bearer_in(&parts.headers)
}

/// `Authorization: Bearer <token>` from a header map.
pub fn bearer_in(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 128)
}

/// Looks a token up: the user, or `None` when it is unknown or expired.
pub async fn user_for_token(state: &AppState, token: String) -> Result<Option<User>, ApiError> {
    Ok(state
        .db
        .call(UserForToken {
            token,
            now: SystemTime::now(),
        })
        .await?)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AnyAuthUser(u) = AnyAuthUser::from_request_parts(parts, state).await?;
        if u.user.must_change_password {
            return Err(password_change_required());
        }
        Ok(u)
    }
}

impl FromRequestParts<AppState> for AnyAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)
            .ok_or_else(|| {
                ApiError::unauthorized("log in first: missing Authorization: Bearer token")
            })?
            .to_owned();
        match user_for_token(state, token.clone()).await? {
            Some(user) => Ok(AnyAuthUser(AuthUser { user, token })),
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
