//! The networkd backend with a stand-in `networkctl` (a shell script that logs its arguments),
//! so nothing on this machine is reconfigured. The interface is the loopback, which only
//! `status` and the first-change inference read.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ivm_netcfg::{render_networkd, Addressing, BackendKind, NetError, Network, StaticV4};

fn fake_networkctl(dir: &Path, fail: bool) -> PathBuf {
    let p = dir.join(if fail {
        "networkctl-fail"
    } else {
        "networkctl-ok"
    });
    let log = dir.join("networkctl.log");
    let body = if fail {
        "echo 'Failed to reload network settings: Unit dbus-org.freedesktop.network1.service not found.' >&2\nexit 1"
    } else {
        "exit 0"
    };
    std::fs::write(
        &p,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n{body}\n", log.display()),
    )
    .expect("write script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

fn net(dir: &Path, networkctl: &Path) -> Network {
    Network::new(
        BackendKind::Networkd {
            dir: dir.join("network"),
        },
        "lo".into(),
        dir.join("state.json"),
    )
    .with_networkctl(networkctl.display().to_string())
    .with_resolv_conf(dir.join("resolv.conf"))
}

fn stat(a: &str) -> Addressing {
    Addressing::Static(StaticV4 {
        address: a.parse().expect("ip"),
        prefix: 24,
        gateway: Some("192.168.50.1".parse().expect("ip")),
        dns: vec!["192.168.50.1".parse().expect("ip")],
    })
}

#[tokio::test]
async fn writes_the_file_reloads_and_undoes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("network")).expect("mkdir");
    let ok = fake_networkctl(dir.path(), false);
    let n = net(dir.path(), &ok);
    let file = dir.path().join("network/10-ivm-lo.network");

    n.apply(stat("192.168.50.10")).await.expect("apply");
    assert_eq!(
        std::fs::read_to_string(&file).expect("file"),
        render_networkd("lo", &stat("192.168.50.10"))
    );
    let log = std::fs::read_to_string(dir.path().join("networkctl.log")).expect("log");
    assert_eq!(log, "reload\nreconfigure lo\n");

    n.apply(Addressing::Dhcp).await.expect("apply dhcp");
    assert!(std::fs::read_to_string(&file)
        .expect("file")
        .contains("DHCP=ipv4\n"));
    assert_eq!(n.undo().await.expect("undo"), stat("192.168.50.10"));
    assert_eq!(
        std::fs::read_to_string(&file).expect("file"),
        render_networkd("lo", &stat("192.168.50.10"))
    );

    // networkctl fails: the error carries its stderr, the old file and state stay.
    let state_before = std::fs::read(dir.path().join("state.json")).expect("state");
    let bad = net(dir.path(), &fake_networkctl(dir.path(), true));
    match bad.apply(stat("192.168.50.20")).await {
        Err(NetError::Command { cmd, stderr, .. }) => {
            assert!(cmd.ends_with("networkctl-fail reload"), "{cmd}");
            assert!(stderr.contains("Failed to reload"), "{stderr}");
        }
        other => panic!("expected Command, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(&file).expect("file"),
        render_networkd("lo", &stat("192.168.50.10"))
    );
    assert_eq!(
        std::fs::read(dir.path().join("state.json")).expect("state"),
        state_before
    );

    // networkctl missing: a clear error, and the file is put back.
    let missing = net(dir.path(), &dir.path().join("no-such-networkctl"));
    let e = missing
        .apply(stat("192.168.50.30"))
        .await
        .expect_err("missing networkctl");
    assert!(matches!(e, NetError::MissingTool { .. }), "{e:?}");
    assert!(e.to_string().contains("not found"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("file"),
        render_networkd("lo", &stat("192.168.50.10"))
    );
    let names: Vec<_> = std::fs::read_dir(dir.path().join("network"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("10-ivm-lo.network")],
        "no temporary files left"
    );
}

#[tokio::test]
async fn first_file_removed_when_networkd_refuses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("network")).expect("mkdir");
    let bad = net(dir.path(), &fake_networkctl(dir.path(), true));
    assert!(bad.apply(Addressing::Dhcp).await.is_err());
    assert!(!dir.path().join("network/10-ivm-lo.network").exists());
    assert!(!dir.path().join("state.json").exists());
    // Status on the networkd backend: live state plus resolv.conf name servers.
    std::fs::write(dir.path().join("resolv.conf"), "nameserver 127.0.0.53\n").expect("resolv");
    let st = bad.status().await.expect("status");
    assert_eq!(
        st.dns,
        vec!["127.0.0.53".parse::<std::net::Ipv4Addr>().expect("ip")]
    );
    assert_eq!(st.mode, None);
}
