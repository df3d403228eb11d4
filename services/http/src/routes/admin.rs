//! Administrator endpoints: server status, user and group management (the web client's
//! admin page).
//! Every route takes [`AdminUser`], so a non-admin gets 403.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ivm_actors::client::{GetPresence, GetStats};
use ivm_actors::database::groups::{AllGroups, ChangeGroup, CreateGroup, DeleteGroup};
use ivm_actors::database::users::{
    AllUsers, CreateUser, DeleteUser, NamesUser, NewPassword, ServerCounts, SetPassword, UpdateUser,
};
use ivm_actors::views;
use ivm_store::{NewUser, UserUpdate};
use ivm_wire::rest::{
    GroupInfo, GroupUpdateRequest, NewGroupRequest, NewUserRequest, PasswordReset, ServerStatus,
    UserCreated, UserInfo, UserUpdateRequest,
};

use crate::auth::AdminUser;
use crate::error::ApiError;
use crate::AppState;

/// `GET /api/admin/status`: uptime, connected clients, queued messages, whether it installs
/// updates, the global link.
pub async fn status(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<ServerStatus>, ApiError> {
    let stats = state.clients.send(GetStats).await?;
    let counted = state.db.call(ServerCounts).await?;
    Ok(Json(ServerStatus {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: state.started.elapsed().as_secs(),
        connected_clients: stats.sessions,
        queued_messages: counted.queued,
        users: counted.users,
        updates: state.updater.is_some(),
        global: state.global.as_ref().map(|g| g.now(counted.outbox)),
    }))
}

/// `GET /api/admin/users`: every user with presence and the admin flag.
pub async fn users(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<UserInfo>>, ApiError> {
    let users = state.db.call(AllUsers).await?;
    let statuses = state
        .clients
        .send(GetPresence(users.iter().map(|u| u.guid).collect()))
        .await?;
    Ok(Json(
        users
            .iter()
            .zip(statuses)
            .map(|(u, s)| views::user_info(u, s))
            .collect(),
    ))
}

/// `POST /api/admin/users`: add a user; the generated password is in the answer, once.
pub async fn add_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    crate::json::JsonBody(req): crate::json::JsonBody<NewUserRequest>,
) -> Result<(StatusCode, Json<UserCreated>), ApiError> {
    let generated = req.password.is_none().then(ivm_store::generate_password);
    let password = req
        .password
        .or_else(|| generated.clone())
        .unwrap_or_default();
    let new = NewUser {
        name: req.name,
        extension: req.extension,
        display_name: req.display_name,
        password,
        admin: req.admin,
    };
    // A password made up by the box is one-time; one the admin chose is the user's.
    let one_time = generated.is_some();
    let user = state.db.call(CreateUser { new, one_time }).await?;
    tracing::info!(by = %admin.user.name, user = %user.name, "user added");
    Ok((
        StatusCode::CREATED,
        Json(UserCreated {
            user: views::user_info(&user, ivm_wire::Status::Offline),
            password: generated,
        }),
    ))
}

/// `PATCH /api/admin/users/{user}`: change display name, extension or admin flag.
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(key): Path<String>,
    crate::json::JsonBody(req): crate::json::JsonBody<UserUpdateRequest>,
) -> Result<Json<UserInfo>, ApiError> {
    let me = admin.user.guid;
    if req.admin == Some(false) && key_is(&state, &key, me).await? {
        return Err(ApiError::bad_request(
            "you cannot revoke your own administration",
        ));
    }
    let user = state
        .db
        .call(UpdateUser {
            key,
            update: UserUpdate {
                display_name: req.display_name,
                extension: req.extension,
                admin: req.admin,
                may_all_call: req.may_all_call,
            },
        })
        .await?;
    let status = state.clients.send(GetPresence(vec![user.guid])).await?;
    Ok(Json(views::user_info(&user, status[0])))
}

/// `POST /api/admin/users/{user}/password`: set or generate a password; ends their sessions.
/// A generated one is one-time: the user must choose their own after logging in with it.
pub async fn reset_password(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(key): Path<String>,
    crate::json::JsonBody(req): crate::json::JsonBody<PasswordReset>,
) -> Result<Json<UserCreated>, ApiError> {
    let generated = req.password.is_none().then(ivm_store::generate_password);
    let password = match (req.password, generated.clone()) {
        (Some(chosen), _) => NewPassword::Chosen(chosen),
        // Made up by the box: one-time, the user must choose their own at next login.
        (None, Some(made)) => NewPassword::OneTime(made),
        (None, None) => return Err(ApiError::bad_request("no password")),
    };
    let user = state.db.call(SetPassword { key, password }).await?;
    tracing::info!(by = %admin.user.name, user = %user.name, "password reset");
    Ok(Json(UserCreated {
        user: views::user_info(&user, ivm_wire::Status::Offline),
        password: generated,
    }))
}

/// `DELETE /api/admin/users/{user}`: removes the user (not yourself: that would lock you out).
pub async fn delete_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    if key_is(&state, &key, admin.user.guid).await? {
        return Err(ApiError::bad_request("you cannot delete yourself"));
    }
    let name = state.db.call(DeleteUser { key }).await?;
    tracing::info!(by = %admin.user.name, user = %name, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn key_is(state: &AppState, key: &str, guid: ivm_wire::Guid) -> Result<bool, ApiError> {
    Ok(state
        .db
        .call(NamesUser {
            key: key.to_owned(),
            user: guid,
        })
        .await?)
}

/// `GET /api/admin/groups`: the built-in `everyone`, then every group by name, with members.
pub async fn groups(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<GroupInfo>>, ApiError> {
    Ok(Json(state.db.call(AllGroups).await?))
}

/// `POST /api/admin/groups`: make a group (members by name, extension or GUID).
pub async fn add_group(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    crate::json::JsonBody(req): crate::json::JsonBody<NewGroupRequest>,
) -> Result<(StatusCode, Json<GroupInfo>), ApiError> {
    let group = state
        .db
        .call(CreateGroup {
            name: req.name,
            members: req.members,
        })
        .await?;
    tracing::info!(by = %admin.user.name, group = %group.name, "group added");
    Ok((StatusCode::CREATED, Json(group)))
}

/// `PATCH /api/admin/groups/{group}`: replace the members and/or add and remove some.
pub async fn update_group(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(name): Path<String>,
    crate::json::JsonBody(req): crate::json::JsonBody<GroupUpdateRequest>,
) -> Result<Json<GroupInfo>, ApiError> {
    let group = state
        .db
        .call(ChangeGroup {
            name,
            set: req.members,
            add: req.add,
            remove: req.remove,
        })
        .await?;
    tracing::info!(by = %admin.user.name, group = %group.name, "group changed");
    Ok(Json(group))
}

/// `DELETE /api/admin/groups/{group}`: delete a group (not `everyone`).
pub async fn delete_group(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.db.call(DeleteGroup { name: name.clone() }).await?;
    tracing::info!(by = %admin.user.name, group = %name, "group deleted");
    Ok(StatusCode::NO_CONTENT)
}
