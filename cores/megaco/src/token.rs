//! The keywords of the text encoding (H.248.1 Annex B.2, RFC 3015 Annex B): each has a long
//! (pretty) and a short (compact) spelling, and both are accepted whatever the case.

/// Which spelling the encoder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Form {
    /// Long keywords, one item a line, indented: what people read in logs.
    #[default]
    Pretty,
    /// Short keywords and no optional white space: what goes on the wire.
    Compact,
}

macro_rules! keywords {
    ($($kw:ident = $long:literal / $short:literal,)*) => {
        /// A keyword of the text encoding.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Kw { $($kw,)* }

        impl Kw {
            const ALL: &'static [(Kw, &'static str, &'static str)] = &[$((Kw::$kw, $long, $short),)*];
        }
    };
}

keywords! {
    Add = "Add" / "A",
    Audit = "Audit" / "AT",
    Authentication = "Authentication" / "AU",
    AuditCap = "AuditCapability" / "AC",
    AuditValue = "AuditValue" / "AV",
    Brief = "Brief" / "BR",
    Buffer = "Buffer" / "BF",
    Context = "Context" / "C",
    DigitMap = "DigitMap" / "DM",
    Delay = "Delay" / "DL",
    Disconnected = "Disconnected" / "DC",
    Duration = "Duration" / "DR",
    Emergency = "Emergency" / "EG",
    Error = "Error" / "ER",
    EventBuffer = "EventBuffer" / "EB",
    Events = "Events" / "E",
    Failover = "Failover" / "FL",
    Forced = "Forced" / "FO",
    Graceful = "Graceful" / "GR",
    HandOff = "HandOff" / "HO",
    ImmAckRequired = "ImmAckRequired" / "IA",
    Inactive = "Inactive" / "IN",
    InService = "InService" / "IV",
    IntByEvent = "IntByEvent" / "IBE",
    IntBySigDescr = "IntBySigDescr" / "IBS",
    KeepActive = "KeepActive" / "KA",
    Local = "Local" / "L",
    LocalControl = "LocalControl" / "O",
    LockStep = "LockStep" / "SP",
    Loopback = "Loopback" / "LB",
    Media = "Media" / "M",
    Megaco = "MEGACO" / "!",
    Method = "Method" / "MT",
    MgcId = "MgcIdToTry" / "MG",
    Mode = "Mode" / "MO",
    Modem = "Modem" / "MD",
    Modify = "Modify" / "MF",
    Move = "Move" / "MV",
    Mux = "Mux" / "MX",
    Notify = "Notify" / "N",
    NotifyCompletion = "NotifyCompletion" / "NC",
    ObservedEvents = "ObservedEvents" / "OE",
    OnOff = "OnOff" / "OO",
    OtherReason = "OtherReason" / "OR",
    OutOfService = "OutOfService" / "OS",
    Packages = "Packages" / "PG",
    Pending = "Pending" / "PN",
    Priority = "Priority" / "PR",
    Profile = "Profile" / "PF",
    Reason = "Reason" / "RE",
    RecvOnly = "ReceiveOnly" / "RC",
    Reply = "Reply" / "P",
    Restart = "Restart" / "RS",
    Remote = "Remote" / "R",
    ReservedGroup = "ReservedGroup" / "RG",
    ReservedValue = "ReservedValue" / "RV",
    SendOnly = "SendOnly" / "SO",
    SendRecv = "SendReceive" / "SR",
    Services = "Services" / "SV",
    ServiceStates = "ServiceStates" / "SI",
    ServiceChange = "ServiceChange" / "SC",
    ServiceChangeAddress = "ServiceChangeAddress" / "AD",
    SignalList = "SignalList" / "SL",
    Signals = "Signals" / "SG",
    SignalType = "SignalType" / "SY",
    Statistics = "Statistics" / "SA",
    Stream = "Stream" / "ST",
    Subtract = "Subtract" / "S",
    TerminationState = "TerminationState" / "TS",
    Test = "Test" / "TE",
    TimeOut = "TimeOut" / "TO",
    Topology = "Topology" / "TP",
    Transaction = "Transaction" / "T",
    ResponseAck = "TransactionResponseAck" / "K",
    Version = "Version" / "V",
}

impl Kw {
    /// The keyword a word spells, in either form and any case.
    pub(crate) fn lookup(word: &str) -> Option<Kw> {
        Kw::ALL
            .iter()
            .find(|(_, long, short)| {
                word.eq_ignore_ascii_case(long) || word.eq_ignore_ascii_case(short)
            })
            .map(|(kw, _, _)| *kw)
    }

    /// The spelling for `form`.
    pub(crate) fn text(self, form: Form) -> &'static str {
        let (_, long, short) = Kw::ALL[self as usize];
        match form {
            Form::Pretty => long,
            Form::Compact => short,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_enum_order_and_unambiguous() {
        for (i, (kw, long, short)) in Kw::ALL.iter().enumerate() {
            assert_eq!(*kw as usize, i);
            assert_eq!(Kw::lookup(long), Some(*kw), "{long}");
            assert_eq!(Kw::lookup(short), Some(*kw), "{short}");
            assert_eq!(Kw::lookup(&long.to_lowercase()), Some(*kw));
        }
    }
}
