//! Per-vendor config files from templates: which template a [`FileKind`] uses, which
//! values it gets, and how they are escaped.

use std::collections::HashMap;
use std::path::Path;

use crate::files::FileKind;
use crate::template::{self, Escape, TemplateError};
use ivm_wire::phone::Vendor;
use ivm_wire::phone::{Mac, PhoneSecrets};

/// Why a file could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template is broken (unknown field, unterminated `{{`).
    #[error("template {name}: {source}")]
    Template {
        /// The template's path under `templates/`.
        name: &'static str,
        /// What is wrong with it.
        source: TemplateError,
    },
    /// A per-phone file was asked for without a MAC.
    #[error("{0:?} needs a MAC")]
    NoMac(FileKind),
    /// A per-phone file was asked for a phone with no extension assigned.
    #[error("phone {0} has no extension assigned")]
    Unassigned(Mac),
    /// A per-phone file was asked for without the phone's own secrets.
    #[error("phone {0}: its secrets were not given")]
    NoSecrets(Mac),
    /// `<mac>.cfg` for a phone whose vendor is neither Yealink nor Polycom (or unknown).
    #[error("no {file} file for vendor {vendor:?}")]
    WrongVendor {
        /// The file asked for.
        file: String,
        /// The phone's vendor.
        vendor: Option<Vendor>,
    },
    /// An override folder could not be read.
    #[error("reading template override {path}: {source}")]
    Override {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The templates, one per file shape, as paths under `templates/`.
const BUILTIN: &[(&str, &str)] = &[
    (
        "yealink/common.cfg",
        include_str!("../templates/yealink/common.cfg"),
    ),
    (
        "yealink/phone.cfg",
        include_str!("../templates/yealink/phone.cfg"),
    ),
    (
        "polycom/master.cfg",
        include_str!("../templates/polycom/master.cfg"),
    ),
    (
        "polycom/mac.cfg",
        include_str!("../templates/polycom/mac.cfg"),
    ),
    (
        "polycom/phone.cfg",
        include_str!("../templates/polycom/phone.cfg"),
    ),
    (
        "cisco/default.cnf.xml",
        include_str!("../templates/cisco/default.cnf.xml"),
    ),
    (
        "cisco/phone.cnf.xml",
        include_str!("../templates/cisco/phone.cnf.xml"),
    ),
    (
        "grandstream/phone.xml",
        include_str!("../templates/grandstream/phone.xml"),
    ),
    (
        "snom/common.htm",
        include_str!("../templates/snom/common.htm"),
    ),
    (
        "snom/phone.xml",
        include_str!("../templates/snom/phone.xml"),
    ),
];

/// Fields every template may use.
pub const FIELDS: &[&str] = &[
    "mac",
    "mac_upper",
    "model",
    "sip_server",
    "sip_port",
    "user",
    "auth_user",
    "password",
    "display_name",
    "voicemail",
    "ntp_server",
    "timezone",
    "provision_url",
    "provision_path",
    "provision_user",
    "provision_password",
    "provision_auth_url",
    "admin_password",
];

/// The template texts: built in, optionally overridden file by file from a folder laid out
/// like `templates/` (an admin edits `yealink/phone.cfg` without rebuilding).
#[derive(Debug, Clone)]
pub struct Templates {
    texts: HashMap<&'static str, String>,
}

impl Templates {
    /// The built-in templates.
    pub fn builtin() -> Self {
        Self {
            texts: BUILTIN.iter().map(|(n, t)| (*n, (*t).to_owned())).collect(),
        }
    }

    /// Built-in templates, replaced by any same-named file under `dir`. Each override is
    /// checked (only known fields, no unterminated `{{`) so a typo fails here, at start-up.
    pub fn with_overrides(dir: &Path) -> Result<Self, RenderError> {
        let mut t = Self::builtin();
        for (name, _) in BUILTIN {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    check(name, &text)?;
                    t.texts.insert(name, text);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(RenderError::Override {
                        path: path.display().to_string(),
                        source,
                    })
                }
            }
        }
        Ok(t)
    }

    fn get(&self, name: &'static str) -> &str {
        self.texts.get(name).map(String::as_str).unwrap_or("")
    }
}

fn check(name: &'static str, text: &str) -> Result<(), RenderError> {
    let fields = template::fields(text).map_err(|source| RenderError::Template { name, source })?;
    if let Some(bad) = fields.into_iter().find(|f| !FIELDS.contains(&f.as_str())) {
        return Err(RenderError::Template {
            name,
            source: TemplateError::UnknownField(bad),
        });
    }
    Ok(())
}

/// Box-wide values that go into every file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// SIP registrar host or address (the box).
    pub sip_server: String,
    /// SIP port.
    pub sip_port: u16,
    /// Voicemail access code; `*97` on this box.
    pub voicemail: String,
    /// NTP server.
    pub ntp_server: String,
    /// Time zone as the admin set it (IANA name or the vendor's spelling).
    pub timezone: String,
    /// Base URL the phones fetch from (`http://10.0.0.1/provision/`), for common files.
    pub provision_url: String,
}

/// One phone's SIP account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// SIP user (the extension).
    pub user: String,
    /// Digest user name.
    pub auth_user: String,
    /// Digest password.
    pub password: String,
    /// Name shown on the phone and in From headers.
    pub display_name: String,
}

/// What to render for.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The phone's MAC (per-phone files).
    pub mac: Option<Mac>,
    /// The phone's vendor, from the registry (decides `<mac>.cfg`).
    pub vendor: Option<Vendor>,
    /// The phone's model, if known.
    pub model: Option<&'a str>,
    /// The phone's account; `None` when unassigned.
    pub account: Option<&'a Account>,
    /// The phone's own secrets; needed with the account.
    pub secrets: Option<&'a PhoneSecrets>,
}

/// A generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// File name as the phone asked for it.
    pub name: String,
    /// Its content.
    pub body: String,
    /// True when it carries a SIP password and the phone's own passwords: serve it only to
    /// its own phone.
    pub secret: bool,
    /// MIME type for HTTP.
    pub content_type: &'static str,
}

/// Renders provisioning files.
#[derive(Debug, Clone)]
pub struct Provisioner {
    /// Box-wide values.
    pub settings: Settings,
    /// Template texts.
    pub templates: Templates,
}

impl Provisioner {
    /// A provisioner with the given settings and templates.
    pub fn new(settings: Settings, templates: Templates) -> Self {
        Self {
            settings,
            templates,
        }
    }

    /// Generates `kind` for `target`.
    pub fn render(&self, kind: &FileKind, target: Target<'_>) -> Result<Rendered, RenderError> {
        let (tpl, escape, per_phone): (&'static str, Escape, bool) = match kind {
            FileKind::YealinkCommon(_) => ("yealink/common.cfg", Escape::Ini, false),
            FileKind::MacCfg => match target.vendor {
                Some(Vendor::Yealink) => ("yealink/phone.cfg", Escape::Ini, true),
                Some(Vendor::Polycom) => ("polycom/mac.cfg", Escape::Xml, false),
                vendor => {
                    return Err(RenderError::WrongVendor {
                        file: kind.file_name(target.mac.as_ref()),
                        vendor,
                    })
                }
            },
            FileKind::PolycomMaster => ("polycom/master.cfg", Escape::Xml, false),
            FileKind::PolycomPhone => ("polycom/phone.cfg", Escape::Xml, true),
            FileKind::CiscoPhone => ("cisco/phone.cnf.xml", Escape::Xml, true),
            FileKind::CiscoDefault => ("cisco/default.cnf.xml", Escape::Xml, false),
            FileKind::GrandstreamPhone => ("grandstream/phone.xml", Escape::Xml, true),
            FileKind::SnomCommon(_) => ("snom/common.htm", Escape::Xml, false),
            FileKind::SnomPhone => ("snom/phone.xml", Escape::Xml, true),
        };
        let needs_mac = per_phone || matches!(kind, FileKind::MacCfg);
        if needs_mac && target.mac.is_none() {
            return Err(RenderError::NoMac(kind.clone()));
        }
        let s = &self.settings;
        let mut vars: HashMap<&str, String> = HashMap::from([
            ("mac", target.mac.map(|m| m.to_string()).unwrap_or_default()),
            (
                "mac_upper",
                target.mac.map(|m| m.upper()).unwrap_or_default(),
            ),
            ("model", target.model.unwrap_or_default().to_owned()),
            ("sip_server", s.sip_server.clone()),
            ("sip_port", s.sip_port.to_string()),
            ("voicemail", s.voicemail.clone()),
            ("ntp_server", s.ntp_server.clone()),
            ("timezone", s.timezone.clone()),
            ("provision_url", s.provision_url.clone()),
            ("provision_path", url_path(&s.provision_url).to_owned()),
        ]);
        if per_phone {
            let mac = target.mac.ok_or_else(|| RenderError::NoMac(kind.clone()))?;
            let a = target.account.ok_or(RenderError::Unassigned(mac))?;
            let p = target.secrets.ok_or(RenderError::NoSecrets(mac))?;
            vars.insert("user", a.user.clone());
            vars.insert("auth_user", a.auth_user.clone());
            vars.insert("password", a.password.clone());
            vars.insert("display_name", a.display_name.clone());
            vars.insert("provision_user", p.provision_user.clone());
            vars.insert("provision_password", p.provision_password.clone());
            vars.insert(
                "provision_auth_url",
                with_userinfo(&s.provision_url, &p.provision_user, &p.provision_password),
            );
            vars.insert("admin_password", p.admin_password.clone());
        }
        let body = template::render(self.templates.get(tpl), &vars, escape)
            .map_err(|source| RenderError::Template { name: tpl, source })?;
        Ok(Rendered {
            name: kind.file_name(target.mac.as_ref()),
            body,
            secret: per_phone,
            content_type: if escape == Escape::Xml {
                "application/xml"
            } else {
                "text/plain"
            },
        })
    }
}

/// `host:port/provision` of `http://host:port/provision/`: Grandstream wants its config
/// server path without scheme or trailing slash.
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.trim_end_matches('/')
}

/// `http://user:password@host/...` with both percent-encoded (RFC 3986 userinfo), for
/// phones (Snom) that take provisioning credentials only inside the URL.
fn with_userinfo(url: &str, user: &str, password: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!(
            "{scheme}://{}:{}@{rest}",
            percent_encode(user),
            percent_encode(password)
        ),
        None => url.to_owned(),
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioning_urls() {
        assert_eq!(
            url_path("http://10.0.0.1:8080/provision/"),
            "10.0.0.1:8080/provision"
        );
        assert_eq!(
            with_userinfo("http://10.0.0.1/provision/", "001565aabbcc", "p@ss:w/rd"),
            "http://001565aabbcc:p%40ss%3Aw%2Frd@10.0.0.1/provision/"
        );
        assert_eq!(with_userinfo("nonsense", "a", "b"), "nonsense");
    }
}
