//! Which provisioning file a requested name is: the only gate between a TFTP or HTTP path
//! and the generated files.
//!
//! Names are matched against a closed list of patterns; anything else (including `..`,
//! absolute paths, sub-folders, backslashes and NULs) is refused, so no path ever reaches
//! the file system from here.

use ivm_wire::phone::Mac;
use ivm_wire::phone::Vendor;

/// Longest name considered; the longest real one (`snom<model>-<MAC>.htm`) is under 40.
const MAX_NAME: usize = 64;

/// A provisioning file the box generates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// Yealink common file `y000000000XXX.cfg`; holds the three-digit model code (`028`
    /// for a T46G, `108` for a T46U): older models' two-digit codes are the same name with
    /// a leading zero.
    YealinkCommon(String),
    /// `<mac>.cfg`: Yealink's per-phone file, or Polycom's per-phone master file. Which one
    /// is decided by the registered phone's vendor.
    MacCfg,
    /// Polycom's default master file `000000000000.cfg`.
    PolycomMaster,
    /// Polycom per-phone settings `<mac>-ivm.cfg`, listed by its `<mac>.cfg`. Not
    /// `<mac>-phone.cfg`: that name is the phone's own override file, which the phone writes
    /// back to the server and which would then shadow the box's settings.
    PolycomPhone,
    /// Cisco `SEP<MAC>.cnf.xml`.
    CiscoPhone,
    /// Cisco `XMLDefault.cnf.xml`.
    CiscoDefault,
    /// Grandstream `cfg<mac>.xml`.
    GrandstreamPhone,
    /// Snom common `snom<model>.htm`; holds the model (`d785`).
    SnomCommon(String),
    /// `<MAC>.xml`: Snom's per-phone file, or a Cisco SPA / MPP (3PCC) phone's per-phone
    /// `$MA.xml` flat profile. Which one is decided by the registered phone's vendor.
    MacXml,
    /// Snom per-phone `snom<model>-<MAC>.htm` (the name in the factory setting URL); holds
    /// the model.
    SnomModelPhone(String),
    /// Cisco SPA / MPP (3PCC) common file: `spa<PSN>.cfg` (SPA default profile rule) or
    /// `<PSN>.xml` (MPP, e.g. `cp-8841-3pcc.xml`); holds the lower-case name as asked.
    /// It only points the phone at its per-phone `$MA.xml`.
    SpaCommon(String),
    /// `<mac>-directory.xml`: the phone's user's directory (contacts and the office), in the
    /// registered phone's brand's XML. Polycom phones fetch this very name by themselves;
    /// the other brands' files point at it.
    Directory,
}

impl FileKind {
    /// The vendor the file is for; `None` for `<mac>.cfg` (Yealink or Polycom) and
    /// `<MAC>.xml` (Snom or Cisco 3PCC).
    pub fn vendor(&self) -> Option<Vendor> {
        match self {
            FileKind::YealinkCommon(_) => Some(Vendor::Yealink),
            FileKind::MacCfg | FileKind::MacXml | FileKind::Directory => None,
            FileKind::PolycomMaster | FileKind::PolycomPhone => Some(Vendor::Polycom),
            FileKind::CiscoPhone | FileKind::CiscoDefault | FileKind::SpaCommon(_) => {
                Some(Vendor::Cisco)
            }
            FileKind::GrandstreamPhone => Some(Vendor::Grandstream),
            FileKind::SnomCommon(_) | FileKind::SnomModelPhone(_) => Some(Vendor::Snom),
        }
    }

    /// The file name as the phone asks for it (`mac` for per-phone files).
    pub fn file_name(&self, mac: Option<&Mac>) -> String {
        let lower = mac.map(Mac::to_string).unwrap_or_default();
        let upper = mac.map(Mac::upper).unwrap_or_default();
        match self {
            FileKind::YealinkCommon(code) => format!("y000000000{code}.cfg"),
            FileKind::MacCfg => format!("{lower}.cfg"),
            FileKind::PolycomMaster => "000000000000.cfg".to_owned(),
            FileKind::PolycomPhone => format!("{lower}-ivm.cfg"),
            FileKind::CiscoPhone => format!("SEP{upper}.cnf.xml"),
            FileKind::CiscoDefault => "XMLDefault.cnf.xml".to_owned(),
            FileKind::GrandstreamPhone => format!("cfg{lower}.xml"),
            FileKind::SnomCommon(model) => format!("snom{model}.htm"),
            FileKind::MacXml => format!("{upper}.xml"),
            FileKind::SnomModelPhone(model) => format!("snom{model}-{upper}.htm"),
            FileKind::SpaCommon(name) => name.clone(),
            FileKind::Directory => format!("{lower}-directory.xml"),
        }
    }
}

/// Maps a requested name (`SEP001565AABBCC.cnf.xml`, `/provision/001565aabbcc.cfg`) to the
/// file it is and, for per-phone files, the MAC it names. `None` for anything else.
pub fn resolve(path: &str) -> Option<(FileKind, Option<Mac>)> {
    let name = path.strip_prefix("/provision/").unwrap_or(path);
    if name.is_empty()
        || name.len() > MAX_NAME
        || name.contains("..")
        || name
            .bytes()
            .any(|b| matches!(b, b'/' | b'\\' | 0) || b.is_ascii_control())
        || !name.is_ascii()
    {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let mac = |hex: &str| Mac::parse(hex).ok().filter(|_| hex.len() == 12);

    if lower == "000000000000.cfg" {
        return Some((FileKind::PolycomMaster, None));
    }
    if lower == "xmldefault.cnf.xml" {
        return Some((FileKind::CiscoDefault, None));
    }
    if let Some(code) = lower
        .strip_prefix("y000000000")
        .and_then(|r| r.strip_suffix(".cfg"))
    {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some((FileKind::YealinkCommon(code.to_owned()), None));
        }
        return None;
    }
    if let Some(hex) = lower
        .strip_prefix("sep")
        .and_then(|r| r.strip_suffix(".cnf.xml"))
    {
        return mac(hex).map(|m| (FileKind::CiscoPhone, Some(m)));
    }
    if let Some(hex) = lower
        .strip_prefix("cfg")
        .and_then(|r| r.strip_suffix(".xml"))
    {
        return mac(hex).map(|m| (FileKind::GrandstreamPhone, Some(m)));
    }
    if let Some(rest) = lower
        .strip_prefix("snom")
        .and_then(|r| r.strip_suffix(".htm"))
    {
        if let Some((model, hex)) = rest.split_once('-') {
            return mac(hex)
                .filter(|_| snom_model(model))
                .map(|m| (FileKind::SnomModelPhone(model.to_owned()), Some(m)));
        }
        let model = rest;
        let ok =
            (2..=12).contains(&model.len()) && model.bytes().all(|b| b.is_ascii_alphanumeric());
        return ok.then(|| (FileKind::SnomCommon(model.to_owned()), None));
    }
    if let Some(hex) = lower.strip_suffix("-directory.xml") {
        return mac(hex).map(|m| (FileKind::Directory, Some(m)));
    }
    if let Some(hex) = lower.strip_suffix("-ivm.cfg") {
        return mac(hex).map(|m| (FileKind::PolycomPhone, Some(m)));
    }
    if let Some(psn) = lower
        .strip_prefix("spa")
        .and_then(|r| r.strip_suffix(".cfg"))
    {
        return spa_psn(psn).then(|| (FileKind::SpaCommon(lower.clone()), None));
    }
    if let Some(psn) = lower.strip_suffix(".xml").filter(|p| p.starts_with("cp")) {
        return spa_psn(psn).then(|| (FileKind::SpaCommon(lower.clone()), None));
    }
    if let Some(hex) = lower.strip_suffix(".cfg") {
        return mac(hex).map(|m| (FileKind::MacCfg, Some(m)));
    }
    if let Some(hex) = lower.strip_suffix(".xml") {
        // Snom asks with upper-case hex, Cisco 3PCC (`$MA`) with lower-case: accept either.
        return mac(hex).map(|m| (FileKind::MacXml, Some(m)));
    }
    None
}

/// A Snom model token: `d785`, `320`, `m300`.
fn snom_model(model: &str) -> bool {
    (2..=12).contains(&model.len()) && model.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A Cisco product series number as it appears in a profile rule's `$PSN`: `504g`,
/// `cp-8841-3pcc`. Letters, digits and inner dashes.
fn spa_psn(psn: &str) -> bool {
    (2..=20).contains(&psn.len())
        && psn.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !psn.starts_with('-')
        && !psn.ends_with('-')
        && psn.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn known_names() {
        let m = Mac::parse("001565aabbcc").unwrap();
        let cases = [
            ("001565aabbcc.cfg", FileKind::MacCfg, Some(m)),
            ("/provision/001565aabbcc.cfg", FileKind::MacCfg, Some(m)),
            (
                "y000000000028.cfg",
                FileKind::YealinkCommon("028".into()),
                None,
            ),
            (
                "y000000000108.cfg",
                FileKind::YealinkCommon("108".into()),
                None,
            ),
            ("000000000000.cfg", FileKind::PolycomMaster, None),
            ("001565aabbcc-ivm.cfg", FileKind::PolycomPhone, Some(m)),
            ("SEP001565AABBCC.cnf.xml", FileKind::CiscoPhone, Some(m)),
            ("SEP001565aabbcc.cnf.xml", FileKind::CiscoPhone, Some(m)),
            ("sep001565AaBbCc.CNF.XML", FileKind::CiscoPhone, Some(m)),
            ("XMLDefault.cnf.xml", FileKind::CiscoDefault, None),
            ("cfg001565aabbcc.xml", FileKind::GrandstreamPhone, Some(m)),
            ("snomD785.htm", FileKind::SnomCommon("d785".into()), None),
            ("001565AABBCC.xml", FileKind::MacXml, Some(m)),
            ("001565aabbcc.xml", FileKind::MacXml, Some(m)),
            (
                "snomD785-001565AABBCC.htm",
                FileKind::SnomModelPhone("d785".into()),
                Some(m),
            ),
            (
                "spa504G.cfg",
                FileKind::SpaCommon("spa504g.cfg".into()),
                None,
            ),
            ("001565aabbcc-directory.xml", FileKind::Directory, Some(m)),
            ("001565AABBCC-directory.xml", FileKind::Directory, Some(m)),
            (
                "CP-8841-3PCC.xml",
                FileKind::SpaCommon("cp-8841-3pcc.xml".into()),
                None,
            ),
        ];
        for (name, kind, mac) in cases {
            assert_eq!(resolve(name), Some((kind.clone(), mac)), "{name}");
            if let Some(mac) = mac {
                assert_eq!(
                    resolve(&kind.file_name(Some(&mac))),
                    Some((kind, Some(mac)))
                );
            }
        }
    }

    #[test]
    fn refuses_everything_else() {
        for name in [
            "",
            "/",
            "../001565aabbcc.cfg",
            "/etc/passwd",
            "/001565aabbcc.cfg",
            "a/001565aabbcc.cfg",
            "..\\001565aabbcc.cfg",
            "/provision/../x",
            "/provision/sub/001565aabbcc.cfg",
            "001565aabbcc.cfg\0",
            "SEP01565AABBCC.cnf.xml",
            "SEP0015-65AABBCC.cnf.xml",
            "SEP010203040506.cnf.xml",
            "y00000000002.cfg",
            "y0000000001080.cfg",
            "001565aabbcc-phone.cfg",
            "snomD785-001565AABBC.htm",
            "snom-001565AABBCC.htm",
            "spa.cfg",
            "spa-.cfg",
            "spa504g..cfg",
            "cp.xml",
            "cp_8841.xml",
            "-directory.xml",
            "001565aabbc-directory.xml",
            "y0000000000zz.cfg",
            "snom.htm",
            "snom../x.htm",
            "firmware.bin",
            "001565aabbcc.cfg.bak",
            "ffffffffffff.cfg",
            "001565aabbcc.cfg ",
            "%2e%2e/x",
            "\u{e9}001565aabbcc.cfg",
        ] {
            assert_eq!(resolve(name), None, "{name:?}");
        }
        assert_eq!(resolve(&"a".repeat(1000)), None);
    }
}
