//! The MGCP translator: what the gateway actor asks of an endpoint, as MGCP commands, and
//! what a gateway's commands mean, as protocol-neutral [`Report`]s. The actor never builds
//! or reads an MGCP parameter itself; the MEGACO translator (`megaco.rs`) sits beside this
//! one with the same two shapes ([`Request`] out, [`Report`] in, `seam.rs`).

use ivm_mgcp::endpoint::EndpointName;
use ivm_mgcp::event::{parse_names, EventName};
use ivm_mgcp::message::{Command, Verb};

pub use super::seam::{Report, Request};

/// The digit map given to every line: `*97`; anything else ends with `#` or the inter-digit
/// timer (extensions are 2 to 8 digits, `*7` takes several recipients).
pub const DIGIT_MAP: &str = "(*97|[*0-9].#|[*0-9].T)";

/// The command for `req` toward `endpoint`; `request_id` names a notification request.
pub fn command(endpoint: &EndpointName, req: &Request, request_id: u32) -> Command {
    let rqnt = |r: &str, s: &str, map: bool| {
        let mut c = Command::new(Verb::Rqnt, endpoint.clone());
        set(&mut c, "X", format!("{request_id:x}"));
        set(&mut c, "R", r.to_owned());
        if !s.is_empty() {
            set(&mut c, "S", s.to_owned());
        }
        if map {
            set(&mut c, "D", DIGIT_MAP.to_owned());
        }
        c
    };
    match req {
        Request::WaitOffHook { lamp } => {
            let s = match lamp {
                Some(true) => "L/vmwi(+)",
                Some(false) => "L/vmwi(-)",
                None => "",
            };
            let mut c = rqnt("L/hd(N)", s, false);
            if s.is_empty() {
                set(&mut c, "S", String::new());
            }
            c
        }
        Request::CollectDigits { lamp } => rqnt(
            "L/hu(N),L/hf(N),D/[0-9#*T](D)",
            if *lamp { "L/sl" } else { "L/dl" },
            true,
        ),
        Request::InCall => {
            let mut c = rqnt("L/hu(N),L/hf(N),D/[0-9#*](N)", "", false);
            set(&mut c, "S", String::new());
            c
        }
        Request::Busy => rqnt("L/hu(N)", "L/bz", false),
        Request::Ring { number, name } => {
            let ci = format!("L/ci(,{},\"{}\")", clean(number), clean(name));
            rqnt("L/hd(N)", &format!("L/rg,{ci}"), false)
        }
        Request::Audit => {
            let mut c = Command::new(Verb::Auep, endpoint.clone());
            set(&mut c, "F", "R,S,ES".into());
            c
        }
        Request::Connect { call_id, sdp } => {
            let mut c = Command::new(Verb::Crcx, endpoint.clone());
            set(&mut c, "C", call_id.clone());
            set(&mut c, "L", "p:20, a:PCMU;PCMA".into());
            set(&mut c, "M", "sendrecv".into());
            c.body = Some(sdp.trim_end().replace("\r\n", "\n").replace('\n', "\r\n"));
            c
        }
        Request::Disconnect {
            call_id,
            connection,
        } => {
            let mut c = Command::new(Verb::Dlcx, endpoint.clone());
            set(&mut c, "C", call_id.clone());
            set(&mut c, "I", connection.clone());
            c
        }
    }
}

fn set(c: &mut Command, name: &str, value: String) {
    // The names are fixed and few: the only refusal (too many parameters) cannot happen.
    let _ = c.params.set(name, value);
}

/// Names and numbers go inside `L/ci(...)`: no quotes, parentheses or commas.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '"' | '(' | ')' | ',' | '\r' | '\n'))
        .take(32)
        .collect()
}

/// What a gateway's command reports, in order. A command the actor does not act on
/// (EPCF, CRCX from a gateway...) reports nothing and is answered by the caller.
pub fn reports(cmd: &Command) -> Result<Vec<Report>, ivm_mgcp::event::EventError> {
    match cmd.verb {
        Verb::Rsip => {
            let method = cmd
                .params
                .get("RM")
                .unwrap_or("restart")
                .to_ascii_lowercase();
            Ok(vec![match method.as_str() {
                "graceful" | "forced" => Report::OutOfService,
                _ => Report::Restarted,
            }])
        }
        Verb::Ntfy => {
            let observed = cmd.params.get("O").unwrap_or("");
            let events = parse_names(observed)?;
            Ok(events_to_reports(&events))
        }
        _ => Ok(Vec::new()),
    }
}

fn events_to_reports(events: &[EventName]) -> Vec<Report> {
    let mut out = Vec::new();
    let mut digits = String::new();
    for e in events {
        if let Some(d) = e.digit() {
            digits.push(d);
            continue;
        }
        if !digits.is_empty() {
            out.push(Report::Digits(std::mem::take(&mut digits)));
        }
        if e.is("L", "hd") {
            out.push(Report::OffHook);
        } else if e.is("L", "hu") {
            out.push(Report::OnHook);
        } else if e.is("L", "hf") {
            out.push(Report::Flash);
        }
    }
    if !digits.is_empty() {
        out.push(Report::Digits(digits));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivm_mgcp::message::{decode, Message};

    fn ep() -> EndpointName {
        EndpointName::parse("aaln/1@[127.0.0.1]").expect("name")
    }

    #[test]
    fn the_digit_map_parses_and_takes_the_keypad_codes() {
        use ivm_mgcp::digitmap::{DigitMap, Outcome};
        let map = DigitMap::parse(DIGIT_MAP).expect("map");
        assert!(matches!(map.check("*7202#"), Outcome::Complete));
        assert!(!matches!(map.check("*7202"), Outcome::NoMatch));
    }

    #[test]
    fn commands_encode_and_decode() {
        for req in [
            Request::WaitOffHook { lamp: Some(true) },
            Request::WaitOffHook { lamp: None },
            Request::CollectDigits { lamp: false },
            Request::InCall,
            Request::Busy,
            Request::Ring {
                number: "201".into(),
                name: "Ann \"A\"".into(),
            },
            Request::Audit,
            Request::Connect {
                call_id: "c1".into(),
                sdp: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n".into(),
            },
        ] {
            let mut c = command(&ep(), &req, 7);
            c.id = 1;
            let bytes = Message::Command(c.clone()).encode();
            let back = decode(&bytes).expect("decodes");
            assert_eq!(back, vec![Message::Command(c)], "{req:?}");
        }
        let mut ring = command(
            &ep(),
            &Request::Ring {
                number: "201".into(),
                name: "Ann".into(),
            },
            1,
        );
        ring.id = 2;
        let s = ring.params.signal_requests().expect("S").expect("parses");
        assert!(s.iter().any(|e| e.is("L", "rg")));
        assert!(s.iter().any(|e| e.is("L", "ci")));
    }

    #[test]
    fn notifications_become_reports() {
        let m = decode(b"NTFY 5 aaln/1@gw MGCP 1.0\r\nX: 1\r\nO: L/hd\r\n").expect("ntfy");
        let Message::Command(c) = &m[0] else { panic!() };
        assert_eq!(reports(c).expect("ok"), vec![Report::OffHook]);
        let m = decode(b"NTFY 6 aaln/1@gw MGCP 1.0\r\nX: 1\r\nO: D/*,D/7,D/2,D/0,D/2,D/#,L/hu\r\n")
            .expect("ntfy");
        let Message::Command(c) = &m[0] else { panic!() };
        assert_eq!(
            reports(c).expect("ok"),
            vec![Report::Digits("*7202#".into()), Report::OnHook]
        );
        let m = decode(b"RSIP 7 aaln/*@gw MGCP 1.0\r\nRM: graceful\r\n").expect("rsip");
        let Message::Command(c) = &m[0] else { panic!() };
        assert_eq!(reports(c).expect("ok"), vec![Report::OutOfService]);
    }
}
