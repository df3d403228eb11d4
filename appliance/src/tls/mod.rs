//! The box's TLS identity: a self-signed certificate made on first start (browsers need HTTPS
//! for the microphone). Its subject names are the box's addresses; when the box gains an
//! address the certificate does not name, the certificate is issued again **for the same
//! key**: clients that pinned or trusted the key keep working, and a key never has to be
//! made while the box is starting on a new network.
//!
//! The key and the certificate live together in one file, `tls/identity.sealed` (sealed
//! under the master key: the key is never on disk in the clear), written by temp + fsync +
//! rename, so a power cut leaves either the old pair or the new one, never a key beside a
//! certificate for another key. `tls/cert.pem` is a copy of the certificate for clients
//! (`ivm --cacert`), rewritten from the identity whenever it differs. Data folders from before
//! this layout (`key.sealed`, `cert.pem`, `names.txt`) are taken over, key included.
//!
//! An admin may install a certificate of their own instead (`ivmd tls install`: from the
//! office's CA, or a public one for a name the office owns): it is sealed the same way, served
//! at once by the running box ([`resolver::Identities`] swaps it in) and never reissued; `ivmd
//! tls reset` goes back to the box's own. Why the box does not run a local CA of its own:
//! docs/security.md, "TLS".
//!
//! # Layout
//! - this file: the identity on disk (made, reissued, taken over), and the server config;
//! - [`resolver`]: the certificate the listeners serve, swappable while they run;
//! - [`installed`]: an admin's own certificate and key: checked, installed, described, reset.

pub mod installed;
pub mod resolver;

use std::collections::BTreeSet;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use ivm_store::Store;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use serde::{Deserialize, Serialize};

pub use resolver::Identities;

/// Associated data of the sealed identity (and of the older sealed key).
const IDENTITY_AAD: &[u8] = b"ivm tls identity v2";
const OLD_KEY_AAD: &[u8] = b"ivm tls key v1";

/// Why the TLS identity could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing the files failed.
    #[error("tls files: {0}")]
    Io(#[from] std::io::Error),
    /// The certificate could not be generated.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// The sealed identity could not be opened.
    #[error("tls key: {0}")]
    Store(#[from] ivm_store::StoreError),
    /// The sealed identity is not what this version writes.
    #[error("tls identity: {0}")]
    Format(#[from] serde_json::Error),
    /// rustls refused the key or certificate.
    #[error("tls config: {0}")]
    Rustls(#[from] rustls::Error),
    /// An admin's certificate or key is not usable; the reason says why.
    #[error("{0}")]
    Refused(String),
}

/// The names the certificate must cover: localhost, the host name (as set, its first label,
/// and that label under `.local` for mDNS), every interface address, and the names an admin
/// gave in `[http] names` (what the office's DNS calls the box). The plain listener's Host
/// check accepts the same names, so a URL that passes one passes the other.
pub fn box_names(extra: &[String]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(h) = crate::panel::system_host_name() {
        let short = h.split('.').next().unwrap_or(&h).to_owned();
        names.insert(format!("{short}.local"));
        names.insert(short);
        names.insert(h);
    }
    names.extend(
        extra
            .iter()
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase()),
    );
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

/// How the key's DER is wrapped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KeyFormat {
    /// PKCS#8 (what the box makes).
    #[default]
    Pkcs8,
    /// PKCS#1 RSA (`BEGIN RSA PRIVATE KEY`).
    Pkcs1,
    /// SEC1 EC (`BEGIN EC PRIVATE KEY`).
    Sec1,
}

/// What `identity.sealed` holds: the key and the certificate issued for it, together.
#[derive(Serialize, Deserialize)]
struct Identity {
    /// DER of the private key, base64.
    key: String,
    /// Its wrapping; PKCS#8 in identities written before installed certificates existed.
    #[serde(default)]
    key_format: KeyFormat,
    /// The certificate (and, for an installed one, its chain), PEM.
    cert: String,
    /// The names the certificate covers.
    names: BTreeSet<String>,
    /// An admin installed it: served as it is, never reissued.
    #[serde(default)]
    installed: bool,
}

impl Identity {
    fn key_der(&self) -> Result<Vec<u8>, TlsError> {
        use base64::Engine as _;
        Ok(base64::engine::general_purpose::STANDARD
            .decode(&self.key)
            .map_err(|e| std::io::Error::other(format!("identity key: {e}")))?)
    }

    fn key_pair(&self) -> Result<rcgen::KeyPair, TlsError> {
        Ok(rcgen::KeyPair::try_from(self.key_der()?.as_slice())?)
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        let der = self.key_der()?;
        Ok(match self.key_format {
            KeyFormat::Pkcs8 => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            KeyFormat::Pkcs1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            KeyFormat::Sec1 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
        })
    }

    /// The chain and key as rustls serves them; refuses a key that is not the certificate's.
    fn certified(&self) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile_certs(self.cert.as_bytes())
            .ok_or_else(|| TlsError::Refused("the identity holds no certificate".into()))?;
        let provider = rustls::crypto::ring::default_provider();
        Ok(Arc::new(rustls::sign::CertifiedKey::from_der(
            certs,
            self.private_key()?,
            &provider,
        )?))
    }

    /// A self-signed certificate naming `names` for `key`.
    fn issue(key: &rcgen::KeyPair, names: BTreeSet<String>) -> Result<Identity, TlsError> {
        use base64::Engine as _;
        let mut params = rcgen::CertificateParams::new(names.iter().cloned().collect::<Vec<_>>())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "IVM box");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "IVM");
        let cert = params.self_signed(key)?;
        Ok(Identity {
            key: base64::engine::general_purpose::STANDARD.encode(key.serialize_der()),
            key_format: KeyFormat::Pkcs8,
            cert: cert.pem(),
            names,
            installed: false,
        })
    }
}

/// Loads the identity under `<data>/tls/`, making it on first start and issuing the
/// certificate again (same key) when it does not name every current address and configured
/// name (`extra_names`, from `[http] names`); an installed one is served as it is. Returns
/// the rustls server config (HTTP/1.1 and HTTP/2) and the handle that swaps its certificate.
pub fn load_or_create(
    store: &Store,
    data: &Path,
    extra_names: &[String],
) -> Result<(Arc<rustls::ServerConfig>, Arc<Identities>), TlsError> {
    let id = identity(store, data, &box_names(extra_names))?;
    let identities = Arc::new(Identities::new(id.certified()?));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(identities.clone());
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(cfg), identities))
}

/// The key and chain stored now, as the listener serves them (after `ivmd tls
/// install|reset`).
pub fn stored_key(store: &Store, data: &Path) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
    read_identity(store, &data.join("tls"))?
        .ok_or_else(|| TlsError::Refused("no TLS identity stored".into()))?
        .certified()
}

/// Reads `<data>/tls/identity.sealed`, if there is one.
fn read_identity(store: &Store, dir: &Path) -> Result<Option<Identity>, TlsError> {
    match std::fs::read(dir.join("identity.sealed")) {
        Ok(sealed) => Ok(Some(serde_json::from_slice::<Identity>(
            &store.unseal(IDENTITY_AAD, &sealed)?,
        )?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes `id` as the identity (sealed, one atomic write) and `cert.pem` as its copy.
fn store_identity(store: &Store, dir: &Path, id: &Identity) -> Result<(), TlsError> {
    save(store, &dir.join("identity.sealed"), id)?;
    write_atomic(&dir.join("cert.pem"), id.cert.as_bytes())?;
    Ok(())
}

/// The identity covering `wanted`: read, taken over from the older layout, reissued for new
/// names with its own key, or made.
fn identity(store: &Store, data: &Path, wanted: &BTreeSet<String>) -> Result<Identity, TlsError> {
    let dir = data.join("tls");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let (id_path, cert_path) = (dir.join("identity.sealed"), dir.join("cert.pem"));
    let stored = match read_identity(store, &dir)? {
        Some(id) => Some(id),
        None => take_over(store, &dir)?,
    };
    let id = match stored {
        Some(id) if id.installed || wanted.is_subset(&id.names) => id,
        Some(old) => {
            let names: BTreeSet<String> = wanted.union(&old.names).cloned().collect();
            let id = Identity::issue(&old.key_pair()?, names)?;
            tracing::info!(names = ?id.names, "certificate issued again for new names (same key)");
            save(store, &id_path, &id)?;
            id
        }
        None => {
            let id = Identity::issue(&rcgen::KeyPair::generate()?, wanted.clone())?;
            tracing::info!(names = ?id.names, path = %cert_path.display(), "made a new key and self-signed TLS certificate");
            save(store, &id_path, &id)?;
            id
        }
    };
    if std::fs::read(&cert_path).ok().as_deref() != Some(id.cert.as_bytes()) {
        write_atomic(&cert_path, id.cert.as_bytes())?;
    }
    for old in ["key.sealed", "names.txt"] {
        match std::fs::remove_file(dir.join(old)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(id)
}

/// The pair from the layout before `identity.sealed` (key sealed on its own, certificate and
/// names beside it), if there is one.
fn take_over(store: &Store, dir: &Path) -> Result<Option<Identity>, TlsError> {
    use base64::Engine as _;
    let (Ok(sealed), Ok(cert)) = (
        std::fs::read(dir.join("key.sealed")),
        std::fs::read_to_string(dir.join("cert.pem")),
    ) else {
        return Ok(None);
    };
    let key = store.unseal(OLD_KEY_AAD, &sealed)?;
    let names = std::fs::read_to_string(dir.join("names.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    tracing::info!("TLS key and certificate taken over into tls/identity.sealed");
    Ok(Some(Identity {
        key: base64::engine::general_purpose::STANDARD.encode(key),
        key_format: KeyFormat::Pkcs8,
        cert,
        names,
        installed: false,
    }))
}

fn save(store: &Store, path: &Path, id: &Identity) -> Result<(), TlsError> {
    write_atomic(path, &store.seal(IDENTITY_AAD, &serde_json::to_vec(id)?)?)?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_new_address_reissues_the_certificate_for_the_same_key() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&d.path().join("data")).expect("store");
        let data = store.data_dir().to_owned();
        let first = identity(&store, &data, &names(&["localhost", "10.0.0.2"])).expect("first");
        // Same names: nothing is rewritten.
        let again = identity(&store, &data, &names(&["10.0.0.2"])).expect("again");
        assert_eq!(again.cert, first.cert);
        // A new address: a new certificate naming old and new, for the same key.
        let moved = identity(&store, &data, &names(&["10.0.0.3"])).expect("moved");
        assert_ne!(moved.cert, first.cert);
        assert_eq!(moved.key, first.key, "the key is kept");
        assert_eq!(moved.names, names(&["localhost", "10.0.0.2", "10.0.0.3"]));
        // One sealed file holds both; cert.pem is its copy; the key is nowhere in the clear.
        let tls = data.join("tls");
        assert_eq!(
            std::fs::read_to_string(tls.join("cert.pem")).expect("pem"),
            moved.cert
        );
        let sealed = std::fs::read(tls.join("identity.sealed")).expect("sealed");
        assert!(!String::from_utf8_lossy(&sealed).contains(&moved.key));
        // The server config loads from it.
        assert!(load_or_create(&store, &data, &[]).is_ok());
        // A client that trusted the first certificate accepts the reissued one: same
        // subject, same key (what `ivm --cacert` with an older cert.pem relies on).
        let first_cert = rustls_pemfile_certs(first.cert.as_bytes()).expect("first");
        let moved_cert = rustls_pemfile_certs(moved.cert.as_bytes()).expect("moved");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(first_cert[0].clone()).expect("root");
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("verifier");
        use rustls::client::danger::ServerCertVerifier as _;
        verifier
            .verify_server_cert(
                &moved_cert[0],
                &[],
                &rustls::pki_types::ServerName::try_from("10.0.0.3").expect("name"),
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .expect("the reissued certificate is trusted through the first one");
    }

    #[test]
    fn configured_names_and_the_mdns_name_are_covered() {
        let names = box_names(&["Voice.Office.Example.".to_owned()]);
        assert!(names.contains("voice.office.example"), "{names:?}");
        assert!(names.contains("localhost") && names.contains("127.0.0.1"));
        if let Some(h) = crate::panel::system_host_name() {
            let short = h.split('.').next().unwrap_or(&h).to_owned();
            assert!(names.contains(&format!("{short}.local")), "{names:?}");
        }
    }

    #[test]
    fn the_older_layout_is_taken_over_with_its_key() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&d.path().join("data")).expect("store");
        let data = store.data_dir().to_owned();
        let tls = data.join("tls");
        std::fs::create_dir_all(&tls).expect("mkdir");
        let key = rcgen::KeyPair::generate().expect("key");
        let old = Identity::issue(&key, names(&["10.0.0.2"])).expect("issue");
        write_atomic(
            &tls.join("key.sealed"),
            &store.seal(OLD_KEY_AAD, &key.serialize_der()).expect("seal"),
        )
        .expect("key");
        write_atomic(&tls.join("cert.pem"), old.cert.as_bytes()).expect("cert");
        write_atomic(&tls.join("names.txt"), b"10.0.0.2").expect("names");
        let id = identity(&store, &data, &names(&["10.0.0.2", "10.0.0.9"])).expect("id");
        assert_eq!(id.key, old.key, "the old key is kept");
        assert!(id.names.contains("10.0.0.9"));
        assert!(!tls.join("key.sealed").exists() && !tls.join("names.txt").exists());
    }
}
