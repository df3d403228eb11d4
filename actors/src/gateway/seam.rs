//! The seam between the gateway actor and its protocol translators (`mgcp.rs`, `megaco.rs`):
//! what the actor asks of an analog line ([`Request`]) and what a gateway said about one
//! ([`Report`]), in words of the line, not of a protocol. A third translator (AudioCodes'
//! TPNCP, which has no public specification) would take the same two shapes; the actor
//! chooses the translator by the gateway's configured protocol ([`Protocol`]).

pub use ivm_store::GatewayProtocol as Protocol;

/// What the actor asks an endpoint to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Idle: report off-hook; the lamp as given.
    WaitOffHook {
        /// The message-waiting lamp, when known.
        lamp: Option<bool>,
    },
    /// Off-hook, dialling: dial tone (stutter when `lamp`), collect digits with the map,
    /// report on-hook.
    CollectDigits {
        /// Messages waiting (stutter dial tone).
        lamp: bool,
    },
    /// In a call: report keys one by one and on-hook; stop any tone.
    InCall,
    /// Refused: busy tone until on-hook.
    Busy,
    /// Ring with caller id; report off-hook.
    Ring {
        /// Caller's number.
        number: String,
        /// Caller's name.
        name: String,
    },
    /// Is the endpoint there (audit, keep-alive).
    Audit,
    /// Open a connection with our SDP offer.
    Connect {
        /// Call id.
        call_id: String,
        /// Our SDP.
        sdp: String,
    },
    /// Delete the connection.
    Disconnect {
        /// Call id.
        call_id: String,
        /// Connection id.
        connection: String,
    },
}

/// What a gateway's command said about an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The gateway (or these endpoints) restarted or came back.
    Restarted,
    /// The gateway is taking endpoints out of service.
    OutOfService,
    /// Handset lifted.
    OffHook,
    /// Handset put down.
    OnHook,
    /// Hook flash.
    Flash,
    /// Digits (collected by the map, or one key in a call).
    Digits(String),
}
