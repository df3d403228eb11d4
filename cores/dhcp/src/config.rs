//! What the server hands out: pools per interface or relayed subnet, reservations by MAC,
//! and the phone-provisioning options per vendor.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ivm_provision::{Mac, Vendor};

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Range start after end, or outside the subnet.
    #[error("pool {0}: range is not inside its subnet")]
    Range(String),
    /// The mask is not contiguous ones.
    #[error("pool {0}: bad subnet mask")]
    Mask(String),
    /// Two pools overlap.
    #[error("pools {0} and {1} overlap")]
    Overlap(String, String),
    /// Lease time under 60 s.
    #[error("pool {0}: lease time too short")]
    LeaseTime(String),
    /// A reservation outside every pool's subnet, or two for one address or MAC.
    #[error("reservation for {0}: {1}")]
    Reservation(Mac, &'static str),
}

/// One address pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Name for logs and events.
    pub name: String,
    /// Interface this pool serves directly; `None` for a subnet reached only through relays.
    pub interface: Option<String>,
    /// Subnet address.
    pub network: Ipv4Addr,
    /// Subnet mask (option 1).
    pub mask: Ipv4Addr,
    /// First dynamic address.
    pub start: Ipv4Addr,
    /// Last dynamic address.
    pub end: Ipv4Addr,
    /// This server's address as the clients reach it (option 54).
    pub server_id: Ipv4Addr,
    /// Routers (option 3).
    pub routers: Vec<Ipv4Addr>,
    /// DNS servers (option 6).
    pub dns: Vec<Ipv4Addr>,
    /// Domain name (option 15).
    pub domain: Option<String>,
    /// NTP servers (option 42).
    pub ntp: Vec<Ipv4Addr>,
    /// Lease time in seconds (option 51; T1 and T2 are 1/2 and 7/8 of it).
    pub lease_secs: u32,
}

impl Pool {
    /// True when `ip` is in this pool's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & u32::from(self.mask) == u32::from(self.network) & u32::from(self.mask)
    }

    /// True when `ip` is in the dynamic range.
    pub fn in_range(&self, ip: Ipv4Addr) -> bool {
        (u32::from(self.start)..=u32::from(self.end)).contains(&u32::from(ip))
    }

    /// Subnet broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !u32::from(self.mask))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let m = u32::from(self.mask);
        if m.leading_ones() + m.trailing_zeros() != 32 || m == 0 {
            return Err(ConfigError::Mask(self.name.clone()));
        }
        let net = u32::from(self.network) & m;
        let (s, e) = (u32::from(self.start), u32::from(self.end));
        if s > e
            || !self.contains(self.start)
            || !self.contains(self.end)
            || s == net
            || e == net | !m
        {
            return Err(ConfigError::Range(self.name.clone()));
        }
        if self.lease_secs < 60 {
            return Err(ConfigError::LeaseTime(self.name.clone()));
        }
        Ok(())
    }
}

/// A fixed address for one MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// The client.
    pub mac: Mac,
    /// Its address (in a pool's subnet; may be outside the dynamic range).
    pub ip: Ipv4Addr,
}

/// The phone options for one vendor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorOptions {
    /// Option 66: a TFTP server name, or an `http://` URL for vendors that fetch over HTTP.
    pub option66: Option<String>,
    /// Option 150: Cisco's TFTP server address list.
    pub option150: Vec<Ipv4Addr>,
    /// Option 43: encapsulated vendor sub-options (code, value).
    pub option43: Vec<(u8, Vec<u8>)>,
}

impl VendorOptions {
    /// Sensible defaults: Cisco gets the box in 66 and 150 (TFTP); the others get
    /// `http_base` in 66 when given, else the box's address for TFTP.
    pub fn defaults(vendor: Vendor, box_ip: Ipv4Addr, http_base: Option<&str>) -> Self {
        match (vendor, http_base) {
            (Vendor::Cisco, _) | (_, None) => VendorOptions {
                option66: Some(box_ip.to_string()),
                option150: if vendor == Vendor::Cisco {
                    vec![box_ip]
                } else {
                    Vec::new()
                },
                option43: Vec::new(),
            },
            (_, Some(url)) => VendorOptions {
                option66: Some(url.to_owned()),
                ..Default::default()
            },
        }
    }
}

/// The server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address pools.
    pub pools: Vec<Pool>,
    /// Fixed addresses.
    pub reservations: Vec<Reservation>,
    /// Phone options per vendor; phones of other vendors (and PCs) get none.
    pub vendors: HashMap<Vendor, VendorOptions>,
    /// How long an offered address is held for the client that was offered it.
    pub offer_hold_secs: u64,
    /// How long a declined address is kept out of use.
    pub decline_quarantine_secs: u64,
}

impl Config {
    /// Checks pools and reservations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, p) in self.pools.iter().enumerate() {
            p.validate()?;
            for q in &self.pools[i + 1..] {
                if p.contains(q.network) || q.contains(p.network) {
                    return Err(ConfigError::Overlap(p.name.clone(), q.name.clone()));
                }
            }
        }
        for (i, r) in self.reservations.iter().enumerate() {
            if !self.pools.iter().any(|p| p.contains(r.ip)) {
                return Err(ConfigError::Reservation(r.mac, "not in any pool's subnet"));
            }
            if self.reservations[i + 1..]
                .iter()
                .any(|o| o.ip == r.ip || o.mac == r.mac)
            {
                return Err(ConfigError::Reservation(r.mac, "duplicate address or MAC"));
            }
        }
        Ok(())
    }
}
