//! Generated files for every vendor: well-formed XML (checked with `xmllint` when
#![allow(clippy::unwrap_used)]
//! installed), hostile values escaped, secrets flagged, overrides honoured.

use std::io::Write;
use std::process::{Command, Stdio};

use ivm_provision::{
    resolve, Account, FileKind, Mac, PhoneSecrets, Provisioner, RenderError, Settings, Target,
    Templates, Vendor,
};

const HOSTILE: &str = "Eve <\"&'>\nreg.1.address=666 ]]> <!-- \r\u{1}";

fn provisioner() -> Provisioner {
    Provisioner::new(
        Settings {
            sip_server: "10.0.0.1".into(),
            sip_port: 5060,
            voicemail: "*97".into(),
            ntp_server: "10.0.0.1".into(),
            timezone: "Europe/Berlin".into(),
            provision_url: "http://10.0.0.1/provision/".into(),
        },
        Templates::builtin(),
    )
}

fn account() -> Account {
    Account {
        user: "201".into(),
        auth_user: "201".into(),
        password: "p&ss<word>\"".into(),
        display_name: HOSTILE.into(),
    }
}

fn secrets() -> PhoneSecrets {
    PhoneSecrets {
        provision_user: "001565aabbcc".into(),
        provision_password: "prov-Cred&<1>".into(),
        admin_password: "adm1n-Pw\"'".into(),
    }
}

fn all_files(mac: Mac) -> Vec<(FileKind, Vendor)> {
    vec![
        (FileKind::YealinkCommon("28".into()), Vendor::Yealink),
        (FileKind::MacCfg, Vendor::Yealink),
        (FileKind::MacCfg, Vendor::Polycom),
        (FileKind::PolycomMaster, Vendor::Polycom),
        (FileKind::PolycomPhone, Vendor::Polycom),
        (FileKind::CiscoPhone, Vendor::Cisco),
        (FileKind::CiscoDefault, Vendor::Cisco),
        (FileKind::GrandstreamPhone, Vendor::Grandstream),
        (FileKind::SnomCommon("d785".into()), Vendor::Snom),
        (FileKind::SnomPhone, Vendor::Snom),
    ]
    .into_iter()
    .inspect(|(k, _)| assert!(resolve(&k.file_name(Some(&mac))).is_some()))
    .collect()
}

/// `Some(ok)` from xmllint, `None` when it is not installed.
fn xmllint(body: &str) -> Option<Result<(), String>> {
    let mut child = Command::new("xmllint")
        .args(["--noout", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(body.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into())
    })
}

#[test]
fn every_file_renders_well_formed_with_hostile_values() {
    let p = provisioner();
    let mac = Mac::parse("00:15:65:aa:bb:cc").unwrap();
    let acct = account();
    let sec = secrets();
    let mut checked = 0;
    for (kind, vendor) in all_files(mac) {
        let r = p
            .render(
                &kind,
                Target {
                    mac: Some(mac),
                    vendor: Some(vendor),
                    model: Some("T46U"),
                    account: Some(&acct),
                    secrets: Some(&sec),
                },
            )
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(resolve(&r.name).map(|(k, _)| k), Some(kind.clone()));
        assert!(!r.body.contains("{{"), "{}: unfilled field", r.name);
        if r.secret {
            assert!(r.body.contains("201"), "{}", r.name);
            // Every per-phone file gives the phone its own admin password, and (all but
            // Cisco's TFTP-only firmware) the credential for its later fetches.
            let (admin, cred) = if r.content_type == "application/xml" {
                ("adm1n-Pw&quot;&apos;", "prov-Cred&amp;&lt;1&gt;")
            } else {
                ("adm1n-Pw\"'", "prov-Cred&<1>")
            };
            assert!(
                r.body.contains(admin),
                "{}: admin password\n{}",
                r.name,
                r.body
            );
            if kind == FileKind::SnomPhone {
                assert!(
                    r.body.contains(
                        "http://001565aabbcc:prov-Cred%26%3C1%3E@10.0.0.1/provision/{mac}.xml"
                    ),
                    "{}",
                    r.body
                );
            } else if kind != FileKind::CiscoPhone {
                assert!(r.body.contains(cred), "{}: credential\n{}", r.name, r.body);
            }
        } else {
            assert!(!r.body.contains("adm1n"), "{}", r.name);
        }
        if r.content_type == "application/xml" {
            assert!(!r.body.contains("Eve <"), "{}: raw <", r.name);
            assert!(!r.body.contains("]]> <!--"), "{}: raw markup", r.name);
            match xmllint(&r.body) {
                Some(Ok(())) => checked += 1,
                Some(Err(e)) => panic!("{}: xmllint: {e}\n{}", r.name, r.body),
                None => eprintln!(
                    "note: xmllint not installed; {} checked by string only",
                    r.name
                ),
            }
        } else {
            // INI: the hostile newline must not start a new key.
            assert!(
                !r.body.lines().any(|l| l.starts_with("reg.1.address")),
                "{}",
                r.name
            );
            assert!(!r.body.contains('\u{1}') && !r.body.contains('\r'));
        }
    }
    eprintln!("xmllint checked {checked} files");
}

#[test]
fn secrets_flagged_and_unassigned_refused() {
    let p = provisioner();
    let mac = Mac::parse("0004f2000001").unwrap();
    let a0 = account();
    let sec: &'static PhoneSecrets = Box::leak(Box::new(secrets()));
    let t = |account: Option<&'static Account>| Target {
        mac: Some(mac),
        vendor: Some(Vendor::Polycom),
        model: None,
        account,
        secrets: Some(sec),
    };
    assert!(
        p.render(
            &FileKind::PolycomPhone,
            t(Some(Box::leak(Box::new(a0.clone()))))
        )
        .unwrap()
        .secret
    );
    assert!(!p.render(&FileKind::MacCfg, t(None)).unwrap().secret);
    assert!(!p.render(&FileKind::PolycomMaster, t(None)).unwrap().secret);
    assert!(matches!(
        p.render(&FileKind::PolycomPhone, t(None)),
        Err(RenderError::Unassigned(_))
    ));
    let snom = Target {
        mac: Some(mac),
        vendor: Some(Vendor::Snom),
        model: None,
        account: None,
        secrets: None,
    };
    assert!(matches!(
        p.render(&FileKind::MacCfg, snom),
        Err(RenderError::WrongVendor { .. })
    ));
    let a = account();
    let nomac = Target {
        mac: None,
        vendor: None,
        model: None,
        account: Some(&a),
        secrets: Some(sec),
    };
    assert!(matches!(
        p.render(&FileKind::CiscoPhone, nomac),
        Err(RenderError::NoMac(_))
    ));
    // An account without the phone's own secrets is refused rather than rendered with
    // empty passwords.
    let nosecrets = Target {
        mac: Some(mac),
        vendor: Some(Vendor::Polycom),
        model: None,
        account: Some(&a),
        secrets: None,
    };
    assert!(matches!(
        p.render(&FileKind::PolycomPhone, nosecrets),
        Err(RenderError::NoSecrets(_))
    ));
}

#[test]
fn overrides_from_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("yealink")).unwrap();
    std::fs::write(
        dir.path().join("yealink/phone.cfg"),
        "custom {{user}} {{mac}}\n",
    )
    .unwrap();
    let mut p = provisioner();
    p.templates = Templates::with_overrides(dir.path()).unwrap();
    let mac = Mac::parse("001565aabbcc").unwrap();
    let acct = account();
    let sec = secrets();
    let r = p
        .render(
            &FileKind::MacCfg,
            Target {
                mac: Some(mac),
                vendor: Some(Vendor::Yealink),
                model: None,
                account: Some(&acct),
                secrets: Some(&sec),
            },
        )
        .unwrap();
    assert_eq!(r.body, "custom 201 001565aabbcc\n");
    std::fs::write(dir.path().join("yealink/phone.cfg"), "bad {{passwd}}\n").unwrap();
    assert!(matches!(
        Templates::with_overrides(dir.path()),
        Err(RenderError::Template { .. })
    ));
}
