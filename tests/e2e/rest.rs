//! The box's REST API and WebSocket as a raw client sees them (reqwest and
//! tokio-tungstenite, no code shared with `ivm`): log in, open a socket, send a frame, read
//! the next one. Every wait is bounded.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::Server;

/// A WebSocket to the box (plain or TLS).
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `POST /api/login`: the whole answer, whatever its status.
pub async fn login(server: &Server, name: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/login", server.http))
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .expect("login request")
}

/// Logs in (asserted: 200); the whole answer.
pub async fn logged_in(server: &Server, name: &str, password: &str) -> Value {
    let r = login(server, name, password).await;
    assert_eq!(r.status(), 200, "login {name}");
    r.json().await.expect("json")
}

/// Logs in (asserted: 200); the session token.
pub async fn token(server: &Server, name: &str, password: &str) -> String {
    logged_in(server, name, password).await["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// A WebSocket to the box's plain HTTP listener, not logged in.
pub async fn ws(server: &Server) -> Ws {
    let url = format!("{}/api/ws", server.http.replacen("http://", "ws://", 1));
    tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect")
        .0
}

/// Sends `v` as a text frame.
pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send");
}

/// Sends the `connect` frame (id `c`) with `token`.
pub async fn send_connect(ws: &mut Ws, token: &str) {
    send(
        ws,
        json!({"action":"connect","id":"c","object":{"token":token}}),
    )
    .await;
}

/// The next text frame as JSON, skipping the box's pings, within `limit`; `None` when the
/// socket closed.
pub async fn next_within(ws: &mut Ws, limit: Duration) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(limit, ws.next())
            .await
            .unwrap_or_else(|_| panic!("a frame within {limit:?}"));
        match frame {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("server frames are JSON");
                if v["action"] != "ping" {
                    return Some(v);
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// The next text frame (JSON) for which `want` holds, within `limit` in all; others are
/// skipped; the socket ending first fails the test.
pub async fn next_where(ws: &mut Ws, limit: Duration, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("the frame awaited within {limit:?}"));
        match frame {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("server frames are JSON");
                if want(&v) {
                    return v;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("socket ended while waiting: {other:?}"),
        }
    }
}

/// Past the five free failures each one doubles the wait (1 s, 2 s, 4 s ...): repeats the
/// wrong guess `attempt` (at most six times; each answered `checked` or 429) until the box
/// refuses to check for at least two more seconds, and asserts that it came to that.
pub async fn guess_until_banned<F, Fut>(checked: u16, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let mut banned = false;
    for _ in 0..6 {
        let r = attempt().await;
        if r.status() == checked {
            continue;
        }
        assert_eq!(r.status(), 429);
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        if wait >= 2 {
            banned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(banned, "the waits grow");
}

/// The guid of the user called `name`, from `GET /api/users` as the holder of `token` sees it.
pub async fn guid(server: &Server, token: &str, name: &str) -> String {
    let users: Value = reqwest::Client::new()
        .get(format!("{}/api/users", server.http))
        .bearer_auth(token)
        .send()
        .await
        .expect("users")
        .json()
        .await
        .expect("json");
    users
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("no user {name}"))["guid"]
        .as_str()
        .expect("guid")
        .to_owned()
}
