//! Transaction matching keys (RFC 3261 §17.1.3, §17.2.3).
//!
//! Server side: with an RFC 3261 branch, the key is branch + sent-by + method, where ACK
//! counts as INVITE (so the ACK for a non-2xx final response finds its INVITE) and CANCEL
//! keeps its own method (so it forms its own transaction). Without the magic cookie (RFC 2543
//! peers, RFC 4475 `badbranch`) the key falls back to Call-ID, From tag, CSeq number and the
//! whole top Via. Client side: our own branch (always unique) + CSeq method.

use crate::message::{Method, Request, Via};

/// A key in the layer's index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TxKey {
    /// Server transaction, RFC 3261 branch.
    Server {
        branch: String,
        sent_by: String,
        method: Method,
    },
    /// Server transaction, RFC 2543 peer.
    Legacy {
        call_id: String,
        from_tag: String,
        cseq: u32,
        via: String,
        method: Method,
    },
    /// Client transaction.
    Client { branch: String, method: Method },
}

fn server_method(m: &Method) -> Method {
    if *m == Method::Ack {
        Method::Invite
    } else {
        m.clone()
    }
}

impl TxKey {
    /// The server key of a validated request whose top Via is `via`, as if its method were
    /// `method` (pass the request's own method, or INVITE to find the target of a CANCEL).
    pub(crate) fn server(req: &Request, via: &Via, method: &Method) -> TxKey {
        let method = server_method(method);
        if via.has_rfc3261_branch() {
            return TxKey::Server {
                branch: via.branch().unwrap_or_default(),
                sent_by: via.sent_by.to_string().to_ascii_lowercase(),
                method,
            };
        }
        TxKey::Legacy {
            call_id: req.headers.call_id().unwrap_or_default().to_owned(),
            from_tag: req
                .headers
                .from()
                .ok()
                .and_then(|f| f.tag())
                .unwrap_or_default(),
            cseq: req.headers.cseq().map(|c| c.seq).unwrap_or_default(),
            via: via.to_string(),
            method,
        }
    }
}
