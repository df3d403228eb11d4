//! Trust for the box's certificate.
//!
//! The box makes itself a self-signed certificate on first boot (browsers need HTTPS for the
//! microphone), which no public root vouches for. `--cacert box.pem` makes that certificate
//! (or the CA that signed it) the only trust anchor, for REST and WebSocket alike; without it,
//! the built-in web PKI roots are used.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Why the `--cacert` file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read the certificate file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file holds no usable PEM certificate.
    #[error("{path} holds no PEM certificate{}", .detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What was wrong, when known.
        detail: Option<String>,
    },
    /// rustls refused the configuration.
    #[error("cannot set up TLS: {0}")]
    Config(String),
}

/// A rustls client configuration that trusts exactly the certificates in the PEM file.
pub fn client_config(cacert: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let pem = std::fs::read(cacert).map_err(|source| TlsError::Read {
        path: cacert.to_owned(),
        source,
    })?;
    let roots = root_store(&pem).map_err(|detail| TlsError::NoCertificate {
        path: cacert.to_owned(),
        detail,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Every certificate in `pem` as a trust anchor. `Err(None)` when there is none.
fn root_store(pem: &[u8]) -> Result<rustls::RootCertStore, Option<String>> {
    let mut roots = rustls::RootCertStore::empty();
    let mut last_error = None;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| Some(e.to_string()))?;
        if let Err(e) = roots.add(cert) {
            last_error = Some(e.to_string());
        }
    }
    if roots.is_empty() {
        return Err(last_error);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "no pem here\n").expect("writes");
        let err = client_config(&path).expect_err("refused");
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let missing = client_config(&dir.path().join("missing.pem")).expect_err("refused");
        assert!(matches!(missing, TlsError::Read { .. }));
    }
}
