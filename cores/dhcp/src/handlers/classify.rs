use dhcproto::v4::{DhcpOption, OptionCode};
use ivm_provision::Vendor;

use crate::handler::{Action, Context, Handler, HandlerError};
use crate::server::{Event, State};

/// Chooses the pool (relay link by `giaddr`, else the client's `ciaddr` subnet, else the
/// receiving interface) and recognises the phone vendor (option 60, then MAC prefix).
/// Requests no pool serves are ignored: another server may own that segment.
pub struct Classify;

impl Handler for Classify {
    fn name(&self) -> &'static str {
        "classify"
    }

    fn handle(&self, ctx: &mut Context, state: &mut State) -> Result<Action, HandlerError> {
        let pools = &state.config.pools;
        let giaddr = ctx.req.giaddr();
        let ciaddr = ctx.req.ciaddr();
        ctx.pool = if !giaddr.is_unspecified() {
            pools.iter().position(|p| p.contains(giaddr))
        } else {
            pools
                .iter()
                .position(|p| {
                    !ciaddr.is_unspecified()
                        && p.contains(ciaddr)
                        && p.interface.as_deref() == Some(&ctx.interface)
                })
                .or_else(|| {
                    pools
                        .iter()
                        .position(|p| p.interface.as_deref() == Some(&ctx.interface))
                })
        };
        let class = match ctx.req.opts().get(OptionCode::ClassIdentifier) {
            Some(DhcpOption::ClassIdentifier(c)) => Some(c.clone()),
            _ => None,
        };
        ctx.vendor = Vendor::recognise(class.as_deref(), &ctx.mac);
        if let Some(vendor) = ctx.vendor {
            ctx.events.push(Event::PhoneSeen {
                mac: ctx.mac,
                vendor,
                class: class.map(|c| String::from_utf8_lossy(&c[..c.len().min(64)]).into_owned()),
            });
        }
        Ok(if ctx.pool.is_some() {
            Action::Continue
        } else {
            Action::NoResponse
        })
    }
}
