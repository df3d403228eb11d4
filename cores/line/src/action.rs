//! What a line asks its adapter to do, polled with [`crate::Exchange::poll_action`].

use std::fmt;
use std::time::Duration;

use ivm_rtp::prompts::{self, Prompt};
use ivm_rtp::{tone, Recorder};
use ivm_wire::Guid;

use crate::input::{LineId, Party};

/// Why an inbound call is refused. The adapter turns it into its signalling's answer (SIP:
/// the status in each variant's doc; analog: a tone or an announcement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// No such extension or recipient (404).
    UnknownNumber,
    /// A dial string the dial plan cannot take: `*7` or `*8` with no recipient or too many
    /// (484).
    BadNumber,
    /// The callee is in a call (486).
    Busy,
    /// The callee has no phone, or did not answer in time (480).
    Unavailable,
    /// The callee refused with this status; the adapter decides what to pass on (SIP: 603
    /// as it is, anything else as 480).
    Refused(u16),
    /// The caller gave up before the box answered (487).
    Cancelled,
    /// The phone's media offer cannot be answered (488).
    NotAcceptable,
    /// The box has no media port left (503).
    NoResources,
    /// Something failed inside the box: a store error (500).
    Failed,
}

/// A change of one call setting, dialled on the keypad. A forward's `None` turns it off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingChange {
    /// Forward always to this extension (`*21<ext>`; `*21`: off).
    ForwardAlways(Option<String>),
    /// Forward on busy (`*67<ext>`; `*67`: off).
    ForwardBusy(Option<String>),
    /// Forward on no answer (`*61<ext>`; `*61`: off).
    ForwardNoAnswer(Option<String>),
    /// Do-not-disturb on (`*24`) or off (`*25`).
    Dnd(bool),
}

/// Who a ring says is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The box itself, for ring-my-phone ("Record a message").
    Service,
    /// Another user, for a call between extensions.
    Party(Party),
    /// A live talk from this user (intercom): the adapter asks the phone to answer by
    /// itself, with the headers its brand honours.
    Intercom(Party),
}

/// What to play, as data: a test reads `Play(Prompts[message-sent, goodbye])`, an adapter
/// that plays audio itself calls [`Sound::render`], and a gateway adapter could map prompts
/// to its own announcements.
#[derive(Clone, PartialEq, Eq)]
pub enum Sound {
    /// Voice prompts, one after another.
    Prompts(Vec<Prompt>),
    /// Before a recording: "record your message after the tone" (when `prompt`; ring-my-phone
    /// has the user's attention already and skips it), a short pause, the beep.
    RecordTone {
        /// Say the prompt before the beep.
        prompt: bool,
    },
    /// A stored message's audio (8 kHz PCM), after a short pause that separates it from its
    /// announcement.
    Message(Vec<i16>),
    /// The short tone of a live talk: before the speaker speaks (`*8`), and after a talk a
    /// phone heard, so both know where it starts and ends.
    TalkTone,
    /// A talk that cannot go: one second of busy tone, then the line hangs up.
    ErrorTone,
    /// A call that met busy, no answer or do-not-disturb: "please leave a message after the
    /// tone", a short pause, the beep.
    LeaveMessage,
    /// A keypad setting was stored: two short beeps.
    ConfirmTone,
}

impl Sound {
    /// The 8 kHz PCM to play.
    pub fn render(&self) -> Vec<i16> {
        match self {
            Sound::Prompts(p) => prompts::render(p),
            Sound::RecordTone { prompt } => {
                let mut pcm = if *prompt {
                    prompts::render(&[Prompt::RECORD_AFTER_TONE])
                } else {
                    Vec::new()
                };
                pcm.extend(tone::silence(Duration::from_millis(200)));
                pcm.extend(tone::beep());
                pcm
            }
            Sound::Message(audio) => {
                let mut pcm = tone::silence(Duration::from_millis(300));
                pcm.extend_from_slice(audio);
                pcm
            }
            Sound::TalkTone => {
                let mut pcm = tone::silence(Duration::from_millis(100));
                pcm.extend(tone::beep());
                pcm
            }
            Sound::ErrorTone => tone::BUSY_EU.render(Duration::from_secs(1)),
            Sound::ConfirmTone => {
                let mut pcm = tone::silence(Duration::from_millis(100));
                pcm.extend(tone::beep());
                pcm.extend(tone::silence(Duration::from_millis(100)));
                pcm.extend(tone::beep());
                pcm
            }
            Sound::LeaveMessage => {
                let mut pcm = prompts::render(&[Prompt::LEAVE_MESSAGE]);
                pcm.extend(tone::silence(Duration::from_millis(200)));
                pcm.extend(tone::beep());
                pcm
            }
        }
    }
}

impl fmt::Debug for Sound {
    /// Prompt names and sample counts, never the samples.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sound::Prompts(p) => {
                let names: Vec<&str> = p.iter().map(|p| p.name()).collect();
                write!(f, "Prompts[{}]", names.join(", "))
            }
            Sound::RecordTone { prompt: true } => write!(f, "RecordTone"),
            Sound::RecordTone { prompt: false } => write!(f, "Beep"),
            Sound::Message(pcm) => write!(f, "Message({} samples)", pcm.len()),
            Sound::TalkTone => write!(f, "TalkTone"),
            Sound::ErrorTone => write!(f, "ErrorTone"),
            Sound::LeaveMessage => write!(f, "LeaveMessage"),
            Sound::ConfirmTone => write!(f, "ConfirmTone"),
        }
    }
}

/// Why ring-my-phone did not start a recording (what the web client shows).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingMeError {
    /// The user has no registered desk phone.
    #[error("your desk phone is not registered")]
    NotRegistered,
    /// The phone is in a call.
    #[error("your desk phone is busy")]
    Busy,
    /// Not answered in time.
    #[error("your desk phone was not answered within {0} seconds")]
    NoAnswer(u64),
    /// The phone refused the call.
    #[error("your desk phone declined the call ({0})")]
    Declined(u16),
    /// A recipient is unknown.
    #[error("unknown recipient {0:?}")]
    UnknownRecipient(String),
    /// No recipients.
    #[error("a message needs at least one recipient")]
    NoRecipients,
    /// The box could not set up the call.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a line asks its adapter to do. Carried out in the order polled; each carries the data
/// it needs, because a line that has released is gone from the exchange at once.
#[derive(Clone)]
pub enum Action {
    /// Answer the inbound call (SIP: 200 with the SDP answer; analog: the line is already
    /// off-hook). If it cannot, feed [`crate::Input::AnswerFailed`].
    Answer,
    /// Refuse the inbound, unanswered call.
    Reject(Reason),
    /// Tell the caller the callee's phone is ringing (SIP: 180).
    Ringback,
    /// Ring this line's phone. Feed [`crate::Input::Alerting`] once the ring went out,
    /// [`crate::Input::Answered`] on answer, or [`crate::Input::RingFailed`].
    Ring {
        /// Whose phone.
        to: Party,
        /// Who the ring says is calling.
        from: Origin,
    },
    /// Queue audio toward the phone; feed [`crate::Input::PlaybackDone`] when it has played.
    Play(Sound),
    /// Drop what is queued (a key interrupts); no `PlaybackDone` follows.
    StopPlayback,
    /// A recording stops: feed every audio frame the media layer still holds as
    /// [`crate::Input::Audio`], then [`crate::Input::AudioFlushed`], before anything else.
    FlushAudio,
    /// Do these recipients name users? Answer with [`crate::Input::RecipientsChecked`], by
    /// the rule the post itself uses.
    CheckRecipients(Vec<String>),
    /// Store a change of `user`'s call settings from the keypad; answer with
    /// [`crate::Input::SettingChanged`] (an error when the target names nobody).
    ChangeSetting {
        /// Whose.
        user: Guid,
        /// What.
        change: SettingChange,
    },
    /// Who has this extension? Answer with [`crate::Input::ExtensionFound`].
    LookUpExtension(String),
    /// Add a call between extensions to both users' call history (no answer expected):
    /// `caller` placed it; `callee` (the user who answered, or the one it was for when
    /// nobody did) received or missed it. Once per call, when its ringing ends.
    LogCall {
        /// The line's own user, who dialled.
        caller: Guid,
        /// Who answered, or whom it was for.
        callee: crate::Party,
        /// Whether it was answered.
        answered: bool,
    },
    /// Encode the recording (off the adapter's thread: codec work) and send it as a voice
    /// message; answer with [`crate::Input::Posted`].
    Post {
        /// The sender (the line's user).
        sender: Guid,
        /// Recipients as dialled or asked for.
        to: Vec<String>,
        /// The audio, its tail already trimmed.
        recorder: Recorder,
    },
    /// Read `user`'s mailbox; answer with [`crate::Input::MailboxLoaded`].
    LoadMailbox {
        /// Whose.
        user: Guid,
    },
    /// Read and decode a message of `user`'s mailbox to 8 kHz PCM; answer with
    /// [`crate::Input::MessageAudio`]. The adapter reads it only if it is in that mailbox.
    LoadAudio {
        /// Whose mailbox it was listed in.
        user: Guid,
        /// Which.
        message: Guid,
    },
    /// `user` has listened to `message` to the end (a played receipt; no answer).
    MarkPlayed {
        /// The listener.
        user: Guid,
        /// The message.
        message: Guid,
    },
    /// Delete `message` from `user`'s mailbox (no answer).
    Delete {
        /// Whose mailbox.
        user: Guid,
        /// The message.
        message: Guid,
    },
    /// Connect this line's audio with the other line's, both ways.
    Bridge(LineId),
    /// The phone answered a live talk ([`crate::Input::Intercom`]): play the talk's audio
    /// to it from now on (what was said while it rang first), and count its user as having
    /// heard it live. [`crate::Input::TalkOver`] follows when the talk ends.
    Hear,
    /// Start a live talk from `speaker` to `to` (`*8`); answer with
    /// [`crate::Input::TalkStarted`]. If the line is gone by then, end the talk.
    StartTalk {
        /// The line's user.
        speaker: Guid,
        /// Recipients as dialled.
        to: Vec<String>,
    },
    /// The speaker's audio (8 kHz PCM, in order and in real time): encode it off the
    /// adapter's thread into the talk's portions.
    Speak(Vec<i16>),
    /// The speaker is done (hung up, `#`): end the talk as finished.
    EndTalk,
    /// The outcome of a transfer the phone asked for ([`crate::Input::Transfer`]): `Ok`
    /// once the target answered and the other party is connected to it (the line then
    /// releases), or why not (the call goes on as before). SIP: the final NOTIFY's sipfrag.
    Transferred(Result<(), Reason>),
    /// The outcome of ring-my-phone for whoever asked: `Ok` once the phone is answered.
    RingMeResult(Result<(), RingMeError>),
    /// The line is finished; always its last action. End whatever is still up toward the
    /// phone (SIP: BYE when the dialog is established and the phone did not hang up itself,
    /// CANCEL while our INVITE rings, a final response to an unanswered INVITE) and free
    /// what the adapter holds for the line.
    Release,
}

impl fmt::Debug for Action {
    /// Compact: no samples (a recording shows its length).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Answer => write!(f, "Answer"),
            Action::Reject(r) => write!(f, "Reject({r:?})"),
            Action::Ringback => write!(f, "Ringback"),
            Action::Ring { to, from } => match from {
                Origin::Service => write!(f, "Ring({} from the box)", to.ext),
                Origin::Party(p) => write!(f, "Ring({} from {})", to.ext, p.ext),
                Origin::Intercom(p) => write!(f, "Ring({} intercom from {})", to.ext, p.ext),
            },
            Action::Play(s) => write!(f, "Play({s:?})"),
            Action::StopPlayback => write!(f, "StopPlayback"),
            Action::FlushAudio => write!(f, "FlushAudio"),
            Action::CheckRecipients(to) => write!(f, "CheckRecipients({to:?})"),
            Action::LookUpExtension(e) => write!(f, "LookUpExtension({e})"),
            Action::LogCall {
                callee, answered, ..
            } => write!(
                f,
                "LogCall({}, {})",
                callee.ext,
                if *answered { "answered" } else { "missed" }
            ),
            Action::ChangeSetting { change, .. } => write!(f, "ChangeSetting({change:?})"),
            Action::Post { to, recorder, .. } => write!(
                f,
                "Post({to:?}, {:.2} s)",
                recorder.duration().as_secs_f64()
            ),
            Action::LoadMailbox { .. } => write!(f, "LoadMailbox"),
            Action::LoadAudio { message, .. } => write!(f, "LoadAudio({message})"),
            Action::MarkPlayed { message, .. } => write!(f, "MarkPlayed({message})"),
            Action::Delete { message, .. } => write!(f, "Delete({message})"),
            Action::Bridge(l) => write!(f, "Bridge({l})"),
            Action::Hear => write!(f, "Hear"),
            Action::StartTalk { to, .. } => write!(f, "StartTalk({to:?})"),
            Action::Speak(pcm) => write!(f, "Speak({} samples)", pcm.len()),
            Action::EndTalk => write!(f, "EndTalk"),
            Action::Transferred(Ok(())) => write!(f, "Transferred(Ok)"),
            Action::Transferred(Err(r)) => write!(f, "Transferred({r:?})"),
            Action::RingMeResult(Ok(())) => write!(f, "RingMeResult(Ok)"),
            Action::RingMeResult(Err(e)) => write!(f, "RingMeResult({e:?})"),
            Action::Release => write!(f, "Release"),
        }
    }
}
