//! The encoder: [`Message`] to text, pretty (long keywords, one item a line) or compact
//! (short keywords, no optional white space). It builds a small tree of items first, so the
//! two forms differ only in spelling and layout, never in structure.

use std::fmt::Write;

use crate::cursor::is_safe;
use crate::model::*;
use crate::token::{Form, Kw};

/// Writes `message` in `form`.
pub fn encode(message: &Message, form: Form) -> String {
    let e = Enc { form };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}/{} {}",
        e.kw(Kw::Megaco),
        message.version,
        mid(&message.mid)
    );
    let items = match &message.body {
        Body::Error(err) => vec![e.error(err)],
        Body::Transactions(ts) => ts.iter().map(|t| e.transaction(t)).collect(),
    };
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        e.render(item, 0, &mut out);
    }
    out.push('\n');
    out
}

/// One item of the tree.
enum Node {
    /// `head`, nothing after it.
    Leaf(String),
    /// `head { children }` (an empty list writes `head {}`).
    List(String, Vec<Node>),
    /// `head {text}`: a digit map or an error text, written as is.
    Raw(String, String),
    /// `head {text}`, an octet string (SDP): in pretty form it starts on its own line (the
    /// white space after `{` is not content).
    Octets(String, String),
}

struct Enc {
    form: Form,
}

/// `mId` as text.
pub(crate) fn mid(m: &MId) -> String {
    let with_port = |s: String, p: &Option<u16>| match p {
        Some(p) => format!("{s}:{p}"),
        None => s,
    };
    match m {
        MId::Ip { addr, port } => with_port(format!("[{addr}]"), port),
        MId::Domain { name, port } => with_port(format!("<{name}>"), port),
        MId::Device(d) => d.clone(),
    }
}

/// `VALUE`: a word when every character is a SafeChar, else a quoted string.
fn value(v: &str) -> String {
    if !v.is_empty() && v.bytes().all(is_safe) {
        v.to_owned()
    } else {
        format!("\"{v}\"")
    }
}

impl Enc {
    fn kw(&self, k: Kw) -> &'static str {
        k.text(self.form)
    }

    /// `a = b` (pretty) or `a=b` (compact).
    fn eq(&self, a: &str, b: impl std::fmt::Display) -> String {
        match self.form {
            Form::Pretty => format!("{a} = {b}"),
            Form::Compact => format!("{a}={b}"),
        }
    }

    fn kw_eq(&self, k: Kw, b: impl std::fmt::Display) -> String {
        self.eq(self.kw(k), b)
    }

    fn render(&self, node: &Node, depth: usize, out: &mut String) {
        let pretty = self.form == Form::Pretty;
        match node {
            Node::Leaf(s) => out.push_str(s),
            Node::Raw(head, text) => {
                out.push_str(head);
                out.push_str(if pretty { " {" } else { "{" });
                out.push_str(text);
                out.push('}');
            }
            Node::Octets(head, text) => {
                out.push_str(head);
                out.push_str(if pretty { " {\n" } else { "{" });
                out.push_str(text);
                out.push('}');
            }
            Node::List(head, children) => {
                out.push_str(head);
                out.push_str(if pretty { " {" } else { "{" });
                for (n, child) in children.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    if pretty {
                        out.push('\n');
                        out.push_str(&"    ".repeat(depth + 1));
                    }
                    self.render(child, depth + 1, out);
                }
                if pretty && !children.is_empty() {
                    out.push('\n');
                    out.push_str(&"    ".repeat(depth));
                }
                out.push('}');
            }
        }
    }

    fn transaction(&self, t: &Transaction) -> Node {
        match t {
            Transaction::Request { id, actions } => Node::List(
                self.kw_eq(Kw::Transaction, id),
                actions.iter().map(|a| self.action_request(a)).collect(),
            ),
            Transaction::Reply {
                id,
                imm_ack,
                result,
            } => {
                let mut items = Vec::new();
                if *imm_ack {
                    items.push(Node::Leaf(self.kw(Kw::ImmAckRequired).into()));
                }
                match result {
                    ReplyResult::Error(e) => items.push(self.error(e)),
                    ReplyResult::Actions(actions) => {
                        items.extend(actions.iter().map(|a| self.action_reply(a)))
                    }
                }
                Node::List(self.kw_eq(Kw::Reply, id), items)
            }
            Transaction::Pending { id } => Node::List(self.kw_eq(Kw::Pending, id), Vec::new()),
            Transaction::ResponseAck(acks) => Node::List(
                self.kw(Kw::ResponseAck).into(),
                acks.iter()
                    .map(|(a, b)| {
                        Node::Leaf(if a == b {
                            a.to_string()
                        } else {
                            format!("{a}-{b}")
                        })
                    })
                    .collect(),
            ),
        }
    }

    fn context(&self, c: ContextId) -> String {
        let id = match c {
            ContextId::Null => "-".to_owned(),
            ContextId::Choose => "$".to_owned(),
            ContextId::All => "*".to_owned(),
            ContextId::Id(n) => n.to_string(),
        };
        self.kw_eq(Kw::Context, id)
    }

    fn props(&self, props: &[ContextProp]) -> Vec<Node> {
        props
            .iter()
            .map(|p| match p {
                ContextProp::Priority(n) => Node::Leaf(self.kw_eq(Kw::Priority, n)),
                ContextProp::Emergency => Node::Leaf(self.kw(Kw::Emergency).into()),
            })
            .collect()
    }

    fn action_request(&self, a: &ActionRequest) -> Node {
        let mut items = self.props(&a.props);
        items.extend(a.commands.iter().map(|c| self.command(c)));
        Node::List(self.context(a.context), items)
    }

    fn action_reply(&self, a: &ActionReply) -> Node {
        let mut items = self.props(&a.props);
        items.extend(a.commands.iter().map(|c| self.command(c)));
        items.extend(a.error.iter().map(|e| self.error(e)));
        if items.is_empty() {
            Node::Leaf(self.context(a.context))
        } else {
            Node::List(self.context(a.context), items)
        }
    }

    fn command(&self, c: &Command) -> Node {
        let kw = match c.kind {
            CommandKind::Add => Kw::Add,
            CommandKind::Modify => Kw::Modify,
            CommandKind::Move => Kw::Move,
            CommandKind::Subtract => Kw::Subtract,
            CommandKind::AuditValue => Kw::AuditValue,
            CommandKind::AuditCapabilities => Kw::AuditCap,
            CommandKind::Notify => Kw::Notify,
            CommandKind::ServiceChange => Kw::ServiceChange,
        };
        let mut head = String::new();
        if c.optional {
            head.push_str("O-");
        }
        if c.wildcard_reply {
            head.push_str("W-");
        }
        head.push_str(&self.kw_eq(kw, &c.termination.0));
        if c.descriptors.is_empty() {
            Node::Leaf(head)
        } else {
            Node::List(
                head,
                c.descriptors.iter().map(|d| self.descriptor(d)).collect(),
            )
        }
    }

    fn audit_item(&self, a: AuditItem) -> &'static str {
        self.kw(match a {
            AuditItem::Media => Kw::Media,
            AuditItem::Modem => Kw::Modem,
            AuditItem::Mux => Kw::Mux,
            AuditItem::Events => Kw::Events,
            AuditItem::Signals => Kw::Signals,
            AuditItem::DigitMap => Kw::DigitMap,
            AuditItem::Statistics => Kw::Statistics,
            AuditItem::ObservedEvents => Kw::ObservedEvents,
            AuditItem::Packages => Kw::Packages,
            AuditItem::EventBuffer => Kw::EventBuffer,
        })
    }

    fn descriptor(&self, d: &Descriptor) -> Node {
        match d {
            Descriptor::Media(m) => self.media(m),
            Descriptor::Events(ev) => match ev.request_id {
                None => Node::Leaf(self.kw(Kw::Events).into()),
                Some(id) => Node::List(
                    self.kw_eq(Kw::Events, id),
                    ev.events.iter().map(|e| self.requested_event(e)).collect(),
                ),
            },
            // No signals: a bare `Signals`, as Erlang/OTP writes and reads it (`Signals {}`,
            // valid by the ABNF, is refused by its parser).
            Descriptor::Signals(items) if items.is_empty() => {
                Node::Leaf(self.kw(Kw::Signals).into())
            }
            Descriptor::Signals(items) => Node::List(
                self.kw(Kw::Signals).into(),
                items.iter().map(|s| self.signal_item(s)).collect(),
            ),
            Descriptor::DigitMap(dm) => {
                let head = match &dm.name {
                    Some(name) => self.kw_eq(Kw::DigitMap, name),
                    None => match self.form {
                        Form::Pretty => format!("{} =", self.kw(Kw::DigitMap)),
                        Form::Compact => format!("{}=", self.kw(Kw::DigitMap)),
                    },
                };
                match &dm.value {
                    Some(v) => Node::Raw(head, v.to_string()),
                    None => Node::Leaf(head),
                }
            }
            Descriptor::Audit(items) => Node::List(
                self.kw(Kw::Audit).into(),
                items
                    .iter()
                    .map(|a| Node::Leaf(self.audit_item(*a).into()))
                    .collect(),
            ),
            Descriptor::AuditItem(a) => Node::Leaf(self.audit_item(*a).into()),
            Descriptor::ObservedEvents(oe) => Node::List(
                self.kw_eq(Kw::ObservedEvents, oe.request_id),
                oe.events.iter().map(|e| self.observed_event(e)).collect(),
            ),
            Descriptor::Services(sc) => self.services(sc),
            Descriptor::Statistics(props) => Node::List(
                self.kw(Kw::Statistics).into(),
                props.iter().map(|p| Node::Leaf(self.property(p))).collect(),
            ),
            Descriptor::Packages(pkgs) => Node::List(
                self.kw(Kw::Packages).into(),
                pkgs.iter().map(|p| Node::Leaf(p.clone())).collect(),
            ),
            Descriptor::Error(e) => self.error(e),
        }
    }

    fn error(&self, e: &ErrorDescriptor) -> Node {
        let head = self.kw_eq(Kw::Error, e.code);
        match &e.text {
            Some(t) => Node::Raw(head, format!("\"{t}\"")),
            None => Node::List(head, Vec::new()),
        }
    }

    fn property(&self, p: &Property) -> String {
        let list =
            |v: &[String], sep: &str| v.iter().map(|s| value(s)).collect::<Vec<_>>().join(sep);
        let comma = if self.form == Form::Pretty { ", " } else { "," };
        let (op, v) = match &p.value {
            PropValue::Equal(v) => ("=", value(v)),
            PropValue::NotEqual(v) => ("#", value(v)),
            PropValue::Greater(v) => (">", value(v)),
            PropValue::Less(v) => ("<", value(v)),
            PropValue::OneOf(v) => ("=", format!("[{}]", list(v, comma))),
            PropValue::Range(a, b) => ("=", format!("[{}:{}]", value(a), value(b))),
            PropValue::AllOf(v) => ("=", format!("{{{}}}", list(v, comma))),
        };
        match self.form {
            Form::Pretty => format!("{} {op} {v}", p.name),
            Form::Compact => format!("{}{op}{v}", p.name),
        }
    }

    fn media(&self, m: &Media) -> Node {
        let mut items = Vec::new();
        if let Some(ts) = &m.termination_state {
            let mut t = Vec::new();
            if let Some(s) = ts.service_state {
                let k = match s {
                    ServiceState::Test => Kw::Test,
                    ServiceState::OutOfService => Kw::OutOfService,
                    ServiceState::InService => Kw::InService,
                };
                t.push(Node::Leaf(self.kw_eq(Kw::ServiceStates, self.kw(k))));
            }
            if let Some(l) = ts.lockstep {
                t.push(Node::Leaf(self.kw_eq(
                    Kw::Buffer,
                    if l { self.kw(Kw::LockStep) } else { "OFF" },
                )));
            }
            t.extend(ts.properties.iter().map(|p| Node::Leaf(self.property(p))));
            items.push(Node::List(self.kw(Kw::TerminationState).into(), t));
        }
        if let Some(s) = &m.single {
            items.extend(self.stream_parms(s));
        }
        for (id, s) in &m.streams {
            items.push(Node::List(self.kw_eq(Kw::Stream, id), self.stream_parms(s)));
        }
        Node::List(self.kw(Kw::Media).into(), items)
    }

    fn stream_parms(&self, s: &StreamParms) -> Vec<Node> {
        let mut items = Vec::new();
        if let Some(lc) = &s.local_control {
            let mut l = Vec::new();
            if let Some(m) = lc.mode {
                let k = match m {
                    StreamMode::SendOnly => Kw::SendOnly,
                    StreamMode::RecvOnly => Kw::RecvOnly,
                    StreamMode::SendRecv => Kw::SendRecv,
                    StreamMode::Inactive => Kw::Inactive,
                    StreamMode::Loopback => Kw::Loopback,
                };
                l.push(Node::Leaf(self.kw_eq(Kw::Mode, self.kw(k))));
            }
            let on = |b: bool| if b { "ON" } else { "OFF" };
            if let Some(v) = lc.reserve_value {
                l.push(Node::Leaf(self.kw_eq(Kw::ReservedValue, on(v))));
            }
            if let Some(v) = lc.reserve_group {
                l.push(Node::Leaf(self.kw_eq(Kw::ReservedGroup, on(v))));
            }
            l.extend(lc.properties.iter().map(|p| Node::Leaf(self.property(p))));
            items.push(Node::List(self.kw(Kw::LocalControl).into(), l));
        }
        let octets = |t: &str| t.replace('}', "\\}");
        if let Some(sdp) = &s.local {
            items.push(Node::Octets(self.kw(Kw::Local).into(), octets(sdp)));
        }
        if let Some(sdp) = &s.remote {
            items.push(Node::Octets(self.kw(Kw::Remote).into(), octets(sdp)));
        }
        items
    }

    fn requested_event(&self, e: &RequestedEvent) -> Node {
        if e.params.is_empty() {
            return Node::Leaf(e.name.clone());
        }
        let params = e
            .params
            .iter()
            .map(|p| match p {
                EventParam::DigitMap(DigitMapRef::Name(n)) => {
                    Node::Leaf(self.kw_eq(Kw::DigitMap, n))
                }
                EventParam::DigitMap(DigitMapRef::Value(v)) => Node::Raw(
                    match self.form {
                        Form::Pretty => format!("{} =", self.kw(Kw::DigitMap)),
                        Form::Compact => format!("{}=", self.kw(Kw::DigitMap)),
                    },
                    v.to_string(),
                ),
                EventParam::KeepActive => Node::Leaf(self.kw(Kw::KeepActive).into()),
                EventParam::Stream(s) => Node::Leaf(self.kw_eq(Kw::Stream, s)),
                EventParam::Other(p) => Node::Leaf(self.property(p)),
            })
            .collect();
        Node::List(e.name.clone(), params)
    }

    fn signal_item(&self, s: &SignalItem) -> Node {
        match s {
            SignalItem::Signal(r) => self.signal(r),
            SignalItem::List { id, signals } => Node::List(
                self.kw_eq(Kw::SignalList, id),
                signals.iter().map(|r| self.signal(r)).collect(),
            ),
        }
    }

    fn signal(&self, r: &SignalRequest) -> Node {
        if r.params.is_empty() {
            return Node::Leaf(r.name.clone());
        }
        let params = r
            .params
            .iter()
            .map(|p| match p {
                SignalParam::Stream(s) => Node::Leaf(self.kw_eq(Kw::Stream, s)),
                SignalParam::Type(t) => Node::Leaf(self.kw_eq(
                    Kw::SignalType,
                    self.kw(match t {
                        SignalType::OnOff => Kw::OnOff,
                        SignalType::TimeOut => Kw::TimeOut,
                        SignalType::Brief => Kw::Brief,
                    }),
                )),
                SignalParam::Duration(d) => Node::Leaf(self.kw_eq(Kw::Duration, d)),
                SignalParam::NotifyCompletion(reasons) => Node::List(
                    match self.form {
                        Form::Pretty => format!("{} =", self.kw(Kw::NotifyCompletion)),
                        Form::Compact => format!("{}=", self.kw(Kw::NotifyCompletion)),
                    },
                    reasons
                        .iter()
                        .map(|r| {
                            Node::Leaf(
                                self.kw(match r {
                                    Completion::TimeOut => Kw::TimeOut,
                                    Completion::IntByEvent => Kw::IntByEvent,
                                    Completion::IntBySigDescr => Kw::IntBySigDescr,
                                    Completion::OtherReason => Kw::OtherReason,
                                })
                                .into(),
                            )
                        })
                        .collect(),
                ),
                SignalParam::KeepActive => Node::Leaf(self.kw(Kw::KeepActive).into()),
                SignalParam::Other(p) => Node::Leaf(self.property(p)),
            })
            .collect();
        Node::List(r.name.clone(), params)
    }

    fn observed_event(&self, e: &ObservedEvent) -> Node {
        let head = match &e.timestamp {
            Some(t) => format!("{t}:{}", e.name),
            None => e.name.clone(),
        };
        let mut params: Vec<Node> = e
            .stream
            .iter()
            .map(|s| Node::Leaf(self.kw_eq(Kw::Stream, s)))
            .collect();
        params.extend(e.params.iter().map(|p| Node::Leaf(self.property(p))));
        if params.is_empty() {
            Node::Leaf(head)
        } else {
            Node::List(head, params)
        }
    }

    fn services(&self, sc: &ServiceChange) -> Node {
        let mut items = Vec::new();
        if let Some(m) = &sc.method {
            let text = match m {
                Method::Failover => self.kw(Kw::Failover),
                Method::Forced => self.kw(Kw::Forced),
                Method::Graceful => self.kw(Kw::Graceful),
                Method::Restart => self.kw(Kw::Restart),
                Method::Disconnected => self.kw(Kw::Disconnected),
                Method::HandOff => self.kw(Kw::HandOff),
                Method::Extension(x) => x,
            };
            items.push(Node::Leaf(self.kw_eq(Kw::Method, text)));
        }
        if let Some(r) = &sc.reason {
            // Reasons are quoted by custom ("901 Cold Boot" has spaces anyway).
            items.push(Node::Leaf(self.kw_eq(Kw::Reason, format!("\"{r}\""))));
        }
        if let Some(d) = sc.delay {
            items.push(Node::Leaf(self.kw_eq(Kw::Delay, d)));
        }
        if let Some(a) = &sc.address {
            let v = match a {
                ScAddress::Port(p) => p.to_string(),
                ScAddress::MId(m) => mid(m),
            };
            items.push(Node::Leaf(self.kw_eq(Kw::ServiceChangeAddress, v)));
        }
        if let Some(m) = &sc.mgc_id {
            items.push(Node::Leaf(self.kw_eq(Kw::MgcId, mid(m))));
        }
        if let Some(p) = &sc.profile {
            items.push(Node::Leaf(self.kw_eq(Kw::Profile, p)));
        }
        if let Some(v) = sc.version {
            items.push(Node::Leaf(self.kw_eq(Kw::Version, v)));
        }
        if let Some(t) = &sc.timestamp {
            items.push(Node::Leaf(t.clone()));
        }
        Node::List(self.kw(Kw::Services).into(), items)
    }
}
