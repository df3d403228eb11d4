//! Key paths through the menus on a virtual clock.

use super::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn status() -> Status {
    Status {
        name: "ivm-office".into(),
        version: "0.1.0".into(),
        uptime: Duration::from_secs(3661),
        net: NetInfo {
            interface: "eth0".into(),
            dhcp_client: Some(false),
            address: Some((ip("10.0.0.5"), 24)),
            gateway: Some(ip("10.0.0.1")),
            dns: Some(ip("10.0.0.1")),
            managed: true,
        },
        dhcp: DhcpInfo {
            enabled: false,
            state: "off".into(),
            range: None,
            leases: 0,
        },
        phones_registered: 2,
        phones_provisioned: 3,
        sip_registrations: 2,
        messages_waiting: 4,
        storage_bytes: 12_345_678,
        unassigned: vec![SeenPhone {
            mac: "001565AABBCC".into(),
            vendor: "yealink".into(),
        }],
        assigned: vec![AssignedPhone {
            mac: "0004F2000001".into(),
            extension: "101".into(),
            name: "alice".into(),
            state: "prov".into(),
        }],
        users: vec![
            ("100".into(), "admin".into()),
            ("101".into(), "alice".into()),
        ],
        first_password: None,
        first_admin: String::new(),
    }
}

struct T {
    m: Menu,
    now: Instant,
}

impl T {
    fn new() -> T {
        let now = Instant::now();
        let mut m = Menu::new(MenuConfig::default(), 20, 4, now);
        m.set_status(status());
        T { m, now }
    }
    fn press(&mut self, k: Key) -> Option<Action> {
        self.now += Duration::from_millis(100);
        self.m.key(self.now, KeyEvent::press(k))
    }
    fn presses(&mut self, keys: &[Key]) -> Vec<Action> {
        keys.iter().filter_map(|k| self.press(*k)).collect()
    }
    fn lines(&self) -> Vec<String> {
        self.m
            .render(self.now)
            .lines()
            .into_iter()
            .map(|l| l.trim_end().to_owned())
            .collect()
    }
}

#[test]
fn idle_screen_with_heartbeat() {
    let mut t = T::new();
    let a = t.m.render(t.now).lines();
    assert_eq!(a[0], "ivm-office         *");
    assert_eq!(a[1].trim_end(), "IP 10.0.0.5");
    assert_eq!(a[2].trim_end(), "Phones 2 reg/3 prov");
    assert_eq!(a[3].trim_end(), "Messages waiting 4");
    t.now += Duration::from_secs(1);
    assert_eq!(t.m.render(t.now).lines()[0], "ivm-office          ");
}

#[test]
fn idle_screen_shows_the_first_start_password_until_it_is_replaced() {
    let mut t = T::new();
    let pw = "abcdefghijkmnpqrstuv";
    t.m.set_status(Status {
        first_password: Some(pw.into()),
        ..status()
    });
    let a = t.m.render(t.now).lines();
    assert_eq!(a[1].trim_end(), "IP 10.0.0.5");
    assert_eq!(a[2].trim_end(), "Admin password:");
    assert_eq!(a[3], pw, "20 characters fill the row");
    t.m.set_status(status());
    assert_eq!(
        t.m.render(t.now).lines()[2].trim_end(),
        "Phones 2 reg/3 prov"
    );
}

#[test]
fn status_pages_cycle_both_ways() {
    let mut t = T::new();
    t.press(Key::Down);
    assert_eq!(
        t.lines(),
        [
            "Network static   1/4",
            "IP 10.0.0.5/24",
            "GW 10.0.0.1",
            "DNS 10.0.0.1"
        ]
    );
    t.press(Key::Down);
    assert_eq!(
        t.lines(),
        [
            "System           2/4",
            "Up 01:01:01",
            "Version 0.1.0",
            "Storage 12.3 MB"
        ]
    );
    t.press(Key::Down);
    assert_eq!(t.lines()[0], "DHCP off         3/4");
    assert_eq!(t.lines()[3], "Leases in use 0");
    t.press(Key::Down);
    assert_eq!(
        t.lines(),
        [
            "Phones           4/4",
            "SIP registered 2",
            "Provisioned 3",
            "Unassigned 1"
        ]
    );
    t.press(Key::Down);
    assert_eq!(t.lines()[0], "Network static   1/4");
    t.press(Key::Up);
    assert_eq!(t.lines()[0], "Phones           4/4");
    t.press(Key::Exit);
    assert_eq!(t.lines()[0], "ivm-office         *".trim_end());
}

#[test]
fn static_address_edited_digit_by_digit_and_refused_on_the_spot() {
    let mut t = T::new();
    t.presses(&[Key::Enter, Key::Enter, Key::Down, Key::Enter]);
    assert_eq!(
        t.lines(),
        [
            "IP address",
            " 010.000.000.005",
            "               ^",
            "Enter=ok Exit=back"
        ]
    );
    // 10.0.0.5 -> 10.0.0.7
    t.presses(&[Key::Up, Key::Up, Key::Enter]);
    assert_eq!(t.lines()[0], "Subnet mask");
    assert_eq!(t.lines()[1], " 255.255.255.000");
    // A non-contiguous mask is refused and the editor stays.
    t.presses(&[
        Key::Left,
        Key::Left,
        Key::Left,
        Key::Left,
        Key::Down,
        Key::Enter,
    ]);
    assert_eq!(t.lines()[1], " 255.255.245.000");
    assert_eq!(t.lines()[3], "mask not contiguous");
    t.presses(&[Key::Up, Key::Enter]);
    assert_eq!(t.lines()[0], "Gateway (0=none)");
    // Gateway 10.0.0.1 -> 10.0.1.1: off the /24.
    t.presses(&[
        Key::Left,
        Key::Left,
        Key::Left,
        Key::Left,
        Key::Up,
        Key::Enter,
    ]);
    assert_eq!(t.lines()[3], "gateway off subnet");
    t.presses(&[Key::Down, Key::Enter]);
    assert_eq!(t.lines()[0], "DNS server (0=none)");
    t.press(Key::Enter);
    assert_eq!(
        t.lines(),
        ["Apply 10.0.0.7/24", "gw 10.0.0.1", "Enter=yes Exit=no", ""]
    );
    let a = t.press(Key::Enter);
    assert_eq!(
        a,
        Some(Action::SetNetwork(NetChoice::Static {
            address: ip("10.0.0.7"),
            prefix: 24,
            gateway: Some(ip("10.0.0.1")),
            dns: Some(ip("10.0.0.1")),
        }))
    );
    assert!(t.m.busy());
    assert_eq!(t.lines()[0], "Applying network...");
    // Keys do nothing while the action runs.
    assert_eq!(t.press(Key::Exit), None);
    t.m.finish(t.now, Ok("applied".into()));
    assert_eq!(t.lines()[1], "Keep new settings?");
    assert_eq!(t.lines()[3], "Undo in 60s");
    assert_eq!(t.press(Key::Enter), Some(Action::KeepNetwork));
    assert_eq!(t.lines()[0], "Restarting services");
    t.m.finish(t.now, Ok("kept".into()));
    assert_eq!(t.lines(), ["Network", "kept", "", ""]);
    t.press(Key::Enter);
    assert_eq!(t.lines()[0], "Network");
    assert_eq!(t.lines()[2], ">Set static address");
}

#[test]
fn unanswered_network_change_is_undone() {
    let mut t = T::new();
    let a = t.presses(&[Key::Enter, Key::Enter, Key::Enter, Key::Enter]);
    assert_eq!(a, vec![Action::SetNetwork(NetChoice::Dhcp)]);
    t.m.finish(t.now, Ok(String::new()));
    t.now += Duration::from_secs(30);
    assert_eq!(t.m.tick(t.now), None);
    assert_eq!(t.lines()[3], "Undo in 30s");
    t.now += Duration::from_secs(31);
    assert_eq!(t.m.tick(t.now), Some(Action::RevertNetwork));
    assert_eq!(t.lines()[0], "Undoing change...");
    t.m.finish(t.now, Ok("previous settings back".into()));
    assert_eq!(t.lines(), ["Network", "previous settings", "back", ""]);
}

#[test]
fn failures_are_shown_and_lead_back() {
    let mut t = T::new();
    t.presses(&[Key::Enter, Key::Enter, Key::Down, Key::Down, Key::Enter]);
    let a = t.press(Key::Enter);
    assert_eq!(a, Some(Action::UndoNetwork));
    t.m.finish(t.now, Err("no earlier settings".into()));
    assert_eq!(t.lines(), ["Failed:", "no earlier settings", "", ""]);
    t.press(Key::Exit);
    assert_eq!(t.lines()[0], "Network");
}

#[test]
fn host_managed_network_cannot_be_changed() {
    let mut t = T::new();
    let mut st = status();
    st.net.managed = false;
    t.m.set_status(st);
    let a = t.presses(&[Key::Enter, Key::Enter, Key::Enter]);
    assert!(a.is_empty());
    assert_eq!(
        t.lines(),
        ["Network", "Set by the host OS,", "not from the panel", ""]
    );
}

#[test]
fn dhcp_server_on_with_proposed_range_and_range_edit() {
    let mut t = T::new();
    t.presses(&[Key::Enter, Key::Down, Key::Enter]);
    assert_eq!(
        t.lines(),
        ["DHCP server", ">Turn on", " Edit range", " Show status"]
    );
    t.press(Key::Enter);
    assert_eq!(
        t.lines(),
        [
            "Turn DHCP server on",
            "10.0.0.100-",
            "10.0.0.199?",
            "Enter=yes Exit=no"
        ]
    );
    let a = t.press(Key::Enter);
    assert_eq!(
        a,
        Some(Action::SetDhcpServer {
            enabled: true,
            start: ip("10.0.0.100"),
            end: ip("10.0.0.199"),
        })
    );
    t.m.finish(
        t.now,
        Err("another DHCP server answered: 10.0.0.254".into()),
    );
    assert_eq!(t.lines()[0], "Failed:");
    t.press(Key::Enter);
    // Range: start 10.0.0.100, end moved below the start is refused.
    t.presses(&[Key::Down, Key::Enter, Key::Enter]);
    assert_eq!(t.lines()[0], "DHCP range end");
    t.presses(&[Key::Left, Key::Left, Key::Down, Key::Enter]);
    assert_eq!(t.lines()[1], " 010.000.000.099");
    assert_eq!(t.lines()[3], "start after end");
    t.presses(&[Key::Up, Key::Enter]);
    let a = t.press(Key::Enter);
    assert_eq!(
        a,
        Some(Action::SetDhcpServer {
            enabled: false,
            start: ip("10.0.0.100"),
            end: ip("10.0.0.199"),
        })
    );
}

#[test]
fn phone_assignment_picks_a_user() {
    let mut t = T::new();
    t.presses(&[Key::Enter, Key::Down, Key::Down, Key::Enter]);
    assert_eq!(
        t.lines(),
        [
            "Unassigned yealink",
            ">001565AABBCC new",
            " 0004F2000001 prov",
            ""
        ]
    );
    t.presses(&[Key::Enter, Key::Down]);
    assert_eq!(
        t.lines(),
        ["Assign to user", " 100 admin", ">101 alice", ""]
    );
    t.press(Key::Enter);
    assert_eq!(
        t.lines(),
        [
            "Assign 001565AABBCC",
            "to 101 alice?",
            "Enter=yes Exit=no",
            ""
        ]
    );
    let a = t.press(Key::Enter);
    assert_eq!(
        a,
        Some(Action::AssignPhone {
            mac: "001565AABBCC".into(),
            extension: "101".into()
        })
    );
    t.m.finish(t.now, Ok("001565AABBCC is 101".into()));
    assert_eq!(t.lines()[0], "Phones");
    t.press(Key::Enter);
    assert_eq!(t.lines()[0], "Assign to user");
}

#[test]
fn admin_password_is_shown_once() {
    let mut t = T::new();
    let a = t.presses(&[
        Key::Enter,
        Key::Up,
        Key::Up,
        Key::Up,
        Key::Enter,
        Key::Enter,
    ]);
    assert_eq!(a, vec![Action::NewAdminPassword]);
    t.m.finish(t.now, Ok("abcdefghijkmnpqrstuv".into()));
    assert_eq!(
        t.lines(),
        [
            "Admin password:",
            "abcdefghijkmnpqrstuv",
            "Shown once: note it",
            "Any key: done"
        ]
    );
    t.press(Key::Down);
    assert_eq!(t.lines()[0], "Menu");
    assert!(!t.lines().iter().any(|l| l.contains("abcdefgh")));
}

#[test]
fn factory_reset_two_levels_each_confirmed() {
    let mut t = T::new();
    t.presses(&[Key::Enter, Key::Up, Key::Enter]);
    assert_eq!(
        t.lines(),
        ["Factory reset", ">Keep network", " Wipe everything", ""]
    );
    t.press(Key::Enter);
    assert_eq!(t.lines()[1], "phones; keep network");
    assert_eq!(t.press(Key::Exit), None);
    t.press(Key::Down);
    t.press(Key::Enter);
    assert_eq!(t.lines()[1], "phones AND network?");
    assert_eq!(
        t.press(Key::Enter),
        Some(Action::FactoryReset {
            keep_network: false
        })
    );
}

#[test]
fn reboot_is_confirmed() {
    let mut t = T::new();
    t.presses(&[Key::Enter, Key::Up, Key::Up, Key::Enter]);
    assert_eq!(t.lines()[0], "Reboot the box?");
    assert_eq!(t.press(Key::Enter), Some(Action::Reboot));
    assert_eq!(t.lines()[0], "Rebooting...");
}

#[test]
fn backlight_dims_and_first_press_only_wakes() {
    let mut t = T::new();
    assert_eq!(t.m.backlight(t.now), 100);
    t.now += Duration::from_secs(61);
    assert_eq!(t.m.backlight(t.now), 10);
    assert_eq!(t.press(Key::Enter), None);
    assert_eq!(t.m.backlight(t.now), 100);
    assert_eq!(t.lines()[0], "ivm-office");
    t.press(Key::Enter);
    assert_eq!(t.lines()[0], "Menu");
}

#[test]
fn menus_return_to_idle_when_left_alone() {
    let mut t = T::new();
    t.presses(&[Key::Enter, Key::Enter]);
    assert_eq!(t.lines()[0], "Network");
    t.now += Duration::from_secs(181);
    t.m.tick(t.now);
    assert_eq!(t.lines()[1], "IP 10.0.0.5");
}

#[test]
fn releases_are_ignored_and_lists_scroll() {
    let mut t = T::new();
    t.press(Key::Enter);
    assert_eq!(t.m.key(t.now, KeyEvent::release(Key::Down)), None);
    assert_eq!(t.lines(), ["Menu", ">Network", " DHCP server", " Phones"]);
    t.presses(&[Key::Down, Key::Down, Key::Down, Key::Down, Key::Down]);
    assert_eq!(
        t.lines(),
        ["Menu", " Admin password", " Reboot", ">Factory reset"]
    );
    t.press(Key::Down);
    assert_eq!(t.lines()[1], ">Network");
}

#[test]
fn an_assigned_phone_is_re_armed() {
    let mut t = T::new();
    t.presses(&[Key::Enter, Key::Down, Key::Down, Key::Enter, Key::Down]);
    assert_eq!(
        t.lines(),
        ["101 alice", " 001565AABBCC new", ">0004F2000001 prov", ""]
    );
    t.press(Key::Enter);
    assert_eq!(
        t.lines(),
        [
            "101 alice",
            "0004F2000001 prov",
            ">Re-arm",
            "Enter=ok Exit=back"
        ]
    );
    // Exit backs out of the confirmation: nothing happens.
    assert_eq!(t.press(Key::Enter), None);
    assert_eq!(
        t.lines(),
        [
            "Re-arm 0004F2000001?",
            "(replaced or reset)",
            "Enter=yes Exit=no",
            ""
        ]
    );
    assert_eq!(t.press(Key::Exit), None);
    assert_eq!(t.lines()[2], ">Re-arm");
    t.press(Key::Enter);
    let a = t.press(Key::Enter);
    assert_eq!(
        a,
        Some(Action::ArmPhone {
            mac: "0004F2000001".into()
        })
    );
    assert_eq!(t.lines()[0], "Re-arming phone...");
    assert!(t.m.busy());
    // The box answers; the state the next snapshot brings shows on the phone's page.
    t.m.finish(t.now, Ok("0004F2000001 armed for 24 h".into()));
    assert_eq!(t.lines()[..3], ["Phones", "0004F2000001 armed", "for 24 h"]);
    let mut st = status();
    st.assigned[0].state = "armed".into();
    t.m.set_status(st);
    t.press(Key::Enter);
    assert_eq!(t.lines()[1], "0004F2000001 armed");
    // A refusal is shown the same way.
    t.presses(&[Key::Enter, Key::Enter]);
    t.m.finish(t.now, Err("arming is off".into()));
    assert_eq!(t.lines()[..2], ["Failed:", "arming is off"]);
}

#[test]
fn phones_menu_with_no_phones_says_so() {
    let mut t = T::new();
    t.m.set_status(Status {
        unassigned: Vec::new(),
        assigned: Vec::new(),
        ..status()
    });
    t.presses(&[Key::Enter, Key::Down, Key::Down, Key::Enter]);
    assert_eq!(t.lines()[..2], ["Phones", "No phones seen or"]);
}

#[test]
fn the_first_password_names_an_admin_not_called_admin() {
    let mut t = T::new();
    t.m.set_status(Status {
        first_password: Some("abcdefghijkmnpqrstuv".into()),
        first_admin: "ivm-admin".into(),
        ..status()
    });
    assert_eq!(t.lines()[2], "ivm-admin password:");
}
