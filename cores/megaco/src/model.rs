//! The message model: what a text message means, independent of its spelling (pretty or
//! compact, any case, any white space). Decoding then encoding a message gives an equal model.
//!
//! The shapes follow H.248.1 Annex B (the text ABNF); where the ABNF gives a command a list of
//! descriptors, the model keeps a `Vec<Descriptor>` in message order and the decoder checks
//! what each command must carry.

use std::net::IpAddr;

use crate::digitmap::DigitMapValue;

/// One MEGACO message: header and body (Annex B `message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Protocol version, 1 to 3.
    pub version: u8,
    /// The sender's identity.
    pub mid: MId,
    /// Transactions, or an error about the whole message.
    pub body: Body,
}

/// A message identifier (`mId`): who sent the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MId {
    /// `[10.0.0.1]:2944`, `[::1]`.
    Ip {
        /// The address.
        addr: IpAddr,
        /// The port, when given.
        port: Option<u16>,
    },
    /// `<mg1.example.net>:2944`.
    Domain {
        /// The name between the angle brackets.
        name: String,
        /// The port, when given.
        port: Option<u16>,
    },
    /// A device name (a `pathNAME`), `gateway_ut`.
    Device(String),
}

/// A message body (`messageBody`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The whole message is refused (`Error = 400 {...}` in place of transactions).
    Error(ErrorDescriptor),
    /// One or more transactions.
    Transactions(Vec<Transaction>),
}

/// A transaction of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transaction {
    /// `Transaction = id {actions}`.
    Request {
        /// Transaction id, chosen by the sender.
        id: u32,
        /// One or more actions (one per context).
        actions: Vec<ActionRequest>,
    },
    /// `Reply = id {...}`.
    Reply {
        /// The request's transaction id.
        id: u32,
        /// `ImmAckRequired`: the receiver must acknowledge at once.
        imm_ack: bool,
        /// What the request did.
        result: ReplyResult,
    },
    /// `Pending = id {}`: the request is being worked on; stop retransmitting.
    Pending {
        /// The request's transaction id.
        id: u32,
    },
    /// `TransactionResponseAck {1, 4-7}`: replies received, the peer may forget them.
    ResponseAck(Vec<(u32, u32)>),
}

/// A reply's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyResult {
    /// The whole transaction failed.
    Error(ErrorDescriptor),
    /// One reply per action.
    Actions(Vec<ActionReply>),
}

/// A context id: a number, or `-` (null), `$` (choose one), `*` (all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextId {
    /// `-`: outside any context (ServiceChange, Notify of an idle line, audits).
    Null,
    /// `$`: the gateway picks a new context.
    Choose,
    /// `*`: every context.
    All,
    /// A context the gateway made.
    Id(u32),
}

/// Properties of a context (`contextProperty`), as far as an analog line needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextProp {
    /// `Priority = 0..15`.
    Priority(u8),
    /// `Emergency`.
    Emergency,
}

/// `Context = id {commands}` in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    /// The context acted on.
    pub context: ContextId,
    /// Context properties to set.
    pub props: Vec<ContextProp>,
    /// The commands, in order.
    pub commands: Vec<Command>,
}

/// `Context = id {replies}` in a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionReply {
    /// The context (the one made, for `$`).
    pub context: ContextId,
    /// Context properties.
    pub props: Vec<ContextProp>,
    /// One reply per command that ran.
    pub commands: Vec<Command>,
    /// The error that stopped the action, after the replies of the commands that ran.
    pub error: Option<ErrorDescriptor>,
}

/// The verb of a command (request or reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// Add a termination to a context.
    Add,
    /// Change a termination's descriptors.
    Modify,
    /// Move a termination to another context.
    Move,
    /// Remove a termination from its context.
    Subtract,
    /// Read a termination's current values.
    AuditValue,
    /// Read what a termination can do.
    AuditCapabilities,
    /// Events the MG observed.
    Notify,
    /// Registration, restart, going out of service.
    ServiceChange,
}

/// One command or command reply: a verb on a termination, with descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The verb.
    pub kind: CommandKind,
    /// `O-`: the command is optional (the action goes on if it fails). Requests only.
    pub optional: bool,
    /// `W-`: one reply for a wildcarded termination id. Requests only.
    pub wildcard_reply: bool,
    /// The termination acted on (may hold wildcards).
    pub termination: TerminationId,
    /// The descriptors, in message order.
    pub descriptors: Vec<Descriptor>,
}

/// A termination id: `ROOT`, `aaln/1`, `aaln/*`, `$`, `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TerminationId(pub String);

impl TerminationId {
    /// The gateway as a whole.
    pub fn root() -> Self {
        TerminationId("ROOT".into())
    }

    /// An id with `*` or `$` in it names several terminations, or one to be chosen.
    pub fn is_wildcard(&self) -> bool {
        self.0.contains(['*', '$'])
    }

    /// `ROOT`, in any case.
    pub fn is_root(&self) -> bool {
        self.0.eq_ignore_ascii_case("ROOT")
    }
}

/// A descriptor of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Descriptor {
    /// `Media {...}`: streams, local control, SDP.
    Media(Media),
    /// `Events = id {...}`, or a bare `Events` (stop reporting).
    Events(Events),
    /// `Signals {...}` (empty: stop every signal).
    Signals(Vec<SignalItem>),
    /// `DigitMap = name {value}`.
    DigitMap(DigitMapDescriptor),
    /// `Audit {items}` in an audit or a command request.
    Audit(Vec<AuditItem>),
    /// An audit item alone in an audit reply (`Media` without braces).
    AuditItem(AuditItem),
    /// `ObservedEvents = id {...}` (Notify, audit replies).
    ObservedEvents(ObservedEvents),
    /// `Services {...}` of a ServiceChange request or reply.
    Services(ServiceChange),
    /// `Statistics {props}`.
    Statistics(Vec<Property>),
    /// `Packages {al-1, dd-1}`.
    Packages(Vec<String>),
    /// `Error = 500 {"..."}` in a reply (or a Notify).
    Error(ErrorDescriptor),
}

/// What an audit asks for (`auditItem`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditItem {
    /// `Media`.
    Media,
    /// `Modem`.
    Modem,
    /// `Mux`.
    Mux,
    /// `Events`.
    Events,
    /// `Signals`.
    Signals,
    /// `DigitMap`.
    DigitMap,
    /// `Statistics`.
    Statistics,
    /// `ObservedEvents`.
    ObservedEvents,
    /// `Packages`.
    Packages,
    /// `EventBuffer`.
    EventBuffer,
}

/// `Media {...}` (`mediaDescriptor`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Media {
    /// `TerminationState {...}`.
    pub termination_state: Option<TerminationState>,
    /// Stream parameters given without `Stream = n` (the single stream).
    pub single: Option<StreamParms>,
    /// `Stream = n {...}`.
    pub streams: Vec<(u16, StreamParms)>,
}

/// The parameters of a stream (`streamParm`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamParms {
    /// `LocalControl {...}`.
    pub local_control: Option<LocalControl>,
    /// `Local {SDP}`: what the gateway receives.
    pub local: Option<String>,
    /// `Remote {SDP}`: where the gateway sends.
    pub remote: Option<String>,
}

/// `LocalControl {...}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalControl {
    /// `Mode = SendReceive`.
    pub mode: Option<StreamMode>,
    /// `ReservedValue = ON|OFF`.
    pub reserve_value: Option<bool>,
    /// `ReservedGroup = ON|OFF`.
    pub reserve_group: Option<bool>,
    /// Package properties (`nt/jit = 40`).
    pub properties: Vec<Property>,
}

/// A stream's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// `SendOnly`.
    SendOnly,
    /// `ReceiveOnly`.
    RecvOnly,
    /// `SendReceive`.
    SendRecv,
    /// `Inactive`.
    Inactive,
    /// `Loopback`.
    Loopback,
}

/// `TerminationState {...}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TerminationState {
    /// `ServiceStates = InService|OutOfService|Test`.
    pub service_state: Option<ServiceState>,
    /// `Buffer = LockStep|OFF`: `true` for LockStep.
    pub lockstep: Option<bool>,
    /// Package properties.
    pub properties: Vec<Property>,
}

/// A termination's service state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    /// `Test`.
    Test,
    /// `OutOfService`.
    OutOfService,
    /// `InService`.
    InService,
}

/// A property or parameter: `name = value`, `name > value`, `name = [a,b]`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// `package/item`, or a bare parameter name (`ds`, `Meth`).
    pub name: String,
    /// The value and how it relates to the name.
    pub value: PropValue,
}

/// A property's value (`parmValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    /// `= v`.
    Equal(String),
    /// `# v` (not equal).
    NotEqual(String),
    /// `> v`.
    Greater(String),
    /// `< v`.
    Less(String),
    /// `= [a, b]`: one of.
    OneOf(Vec<String>),
    /// `= [a : b]`: a range.
    Range(String, String),
    /// `= {a, b}`: all of.
    AllOf(Vec<String>),
}

/// `Events = id {...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events {
    /// The request id the Notify will quote; `None` for a bare `Events` (report nothing).
    pub request_id: Option<u32>,
    /// The events to report.
    pub events: Vec<RequestedEvent>,
}

/// One requested event: `al/of`, `dd/ce {DigitMap = dialplan0}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedEvent {
    /// `package/event`.
    pub name: String,
    /// Its parameters.
    pub params: Vec<EventParam>,
}

/// A requested event's parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventParam {
    /// `DigitMap = name` or `DigitMap = {value}`.
    DigitMap(DigitMapRef),
    /// `KeepActive`: signals keep playing when the event is seen.
    KeepActive,
    /// `Stream = n`.
    Stream(u16),
    /// Any other parameter (`strict = state`).
    Other(Property),
}

/// A digit map named or given inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigitMapRef {
    /// A map loaded before with a DigitMap descriptor.
    Name(String),
    /// The map itself.
    Value(DigitMapValue),
}

/// `DigitMap = name {value}`, `DigitMap = {value}` or `DigitMap = name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitMapDescriptor {
    /// The map's name.
    pub name: Option<String>,
    /// The map.
    pub value: Option<DigitMapValue>,
}

/// A signal descriptor's item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalItem {
    /// One signal.
    Signal(SignalRequest),
    /// `SignalList = id {signals}`: played one after the other.
    List {
        /// The list's id.
        id: u16,
        /// Its signals.
        signals: Vec<SignalRequest>,
    },
}

/// A signal to play: `al/ri`, `cg/dt {Duration = 3000}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRequest {
    /// `package/signal`.
    pub name: String,
    /// Its parameters.
    pub params: Vec<SignalParam>,
}

/// A signal parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalParam {
    /// `Stream = n`.
    Stream(u16),
    /// `SignalType = OnOff|TimeOut|Brief`.
    Type(SignalType),
    /// `Duration = ms`.
    Duration(u16),
    /// `NotifyCompletion = {TimeOut, ...}`.
    NotifyCompletion(Vec<Completion>),
    /// `KeepActive`.
    KeepActive,
    /// A package parameter (`al/ri {cad = ...}`).
    Other(Property),
}

/// How long a signal plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalType {
    /// Until stopped.
    OnOff,
    /// Until its duration ends.
    TimeOut,
    /// Short, plays out.
    Brief,
}

/// Why a signal ended, for `NotifyCompletion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// `TimeOut`.
    TimeOut,
    /// `IntByEvent`.
    IntByEvent,
    /// `IntBySigDescr`.
    IntBySigDescr,
    /// `OtherReason`.
    OtherReason,
}

/// `ObservedEvents = id {...}` of a Notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedEvents {
    /// The request id of the Events descriptor that asked.
    pub request_id: u32,
    /// What happened, in order.
    pub events: Vec<ObservedEvent>,
}

/// One observed event: `20001231T12345678:dd/ce {ds = "*7202", Meth = FM}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedEvent {
    /// `yyyymmddThhmmsshh`, when the gateway gave it.
    pub timestamp: Option<String>,
    /// `package/event`.
    pub name: String,
    /// `Stream = n`.
    pub stream: Option<u16>,
    /// The event's parameters.
    pub params: Vec<Property>,
}

/// `Services {...}` of a ServiceChange (request or reply).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceChange {
    /// `Method = Restart`.
    pub method: Option<Method>,
    /// `Reason = "901 Cold Boot"`.
    pub reason: Option<String>,
    /// `Delay = ms`.
    pub delay: Option<u32>,
    /// `ServiceChangeAddress = mId or port`: where to send from now on.
    pub address: Option<ScAddress>,
    /// `MgcIdToTry = mId`: another controller to register with.
    pub mgc_id: Option<MId>,
    /// `Profile = ResGW/1`.
    pub profile: Option<String>,
    /// `Version = 2`: the version offered or agreed.
    pub version: Option<u8>,
    /// A time stamp.
    pub timestamp: Option<String>,
}

/// A ServiceChange method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `Failover`.
    Failover,
    /// `Forced`: out of service now, calls dropped.
    Forced,
    /// `Graceful`: out of service after the calls end.
    Graceful,
    /// `Restart`: (back) in service; a gateway registers with it.
    Restart,
    /// `Disconnected`: the gateway lost its controller for a while.
    Disconnected,
    /// `HandOff`: the controller sends the gateway elsewhere.
    HandOff,
    /// An extension method (`X-...`).
    Extension(String),
}

/// `ServiceChangeAddress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScAddress {
    /// A port on the same address.
    Port(u16),
    /// A full address.
    MId(MId),
}

/// `Error = code {"text"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDescriptor {
    /// The error code (H.248.8): 400 syntax error, 430 unknown termination, 500 internal...
    pub code: u16,
    /// The text.
    pub text: Option<String>,
}
