//! The host `Link` against the software panel in memory, on a virtual clock.
#![allow(clippy::unwrap_used)]

use ivm_lcd::cfa::{key_report, Command, Frame, PacketKind};
use ivm_lcd::screen::Screen;
use ivm_lcd::{
    CfaModel, CfaPanel, Key, KeyEvent, Link, LinkConfig, LinkEvent, Panel, ScreenWriter, SoftPanel,
};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_millis(250);

fn cfg() -> LinkConfig {
    LinkConfig {
        reply_timeout: T,
        max_retries: 2,
        queue_limit: 8,
    }
}

/// Moves bytes both ways until neither side has anything to say (bounded).
fn step(link: &mut Link, panel: &mut SoftPanel, now: Instant) {
    for _ in 0..100 {
        let mut moved = false;
        while let Some(b) = link.poll_transmit(now) {
            panel.handle_bytes(&b);
            moved = true;
        }
        if let Some(b) = panel.poll_transmit() {
            link.handle_bytes(now, &b);
            moved = true;
        }
        if !moved {
            return;
        }
    }
    panic!("no quiescence");
}

fn events(link: &mut Link) -> Vec<LinkEvent> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

#[test]
fn commands_one_at_a_time_and_replies_matched() {
    let now = Instant::now();
    let mut link = Link::new(cfg());
    let a = link.send(&Command::Ping(b"ab".to_vec())).unwrap();
    let b = link.send(&Command::Clear).unwrap();
    // Only one command goes out before its reply.
    assert!(link.poll_transmit(now).is_some());
    assert!(link.poll_transmit(now).is_none());
    assert_eq!(link.pending(), 2);
    let mut panel = SoftPanel::new(CfaModel::Cfa635);
    // Re-deliver the first command by hand: the panel got nothing yet.
    panel.handle_bytes(&Command::Ping(b"ab".to_vec()).to_frame().unwrap().encode());
    link.handle_bytes(now, &panel.poll_transmit().unwrap());
    step(&mut link, &mut panel, now);
    assert_eq!(
        events(&mut link),
        vec![
            LinkEvent::Reply {
                id: a,
                data: b"ab".to_vec()
            },
            LinkEvent::Reply {
                id: b,
                data: vec![]
            }
        ]
    );
    assert_eq!(link.pending(), 0);
    assert_eq!(link.poll_timeout(), None);
}

#[test]
fn reports_between_command_and_reply() {
    let now = Instant::now();
    let mut link = Link::new(cfg());
    let id = link.send(&Command::Clear).unwrap();
    let _ = link.poll_transmit(now).unwrap();
    let mut line = key_report(KeyEvent::press(Key::Down)).encode();
    line.extend(
        Frame::new(PacketKind::Report, 2, vec![0, 1, 2, 3])
            .unwrap()
            .encode(),
    ); // temperature
    line.extend(key_report(KeyEvent::release(Key::Down)).encode());
    line.extend(Frame::new(PacketKind::Reply, 6, vec![]).unwrap().encode());
    link.handle_bytes(now, &line);
    let ev = events(&mut link);
    assert_eq!(ev.len(), 4);
    assert_eq!(ev[0], LinkEvent::Key(KeyEvent::press(Key::Down)));
    assert!(matches!(ev[1], LinkEvent::Report(_)));
    assert_eq!(ev[2], LinkEvent::Key(KeyEvent::release(Key::Down)));
    assert_eq!(ev[3], LinkEvent::Reply { id, data: vec![] });
}

#[test]
fn resend_after_timeout_then_reply() {
    let t0 = Instant::now();
    let mut link = Link::new(cfg());
    let mut panel = SoftPanel::new(CfaModel::Cfa635);
    panel.drop_next = 1; // the first try is lost
    let id = link.send(&Command::Backlight(40)).unwrap();
    step(&mut link, &mut panel, t0);
    assert!(events(&mut link).is_empty());
    assert_eq!(link.poll_timeout(), Some(t0 + T));
    // Not yet.
    link.handle_timeout(t0 + T - Duration::from_millis(1));
    assert!(link
        .poll_transmit(t0 + T - Duration::from_millis(1))
        .is_none());
    let t1 = t0 + T;
    link.handle_timeout(t1);
    step(&mut link, &mut panel, t1);
    assert_eq!(
        events(&mut link),
        vec![LinkEvent::Reply { id, data: vec![] }]
    );
    assert_eq!(panel.commands(), 2);
    assert_eq!(panel.backlight(), 40);
}

#[test]
fn gives_up_after_retries_and_moves_on() {
    let mut now = Instant::now();
    let mut link = Link::new(cfg());
    let mut panel = SoftPanel::new(CfaModel::Cfa635);
    panel.drop_next = 3; // first try + 2 retries all lost
    let a = link.send(&Command::Clear).unwrap();
    let b = link.send(&Command::Ping(vec![7])).unwrap();
    let mut ev = Vec::new();
    for _ in 0..10 {
        step(&mut link, &mut panel, now);
        ev.extend(events(&mut link));
        let Some(t) = link.poll_timeout() else { break };
        now = t;
        link.handle_timeout(now);
    }
    assert_eq!(
        ev,
        vec![
            LinkEvent::TimedOut { id: a, code: 6 },
            LinkEvent::Reply {
                id: b,
                data: vec![7]
            }
        ]
    );
    assert_eq!(panel.commands(), 4);
    assert_eq!(link.timeouts(), 1);
}

#[test]
fn error_reply_and_stray_reply() {
    let now = Instant::now();
    let mut link = Link::new(cfg());
    let mut panel = SoftPanel::new(CfaModel::Cfa635);
    // A reply nobody asked for is ignored.
    link.handle_bytes(
        now,
        &Frame::new(PacketKind::Reply, 6, vec![]).unwrap().encode(),
    );
    assert_eq!(link.stray_replies(), 1);
    let id = link
        .send(&Command::SendText {
            col: 0,
            row: 9,
            text: b"x".to_vec(),
        })
        .unwrap();
    step(&mut link, &mut panel, now);
    assert_eq!(
        events(&mut link),
        vec![LinkEvent::Rejected { id, data: vec![] }]
    );
}

#[test]
fn garbage_on_the_line_does_not_stop_the_link() {
    let now = Instant::now();
    let mut link = Link::new(cfg());
    let id = link.send(&Command::Ping(b"ok".to_vec())).unwrap();
    let _ = link.poll_transmit(now).unwrap();
    let mut line = vec![0x00, 0xFF, 0x41, 0x30, 0x99];
    line.extend([0x40, 0x05, b'o']); // truncated reply
    line.extend(
        Frame::new(PacketKind::Reply, 0, b"ok".to_vec())
            .unwrap()
            .encode(),
    );
    for b in &line {
        link.handle_bytes(now, std::slice::from_ref(b));
    }
    assert_eq!(
        events(&mut link),
        vec![LinkEvent::Reply {
            id,
            data: b"ok".to_vec()
        }]
    );
    assert!(link.skipped_bytes() > 0);
}

#[test]
fn queue_is_bounded() {
    let mut link = Link::new(cfg());
    for _ in 0..8 {
        link.send(&Command::Clear).unwrap();
    }
    assert!(link.send(&Command::Clear).is_err());
}

#[test]
fn screen_through_panel_driver_reaches_soft_panel() {
    let now = Instant::now();
    let mut drv = CfaPanel::new(CfaModel::Cfa635, LinkConfig::default());
    let mut panel = SoftPanel::new(CfaModel::Cfa635);
    let mut w = ScreenWriter::new();
    let s = Screen::from_lines(
        20,
        4,
        &["IVM office box", "IP 192.0.2.10", "phones 3/4", "msgs 2"],
    );
    assert_eq!(w.draw(&mut drv, &s).unwrap(), 4);
    let mut s2 = s.clone();
    s2.put(19, 0, "*");
    assert_eq!(w.draw(&mut drv, &s2).unwrap(), 1);
    for _ in 0..20 {
        while let Some(b) = drv.poll_transmit(now) {
            panel.handle_bytes(&b);
        }
        match panel.poll_transmit() {
            Some(b) => drv.handle_bytes(now, &b),
            None => break,
        }
    }
    assert_eq!(panel.lines(), s2.lines());
    assert_eq!(panel.commands(), 5);
    panel.tap(Key::Enter);
    drv.handle_bytes(now, &panel.poll_transmit().unwrap());
    assert_eq!(drv.poll_key(), Some(KeyEvent::press(Key::Enter)));
    assert_eq!(drv.poll_key(), Some(KeyEvent::release(Key::Enter)));
    assert_eq!(drv.failures(), 0);
}
