//! Phones: the admin's phone registry (`/api/admin/phones`) and the files phones fetch at
//! boot (`GET /provision/{name}`, served on both listeners; the plain-HTTP one is what phones
//! use). Provisioning answers come from the same front as the TFTP server.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ivm_actors::database;
use ivm_actors::provisioning::{FetchError, Served};
use ivm_provision::{Mac, Vendor};
use ivm_store::{Store, StoreError, StoredPhone};
use serde::{Deserialize, Serialize};

use crate::auth::AdminUser;
use crate::error::ApiError;
use crate::AppState;

/// A phone as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhoneInfo {
    /// MAC, 12 lower-case hex digits.
    pub mac: String,
    /// Vendor, when known.
    pub vendor: Option<String>,
    /// Model, when known.
    pub model: Option<String>,
    /// Login name of the assigned user; `null`: seen, unassigned.
    pub user: Option<String>,
    /// The user's extension.
    pub extension: Option<String>,
    /// `unassigned`, `seen`, `provisioned` or `registered`.
    pub status: String,
    /// Unix seconds of the last DHCP/TFTP/HTTP request; 0 when never seen.
    pub last_seen: u64,
}

/// `POST /api/admin/phones` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPhone {
    /// MAC in any common spelling.
    pub mac: String,
    /// Login name of the user.
    pub user: String,
    /// Vendor; from the MAC prefix when left out.
    #[serde(default)]
    pub vendor: Option<String>,
    /// Password the phone must give (HTTP Basic) for its files.
    #[serde(default)]
    pub http_password: Option<String>,
}

fn info(s: &Store, p: &StoredPhone) -> Result<PhoneInfo, StoreError> {
    let user = match p.user {
        Some(g) => s.user(g)?,
        None => None,
    };
    Ok(PhoneInfo {
        mac: p.mac.to_string(),
        vendor: p.vendor.map(|v| v.name().to_owned()),
        model: p.model.clone(),
        status: if user.is_some() {
            p.status.as_str().to_owned()
        } else {
            "unassigned".to_owned()
        },
        user: user.as_ref().map(|u| u.name.clone()),
        extension: user.map(|u| u.extension),
        last_seen: p.last_seen,
    })
}

fn mac(s: &str) -> Result<Mac, ApiError> {
    Mac::parse(s).map_err(|e| ApiError::bad_request(format!("MAC {s:?}: {e}")))
}

/// `GET /api/admin/phones`: every phone, assigned or seen.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<PhoneInfo>>, ApiError> {
    let phones = database::run(&state.handles.db, |s| {
        s.phones()?.iter().map(|p| info(s, p)).collect()
    })
    .await?;
    Ok(Json(phones))
}

/// `POST /api/admin/phones`: assign a phone to a user.
pub async fn add(
    State(state): State<AppState>,
    _admin: AdminUser,
    Json(req): Json<NewPhone>,
) -> Result<(StatusCode, Json<PhoneInfo>), ApiError> {
    let m = mac(&req.mac)?;
    let vendor = req
        .vendor
        .map(|v| v.parse::<Vendor>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let p = database::run(&state.handles.db, move |s| {
        let u = s
            .user_by_name(&req.user)?
            .ok_or_else(|| StoreError::Invalid(format!("no user {:?}", req.user)))?;
        let p = s.assign_phone(m, u.guid, vendor)?;
        if let Some(pw) = req.http_password.as_deref() {
            s.set_phone_http_password(m, Some(pw))?;
        }
        info(s, &p)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(p)))
}

/// `DELETE /api/admin/phones/{mac}`: forget a phone.
pub async fn remove(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(m): Path<String>,
) -> Result<StatusCode, ApiError> {
    let m = mac(&m)?;
    database::run(&state.handles.db, move |s| s.remove_phone(m)).await?;
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
