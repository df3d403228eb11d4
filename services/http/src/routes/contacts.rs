//! The contact list kept by the server with each user's record and the users directory, with live
//! presence.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ivm_actors::client::GetPresence;
use ivm_actors::database::users::{self, AllUsers, ContactsOf, RemoveContact};
use ivm_actors::views;
use ivm_store::User;
use ivm_wire::rest::{AddContact, Contact};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::AppState;

/// Adds live presence to stored users.
async fn with_presence(state: &AppState, users: Vec<User>) -> Result<Vec<Contact>, ApiError> {
    let statuses = state
        .clients
        .send(GetPresence(users.iter().map(|u| u.guid).collect()))
        .await?;
    Ok(users
        .iter()
        .zip(statuses)
        .map(|(u, s)| views::contact(u, s))
        .collect())
}

/// `GET /api/contacts`: my contacts with presence.
pub async fn list(
    State(state): State<AppState>,
    me: AuthUser,
) -> Result<Json<Vec<Contact>>, ApiError> {
    let users = state.db.call(ContactsOf { user: me.user.guid }).await?;
    Ok(Json(with_presence(&state, users).await?))
}

/// `POST /api/contacts`: add a user (by name, extension or GUID) to my contacts.
pub async fn add(
    State(state): State<AppState>,
    me: AuthUser,
    crate::json::JsonBody(body): crate::json::JsonBody<AddContact>,
) -> Result<(StatusCode, Json<Contact>), ApiError> {
    let user = state
        .db
        .call(users::AddContact {
            user: me.user.guid,
            key: body.user.clone(),
        })
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_user",
                format!("unknown user {:?}", truncate(&body.user)),
            )
        })?;
    let contact = with_presence(&state, vec![user]).await?.remove(0);
    Ok((StatusCode::CREATED, Json(contact)))
}

/// `DELETE /api/contacts/{user}`: remove a contact (by GUID, extension or name).
pub async fn remove(
    State(state): State<AppState>,
    me: AuthUser,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let found = state
        .db
        .call(RemoveContact {
            user: me.user.guid,
            key,
        })
        .await?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_user",
            "unknown user",
        ))
    }
}

/// `GET /api/users`: everyone on this box, with presence.
pub async fn directory(
    State(state): State<AppState>,
    _me: AuthUser,
) -> Result<Json<Vec<Contact>>, ApiError> {
    let users = state.db.call(AllUsers).await?;
    Ok(Json(with_presence(&state, users).await?))
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
