//! Reading live state with `ip -j`, and the `ip` + `udhcpc` backend.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::cmd::{self, args};
use crate::{state, NetError, StaticV4};

/// One interface as `ip -j addr show dev IF` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Link {
    pub up: bool,
    pub mac: Option<String>,
    /// IPv4 addresses with prefix and whether they carry a lifetime (`dynamic`, as from DHCP).
    pub addrs: Vec<(Ipv4Addr, u8, bool)>,
}

/// Parses `ip -j addr show dev IF`.
pub(crate) fn parse_addr_json(text: &str) -> Result<Link, NetError> {
    let bad = |d: &str| NetError::Parse {
        what: "ip -j addr",
        detail: d.to_string(),
    };
    let v: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let first = v
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| bad("no interface in output"))?;
    let flags: Vec<&str> = first["flags"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let up = flags.contains(&"UP") && flags.contains(&"LOWER_UP");
    let mac = match (first["link_type"].as_str(), first["address"].as_str()) {
        (Some("ether"), Some(m)) => Some(m.to_string()),
        _ => None,
    };
    let mut addrs = Vec::new();
    for a in first["addr_info"].as_array().into_iter().flatten() {
        if a["family"].as_str() != Some("inet") {
            continue;
        }
        let (Some(local), Some(prefix)) = (a["local"].as_str(), a["prefixlen"].as_u64()) else {
            continue;
        };
        let Ok(ip) = local.parse::<Ipv4Addr>() else {
            continue;
        };
        addrs.push((
            ip,
            prefix.min(32) as u8,
            a["dynamic"].as_bool().unwrap_or(false),
        ));
    }
    Ok(Link { up, mac, addrs })
}

/// Parses `ip -j route show default dev IF`: the first gateway.
pub(crate) fn parse_default_route(text: &str) -> Result<Option<Ipv4Addr>, NetError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(text).map_err(|e| NetError::Parse {
        what: "ip -j route",
        detail: e.to_string(),
    })?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["dst"].as_str() == Some("default"))
        .find_map(|r| r["gateway"].as_str().and_then(|g| g.parse().ok())))
}

/// Nameservers in resolv.conf text (IPv4 ones, at most eight).
pub(crate) fn parse_resolv_conf(text: &str) -> Vec<Ipv4Addr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|a| a.parse().ok())
        .take(8)
        .collect()
}

/// `ip` with the namespace prefix.
pub(crate) struct Ip<'a> {
    pub netns: Option<&'a str>,
    pub interface: &'a str,
    pub limit: Duration,
}

impl Ip<'_> {
    async fn ip(&self, a: &[&str]) -> Result<String, NetError> {
        let mut v = Vec::new();
        if let Some(ns) = self.netns {
            v.extend(args(&["-n", ns]));
        }
        v.extend(args(a));
        Ok(cmd::run("ip", &v, self.limit).await?.stdout)
    }

    /// The live link state.
    pub async fn link(&self) -> Result<Link, NetError> {
        let out = self
            .ip(&["-j", "addr", "show", "dev", self.interface])
            .await
            .map_err(|e| match e {
                NetError::Command { ref stderr, .. } if stderr.contains("does not exist") => {
                    NetError::NoInterface(self.interface.to_string())
                }
                e => e,
            })?;
        parse_addr_json(&out)
    }

    /// The live default gateway on this interface.
    pub async fn gateway(&self) -> Result<Option<Ipv4Addr>, NetError> {
        parse_default_route(
            &self
                .ip(&[
                    "-j",
                    "-4",
                    "route",
                    "show",
                    "default",
                    "dev",
                    self.interface,
                ])
                .await?,
        )
    }

    /// Brings the link up and removes its IPv4 addresses and default routes (IPv6 is left alone).
    async fn clear(&self) -> Result<(), NetError> {
        let i = self.interface;
        self.ip(&["link", "set", i, "up"]).await?;
        self.ip(&["-4", "addr", "flush", "dev", i]).await?;
        self.ip(&["-4", "route", "flush", "exact", "0.0.0.0/0", "dev", i])
            .await?;
        Ok(())
    }

    /// Puts addresses and a default route on the (cleared) link.
    async fn configure(
        &self,
        addrs: &[(Ipv4Addr, u8)],
        gateway: Option<Ipv4Addr>,
    ) -> Result<(), NetError> {
        let i = self.interface;
        for (a, p) in addrs {
            self.ip(&["addr", "add", &format!("{a}/{p}"), "brd", "+", "dev", i])
                .await?;
        }
        if let Some(gw) = gateway {
            self.ip(&[
                "route",
                "replace",
                "default",
                "via",
                &gw.to_string(),
                "dev",
                i,
            ])
            .await?;
        }
        Ok(())
    }

    /// Applies static settings.
    pub async fn apply_static(&self, s: &StaticV4) -> Result<(), NetError> {
        self.clear().await?;
        self.configure(&[(s.address, s.prefix)], s.gateway).await
    }

    /// Puts back what [`Ip::link`] and [`Ip::gateway`] saw before a failed change.
    pub async fn restore(&self, link: &Link, gateway: Option<Ipv4Addr>) -> Result<(), NetError> {
        self.clear().await?;
        let addrs: Vec<_> = link.addrs.iter().map(|(a, p, _)| (*a, *p)).collect();
        self.configure(&addrs, gateway).await
    }

    /// Asks for a lease with udhcpc (one shot, bounded) and configures what it got.
    /// Returns the lease's name servers.
    ///
    /// udhcpc runs with our own script, which only prints the lease: Debian's default script
    /// would write the host's /etc/resolv.conf even inside a namespace (`ip netns exec` only
    /// swaps it when /etc/netns/NS/resolv.conf exists). The address is then set with `ip`, as
    /// for static settings. udhcpc quits after the lease (`-q`), so the lease is not renewed.
    pub async fn apply_dhcp(
        &self,
        script_dir: &Path,
        tries: u32,
        wait: Duration,
    ) -> Result<Vec<Ipv4Addr>, NetError> {
        let script = script_dir.join(".ivm-netcfg-udhcpc.sh");
        let sp = script.clone();
        crate::blocking(move || {
            use std::os::unix::fs::PermissionsExt;
            // Written only when it differs, so it is rarely open for writing when run.
            if std::fs::read(&sp).ok().as_deref() == Some(UDHCPC_SCRIPT.as_bytes()) {
                return Ok(());
            }
            state::write_atomic(&sp, UDHCPC_SCRIPT.as_bytes())?;
            std::fs::set_permissions(&sp, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| NetError::io(&sp, e))
        })
        .await?;
        self.clear().await?;
        let mut v = Vec::new();
        let prog = match self.netns {
            Some(ns) => {
                v.extend(args(&["netns", "exec", ns, "udhcpc"]));
                "ip"
            }
            None => "udhcpc",
        };
        let t = tries.max(1).to_string();
        let tw = wait.as_secs().max(1).to_string();
        let sc = script.display().to_string();
        v.extend(args(&[
            "-i",
            self.interface,
            "-n",
            "-q",
            "-f",
            "-t",
            &t,
            "-T",
            &tw,
            "-s",
            &sc,
        ]));
        // udhcpc's own bound plus slack for the script and start-up.
        let limit = Duration::from_secs(u64::from(tries.max(1)) * wait.as_secs().max(1) + 10);
        let out = match cmd::run(prog, &v, limit).await {
            Ok(o) => o.stdout,
            Err(NetError::Command { stderr, .. }) => {
                return Err(NetError::NoLease {
                    interface: self.interface.to_string(),
                    detail: stderr,
                })
            }
            Err(e) => return Err(e),
        };
        let lease = parse_lease(&out).ok_or_else(|| NetError::NoLease {
            interface: self.interface.to_string(),
            detail: format!("udhcpc printed no usable lease: {}", out.trim()),
        })?;
        // udhcpc calls "deconfig" first; keep the link clean before configuring.
        self.clear().await?;
        self.configure(&[(lease.address, lease.prefix)], lease.gateway)
            .await?;
        Ok(lease.dns)
    }
}

/// The udhcpc script: prints the lease for [`parse_lease`] and changes nothing.
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
# Written by ivm-netcfg: report the lease on stdout; the caller configures the interface.
case "$1" in
    bound|renew) echo "ivm-lease ip=$ip subnet=$subnet router=$router dns=$dns" ;;
esac
exit 0
"#;

/// A lease as the udhcpc script reported it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Lease {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
}

/// Reads the last `ivm-lease` line. Values from the DHCP server are taken only if they parse
/// as addresses and make a valid static setting.
pub(crate) fn parse_lease(out: &str) -> Option<Lease> {
    let line = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("ivm-lease "))?;
    let field = |k: &str| -> &str {
        let key = format!("{k}=");
        let start = match line.find(&key) {
            Some(i) => i + key.len(),
            None => return "",
        };
        let rest = &line[start..];
        let end = ["ip=", "subnet=", "router=", "dns="]
            .iter()
            .filter_map(|n| rest.find(&format!(" {n}")))
            .min()
            .unwrap_or(rest.len());
        rest[..end].trim()
    };
    let address: Ipv4Addr = field("ip").parse().ok()?;
    let prefix = crate::mask_to_prefix(field("subnet").parse().ok()?)?;
    let gateway = field("router")
        .split_whitespace()
        .next()
        .and_then(|g| g.parse().ok());
    let dns: Vec<Ipv4Addr> = field("dns")
        .split_whitespace()
        .filter_map(|d| d.parse().ok())
        .take(StaticV4::MAX_DNS)
        .collect();
    let s = StaticV4::salvage(address, prefix, gateway, dns)?;
    Some(Lease {
        address: s.address,
        prefix: s.prefix,
        gateway: s.gateway,
        dns: s.dns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = r#"[{"ifindex":2,"ifname":"veth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"6a:1f:2b:3c:4d:5e","broadcast":"ff:ff:ff:ff:ff:ff","link_index":2,"link_netnsid":0,"addr_info":[{"family":"inet","local":"10.9.0.2","prefixlen":24,"broadcast":"10.9.0.255","scope":"global","label":"veth0","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet","local":"10.9.1.7","prefixlen":16,"scope":"global","dynamic":true,"valid_life_time":3600,"preferred_life_time":3600},{"family":"inet6","local":"fe80::681f:2bff:fe3c:4d5e","prefixlen":64,"scope":"link","valid_life_time":4294967295,"preferred_life_time":4294967295}]}]"#;

    #[test]
    fn addr_json() {
        let l = parse_addr_json(ADDR).expect("parse");
        assert!(l.up);
        assert_eq!(l.mac.as_deref(), Some("6a:1f:2b:3c:4d:5e"));
        assert_eq!(
            l.addrs,
            vec![
                ("10.9.0.2".parse().expect("ip"), 24, false),
                ("10.9.1.7".parse().expect("ip"), 16, true)
            ]
        );
        let down = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"link_type":"loopback","address":"00:00:00:00:00:00","addr_info":[]}]"#;
        let l = parse_addr_json(down).expect("parse");
        assert!(!l.up);
        assert_eq!(l.mac, None);
        assert!(parse_addr_json("[]").is_err());
        assert!(parse_addr_json("garbage").is_err());
    }

    #[test]
    fn route_json() {
        assert_eq!(parse_default_route("").expect("empty"), None);
        assert_eq!(parse_default_route("[]").expect("none"), None);
        let r = r#"[{"dst":"default","gateway":"10.9.0.1","dev":"veth0","flags":[]}]"#;
        assert_eq!(
            parse_default_route(r).expect("one"),
            Some("10.9.0.1".parse().expect("ip"))
        );
    }

    #[test]
    fn resolv_conf() {
        let t = "# comment\nsearch lan\nnameserver 192.168.1.1\nnameserver fe80::1\nnameserver  9.9.9.9 \noptions edns0\n";
        assert_eq!(
            parse_resolv_conf(t),
            vec![
                "192.168.1.1".parse::<Ipv4Addr>().expect("ip"),
                "9.9.9.9".parse().expect("ip")
            ]
        );
    }

    #[test]
    fn lease_lines() {
        let out = "udhcpc: started\nivm-lease ip=10.77.0.120 subnet=255.255.255.0 router=10.77.0.1 10.77.0.2 dns=10.77.0.1 1.1.1.1\n";
        let l = parse_lease(out).expect("lease");
        assert_eq!(l.address, "10.77.0.120".parse::<Ipv4Addr>().expect("ip"));
        assert_eq!(l.prefix, 24);
        assert_eq!(l.gateway, Some("10.77.0.1".parse().expect("ip")));
        assert_eq!(l.dns.len(), 2);
        // Router off the subnet is dropped, the lease kept.
        let l = parse_lease("ivm-lease ip=10.77.0.120 subnet=255.255.255.0 router=8.8.8.8 dns=")
            .expect("lease");
        assert_eq!(l.gateway, None);
        assert!(parse_lease("ivm-lease ip=127.0.0.1 subnet=255.0.0.0 router= dns=").is_none());
        assert!(parse_lease("ivm-lease ip=10.0.0.5 subnet=255.0.255.0 router= dns=").is_none());
        assert!(parse_lease("nothing here").is_none());
    }
}
