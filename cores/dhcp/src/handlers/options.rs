use dhcproto::v4::{DhcpOption, MessageType, OptionCode, UnknownOption};

use crate::handler::{Action, Context, Handler, HandlerError};
use crate::server::State;

/// Network options from the pool: 1, 3, 6, 15, 42 (51, 54, 58, 59 come with the lease).
pub struct Options;

impl Handler for Options {
    fn name(&self) -> &'static str {
        "options"
    }

    fn handle(&self, ctx: &mut Context, state: &mut State) -> Result<Action, HandlerError> {
        let (Some(reply), Some(pool)) = (
            ctx.reply.as_mut(),
            ctx.pool.and_then(|i| state.config.pools.get(i)),
        ) else {
            return Ok(Action::Continue);
        };
        if reply.opts().msg_type() == Some(MessageType::Nak) {
            return Ok(Action::Respond);
        }
        let o = reply.opts_mut();
        o.insert(DhcpOption::SubnetMask(pool.mask));
        if !pool.routers.is_empty() {
            o.insert(DhcpOption::Router(pool.routers.clone()));
        }
        if !pool.dns.is_empty() {
            o.insert(DhcpOption::DomainNameServer(pool.dns.clone()));
        }
        if let Some(d) = &pool.domain {
            o.insert(DhcpOption::DomainName(d.clone()));
        }
        if !pool.ntp.is_empty() {
            o.insert(DhcpOption::NtpServers(pool.ntp.clone()));
        }
        Ok(Action::Continue)
    }
}

/// Phone options for a recognised vendor: 66 (TFTP server name or `http://` URL), 150
/// (Cisco's TFTP address list) and 43 (encapsulated sub-options). Other clients get none.
pub struct VendorOpts;

impl Handler for VendorOpts {
    fn name(&self) -> &'static str {
        "vendor-options"
    }

    fn handle(&self, ctx: &mut Context, state: &mut State) -> Result<Action, HandlerError> {
        let (Some(reply), Some(vendor)) = (ctx.reply.as_mut(), ctx.vendor) else {
            return Ok(Action::Continue);
        };
        let Some(v) = state.config.vendors.get(&vendor) else {
            return Ok(Action::Continue);
        };
        let o = reply.opts_mut();
        if let Some(name) = &v.option66 {
            o.insert(DhcpOption::TFTPServerName(name.as_bytes().to_vec()));
        }
        if !v.option150.is_empty() {
            // dhcproto models 150 as one address; RFC 5859 allows a list, so raw bytes.
            let list = v.option150.iter().flat_map(|ip| ip.octets()).collect();
            o.insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::TFTPServerAddress,
                list,
            )));
        }
        if !v.option43.is_empty() {
            let mut enc = Vec::new();
            for (code, value) in &v.option43 {
                let value = &value[..value.len().min(255)];
                enc.push(*code);
                enc.push(value.len() as u8);
                enc.extend_from_slice(value);
            }
            o.insert(DhcpOption::VendorExtensions(enc));
        }
        Ok(Action::Continue)
    }
}
