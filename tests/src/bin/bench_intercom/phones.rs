//! The phone fan-out row: desk phones played by this process, one SIP socket and one RTP
//! socket each on loopback, as a plain SIP phone behaves toward the box's defaults: REGISTER
//! with digest (SHA-256 when the box offers it, else MD5), answer the box's auto-answer INVITE
//! for a talk with 200 and a PCMU offer, take its ACK, receive the talk's RTP, answer its BYE
//! (and any other request, e.g. a message-waiting NOTIFY) with 200.
//!
//! The box sends a phone RTP only while it has talk audio queued (no packet before the talk,
//! one 160-sample packet per decoded 20 ms portion, then the closing tone), so the RTP packet
//! whose sequence number is `first + n` (mod 2^16, `first` being the first packet the phone
//! got) carries portion `n`; packets past the last portion are the closing tone and are not
//! counted. A portion the box dropped before packetizing would shift this mapping (and show
//! as a loss at the end): over loopback with the box's bounded queues none is expected, and
//! the lost column shows it if one was.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use ivm_sip::auth::{ha1, response, Algorithm};
use ivm_sip::message::{Message, Method, Response};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// A phone's account, as `ivmd user show` prints it.
#[derive(Debug, Clone)]
pub struct Account {
    /// Login name (for its user's guid).
    pub login: String,
    /// Digest user name.
    pub sip_user: String,
    /// Digest password.
    pub sip_password: String,
}

/// Reads `login sip_user sip_password` lines (the script writes them).
pub fn accounts(path: &std::path::Path) -> Result<Vec<Account>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next(), w.next()) {
                (Some(a), Some(b), Some(c)) => Ok(Account {
                    login: a.to_owned(),
                    sip_user: b.to_owned(),
                    sip_password: c.to_owned(),
                }),
                _ => bail!("bad phones line {l:?}"),
            }
        })
        .collect()
}

/// A registered phone.
pub struct Phone {
    user: String,
    sip: UdpSocket,
    rtp: UdpSocket,
}

fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The first final response for `call_id` within 5 s; other messages are dropped.
async fn final_for(sock: &UdpSocket, call_id: &str) -> Result<Response> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 65_535];
    loop {
        let n = tokio::time::timeout_at(deadline, sock.recv(&mut buf))
            .await
            .map_err(|_| anyhow!("no answer to REGISTER"))??;
        if let Ok(Message::Response(r)) = Message::parse(&buf[..n]) {
            if r.status >= 200 && r.headers.call_id().ok() == Some(call_id) {
                return Ok(r);
            }
        }
    }
}

impl Phone {
    /// Binds the sockets and REGISTERs `account` with the box at `registrar`.
    pub async fn register(account: &Account, registrar: SocketAddr) -> Result<Phone> {
        let sip = UdpSocket::bind("127.0.0.1:0").await?;
        sip.connect(registrar).await?;
        let rtp = UdpSocket::bind("127.0.0.1:0").await?;
        let local = sip.local_addr()?;
        let user = &account.sip_user;
        let (call_id, tag, uri) = (token(), token(), format!("sip:{registrar}"));
        let request = |cseq: u32, auth: &str| {
            format!(
                "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{b};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{user}@ivm>;tag={tag}\r\nTo: <sip:{user}@ivm>\r\n\
                 Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{local}>\r\n\
                 Expires: 300\r\n{auth}Content-Length: 0\r\n\r\n",
                b = token()
            )
        };
        sip.send(request(1, "").as_bytes()).await?;
        let ch = final_for(&sip, &call_id).await?;
        if ch.status != 401 {
            bail!("REGISTER {user}: {} instead of a challenge", ch.status);
        }
        let offered = ch.headers.www_authenticate().map_err(|e| anyhow!("{e}"))?;
        let pick = |alg: Algorithm| {
            offered
                .iter()
                .find(|c| Algorithm::parse(c.get("algorithm")) == Some(alg))
        };
        let (alg, c) = match (pick(Algorithm::Sha256), pick(Algorithm::Md5)) {
            (Some(c), _) => (Algorithm::Sha256, c),
            (None, Some(c)) => (Algorithm::Md5, c),
            _ => bail!("no SHA-256 or MD5 challenge"),
        };
        let realm = c.get("realm").context("realm")?;
        let nonce = c.get("nonce").context("nonce")?;
        let cnonce = token();
        let r = response(
            alg,
            &ha1(alg, user, realm, &account.sip_password),
            nonce,
            Some(("00000001", &cnonce, "auth")),
            "REGISTER",
            &uri,
        );
        let auth = format!(
            "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", \
             uri=\"{uri}\", response=\"{r}\", algorithm={}, qop=auth, nc=00000001, \
             cnonce=\"{cnonce}\"\r\n",
            alg.as_str()
        );
        sip.send(request(2, &auth).as_bytes()).await?;
        let ok = final_for(&sip, &call_id).await?;
        if ok.status != 200 {
            bail!("REGISTER {user} ({}): {}", alg.as_str(), ok.status);
        }
        Ok(Phone {
            user: user.clone(),
            sip,
            rtp,
        })
    }

    /// Answers the box's calls until a BYE or `limit`, telling `answered` at each call's
    /// ACK; returns each RTP packet's (sequence number, arrival).
    pub async fn answer(
        self,
        limit: Duration,
        answered: mpsc::Sender<()>,
    ) -> Result<Vec<(u16, Instant)>> {
        let deadline = tokio::time::Instant::now() + limit;
        let rtp_port = self.rtp.local_addr()?.port();
        let local = self.sip.local_addr()?;
        let mut got = Vec::new();
        let mut tags: HashMap<String, String> = HashMap::new();
        let mut sip_buf = vec![0u8; 65_535];
        let mut rtp_buf = vec![0u8; 2048];
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                r = self.rtp.recv(&mut rtp_buf) => {
                    let n = r?;
                    let at = Instant::now();
                    if n >= 12 && rtp_buf[0] >> 6 == 2 {
                        got.push((u16::from_be_bytes([rtp_buf[2], rtp_buf[3]]), at));
                    }
                }
                r = self.sip.recv(&mut sip_buf) => {
                    let n = r?;
                    let Ok(Message::Request(req)) = Message::parse(&sip_buf[..n]) else {
                        continue;
                    };
                    let call = req.headers.call_id().unwrap_or_default().to_owned();
                    match req.method {
                        Method::Ack => {
                            let _ = answered.try_send(());
                        }
                        Method::Invite => {
                            let tag = tags.entry(call).or_insert_with(token);
                            let mut ok = req.make_response(200, Some(tag));
                            ok.headers.push("Contact", format!("<sip:{}@{local}>", self.user));
                            ok.headers.push("Content-Type", "application/sdp");
                            ok.body = super::sdp(rtp_port).into_bytes();
                            self.sip.send(&ok.encode()).await?;
                        }
                        Method::Bye => {
                            self.sip.send(&req.make_response(200, None).encode()).await?;
                            break;
                        }
                        _ => {
                            self.sip.send(&req.make_response(200, None).encode()).await?;
                        }
                    }
                }
            }
        }
        Ok(got)
    }
}

/// Latencies of one phone's packets against the portions' departures (see the module doc).
pub fn latencies(got: &[(u16, Instant)], sent: &[Option<Instant>]) -> Vec<u64> {
    let Some(&(first, _)) = got.first() else {
        return Vec::new();
    };
    let mut seen = vec![false; sent.len()];
    let mut lat = Vec::with_capacity(got.len());
    for &(seq, at) in got {
        let n = usize::from(seq.wrapping_sub(first));
        if let (Some(false), Some(Some(s))) = (seen.get(n).copied(), sent.get(n)) {
            seen[n] = true;
            lat.push(at.saturating_duration_since(*s).as_micros() as u64);
        }
    }
    lat
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packet `first + n` is portion `n` across the 16-bit wrap; a repeated packet counts
    /// once; packets past the last portion (the closing tone) are not counted.
    #[test]
    fn packets_map_to_portions_by_sequence_order() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let sent: Vec<Option<Instant>> = (0..3).map(|i| Some(ms(20 * i))).collect();
        let got = [
            (65_535, ms(1)),
            (0, ms(22)),
            (0, ms(23)),
            (1, ms(45)),
            (2, ms(60)),
        ];
        assert_eq!(latencies(&got, &sent), vec![1_000, 2_000, 5_000]);
        assert!(latencies(&[], &sent).is_empty());
    }

    #[test]
    fn accounts_file_lines() {
        let dir = std::env::temp_dir().join(format!("bench-phones-{}", token()));
        std::fs::write(&dir, "bphone000 27000 pw0\n\nbphone001 27001 pw1\n").expect("write");
        let a = accounts(&dir).expect("two accounts");
        assert_eq!(a.len(), 2);
        assert_eq!(
            (&*a[1].login, &*a[1].sip_user, &*a[1].sip_password),
            ("bphone001", "27001", "pw1")
        );
        std::fs::write(&dir, "bphone000 27000\n").expect("write");
        assert!(accounts(&dir).is_err());
        std::fs::remove_file(&dir).expect("remove");
    }
}
