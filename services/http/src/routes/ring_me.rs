//! Desk phones from the web: `POST /api/ring-me` rings the user's registered desk phone to record a
//! message (recording from a desk phone).
//!
//! The answer comes when the phone is answered, not when the message is sent: a recording may
//! last minutes (until `#`, hang-up, the silence timeout or the length limit), longer than a
//! request should hang. So: `202 Accepted` with `{"state":"recording"}` once the user picks up
//! (the message then goes out through the normal path and reaches the sender's clients like
//! any sent message: `GET /api/messages/sent`, the `sent` push on the WebSocket), or an
//! [`ErrorBody`](ivm_wire::rest::ErrorBody): `408 no_answer` when the phone is not answered
//! within the ring timeout (30 s by default, `[sip] ring_timeout_s`), `409 no_phone` when the
//! user has no registered phone, `409 phone_busy` when it is in a call, `409 declined` when
//! the phone refused, `400 unknown_user` for a recipient that does not exist, `503` when desk
//! phones are off.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use ivm_actors::station::{RingMe, StationError};
use serde::{Deserialize, Serialize};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::AppState;

/// Body of `POST /api/ring-me`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingMeRequest {
    /// Recipients: names, extensions or GUIDs.
    pub to: Vec<String>,
}

/// Answer of `POST /api/ring-me`: the phone was answered and is recording.
#[derive(Debug, Serialize)]
pub struct RingMeStarted {
    /// Always `"recording"`.
    pub state: &'static str,
}

/// Most recipients in one request.
const MAX_RECIPIENTS: usize = 32;

impl From<StationError> for ApiError {
    fn from(e: StationError) -> Self {
        let msg = e.to_string();
        match e {
            StationError::NotRegistered => ApiError::new(StatusCode::CONFLICT, "no_phone", msg),
            StationError::Busy => ApiError::new(StatusCode::CONFLICT, "phone_busy", msg),
            StationError::NoAnswer(_) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "no_answer", msg)
            }
            StationError::Declined(_) => ApiError::new(StatusCode::CONFLICT, "declined", msg),
            StationError::UnknownRecipient(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "unknown_user", msg)
            }
            StationError::NoRecipients => ApiError::bad_request(msg),
            StationError::Internal(m) => ApiError::internal(m),
        }
    }
}

/// `POST /api/ring-me`: rings my desk phone; on answer it beeps and records a message to `to`.
pub async fn ring_me(
    State(state): State<AppState>,
    me: AuthUser,
    Json(body): Json<RingMeRequest>,
) -> Result<(StatusCode, Json<RingMeStarted>), ApiError> {
    if body.to.iter().all(|t| t.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "a message needs at least one recipient",
        ));
    }
    if body.to.len() > MAX_RECIPIENTS || body.to.iter().any(|t| t.len() > 200) {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_RECIPIENTS} recipients"
        )));
    }
    let Some(phones) = state.phones.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "desk phones are turned off on this box",
        ));
    };
    phones
        .ring_me
        .send(RingMe {
            user: me.user.guid,
            to: body.to,
        })
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the box is shutting down",
            )
        })??;
    Ok((
        StatusCode::ACCEPTED,
        Json(RingMeStarted { state: "recording" }),
    ))
}
