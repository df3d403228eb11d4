//! Which headers make a desk phone answer a call by itself, on its speaker (intercom), by
//! brand. A pure table: the vendor comes from the phone registry (set by the installer, or
//! read from the phone's MAC or `User-Agent`), and the provisioning templates
//! (`cores/provision/templates/*`) switch on what each brand needs to honour them. From the
//! vendors' administrator guides:
//!
//! | brand | header sent | the phone's setting (template) |
//! |---|---|---|
//! | Yealink | `Alert-Info: <sip:box>;info=alert-autoanswer` and `Call-Info: <sip:box>;answer-after=0` | `features.intercom.allow = 1` (the guide lists `info=alert-autoanswer` among the Alert-Info strings that auto-answer) |
//! | Polycom | `Alert-Info: intercom` | `voIpProt.SIP.alertInfo.1.value="intercom"` with `class="autoAnswer"`: the phone compares the Alert-Info value with each configured string and applies the matching ring class |
//! | Snom | `Call-Info: <sip:box>;answer-after=0` | `intercom_enabled = on`, `answer_after_policy = idle` |
//! | Grandstream | `Call-Info: answer-after=0` | `P298 = 1` ("Allow Auto Answer by Call-Info/Alert-Info") |
//! | Cisco (3PCC) | `Call-Info: <sip:box>;answer-after=0` | `autoAnswerEnabled` = 2 |
//! | unknown | `Answer-Mode: Auto` (RFC 5373) | - |
//!
//! No `Require: answermode` goes with RFC 5373's header: a phone that does not know it would
//! have to refuse the call (420), and a ringing phone that is not answered still falls back
//! to the stored copy.

use ivm_wire::phone::Vendor;

/// The headers (name, value) that ask a phone of `vendor` to answer by itself. `box_uri` is
/// the box's SIP URI (`sip:host:port`), named where a header carries a URI.
pub(crate) fn headers(vendor: Option<Vendor>, box_uri: &str) -> Vec<(&'static str, String)> {
    let answer_after = ("Call-Info", format!("<{box_uri}>;answer-after=0"));
    match vendor {
        Some(Vendor::Yealink) => vec![
            ("Alert-Info", format!("<{box_uri}>;info=alert-autoanswer")),
            answer_after,
        ],
        Some(Vendor::Polycom) => vec![("Alert-Info", POLYCOM_ALERT_INFO.to_owned())],
        Some(Vendor::Snom) | Some(Vendor::Cisco) => vec![answer_after],
        Some(Vendor::Grandstream) => vec![("Call-Info", "answer-after=0".to_owned())],
        None => vec![("Answer-Mode", "Auto".to_owned())],
    }
}

/// The Alert-Info string Polycom phones are provisioned to map to their auto-answer ring
/// class (`voIpProt.SIP.alertInfo.1.value` in `templates/polycom/phone.cfg`).
pub(crate) const POLYCOM_ALERT_INFO: &str = "intercom";

#[cfg(test)]
mod tests {
    use super::*;

    const BOX: &str = "sip:192.0.2.1:5060";

    fn names(v: Option<Vendor>) -> Vec<String> {
        headers(v, BOX)
            .into_iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect()
    }

    #[test]
    fn each_brand_gets_the_headers_its_guide_names() {
        assert_eq!(
            names(Some(Vendor::Yealink)),
            [
                "Alert-Info: <sip:192.0.2.1:5060>;info=alert-autoanswer",
                "Call-Info: <sip:192.0.2.1:5060>;answer-after=0"
            ]
        );
        assert_eq!(names(Some(Vendor::Polycom)), ["Alert-Info: intercom"]);
        assert_eq!(
            names(Some(Vendor::Snom)),
            ["Call-Info: <sip:192.0.2.1:5060>;answer-after=0"]
        );
        assert_eq!(
            names(Some(Vendor::Cisco)),
            ["Call-Info: <sip:192.0.2.1:5060>;answer-after=0"]
        );
        assert_eq!(
            names(Some(Vendor::Grandstream)),
            ["Call-Info: answer-after=0"]
        );
        assert_eq!(names(None), ["Answer-Mode: Auto"]);
    }

    /// The templates switch on what the headers rely on: a header the phone is not set up
    /// to honour would ring instead of answering.
    #[test]
    fn the_provisioning_templates_honour_what_is_sent() {
        let t = |p: &str| {
            std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../cores/provision/templates")
                    .join(p),
            )
            .unwrap_or_else(|e| panic!("{p}: {e}"))
        };
        assert!(t("yealink/phone.cfg").contains("features.intercom.allow = 1"));
        let poly = t("polycom/phone.cfg");
        assert!(poly.contains(&format!(
            r#"voIpProt.SIP.alertInfo.1.value="{POLYCOM_ALERT_INFO}" voIpProt.SIP.alertInfo.1.class="autoAnswer""#
        )));
        let snom = t("snom/phone.xml");
        assert!(snom.contains(r#"<intercom_enabled perm="RW">on</intercom_enabled>"#));
        assert!(
            snom.contains(r#"<answer_after_policy idx="1" perm="RW">idle</answer_after_policy>"#)
        );
        assert!(t("grandstream/phone.xml").contains("<P298>1</P298>"));
        assert!(t("cisco/phone.cnf.xml").contains("<autoAnswerEnabled>2</autoAnswerEnabled>"));
    }
}
