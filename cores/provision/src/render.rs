//! Per-vendor config files from templates: which template a [`FileKind`] uses, which
//! values it gets, and how they are escaped.

use std::collections::HashMap;
use std::path::Path;

use crate::directory::{self, Directory, KeyFormat};
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
    /// The configured time zone is not in the table.
    #[error(transparent)]
    Zone(#[from] crate::tz::ZoneError),
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
        "cisco/spa-common.xml",
        include_str!("../templates/cisco/spa-common.xml"),
    ),
    (
        "cisco/spa-phone.xml",
        include_str!("../templates/cisco/spa-phone.xml"),
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
    "tz_offset",
    "tz_yealink",
    "tz_gmt_offset_s",
    "tz_dst",
    "tz_dst_start_month",
    "tz_dst_start_date",
    "tz_dst_start_last",
    "tz_dst_start_time",
    "tz_dst_stop_month",
    "tz_dst_stop_date",
    "tz_dst_stop_last",
    "tz_dst_stop_time",
    "tz_cisco",
    "tz_posix",
    "tz_snom",
    "tz_spa_zone",
    "tz_spa_dst",
    "provision_url",
    "provision_path",
    "firmware_url",
    "firmware_path",
    "firmware_app_path",
    "later_url",
    "ca_url",
    "https",
    "directory_url",
    "directory_auth_url",
    "directory_path",
    "keys",
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
    /// Time zone, an IANA name from [`crate::tz::ZONES`]; each template gets it in its
    /// vendor's spelling (`tz_*` fields).
    pub timezone: String,
    /// Base URL the phones fetch from (`http://10.0.0.1/provision/`), for common files.
    pub provision_url: String,
    /// `https://10.0.0.1:8443/provision/` when phones that can import the box's certificate
    /// move their later fetches to HTTPS (`[provision] https`); `None`: they stay on HTTP.
    pub https_url: Option<String>,
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
    /// The user's list: their contacts (the phone's contact keys) and the office's other
    /// users (the directory).
    pub directory: Directory,
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
    /// The firmware an admin put in place for this phone's model, relative to the firmware
    /// folder (`yealink/SIP-T46S.rom`); `None`: the files name none.
    pub firmware: Option<&'a str>,
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
            FileKind::SpaCommon(_) => ("cisco/spa-common.xml", Escape::Xml, false),
            FileKind::GrandstreamPhone => ("grandstream/phone.xml", Escape::Xml, true),
            FileKind::SnomCommon(_) => ("snom/common.htm", Escape::Xml, false),
            FileKind::MacXml => match target.vendor {
                Some(Vendor::Snom) => ("snom/phone.xml", Escape::Xml, true),
                Some(Vendor::Cisco) => ("cisco/spa-phone.xml", Escape::Xml, true),
                vendor => {
                    return Err(RenderError::WrongVendor {
                        file: kind.file_name(target.mac.as_ref()),
                        vendor,
                    })
                }
            },
            FileKind::SnomModelPhone(_) => ("snom/phone.xml", Escape::Xml, true),
            FileKind::Directory => return self.render_directory(target),
        };
        let needs_mac = per_phone || matches!(kind, FileKind::MacCfg | FileKind::MacXml);
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
        zone_fields(&mut vars, crate::tz::Zone::lookup(&s.timezone)?);
        firmware_fields(&mut vars, &s.provision_url, target.firmware);
        // The certificate comes over the URL the phone trusts now; only what follows is HTTPS.
        vars.extend([
            (
                "later_url",
                s.https_url
                    .clone()
                    .unwrap_or_else(|| s.provision_url.clone()),
            ),
            (
                "ca_url",
                s.https_url
                    .as_ref()
                    .map(|_| format!("{}{BOX_CERT}", s.provision_url))
                    .unwrap_or_default(),
            ),
            ("https", u8::from(s.https_url.is_some()).to_string()),
        ]);
        let mut blocks: HashMap<&str, String> = HashMap::from([("keys", String::new())]);
        vars.insert("directory_url", String::new());
        vars.insert("directory_auth_url", String::new());
        vars.insert("directory_path", String::new());
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
            let dir_name = FileKind::Directory.file_name(Some(&mac));
            vars.insert("directory_url", format!("{}{dir_name}", s.provision_url));
            let auth_url = format!(
                "{}{dir_name}",
                with_userinfo(&s.provision_url, &p.provision_user, &p.provision_password)
            );
            vars.insert("directory_path", url_path(&auth_url).to_owned());
            vars.insert("directory_auth_url", auth_url);
            if let Some(vendor) = template_vendor(tpl) {
                let format = if tpl == "cisco/spa-phone.xml" {
                    KeyFormat::FlatProfile
                } else {
                    KeyFormat::Enterprise
                };
                blocks.insert(
                    "keys",
                    directory::keys(vendor, format, &a.directory.contacts, &s.sip_server),
                );
            }
        }
        let body = template::render_with_blocks(self.templates.get(tpl), &vars, &blocks, escape)
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

/// `firmware_url` (the file's URL), `firmware_path` (its folder as Grandstream's server
/// path, which appends the file name it wants itself) and `firmware_app_path` (Polycom's
/// `APP_FILE_PATH`, whose factory name `sip.ld` stays when nothing is in place).
fn firmware_fields(vars: &mut HashMap<&str, String>, provision_url: &str, rel: Option<&str>) {
    let url = rel.map(|r| format!("{provision_url}{r}"));
    let folder = url
        .as_deref()
        .and_then(|u| u.rsplit_once('/'))
        .map(|(dir, _)| url_path(dir).to_owned());
    vars.extend([
        ("firmware_url", url.unwrap_or_default()),
        ("firmware_path", folder.unwrap_or_default()),
        ("firmware_app_path", rel.unwrap_or("sip.ld").to_owned()),
    ]);
}

/// The name the box's certificate is served under, beside the phones' files.
pub const BOX_CERT: &str = "box-cert.pem";

/// The vendor whose template `tpl` is (`yealink/phone.cfg`).
fn template_vendor(tpl: &str) -> Option<Vendor> {
    tpl.split('/').next().and_then(|v| v.parse().ok())
}

impl Provisioner {
    /// The phone's user's directory in the phone's brand's XML. Like a per-phone file, it
    /// needs the MAC, the vendor and the account.
    fn render_directory(&self, target: Target<'_>) -> Result<Rendered, RenderError> {
        let kind = FileKind::Directory;
        let mac = target.mac.ok_or_else(|| RenderError::NoMac(kind.clone()))?;
        let Some(vendor) = target.vendor else {
            return Err(RenderError::WrongVendor {
                file: kind.file_name(Some(&mac)),
                vendor: None,
            });
        };
        let a = target.account.ok_or(RenderError::Unassigned(mac))?;
        Ok(Rendered {
            name: kind.file_name(Some(&mac)),
            body: directory::render(vendor, &a.directory),
            secret: true,
            content_type: "application/xml",
        })
    }
}

/// The `tz_*` fields: the zone in each vendor's spelling (see [`crate::tz`]).
fn zone_fields(vars: &mut HashMap<&str, String>, z: &crate::tz::Zone) {
    let changes = z.dst_changes();
    let (start, stop) = changes.unzip();
    // Polycom: `date` is the first day the Sunday may fall on; the last Sunday is a flag.
    let date = |c: Option<crate::tz::Change>| {
        c.map_or(String::new(), |c| {
            (1 + 7 * (u32::from(c.week.min(4)) - 1)).to_string()
        })
    };
    let last = |c: Option<crate::tz::Change>| u8::from(c.is_some_and(|c| c.week == 5)).to_string();
    let month = |c: Option<crate::tz::Change>| c.map_or(String::new(), |c| c.month.to_string());
    let hour = |c: Option<crate::tz::Change>| c.map_or(String::new(), |c| c.hour.to_string());
    vars.extend([
        ("tz_offset", z.offset_hours()),
        ("tz_yealink", z.yealink.to_owned()),
        ("tz_gmt_offset_s", (z.offset_min * 60).to_string()),
        ("tz_dst", u8::from(changes.is_some()).to_string()),
        ("tz_dst_start_month", month(start)),
        ("tz_dst_start_date", date(start)),
        ("tz_dst_start_last", last(start)),
        ("tz_dst_start_time", hour(start)),
        ("tz_dst_stop_month", month(stop)),
        ("tz_dst_stop_date", date(stop)),
        ("tz_dst_stop_last", last(stop)),
        ("tz_dst_stop_time", hour(stop)),
        ("tz_cisco", z.cisco_name()),
        ("tz_posix", z.posix.to_owned()),
        ("tz_snom", z.snom_token()),
        ("tz_spa_zone", z.spa_zone()),
        ("tz_spa_dst", z.spa_dst_rule()),
    ]);
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
