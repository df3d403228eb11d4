//! Phones: the admin's phone registry (`/api/admin/phones`: list, assign, unassign, remove,
//! re-arm, show a phone's own secrets; admins only) and the files phones fetch at boot
//! (`GET /provision/{name}`, served on both listeners; the plain-HTTP one is what phones
//! use). Provisioning answers come from the same front as the TFTP server.
//!
//! A phone's `state` joins the store (how far it ever got) with the station actor's live
//! registrations (whether it is registered now): a restart or an expired registration turns
//! "registered" back into "provisioned" without any write. Lists flush the front's pending
//! sightings first, so a phone that just asked is listed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ivm_actors::database;
use ivm_actors::provisioning::{FetchError, HttpCredentials, Served};
use ivm_actors::station::{GetRegistrations, Registration};
use ivm_provision::{Mac, Vendor, Via};
use ivm_store::{PhoneStatus, Store, StoreError, StoredPhone};
use ivm_wire::rest::{
    AssignPhone, PhoneAssignment, PhoneInfo, PhoneRegistration, PhoneSecretsInfo, PhoneState,
};

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
        armed_until: p.armed(now_unix()).then_some(p.armed_until).flatten(),
        bound_at: p.bound_at,
        bound_address: p.bound_address.map(|a| a.to_string()),
        manual_credential: p.manual_credential,
    })
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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

/// Writes the provisioning front's pending sightings, so a list shows the phones that just
/// asked (a failure is logged; the list is then a few seconds behind).
async fn flush(state: &AppState) {
    if let Some(front) = &state.provision {
        if let Err(e) = front.sightings().flush(&state.handles.db).await {
            tracing::warn!(error = %e, "phone sightings not written");
        }
    }
}

/// Until when a phone assigned or armed now stays armed (`None`: arming is off, or
/// provisioning is).
fn arm_until(state: &AppState) -> Option<SystemTime> {
    state.provision.as_ref().and_then(|f| f.arm_until())
}

/// `GET /api/admin/phones`: every phone, assigned or seen, with its state.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<PhoneInfo>>, ApiError> {
    flush(&state).await;
    let live = live(&state).await?;
    let phones = database::run(&state.handles.db, move |s| {
        s.phones()?.iter().map(|p| info(s, p, &live)).collect()
    })
    .await?;
    Ok(Json(phones))
}

/// `POST /api/admin/phones`: assign a phone (known or not) to a user. A phone of another
/// user: 409 `phone_assigned` unless `"reassign": true`.
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
    flush(&state).await;
    let live = live(&state).await?;
    let until = arm_until(&state);
    let p = database::run(&state.handles.db, move |s| {
        let u = s
            .user_by_name(&req.user)?
            .ok_or_else(|| StoreError::Invalid(format!("no user {:?}", req.user)))?;
        let p = s.assign_phone_to(m, u.guid, vendor, until, req.reassign)?;
        if let Some(pw) = req.http_password.as_deref() {
            s.set_phone_credential(m, Some(pw))?;
        }
        info(s, &s.phone(m)?.unwrap_or(p), &live)
    })
    .await?;
    tracing::info!(by = %admin.user.name, mac = %m, user = ?p.user, "phone assigned");
    Ok((StatusCode::CREATED, Json(p)))
}

/// `PUT /api/admin/phones/{mac}`: assign a known phone to a user, or (`"user": null`)
/// unassign it. This names the phone and sets its user, so it moves a phone from another
/// user without a `reassign` flag (the admin page's *Reassign*). 404 for a phone the box has never heard of (use `POST` to add one).
pub async fn assign(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(key): Path<String>,
    Json(req): Json<PhoneAssignment>,
) -> Result<Json<PhoneInfo>, ApiError> {
    let m = mac(&key)?;
    flush(&state).await;
    let live = live(&state).await?;
    let who = req.user.clone();
    let until = arm_until(&state);
    let p = database::run(&state.handles.db, move |s| {
        if s.phone(m)?.is_none() {
            return Err(StoreError::NotFound);
        }
        let p = match req.user {
            Some(name) => {
                let u = s
                    .user_by_name(&name)?
                    .ok_or_else(|| StoreError::Invalid(format!("no user {name:?}")))?;
                s.assign_phone(m, u.guid, None, until)?
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

/// `POST /api/admin/phones/{mac}/arm`: re-arm a phone that was replaced or reset (it lost
/// its credential): its binding is dropped, a generated credential replaced, and its next
/// account-file request from inside the provisioning subnets gets the file once. 404 for an
/// unknown phone, 409 when arming is off (`[provision] arm_window_s = 0`).
pub async fn arm(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(key): Path<String>,
) -> Result<Json<PhoneInfo>, ApiError> {
    let m = mac(&key)?;
    let Some(until) = arm_until(&state) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "arming_off",
            "arming is off on this box ([provision] arm_window_s = 0): phones need their credential",
        ));
    };
    flush(&state).await;
    let live = live(&state).await?;
    let p = database::run(&state.handles.db, move |s| {
        let p = s.arm_phone(m, until)?;
        info(s, &p, &live)
    })
    .await?;
    tracing::info!(by = %admin.user.name, mac = %m, armed_until = ?p.armed_until, "phone re-armed");
    Ok(Json(p))
}

/// `GET /api/admin/phones/{mac}/secrets`: the phone's own secrets (made now if it has none
/// yet): its web interface's admin password and its provisioning credential. 404 for an
/// unknown phone.
pub async fn secrets(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(key): Path<String>,
) -> Result<Json<PhoneSecretsInfo>, ApiError> {
    let m = mac(&key)?;
    let url = state
        .provision
        .as_ref()
        .map(|f| f.provision_url().to_owned())
        .unwrap_or_default();
    let x = database::run(&state.handles.db, move |s| s.phone_secrets(m)).await?;
    tracing::info!(by = %admin.user.name, mac = %m, "phone secrets shown");
    Ok(Json(PhoneSecretsInfo {
        mac: m.to_string(),
        admin_user: "admin".into(),
        admin_password: x.admin_password,
        provision_url: url,
        provision_user: x.provision_user,
        provision_password: x.provision_password,
    }))
}

/// `GET /provision/{name}`: a phone's config file or a firmware file. A per-phone file goes
/// only to peers inside `[provision] subnets` (403 otherwise), and then only to the armed
/// phone's first fetch or with the phone's credential (401 with Digest and Basic challenges
/// otherwise; 429 after repeated wrong ones).
pub async fn fetch(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let Some(front) = state.provision.clone() else {
        return Err(ApiError::not_found("provisioning is off"));
    };
    let credentials = HttpCredentials {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        path: uri.path().to_owned(),
    };
    match front
        .fetch(&name, peer.ip(), Via::Http, Some(credentials))
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
        Err(FetchError::Unauthorized { challenges }) => {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                [(header::CACHE_CONTROL, "no-store")],
                "this phone's files need its provisioning credential\n",
            )
                .into_response();
            for c in challenges {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    r.headers_mut().append(header::WWW_AUTHENTICATE, v);
                }
            }
            Ok(r)
        }
        Err(FetchError::TooManyAttempts { retry_after }) => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(
                header::RETRY_AFTER,
                retry_after.as_secs().max(1).to_string(),
            )],
            "too many wrong credentials for this phone from this address\n",
        )
            .into_response()),
        Err(FetchError::Forbidden) => Err(ApiError::forbidden(
            "this phone's files are not served to this address",
        )),
        Err(FetchError::Internal(m)) => Err(ApiError::internal(m)),
    }
}
