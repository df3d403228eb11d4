//! Plain words for the connection mistakes a new owner makes (issue 11, items 6 and 8).
//!
//! The box listens for plain HTTP on one port and HTTPS on another, with a certificate it made
//! itself. The HTTP stack's own words for the three usual mistakes are jargon:
//! - `http://` to the HTTPS port: "invalid HTTP version parsed" (the TLS alert read as HTTP);
//! - `https://` to the HTTP port: "received corrupt message of type InvalidContentType";
//! - `https://` without `--cacert`: "invalid peer certificate: UnknownIssuer".
//!
//! The certificate cases are read off the error itself ([`certificate`]). A wrong scheme
//! cannot be told from the error alone (an SSH server on the port fails the same way), so
//! [`wrong_scheme`] asks the port once in the other scheme, and only a real answer in it
//! changes the message.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use rustls::CertificateError;

/// How long the one probe in the other scheme may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the box's certificate did wrong, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateProblem {
    /// What is wrong, naming rustls's word for it.
    pub why: String,
    /// What to do.
    pub advice: String,
}

/// The certificate problem in `err`'s chain, if that is what failed. `cacert` says whether a
/// `--cacert` file (or `IVM_CACERT`, or the saved login's) was in use; `host` is the name
/// connected to.
pub fn certificate(
    err: &(dyn StdError + 'static),
    cacert: bool,
    host: &str,
) -> Option<CertificateProblem> {
    let cert = match find_rustls(err)? {
        rustls::Error::InvalidCertificate(c) => c.clone(),
        _ => return None,
    };
    Some(match cert {
        CertificateError::UnknownIssuer if !cacert => CertificateProblem {
            why: "that this machine does not trust (UnknownIssuer)".into(),
            advice: "the box makes its own, self-signed certificate: copy <data>/tls/cert.pem \
                     from the box (./ivm-data/tls/cert.pem by default) and give \
                     --cacert cert.pem (or set IVM_CACERT)"
                .into(),
        },
        // BadSignature: the --cacert file names the same subject (every box calls itself the
        // same) but holds another key: an older certificate of a box that was reset, or
        // another box's.
        c @ (CertificateError::UnknownIssuer | CertificateError::BadSignature) if cacert => {
            CertificateProblem {
                why: format!("not signed by the one given with --cacert ({c:?})"),
                advice: "the box may have made a new one: copy its <data>/tls/cert.pem again \
                         and give that to --cacert (or IVM_CACERT)"
                    .into(),
            }
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            CertificateProblem {
                why: format!("that does not name {host} (NotValidForName)"),
                advice: "connect by an address the box's certificate names: the box issues it \
                         for its own addresses (see its <data>/tls/cert.pem)"
                    .into(),
            }
        }
        other => CertificateProblem {
            why: format!("that cannot be used ({other:?})"),
            advice: "check the box's clock and its <data>/tls/cert.pem, and the file given to \
                     --cacert"
                .into(),
        },
    })
}

/// `base` with the other scheme: `http://h:p/x` ⇄ `https://h:p/x`.
pub fn other_scheme(base: &str) -> Option<String> {
    if let Some(rest) = base.strip_prefix("https://") {
        Some(format!("http://{rest}"))
    } else {
        base.strip_prefix("http://")
            .map(|rest| format!("https://{rest}"))
    }
}

/// Whether an error is worth a probe in the other scheme: not a refused or timed-out
/// connection (nothing listens, or nothing answers) and not a certificate problem (that is
/// TLS working as it should).
pub fn worth_probing(err: &(dyn StdError + 'static)) -> bool {
    let timed_out = chain(err).any(|e| {
        e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
    });
    if timed_out || certificate(err, false, "").is_some() {
        return false;
    }
    !chain(err).any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::AddrNotAvailable
            )
        })
    })
}

/// Whether the box closed the connection while the request was on its way (a reset, a
/// broken pipe, or hyper's "connection closed before message completed"). During a large
/// upload that is how a size refusal can arrive: the box answers 413 and closes as soon as
/// the limit is passed, and a reset can overtake its answer.
pub fn connection_cut(err: &(dyn StdError + 'static)) -> bool {
    chain(err).any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            )
        }) || e
            .downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message() || h.is_body_write_aborted())
    })
}

/// The right base URL when the port at `base` speaks the other scheme: asks
/// `GET <other>/api/openapi.json` once. An `https://` probe counts TLS as spoken when it got
/// an answer or a certificate complaint (a self-signed box without `--cacert`); an `http://`
/// probe needs an HTTP answer.
pub async fn wrong_scheme(base: &str, tls: Option<Arc<rustls::ClientConfig>>) -> Option<String> {
    let other = other_scheme(base)?;
    let mut builder = reqwest::Client::builder()
        .user_agent(crate::CLIENT_NAME)
        .timeout(PROBE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(cfg) = tls {
        builder = builder.use_preconfigured_tls((*cfg).clone());
    }
    let client = builder.build().ok()?;
    let answer = client.get(format!("{other}/api/openapi.json")).send().await;
    let speaks = match answer {
        Ok(_) => true,
        Err(e) => other.starts_with("https://") && certificate(&e, false, "").is_some(),
    };
    tracing::debug!(%base, %other, speaks, "probed the other scheme");
    speaks.then_some(other)
}

/// The advice for a wrong scheme: `right` is the base URL to use.
pub fn scheme_advice(right: &str, cacert: bool) -> String {
    if right.starts_with("https://") {
        let trust = if cacert {
            ""
        } else {
            " with --cacert <data>/tls/cert.pem (the box's own certificate)"
        };
        format!("the box answered in TLS on this port: use {right}{trust}")
    } else {
        format!(
            "the box answered plain HTTP on this port: use {right}, or https:// with the \
             box's HTTPS port"
        )
    }
}

/// The host part of a base URL (`https://[::1]:8443/x` → `[::1]`), for messages.
pub fn host_of(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.strip_prefix('[') {
        Some(v6) => v6
            .split_once(']')
            .map_or(authority, |(h, _)| &authority[..h.len() + 2]),
        None => authority.split(':').next().unwrap_or(authority),
    }
}

/// The errors behind `err`, outermost first.
fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

/// The rustls error behind `err`. An `io::Error` wrapping another error (how tokio-rustls
/// reports a failed handshake) gives `source()` as the *wrapped error's* source, skipping the
/// wrapped error itself, so each one is opened with `get_ref` as well.
fn find_rustls<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    chain(err).find_map(|e| {
        e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| {
                    let inner: &(dyn StdError + 'static) = inner;
                    find_rustls(inner)
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error wrapping `inner` twice, the way reqwest and hyper-util wrap rustls.
    #[derive(Debug)]
    struct Wrap(Box<dyn StdError + Send + Sync + 'static>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error sending request")
        }
    }
    impl StdError for Wrap {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.0)
        }
    }

    fn wrapped(e: rustls::Error) -> Wrap {
        Wrap(Box::new(Wrap(Box::new(std::io::Error::other(e)))))
    }

    #[test]
    fn an_unknown_issuer_says_to_give_the_box_certificate() {
        let err = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        let p = certificate(&err, false, "box").expect("a certificate problem");
        assert!(p.why.contains("UnknownIssuer"), "{p:?}");
        assert!(p.advice.contains("--cacert"), "{p:?}");
        assert!(p.advice.contains("tls/cert.pem"), "{p:?}");
        assert!(p.advice.contains("IVM_CACERT"), "{p:?}");
        // With a --cacert that does not fit: get the current certificate again.
        let p = certificate(&err, true, "box").expect("a certificate problem");
        assert!(p.advice.contains("again"), "{p:?}");
        // Another box's (or an older) certificate names the same subject: BadSignature.
        let other = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::BadSignature,
        ));
        let p = certificate(&other, true, "box").expect("a certificate problem");
        assert!(p.why.contains("--cacert (BadSignature)"), "{p:?}");
        assert!(p.advice.contains("again"), "{p:?}");
    }

    #[test]
    fn a_certificate_for_another_name_names_the_host() {
        let err = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ));
        let p = certificate(&err, true, "10.0.0.9").expect("a certificate problem");
        assert!(p.why.contains("10.0.0.9"), "{p:?}");
    }

    #[test]
    fn other_errors_are_not_certificate_problems() {
        let err = wrapped(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert_eq!(certificate(&err, false, "box"), None);
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(certificate(&io, false, "box"), None);
    }

    #[test]
    fn a_reset_or_broken_pipe_is_a_cut_connection() {
        let pipe = Wrap(Box::new(std::io::Error::from(
            std::io::ErrorKind::BrokenPipe,
        )));
        assert!(connection_cut(&pipe));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(connection_cut(&reset));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!connection_cut(&refused));
    }

    #[test]
    fn schemes_swap_and_hosts_are_found() {
        assert_eq!(
            other_scheme("http://127.0.0.1:8443").as_deref(),
            Some("https://127.0.0.1:8443")
        );
        assert_eq!(
            other_scheme("https://box:8080/ivm").as_deref(),
            Some("http://box:8080/ivm")
        );
        assert_eq!(other_scheme("ftp://box"), None);
        assert_eq!(host_of("https://box.lan:8443/x"), "box.lan");
        assert_eq!(host_of("https://[::1]:8443"), "[::1]");
        assert_eq!(host_of("http://10.0.0.2"), "10.0.0.2");
    }

    #[test]
    fn scheme_advice_names_the_url_to_use() {
        let a = scheme_advice("https://127.0.0.1:8443", false);
        assert_eq!(
            a,
            "the box answered in TLS on this port: use https://127.0.0.1:8443 with --cacert \
             <data>/tls/cert.pem (the box's own certificate)"
        );
        assert_eq!(
            scheme_advice("https://127.0.0.1:8443", true),
            "the box answered in TLS on this port: use https://127.0.0.1:8443"
        );
        let a = scheme_advice("http://127.0.0.1:8080", false);
        assert!(
            a.starts_with("the box answered plain HTTP on this port: use http://127.0.0.1:8080")
        );
    }
}
