//! The admin's phone registry (`/api/admin/phones`: list, assign, unassign, remove, re-arm,
//! show a phone's own secrets; admins only). The files phones fetch are in `provision.rs`.
//!
//! A phone's `state` joins the store (how far it ever got) with the station actor's live
//! registrations (whether it is registered now): a restart or an expired registration turns
//! "registered" back into "provisioned" without any write. Lists flush the front's pending
//! sightings first, so a phone that just asked is listed.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ivm_actors::database::phones::{
    AddPhone, ArmPhone, AsPhoneInfo, PhoneList, PhoneSecretsOf, RemovePhone, SetPhoneUser,
};
use ivm_actors::station::{GetRegistrations, Registration};
use ivm_provision::{Mac, Vendor};
use ivm_wire::rest::{AssignPhone, PhoneAssignment, PhoneInfo, PhoneSecretsInfo};

use crate::auth::AdminUser;
use crate::error::ApiError;
use crate::AppState;

fn mac(s: &str) -> Result<Mac, ApiError> {
    Mac::parse(s).map_err(|e| ApiError::bad_request(format!("MAC {s:?}: {e}")))
}

/// The station's live registrations (none when desk phones are off).
async fn live(state: &AppState) -> Result<Arc<Vec<Registration>>, ApiError> {
    Ok(Arc::new(match &state.phones {
        Some(p) => p.registrations.send(GetRegistrations).await.map_err(|_| {
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
        if let Err(e) = front.sightings().flush(&state.db).await {
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
    let registrations = live(&state).await?;
    let phones = state.db.call(PhoneList { registrations }).await?;
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
    let registrations = live(&state).await?;
    let op = AddPhone {
        mac: m,
        user: req.user,
        vendor,
        until: arm_until(&state),
        reassign: req.reassign,
        http_password: req.http_password,
    };
    let p = state.db.call(AsPhoneInfo { op, registrations }).await?;
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
    let registrations = live(&state).await?;
    let who = req.user.clone();
    let op = SetPhoneUser {
        mac: m,
        user: req.user,
        until: arm_until(&state),
    };
    let p = state.db.call(AsPhoneInfo { op, registrations }).await?;
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
    state.db.call(RemovePhone { mac: m }).await?;
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
    let registrations = live(&state).await?;
    let p = state
        .db
        .call(AsPhoneInfo {
            op: ArmPhone { mac: m, until },
            registrations,
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
    let x = state.db.call(PhoneSecretsOf { mac: m }).await?;
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
