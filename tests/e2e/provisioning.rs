//! End to end: zero-touch provisioning (issues 5 and 10) against the real `ivmd`, with real
//! peers on loopback only: tftp-hpa's `tftp` and `curl tftp://` fetch a Yealink `<mac>.cfg`
//! after `ivmd phone add` (the armed first fetch, which binds the phone); curl fetches it
//! again over HTTP with the credential that file handed over (Digest, Basic); generated XML
//! passes `xmllint`; writes and out-of-subnet requests get errors; the admin REST API lists,
//! adds, assigns, unassigns, re-arms and removes phones; auto-assign gives an unknown phone
//! an account (and nothing when off or from outside the subnets); a baresip account built
//! from a provisioned Yealink file registers, and the phone then reads "registered". DHCP
//! in network namespaces is in `dhcp.rs`. The attacks (a second host, another vendor's file names,
//! traversal, floods of MACs) are in `provision_attacks.rs`. Debian's atftp downloads
//! firmware with windowsize (RFC 7440).
//!
//! A missing peer tool fails the test (scripts/setup --tests installs them: tftp-hpa, atftp,
//! curl, libxml2-utils, baresip, sipp).

mod baresip;
mod harness;
mod provision_peers;
mod sipp;

use std::process::Command;
use std::time::Duration;

use harness::{ivmd, require_tool, sip_password, tempdir, text, Server};
use provision_peers::*;

#[test]
fn first_fetch_over_tftp_binds_then_http_needs_the_credential() {
    require_tool("tftp");
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    assert!(!server.tftp.is_empty(), "ready line names tftp=");
    server.add_user("ann", "201", "ann-password");
    let added = ok(
        &server.data,
        &["phone", "add", "00:15:65:AA:BB:CC", "--user", "ann"],
    );
    assert!(
        added.contains(YEALINK) && added.contains("yealink") && added.contains("armed until"),
        "{added}"
    );
    let password = sip_password(&server.data, "ann");
    let name = format!("{YEALINK}.cfg");

    // The armed first fetch, over TFTP as a Yealink does it: the whole file, once.
    let body = tftp_get(&server.tftp, &name, &dir.path().join("tftp.cfg"));
    assert_eq!(cfg_value(&body, "account.1.user_name"), "201");
    assert_eq!(
        cfg_value(&body, "account.1.password"),
        password,
        "the user's SIP password"
    );
    // What makes every later fetch carry the credential, and the phone's own admin password.
    let url = cfg_value(&body, "static.auto_provision.server.url");
    assert_eq!(url, format!("{}/provision/", server.http));
    assert_eq!(
        cfg_value(&body, "static.auto_provision.server.username"),
        YEALINK
    );
    let credential = cfg_value(&body, "static.auto_provision.server.password");
    assert!(credential.len() >= 20, "{credential}");
    assert_eq!(
        cfg_value(&body, "static.auto_provision.dhcp_option.enable"),
        "0"
    );
    let admin = cfg_value(&body, "static.security.user_password");
    let admin_password = admin.strip_prefix("admin:").expect("admin:<password>");
    assert!(
        admin_password.len() >= 16 && admin_password != "admin",
        "{admin}"
    );
    let shown = ok(&server.data, &["phone", "show", YEALINK]);
    assert!(
        shown.contains(&format!("admin / {admin_password}")) && shown.contains(&credential),
        "ivmd phone show names the same secrets: {shown}"
    );
    let line = list_line(&server.data, YEALINK).expect("listed");
    assert!(
        line.contains("provisioned") && line.contains("bound 127.0.0.1"),
        "{line}"
    );
    assert!(
        server.log().contains("phone bound"),
        "the binding is logged"
    );

    // Once: TFTP cannot authenticate, so the phone's file is not served over it again.
    let again = try_tftp_get(&server.tftp, &name, &dir.path().join("again.cfg"));
    let said = again.expect_err("no second file over TFTP");
    assert!(said.contains("Error code 2"), "access violation: {said}");
    // Over HTTP without credentials: 401 with Digest (SHA-256, MD5) and Basic challenges.
    let r = curl(&[], &format!("{url}{name}"));
    assert_eq!(r.code, 401, "{}", r.body);
    assert!(!r.body.contains(&password));
    for want in [
        "Digest realm=\"ivm-provision\"",
        "algorithm=SHA-256",
        "algorithm=MD5",
        "Basic realm",
    ] {
        assert!(r.headers.contains(want), "{want} in {}", r.headers);
    }
    // With the credential the file handed over: Digest (as curl picks it), then Basic.
    let auth = format!("{YEALINK}:{credential}");
    let digest = curl(&["--digest", "-u", &auth], &format!("{url}{name}"));
    assert_eq!(digest.code, 200, "{}", digest.headers);
    assert_eq!(digest.body, body, "the same file");
    let basic = curl(
        &["--basic", "-u", &format!("anything:{credential}")],
        &format!("{url}{name}"),
    );
    assert_eq!(basic.code, 200);
    assert_eq!(basic.body, body);
    let wrong = curl(
        &["--digest", "-u", &format!("{YEALINK}:not-it")],
        &format!("{url}{name}"),
    );
    assert_eq!(wrong.code, 401);
    assert!(!wrong.body.contains(&password));

    // Files without secrets still go to anyone, over TFTP with negotiated options:
    // blksize, tsize and windowsize (RFC 7440); an oversized blksize is clamped.
    let common = "y000000000028.cfg";
    let common_body = tftp_get(&server.tftp, common, &dir.path().join("common.cfg"));
    assert!(
        common_body.contains("static.auto_provision.server.url"),
        "{common_body}"
    );
    assert!(!common_body.contains(&credential) && !common_body.contains(admin_password));
    let o = run(Command::new("curl").args([
        "-sS",
        "-v",
        "--tftp-blksize",
        "1024",
        &format!("tftp://{}/{common}", server.tftp),
    ]));
    assert!(o.status.success(), "curl tftp: {}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), common_body);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("blksize parsed from OACK (1024)"),
        "blksize negotiated: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let opts = oack_options(&raw_request(
        &server.tftp,
        1,
        common,
        &[("blksize", "65464"), ("tsize", "0"), ("windowsize", "8")],
    ));
    let get = |k: &str| opts.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("windowsize").as_deref(), Some("8"), "{opts:?}");
    assert_eq!(get("blksize").as_deref(), Some("8192"), "clamped: {opts:?}");
    assert_eq!(
        get("tsize"),
        Some(common_body.len().to_string()),
        "{opts:?}"
    );
    // Writes are refused with an ERROR packet.
    let p = raw_request(&server.tftp, 2, "evil.cfg", &[]);
    assert_eq!(&p[..2], &[0, 5], "WRQ answered with ERROR: {p:?}");
}

#[test]
fn rearming_a_replaced_phone_hands_out_a_new_credential() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password");
    ok(&server.data, &["phone", "add", YEALINK, "--user", "ann"]);
    let url = format!("{}/provision/{YEALINK}.cfg", server.http);
    let first = curl(&[], &url);
    assert_eq!(first.code, 200, "the armed first fetch over HTTP");
    let old = cfg_value(&first.body, "static.auto_provision.server.password");
    let admin = cfg_value(&first.body, "static.security.user_password");
    assert_eq!(curl(&[], &url).code, 401, "bound: once only");
    // The phone was replaced: the installer re-arms it.
    let armed = ok(&server.data, &["phone", "arm", YEALINK]);
    assert!(armed.contains("armed until"), "{armed}");
    let second = curl(&[], &url);
    assert_eq!(second.code, 200, "the new phone's first fetch");
    let new = cfg_value(&second.body, "static.auto_provision.server.password");
    assert_ne!(new, old, "a new credential");
    assert_eq!(
        cfg_value(&second.body, "static.security.user_password"),
        admin,
        "the same admin password"
    );
    let stale = curl(&["--digest", "-u", &format!("{YEALINK}:{old}")], &url);
    assert_eq!(
        stale.code, 401,
        "the old device's credential stopped working"
    );
    let fresh = curl(&["--digest", "-u", &format!("{YEALINK}:{new}")], &url);
    assert_eq!(fresh.code, 200);
    let o = ivmd(&server.data, &["phone", "arm", "001565000099"]);
    assert!(
        !o.status.success() && text(&o).contains("no such phone"),
        "{}",
        text(&o)
    );
}

#[test]
fn arming_off_means_credentials_only() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "[provision]\narm_window_s = 0\n");
    server.add_user("ann", "201", "ann-password");
    let added = ok(&server.data, &["phone", "add", YEALINK, "--user", "ann"]);
    assert!(!added.contains("armed"), "{added}");
    let url = format!("{}/provision/{YEALINK}.cfg", server.http);
    assert_eq!(curl(&[], &url).code, 401, "never armed");
    let o = ivmd(&server.data, &["phone", "arm", YEALINK]);
    assert!(
        !o.status.success() && text(&o).contains("arming is off"),
        "{}",
        text(&o)
    );
    // A phone set up by hand with its credential.
    ok(
        &server.data,
        &[
            "phone",
            "add",
            YEALINK,
            "--user",
            "ann",
            "--http-password",
            "typed-by-hand-1",
        ],
    );
    let r = curl(&["--digest", "-u", "admin:typed-by-hand-1"], &url);
    assert_eq!(r.code, 200, "{}", r.headers);
    assert_eq!(
        cfg_value(&r.body, "static.auto_provision.server.password"),
        "typed-by-hand-1"
    );
}

#[test]
fn unknown_phones_are_recorded_and_xml_files_are_valid() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("bob", "202", "bob-password");
    // An unassigned phone asking for its file: 404, and it shows up as seen, unassigned.
    let (code, _) = http_get(&format!("{}/provision/001565000001.cfg", server.http));
    assert_eq!(code, 404);
    let list = ok(&server.data, &["phone", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains("001565000001") && l.contains("unassigned")),
        "{list}"
    );
    ok(
        &server.data,
        &[
            "phone",
            "add",
            "00-1B-54-11-22-33",
            "--user",
            "bob",
            "--vendor",
            "cisco",
        ],
    );
    // Cisco's enterprise firmware cannot authenticate: its file goes to the armed first
    // fetch, then again only to the address that fetch came from.
    for name in [
        "SEP001B54112233.cnf.xml",
        "sep001b54112233.cnf.xml",
        "XMLDefault.cnf.xml",
    ] {
        let (code, body) = http_get(&format!("{}/provision/{name}", server.http));
        assert_eq!(code, 200, "{name}: {body}");
        assert_xml(dir.path(), name, &body);
        if name.starts_with("SEP") {
            assert!(
                body.contains("<sshPassword>"),
                "its own admin password: {body}"
            );
        }
    }
    let o = run(Command::new("curl").args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--interface",
        "127.0.0.2",
        &format!("{}/provision/SEP001B54112233.cnf.xml", server.http),
    ]));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "401",
        "not from another address"
    );
    assert!(
        curl_tftp_from("127.0.0.2", &server.tftp, "SEP001B54112233.cnf.xml").is_err(),
        "nor over TFTP"
    );
    let ok_tftp = curl_tftp_from("127.0.0.1", &server.tftp, "SEP001B54112233.cnf.xml")
        .expect("the bound address over TFTP");
    assert!(String::from_utf8_lossy(&ok_tftp).contains("<authName>202</authName>"));
    let (code, _) = http_get(&format!("{}/provision/..%2fmaster.key", server.http));
    assert_eq!(code, 404);
    ok(&server.data, &["phone", "remove", "001b54112233"]);
    let o = ivmd(&server.data, &["phone", "remove", "001b54112233"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no such phone"), "{}", text(&o));
}

#[test]
fn secret_files_only_inside_the_provisioning_subnets() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "[provision]\nsubnets = [\"10.0.0.0/8\"]\n");
    server.add_user("ann", "201", "ann-password");
    ok(&server.data, &["phone", "add", YEALINK, "--user", "ann"]);
    let (code, body) = http_get(&format!("{}/provision/{YEALINK}.cfg", server.http));
    assert_eq!(code, 403, "{body}");
    assert!(!body.contains("password ="));
    // Files without a password are still served.
    let (code, _) = http_get(&format!("{}/provision/y000000000028.cfg", server.http));
    assert_eq!(code, 200);
    let p = raw_request(&server.tftp, 1, &format!("{YEALINK}.cfg"), &[]);
    assert_eq!(&p[..4], &[0, 5, 0, 2], "TFTP access violation: {p:?}");
    // Still armed: nothing from outside counted as its first fetch.
    let line = list_line(&server.data, YEALINK).expect("listed");
    assert!(
        line.contains("armed until") && !line.contains("bound"),
        "{line}"
    );
    // And an invented MAC from outside makes no row.
    let (code, _) = http_get(&format!("{}/provision/001565000077.cfg", server.http));
    assert_eq!(code, 403);
    assert!(list_line(&server.data, "001565000077").is_none());
}

#[test]
fn admin_rest_api_manages_phones() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password");
    let curl = admin_curl(&server);
    let url = format!("{}/api/admin/phones", server.http);
    let (code, body) = curl(&[
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"mac":"00:15:65:aa:bb:cc","user":"ann"}"#,
        &url,
    ]);
    assert_eq!(code, 201, "{body}");
    let (code, body) = curl(&[&url]);
    assert_eq!(code, 200);
    let phones: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(phones[0]["mac"], YEALINK);
    assert_eq!(phones[0]["extension"], "201");
    let (code, _) = curl(&["-X", "DELETE", &format!("{url}/{YEALINK}")]);
    assert_eq!(code, 204);
    let (code, _) = curl(&["-X", "DELETE", &format!("{url}/{YEALINK}")]);
    assert_eq!(code, 404);
    let (code, _) = curl(&[
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"mac":"zz","user":"ann"}"#,
        &url,
    ]);
    assert_eq!(code, 400);
}

#[test]
fn admin_rest_api_assigns_and_unassigns() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password");
    let curl = admin_curl(&server);
    // A phone that asked while unassigned is listed as such.
    let (code, _) = http_get(&format!("{}/provision/{YEALINK}.cfg", server.http));
    assert_eq!(code, 404);
    let p = admin_phone(&curl, &server, YEALINK);
    assert_eq!(p["state"], "unassigned");
    assert_eq!(p["vendor"], "yealink");
    assert_eq!(p["address"], "127.0.0.1");
    let url = format!("{}/api/admin/phones/{YEALINK}", server.http);
    let put = |body: &str| {
        curl(&[
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "-d",
            body,
            &url,
        ])
    };
    let (code, body) = put(r#"{"user":"ann"}"#);
    assert_eq!(code, 200, "{body}");
    let p: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (p["state"].as_str(), p["extension"].as_str()),
        (Some("seen"), Some("201"))
    );
    assert!(
        p["armed_until"].as_u64().is_some(),
        "assignment arms it: {p}"
    );
    let (code, body) = http_get(&format!("{}/provision/{YEALINK}.cfg", server.http));
    assert_eq!(code, 200);
    let p = admin_phone(&curl, &server, YEALINK);
    assert_eq!(p["state"], "provisioned");
    assert_eq!(p["bound_address"], "127.0.0.1", "{p}");
    assert!(
        p["bound_at"].as_u64().is_some() && p["armed_until"].is_null(),
        "{p}"
    );
    // The admin sees the phone's own secrets: the ones its file carried.
    let (code, secrets) = curl(&[&format!("{url}/secrets")]);
    assert_eq!(code, 200, "{secrets}");
    let x: serde_json::Value = serde_json::from_str(&secrets).expect("json");
    assert_eq!(
        format!(
            "admin:{}",
            x["admin_password"].as_str().expect("admin password")
        ),
        cfg_value(&body, "static.security.user_password")
    );
    assert_eq!(
        x["provision_password"].as_str(),
        Some(cfg_value(&body, "static.auto_provision.server.password").as_str())
    );
    assert_eq!(x["provision_url"], format!("{}/provision/", server.http));
    let (code, _) = http_get(&format!("{}/provision/{YEALINK}.cfg", server.http));
    assert_eq!(code, 401, "bound");
    // Re-armed from the admin API (the admin page's button).
    let (code, armed) = curl(&["-X", "POST", &format!("{url}/arm")]);
    assert_eq!(code, 200, "{armed}");
    let a: serde_json::Value = serde_json::from_str(&armed).expect("json");
    assert!(
        a["armed_until"].as_u64().is_some() && a["bound_at"].is_null(),
        "{a}"
    );
    let (code, _) = http_get(&format!("{}/provision/{YEALINK}.cfg", server.http));
    assert_eq!(code, 200, "armed again");
    let (code, _) = curl(&[
        "-X",
        "POST",
        &format!("{}/api/admin/phones/001565000099/arm", server.http),
    ]);
    assert_eq!(code, 404);
    let (code, body) = put(r#"{"user":null}"#);
    assert_eq!(code, 200, "{body}");
    assert_eq!(admin_phone(&curl, &server, YEALINK)["state"], "unassigned");
    let (code, _) = http_get(&format!("{}/provision/{YEALINK}.cfg", server.http));
    assert_eq!(code, 404, "no account file once unassigned");
    // Unknown phone, unknown user, bad body.
    let (code, _) = curl(&[
        "-X",
        "PUT",
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"user":"ann"}"#,
        &format!("{}/api/admin/phones/001565000099", server.http),
    ]);
    assert_eq!(code, 404);
    assert_eq!(put(r#"{"user":"nobody"}"#).0, 400);
    assert_eq!(put(r#"{"user":"ann","x":1}"#).0 / 100, 4);
    // Admins only.
    let ann = run(Command::new("curl").args([
        "-sS",
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"name":"ann","password":"ann-password"}"#,
        &format!("{}/api/login", server.http),
    ]));
    let v: serde_json::Value = serde_json::from_slice(&ann.stdout).expect("login json");
    let o = run(Command::new("curl").args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!(
            "authorization: Bearer {}",
            v["token"].as_str().expect("token")
        ),
        &format!("{}/api/admin/phones", server.http),
    ]));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "403");
}

#[test]
fn auto_assign_gives_unknown_phones_an_account() {
    // On: an unknown phone's first fetch creates a user on the next free extension.
    let dir = tempdir();
    let server = Server::start(
        dir.path(),
        "[provision]\nauto_assign = true\nauto_assign_range = \"250-252\"\n",
    );
    server.add_user("ann", "251", "ann-password");
    let (code, body) = http_get(&format!("{}/provision/001565000010.cfg", server.http));
    assert_eq!(code, 200, "{body}");
    assert_eq!(cfg_value(&body, "account.1.user_name"), "250");
    assert_eq!(
        cfg_value(&body, "account.1.password"),
        sip_password(&server.data, "phone-001565000010"),
        "the new user's SIP password, stored like anyone's"
    );
    // Over TFTP too; 251 is taken by ann, so 252.
    let name = "001565000011.cfg";
    let first = raw_request(&server.tftp, 1, name, &[]);
    assert_eq!(&first[..4], &[0, 3, 0, 1], "DATA block 1: {first:?}");
    let text = String::from_utf8_lossy(&first[4..]).into_owned();
    assert_eq!(cfg_value(&text, "account.1.user_name"), "252");
    // Bound by that request: a second one gets nothing without the credential.
    let again = raw_request(&server.tftp, 1, name, &[]);
    assert_eq!(&again[..4], &[0, 5, 0, 2], "access violation: {again:?}");
    // The range is full: the next unknown phone is only recorded.
    let (code, _) = http_get(&format!("{}/provision/001565000012.cfg", server.http));
    assert_eq!(code, 404);
    let list = ok(&server.data, &["phone", "list"]);
    for (mac, want) in [
        ("001565000010", "250"),
        ("001565000011", "252"),
        ("001565000012", "unassigned"),
    ] {
        assert!(
            list.lines().any(|l| l.contains(mac) && l.contains(want)),
            "{mac} {want}: {list}"
        );
    }
    let users = ok(&server.data, &["user", "list"]);
    assert!(users.contains("phone-001565000010"), "{users}");

    // Off (the default): recorded as seen, unassigned; no file with credentials; no user.
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    let (code, body) = http_get(&format!("{}/provision/001565000010.cfg", server.http));
    assert_eq!(code, 404);
    assert!(!body.contains("password"), "{body}");
    let p = raw_request(&server.tftp, 1, "001565000010.cfg", &[]);
    assert_eq!(&p[..2], &[0, 5], "TFTP error, not a file: {p:?}");
    let list = ok(&server.data, &["phone", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains("001565000010") && l.contains("unassigned")),
        "{list}"
    );
    assert!(!ok(&server.data, &["user", "list"]).contains("phone-"));

    // On, but asked from outside the provisioning subnets: no user is created.
    let dir = tempdir();
    let server = Server::start(
        dir.path(),
        "[provision]\nauto_assign = true\nsubnets = [\"10.0.0.0/8\"]\n",
    );
    let (code, _) = http_get(&format!("{}/provision/001565000010.cfg", server.http));
    assert_eq!(code, 403);
    assert!(!ok(&server.data, &["user", "list"]).contains("phone-"));
    assert!(
        list_line(&server.data, "001565000010").is_none(),
        "no row either"
    );
}

#[test]
fn provisioned_baresip_account_registers() {
    require_tool("curl");
    require_tool("tftp");
    if !baresip::have_baresip() {
        return;
    }
    let dir = tempdir();
    let server = Server::start(dir.path(), baresip::SIP_TOML);
    server.add_user("ann", "201", "ann-password");
    ok(&server.data, &["phone", "add", YEALINK, "--user", "ann"]);
    let name = format!("{YEALINK}.cfg");
    // Fetch the file the way a Yealink does: TFTP, the armed first fetch.
    let body = tftp_get(&server.tftp, &name, &dir.path().join("phone.cfg"));
    let host = cfg_value(&body, "account.1.sip_server.1.address");
    let port = cfg_value(&body, "account.1.sip_server.1.port");
    let user = cfg_value(&body, "account.1.user_name");
    let auth_user = cfg_value(&body, "account.1.auth_name");
    let password = cfg_value(&body, "account.1.password");
    assert_eq!(
        format!("{host}:{port}"),
        server.sip,
        "the file names the box's SIP address"
    );
    let account = format!(
        "<sip:{user}@{host}:{port};transport=udp>;auth_user={auth_user};auth_pass={password};regint=300;audio_codecs=PCMU,PCMA"
    );
    let phone = baresip::Phone::start_account(
        dir.path(),
        &user,
        &account,
        &dir.path().join("none.wav"),
        60,
    );
    assert!(
        phone.wait_for("200 OK", Duration::from_secs(15)),
        "baresip registered with the provisioned account:
{}
--- ivmd:
{}",
        phone.output(),
        server.log()
    );
    let curl = admin_curl(&server);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let p = loop {
        let p = admin_phone(&curl, &server, YEALINK);
        if p["state"] == "registered" || std::time::Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(p["state"], "registered", "{p}");
    assert_eq!(p["extension"], "201");
    let ua = p["registration"]["user_agent"].as_str().unwrap_or_default();
    assert!(ua.contains("baresip"), "{p}");
    assert_eq!(
        p["vendor"], "yealink",
        "a User-Agent naming no vendor changes nothing"
    );
    // The stored side: `phone list` (the store) says it registered.
    let list = ok(&server.data, &["phone", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains(YEALINK) && l.contains("registered")),
        "{list}"
    );
}

#[test]
fn per_phone_http_credentials() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password");
    ok(
        &server.data,
        &[
            "phone",
            "add",
            YEALINK,
            "--user",
            "ann",
            "--http-password",
            "phone-secret-1",
        ],
    );
    let url = format!("{}/provision/{YEALINK}.cfg", server.http);
    let (code, _) = http_get(&url);
    assert_eq!(code, 401, "no credentials");
    let o = run(Command::new("curl").args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-u",
        "x:wrong-secret",
        &url,
    ]));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "401");
    let o =
        run(Command::new("curl").args(["-sS", "-u", &format!("{YEALINK}:phone-secret-1"), &url]));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("account.1.user_name = 201"),
        "{}",
        text(&o)
    );
    // TFTP cannot authenticate: such a phone's account file is not served over it.
    let p = raw_request(&server.tftp, 1, &format!("{YEALINK}.cfg"), &[]);
    assert_eq!(&p[..4], &[0, 5, 0, 2], "TFTP access violation: {p:?}");
}

/// The file names issue 16 adds, fetched with real tftp-hpa and curl from a box whose
/// `[provision] timezone` is an IANA name: Cisco SPA/MPP (3PCC) common and per-phone flat
/// profiles, Yealink's three-digit common file, Snom's `snom<model>-<MAC>.htm`, each with
/// the zone in the vendor's spelling; then the later 3PCC fetch with the credential the
/// Profile_Rule carries.
#[test]
fn cisco_3pcc_snom_and_yealink_names_with_the_time_zone() {
    require_tool("tftp");
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "[provision]\ntimezone = \"Europe/Berlin\"\n");

    // 3PCC common files: no account, the clock, and where the phone's own file is.
    for name in ["spa504G.cfg", "CP-8841-3PCC.xml"] {
        let (code, body) = http_get(&format!("{}/provision/{name}", server.http));
        assert_eq!(code, 200, "{name}: {body}");
        assert_xml(dir.path(), name, &body);
        assert!(body.contains("<flat-profile>"), "{body}");
        assert!(
            body.contains(&format!(
                "<Profile_Rule ua=\"na\">{}/provision/$MA.xml</Profile_Rule>",
                server.http
            )),
            "{body}"
        );
        assert!(body.contains(">GMT+01:00</Time_Zone>"), "{body}");
        assert!(
            body.contains(">start=3/-1/7/2;end=10/-1/7/3;save=1<"),
            "{body}"
        );
        assert!(!body.contains("Password"), "{body}");
    }
    let spa = tftp_get(&server.tftp, "spa504G.cfg", &dir.path().join("spa.cfg"));
    assert!(spa.contains("<flat-profile>"), "{spa}");
    // Yealink's three-digit model code (T46U); the two-digit names still work.
    for name in ["y000000000108.cfg", "y000000000028.cfg"] {
        let (code, body) = http_get(&format!("{}/provision/{name}", server.http));
        assert_eq!(code, 200, "{name}");
        assert_eq!(cfg_value(&body, "local_time.time_zone"), "+1");
        assert_eq!(
            cfg_value(&body, "local_time.time_zone_name"),
            "Germany(Berlin)"
        );
    }

    // A 3PCC phone: its `$MA.xml` (lower-case MAC) over TFTP is the armed first fetch.
    server.add_user("ann", "201", "ann-password");
    let cisco = "001e7a0000aa";
    ok(&server.data, &["phone", "add", cisco, "--user", "ann"]);
    let sip = sip_password(&server.data, "ann");
    let body = tftp_get(
        &server.tftp,
        &format!("{cisco}.xml"),
        &dir.path().join("ma.xml"),
    );
    assert_xml(dir.path(), "$MA.xml", &body);
    for want in [
        "<User_ID_1_ ua=\"na\">201</User_ID_1_>".to_owned(),
        format!("<Password_1_ ua=\"na\">{sip}</Password_1_>"),
        format!("<Proxy_1_ ua=\"na\">{}</Proxy_1_>", server.sip),
        "<Dial_Plan_1_ ua=\"na\">(*97|*7x.|*8x.|*x.|[0-9]x.)</Dial_Plan_1_>".to_owned(),
        "<Register_Expires_1_ ua=\"na\">3600</Register_Expires_1_>".to_owned(),
    ] {
        assert!(body.contains(&want), "{want}\n{body}");
    }
    // Its later fetches: HTTP with the `--uid/--pwd` the Profile_Rule names.
    let rule = body
        .split("[--uid ")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .expect("Profile_Rule with credentials");
    let (uid, pwd) = rule.split_once(" --pwd ").expect("--pwd");
    let url = format!("{}/provision/{cisco}.xml", server.http);
    let again = curl(&["--basic", "-u", &format!("{uid}:{pwd}")], &url);
    assert_eq!(again.code, 200, "{}", again.body);
    assert!(again.body.contains(&sip));
    let (code, anon) = http_get(&url);
    assert_eq!(
        code, 401,
        "bound: no second file without the credential: {anon}"
    );
    assert!(!anon.contains(&sip));

    // Snom's per-phone name from its factory setting URL.
    server.add_user("bob", "202", "bob-password");
    let snom = "000413000abc";
    ok(&server.data, &["phone", "add", snom, "--user", "bob"]);
    let (code, body) = http_get(&format!(
        "{}/provision/snomD785-000413000ABC.htm",
        server.http
    ));
    assert_eq!(code, 200, "{body}");
    assert_xml(dir.path(), "snom htm", &body);
    assert!(body.contains(">GER+1</timezone>"), "{body}");
    assert!(body.contains(&sip_password(&server.data, "bob")));
}

/// `ivmd phone add` for a MAC whose prefix names no vendor is refused with the fix named
/// (it used to be assigned and then answered 404 for every file); with `--vendor` it works.
#[test]
fn phone_add_with_an_unknown_prefix_needs_the_vendor() {
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password");
    let o = ivmd(
        &server.data,
        &["phone", "add", "02:00:00:00:00:01", "--user", "ann"],
    );
    assert!(!o.status.success(), "{}", text(&o));
    let said = text(&o);
    assert!(
        said.contains("--vendor") && said.contains("grandstream"),
        "{said}"
    );
    assert!(
        list_line(&server.data, "020000000001").is_none(),
        "nothing assigned"
    );
    let added = ok(
        &server.data,
        &[
            "phone",
            "add",
            "020000000001",
            "--user",
            "ann",
            "--vendor",
            "snom",
        ],
    );
    assert!(added.contains("snom"), "{added}");
}

/// A time zone the box cannot spell for the phones stops `ivmd run` with a clear error
/// instead of leaving every phone on its factory zone.
#[test]
fn an_unknown_time_zone_is_a_config_error() {
    let dir = tempdir();
    let config = dir.path().join("ivmd.toml");
    std::fs::write(&config, "[provision]\ntimezone = \"Mars/Olympus\"\n").expect("config");
    let data = dir.path().join("data");
    let o = harness::run_bounded(
        &mut harness::ivmd_run(&[], Some(&config), &data, &harness::LOOPBACK_PORTS, "info"),
        Duration::from_secs(60),
    );
    assert!(!o.status.success());
    let said = text(&o);
    assert!(
        said.contains("provision.timezone") && said.contains("Mars/Olympus"),
        "{said}"
    );
}

/// The list on the phone (issue 16): a Yealink's account file points it at its
/// `<mac>-directory.xml` with its own credential in the URL; curl fetching that very URL
/// gets the user's contacts first, then the office, each with a `*7<ext>` message entry,
/// as valid `YealinkIPPhoneDirectory` XML; a user added later appears on the next fetch
/// without re-provisioning; without or with a wrong credential: 401, and the directory is
/// never the armed first fetch.
#[test]
fn the_directory_follows_the_office_with_the_phones_credential() {
    require_tool("tftp");
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("ann", "201", "ann-password");
    server.add_user("bob", "202", "bob-password");
    server.add_user("carol", "203", "carol-password");
    ok(&server.data, &["phone", "add", YEALINK, "--user", "ann"]);
    let url = format!("{}/provision/{YEALINK}-directory.xml", server.http);
    let r = curl(&[], &url);
    assert_eq!(r.code, 401, "{}", r.body);
    let line = list_line(&server.data, YEALINK).expect("listed");
    assert!(
        line.contains("armed until") && !line.contains("bound"),
        "a directory fetch is no first fetch: {line}"
    );

    // Ann's contact list: carol.
    let login = curl(
        &[
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"name":"ann","password":"ann-password"}"#,
        ],
        &format!("{}/api/login", server.http),
    );
    assert_eq!(login.code, 200, "{}", login.body);
    let token = login
        .body
        .split("\"token\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("token")
        .to_owned();
    let added = curl(
        &[
            "-H",
            "content-type: application/json",
            "-H",
            &format!("authorization: Bearer {token}"),
            "--data",
            r#"{"user":"carol"}"#,
        ],
        &format!("{}/api/contacts", server.http),
    );
    assert_eq!(added.code, 201, "{}", added.body);

    // The armed first fetch of the account file: the directory URL with the credential,
    // and a BLF key on carol.
    let body = tftp_get(
        &server.tftp,
        &format!("{YEALINK}.cfg"),
        &dir.path().join("a.cfg"),
    );
    let pb = cfg_value(&body, "remote_phonebook.data.1.url");
    assert!(
        pb.ends_with(&format!("/provision/{YEALINK}-directory.xml")),
        "{pb}"
    );
    assert_eq!(cfg_value(&body, "linekey.2.type"), "16");
    assert_eq!(cfg_value(&body, "linekey.2.value"), "203");

    // curl fetches exactly what the phone is given (credential in the URL: Basic).
    let r = curl(&[], &pb);
    assert_eq!(r.code, 200, "{}", r.body);
    assert_xml(dir.path(), "directory", &r.body);
    assert!(r.body.contains("<YealinkIPPhoneDirectory>"), "{}", r.body);
    let at = |needle: &str| {
        r.body
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in\n{}", r.body))
    };
    assert!(at("<Telephone>203<") < at("<Telephone>*7203<"));
    assert!(
        at("<Telephone>*7203<") < at("<Telephone>202<"),
        "contacts first"
    );
    at("<Telephone>*7202<");
    assert!(!r.body.contains(">201<"), "not the user's own extension");

    // A new colleague appears on the next fetch; nothing re-provisioned.
    server.add_user("dave", "204", "dave-password");
    let r2 = curl(&[], &pb);
    assert_eq!(r2.code, 200);
    assert!(r2.body.contains("<Telephone>204<") && r2.body.contains("<Telephone>*7204<"));

    // A wrong credential gets nothing.
    let (user_pass, host) = pb
        .strip_prefix("http://")
        .and_then(|r| r.split_once('@'))
        .expect("userinfo");
    let user = user_pass.split(':').next().expect("user");
    let bad = curl(
        &["-u", &format!("{user}:wrong-password")],
        &format!("http://{host}"),
    );
    assert_eq!(bad.code, 401);
    assert!(!bad.body.contains("203"));
    // The account file (not the directory) bound the phone.
    let line = list_line(&server.data, YEALINK).expect("listed");
    assert!(line.contains("bound"), "{line}");
}

/// A firmware URL per model (issue 16): a Yealink that registered as a `SIP-T46S` (SIPp
/// with that User-Agent, so the box records the model) is pointed at the file an admin put
/// in `<data>/firmware/yealink/`, and curl fetches exactly that URL; a model with nothing in
/// place gets an empty `static.firmware.url` (no 404 to chase).
#[test]
fn firmware_url_per_model_where_an_admin_put_it() {
    require_tool("curl");
    require_tool("sipp");
    let dir = tempdir();
    let server = Server::start(dir.path(), baresip::SIP_TOML);
    server.add_user("ann", "201", "ann-password");
    ok(
        &server.data,
        &[
            "phone",
            "add",
            YEALINK,
            "--user",
            "ann",
            "--http-password",
            "ann-phone-credential",
        ],
    );
    let file = |server: &Server| {
        let r = curl(
            &["-u", &format!("{YEALINK}:ann-phone-credential")],
            &format!("{}/provision/{YEALINK}.cfg", server.http),
        );
        assert_eq!(r.code, 200, "{}", r.body);
        r.body
    };
    // No model known yet: nothing to fetch.
    assert_eq!(cfg_value(&file(&server), "static.firmware.url"), "");

    let image = b"not really a T46S image".repeat(100);
    let fw = server.data.join("firmware/yealink");
    std::fs::create_dir_all(&fw).expect("mkdir");
    std::fs::write(fw.join("SIP-T46S-66.86.0.15.rom"), &image).expect("write");
    let pw = sip_password(&server.data, "ann");
    std::fs::write(
        dir.path().join("users.csv"),
        "SEQUENTIAL\n201;Yealink SIP-T46S 66.86.0.15;ivm;\n",
    )
    .expect("csv");
    let port = sipp::free_port("127.0.0.1");
    let scenario = sipp::scenario("register_ua.xml");
    let out = sipp::run(
        dir.path(),
        &server.sip,
        "127.0.0.1",
        "30s",
        &[
            "-p",
            &port,
            "-t",
            "u1",
            "-sf",
            scenario.to_str().expect("path"),
            "-inf",
            "users.csv",
            "-au",
            "201",
            "-ap",
            &pw,
            "-m",
            "1",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(sipp::counts(&out), (1, 0), "{}", text(&out));
    assert!(harness::until(Duration::from_secs(10), || list_line(
        &server.data,
        YEALINK
    )
    .is_some_and(|l| l.contains("SIP-T46S"))));

    let url = cfg_value(&file(&server), "static.firmware.url");
    assert_eq!(
        url,
        format!("{}/provision/yealink/SIP-T46S-66.86.0.15.rom", server.http)
    );
    let got = curl(
        &["-o", dir.path().join("fw.rom").to_str().expect("path")],
        &url,
    );
    assert_eq!(got.code, 200);
    assert_eq!(
        std::fs::read(dir.path().join("fw.rom")).expect("read"),
        image
    );
}

/// HTTPS provisioning (`[provision] https = true`): a Yealink's armed first fetch over TFTP
/// names the box's certificate and an `https://` URL for later fetches; curl fetches the
/// certificate from that URL, and then, trusting only it (`--cacert`), the phone's file over
/// HTTPS with the credential, as the phone would. Without the certificate curl refuses the
/// box; with the option off (the default) the certificate is not served at all.
#[test]
fn https_provisioning_hands_over_the_box_certificate_first() {
    require_tool("tftp");
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "[provision]\nhttps = true\n");
    server.add_user("ann", "201", "ann-password");
    ok(&server.data, &["phone", "add", YEALINK, "--user", "ann"]);
    let sip = sip_password(&server.data, "ann");
    let body = tftp_get(
        &server.tftp,
        &format!("{YEALINK}.cfg"),
        &dir.path().join("a.cfg"),
    );
    let ca_url = cfg_value(&body, "trusted_certificates.url");
    assert_eq!(ca_url, format!("{}/provision/box-cert.pem", server.http));
    assert_eq!(cfg_value(&body, "security.trust_certificates"), "1");
    let later = cfg_value(&body, "static.auto_provision.server.url");
    assert_eq!(later, format!("{}/provision/", server.https));
    let user = cfg_value(&body, "static.auto_provision.server.username");
    let pass = cfg_value(&body, "static.auto_provision.server.password");

    let pem = dir.path().join("box-cert.pem");
    let got = curl(&["-o", pem.to_str().expect("path")], &ca_url);
    assert_eq!(got.code, 200);
    let text_pem = std::fs::read_to_string(&pem).expect("pem");
    assert!(
        text_pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "{text_pem}"
    );
    assert!(!text_pem.contains("PRIVATE"));

    let url = format!("{later}{YEALINK}.cfg");
    let creds = format!("{user}:{pass}");
    let untrusted = curl(&["--max-time", "10", "-u", &creds], &url);
    assert_eq!(
        untrusted.code, 0,
        "the self-signed certificate is not trusted by default"
    );
    let r = curl(
        &[
            "--max-time",
            "10",
            "--cacert",
            pem.to_str().expect("path"),
            "-u",
            &creds,
        ],
        &url,
    );
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(cfg_value(&r.body, "account.1.password"), sip);

    // Off by default: no certificate served, plain HTTP URLs.
    let other = tempdir();
    let plain = Server::start(other.path(), "");
    let (code, _) = http_get(&format!("{}/provision/box-cert.pem", plain.http));
    assert_eq!(code, 404);
}

/// Every brand's directory, fetched with curl and the phone's own credential (set by hand
/// here, as an installer does for a phone configured by hand), is well-formed XML
/// (`xmllint`) with the brand's root element and the `*7` message entries.
#[test]
fn every_brands_directory_is_valid_xml_with_the_phones_credential() {
    require_tool("curl");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    server.add_user("zed", "299", "zed-password");
    for (i, (mac, root)) in [
        ("001565000010", "<YealinkIPPhoneDirectory>"),
        ("0004f2000010", "<directory>"),
        ("001e7a000010", "<CiscoIPPhoneDirectory>"),
        ("000413000010", "<SnomIPPhoneDirectory>"),
        ("000b82000010", "<AddressBook>"),
    ]
    .into_iter()
    .enumerate()
    {
        let user = format!("u{i}");
        server.add_user(&user, &format!("23{i}"), "long-password");
        let credential = format!("credential-of-{mac}");
        ok(
            &server.data,
            &[
                "phone",
                "add",
                mac,
                "--user",
                &user,
                "--http-password",
                &credential,
            ],
        );
        let url = format!("{}/provision/{mac}-directory.xml", server.http);
        let anon = curl(&[], &url);
        assert_eq!(anon.code, 401, "{root}");
        let r = curl(&["--digest", "-u", &format!("{mac}:{credential}")], &url);
        assert_eq!(r.code, 200, "{root}: {}", r.body);
        assert_xml(dir.path(), root, &r.body);
        assert!(r.body.contains(root), "{}", r.body);
        assert!(
            r.body.contains(">299<") && r.body.contains(">*7299<"),
            "{}",
            r.body
        );
    }
}

/// Windowsize (RFC 7440) with a real client that sends it: Debian's atftp downloads a
/// firmware file at blksize 1428 with windows of 4, 16 and 64 blocks (and 100, which the box
/// clamps to its limit of 64); every byte arrives, the OACK grants the window, and atftp sends
/// one ACK per window instead of one per block. Lock-step (no windowsize) is the control.
#[test]
fn atftp_downloads_firmware_with_windowsize() {
    require_tool("atftp");
    let dir = tempdir();
    let server = Server::start(dir.path(), "");
    // 700 full blocks and a short one at 1428 bytes a block.
    let image: Vec<u8> = (0..1428 * 700 + 321)
        .map(|i: usize| (i * 31 + i / 977) as u8)
        .collect();
    let blocks = image.len() / 1428 + 1;
    let fw = server.data.join("firmware");
    std::fs::create_dir_all(&fw).expect("mkdir");
    std::fs::write(fw.join("fw-window.bin"), &image).expect("write");
    let out = dir.path().join("fw.out");

    let lock_step = atftp_get(&server.tftp, "fw-window.bin", &[("blksize", "1428")], &out);
    assert!(lock_step.bytes == image, "lock-step: content differs");
    // An ACK per block and ACK 0 (a block resent after a loss adds one).
    assert!(
        lock_step.acks > blocks && lock_step.acks <= blocks + 11,
        "lock-step: {} ACKs for {blocks} blocks",
        lock_step.acks
    );

    for (ask, granted) in [(4, 4), (16, 16), (64, 64), (100, 64)] {
        let got = atftp_get(
            &server.tftp,
            "fw-window.bin",
            &[("blksize", "1428"), ("windowsize", &ask.to_string())],
            &out,
        );
        assert!(got.bytes == image, "windowsize {ask}: content differs");
        assert!(
            got.oack.contains(&format!("windowsize: {granted},")),
            "windowsize {ask} granted as {granted}: {}",
            got.oack
        );
        // One ACK per window (and ACK 0); a window resent after a loss adds a few.
        let per_window = blocks.div_ceil(granted) + 1;
        assert!(
            got.acks >= per_window && got.acks <= per_window + 10,
            "windowsize {ask}: {} ACKs for {blocks} blocks",
            got.acks
        );
    }
}
