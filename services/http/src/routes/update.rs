//! `PUT /api/admin/update`: an admin uploads an update bundle (the body is the file). The
//! HTTP service only receives it into the place the [`Updater`] names and hands it over;
//! checking and installing it is the appliance's (`ivm_appliance::update`), which refuses a
//! bundle cut short, changed or signed by another key before anything is installed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use futures_util::StreamExt as _;
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;

use crate::auth::AdminUser;
use crate::error::ApiError;
use crate::AppState;

/// The largest bundle accepted: a 256 MiB root slot and two 48 MiB boot files, plus header
/// and signature.
pub const MAX_BUNDLE: u64 = (256 + 2 * 48) << 20 | 128;

/// Why an uploaded bundle was not installed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateRefusal {
    /// The bundle is bad (cut short, changed, another key, not a bundle): 400.
    #[error("{0}")]
    Refused(String),
    /// The bundle is good but installing it failed: 500.
    #[error("{0}")]
    Failed(String),
}

/// What installs an uploaded bundle (the appliance's privileged installer behind it).
pub trait Updater: Send + Sync + 'static {
    /// Where the upload is written while it arrives (on the data partition: bundles are
    /// hundreds of MB, too large for memory or /tmp).
    fn upload_path(&self) -> PathBuf;
    /// Checks and installs the uploaded file; its version. Blocking (reads the whole file,
    /// waits for the installer): called on a blocking thread.
    fn install(&self, upload: &Path) -> Result<String, UpdateRefusal>;
}

/// The answer to an installed update.
#[derive(Debug, Serialize)]
pub struct Updated {
    /// The bundle's version.
    pub version: String,
    /// What happens next.
    pub message: String,
}

/// An upload or installation is under way (one box per process): a second upload would
/// overwrite the file the first is verifying.
static BUSY: AtomicBool = AtomicBool::new(false);

/// Holds [`BUSY`] until dropped: the end of the installation, or of a request cut off.
struct Busy;

impl Busy {
    fn claim() -> Option<Busy> {
        BUSY.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Busy)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.store(false, Ordering::Release);
    }
}

/// `PUT /api/admin/update`: receives the bundle (at most [`MAX_BUNDLE`] bytes), then
/// installs it; 404 on a box that installs no updates (no `[update] command`), 409 while
/// another update is being received or installed.
pub async fn upload(
    State(state): State<AppState>,
    _admin: AdminUser,
    body: Body,
) -> Result<Json<Updated>, ApiError> {
    let Some(updater) = state.updater.clone() else {
        return Err(ApiError::not_found(
            "this box installs no updates ([update] command is not set)",
        ));
    };
    let Some(busy) = Busy::claim() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "update_in_progress",
            "another update is being received or installed; try again when it is done",
        ));
    };
    let path = updater.upload_path();
    let received = receive(body, &path).await;
    if let Err(e) = received {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e);
    }
    let installed = tokio::task::spawn_blocking(move || {
        let r = updater.install(&path);
        let _ = std::fs::remove_file(&path);
        drop(busy);
        r
    })
    .await
    .map_err(ApiError::internal)?;
    match installed {
        Ok(version) => Ok(Json(Updated {
            message: format!("update {version} verified and handed to the installer; once installed it starts at the next restart"),
            version,
        })),
        Err(UpdateRefusal::Refused(why)) => Err(ApiError::bad_request(why)),
        Err(UpdateRefusal::Failed(why)) => Err(ApiError::internal(why)),
    }
}

/// Writes the body to `path`, refusing more than [`MAX_BUNDLE`] bytes.
async fn receive(body: Body, path: &Path) -> Result<(), ApiError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(ApiError::internal)?;
    let mut stream = body.into_data_stream();
    let mut n: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("the upload broke off: {e}")))?;
        n += chunk.len() as u64;
        if n > MAX_BUNDLE {
            return Err(ApiError::too_large(format!(
                "an update bundle is at most {MAX_BUNDLE} bytes"
            )));
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.sync_all().await.map_err(ApiError::internal)?;
    Ok(())
}

/// The updater as the state holds it.
pub type SharedUpdater = Arc<dyn Updater>;
