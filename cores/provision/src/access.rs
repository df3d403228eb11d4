//! Who may have a phone's account file: the rules as one pure function, so every case is a
//! unit test and the TFTP and HTTP front-ends cannot drift apart.
//!
//! A per-phone file carries the user's SIP password (the whole account: `*97` plays their
//! messages, REGISTER takes their calls) and the phone's own admin password. A MAC is no
//! secret (labels, ARP, LLDP, DHCP), so knowing it must not be enough:
//!
//! ```text
//! another vendor's file name for a known phone    -> WrongVendor (404, nothing recorded)
//! a file without secrets (Polycom <mac>.cfg)      -> Serve
//! nobody's phone                                  -> Unassigned (404)
//! the phone's provisioning credential (HTTP)      -> Serve
//! armed, from the DHCP lease's address if any     -> Serve { bind }   (first fetch: bind, disarm)
//! Cisco SEP<MAC>.cnf.xml from the bound address   -> Serve            (TFTP-only firmware)
//! <mac>-directory.xml: credential, or a Cisco's bound address; never armed / first fetch
//! armed, but not from the leased address          -> Refuse(NotLeaseHolder)
//! a wrong credential                              -> Refuse(BadCredential)  (counts in the limiter)
//! no credential                                   -> Refuse(NeedCredential) (401 / TFTP access violation)
//! ```
//!
//! The subnet check (`[provision] subnets`) comes before all of this, in the front: a host
//! outside them gets no per-phone file and causes no write at all.

use std::net::IpAddr;

use crate::files::FileKind;
use ivm_wire::phone::Vendor;

/// The transport of a request: TFTP cannot carry credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// TFTP (no authentication at all).
    Tftp,
    /// HTTP `GET /provision/...` (Digest or Basic credentials possible).
    Http,
}

impl Via {
    /// Lower-case name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Tftp => "tftp",
            Via::Http => "http",
        }
    }
}

/// What the request proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// No credentials (always so over TFTP).
    None,
    /// The phone's provisioning credential, verified.
    Good,
    /// Credentials that did not verify.
    Bad,
}

/// The phone as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneView {
    /// It has a user (an account to hand out).
    pub assigned: bool,
    /// Its recorded vendor (installer, MAC prefix, or a first sighting).
    pub vendor: Option<Vendor>,
    /// Armed now (inside its arming window).
    pub armed: bool,
    /// The address its first fetch came from, once bound.
    pub bound: Option<IpAddr>,
}

/// The request as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestView<'a> {
    /// The file asked for.
    pub kind: &'a FileKind,
    /// Where it came from.
    pub peer: IpAddr,
    /// How.
    pub via: Via,
    /// What it proved.
    pub proof: Proof,
    /// The address the box's own DHCP server leased to this MAC, if it did.
    pub lease: Option<IpAddr>,
}

/// Why a request for a per-phone file is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials: HTTP answers 401 with a challenge, TFTP an access violation.
    NeedCredential,
    /// Credentials that did not verify (counted by the limiter).
    BadCredential,
    /// Armed, but the box's DHCP server leased this MAC another address: only that address
    /// may do the first fetch.
    NotLeaseHolder,
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Serve the file. `bind`: this is the armed first fetch; record the binding (and
    /// disarm) durably before the file leaves.
    Serve {
        /// Bind the phone to this request's address first.
        bind: bool,
    },
    /// The name is another vendor's format for this phone: not found, nothing recorded.
    WrongVendor,
    /// A per-phone file of a phone nobody has: not found.
    Unassigned,
    /// Refused.
    Refuse(Refusal),
}

/// Whether `kind` is a file a phone of `vendor` asks for. An unknown vendor matches every
/// kind (the request's kind then fills it in).
pub fn vendor_matches(kind: &FileKind, vendor: Option<Vendor>) -> bool {
    match (kind, vendor) {
        (_, None) => true,
        (FileKind::MacCfg, Some(v)) => matches!(v, Vendor::Yealink | Vendor::Polycom),
        (FileKind::MacXml, Some(v)) => matches!(v, Vendor::Snom | Vendor::Cisco),
        (FileKind::Directory, Some(_)) => true,
        (k, Some(v)) => k.vendor() == Some(v),
    }
}

/// Whether `kind` for a phone of `vendor` carries secrets (an account and passwords).
/// `<mac>.cfg` is Yealink's account file but Polycom's secret-free master file.
pub fn carries_secrets(kind: &FileKind, vendor: Option<Vendor>) -> bool {
    match kind {
        FileKind::MacCfg => vendor == Some(Vendor::Yealink),
        FileKind::PolycomPhone
        | FileKind::CiscoPhone
        | FileKind::GrandstreamPhone
        | FileKind::MacXml
        | FileKind::SnomModelPhone(_)
        | FileKind::Directory => true,
        FileKind::YealinkCommon(_)
        | FileKind::PolycomMaster
        | FileKind::CiscoDefault
        | FileKind::SnomCommon(_)
        | FileKind::SpaCommon(_) => false,
    }
}

/// Applies the rules in the module doc to a request for a MAC-named file.
pub fn decide(phone: &PhoneView, req: &RequestView<'_>) -> Decision {
    if !vendor_matches(req.kind, phone.vendor) {
        return Decision::WrongVendor;
    }
    if !carries_secrets(req.kind, phone.vendor) {
        return Decision::Serve { bind: false };
    }
    if !phone.assigned {
        return Decision::Unassigned;
    }
    // TFTP carries no credentials, whatever the caller says.
    let proof = match req.via {
        Via::Tftp => Proof::None,
        Via::Http => req.proof,
    };
    if proof == Proof::Good {
        return Decision::Serve { bind: false };
    }
    if *req.kind == FileKind::Directory {
        // The office's names and extensions: to the phone's credential (above) or, for
        // Cisco's enterprise firmware which sends none, its bound address. Never a first
        // fetch: only the account file binds a phone.
        if phone.vendor == Some(Vendor::Cisco) && phone.bound == Some(req.peer) {
            return Decision::Serve { bind: false };
        }
        return match proof {
            Proof::Bad => Decision::Refuse(Refusal::BadCredential),
            _ => Decision::Refuse(Refusal::NeedCredential),
        };
    }
    if phone.armed {
        return match req.lease {
            Some(leased) if leased != req.peer => Decision::Refuse(Refusal::NotLeaseHolder),
            _ => Decision::Serve { bind: true },
        };
    }
    // Cisco's enterprise firmware fetches SEP<MAC>.cnf.xml over TFTP (or plain HTTP) and
    // cannot authenticate: the bound address is all there is.
    if *req.kind == FileKind::CiscoPhone && phone.bound == Some(req.peer) {
        return Decision::Serve { bind: false };
    }
    match proof {
        Proof::Bad => Decision::Refuse(Refusal::BadCredential),
        _ => Decision::Refuse(Refusal::NeedCredential),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: &str = "10.0.0.7";
    const OTHER: &str = "10.0.0.66";

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn phone(vendor: Vendor) -> PhoneView {
        PhoneView {
            assigned: true,
            vendor: Some(vendor),
            armed: false,
            bound: Some(ip(PHONE)),
        }
    }

    fn req(kind: &FileKind, peer: &str, via: Via, proof: Proof) -> RequestView<'static> {
        RequestView {
            kind: Box::leak(Box::new(kind.clone())),
            peer: ip(peer),
            via,
            proof,
            lease: None,
        }
    }

    #[test]
    fn another_vendors_name_is_not_found_and_secret_free_files_are_served() {
        let yealink = phone(Vendor::Yealink);
        for kind in [
            FileKind::GrandstreamPhone,
            FileKind::MacXml,
            FileKind::CiscoPhone,
            FileKind::PolycomPhone,
        ] {
            assert_eq!(
                decide(&yealink, &req(&kind, PHONE, Via::Http, Proof::Good)),
                Decision::WrongVendor,
                "{kind:?}"
            );
        }
        // `<MAC>.xml` is Snom's and Cisco 3PCC's (`$MA.xml`) name, not Grandstream's.
        assert_eq!(
            decide(
                &phone(Vendor::Grandstream),
                &req(&FileKind::MacXml, PHONE, Via::Tftp, Proof::None)
            ),
            Decision::WrongVendor
        );
        assert!(vendor_matches(&FileKind::MacXml, Some(Vendor::Cisco)));
        assert!(carries_secrets(&FileKind::MacXml, Some(Vendor::Cisco)));
        assert!(!carries_secrets(
            &FileKind::SpaCommon("spa504g.cfg".into()),
            Some(Vendor::Cisco)
        ));
        // Polycom's <mac>.cfg names only the files to fetch next: no secrets, served.
        let mut polycom = phone(Vendor::Polycom);
        polycom.assigned = false;
        assert_eq!(
            decide(
                &polycom,
                &req(&FileKind::MacCfg, OTHER, Via::Tftp, Proof::None)
            ),
            Decision::Serve { bind: false }
        );
        // An unknown vendor matches whatever is asked.
        assert!(vendor_matches(&FileKind::MacXml, None));
        assert!(!carries_secrets(&FileKind::MacCfg, None));
    }

    #[test]
    fn unassigned_phones_get_nothing() {
        let mut p = phone(Vendor::Yealink);
        p.assigned = false;
        p.armed = true;
        assert_eq!(
            decide(&p, &req(&FileKind::MacCfg, PHONE, Via::Http, Proof::Good)),
            Decision::Unassigned
        );
    }

    #[test]
    fn armed_first_fetch_binds_from_anywhere_unless_a_lease_says_otherwise() {
        let mut p = phone(Vendor::Yealink);
        p.bound = None;
        p.armed = true;
        for via in [Via::Tftp, Via::Http] {
            for proof in [Proof::None, Proof::Bad] {
                assert_eq!(
                    decide(&p, &req(&FileKind::MacCfg, OTHER, via, proof)),
                    Decision::Serve { bind: true }
                );
            }
        }
        let mut r = req(&FileKind::MacCfg, OTHER, Via::Tftp, Proof::None);
        r.lease = Some(ip(PHONE));
        assert_eq!(decide(&p, &r), Decision::Refuse(Refusal::NotLeaseHolder));
        r.peer = ip(PHONE);
        assert_eq!(decide(&p, &r), Decision::Serve { bind: true });
        // A good credential needs no arming and binds nothing.
        assert_eq!(
            decide(&p, &req(&FileKind::MacCfg, OTHER, Via::Http, Proof::Good)),
            Decision::Serve { bind: false }
        );
    }

    #[test]
    fn bound_phones_need_their_credential() {
        let p = phone(Vendor::Yealink);
        let k = FileKind::MacCfg;
        assert_eq!(
            decide(&p, &req(&k, PHONE, Via::Http, Proof::Good)),
            Decision::Serve { bind: false }
        );
        assert_eq!(
            decide(&p, &req(&k, OTHER, Via::Http, Proof::Good)),
            Decision::Serve { bind: false },
            "the credential works from any address in the subnets"
        );
        // Even the bound address needs it: addresses are easy to take over on a LAN.
        assert_eq!(
            decide(&p, &req(&k, PHONE, Via::Http, Proof::None)),
            Decision::Refuse(Refusal::NeedCredential)
        );
        assert_eq!(
            decide(&p, &req(&k, OTHER, Via::Http, Proof::Bad)),
            Decision::Refuse(Refusal::BadCredential)
        );
        // TFTP cannot prove anything, whatever the caller claims.
        assert_eq!(
            decide(&p, &req(&k, PHONE, Via::Tftp, Proof::Good)),
            Decision::Refuse(Refusal::NeedCredential)
        );
    }

    #[test]
    fn cisco_enterprise_is_held_to_its_bound_address() {
        let p = phone(Vendor::Cisco);
        let k = FileKind::CiscoPhone;
        for via in [Via::Tftp, Via::Http] {
            assert_eq!(
                decide(&p, &req(&k, PHONE, via, Proof::None)),
                Decision::Serve { bind: false }
            );
            assert_eq!(
                decide(&p, &req(&k, OTHER, via, Proof::None)),
                Decision::Refuse(Refusal::NeedCredential)
            );
        }
        // The same rule does not open other vendors' files to their bound address over TFTP.
        assert_eq!(
            decide(
                &phone(Vendor::Grandstream),
                &req(&FileKind::GrandstreamPhone, PHONE, Via::Tftp, Proof::None)
            ),
            Decision::Refuse(Refusal::NeedCredential)
        );
    }

    #[test]
    fn the_directory_needs_the_credential_and_never_binds() {
        let d = FileKind::Directory;
        for v in Vendor::ALL {
            let mut p = phone(v);
            assert_eq!(
                decide(&p, &req(&d, OTHER, Via::Http, Proof::Good)),
                Decision::Serve { bind: false },
                "{v}"
            );
            assert_eq!(
                decide(&p, &req(&d, OTHER, Via::Http, Proof::Bad)),
                Decision::Refuse(Refusal::BadCredential)
            );
            // Armed and unbound: the directory is no first fetch.
            p.armed = true;
            p.bound = None;
            assert_eq!(
                decide(&p, &req(&d, PHONE, Via::Http, Proof::None)),
                Decision::Refuse(Refusal::NeedCredential),
                "{v}"
            );
            p.assigned = false;
            assert_eq!(
                decide(&p, &req(&d, PHONE, Via::Http, Proof::Good)),
                Decision::Unassigned
            );
        }
        // Cisco's enterprise firmware sends no credential: its bound address only.
        let c = phone(Vendor::Cisco);
        assert_eq!(
            decide(&c, &req(&d, PHONE, Via::Http, Proof::None)),
            Decision::Serve { bind: false }
        );
        assert_eq!(
            decide(&c, &req(&d, OTHER, Via::Http, Proof::None)),
            Decision::Refuse(Refusal::NeedCredential)
        );
        assert_eq!(
            decide(
                &phone(Vendor::Yealink),
                &req(&d, PHONE, Via::Http, Proof::None)
            ),
            Decision::Refuse(Refusal::NeedCredential)
        );
    }
}
