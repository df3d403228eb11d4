//! JSON bodies of the REST API. Paths and status codes are in `docs/protocol.md` and in the
//! OpenAPI document served at `/api/openapi.json`.

use serde::{Deserialize, Serialize};

use crate::{Guid, MailboxState, Status};

/// `POST /api/login` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// User name.
    pub name: String,
    /// Password.
    pub password: String,
}

/// `POST /api/login` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer ...` and the WebSocket `connect`.
    pub token: String,
    /// When the token stops working, Unix seconds.
    pub expires_at: u64,
    /// Who logged in.
    pub user: UserInfo,
    /// The password just used was set for this user by someone else and works once: choose a
    /// new one (`PUT /api/me/password`) before anything else (the same as `user`'s flag).
    #[serde(default)]
    pub must_change_password: bool,
}

/// A user as the user themself and admins see them (`GET /api/me`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    /// GUID.
    pub guid: Guid,
    /// Login name (unique, lowercase letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// Extension number (unique), for phones.
    pub extension: String,
    /// Name shown to others.
    pub display_name: String,
    /// Current presence.
    pub status: Status,
    /// May manage users.
    pub admin: bool,
    /// The password was set for this user by someone else (the panel, an admin's generated
    /// reset) and works once: until they choose their own with `PUT /api/me/password`, every
    /// other route answers 403 `password change required`. Absent (false) from older servers.
    #[serde(default)]
    pub must_change_password: bool,
    /// May start an all-call (a priority talk to a group): admins by default, others when
    /// an admin grants it. Absent (false) from older servers.
    #[serde(default)]
    pub may_all_call: bool,
}

/// `PUT /api/me/password` body: a user changes their own password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangePassword {
    /// The password in use now.
    pub current_password: String,
    /// The one to use from now on (the box's password rules; not the current one).
    pub new_password: String,
}

impl std::fmt::Debug for ChangePassword {
    /// Hides both passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePassword").finish_non_exhaustive()
    }
}

/// A user as others see them: the directory (`GET /api/users`) and contact lists
/// (`GET /api/contacts`), with live presence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// GUID.
    pub guid: Guid,
    /// Login name.
    pub name: String,
    /// Extension number.
    pub extension: String,
    /// Name shown to others.
    pub display_name: String,
    /// Presence now.
    pub status: Status,
}

/// `POST /api/contacts` body: add a user to my contacts by name, extension or GUID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddContact {
    /// Name, extension or GUID of the user to add.
    pub user: String,
}

/// `PUT /api/me/status` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetStatus {
    /// New presence.
    pub status: Status,
}

/// Seconds a call rings before forward-on-no-answer, unless the user set another delay.
pub const DEFAULT_NO_ANSWER_AFTER: u32 = 20;

fn default_no_answer_after() -> u32 {
    DEFAULT_NO_ANSWER_AFTER
}

/// Message taking is on unless the user turns it off: an unanswered call becomes a voice
/// message without anyone configuring anything (the point of the box).
fn default_voicemail() -> bool {
    true
}

/// A user's call settings, stored with the user (records written before they existed load
/// as the defaults: no forward, 20 s, message taking on for busy and no answer).
/// Do-not-disturb is not here: it is the user's status "busy" (one notion, so a phone, the
/// web client and intercom agree); [`CallSettingsView`] shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSettings {
    /// Every call goes to this extension; the user's phones do not ring.
    #[serde(default)]
    pub forward_always: Option<String>,
    /// A call that finds the user busy goes to this extension.
    #[serde(default)]
    pub forward_busy: Option<String>,
    /// A call not answered within `no_answer_after` seconds goes to this extension.
    #[serde(default)]
    pub forward_no_answer: Option<String>,
    /// Seconds before forward on no answer (the box's ring timeout caps it).
    #[serde(default = "default_no_answer_after")]
    pub no_answer_after: u32,
    /// A call that meets busy or no answer with no forward is answered by the box, which
    /// takes a message for the user (do-not-disturb always does). On by default (and in
    /// records written before the field existed); off, the caller hears busy or no answer.
    #[serde(default = "default_voicemail")]
    pub voicemail: bool,
}

impl Default for CallSettings {
    fn default() -> Self {
        CallSettings {
            forward_always: None,
            forward_busy: None,
            forward_no_answer: None,
            no_answer_after: DEFAULT_NO_ANSWER_AFTER,
            voicemail: default_voicemail(),
        }
    }
}

/// `GET /api/me/settings` answer (and `PATCH`'s): the stored settings and do-not-disturb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSettingsView {
    /// The stored settings.
    #[serde(flatten)]
    pub settings: CallSettings,
    /// Do-not-disturb: the user's status is "busy".
    pub dnd: bool,
}

/// Which side of a call between extensions a history entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallKind {
    /// I dialled.
    Placed,
    /// I answered.
    Received,
    /// It was for me and nobody answered (busy, no answer, do-not-disturb, or the caller
    /// gave up; a message may have been left).
    Missed,
}

/// One entry of `GET /api/me/calls` (newest first; the box keeps the latest
/// [`MAX_CALL_HISTORY`] per user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// When the call ended its ringing (answered, or not), Unix milliseconds.
    pub at: u64,
    /// Placed, received or missed.
    pub kind: CallKind,
    /// For a placed call: whether it was answered (by the user called, or a forward's
    /// target). Received calls were; missed ones were not.
    pub answered: bool,
    /// The other party: a user's GUID.
    pub peer: Guid,
    /// Their login name (as it was at the time of the call).
    pub peer_name: String,
    /// Their extension (as it was at the time of the call).
    pub peer_extension: String,
}

/// Most call history entries kept per user; older ones are dropped.
pub const MAX_CALL_HISTORY: usize = 100;

/// `PATCH /api/me/settings` body: only the fields present change. A forward set to `""` is
/// turned off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchCallSettings {
    /// Forward always to this extension (`""`: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_always: Option<String>,
    /// Forward on busy to this extension (`""`: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_busy: Option<String>,
    /// Forward on no answer to this extension (`""`: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_no_answer: Option<String>,
    /// Seconds before forward on no answer, 5 to 120.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_answer_after: Option<u32>,
    /// Take messages on busy and no answer (on unless turned off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<bool>,
    /// Do-not-disturb on (status "busy") or off (status "available").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnd: Option<bool>,
}

/// One recipient of a message and where the message stands for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientState {
    /// Recipient GUID.
    pub guid: Guid,
    /// Recipient login name.
    pub name: String,
    /// Mailbox state for that recipient.
    pub state: MailboxState,
}

/// An attachment's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    /// Position in the message, used in `/api/messages/{id}/attachments/{index}`.
    pub index: u32,
    /// File name (no path).
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// A voice message's metadata (inbox, sent, `GET /api/messages/{id}`, the `message` push).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageInfo {
    /// Message GUID.
    pub id: Guid,
    /// Sender GUID (set by the server from the session).
    pub sender: Guid,
    /// Sender login name.
    pub sender_name: String,
    /// Sender display name.
    pub sender_display_name: String,
    /// Every recipient with their state. A recipient sees the full list too (like e-mail's
    /// To: line), but not the others' states: theirs are reported as `queued`.
    pub recipients: Vec<RecipientState>,
    /// When the box committed it, Unix milliseconds.
    pub created_at: u64,
    /// Audio length in milliseconds.
    pub duration_ms: u32,
    /// Waveform summary: peak level per slice, 0-255, for drawing.
    pub peaks: Vec<u8>,
    /// Size of the stored Ogg Opus file.
    pub audio_bytes: u64,
    /// Attachments.
    pub attachments: Vec<AttachmentInfo>,
    /// The viewing user's own mailbox state, when they are a recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MailboxState>,
    /// A live talk cut off before its speaker ended it: the audio is what arrived.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// An all-call (a priority talk to a group): inboxes mark it. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub urgent: bool,
}

/// Messages a page of `GET /api/messages/inbox` or `/sent` holds when `limit` is not given.
pub const PAGE_DEFAULT: u32 = 50;
/// Largest `limit` of one page (a page is one read transaction and one answer held in
/// memory). A larger one is refused with 400, not clamped: bad input gets a clear error.
pub const PAGE_MAX: u32 = 200;

/// `GET /api/messages/counts`: how many messages I have, for badges and headings (the lists
/// themselves come a page at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts {
    /// Messages in my inbox (not deleted).
    pub inbox: u64,
    /// Of those, not played yet.
    pub unplayed: u64,
    /// Messages in my sent list (not deleted).
    pub sent: u64,
}

/// Body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable reason (`unauthorized`, `unknown_user`, `bad_audio`, `too_large`, ...).
    pub error: String,
    /// One line for people.
    pub message: String,
}

/// `GET /api/admin/status` answer (also printed by `ivmd status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// Server software version.
    pub version: String,
    /// Seconds since start.
    pub uptime_s: u64,
    /// WebSocket sessions connected now.
    pub connected_clients: u32,
    /// Messages queued for recipients who have not received them.
    pub queued_messages: u64,
    /// Users.
    pub users: u32,
    /// Whether this box installs update bundles (`PUT /api/admin/update`): the appliance
    /// image does; a box without `[update] command` (a development machine) does not.
    #[serde(default)]
    pub updates: bool,
    /// The link to the global tier, when `[global]` is on.
    #[serde(default)]
    pub global: Option<GlobalLinkStatus>,
}

/// The box's link to the global tier, now (`GET /api/admin/status`, `ivmd status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalLinkStatus {
    /// `[global] box_name`.
    pub box_name: String,
    /// Connected to the cluster now.
    pub up: bool,
    /// Users the directory holds for this box (as of the last publish while up).
    pub published_users: usize,
    /// Messages and receipts waiting in the outbox to go to the cluster.
    pub outbox: u64,
}

/// `POST /api/admin/users` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewUserRequest {
    /// Login name.
    pub name: String,
    /// Extension number.
    pub extension: String,
    /// Name shown to others (defaults to the name).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Password; the box generates one when absent.
    #[serde(default)]
    pub password: Option<String>,
    /// Administrator?
    #[serde(default)]
    pub admin: bool,
}

/// `PATCH /api/admin/users/{user}` body: only the fields given change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UserUpdateRequest {
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New extension.
    #[serde(default)]
    pub extension: Option<String>,
    /// Grant or revoke administration.
    #[serde(default)]
    pub admin: Option<bool>,
    /// Grant or revoke the all-call permission.
    #[serde(default)]
    pub may_all_call: Option<bool>,
}

/// A member of a group, as the admin sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMember {
    /// GUID.
    pub guid: Guid,
    /// Login name.
    pub name: String,
    /// Name shown to others.
    pub display_name: String,
}

/// A group an all-call can reach (`GET /api/admin/groups`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// Its name; `everyone` is the built-in group of every user.
    pub name: String,
    /// Built in (`everyone`): its members are every user, it cannot be edited or deleted.
    #[serde(default)]
    pub builtin: bool,
    /// Members, in the order they were added (every user, by name, for `everyone`).
    pub members: Vec<GroupMember>,
}

/// `POST /api/admin/groups` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewGroupRequest {
    /// Name: 1-32 characters a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit;
    /// not `everyone`.
    pub name: String,
    /// Members: names, extensions or GUIDs.
    #[serde(default)]
    pub members: Vec<String>,
}

/// `PATCH /api/admin/groups/{group}` body: `members` replaces the list when given, then
/// `add` are added and `remove` taken out (names, extensions or GUIDs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GroupUpdateRequest {
    /// The new member list.
    #[serde(default)]
    pub members: Option<Vec<String>>,
    /// Members to add.
    #[serde(default)]
    pub add: Vec<String>,
    /// Members to take out.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// `POST /api/admin/users/{user}/password` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PasswordReset {
    /// The new password; the box generates one when absent.
    #[serde(default)]
    pub password: Option<String>,
}

/// Answer of user creation and password reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserCreated {
    /// The user.
    pub user: UserInfo,
    /// The password the box generated, shown once; absent when the admin chose it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Where a desk phone stands, as the admin phone list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneState {
    /// Known (it asked for an address or a file) but assigned to nobody.
    Unassigned,
    /// Assigned; has not fetched its account file yet.
    Seen,
    /// Fetched its account file (or registered before) but has no live registration now.
    Provisioned,
    /// Its user has a live SIP registration from it now.
    Registered,
}

/// The live SIP registration a phone is linked to (by its user, preferring a binding from
/// the phone's own address).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneRegistration {
    /// Source address of the REGISTER (`ip:port`).
    pub address: String,
    /// Its `User-Agent`, when sent.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Seconds until it lapses unless refreshed.
    pub expires_in_s: u64,
    /// Whether it answers the box's OPTIONS (false: it stopped answering, it shows offline).
    #[serde(default = "reachable_default")]
    pub reachable: bool,
}

/// Registrations listed before qualify existed were all taken as reachable.
fn reachable_default() -> bool {
    true
}

/// A media gateway for analog phones (`GET /api/admin/gateways`), with its live state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayInfo {
    /// Its name (`ivmd gateway add NAME`).
    pub name: String,
    /// Its control protocol (`mgcp`).
    pub protocol: String,
    /// Where it listens (`ip:port`).
    pub address: String,
    /// `up` (registered and answering), `down`, or `off` (the call agent does not run).
    pub state: String,
    /// Its analog lines.
    pub lines: Vec<GatewayLineInfo>,
}

/// One analog line of a gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayLineInfo {
    /// The endpoint (`aaln/1`).
    pub endpoint: String,
    /// The user it is assigned to, when assigned.
    #[serde(default)]
    pub user: Option<Guid>,
    /// Their login name.
    #[serde(default)]
    pub user_name: Option<String>,
    /// Their extension.
    #[serde(default)]
    pub extension: Option<String>,
    /// `idle`, `off-hook`, `ringing`, `in-call`; `unknown` while the gateway is down.
    pub state: String,
}

/// A desk phone (`GET /api/admin/phones`, and the answer of assign and unassign).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneInfo {
    /// MAC, 12 lower-case hex digits.
    pub mac: String,
    /// Vendor (`yealink`, `polycom`, `cisco`, `grandstream`, `snom`), when known.
    #[serde(default)]
    pub vendor: Option<String>,
    /// Model as the phone reported it (DHCP option 60, SIP `User-Agent`), when known.
    #[serde(default)]
    pub model: Option<String>,
    /// Firmware as the phone reported it, when known.
    #[serde(default)]
    pub firmware: Option<String>,
    /// Login name of the assigned user; `null` when unassigned.
    #[serde(default)]
    pub user: Option<String>,
    /// That user's extension.
    #[serde(default)]
    pub extension: Option<String>,
    /// Where it stands.
    pub state: PhoneState,
    /// Unix seconds of its last DHCP, TFTP, HTTP or SIP request; 0 when never seen.
    pub last_seen: u64,
    /// Address of its last request, when known.
    #[serde(default)]
    pub address: Option<String>,
    /// Its live registration, when `state` is `registered`.
    #[serde(default)]
    pub registration: Option<PhoneRegistration>,
    /// Unix seconds until which it is armed: its next account-file request from inside
    /// the provisioning subnets gets the file once, without credentials. `null` when not
    /// armed.
    #[serde(default)]
    pub armed_until: Option<u64>,
    /// Unix seconds of the first fetch that bound it (after which it needs its credential).
    #[serde(default)]
    pub bound_at: Option<u64>,
    /// The address that first fetch came from.
    #[serde(default)]
    pub bound_address: Option<String>,
    /// Its provisioning credential was set by hand (a phone configured by hand).
    #[serde(default)]
    pub manual_credential: bool,
}

/// `GET /api/admin/phones/{mac}/secrets`: a phone's own secrets, for an admin (its web
/// interface's login, and the credential for setting a phone up by hand).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneSecretsInfo {
    /// MAC, 12 lower-case hex digits.
    pub mac: String,
    /// User name of the phone's web interface (`admin`).
    pub admin_user: String,
    /// Password of the phone's web interface, set by its file.
    pub admin_password: String,
    /// URL the phone fetches its files from.
    pub provision_url: String,
    /// User name it gives there (its MAC; the box accepts any).
    pub provision_user: String,
    /// Its provisioning credential (HTTP Digest or Basic).
    pub provision_password: String,
}

/// `POST /api/admin/phones` body: assign a phone (known or not) to a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignPhone {
    /// MAC in any common spelling (`00:15:65:AA:BB:CC`, `001565aabbcc`).
    pub mac: String,
    /// Login name of the user.
    pub user: String,
    /// Vendor; from the MAC prefix (or what the phone reported) when left out.
    #[serde(default)]
    pub vendor: Option<String>,
    /// Sets the phone's provisioning credential by hand, for a phone configured by hand
    /// (it must give it, HTTP Digest or Basic, for its files; it is not armed).
    #[serde(default)]
    pub http_password: Option<String>,
    /// Move the phone when it is assigned to another user. Without it that is refused
    /// (409 `phone_assigned`): a mistyped MAC must not take a colleague's phone away.
    #[serde(default)]
    pub reassign: bool,
}

/// `PUT /api/admin/gateways/{gateway}/lines` body: assign the analog line `endpoint` to
/// `user`, or with `null` unassign it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineAssignment {
    /// The line's endpoint (`aaln/1`).
    pub endpoint: String,
    /// Login name of the user; `null` to unassign.
    pub user: Option<String>,
}

/// `PUT /api/admin/phones/{mac}` body: assign the phone to `user`, or with `null` unassign
/// it (it stays in the list as unassigned).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneAssignment {
    /// Login name of the user; `null` to unassign.
    pub user: Option<String>,
}
