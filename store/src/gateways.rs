//! Media gateways for analog phones (issue 14): each configured gateway by name, the
//! protocol it speaks, where it listens, its endpoints (`aaln/1`..`aaln/N`), and which user
//! each endpoint's analog line is assigned to (like a desk phone's assignment).
//!
//! Written by `ivmd gateway add|remove` and `ivmd line assign` (the admin socket, or the
//! stopped box's store); read by the gateway actor, which treats a datagram from an address
//! no gateway here names as a stranger's and drops it. Whether a gateway is up *now* is the
//! actor's (live, in memory).
//!
//! One row per gateway holds its lines too: a gateway has a handful of endpoints, and a
//! gateway removed takes its assignments with it in the same commit.
//!
//! | table | key | value |
//! |---|---|---|
//! | `gateways` | name `&str` | JSON [`Gateway`] |

use std::collections::BTreeMap;
use std::net::SocketAddr;

use ivm_wire::Guid;
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use crate::tables::{decode, encode, GATEWAYS};
use crate::users::{unix_now, validate_name};
use crate::{Store, StoreError};

/// Most endpoints one gateway may declare (large FXS gateways have 24 to 96 ports).
pub const MAX_ENDPOINTS: u32 = 256;
/// Most gateways on one box.
pub const MAX_GATEWAYS: usize = 64;

/// The control protocol a gateway speaks: each has its translator in the gateway actor, behind
/// one seam (a third, such as AudioCodes' TPNCP, would plug in beside them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayProtocol {
    /// MGCP 1.0 (RFC 3435) with the line package.
    Mgcp,
    /// MEGACO / H.248.1, text encoding over UDP.
    Megaco,
}

impl GatewayProtocol {
    /// Parses `mgcp` or `megaco` (also `h248`; any case).
    pub fn parse(s: &str) -> Result<GatewayProtocol, StoreError> {
        match s.to_ascii_lowercase().as_str() {
            "mgcp" => Ok(GatewayProtocol::Mgcp),
            "megaco" | "h248" | "h.248" => Ok(GatewayProtocol::Megaco),
            _ => Err(StoreError::Invalid(format!(
                "protocol {s:?} is not served (mgcp, megaco)"
            ))),
        }
    }

    /// The port a gateway of this protocol listens on when the address leaves it out: 2427
    /// (MGCP gateways), 2944 (MEGACO text over UDP).
    pub fn default_port(&self) -> u16 {
        match self {
            GatewayProtocol::Mgcp => 2427,
            GatewayProtocol::Megaco => 2944,
        }
    }

    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            GatewayProtocol::Mgcp => "mgcp",
            GatewayProtocol::Megaco => "megaco",
        }
    }
}

/// One configured gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gateway {
    /// Its name (the admin's handle, and the domain of its endpoint names).
    pub name: String,
    /// What it speaks.
    pub protocol: GatewayProtocol,
    /// Where it listens for the call agent's commands (its commands come from here too).
    pub address: SocketAddr,
    /// Its endpoints are `aaln/1` .. `aaln/{endpoints}`.
    pub endpoints: u32,
    /// Analog lines assigned to users: endpoint local name (`aaln/1`) -> user.
    #[serde(default)]
    pub lines: BTreeMap<String, Guid>,
    /// Unix seconds when it was added.
    pub created_at: u64,
}

impl Gateway {
    /// The local endpoint names, `aaln/1` ..
    pub fn endpoint_names(&self) -> impl Iterator<Item = String> {
        (1..=self.endpoints).map(|n| format!("aaln/{n}"))
    }

    /// Whether `local` (any case) is one of its endpoints; its canonical spelling.
    pub fn endpoint(&self, local: &str) -> Option<String> {
        let lower = local.to_ascii_lowercase();
        let n: u32 = lower.strip_prefix("aaln/")?.parse().ok()?;
        (n >= 1 && n <= self.endpoints).then(|| format!("aaln/{n}"))
    }
}

/// Parses `aaln/1..aaln/N` (or `aaln/1-N`, or a bare `N`) into N.
pub fn parse_endpoint_range(s: &str) -> Result<u32, StoreError> {
    let bad = || {
        StoreError::Invalid(format!(
            "endpoints {s:?}: write aaln/1..aaln/N (N from 1 to {MAX_ENDPOINTS})"
        ))
    };
    let s = s.trim().to_ascii_lowercase();
    let n = if let Ok(n) = s.parse::<u32>() {
        n
    } else {
        let (a, b) = s
            .split_once("..")
            .or_else(|| s.split_once('-'))
            .ok_or_else(bad)?;
        if a != "aaln/1" {
            return Err(bad());
        }
        b.strip_prefix("aaln/")
            .unwrap_or(b)
            .parse()
            .map_err(|_| bad())?
    };
    if n == 0 || n > MAX_ENDPOINTS {
        return Err(bad());
    }
    Ok(n)
}

/// Parses `IP[:port]`; the port defaults to MGCP's gateway port 2427.
pub fn parse_gateway_address(s: &str) -> Result<SocketAddr, StoreError> {
    parse_gateway_address_for(s, GatewayProtocol::Mgcp)
}

/// Parses `IP[:port]`; the port defaults to `protocol`'s ([`GatewayProtocol::default_port`]).
pub fn parse_gateway_address_for(
    s: &str,
    protocol: GatewayProtocol,
) -> Result<SocketAddr, StoreError> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, protocol.default_port()));
    }
    Err(StoreError::Invalid(format!(
        "address {s:?}: write IP or IP:port (a gateway is configured by address)"
    )))
}

impl Store {
    /// Adds a gateway. Refused when the name or the address is taken.
    pub fn add_gateway(
        &self,
        name: &str,
        protocol: GatewayProtocol,
        address: SocketAddr,
        endpoints: u32,
    ) -> Result<Gateway, StoreError> {
        validate_name(name).map_err(|e| match e {
            StoreError::Invalid(m) => StoreError::Invalid(m.replacen("name", "gateway name", 1)),
            other => other,
        })?;
        if endpoints == 0 || endpoints > MAX_ENDPOINTS {
            return Err(StoreError::Invalid(format!(
                "a gateway has 1 to {MAX_ENDPOINTS} endpoints"
            )));
        }
        if address.ip().is_unspecified() || address.port() == 0 {
            return Err(StoreError::Invalid(format!(
                "address {address}: a gateway needs a real address and port"
            )));
        }
        let gw = Gateway {
            name: name.to_owned(),
            protocol,
            address,
            endpoints,
            lines: BTreeMap::new(),
            created_at: unix_now(),
        };
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(GATEWAYS)?;
            let mut count = 0;
            for row in table.iter()? {
                let (k, v) = row?;
                count += 1;
                if k.value() == name {
                    return Err(StoreError::Conflict(format!("gateway {name:?} exists")));
                }
                let other: Gateway = decode("gateway", v.value())?;
                if other.address == address {
                    return Err(StoreError::Conflict(format!(
                        "gateway {:?} has address {address}",
                        other.name
                    )));
                }
            }
            if count >= MAX_GATEWAYS {
                return Err(StoreError::Invalid(format!(
                    "a box serves at most {MAX_GATEWAYS} gateways"
                )));
            }
            table.insert(name, encode(&gw)?.as_slice())?;
        }
        txn.commit()?;
        tracing::info!(gateway = name, %address, endpoints, "gateway added");
        Ok(gw)
    }

    /// Every gateway, by name.
    pub fn gateways(&self) -> Result<Vec<Gateway>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(GATEWAYS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (_, v) = row?;
            out.push(decode::<Gateway>("gateway", v.value())?);
        }
        Ok(out)
    }

    /// Removes a gateway and its line assignments.
    pub fn remove_gateway(&self, name: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        let gone = txn.open_table(GATEWAYS)?.remove(name)?.is_some();
        if !gone {
            return Err(StoreError::NotFound);
        }
        txn.commit()?;
        tracing::info!(gateway = name, "gateway removed");
        Ok(())
    }

    /// Assigns gateway `name`'s endpoint `endpoint` to `user` (`None`: unassigns it).
    pub fn assign_line(
        &self,
        name: &str,
        endpoint: &str,
        user: Option<Guid>,
    ) -> Result<Gateway, StoreError> {
        let txn = self.db.begin_write()?;
        let gw = {
            let mut table = txn.open_table(GATEWAYS)?;
            let mut gw: Gateway = match table.get(name)? {
                Some(v) => decode("gateway", v.value())?,
                None => return Err(StoreError::NotFound),
            };
            let Some(ep) = gw.endpoint(endpoint) else {
                return Err(StoreError::Invalid(format!(
                    "gateway {name:?} has endpoints aaln/1..aaln/{}; {endpoint:?} is not one",
                    gw.endpoints
                )));
            };
            match user {
                Some(u) => {
                    if txn
                        .open_table(crate::tables::USERS)?
                        .get(crate::tables::guid_key(u))?
                        .is_none()
                    {
                        return Err(StoreError::Invalid(format!(
                            "{u} is not a user of this box"
                        )));
                    }
                    gw.lines.insert(ep, u);
                }
                None => {
                    gw.lines.remove(&ep);
                }
            }
            table.insert(name, encode(&gw)?.as_slice())?;
            gw
        };
        txn.commit()?;
        tracing::info!(gateway = name, endpoint, "line assignment changed");
        Ok(gw)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ranges_and_addresses() {
        assert_eq!(parse_endpoint_range("aaln/1..aaln/4").unwrap(), 4);
        assert_eq!(parse_endpoint_range("AALN/1-8").unwrap(), 8);
        assert_eq!(parse_endpoint_range("2").unwrap(), 2);
        assert!(parse_endpoint_range("aaln/2..aaln/4").is_err());
        assert!(parse_endpoint_range("aaln/1..aaln/0").is_err());
        assert!(parse_endpoint_range("aaln/1..aaln/9999").is_err());
        assert_eq!(
            parse_gateway_address("10.0.0.5").unwrap(),
            "10.0.0.5:2427".parse().unwrap()
        );
        assert_eq!(
            parse_gateway_address("127.0.0.1:3000").unwrap(),
            "127.0.0.1:3000".parse().unwrap()
        );
        assert!(parse_gateway_address("gw.example").is_err());
        let megaco = GatewayProtocol::parse("MEGACO").unwrap();
        assert_eq!(megaco, GatewayProtocol::Megaco);
        assert_eq!(
            parse_gateway_address_for("10.0.0.5", megaco).unwrap(),
            "10.0.0.5:2944".parse().unwrap()
        );
        assert!(GatewayProtocol::parse("tpncp").is_err());
    }

    #[test]
    fn add_assign_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ann = store
            .create_user(crate::NewUser {
                name: "ann".into(),
                extension: "201".into(),
                display_name: None,
                password: "correct horse battery".into(),
                admin: false,
            })
            .unwrap();
        let addr: SocketAddr = "127.0.0.1:2427".parse().unwrap();
        let gw = store
            .add_gateway("hall", GatewayProtocol::Mgcp, addr, 2)
            .unwrap();
        assert_eq!(
            gw.endpoint_names().collect::<Vec<_>>(),
            ["aaln/1", "aaln/2"]
        );
        assert!(matches!(
            store.add_gateway(
                "hall",
                GatewayProtocol::Mgcp,
                "127.0.0.2:2427".parse().unwrap(),
                1
            ),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.add_gateway("other", GatewayProtocol::Mgcp, addr, 1),
            Err(StoreError::Conflict(_))
        ));
        // Bad input changes nothing.
        assert!(store.assign_line("hall", "aaln/3", Some(ann.guid)).is_err());
        assert!(store
            .assign_line("hall", "aaln/1", Some(Guid::from_u128(9)))
            .is_err());
        assert!(matches!(
            store.assign_line("nope", "aaln/1", Some(ann.guid)),
            Err(StoreError::NotFound)
        ));
        assert!(store.gateways().unwrap()[0].lines.is_empty());
        let gw = store.assign_line("hall", "AALN/1", Some(ann.guid)).unwrap();
        assert_eq!(gw.lines.get("aaln/1"), Some(&ann.guid));
        assert_eq!(store.gateways().unwrap(), vec![gw]);
        store.remove_gateway("hall").unwrap();
        assert!(store.gateways().unwrap().is_empty());
        assert!(matches!(
            store.remove_gateway("hall"),
            Err(StoreError::NotFound)
        ));
    }
}
