//! Phones: the admin's phone registry (`/api/admin/phones`: list, assign, unassign, remove;
//! admins only) and the files phones fetch at boot (`GET /provision/{name}`, served on both
//! listeners; the plain-HTTP one is what phones use). Provisioning answers come from the same
//! front as the TFTP server.
//!
//! A phone's `state` joins the store (how far it ever got) with the station actor's live
//! registrations (whether it is registered now): a restart or an expired registration turns
//! "registered" back into "provisioned" without any write.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ivm_actors::database;
use ivm_actors::provisioning::{FetchError, Served};
use ivm_actors::station::{GetRegistrations, Registration};
use ivm_provision::{Mac, Vendor};
use ivm_store::{PhoneStatus, Store, StoreError, StoredPhone};
use ivm_wire::rest::{AssignPhone, PhoneAssignment, PhoneInfo, PhoneRegistration, PhoneState};

use crate::auth::AdminUser;
use crate::error::ApiError;
use crate::AppState;

/// A stored phone with its user looked up; `live` is the registrations the station reports
/// now. The phone is linked to a registration by its user; when the user has several (a desk
/// phone and a softphone), the one from the phone's own last address wins.
fn info(s: &Store, p: &StoredPhone, live: &[Registration]) -> Result<PhoneInfo, StoreError> {
    let user = match p.user {
        Some(g) => s.user(g)?,
        None => None,
    };
    let registration = user.as_ref().and_then(|u| {
        let mine = || live.iter().filter(|r| r.user == u.guid);
        mine()
            .find(|r| Some(r.source.ip()) == p.address)
            .or_else(|| mine().max_by_key(|r| r.expires_in))
            .map(|r| PhoneRegistration {
                address: r.source.to_string(),
                user_agent: r.user_agent.clone(),
                expires_in_s: r.expires_in.as_secs(),
            })
    });
    let state = match (&user, &registration, p.status) {
        (None, _, _) => PhoneState::Unassigned,
        (Some(_), Some(_), _) => PhoneState::Registered,
        // Registered before, not now: it has its account.
        (Some(_), None, PhoneStatus::Provisioned | PhoneStatus::Registered) => {
            PhoneState::Provisioned
        }
        (Some(_), None, PhoneStatus::Seen) => PhoneState::Seen,
    };
    Ok(PhoneInfo {
        mac: p.mac.to_string(),
        vendor: p.vendor.map(|v| v.name().to_owned()),
        model: p.model.clone(),
        firmware: p.firmware.clone(),
        user: user.as_ref().map(|u| u.name.clone()),
        extension: user.map(|u| u.extension),
        state,
        last_seen: p.last_seen,
        address: p.address.map(|a| a.to_string()),
        registration,
        http_auth: p.http_auth,
    })
}

fn mac(s: &str) -> Result<Mac, ApiError> {
    Mac::parse(s).map_err(|e| ApiError::bad_request(format!("MAC {s:?}: {e}")))
}

/// The station's live registrations (none when desk phones are off).
async fn live(state: &AppState) -> Result<Arc<Vec<Registration>>, ApiError> {
    Ok(Arc::new(match &state.handles.station {
        Some(st) => st.send(GetRegistrations).await.map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the box is shutting down",
            )
        })?,
        None => Vec::new(),
    }))
}

/// `GET /api/admin/phones`: every phone, assigned or seen, with its state.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<PhoneInfo>>, ApiError> {
    let live = live(&state).await?;
    let phones = database::run(&state.handles.db, move |s| {
        s.phones()?.iter().map(|p| info(s, p, &live)).collect()
    })
    .await?;
    Ok(Json(phones))
}

/// `POST /api/admin/phones`: assign a phone (known or not) to a user.
pub async fn add(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(req): Json<AssignPhone>,
) -> Result<(StatusCode, Json<PhoneInfo>), ApiError> {
    let m = mac(&req.mac)?;
    let vendor = req
        .vendor
        .map(|v| v.parse::<Vendor>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let live = live(&state).await?;
    let p = database::run(&state.handles.db, move |s| {
        let u = s
            .user_by_name(&req.user)?
            .ok_or_else(|| StoreError::Invalid(format!("no user {:?}", req.user)))?;
        let p = s.assign_phone(m, u.guid, vendor)?;
        if let Some(pw) = req.http_password.as_deref() {
            s.set_phone_http_password(m, Some(pw))?;
        }
        info(s, &s.phone(m)?.unwrap_or(p), &live)
    })
    .await?;
    tracing::info!(by = %admin.user.name, mac = %m, user = ?p.user, "phone assigned");
    Ok((StatusCode::CREATED, Json(p)))
}

/// `PUT /api/admin/phones/{mac}`: assign a known phone to a user, or (`"user": null`)
/// unassign it. 404 for a phone the box has never heard of (use `POST` to add one).
pub async fn assign(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(key): Path<String>,
    Json(req): Json<PhoneAssignment>,
) -> Result<Json<PhoneInfo>, ApiError> {
    let m = mac(&key)?;
    let live = live(&state).await?;
    let who = req.user.clone();
    let p = database::run(&state.handles.db, move |s| {
        if s.phone(m)?.is_none() {
            return Err(StoreError::NotFound);
        }
        let p = match req.user {
            Some(name) => {
                let u = s
                    .user_by_name(&name)?
                    .ok_or_else(|| StoreError::Invalid(format!("no user {name:?}")))?;
                s.assign_phone(m, u.guid, None)?
            }
            None => s.unassign_phone(m)?,
        };
        info(s, &p, &live)
    })
    .await?;
    tracing::info!(by = %admin.user.name, mac = %m, user = ?who, "phone assignment changed");
    Ok(Json(p))
}

/// `DELETE /api/admin/phones/{mac}`: forget a phone.
pub async fn remove(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(m): Path<String>,
) -> Result<StatusCode, ApiError> {
    let m = mac(&m)?;
    database::run(&state.handles.db, move |s| s.remove_phone(m)).await?;
    tracing::info!(by = %admin.user.name, mac = %m, "phone removed");
    Ok(StatusCode::NO_CONTENT)
}

/// The password of an `Authorization: Basic` header (the user name is not checked: phones
/// put their MAC or anything there).
fn basic_password(headers: &axum::http::HeaderMap) -> Option<String> {
    use base64::Engine as _;
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || b64.len() > 1024 {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.split_once(':').map(|(_, p)| p.to_owned())
}

/// `GET /provision/{name}`: a phone's config file or a firmware file. Files with a SIP
/// password go only to peers inside `[provision] subnets` (403 otherwise).
pub async fn fetch(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let Some(front) = state.provision.clone() else {
        return Err(ApiError::not_found("provisioning is off"));
    };
    match front
        .fetch(&name, peer.ip(), "http", basic_password(&headers))
        .await
    {
        Ok(Served::Generated(r)) => Ok((
            [
                (header::CONTENT_TYPE, r.content_type),
                (header::CACHE_CONTROL, "no-store"),
            ],
            r.body,
        )
            .into_response()),
        Ok(Served::File(path, _)) => {
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|_| ApiError::not_found("no such file"))?;
            Ok((
                [(header::CONTENT_TYPE, "application/octet-stream")],
                Body::from(bytes),
            )
                .into_response())
        }
        Err(FetchError::NotFound | FetchError::Unassigned) => {
            Err(ApiError::not_found("no such file"))
        }
        Err(FetchError::Unauthorized) => Ok((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"ivm-provision\"")],
            "this phone's files need its provisioning credentials\n",
        )
            .into_response()),
        Err(FetchError::Forbidden) => Err(ApiError::forbidden(
            "this file is only served inside the provisioning subnets",
        )),
        Err(FetchError::Internal(m)) => Err(ApiError::internal(m)),
    }
}
