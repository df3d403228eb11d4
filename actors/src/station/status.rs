//! The line core speaks of reasons and ring failures; SIP speaks status codes. Both ways here,
//! in one place, so the codes a phone sees are easy to check against `docs/decisions/0002-calls.md`.

use ivm_line::{Reason, RingFailure};

/// The final response to an unanswered INVITE the line refuses.
pub(super) fn of_reason(r: &Reason) -> u16 {
    match r {
        Reason::UnknownNumber => 404,
        Reason::BadNumber => 484,
        Reason::Busy => 486,
        Reason::Unavailable => 480,
        // A callee's Decline passes through; any other refusal of the callee's phone is
        // "temporarily unavailable" to the caller (the callee's own reasons are its own).
        Reason::Refused(603) => 603,
        Reason::Refused(_) => 480,
        Reason::Cancelled => 487,
        Reason::NotAcceptable => 488,
        Reason::NoResources => 503,
        Reason::Failed => 500,
    }
}

/// What a final failure to our INVITE (or its transaction's timeout, 408) means for the line.
pub(super) fn ring_failure(status: u16) -> RingFailure {
    match status {
        486 | 600 => RingFailure::Busy,
        408 | 480 | 487 => RingFailure::NoAnswer,
        s => RingFailure::Refused(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes phones see, as before the line core (the line's own mapping from a ring
    /// failure to a reason is tested in `ivm-line`).
    #[test]
    fn codes_as_before() {
        assert_eq!(ring_failure(486), RingFailure::Busy);
        assert_eq!(ring_failure(600), RingFailure::Busy);
        assert_eq!(ring_failure(408), RingFailure::NoAnswer, "Timer B");
        assert_eq!(ring_failure(480), RingFailure::NoAnswer);
        assert_eq!(ring_failure(487), RingFailure::NoAnswer);
        assert_eq!(ring_failure(603), RingFailure::Refused(603));
        assert_eq!(ring_failure(404), RingFailure::Refused(404));
        assert_eq!(
            of_reason(&Reason::Refused(603)),
            603,
            "Decline passes through"
        );
        assert_eq!(of_reason(&Reason::Refused(404)), 480);
        assert_eq!(of_reason(&Reason::Busy), 486);
        assert_eq!(of_reason(&Reason::Unavailable), 480);
        assert_eq!(of_reason(&Reason::Cancelled), 487);
        assert_eq!(of_reason(&Reason::BadNumber), 484);
        assert_eq!(of_reason(&Reason::UnknownNumber), 404);
        assert_eq!(of_reason(&Reason::NotAcceptable), 488);
        assert_eq!(of_reason(&Reason::NoResources), 503);
        assert_eq!(of_reason(&Reason::Failed), 500);
    }
}
