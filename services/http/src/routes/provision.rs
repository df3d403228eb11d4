//! The files phones fetch at boot (`GET /provision/{name}`, served on both listeners; the
//! plain-HTTP one is what phones use). Answers come from the same provisioning front as the
//! TFTP server's, which decides who may have a per-phone file.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ivm_actors::provisioning::{FetchError, HttpCredentials, Served};
use ivm_provision::Via;

use crate::error::ApiError;
use crate::AppState;

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
