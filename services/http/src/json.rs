//! The JSON body extractor of every route: axum's, with its refusals answered as the API's
//! JSON errors (axum's own are plain text), saying which limit was met.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::body::{self, SMALL_BODY};
use crate::error::ApiError;

/// A JSON request body of type `T`, at most [`SMALL_BODY`] bytes, received within
/// [`body::BODY_TIMEOUT`].
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(rej) => Err(refusal(rej)),
        }
    }
}

/// The API error for a refused JSON body.
fn refusal(rej: JsonRejection) -> ApiError {
    if body::is_timeout(&rej) {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} seconds",
                body::BODY_TIMEOUT.as_secs()
            ),
        );
    }
    match rej {
        JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::too_large(format!(
                "the request body is over this route's limit of {SMALL_BODY} bytes"
            ))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_request",
            "send the body as JSON with Content-Type: application/json",
        ),
        other => ApiError::bad_request(format!(
            "bad JSON body: {}",
            other.body_text().chars().take(200).collect::<String>()
        )),
    }
}
