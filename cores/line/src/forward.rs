//! Where a user's calls go when they do not ring them: forward always, on busy, on no answer
//! after N seconds, and do-not-disturb. The adapter reads the callee's settings with the
//! extension ([`crate::Input::ExtensionFound`]); the caller's line follows them, so one
//! place decides for every kind of phone.

use std::time::Duration;

use crate::input::Party;

/// Most forwards one call follows: a chain longer than this, or one that comes back to a user
/// it already reached (or to the caller), stops where it is, so two users forwarding to each
/// other cannot ring each other forever.
pub const MAX_HOPS: usize = 3;

/// A user's call settings, as they set them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    /// Every call goes to this extension; the user's phone does not ring.
    pub always: Option<String>,
    /// A call that finds the user busy goes to this extension.
    pub busy: Option<String>,
    /// A call not answered within the duration goes to this extension.
    pub no_answer: Option<(String, Duration)>,
    /// Do-not-disturb (the user's status "busy"): the phone does not ring, the caller is
    /// offered to leave a message.
    pub dnd: bool,
    /// A call that meets busy or no answer with no forward is answered by the box to take a
    /// message for the user (do-not-disturb always is).
    pub voicemail: bool,
}

impl Default for Forwarding {
    /// A user's defaults: no forward, do-not-disturb off, messages taken (an unanswered call
    /// becomes a voice message unless the user turned that off).
    fn default() -> Forwarding {
        Forwarding {
            always: None,
            busy: None,
            no_answer: None,
            dnd: false,
            voicemail: true,
        }
    }
}

/// A user found by extension, with their settings: the answer to
/// [`crate::Action::LookUpExtension`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The user and their extension.
    pub party: Party,
    /// Their forward and do-not-disturb settings.
    pub forwarding: Forwarding,
}

impl From<Party> for Extension {
    /// A user with the default settings: no forward, do-not-disturb off, messages taken.
    fn from(party: Party) -> Extension {
        Extension {
            party,
            forwarding: Forwarding::default(),
        }
    }
}
