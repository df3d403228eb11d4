//! The default handler chain, in order: [`Classify`] (pool, vendor), [`Leases`] (the RFC
//! 2131 state machine, persisting before ACK), [`Options`] (1, 3, 6, 15, 42) and
//! [`VendorOpts`] (66, 150, 43).

mod classify;
mod leases;
mod options;

pub use classify::Classify;
pub use leases::Leases;
pub use options::{Options, VendorOpts};
