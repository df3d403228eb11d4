//! End to end: what a hostile host on the LAN gets from the provisioning services of the
//! real `ivmd` (issue 10): a second host that knows a phone's MAC (127.0.0.2, with curl's
//! `--interface` and raw TFTP datagrams from that address), a host outside the
//! provisioning subnets, requests for another vendor's file names, guessing credentials,
//! a flood of invented MACs, and path traversal towards real secrets one and two levels
//! above the firmware folder (tftp-hpa and `curl --path-as-is`). Loopback only.

mod harness;
mod provision_peers;

use std::process::Command;
use std::time::{Duration, Instant};

use harness::{require_tool, sip_password, tempdir, Server};
use provision_peers::*;

const ATTACKER: &str = "127.0.0.2";

/// Whether `hay` holds `needle` (bytes).
fn holds(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_second_host_that_knows_the_mac_gets_no_password() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password");
    ok(&server.data, &["phone", "add", YEALINK, "--user", "ann"]);
    let sip = sip_password(&server.data, "ann");
    let name = format!("{YEALINK}.cfg");
    let url = format!("{}/provision/{name}", server.http);
    // The phone's first fetch (from 127.0.0.1) binds it.
    let first = curl(&[], &url);
    assert_eq!(first.code, 200);
    let credential = cfg_value(&first.body, "static.auto_provision.server.password");
    let admin = cfg_value(&first.body, "static.security.user_password");
    let admin = admin.trim_start_matches("admin:");

    // The second host: over HTTP, over TFTP with curl, over raw TFTP.
    let secrets = [sip.as_str(), credential.as_str(), admin];
    let r = curl(&["--interface", ATTACKER], &url);
    assert_eq!(r.code, 401, "{}", r.body);
    let t = curl_tftp_from(ATTACKER, &server.tftp, &name);
    let got = t.as_ref().map(Vec::as_slice).unwrap_or_default();
    assert!(t.is_err(), "TFTP refused");
    let raw = raw_request_from(ATTACKER, &server.tftp, 1, &name, &[]);
    assert_eq!(&raw[..4], &[0, 5, 0, 2], "TFTP access violation: {raw:?}");
    for s in secrets {
        assert!(
            !holds(r.body.as_bytes(), s.as_bytes())
                && !holds(got, s.as_bytes())
                && !holds(&raw, s.as_bytes())
        );
    }
    // The first fetch does not come back for anyone, the phone's own address included.
    assert_eq!(curl(&[], &url).code, 401);

    // Guessing: every wrong credential counts for (this address, this MAC); past three,
    // each one locks the pair out for twice as long. Bounded: twelve tries.
    let mut locked = None;
    for n in 1..=12 {
        let r = curl(
            &[
                "--interface",
                ATTACKER,
                "--basic",
                "-u",
                &format!("{YEALINK}:guess-{n}"),
            ],
            &url,
        );
        assert!(!holds(r.body.as_bytes(), sip.as_bytes()));
        if r.code == 429 {
            assert!(
                r.headers.to_ascii_lowercase().contains("retry-after"),
                "{}",
                r.headers
            );
            locked = Some(n);
            break;
        }
        assert_eq!(r.code, 401, "try {n}");
    }
    let n = locked.expect("locked out within twelve wrong tries");
    assert!(n > 3, "three free tries first, locked at {n}");
    // The phone at its own address is not locked out by someone else's guessing.
    let r = curl(
        &["--digest", "-u", &format!("{YEALINK}:{credential}")],
        &url,
    );
    assert_eq!(r.code, 200, "{}", r.headers);
    assert!(
        server.log().contains("wrong provisioning credentials"),
        "the lockout is logged"
    );
}

#[test]
fn before_binding_a_host_outside_the_subnets_gets_nothing_and_writes_nothing() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "[provision]\nsubnets = [\"127.0.0.1/32\"]\n");
    server.add_user("ann", "201", "ann-password");
    ok(&server.data, &["phone", "add", YEALINK, "--user", "ann"]);
    let sip = sip_password(&server.data, "ann");
    let name = format!("{YEALINK}.cfg");
    let url = format!("{}/provision/{name}", server.http);
    let before = list_line(&server.data, YEALINK).expect("listed");
    let r = curl(&["--interface", ATTACKER], &url);
    assert_eq!(r.code, 403, "{}", r.body);
    assert!(!r.body.contains(&sip));
    assert!(curl_tftp_from(ATTACKER, &server.tftp, &name).is_err());
    let raw = raw_request_from(ATTACKER, &server.tftp, 1, &name, &[]);
    assert_eq!(&raw[..4], &[0, 5, 0, 2], "access violation: {raw:?}");
    // Invented MACs from outside: no rows.
    for n in 0..20u8 {
        let m = format!("0015650000{n:02x}");
        let p = raw_request_from(ATTACKER, &server.tftp, 1, &format!("{m}.cfg"), &[]);
        assert_eq!(&p[..2], &[0, 5], "{p:?}");
    }
    let list = ok(&server.data, &["phone", "list"]);
    assert!(!list.contains("0015650000"), "nothing recorded: {list}");
    // The phone's row is as it was: still armed, not bound, not even "seen" from there.
    assert_eq!(list_line(&server.data, YEALINK).expect("listed"), before);
    // The phone itself, inside the subnets, then gets its file.
    let r = curl(&[], &url);
    assert_eq!(r.code, 200);
    assert_eq!(cfg_value(&r.body, "account.1.password"), sip);
}

#[test]
fn another_vendors_file_names_give_nothing_and_change_nothing() {
    require_tool("curl");
    require_tool("tftp");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password");
    ok(&server.data, &["phone", "add", YEALINK, "--user", "ann"]);
    let sip = sip_password(&server.data, "ann");
    let before = list_line(&server.data, YEALINK).expect("listed");
    assert!(
        before.contains("yealink") && before.contains("armed until"),
        "{before}"
    );
    let upper = YEALINK.to_ascii_uppercase();
    for name in [
        format!("cfg{YEALINK}.xml"),
        format!("{upper}.xml"),
        format!("SEP{upper}.cnf.xml"),
        format!("{YEALINK}-ivm.cfg"),
        format!("snomD785-{upper}.htm"),
    ] {
        let (code, body) = http_get(&format!("{}/provision/{name}", server.http));
        assert_eq!(code, 404, "{name}: {body}");
        assert!(!body.contains(&sip));
        let t = try_tftp_get(&server.tftp, &name, &dir.path().join("x"));
        let said = t.expect_err("not served over TFTP");
        assert!(said.contains("Error code 1"), "file not found: {said}");
    }
    assert_eq!(
        list_line(&server.data, YEALINK).expect("listed"),
        before,
        "vendor, arming, last seen: all as they were"
    );
    // Its own file still comes, to its first fetch.
    let body = tftp_get(
        &server.tftp,
        &format!("{YEALINK}.cfg"),
        &dir.path().join("y.cfg"),
    );
    assert_eq!(cfg_value(&body, "account.1.password"), sip);

    // A vendor set by the installer holds against the MAC prefix (a Yealink OUI here).
    server.add_user("bob", "202", "bob-password");
    let poly = "001565aabbcd";
    ok(
        &server.data,
        &["phone", "add", poly, "--user", "bob", "--vendor", "polycom"],
    );
    let (code, master) = http_get(&format!("{}/provision/{poly}.cfg", server.http));
    assert_eq!(
        code, 200,
        "Polycom's <mac>.cfg names the next files: no secrets"
    );
    assert!(master.contains(&format!("{poly}-ivm.cfg")) && !master.contains("password"));
    let (code, _) = http_get(&format!("{}/provision/cfg{poly}.xml", server.http));
    assert_eq!(code, 404);
    // `<mac>-phone.cfg` is the phone's own override file: the box serves none under it.
    let (code, _) = http_get(&format!("{}/provision/{poly}-phone.cfg", server.http));
    assert_eq!(code, 404);
    let (code, phone) = http_get(&format!("{}/provision/{poly}-ivm.cfg", server.http));
    assert_eq!(code, 200, "{phone}");
    assert_xml(dir.path(), "polycom", &phone);
    assert!(
        phone.contains("device.prov.password=")
            && phone.contains("device.auth.localAdminPassword=")
    );
    assert!(list_line(&server.data, poly)
        .expect("listed")
        .contains("polycom"));
}

#[test]
fn every_vendors_file_carries_the_phones_own_admin_password() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    for (i, (mac, vendor, name)) in [
        ("000b82000001", "grandstream", "cfg000b82000001.xml"),
        ("000413000001", "snom", "000413000001.xml"),
        ("001e7a000001", "cisco", "SEP001E7A000001.cnf.xml"),
        ("0004f2000001", "polycom", "0004f2000001-ivm.cfg"),
        ("00041300000a", "snom", "snomD785-00041300000A.htm"),
        ("001e7a00000a", "cisco-3pcc", "001e7a00000a.xml"),
        ("001565000001", "yealink", "001565000001.cfg"),
    ]
    .into_iter()
    .enumerate()
    {
        let user = format!("u{i}");
        server.add_user(&user, &format!("30{i}"), "long-password");
        ok(&server.data, &["phone", "add", mac, "--user", &user]);
        let r = curl(&[], &format!("{}/provision/{name}", server.http));
        assert_eq!(r.code, 200, "{vendor}: {}", r.body);
        let shown = ok(&server.data, &["phone", "show", mac]);
        let admin = shown
            .lines()
            .find_map(|l| l.strip_prefix("web interface login:"))
            .and_then(|l| l.trim().strip_prefix("admin / "))
            .expect("admin password shown")
            .to_owned();
        let credential = shown
            .lines()
            .find_map(|l| l.strip_prefix("provisioning password:"))
            .and_then(|l| l.split_whitespace().next())
            .expect("credential shown")
            .to_owned();
        assert!(
            r.body.contains(&admin),
            "{vendor}: admin password in\n{}",
            r.body
        );
        if vendor != "cisco" {
            // (The 3PCC flat profile's Profile_Rule carries it as `--pwd`.)
            assert!(
                r.body.contains(&credential),
                "{vendor}: credential in\n{}",
                r.body
            );
        }
        if vendor != "yealink" {
            assert_xml(dir.path(), vendor, &r.body);
        }
        // Vendor-specific settings that make later fetches carry the credential.
        let snom_url = format!("<setting_server perm=\"R\">http://{mac}:");
        let spa_rule = format!("[--uid {mac} --pwd {credential}]");
        let want: &[&str] = match vendor {
            "grandstream" => &[
                "<P212>1</P212>",
                "<P1360>",
                "<P1361>",
                "<P145>0</P145>",
                "<P2>",
            ],
            "snom" => &[&snom_url, "<http_pass"],
            "cisco-3pcc" => &[&spa_rule, "<Admin_Passwd ua=\"na\">", "<Password_1_"],
            "polycom" => &[
                "device.prov.serverType=\"HTTP\"",
                "device.dhcp.bootSrvUseOpt=\"Static\"",
            ],
            "yealink" => &["static.auto_provision.server.username = 001565000001"],
            _ => &["<sshPassword>"],
        };
        for w in want {
            assert!(r.body.contains(w), "{vendor}: {w} in\n{}", r.body);
        }
    }
}

/// A tiny deterministic generator for invented MACs (no crate for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn a_flood_of_invented_macs_stays_within_the_cap() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "[provision]\nsubnets = [\"127.0.0.1/32\"]\n");
    let seed = u64::from(std::process::id()) ^ 0x5eed;
    let mut rng = Lcg(seed);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut sent = 0;
    // 300 invented MACs from inside the subnets (bounded in count and time).
    while sent < 300 && Instant::now() < deadline {
        let r = rng.next();
        let name = format!("001565{:06x}.cfg", r & 0xff_ffff);
        let p = raw_request(&server.tftp, 1, &name, &[]);
        assert_eq!(&p[..4], &[0, 5, 0, 1], "file not found: {p:?}");
        sent += 1;
    }
    assert_eq!(sent, 300, "sent all within the time bound");
    let list = ok(&server.data, &["phone", "list"]);
    let rows = list.lines().skip(1).count();
    println!("{sent} invented MACs from inside the subnets -> {rows} rows");
    assert!(rows <= 256, "capped: {rows} rows");
    assert!(
        rows >= 200,
        "they were recorded (the cap keeps the newest): {rows}"
    );
    // From outside the subnets: nothing at all.
    let mut rng = Lcg(seed ^ 0xffff);
    let mut outside = Vec::new();
    for _ in 0..50 {
        let m = format!("000b82{:06x}", rng.next() & 0xff_ffff);
        let p = raw_request_from(ATTACKER, &server.tftp, 1, &format!("cfg{m}.xml"), &[]);
        assert_eq!(&p[..4], &[0, 5, 0, 2], "access violation: {p:?}");
        outside.push(m);
    }
    let list = ok(&server.data, &["phone", "list"]);
    assert!(
        !outside.iter().any(|m| list.contains(m.as_str())),
        "no row for a request from outside"
    );
}

#[test]
fn traversal_never_returns_secrets() {
    require_tool("tftp");
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    let data = server.data.clone();
    let firmware = data.join("firmware");
    std::fs::create_dir_all(firmware.join("sub")).expect("firmware folder");
    // Real secrets one and two levels above firmware/ (and the master key, one level up).
    let one = format!("one-up-{}-secret", std::process::id());
    let two = format!("two-up-{}-secret", std::process::id());
    std::fs::write(data.join("one-up.secret"), &one).expect("write");
    std::fs::write(dir.path().join("two-up.secret"), &two).expect("write");
    let key = std::fs::read(data.join("master.key")).expect("master key");
    std::os::unix::fs::symlink("../one-up.secret", firmware.join("link-out")).expect("ln");
    std::os::unix::fs::symlink(dir.path().join("two-up.secret"), firmware.join("abs-link"))
        .expect("ln");
    std::os::unix::fs::symlink("..", firmware.join("dir-link")).expect("ln");
    // A control: a real firmware file comes back both ways.
    std::fs::write(firmware.join("sub/fw.bin"), b"firmware-bytes").expect("write");
    let got = tftp_get(&server.tftp, "sub/fw.bin", &dir.path().join("fw"));
    assert_eq!(got, "firmware-bytes");
    assert_eq!(
        curl(
            &["--path-as-is"],
            &format!("{}/provision/sub/fw.bin", server.http)
        )
        .body,
        "firmware-bytes"
    );
    let leaked = |bytes: &[u8]| {
        holds(bytes, one.as_bytes()) || holds(bytes, two.as_bytes()) || holds(bytes, &key)
    };
    let abs_one = data.join("one-up.secret").display().to_string();
    let tftp_names = [
        "../one-up.secret".to_owned(),
        "../../two-up.secret".to_owned(),
        "../master.key".to_owned(),
        "sub/../../one-up.secret".to_owned(),
        abs_one.clone(),
        "%2e%2e/one-up.secret".to_owned(),
        "..\\one-up.secret".to_owned(),
        "link-out".to_owned(),
        "abs-link".to_owned(),
        "dir-link/one-up.secret".to_owned(),
        "dir-link/master.key".to_owned(),
        "/provision/../one-up.secret".to_owned(),
    ];
    for name in &tftp_names {
        let out = dir.path().join("got");
        let r = try_tftp_get(&server.tftp, name, &out);
        let bytes = std::fs::read(&out).unwrap_or_default();
        assert!(r.is_err(), "tftp {name}: refused");
        assert!(!leaked(&bytes), "tftp {name}: no secret bytes");
        let c = curl_tftp_from("127.0.0.1", &server.tftp, name);
        assert!(
            !leaked(c.as_deref().unwrap_or_default()),
            "curl tftp {name}"
        );
    }
    let http_paths = [
        "/provision/../one-up.secret".to_owned(),
        "/provision/../../two-up.secret".to_owned(),
        "/provision/../master.key".to_owned(),
        "/provision/%2e%2e/one-up.secret".to_owned(),
        "/provision/..%2fone-up.secret".to_owned(),
        "/provision/..%2f..%2ftwo-up.secret".to_owned(),
        "/provision/%2e%2e%2f%2e%2e%2ftwo-up.secret".to_owned(),
        "/provision/..%5cone-up.secret".to_owned(),
        "/provision/sub/..%2f..%2fone-up.secret".to_owned(),
        format!("/provision/{}", abs_one.replace('/', "%2f")),
        "/provision/link-out".to_owned(),
        "/provision/abs-link".to_owned(),
        "/provision/dir-link/one-up.secret".to_owned(),
        "/provision/dir-link%2fmaster.key".to_owned(),
    ];
    for path in &http_paths {
        let o = run(Command::new("curl")
            .args(["-sS", "--path-as-is", "-o", "-", "-w", "\n%{http_code}"])
            .arg(format!("{}{path}", server.http)));
        let code = String::from_utf8_lossy(&o.stdout)
            .rsplit('\n')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(!leaked(&o.stdout), "http {path}: no secret bytes");
        assert_ne!(code, "200", "http {path}: refused");
    }
}
