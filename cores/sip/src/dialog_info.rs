//! The bodies of the busy lamp field's NOTIFYs: `application/dialog-info+xml` (RFC 4235,
//! the dialog event package) and `application/pidf+xml` (RFC 3863, for the presence
//! package, RFC 3856). Pure string builders: the station decides what a user's lines look
//! like; this only writes it in the shape desk phones parse (the schema's element order,
//! escaped text), so the shape is tested here once.

use std::fmt::Write;

/// A dialog's state (RFC 4235 §4.1.2, the `state` element).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Being set up, nothing heard back yet.
    Trying,
    /// Ringing.
    Early,
    /// Answered: in a call.
    Confirmed,
    /// Ended (sent once, then the dialog leaves the document).
    Terminated,
}

impl DialogState {
    /// The element's text.
    pub fn as_str(self) -> &'static str {
        match self {
            DialogState::Trying => "trying",
            DialogState::Early => "early",
            DialogState::Confirmed => "confirmed",
            DialogState::Terminated => "terminated",
        }
    }
}

/// One `dialog` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogEntry {
    /// The `id` attribute: stable for the dialog's life.
    pub id: String,
    /// Its state.
    pub state: DialogState,
    /// `true`: the watched user's phone placed it (`initiator`); `false`: `recipient`.
    pub initiator: bool,
    /// The other party's identity (a SIP URI), when it may be shown.
    pub remote: Option<String>,
}

/// An RFC 4235 `dialog-info` document about `entity` (a SIP URI): `version` counts the
/// documents sent in one subscription from 0; `full` is `state="full"` (the whole state,
/// which is all the box sends: a phone that missed a NOTIFY is right again at the next).
pub fn dialog_info(entity: &str, version: u32, full: bool, dialogs: &[DialogEntry]) -> String {
    let mut s = String::with_capacity(256 + 256 * dialogs.len());
    let _ = write!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
         <dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"{version}\" \
         state=\"{}\" entity=\"{}\">\r\n",
        if full { "full" } else { "partial" },
        escape(entity)
    );
    for d in dialogs {
        let _ = write!(
            s,
            "<dialog id=\"{}\" direction=\"{}\">\r\n<state>{}</state>\r\n",
            escape(&d.id),
            if d.initiator {
                "initiator"
            } else {
                "recipient"
            },
            d.state.as_str()
        );
        // Element order per the schema: state, then local, then remote.
        let _ = write!(
            s,
            "<local>\r\n<identity>{0}</identity>\r\n<target uri=\"{0}\"/>\r\n</local>\r\n",
            escape(entity)
        );
        if let Some(r) = &d.remote {
            let _ = write!(
                s,
                "<remote>\r\n<identity>{0}</identity>\r\n<target uri=\"{0}\"/>\r\n</remote>\r\n",
                escape(r)
            );
        }
        s.push_str("</dialog>\r\n");
    }
    s.push_str("</dialog-info>\r\n");
    s
}

/// An RFC 3863 presence document about `entity` (a SIP URI, also the `pres:` URI's
/// address): one tuple, `open` or `closed`, with `note` (the web client's status word).
pub fn pidf(entity: &str, open: bool, note: &str) -> String {
    let e = escape(entity);
    let pres = e.strip_prefix("sip:").unwrap_or(&e);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
         <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:{pres}\">\r\n\
         <tuple id=\"ivm\">\r\n<status>\r\n<basic>{}</basic>\r\n</status>\r\n\
         <contact>{e}</contact>\r\n<note>{}</note>\r\n</tuple>\r\n<note>{}</note>\r\n\
         </presence>\r\n",
        if open { "open" } else { "closed" },
        escape(note),
        escape(note)
    )
}

/// Escapes text and attribute values (`&`, `<`, `>`, `"`, `'`).
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if c.is_control() => {}
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Well-formed per xmllint (libxml2-utils, which scripts/setup installs; required).
    fn well_formed(doc: &str) {
        let dir = std::env::temp_dir().join(format!("ivm-di-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let f = dir.join(format!("{n}.xml"));
        std::fs::write(&f, doc).expect("write");
        let out = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg(&f)
            .output()
            .expect("xmllint (package libxml2-utils) is needed: scripts/setup --tests");
        assert!(
            out.status.success(),
            "{doc}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn idle_is_an_empty_full_document() {
        let d = dialog_info("sip:202@ivm", 0, true, &[]);
        assert!(d.contains("version=\"0\" state=\"full\" entity=\"sip:202@ivm\""));
        assert!(!d.contains("<dialog "));
        well_formed(&d);
    }

    #[test]
    fn a_ringing_call_names_its_state_direction_and_caller_in_schema_order() {
        let d = dialog_info(
            "sip:202@ivm",
            3,
            true,
            &[DialogEntry {
                id: "7".into(),
                state: DialogState::Early,
                initiator: false,
                remote: Some("sip:201@ivm".into()),
            }],
        );
        assert!(d.contains("<dialog id=\"7\" direction=\"recipient\">"));
        assert!(d.contains("<state>early</state>"));
        assert!(d.contains("<remote>\r\n<identity>sip:201@ivm</identity>"));
        let (st, lo, re) = (
            d.find("<state>").expect("state"),
            d.find("<local>").expect("local"),
            d.find("<remote>").expect("remote"),
        );
        assert!(st < lo && lo < re, "RFC 4235 schema order");
        assert!(d.contains("version=\"3\""));
        well_formed(&d);
    }

    #[test]
    fn every_state_and_hostile_text_stay_well_formed() {
        for state in [
            DialogState::Trying,
            DialogState::Early,
            DialogState::Confirmed,
            DialogState::Terminated,
        ] {
            let d = dialog_info(
                "sip:a\"<&>'@ivm",
                u32::MAX,
                false,
                &[DialogEntry {
                    id: "</dialog>".into(),
                    state,
                    initiator: true,
                    remote: Some("sip:<x>&@ivm".into()),
                }],
            );
            assert!(d.contains(&format!("<state>{}</state>", state.as_str())));
            assert!(d.contains("state=\"partial\"") && d.contains("direction=\"initiator\""));
            well_formed(&d);
        }
    }

    #[test]
    fn presence_is_open_or_closed_with_the_note() {
        let p = pidf("sip:202@ivm", false, "busy");
        assert!(p.contains("entity=\"pres:202@ivm\""));
        assert!(p.contains("<basic>closed</basic>") && p.contains("<note>busy</note>"));
        well_formed(&p);
        let p = pidf("sip:202@ivm", true, "a<b");
        assert!(p.contains("<basic>open</basic>") && p.contains("<note>a&lt;b</note>"));
        well_formed(&p);
    }
}
