//! `ivmd update FILE`: hands a verified update bundle to the box's privileged installer.
//!
//! ivmd runs unprivileged and cannot write a root slot or the ESP, so installing takes two
//! hands: ivmd verifies the bundle (so a bad one is refused with its reason at once and
//! nothing is written), copies it into its data folder as [`STAGED`], then runs `[update]
//! command` (on the appliance image `systemctl start ivm-update.service`, which polkit lets
//! the `ivm` user start). That unit runs as root, takes no input but the staged file, and
//! verifies it again from its own copy before it writes anything: the installer trusts
//! nothing ivmd did.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::bundle::{self, BundleError, Header, UpdateKey};

/// The staged bundle's name in the data folder (the image's installer reads it there).
pub const STAGED: &str = "update.bundle";

/// Why an update is refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// This box has no installer configured.
    #[error(
        "this box installs no updates: [update] command is not set (the appliance image sets it)"
    )]
    NoInstaller,
    /// The update key could not be read or is not one.
    #[error("update key {path}: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: BundleError,
    },
    /// The bundle was refused: nothing was written.
    #[error("{path}: refused: {source}")]
    Refused {
        /// The bundle.
        path: PathBuf,
        /// Why.
        source: BundleError,
    },
    /// Copying the bundle into the data folder failed (the partial copy is removed).
    #[error("staging the bundle in {path}: {source}")]
    Stage {
        /// Where it was going.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The installer did not start or failed.
    #[error("the installer ({command}) {reason}")]
    Installer {
        /// The command.
        command: String,
        /// What went wrong.
        reason: String,
    },
}

/// Verifies `file` against `key`, stages it as `data_dir/`[`STAGED`] and runs `command`
/// (the installer). A bundle that does not verify writes nothing; one that does is copied
/// from the same open file that was verified, or, with `take` (`file` is ivmd's own upload
/// in the data folder), renamed into place.
pub fn install(
    file: &Path,
    key: &Path,
    data_dir: &Path,
    command: &[String],
    take: bool,
) -> Result<Header, UpdateError> {
    let Some((prog, args)) = command.split_first() else {
        return Err(UpdateError::NoInstaller);
    };
    let key = UpdateKey::load(key).map_err(|source| UpdateError::Key {
        path: key.to_owned(),
        source,
    })?;
    let refused = |source| UpdateError::Refused {
        path: file.to_owned(),
        source,
    };
    let mut f = File::open(file).map_err(|e| refused(e.into()))?;
    let header = bundle::verify(&mut f, &key).map_err(refused)?;
    let staged = data_dir.join(STAGED);
    let staging = if take {
        std::fs::rename(file, &staged)
    } else {
        stage(&mut f, &staged)
    };
    staging.map_err(|source| UpdateError::Stage {
        path: staged.clone(),
        source,
    })?;
    let status = std::process::Command::new(prog)
        .args(args)
        .status()
        .map_err(|e| UpdateError::Installer {
            command: command.join(" "),
            reason: format!("did not start: {e}"),
        })?;
    if !status.success() {
        return Err(UpdateError::Installer {
            command: command.join(" "),
            reason: format!("failed ({status}); its log says why (journalctl -u ivm-update)"),
        });
    }
    Ok(header)
}

/// Copies `from` (from its start) to `to` through `to.partial`, synced, then renamed: the
/// installer never sees half a bundle.
fn stage(from: &mut File, to: &Path) -> std::io::Result<()> {
    let partial = to.with_extension("bundle.partial");
    let copied = (|| {
        from.seek(SeekFrom::Start(0))?;
        let mut out = File::create(&partial)?;
        std::io::copy(from, &mut out)?;
        out.flush()?;
        out.sync_all()?;
        std::fs::rename(&partial, to)
    })();
    if copied.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    copied
}

/// `PUT /api/admin/update` on this box: the upload goes to `data_dir/update.upload`, then
/// [`install`] (renamed, not copied).
#[derive(Debug)]
pub struct Installer {
    /// The data folder.
    pub data_dir: PathBuf,
    /// `[update] key`.
    pub key: PathBuf,
    /// `[update] command`.
    pub command: Vec<String>,
}

impl ivm_http::routes::update::Updater for Installer {
    fn upload_path(&self) -> PathBuf {
        self.data_dir.join("update.upload")
    }

    fn install(&self, upload: &Path) -> Result<String, ivm_http::routes::update::UpdateRefusal> {
        use ivm_http::routes::update::UpdateRefusal;
        match install(upload, &self.key, &self.data_dir, &self.command, true) {
            Ok(h) => {
                tracing::warn!(version = %h.version, "update verified and handed to the installer");
                Ok(h.version)
            }
            Err(e @ UpdateError::Refused { .. }) => {
                tracing::warn!(error = %e, "update refused");
                Err(UpdateRefusal::Refused(e.to_string()))
            }
            Err(e) => {
                tracing::error!(error = %e, "update failed");
                Err(UpdateRefusal::Failed(e.to_string()))
            }
        }
    }
}
