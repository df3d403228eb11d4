//! Generated files for every vendor: well-formed XML (checked with `xmllint` when
#![allow(clippy::unwrap_used)]
//! installed), hostile values escaped, secrets flagged, overrides honoured.

use std::io::Write;
use std::process::{Command, Stdio};

use ivm_provision::{
    resolve, Account, Contact, Directory, FileKind, Mac, PhoneSecrets, Provisioner, RenderError,
    Settings, Target, Templates, Vendor,
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
            https_url: None,
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
        directory: Directory {
            contacts: vec![
                Contact {
                    name: HOSTILE.into(),
                    extension: "202".into(),
                },
                Contact {
                    name: "Carol".into(),
                    extension: "203".into(),
                },
            ],
            others: vec![Contact {
                name: "Dave".into(),
                extension: "204".into(),
            }],
        },
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
        (FileKind::YealinkCommon("028".into()), Vendor::Yealink),
        (FileKind::YealinkCommon("108".into()), Vendor::Yealink),
        (FileKind::MacCfg, Vendor::Yealink),
        (FileKind::MacCfg, Vendor::Polycom),
        (FileKind::PolycomMaster, Vendor::Polycom),
        (FileKind::PolycomPhone, Vendor::Polycom),
        (FileKind::CiscoPhone, Vendor::Cisco),
        (FileKind::CiscoDefault, Vendor::Cisco),
        (FileKind::GrandstreamPhone, Vendor::Grandstream),
        (FileKind::SnomCommon("d785".into()), Vendor::Snom),
        (FileKind::MacXml, Vendor::Snom),
        (FileKind::SnomModelPhone("d785".into()), Vendor::Snom),
        (FileKind::MacXml, Vendor::Cisco),
        (FileKind::SpaCommon("spa504g.cfg".into()), Vendor::Cisco),
        (
            FileKind::SpaCommon("cp-8841-3pcc.xml".into()),
            Vendor::Cisco,
        ),
        (FileKind::Directory, Vendor::Yealink),
        (FileKind::Directory, Vendor::Polycom),
        (FileKind::Directory, Vendor::Cisco),
        (FileKind::Directory, Vendor::Snom),
        (FileKind::Directory, Vendor::Grandstream),
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
                    firmware: None,
                },
            )
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(resolve(&r.name).map(|(k, _)| k), Some(kind.clone()));
        assert!(!r.body.contains("{{"), "{}: unfilled field", r.name);
        if kind == FileKind::Directory {
            // Names and extensions: the contacts first, a message entry each.
            assert!(
                r.body.contains(">*7202<") && r.body.contains(">204<"),
                "{}",
                r.body
            );
            assert!(!r.body.contains("adm1n") && !r.body.contains("p&amp;ss"));
        } else if r.secret {
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
            if vendor == Vendor::Snom {
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
        firmware: None,
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
        firmware: None,
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
        firmware: None,
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
        firmware: None,
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
                firmware: None,
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

/// Renders `kind` for a phone of `vendor` with the time zone `tz`.
fn render_with_zone(tz: &str, kind: FileKind, vendor: Vendor) -> Result<String, RenderError> {
    render_full(tz, kind, vendor, None)
}

fn render_full(
    tz: &str,
    kind: FileKind,
    vendor: Vendor,
    firmware: Option<&str>,
) -> Result<String, RenderError> {
    let mut p = provisioner();
    p.settings.timezone = tz.into();
    let acct = account();
    let sec = secrets();
    p.render(
        &kind,
        Target {
            mac: Some(Mac::parse("001565aabbcc").unwrap()),
            vendor: Some(vendor),
            model: None,
            account: Some(&acct),
            secrets: Some(&sec),
            firmware,
        },
    )
    .map(|r| r.body)
}

#[test]
fn time_zone_in_each_vendors_spelling() {
    let f = |tz: &str, kind: FileKind, v: Vendor| render_with_zone(tz, kind, v).unwrap();
    // Yealink: offset + its zone name + automatic DST.
    let y = f("Europe/Berlin", FileKind::MacCfg, Vendor::Yealink);
    assert!(y.contains("local_time.time_zone = +1\n"), "{y}");
    assert!(y.contains("local_time.time_zone_name = Germany(Berlin)\n"));
    let y = f(
        "Asia/Kolkata",
        FileKind::YealinkCommon("108".into()),
        Vendor::Yealink,
    );
    assert!(y.contains("local_time.time_zone = +5:30\n"), "{y}");
    // Polycom: seconds and the DST rule spelled out (EU: last Sunday of March 02:00).
    let p = f("Europe/Berlin", FileKind::PolycomPhone, Vendor::Polycom);
    for want in [
        "tcpIpApp.sntp.gmtOffset=\"3600\"",
        "daylightSavings.enable=\"1\"",
        "start.month=\"3\"",
        "start.dayOfWeek.lastInMonth=\"1\"",
        "start.time=\"2\"",
        "stop.month=\"10\"",
        "stop.time=\"3\"",
        "device.sntp.gmtOffset=\"3600\"",
    ] {
        assert!(p.contains(want), "{want}\n{p}");
    }
    let p = f("America/New_York", FileKind::PolycomPhone, Vendor::Polycom);
    assert!(
        p.contains("gmtOffset=\"-18000\"") && p.contains("start.date=\"8\""),
        "{p}"
    );
    let p = f("Asia/Tokyo", FileKind::PolycomPhone, Vendor::Polycom);
    assert!(p.contains("daylightSavings.enable=\"0\""), "{p}");
    // Cisco enterprise: Windows name; SPA/MPP: GMT offset + rule.
    let c = f("America/Chicago", FileKind::CiscoPhone, Vendor::Cisco);
    assert!(
        c.contains("<timeZone>Central Standard/Daylight Time</timeZone>"),
        "{c}"
    );
    let s = f("Europe/Berlin", FileKind::MacXml, Vendor::Cisco);
    assert!(s.contains(">GMT+01:00</Time_Zone>"), "{s}");
    assert!(s.contains(">start=3/-1/7/2;end=10/-1/7/3;save=1</Daylight_Saving_Time_Rule>"));
    // Grandstream: POSIX TZ.
    let g = f(
        "Australia/Sydney",
        FileKind::GrandstreamPhone,
        Vendor::Grandstream,
    );
    assert!(g.contains("<P64>AEST-10AEDT,M10.1.0,M4.1.0/3</P64>"), "{g}");
    // Snom: country + offset.
    let n = f("America/Los_Angeles", FileKind::MacXml, Vendor::Snom);
    assert!(n.contains(">USA-8</timezone>"), "{n}");
    let n = f("UTC", FileKind::SnomCommon("d785".into()), Vendor::Snom);
    assert!(n.contains(">GMT+0</timezone>"), "{n}");
    // A zone the table does not know is an error, not a file with the factory zone.
    assert!(matches!(
        render_with_zone("Mars/Olympus", FileKind::MacCfg, Vendor::Yealink),
        Err(RenderError::Zone(_))
    ));
}

#[test]
fn dial_plans_let_the_keypad_codes_through() {
    let p = render_with_zone("UTC", FileKind::PolycomPhone, Vendor::Polycom).unwrap();
    let map = p
        .split("dialplan.digitmap=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let alts: Vec<&str> = map.split('|').collect();
    for want in ["*97", "*7xx.T", "*8xx.T"] {
        assert!(alts.contains(&want), "{want} in {map}");
    }
    let s = render_with_zone("UTC", FileKind::MacXml, Vendor::Cisco).unwrap();
    assert!(
        s.contains("<Dial_Plan_1_ ua=\"na\">(*97|*7x.|*8x.|*x.|[0-9]x.)</Dial_Plan_1_>"),
        "{s}"
    );
    for want in [
        "<Proxy_1_ ua=\"na\">10.0.0.1:5060</Proxy_1_>",
        "<User_ID_1_ ua=\"na\">201</User_ID_1_>",
        "<Auth_ID_1_ ua=\"na\">201</Auth_ID_1_>",
        "<Register_Expires_1_ ua=\"na\">3600</Register_Expires_1_>",
        "<Password_1_ ua=\"na\">p&amp;ss&lt;word&gt;&quot;</Password_1_>",
        "[--uid 001565aabbcc --pwd prov-Cred&amp;&lt;1&gt;]http://10.0.0.1/provision/$MA.xml",
    ] {
        assert!(s.contains(want), "{want}\n{s}");
    }
    // The common SPA file carries no account, only where to go next.
    let c = render_with_zone(
        "UTC",
        FileKind::SpaCommon("spa504g.cfg".into()),
        Vendor::Cisco,
    )
    .unwrap();
    assert!(c.contains("<Profile_Rule ua=\"na\">http://10.0.0.1/provision/$MA.xml</Profile_Rule>"));
    assert!(!c.contains("Password") && !c.contains("201"), "{c}");
}

#[test]
fn per_phone_files_point_at_the_directory_and_program_contact_keys() {
    let f = |kind: FileKind, v: Vendor| render_with_zone("UTC", kind, v).unwrap();
    let auth_dir =
        "http://001565aabbcc:prov-Cred%26%3C1%3E@10.0.0.1/provision/001565aabbcc-directory.xml";
    let y = f(FileKind::MacCfg, Vendor::Yealink);
    assert_eq!(cfg(&y, "remote_phonebook.data.1.url"), auth_dir);
    assert_eq!(cfg(&y, "linekey.2.type"), "16");
    assert_eq!(cfg(&y, "linekey.2.value"), "202");
    assert_eq!(cfg(&y, "linekey.3.value"), "203");
    assert!(
        !y.contains("linekey.4."),
        "only contacts get keys, not the office:\n{y}"
    );
    // The hostile contact name stays on its line.
    assert!(!y.lines().any(|l| l.starts_with("reg.1.address")), "{y}");
    let p = f(FileKind::PolycomPhone, Vendor::Polycom);
    assert!(
        p.contains("attendant.resourceList.2.address=\"203\""),
        "{p}"
    );
    let c = f(FileKind::CiscoPhone, Vendor::Cisco);
    assert!(
        c.contains(
            "<directoryURL>http://10.0.0.1/provision/001565aabbcc-directory.xml</directoryURL>"
        ),
        "{c}"
    );
    let spa = f(FileKind::MacXml, Vendor::Cisco);
    assert!(spa.contains("<XML_Directory_Service_URL ua=\"na\">http://10.0.0.1/provision/001565aabbcc-directory.xml<"), "{spa}");
    assert!(
        spa.contains("<XML_User_Name ua=\"na\">001565aabbcc<"),
        "{spa}"
    );
    assert!(
        spa.contains(">fnc=blf+sd;sub=203@10.0.0.1;nme=Carol</Extended_Function_3_>"),
        "{spa}"
    );
    let s = f(FileKind::MacXml, Vendor::Snom);
    assert!(
        s.contains(&format!(
            "<dkey_directory perm=\"R\">url {}</dkey_directory>",
            auth_dir.replace('&', "&amp;")
        )),
        "{s}"
    );
    assert!(
        s.contains(
            "<fkey idx=\"1\" context=\"active\" perm=\"R\">blf &lt;sip:203@10.0.0.1&gt;</fkey>"
        ),
        "{s}"
    );
    let g = f(FileKind::GrandstreamPhone, Vendor::Grandstream);
    assert!(g.contains("<P331>001565aabbcc:prov-Cred%26%3C1%3E@10.0.0.1/provision/001565aabbcc-directory.xml</P331>"), "{g}");
    assert!(
        g.contains("<P324>1</P324>") && g.contains("<P306>203</P306>"),
        "{g}"
    );
}

fn cfg(body: &str, key: &str) -> String {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("{key} in\n{body}"))
        .to_owned()
}

#[test]
fn firmware_named_only_where_an_admin_put_it() {
    let f = |kind: FileKind, v: Vendor, fw: Option<&str>| render_full("UTC", kind, v, fw).unwrap();
    let y = f(
        FileKind::MacCfg,
        Vendor::Yealink,
        Some("yealink/SIP-T46S.rom"),
    );
    assert_eq!(
        cfg(&y, "static.firmware.url"),
        "http://10.0.0.1/provision/yealink/SIP-T46S.rom"
    );
    let y = f(FileKind::MacCfg, Vendor::Yealink, None);
    assert!(
        y.contains("static.firmware.url = \n"),
        "nothing to fetch: {y}"
    );
    let p = f(
        FileKind::MacCfg,
        Vendor::Polycom,
        Some("polycom/VVX_411.sip.ld"),
    );
    assert!(
        p.contains("APP_FILE_PATH=\"polycom/VVX_411.sip.ld\""),
        "{p}"
    );
    let p = f(FileKind::MacCfg, Vendor::Polycom, None);
    assert!(p.contains("APP_FILE_PATH=\"sip.ld\""), "{p}");
    let g = f(
        FileKind::GrandstreamPhone,
        Vendor::Grandstream,
        Some("grandstream/gxp2170fw.bin"),
    );
    assert!(
        g.contains("<P192>10.0.0.1/provision/grandstream</P192>"),
        "{g}"
    );
    let g = f(FileKind::GrandstreamPhone, Vendor::Grandstream, None);
    assert!(g.contains("<P192></P192>"), "{g}");
    let s = f(FileKind::MacXml, Vendor::Snom, Some("snom/D785.bin"));
    assert!(
        s.contains(">http://10.0.0.1/provision/snom/D785.bin</firmware>"),
        "{s}"
    );
    let c = f(
        FileKind::MacXml,
        Vendor::Cisco,
        Some("cisco/cp-8841-3pcc.loads"),
    );
    assert!(
        c.contains("<Upgrade_Rule ua=\"na\">http://10.0.0.1/provision/cisco/cp-8841-3pcc.loads</Upgrade_Rule>"),
        "{c}"
    );
}

#[test]
fn https_hands_over_the_certificate_first_where_the_brand_can_import_it() {
    let mut p = provisioner();
    let acct = account();
    let sec = secrets();
    let t = |v: Vendor| Target {
        mac: Some(Mac::parse("001565aabbcc").unwrap()),
        vendor: Some(v),
        model: None,
        account: Some(&acct),
        secrets: Some(&sec),
        firmware: None,
    };
    // Off (the default): HTTP on, nothing to import.
    let y = p
        .render(&FileKind::MacCfg, t(Vendor::Yealink))
        .unwrap()
        .body;
    assert_eq!(
        cfg(&y, "static.auto_provision.server.url"),
        "http://10.0.0.1/provision/"
    );
    assert!(y.contains("trusted_certificates.url = \n"), "{y}");
    assert_eq!(cfg(&y, "security.trust_certificates"), "0");
    p.settings.https_url = Some("https://10.0.0.1:8443/provision/".into());
    let y = p
        .render(&FileKind::MacCfg, t(Vendor::Yealink))
        .unwrap()
        .body;
    assert_eq!(
        cfg(&y, "trusted_certificates.url"),
        "http://10.0.0.1/provision/box-cert.pem"
    );
    assert_eq!(cfg(&y, "security.trust_certificates"), "1");
    assert_eq!(
        cfg(&y, "static.auto_provision.server.url"),
        "https://10.0.0.1:8443/provision/"
    );
    let c = p.render(&FileKind::MacXml, t(Vendor::Cisco)).unwrap().body;
    assert!(
        c.contains(
            "<Custom_CA_Rule ua=\"na\">http://10.0.0.1/provision/box-cert.pem</Custom_CA_Rule>"
        ),
        "{c}"
    );
    assert!(
        c.contains("]https://10.0.0.1:8443/provision/$MA.xml</Profile_Rule>"),
        "{c}"
    );
    // The common files keep the URL every phone can reach.
    let common = p
        .render(
            &FileKind::YealinkCommon("108".into()),
            Target {
                mac: None,
                account: None,
                secrets: None,
                ..t(Vendor::Yealink)
            },
        )
        .unwrap()
        .body;
    assert_eq!(
        cfg(&common, "static.auto_provision.server.url"),
        "http://10.0.0.1/provision/"
    );
}
