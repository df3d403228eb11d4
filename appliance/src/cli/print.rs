//! How `ivmd`'s admin commands print what the box answered.

use std::process::ExitCode;

use super::{fail, Reached};
use crate::admin::{AdminResponse, BoxInfo, BoxStatus, PhoneRow};
use crate::config::Config;

/// Prints an [`AdminResponse`]; its exit status.
pub fn response(resp: AdminResponse, reached: &Reached) -> ExitCode {
    match resp {
        AdminResponse::Tls { info } => {
            println!("source:      {}", info.source);
            println!("subject:     {}", info.subject);
            println!("issuer:      {}", info.issuer);
            println!("names:       {}", info.names.join(", "));
            println!("valid from:  {}", info.not_before);
            println!("valid until: {}", info.not_after);
            println!("sha-256:     {}", info.sha256);
            println!("chain:       {} certificate(s)", info.chain);
            if matches!(reached, Reached::Stopped(_)) {
                println!("(the box is not running: it serves this when it starts)");
            }
            ExitCode::SUCCESS
        }
        AdminResponse::User { user, password } => {
            println!(
                "{}\t{}\t{}\t{}",
                user.name, user.extension, user.display_name, user.guid
            );
            if user.may_all_call {
                println!("all-call: allowed");
            }
            if user.global {
                println!("global: published");
            }
            if let Some(p) = password {
                println!("password: {p}");
            }
            ExitCode::SUCCESS
        }
        AdminResponse::Users { users } => {
            println!(
                "{:<20} {:<10} {:<24} {:<6} {:<8} GUID",
                "NAME", "EXTENSION", "DISPLAY NAME", "ADMIN", "ALL-CALL"
            );
            for u in users {
                println!(
                    "{:<20} {:<10} {:<24} {:<6} {:<8} {}",
                    u.name,
                    u.extension,
                    u.display_name,
                    if u.admin { "yes" } else { "" },
                    if u.may_all_call { "yes" } else { "" },
                    u.guid
                );
            }
            ExitCode::SUCCESS
        }
        AdminResponse::UserSip {
            user,
            sip_user,
            sip_password,
            sip_domain,
            sip_server,
        } => {
            let server = sip_server.unwrap_or_else(|| "(SIP is off)".into());
            println!("name:          {}", user.name);
            println!("display name:  {}", user.display_name);
            println!("extension:     {}", user.extension);
            println!("SIP user:      {sip_user}");
            println!("SIP password:  {sip_password}");
            println!("SIP domain:    {sip_domain}   (digest realm)");
            println!("SIP server:    {server}   (registrar and outbound proxy, UDP or TCP)");
            println!("voice mail:    dial *97; record a message: *7 + extensions separated by * (e.g. *7201*202)");
            if let Reached::Stopped(source) = reached {
                println!("note:          the box is not running: domain and server are from {source}; `ivmd run --sip ADDR` would change the server");
            }
            ExitCode::SUCCESS
        }
        AdminResponse::Group { group } => {
            group_line(&group);
            ExitCode::SUCCESS
        }
        AdminResponse::Groups { groups } => {
            println!("{:<20} MEMBERS", "GROUP");
            groups.iter().for_each(group_line);
            ExitCode::SUCCESS
        }
        AdminResponse::Phone { phone } => {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                phone.mac,
                phone.vendor.as_deref().unwrap_or("-"),
                phone.user.as_deref().unwrap_or("-"),
                phone.extension.as_deref().unwrap_or("-"),
                provisioning(&phone)
            );
            ExitCode::SUCCESS
        }
        AdminResponse::Gateways { gateways } => {
            println!(
                "{:<16} {:<6} {:<22} {:<6} {:<8} {:<16} {:<10} LINE STATE",
                "GATEWAY", "PROTO", "ADDRESS", "STATE", "LINE", "USER", "EXTENSION"
            );
            for g in gateways {
                for l in &g.lines {
                    println!(
                        "{:<16} {:<6} {:<22} {:<6} {:<8} {:<16} {:<10} {}",
                        g.name,
                        g.protocol,
                        g.address,
                        g.state,
                        l.endpoint,
                        l.user.as_deref().unwrap_or("-"),
                        l.extension.as_deref().unwrap_or("-"),
                        l.state
                    );
                }
            }
            ExitCode::SUCCESS
        }
        AdminResponse::Phones { phones } => {
            println!(
                "{:<13} {:<12} {:<10} {:<16} {:<10} {:<12} {:<10} PROVISIONING",
                "MAC", "VENDOR", "MODEL", "USER", "EXTENSION", "STATUS", "LAST SEEN"
            );
            for p in phones {
                println!(
                    "{:<13} {:<12} {:<10} {:<16} {:<10} {:<12} {:<10} {}",
                    p.mac,
                    p.vendor.as_deref().unwrap_or("-"),
                    p.model.as_deref().unwrap_or("-"),
                    p.user.as_deref().unwrap_or("-"),
                    p.extension.as_deref().unwrap_or("-"),
                    p.status,
                    p.last_seen,
                    provisioning(&p)
                );
            }
            ExitCode::SUCCESS
        }
        AdminResponse::PhoneSecrets {
            phone,
            admin_password,
            provision_user,
            provision_password,
            provision_url,
        } => {
            println!("phone:                  {}", phone.mac);
            println!("provisioning:           {}", provisioning(&phone));
            println!("web interface login:    admin / {admin_password}");
            println!("provisioning user:      {provision_user}   (any user name is accepted)");
            println!("provisioning password:  {provision_password}   (HTTP Digest or Basic)");
            if let Some(url) = provision_url {
                println!("provisioning URL:       {url}");
            }
            ExitCode::SUCCESS
        }
        AdminResponse::Hello { info } => {
            println!("{}", info.data_dir.display());
            ExitCode::SUCCESS
        }
        AdminResponse::Status { status: s } => self::status(&s, false),
        AdminResponse::Done => ExitCode::SUCCESS,
        AdminResponse::Error { message } => fail(&message),
    }
}

/// `armed until <unix seconds>`, `bound <address> at <unix seconds>`, or `-`; with
/// `(credential set by hand)` when it was.
/// `NAME  member,member` (`everyone` says it is built in).
fn group_line(g: &ivm_wire::rest::GroupInfo) {
    let names: Vec<&str> = g.members.iter().map(|m| m.name.as_str()).collect();
    let builtin = if g.builtin {
        " (built in: every user)"
    } else {
        ""
    };
    println!("{:<20} {}{builtin}", g.name, names.join(","));
}

fn provisioning(p: &PhoneRow) -> String {
    let mut s = match (p.armed_until, &p.bound_address, p.bound_at) {
        (Some(t), _, _) => format!("armed until {t}"),
        (None, Some(a), Some(t)) => format!("bound {a} at {t}"),
        _ => "-".to_owned(),
    };
    if p.manual_credential {
        s.push_str(" (credential set by hand)");
    }
    s
}

/// `2d 03:04:05`, or `03:04:05` under a day.
fn uptime(s: u64) -> String {
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

/// Bytes in the largest unit that keeps a number of at least 1 (powers of 1000, like `df -H`).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
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

fn or_off(a: &Option<String>) -> &str {
    a.as_deref().unwrap_or("off")
}

/// `ivmd status`: the box's figures, as lines or as JSON; exit status 0 (it runs).
pub fn status(s: &BoxStatus, json: bool) -> ExitCode {
    if json {
        match serde_json::to_string_pretty(s) {
            Ok(t) => println!("{t}"),
            Err(e) => return fail(&e.to_string()),
        }
        return ExitCode::SUCCESS;
    }
    let i = &s.info;
    println!(
        "ivmd {}: running, pid {}, up {}",
        i.version,
        i.pid,
        uptime(s.uptime_s)
    );
    println!(
        "data folder:  {} ({} free of {})",
        i.data_dir.display(),
        bytes(s.disk_free_bytes),
        bytes(s.disk_total_bytes)
    );
    println!(
        "config:       {}{}",
        i.config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "embedded defaults".into()),
        if i.command_line.is_empty() {
            String::new()
        } else {
            format!("; command line: {}", i.command_line.join(" "))
        }
    );
    println!("http:         {}", or_off(&i.listeners.http));
    println!("https:        {}", or_off(&i.listeners.https));
    println!(
        "sip:          {}{}",
        or_off(&i.listeners.sip),
        match &i.sip_server {
            Some(a) => format!(" (domain {}; phones use {a})", i.sip_domain),
            None => String::new(),
        }
    );
    println!("tftp:         {}", or_off(&i.listeners.tftp));
    println!("dhcp server:  {}", s.dhcp);
    println!(
        "users:        {} ({} administrator{})",
        s.users,
        s.admins,
        if s.admins == 1 { "" } else { "s" }
    );
    println!(
        "phones:       {} assigned, {} registered now ({} SIP registrations)",
        s.phones_assigned, s.phones_registered, s.sip_registrations
    );
    if s.gateways > 0 || s.mgcp_dropped > 0 || s.megaco_dropped > 0 {
        println!(
            "gateways:     {} up of {} ({} MGCP datagrams from unconfigured addresses dropped, {} MEGACO)",
            s.gateways_up, s.gateways, s.mgcp_dropped, s.megaco_dropped
        );
    }
    if let Some(g) = &s.global {
        println!(
            "global:       {}, link {}, {} user{} published, {} waiting to go out",
            g.box_name,
            if g.up { "up" } else { "down" },
            g.published_users,
            if g.published_users == 1 { "" } else { "s" },
            g.outbox
        );
    }
    println!("clients:      {} connected", s.clients_connected);
    println!("messages:     {} waiting to be heard", s.messages_waiting);
    ExitCode::SUCCESS
}

/// `ivmd config` of a running box: where its settings came from, then them.
pub fn running_config(i: &BoxInfo) -> ExitCode {
    println!(
        "# The settings in effect on the running box (pid {}, data folder {}).",
        i.pid,
        i.data_dir.display()
    );
    println!(
        "# From: {}{}.",
        match &i.config_file {
            Some(p) => p.display().to_string(),
            None => "the embedded defaults".into(),
        },
        if i.command_line.is_empty() {
            String::new()
        } else {
            format!(", then the command line: {}", i.command_line.join(" "))
        }
    );
    println!(
        "# Bound: http {}, https {}, sip {}, tftp {}.",
        or_off(&i.listeners.http),
        or_off(&i.listeners.https),
        or_off(&i.listeners.sip),
        or_off(&i.listeners.tftp)
    );
    print!("{}", i.config);
    ExitCode::SUCCESS
}

/// `ivmd config` of a stopped box (or of none): `header`, then the settings.
pub fn config(cfg: &Config, header: &str) -> ExitCode {
    match cfg.to_toml() {
        Ok(t) => {
            println!("{header}");
            print!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("cannot print the config: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures() {
        assert_eq!(uptime(3 * 86_400 + 3723), "3d 01:02:03");
        assert_eq!(uptime(59), "00:00:59");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(12_345_678), "12.3 MB");
    }
}
