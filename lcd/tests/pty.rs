//! `io` + `Link` driving the software panel through a real pty pair.

use ivm_lcd::io::{self, lock, PanelConfig, PanelModel};
use ivm_lcd::soft_pty::SoftPty;
use ivm_lcd::{CfaModel, Key, KeyEvent, Screen};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn start_soft() -> SoftPty {
    SoftPty::start(CfaModel::Cfa635).expect("soft panel on a pty")
}

async fn wait_lines(soft: &mut SoftPty, want: &[String]) {
    let r = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if lock(&soft.panel).lines() == want {
                return;
            }
            if soft.changed.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(r.is_ok(), "panel shows {:?}", lock(&soft.panel).lines());
    assert_eq!(lock(&soft.panel).lines(), want);
}

async fn next_key(keys: &mut tokio::sync::mpsc::Receiver<KeyEvent>) -> KeyEvent {
    tokio::time::timeout(Duration::from_secs(5), keys.recv())
        .await
        .expect("key in time")
        .expect("key channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screens_and_keys_over_a_pty_with_reconnect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link_path = dir.path().join("panel");
    let mut soft = start_soft();
    std::os::unix::fs::symlink(&soft.path, &link_path).expect("symlink");

    let mut cfg = PanelConfig::new(&link_path, PanelModel::Cfa(CfaModel::Cfa635));
    cfg.reconnect_interval = Duration::from_millis(50);
    let cancel = CancellationToken::new();
    let (handle, mut keys, task) = io::spawn(cfg, cancel.clone());

    // A screen arrives, then a one-cell change.
    let s = Screen::from_lines(
        20,
        4,
        &["IVM office box", "IP 192.0.2.10", "phones 3/4", "msgs 2"],
    );
    handle.show(s.clone()).await.expect("show");
    wait_lines(&mut soft, &s.lines()).await;
    let before = lock(&soft.panel).commands();
    let mut s2 = s.clone();
    s2.put(19, 0, "*");
    handle.show(s2.clone()).await.expect("show");
    wait_lines(&mut soft, &s2.lines()).await;
    assert_eq!(
        lock(&soft.panel).commands() - before,
        1,
        "only the changed run is sent"
    );

    // Keys injected into the soft panel come out as events.
    soft.tap(Key::Up);
    assert_eq!(next_key(&mut keys).await, KeyEvent::press(Key::Up));
    assert_eq!(next_key(&mut keys).await, KeyEvent::release(Key::Up));

    handle.backlight(20).await.expect("backlight");
    let t = tokio::time::timeout(Duration::from_secs(5), async {
        while lock(&soft.panel).backlight() != 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(t.is_ok());

    // The device vanishes: the box runs on, then reconnects to a new panel at the same path
    // and draws the last screen in full.
    let mut conn = handle.connected();
    let _ = soft.stop().await;
    tokio::time::timeout(Duration::from_secs(5), conn.wait_for(|c| !*c))
        .await
        .expect("disconnect seen")
        .expect("watch");
    let mut soft2 = start_soft();
    std::fs::remove_file(&link_path).expect("rm link");
    std::os::unix::fs::symlink(&soft2.path, &link_path).expect("symlink");
    wait_lines(&mut soft2, &s2.lines()).await;
    assert_eq!(lock(&soft2.panel).backlight(), 20);
    soft2.tap(Key::Exit);
    assert_eq!(next_key(&mut keys).await, KeyEvent::press(Key::Exit));

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("task stops")
        .expect("join");
    let _ = soft2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_device_does_not_stop_the_box() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = PanelConfig::new(
        dir.path().join("nothing"),
        PanelModel::Cfa(CfaModel::Cfa633),
    );
    cfg.reconnect_interval = Duration::from_millis(20);
    let cancel = CancellationToken::new();
    let (handle, _keys, task) = io::spawn(cfg, cancel.clone());
    for i in 0..5 {
        let s = Screen::from_lines(16, 2, &[&format!("n{i}")]);
        handle.show(s).await.expect("accepted while absent");
    }
    assert!(!*handle.connected().borrow());
    drop(handle);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("task ends when handles drop")
        .expect("join");
}
