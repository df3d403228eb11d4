//! What an adapter tells a line: what happened on the phone, on its media, and the answers to
//! what the line asked for.

use ivm_rtp::Digit;
use ivm_wire::Guid;

/// Identifies a line. An adapter uses the same number for its leg (the SIP station names the
/// leg's RTP socket with it).
pub type LineId = u64;

/// Who is on a line: the user whose phone it is, and their extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// The user.
    pub user: Guid,
    /// Their extension (for announcements and logs; empty when not known).
    pub ext: String,
}

/// Something an adapter could not do or find out (a store error, a codec failure): the line
/// answers with a general failure. The text is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Failure(pub String);

/// Why a ring toward a phone did not end in an answer. An adapter maps its signalling's
/// answers here (SIP: 486/600 busy, 408/480/487 no answer, any other status refused); the
/// line never interprets a code, it only passes [`RingFailure::Refused`]'s on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingFailure {
    /// The phone (or its user) is in another call.
    Busy,
    /// Not answered (the ring timeout, or the phone gave up ringing).
    NoAnswer,
    /// Refused by the far end with this status (SIP: 603 Decline, 404, ...). The caller's
    /// adapter decides what its own phone is told ([`crate::Reason::Refused`]); a ring-me
    /// user is told the code.
    Refused(u16),
    /// The user has no phone the adapter can reach (not registered).
    Unreachable,
    /// The adapter had no media port for the call.
    NoResources,
    /// The ring could not be sent.
    Internal(String),
}

/// The answer to [`crate::Action::CheckRecipients`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// Every recipient names a user.
    Known,
    /// This one names nobody (the first such, as the phone or the user wrote it).
    Unknown(String),
}

/// The answer to [`crate::Action::Post`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    /// Stored and on its way.
    Sent,
    /// The recording held no speech: nothing was sent.
    NothingToSend,
    /// Encoding or storing failed (the adapter logs why).
    Failed,
}

/// Why a live talk from a phone (`*8`) did not start: the line plays an error tone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TalkRefused {
    /// This recipient names nobody (as dialled).
    UnknownRecipient(String),
    /// The talk core or the client manager refused it (the text says why, for logs): the
    /// speaker is already talking, too many talks, the box is going down.
    Refused(String),
}

/// One message in a `*97` session, in the order the phone hears them (the adapter's query
/// puts unplayed first, newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxItem {
    /// The message.
    pub id: Guid,
    /// The sender's extension, announced before the message (empty: not announced by number,
    /// and the message cannot be replied to from the keypad).
    pub sender_ext: String,
    /// Not played yet (counted in "you have N new messages").
    pub new: bool,
}

/// Everything a line reacts to. Fed with [`crate::Exchange::handle`], always with `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    // ----- signalling -----
    /// The phone placed a call to the box with this dial string (SIP: the INVITE's
    /// Request-URI user; analog: the digits its digit map collected). The line now decides
    /// between the keypad services, an extension call, and a refusal.
    Dialled(String),
    /// A user asked the box to ring this line's phone and record a message to these
    /// recipients when it is answered (ring-my-phone).
    RingMe(Vec<String>),
    /// A live talk from this party is for this line's user: ring the phone with the
    /// auto-answer its brand honours, and play the talk on answer (intercom, issue 13).
    Intercom(Party),
    /// Our ring went out: the phone is ringing (SIP: the INVITE was sent).
    Alerting,
    /// The phone answered our ring (SIP: 2xx with usable SDP, ACKed).
    Answered,
    /// Our ring ended without an answer.
    RingFailed(RingFailure),
    /// The adapter could not answer the call as asked ([`crate::Action::Answer`]): no media
    /// port, or no media the two sides agree on.
    AnswerFailed(crate::Reason),
    /// The phone hung up (SIP: BYE; analog: on-hook).
    HungUp,
    /// The phone gave up before the box answered (SIP: CANCEL).
    Cancelled,
    /// The phone asks the box to connect the other party of its call to this extension
    /// and to leave the call itself (SIP: REFER, a blind transfer). Only a bridged call
    /// between extensions transfers; the outcome comes as
    /// [`crate::Action::Transferred`].
    Transfer(String),
    /// The phone asks the box to connect the other party of this call with the other party
    /// of its other call, this line (SIP: REFER with `Replaces`, an attended transfer), and
    /// to leave both. The outcome comes as [`crate::Action::Transferred`].
    Replace(LineId),
    /// No media from the phone for the adapter's media timeout: it vanished. Handled like a
    /// hang-up, except that the adapter still has to end the call toward the phone.
    MediaInactive,

    // ----- media -----
    /// A key press.
    Digit(Digit),
    /// Received audio: 8 kHz PCM, in order and in real time (the adapter's jitter buffer
    /// fills gaps with silence). Only a line that records keeps it.
    Audio(Vec<i16>),
    /// The answer to [`crate::Action::FlushAudio`]: every frame the adapter still held has
    /// been fed as [`Input::Audio`].
    AudioFlushed,
    /// What [`crate::Action::Play`] queued has been played out.
    PlaybackDone,

    /// The live talk this line speaks or hears has ended (the speaker, or a limit, ended it).
    TalkOver,

    // ----- answers -----
    /// The answer to [`crate::Action::CheckRecipients`].
    RecipientsChecked(Result<Recipients, Failure>),
    /// The answer to [`crate::Action::LookUpExtension`]: the user with that extension, and
    /// their forward and do-not-disturb settings.
    ExtensionFound(Result<Option<crate::Extension>, Failure>),
    /// The answer to [`crate::Action::Post`].
    Posted(PostOutcome),
    /// The answer to [`crate::Action::ChangeSetting`].
    SettingChanged(Result<(), Failure>),
    /// The answer to [`crate::Action::StartTalk`].
    TalkStarted(Result<(), TalkRefused>),
    /// The answer to [`crate::Action::LoadMailbox`].
    MailboxLoaded(Result<Vec<MailboxItem>, Failure>),
    /// The answer to [`crate::Action::LoadAudio`]: the message as 8 kHz PCM.
    MessageAudio {
        /// The message asked for.
        message: Guid,
        /// Its audio.
        audio: Result<Vec<i16>, Failure>,
    },
}
