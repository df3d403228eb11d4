//! The phone fan-out row: desk phones played by this process, one SIP socket and one RTP
//! socket each on loopback, as a plain SIP phone behaves toward the box's defaults: REGISTER
//! with digest (SHA-256 when the box offers it, else MD5), answer the box's auto-answer INVITE
//! for a talk with 200 and a PCMU offer, take its ACK, receive the talk's RTP, answer its BYE
//! (and any other request, e.g. a message-waiting NOTIFY) with 200.
//!
//! The box sends a phone RTP only while it has talk audio queued (no packet before the talk,
//! one 160-sample packet per decoded 20 ms portion, then the closing tone). It may drop the
//! oldest portions of a standing backlog (live audio is kept near real time), so sequence
//! numbers do not say which portion a packet carries: portion `n` is a tone at
//! [`tone_hz`]`(n % TONES)`, and a packet is portion `n`, the first after the previous
//! packet's portion with its tone (the first packet's portion being its tone's index).
//! Packets with none of the tones (the closing tone) or past the last portion are not
//! counted; a dropped portion shows in the lost column.

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
    /// ACK; returns each RTP packet's (tone, arrival).
    pub async fn answer(
        self,
        limit: Duration,
        answered: mpsc::Sender<()>,
    ) -> Result<Vec<(Option<usize>, Instant)>> {
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
                        got.push((tone_of(&rtp_buf[12..n]), at));
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

/// How many tones the portions cycle through: more than the box ever drops in a row.
pub const TONES: usize = 8;

/// The tone of portion `n % TONES`: 400 Hz steps, all within G.711's band.
pub fn tone_hz(k: usize) -> f32 {
    400.0 * (k + 1) as f32
}

/// G.711 mu-law to linear (ITU-T G.711).
fn ulaw(b: u8) -> f32 {
    let b = !b;
    let t = ((i32::from(b & 0x0f) << 3) + 0x84) << ((b & 0x70) >> 4);
    (if b & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as f32
}

/// Which of the portions' tones a PCMU payload carries (Goertzel power at each): the
/// strongest, if it has at least twice the power of the next (the codecs' delay puts a few
/// ms of the previous portion's tone in each packet).
fn tone_of(payload: &[u8]) -> Option<usize> {
    let pcm: Vec<f32> = payload.iter().map(|&b| ulaw(b)).collect();
    let mut power: Vec<(f32, usize)> = (0..TONES)
        .map(|k| {
            let w = 2.0 * std::f32::consts::PI * tone_hz(k) / 8_000.0;
            let (mut s1, mut s2) = (0f32, 0f32);
            for &x in &pcm {
                let s0 = x + 2.0 * w.cos() * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2, k)
        })
        .collect();
    power.sort_by(|a, b| b.0.total_cmp(&a.0));
    (power[0].0 > 2.0 * power[1].0 && power[0].0 > 0.0).then_some(power[0].1)
}

/// Latencies of one phone's packets against the portions' departures (see the module doc).
pub fn latencies(got: &[(Option<usize>, Instant)], sent: &[Option<Instant>]) -> Vec<u64> {
    let mut next = 0usize;
    let mut lat = Vec::with_capacity(got.len());
    for &(tone, at) in got {
        let Some(k) = tone else { continue };
        // The first portion at or after `next` with this tone.
        let n = next + (k + TONES - next % TONES) % TONES;
        next = n + 1;
        if let Some(Some(s)) = sent.get(n) {
            lat.push(at.saturating_duration_since(*s).as_micros() as u64);
        }
    }
    lat
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet is the next portion with its tone: a dropped portion is skipped (and not
    /// counted), packets without a tone (the closing tone) are not counted.
    #[test]
    fn packets_map_to_portions_by_tone() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let sent: Vec<Option<Instant>> = (0..12).map(|i| Some(ms(20 * i))).collect();
        let got = [
            (Some(0), ms(1)),
            (Some(1), ms(22)),
            (Some(3), ms(63)),  // portion 2 dropped
            (Some(1), ms(185)), // portion 9
            (None, ms(200)),
            (Some(5), ms(250)), // portion 13: past the last
        ];
        assert_eq!(latencies(&got, &sent), vec![1_000, 2_000, 3_000, 5_000]);
        assert!(latencies(&[], &sent).is_empty());
    }

    /// What a portion's tone looks like after G.711 is recognised; silence is no tone.
    #[test]
    fn tones_survive_mu_law() {
        for k in 0..TONES {
            let payload: Vec<u8> = (0..160)
                .map(|i| {
                    let x = 8_000.0
                        * (2.0 * std::f32::consts::PI * tone_hz(k) * i as f32 / 8_000.0).sin();
                    mulaw_encode(x as i16)
                })
                .collect();
            assert_eq!(tone_of(&payload), Some(k));
        }
        assert_eq!(tone_of(&[0xff; 160]), None);
    }

    fn mulaw_encode(x: i16) -> u8 {
        let sign = if x < 0 { 0x80 } else { 0 };
        let mut m = i32::from(x).abs().min(32_635) + 0x84;
        let mut exp = 7;
        while exp > 0 && m & 0x4000 == 0 {
            m <<= 1;
            exp -= 1;
        }
        let mant = (m >> 10) & 0x0f;
        !(sign | (exp << 4) as u8 | mant as u8)
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
