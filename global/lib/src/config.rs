//! How a box or a service reaches the cluster.
//!
//! Off by default: a box works alone until the admin gives it a cluster, a CA and its NKey
//! seed. The seed is read from a file (never inline in the config, which is shown and backed
//! up), and the link refuses to start on a config that could not work.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The most cluster URLs a config may list.
pub const MAX_URLS: usize = 16;

/// Why a link config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Enabled without any URL.
    #[error("[global] is enabled but lists no cluster URLs")]
    NoUrls,
    /// More URLs than [`MAX_URLS`].
    #[error("[global] lists {0} URLs; at most {MAX_URLS}")]
    TooManyUrls(usize),
    /// A URL that is not `tls://host:port` (every link is TLS).
    #[error("[global] URL {0:?} must start with tls://")]
    NotTls(String),
    /// Enabled without a CA file or a seed file.
    #[error("[global] needs {0}")]
    Missing(&'static str),
    /// The box name is not a valid name part.
    #[error("[global] box_name {0:?}: use 1-32 characters a-z, 0-9, '.', '_', '-'")]
    BoxName(String),
}

/// The `[global]` section of a box's config, and the connection settings of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LinkConfig {
    /// Whether to link at all (default: no).
    pub enabled: bool,
    /// The cluster's servers, `tls://host:port`; the client picks one and fails over.
    pub urls: Vec<String>,
    /// The PEM CA that signed the servers' certificates.
    pub ca_file: Option<PathBuf>,
    /// The file holding this box's (or service's) NKey seed.
    pub seed_file: Option<PathBuf>,
    /// A box's global name (`user@<box_name>` addresses its users; its GUID is derived from
    /// it, [`crate::address::box_id`]). Services have none.
    pub box_name: Option<String>,
}

impl LinkConfig {
    /// Checks an enabled config; a disabled one is always fine.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if self.urls.is_empty() {
            return Err(ConfigError::NoUrls);
        }
        if self.urls.len() > MAX_URLS {
            return Err(ConfigError::TooManyUrls(self.urls.len()));
        }
        if let Some(url) = self.urls.iter().find(|u| !u.starts_with("tls://")) {
            return Err(ConfigError::NotTls(url.clone()));
        }
        if self.ca_file.is_none() {
            return Err(ConfigError::Missing("ca_file"));
        }
        if self.seed_file.is_none() {
            return Err(ConfigError::Missing("seed_file"));
        }
        Ok(())
    }
}

impl LinkConfig {
    /// [`LinkConfig::check`] for a box: also a valid `box_name`. Returns the box's GUID
    /// (`None` when the link is off).
    pub fn check_box(&self) -> Result<Option<ivm_wire::Guid>, ConfigError> {
        self.check()?;
        if !self.enabled {
            return Ok(None);
        }
        let name = self
            .box_name
            .as_deref()
            .ok_or(ConfigError::Missing("box_name"))?;
        if !crate::address::valid_part(name) {
            return Err(ConfigError::BoxName(name.into()));
        }
        Ok(Some(crate::address::box_id(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default() {
        let c = LinkConfig::default();
        assert!(!c.enabled);
        assert!(c.check().is_ok());
    }

    #[test]
    fn an_enabled_config_must_be_complete_and_tls() {
        let mut c = LinkConfig {
            enabled: true,
            urls: vec!["tls://127.0.0.1:4222".into()],
            ca_file: Some("ca.pem".into()),
            seed_file: Some("box.nk".into()),
            box_name: Some("office-a".into()),
        };
        assert_eq!(
            c.check_box().expect("box config"),
            Some(crate::address::box_id("office-a"))
        );
        c.box_name = Some("Bad Name".into());
        assert!(matches!(c.check_box(), Err(ConfigError::BoxName(_))));
        c.box_name = None;
        assert!(matches!(
            c.check_box(),
            Err(ConfigError::Missing("box_name"))
        ));
        assert!(c.check().is_ok());
        c.urls = vec!["nats://127.0.0.1:4222".into()];
        assert!(matches!(c.check(), Err(ConfigError::NotTls(_))));
        c.urls = vec![];
        assert!(matches!(c.check(), Err(ConfigError::NoUrls)));
        c.urls = vec!["tls://h:1".into(); MAX_URLS + 1];
        assert!(matches!(c.check(), Err(ConfigError::TooManyUrls(_))));
        c.urls = vec!["tls://h:1".into()];
        c.seed_file = None;
        assert!(matches!(c.check(), Err(ConfigError::Missing("seed_file"))));
    }
}
