//! The contact list kept by the server (S2, S14) and the users directory, with live presence.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ivm_actors::client::GetPresence;
use ivm_actors::{database, views};
use ivm_store::{Store, StoreError, User};
use ivm_wire::rest::{AddContact, Contact};
use ivm_wire::Guid;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::AppState;

/// Finds a user by GUID, extension or name.
pub fn find_user(s: &Store, key: &str) -> Result<Option<User>, StoreError> {
    let key = key.trim();
    if let Ok(g) = key.parse::<Guid>() {
        s.user(g)
    } else if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
        s.user_by_extension(key)
    } else {
        s.user_by_name(&key.to_ascii_lowercase())
    }
}

/// Adds live presence to stored users.
async fn with_presence(state: &AppState, users: Vec<User>) -> Result<Vec<Contact>, ApiError> {
    let statuses = state
        .handles
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
    let me_guid = me.user.guid;
    let users = database::run(&state.handles.db, move |s| {
        let contacts = s.user(me_guid)?.map(|u| u.contacts).unwrap_or_default();
        let mut out = Vec::new();
        for c in contacts {
            if let Some(u) = s.user(c)? {
                out.push(u);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    })
    .await?;
    Ok(Json(with_presence(&state, users).await?))
}

/// `POST /api/contacts`: add a user (by name, extension or GUID) to my contacts.
pub async fn add(
    State(state): State<AppState>,
    me: AuthUser,
    crate::json::JsonBody(body): crate::json::JsonBody<AddContact>,
) -> Result<(StatusCode, Json<Contact>), ApiError> {
    let me_guid = me.user.guid;
    let key = body.user.clone();
    let user = database::run(&state.handles.db, move |s| {
        let Some(u) = find_user(s, &key)? else {
            return Ok(None);
        };
        s.add_contact(me_guid, u.guid)?;
        Ok(Some(u))
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
    let me_guid = me.user.guid;
    let found = database::run(&state.handles.db, move |s| {
        let Some(u) = find_user(s, &key)? else {
            return Ok(false);
        };
        s.remove_contact(me_guid, u.guid)?;
        Ok(true)
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
    let users = database::run(&state.handles.db, |s| s.users()).await?;
    Ok(Json(with_presence(&state, users).await?))
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
