//! The box's TLS identity: a self-signed certificate made on first start (browsers need HTTPS
//! for the microphone). Its subject names are the box's addresses; when the box gains an
//! address the certificate does not name, a new one is made. The private key is kept sealed
//! under the master key, never in the clear.

use std::collections::BTreeSet;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use ivm_store::Store;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const KEY_AAD: &[u8] = b"ivm tls key v1";

/// Why the TLS identity could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing the files failed.
    #[error("tls files: {0}")]
    Io(#[from] std::io::Error),
    /// The certificate could not be generated.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// The sealed key could not be opened.
    #[error("tls key: {0}")]
    Store(#[from] ivm_store::StoreError),
    /// rustls refused the key or certificate.
    #[error("tls config: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The names the certificate must cover: localhost, the host name, every interface address.
pub fn box_names() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(h) = crate::panel::system_host_name() {
        names.insert(h);
    }
    if let Ok(ifs) = if_addrs::get_if_addrs() {
        for i in ifs {
            // Link-local v6 addresses need a zone and cannot be named in a certificate.
            if let std::net::IpAddr::V6(v6) = i.ip() {
                if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                    continue;
                }
            }
            names.insert(i.ip().to_string());
        }
    }
    names
}

/// Loads the certificate under `<data>/tls/`, making a new one when it is missing or does not
/// name every current address; returns the rustls server config (HTTP/1.1 and HTTP/2).
pub fn load_or_create(store: &Store, data: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let dir = data.join("tls");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let (cert_path, key_path, names_path) = (
        dir.join("cert.pem"),
        dir.join("key.sealed"),
        dir.join("names.txt"),
    );
    let wanted = box_names();
    let have: BTreeSet<String> = std::fs::read_to_string(&names_path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let current = cert_path.exists() && key_path.exists() && wanted.is_subset(&have);
    if !current {
        let names: Vec<String> = wanted.union(&have).cloned().collect();
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(names.clone())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "IVM box");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "IVM");
        let cert = params.self_signed(&key)?;
        write_atomic(&key_path, &store.seal(KEY_AAD, &key.serialize_der())?)?;
        write_atomic(&cert_path, cert.pem().as_bytes())?;
        write_atomic(&names_path, names.join("\n").as_bytes())?;
        tracing::info!(names = ?names, path = %cert_path.display(), "made a new self-signed TLS certificate");
    }
    let pem = std::fs::read(&cert_path)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile_certs(&pem)
        .ok_or_else(|| std::io::Error::other("cert.pem holds no certificate"))?;
    let key_der = store.unseal(KEY_AAD, &std::fs::read(&key_path)?)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Parses PEM `CERTIFICATE` blocks.
fn rustls_pemfile_certs(pem: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).ok()?;
    let mut out = Vec::new();
    let mut body = None::<String>;
    for line in text.lines() {
        match (line.trim(), body.as_mut()) {
            ("-----BEGIN CERTIFICATE-----", None) => body = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(b)) => {
                out.push(CertificateDer::from(
                    base64::engine::general_purpose::STANDARD
                        .decode(b.as_bytes())
                        .ok()?,
                ));
                body = None;
            }
            (l, Some(b)) => b.push_str(l),
            _ => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Writes a file by temp + fsync + rename, so a power cut never leaves half a key.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
