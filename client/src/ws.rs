//! The WebSocket `/api/ws`: open it (ws:// for http://, wss:// for https://, trusting the
//! `--cacert` certificate), and move [`Envelope`]s as JSON text frames. Protocol decisions are
//! not made here but in [`crate::watch`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ivm_wire::object::Envelope;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// How long opening the socket (TCP, TLS, upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong on the socket.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The server URL is not http(s)://.
    #[error("bad server URL {0:?}")]
    BadUrl(String),
    /// Could not open the socket.
    #[error("cannot reach the server at {url}: {cause}")]
    Connect {
        /// The WebSocket URL.
        url: String,
        /// The innermost cause.
        cause: String,
    },
    /// The open socket failed.
    #[error("{0}")]
    Socket(String),
}

/// `http://box:8080` → `ws://box:8080/api/ws`; `https://` → `wss://`.
pub fn ws_url(base: &str) -> Result<String, WsError> {
    let base = base.trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("https://") {
        Ok(format!("wss://{rest}/api/ws"))
    } else if let Some(rest) = base.strip_prefix("http://") {
        Ok(format!("ws://{rest}/api/ws"))
    } else {
        Err(WsError::BadUrl(base.to_owned()))
    }
}

/// One open WebSocket session.
pub struct Connection {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// Opens the socket to the box at `base` (not yet authenticated: send `connect` next).
pub async fn connect(
    base: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Connection, WsError> {
    let url = ws_url(base)?;
    let tls_given = tls.clone();
    let connector = tls.map(Connector::Rustls);
    let fail = |cause: String| WsError::Connect {
        url: base.to_owned(),
        cause,
    };
    let opened = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_tls_with_config(url.as_str(), None, false, connector),
    )
    .await
    .map_err(|_| fail(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))?;
    let (stream, _response) = match opened {
        Ok(ok) => ok,
        Err(e) => return Err(fail(explain(base, tls_given, &e))),
    };
    Ok(Connection { stream })
}

/// The cause of a failed connect in plain words: a refused certificate (see
/// [`crate::diagnose`]; `--cacert` given now is not the one the login was made with), else the
/// innermost error. No scheme probe: the socket's URL comes from a login the box answered over
/// REST, so its scheme already fitted the port.
fn explain(
    base: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
    e: &tokio_tungstenite::tungstenite::Error,
) -> String {
    let host = crate::diagnose::host_of(base);
    match crate::diagnose::certificate(e, tls.is_some(), host) {
        Some(p) => format!("the box sent a certificate {}: {}", p.why, p.advice),
        None => crate::api::root_cause(e),
    }
}

/// A frame from the box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A JSON message object.
    Text(String),
    /// A live talk's portion.
    Binary(Vec<u8>),
}

impl Connection {
    /// Sends one envelope as a text frame.
    pub async fn send(&mut self, envelope: &Envelope) -> Result<(), WsError> {
        self.stream
            .send(Message::Text(envelope.to_text().into()))
            .await
            .map_err(|e| WsError::Socket(crate::api::root_cause(&e)))
    }

    /// Sends one binary frame (a live talk's portion).
    pub async fn send_binary(&mut self, frame: Vec<u8>) -> Result<(), WsError> {
        self.stream
            .send(Message::Binary(frame.into()))
            .await
            .map_err(|e| WsError::Socket(crate::api::root_cause(&e)))
    }

    /// The next text or binary frame (binary frames are live talks' portions); `None` once
    /// the server closed the socket. Cancel-safe.
    pub async fn next_frame(&mut self) -> Option<Result<Frame, WsError>> {
        loop {
            match self.stream.next().await? {
                Ok(Message::Text(t)) => return Some(Ok(Frame::Text(t.as_str().to_owned()))),
                Ok(Message::Binary(b)) => return Some(Ok(Frame::Binary(b.to_vec()))),
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => return Some(Err(WsError::Socket(crate::api::root_cause(&e)))),
            }
        }
    }

    /// The next text frame; `None` once the server closed the socket. WebSocket-level pings
    /// are answered by tungstenite itself; binary frames are not part of the protocol and are
    /// skipped. Cancel-safe: nothing is held between frames.
    pub async fn next_text(&mut self) -> Option<Result<String, WsError>> {
        loop {
            match self.stream.next().await? {
                Ok(Message::Text(t)) => return Some(Ok(t.as_str().to_owned())),
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => return Some(Err(WsError::Socket(crate::api::root_cause(&e)))),
            }
        }
    }

    /// Closes the socket politely (best effort).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.stream.close(None)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_url_follows_the_scheme() {
        assert_eq!(
            ws_url("http://box:8080").expect("ok"),
            "ws://box:8080/api/ws"
        );
        assert_eq!(
            ws_url("https://10.0.0.2/").expect("ok"),
            "wss://10.0.0.2/api/ws"
        );
        assert_eq!(
            ws_url("https://box/ivm").expect("ok"),
            "wss://box/ivm/api/ws"
        );
        assert!(ws_url("box").is_err());
    }
}
