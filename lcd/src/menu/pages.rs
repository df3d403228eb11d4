//! Drawing: each page of the [`super::Menu`] as a 20x4 (or larger) [`Screen`].

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::{Field, ListKind, Menu, Page, Status, STATUS_PAGES};
use crate::Screen;

pub(super) fn render(m: &Menu, now: Instant) -> Screen {
    let mut s = Screen::new(m.cols, m.rows);
    let st = &m.status;
    match m.top() {
        Page::Idle => {
            s.set_line(0, &st.name);
            // The heartbeat: a mark that blinks once a second while the display actor runs.
            let beat = now.saturating_duration_since(m.started).as_secs() % 2 == 0;
            s.put(m.cols - 1, 0, if beat { "*" } else { " " });
            s.set_line(1, &format!("IP {}", addr_text(st)));
            if let Some(pw) = &st.first_password {
                s.set_line(
                    2,
                    &if st.first_admin.is_empty() || st.first_admin == "admin" {
                        "Admin password:".to_owned()
                    } else {
                        format!("{} password:", st.first_admin)
                    },
                );
                s.set_line(3, pw);
            } else {
                s.set_line(
                    2,
                    &format!(
                        "Phones {} reg/{} prov",
                        st.phones_registered, st.phones_provisioned
                    ),
                );
                s.set_line(3, &format!("Messages waiting {}", st.messages_waiting));
            }
        }
        Page::Status(i) => status_page(&mut s, st, *i),
        Page::List(kind, sel) => {
            let title = match kind {
                ListKind::Main => "Menu",
                ListKind::Network => "Network",
                ListKind::Dhcp => "DHCP server",
                ListKind::Phones => "",
                ListKind::Reset => "Factory reset",
            };
            list(&mut s, title, &m.list_items(*kind), *sel);
            if *kind == ListKind::Phones {
                // MACs and states fill the rows; the title tells about the selected phone:
                // a new one's vendor, an assigned one's user.
                let title = match st.unassigned.get(*sel) {
                    Some(p) => format!("Unassigned {}", p.vendor),
                    None => st
                        .assigned
                        .get(sel.saturating_sub(st.unassigned.len()))
                        .map_or_else(String::new, |p| format!("{} {}", p.extension, p.name)),
                };
                s.set_line(0, &title);
            }
        }
        Page::PickUser { sel, .. } => {
            let items: Vec<String> = st.users.iter().map(|(e, n)| format!("{e} {n}")).collect();
            list(&mut s, "Assign to user", &items, *sel);
        }
        Page::Phone { mac } => {
            match st.assigned.iter().find(|p| &p.mac == mac) {
                Some(p) => {
                    s.set_line(0, &format!("{} {}", p.extension, p.name));
                    s.set_line(1, &format!("{mac} {}", p.state));
                }
                None => {
                    s.set_line(0, "Phone");
                    s.set_line(1, &format!("{mac} gone"));
                }
            }
            s.set_line(2, ">Re-arm");
            s.set_line(3, "Enter=ok Exit=back");
        }
        Page::Edit {
            field, edit, error, ..
        } => {
            s.set_line(
                0,
                match field {
                    Field::Address => "IP address",
                    Field::Mask => "Subnet mask",
                    Field::Gateway => "Gateway (0=none)",
                    Field::Dns => "DNS server (0=none)",
                    Field::RangeStart => "DHCP range start",
                    Field::RangeEnd => "DHCP range end",
                },
            );
            s.set_line(1, &format!(" {}", edit.text()));
            s.put(1 + edit.caret() as u8, 2, "^");
            s.set_line(3, error.as_deref().unwrap_or("Enter=ok Exit=back"));
        }
        Page::Confirm { lines, .. } => {
            for (r, l) in lines.iter().enumerate() {
                s.set_line(r as u8, l);
            }
        }
        Page::Working { title, .. } => {
            s.set_line(0, title);
            s.set_line(1, "Please wait");
        }
        Page::Done { title, text } => {
            s.set_line(0, title);
            for (r, l) in wrap(text, usize::from(m.cols))
                .iter()
                .take(usize::from(m.rows.saturating_sub(1)))
                .enumerate()
            {
                s.set_line(r as u8 + 1, l);
            }
        }
        Page::Keep { deadline } => {
            let left = deadline.saturating_duration_since(now).as_secs();
            s.set_line(0, &format!("IP {}", addr_text(st)));
            s.set_line(1, "Keep new settings?");
            s.set_line(2, "Enter=keep Exit=undo");
            s.set_line(3, &format!("Undo in {left}s"));
        }
    }
    s
}

fn addr_text(st: &Status) -> String {
    match st.net.address {
        Some((a, _)) => a.to_string(),
        None => "none".into(),
    }
}

fn opt(a: Option<Ipv4Addr>) -> String {
    a.map_or_else(|| "none".into(), |a| a.to_string())
}

fn status_page(s: &mut Screen, st: &Status, i: usize) {
    let title = |name: &str| {
        let n = format!("{}/{}", i + 1, STATUS_PAGES);
        format!("{name:<w$}{n}", w = 20 - n.len())
    };
    match i {
        0 => {
            let mode = match st.net.dhcp_client {
                Some(true) => "DHCP",
                Some(false) => "static",
                None => "host",
            };
            s.set_line(0, &title(&format!("Network {mode}")));
            s.set_line(
                1,
                &match st.net.address {
                    Some((a, p)) => format!("IP {a}/{p}"),
                    None => "IP none".into(),
                },
            );
            s.set_line(2, &format!("GW {}", opt(st.net.gateway)));
            s.set_line(3, &format!("DNS {}", opt(st.net.dns)));
        }
        1 => {
            s.set_line(0, &title("System"));
            s.set_line(1, &format!("Up {}", uptime(st.uptime)));
            s.set_line(2, &format!("Version {}", st.version));
            s.set_line(3, &format!("Storage {}", bytes(st.storage_bytes)));
        }
        2 => {
            s.set_line(0, &title(&format!("DHCP {}", st.dhcp.state)));
            match st.dhcp.range {
                Some((a, b)) => {
                    s.set_line(1, &format!("{a}-"));
                    s.set_line(2, &format!("  {b}"));
                }
                None => s.set_line(1, "no range set"),
            }
            s.set_line(3, &format!("Leases in use {}", st.dhcp.leases));
        }
        _ => {
            s.set_line(0, &title("Phones"));
            s.set_line(1, &format!("SIP registered {}", st.sip_registrations));
            s.set_line(2, &format!("Provisioned {}", st.phones_provisioned));
            s.set_line(3, &format!("Unassigned {}", st.unassigned.len()));
        }
    }
}

/// A title and a window of three items around `sel`, marked with `>`.
fn list(s: &mut Screen, title: &str, items: &[String], sel: usize) {
    s.set_line(0, title);
    if items.is_empty() {
        s.set_line(1, " (none)");
        return;
    }
    let sel = sel.min(items.len() - 1);
    let rows = usize::from(s.size().1.saturating_sub(1)).max(1);
    // Whole pages of `rows` items, so the marker moves and the items stay put.
    let first = sel / rows * rows;
    for (r, (i, item)) in items.iter().enumerate().skip(first).take(rows).enumerate() {
        let mark = if i == sel { '>' } else { ' ' };
        s.set_line(r as u8 + 1, &format!("{mark}{item}"));
    }
}

/// Splits on `\n`, then wraps at word boundaries to `width`.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split(' ') {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                out.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push(line);
    }
    out
}

fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_words() {
        assert_eq!(
            wrap("Set by the host OS, not from the panel", 20),
            vec!["Set by the host OS,", "not from the panel"]
        );
        assert_eq!(wrap("a\nb", 20), vec!["a", "b"]);
    }

    #[test]
    fn formats() {
        assert_eq!(
            uptime(Duration::from_secs(3 * 86_400 + 3723)),
            "3d 01:02:03"
        );
        assert_eq!(uptime(Duration::from_secs(59)), "00:00:59");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(12_345_678), "12.3 MB");
    }
}
