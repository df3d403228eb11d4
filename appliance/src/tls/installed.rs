//! An admin's own certificate: `ivmd tls install CERT KEY`, `ivmd tls show`, `ivmd tls
//! reset`. The box's self-signed certificate names its addresses and host names; a browser
//! still warns about it until someone trusts it. An office with its own CA, or a public
//! certificate for a name it owns, installs that instead.
//!
//! What is checked before anything is written: the PEM holds at least one certificate and
//! exactly one private key (PKCS#8, PKCS#1 RSA or SEC1 EC), the key is the first
//! certificate's (rustls compares the public keys), rustls can sign with it, and the
//! certificate is valid now. Then key and chain are sealed together in
//! `tls/identity.sealed` like the box's own, `tls/cert.pem` becomes the chain, and the
//! running box serves it from the next handshake.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use ivm_store::Store;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use super::{box_names, identity, read_identity, store_identity, Identity, KeyFormat, TlsError};

/// Largest PEM accepted for a certificate chain or a key.
pub const MAX_PEM: usize = 16 * 1024;

/// What `ivmd tls show` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// `box` (its own, self-signed) or `installed` (an admin's).
    pub source: String,
    /// The certificate's subject.
    pub subject: String,
    /// Who issued it (the subject again for a self-signed one).
    pub issuer: String,
    /// The DNS names and addresses it is valid for.
    pub names: Vec<String>,
    /// Valid from and until, RFC 2822 style (UTC).
    pub not_before: String,
    /// See `not_before`.
    pub not_after: String,
    /// SHA-256 of the certificate (DER), colon-separated hex: what a browser shows.
    pub sha256: String,
    /// Certificates in the chain served.
    pub chain: usize,
}

/// Describes the identity in `<data>/tls/` (made if missing, like at start).
pub fn show(store: &Store, data: &Path) -> Result<TlsInfo, TlsError> {
    let dir = data.join("tls");
    let id = match read_identity(store, &dir)? {
        Some(id) => id,
        None => identity(store, data, &box_names(&[]))?,
    };
    describe(&id)
}

/// Checks `cert_pem` (end-entity first, then its chain) and `key_pem`, and installs them as
/// the box's identity. Returns what is now served, and the server key for a running box to
/// swap in.
pub fn install(
    store: &Store,
    data: &Path,
    cert_pem: &str,
    key_pem: &str,
) -> Result<(TlsInfo, Arc<rustls::sign::CertifiedKey>), TlsError> {
    use base64::Engine as _;
    let refuse = |m: &str| TlsError::Refused(m.to_owned());
    if cert_pem.len() > MAX_PEM || key_pem.len() > MAX_PEM {
        return Err(refuse("the certificate or key file is larger than 16 KiB"));
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Refused(format!("the certificate file is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(refuse(
            "the certificate file holds no CERTIFICATE block (PEM, end-entity first)",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
        TlsError::Refused(format!(
            "the key file holds no private key (PEM: PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY): {e}"
        ))
    })?;
    let (der, key_format) = match &key {
        PrivateKeyDer::Pkcs8(k) => (k.secret_pkcs8_der().to_vec(), KeyFormat::Pkcs8),
        PrivateKeyDer::Pkcs1(k) => (k.secret_pkcs1_der().to_vec(), KeyFormat::Pkcs1),
        PrivateKeyDer::Sec1(k) => (k.secret_sec1_der().to_vec(), KeyFormat::Sec1),
        _ => return Err(refuse("unsupported private key format")),
    };
    let chain: String = certs
        .iter()
        .map(|c| pem_block("CERTIFICATE", c.as_ref()))
        .collect();
    let id = Identity {
        key: base64::engine::general_purpose::STANDARD.encode(der),
        key_format,
        cert: chain,
        names: BTreeSet::new(),
        installed: true,
    };
    let certified = id.certified().map_err(|e| match e {
        TlsError::Rustls(rustls::Error::InconsistentKeys(_)) => {
            refuse("the key is not the certificate's (their public keys differ)")
        }
        TlsError::Rustls(e) => TlsError::Refused(format!("rustls cannot use this key: {e}")),
        e => e,
    })?;
    let mut info = describe(&id)?;
    let leaf = parse(certs[0].as_ref())?;
    if !leaf.validity().is_valid() {
        return Err(TlsError::Refused(format!(
            "the certificate is not valid now (from {} until {})",
            info.not_before, info.not_after
        )));
    }
    let id = Identity {
        names: info.names.iter().cloned().collect(),
        ..id
    };
    store_identity(store, &data.join("tls"), &id)?;
    tracing::info!(subject = %info.subject, issuer = %info.issuer, sha256 = %info.sha256, "TLS certificate installed by an admin");
    info.source = "installed".into();
    Ok((info, certified))
}

/// Goes back to the box's own self-signed certificate: a new key and certificate for the
/// box's names (the installed key is the admin's; the box does not reuse it).
pub fn reset(
    store: &Store,
    data: &Path,
    extra_names: &[String],
) -> Result<(TlsInfo, Arc<rustls::sign::CertifiedKey>), TlsError> {
    let id = Identity::issue(&rcgen::KeyPair::generate()?, box_names(extra_names))?;
    store_identity(store, &data.join("tls"), &id)?;
    tracing::info!("TLS: back to the box's own self-signed certificate (new key)");
    Ok((describe(&id)?, id.certified()?))
}

fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn parse(der: &[u8]) -> Result<x509_parser::certificate::X509Certificate<'_>, TlsError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c)
        .map_err(|e| TlsError::Refused(format!("the certificate cannot be read: {e}")))
}

/// What the identity's first certificate says.
fn describe(id: &Identity) -> Result<TlsInfo, TlsError> {
    use sha2::Digest as _;
    let certs = super::rustls_pemfile_certs(id.cert.as_bytes())
        .ok_or_else(|| TlsError::Refused("the identity holds no certificate".into()))?;
    let leaf = parse(certs[0].as_ref())?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let sha = sha2::Sha256::digest(certs[0].as_ref());
    Ok(TlsInfo {
        source: if id.installed { "installed" } else { "box" }.into(),
        subject: leaf.subject().to_string(),
        issuer: leaf.issuer().to_string(),
        names,
        not_before: leaf.validity().not_before.to_string(),
        not_after: leaf.validity().not_after.to_string(),
        sha256: sha
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
        chain: certs.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&d.path().join("data")).expect("store");
        (d, s)
    }

    /// A certificate for `name` signed by a CA of the test's own, and its key, as PEM.
    fn office_cert(name: &str) -> (String, String, String) {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Office CA");
        let ca_cert = ca.self_signed(&ca_key).expect("ca");
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
        let issuer = rcgen::Issuer::new(ca, &ca_key);
        let cert = params.signed_by(&key, &issuer).expect("signed");
        (
            format!("{}{}", cert.pem(), ca_cert.pem()),
            key.serialize_pem(),
            ca_cert.pem(),
        )
    }

    #[test]
    fn an_office_certificate_is_installed_described_and_reset() {
        let (_d, s) = store();
        let data = s.data_dir().to_owned();
        let own = show(&s, &data).expect("show");
        assert_eq!(own.source, "box");
        assert!(own.names.contains(&"127.0.0.1".to_owned()), "{own:?}");

        let (chain, key, _ca) = office_cert("voice.office.example");
        let (info, _) = install(&s, &data, &chain, &key).expect("install");
        assert_eq!(info.source, "installed");
        assert_eq!(info.names, vec!["voice.office.example".to_owned()]);
        assert!(info.issuer.contains("Office CA"), "{info:?}");
        assert_eq!(info.chain, 2);
        assert_eq!(show(&s, &data).expect("show"), info);
        // Served as it is at the next start: not reissued for the box's addresses.
        let (cfg, _) = super::super::load_or_create(&s, &data, &[]).expect("load");
        drop(cfg);
        assert_eq!(show(&s, &data).expect("show").source, "installed");
        let pem = std::fs::read_to_string(data.join("tls/cert.pem")).expect("pem");
        assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);

        let (back, _) = reset(&s, &data, &[]).expect("reset");
        assert_eq!(back.source, "box");
        assert_ne!(back.sha256, own.sha256, "a new key and certificate");
    }

    #[test]
    fn unusable_material_is_refused_and_changes_nothing() {
        let (_d, s) = store();
        let data = s.data_dir().to_owned();
        let before = show(&s, &data).expect("show");
        let (chain, key, _) = office_cert("a.example");
        let (_, other_key, _) = office_cert("b.example");
        for (cert, key, want) in [
            (chain.as_str(), other_key.as_str(), "not the certificate's"),
            ("hello", key.as_str(), "no CERTIFICATE"),
            (chain.as_str(), "hello", "no private key"),
            (key.as_str(), chain.as_str(), "no CERTIFICATE"),
        ] {
            let e = install(&s, &data, cert, key).expect_err(want).to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        let big = "x".repeat(MAX_PEM + 1);
        assert!(install(&s, &data, &big, &key).is_err());
        assert_eq!(show(&s, &data).expect("show"), before, "nothing changed");
    }
}
