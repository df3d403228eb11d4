//! The REST client: one method per endpoint of `/api`, JSON in and out, bearer token.
//!
//! Every 4xx/5xx answer carries an [`ErrorBody`]; [`ApiError`] keeps the cases a person acts on
//! differently apart (server unreachable, wrong password, unknown recipient, session expired)
//! so that [`crate::exit`] can give each its own line and exit code.

use std::sync::Arc;
use std::time::Duration;

use ivm_wire::rest::{
    AddContact, CallRecord, CallSettingsView, ChangePassword, Contact, ErrorBody, LoginRequest,
    LoginResponse, MessageInfo, PatchCallSettings, SetStatus, UserInfo, PAGE_MAX,
};
use ivm_wire::{Guid, Status};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

/// What went wrong talking to the box.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server URL is not http(s)://...
    #[error("bad server URL {0:?}: it must start with http:// or https://")]
    BadUrl(String),
    /// No connection, TLS refused, or the connection broke.
    #[error("cannot reach the server at {url}: {cause}")]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// The innermost cause (e.g. "Connection refused (os error 111)").
        cause: String,
    },
    /// The URL says `http://` and the port speaks TLS, or the other way round.
    #[error("cannot talk to the box at {url}: {advice}")]
    WrongScheme {
        /// The server's base URL as given.
        url: String,
        /// What to use instead, from [`crate::diagnose::scheme_advice`].
        advice: String,
    },
    /// The box's TLS certificate was refused.
    #[error("the box at {url} sent a certificate {}: {}", .problem.why, .problem.advice)]
    Untrusted {
        /// The server's base URL.
        url: String,
        /// What was wrong and what to do.
        problem: crate::diagnose::CertificateProblem,
    },
    /// The box closed the connection while the request was being sent.
    #[error("the box at {url} closed the connection during the request: {cause}")]
    Cut {
        /// The server's base URL.
        url: String,
        /// The innermost cause.
        cause: String,
    },
    /// The box closed the connection during an upload: with a large message, most likely
    /// its size limit (its 413 answer lost to the connection reset).
    #[error(
        "the box closed the connection during the upload ({cause}); this message is {}: if \
         that is over the box's `[limits] max_upload_bytes`, send less",
        sizes_text(sizes)
    )]
    UploadCut {
        /// The innermost cause.
        cause: String,
        /// What `ivm` was sending.
        sizes: UploadSizes,
    },
    /// 413: the message is over the box's upload size limit.
    #[error("{}", too_large_text(message, sizes))]
    TooLarge {
        /// The server's message.
        message: String,
        /// What `ivm` sent, when the request was an upload.
        sizes: Option<UploadSizes>,
    },
    /// `POST /api/login` answered 401.
    #[error("login refused: wrong user name or password")]
    LoginRefused,
    /// Any other 401: the token is unknown or expired.
    #[error("the server refused the session ({0}); run `ivm login` again")]
    Unauthorized(String),
    /// 403 `password change required`: the password in use was set for this user by someone
    /// else and works once.
    #[error("{PASSWORD_CHANGE_REQUIRED}")]
    PasswordChangeRequired,
    /// 403 `wrong_password` from `PUT /api/me/password`.
    #[error("the current password is wrong")]
    WrongPassword,
    /// `unknown_user`: a recipient or contact the box does not know.
    #[error("{}", unknown_text(role, name.as_deref(), message))]
    UnknownUser {
        /// "recipient" or "user", for the message.
        role: &'static str,
        /// The name, when it could be told.
        name: Option<String>,
        /// The server's message.
        message: String,
    },
    /// 404 for something other than a user.
    #[error("{0}")]
    NotFound(String),
    /// 429: too many attempts.
    #[error("{message}{}", .retry_after.map(|s| format!(" (try again in {s} s)")).unwrap_or_default())]
    RateLimited {
        /// The server's message.
        message: String,
        /// Seconds from `Retry-After`.
        retry_after: Option<u64>,
    },
    /// Any other error answer.
    #[error("{message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The machine-readable reason.
        error: String,
        /// The server's message.
        message: String,
    },
    /// The answer could not be understood.
    #[error("unexpected answer from the server for {what}: {cause}")]
    BadResponse {
        /// Which request.
        what: String,
        /// What was wrong.
        cause: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

impl ApiError {
    /// The same error, naming the thing the user looked for as a `role` ("recipient", "user").
    pub fn unknown_as(self, role: &'static str, only_name: Option<&str>) -> Self {
        match self {
            ApiError::UnknownUser { name, message, .. } => ApiError::UnknownUser {
                role,
                name: name.or_else(|| only_name.map(str::to_owned)),
                message,
            },
            other => other,
        }
    }
}

/// What every `ivm` command says when the box wants a new password first.
pub const PASSWORD_CHANGE_REQUIRED: &str =
    "the box asks you to set a new password first: run `ivm passwd`";

/// The sizes of what an upload carried, for the message when the box refuses it as too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadSizes {
    /// Bytes of audio (the Ogg Opus file).
    pub audio: u64,
    /// Bytes of all attachments together.
    pub attachments: u64,
    /// How many attachments.
    pub attachment_count: usize,
}

fn too_large_text(message: &str, sizes: &Option<UploadSizes>) -> String {
    let mut text = message.to_owned();
    if let Some(s) = sizes {
        text.push_str(&format!(" (this message: {})", sizes_text(s)));
    }
    if !message.contains("max_upload_bytes") {
        text.push_str("; the limit is the box's `[limits] max_upload_bytes`");
    }
    text
}

/// `26.9 MiB in all, 900 KiB of Ogg Opus audio and 26.0 MiB in 1 attachment`.
fn sizes_text(s: &UploadSizes) -> String {
    let files = match s.attachment_count {
        0 => String::new(),
        1 => format!(" and {} in 1 attachment", mib(s.attachments)),
        n => format!(" and {} in {n} attachments", mib(s.attachments)),
    };
    format!(
        "{} in all, {} of Ogg Opus audio{files}",
        mib(s.audio + s.attachments),
        mib(s.audio)
    )
}

/// Bytes for people: `27.3 MiB`, `812 KiB`, `90 bytes`.
fn mib(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= KIB {
        format!("{} KiB", bytes.div_ceil(KIB))
    } else {
        format!("{bytes} bytes")
    }
}

/// A file to upload.
#[derive(Debug, Clone)]
pub struct Upload {
    /// File name sent in the part's `Content-Disposition`.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// The REST client for one box. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// `http(s)://host[:port][/prefix]` without a trailing slash; anything else is refused.
pub fn normalize_server(server: &str) -> Result<String, ApiError> {
    let s = server.trim().trim_end_matches('/');
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(s.to_owned()),
        _ => Err(ApiError::BadUrl(server.to_owned())),
    }
}

fn unknown_text(role: &str, name: Option<&str>, message: &str) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(n) => format!("unknown {role} {n:?}"),
        // The server's own words ("unknown recipient \"bob\"" is what ivmd says); only when
        // it said nothing useful, a generic line.
        None if !message.trim().is_empty() => message.to_owned(),
        None => format!("unknown {role}"),
    }
}

/// The first `"..."`-quoted part of a server message: the offending name, by convention.
fn quoted(message: &str) -> Option<String> {
    let start = message.find('"')? + 1;
    let len = message[start..].find('"')?;
    Some(message[start..start + len].to_owned()).filter(|s| !s.is_empty())
}

/// The innermost cause of an error: "Connection refused (os error 111)" rather than
/// "error sending request for url (...)".
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

impl Api {
    /// A client for `server`, trusting `tls` (from `--cacert`) when given.
    pub fn new(server: &str, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Self, ApiError> {
        let base = normalize_server(server)?;
        let mut builder = reqwest::Client::builder()
            .user_agent(crate::CLIENT_NAME)
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120));
        if let Some(cfg) = &tls {
            builder = builder.use_preconfigured_tls((**cfg).clone());
        }
        let http = builder
            .build()
            .map_err(|e| ApiError::Client(root_cause(&e)))?;
        Ok(Api {
            http,
            base,
            token: None,
            tls,
        })
    }

    /// The same client using `token` for `Authorization: Bearer`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The token in use, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The server's base URL (no trailing slash).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The TLS configuration from `--cacert`, for the WebSocket.
    pub fn tls(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.tls.clone()
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> ApiError {
        ApiError::Unreachable {
            url: self.base.clone(),
            cause: root_cause(&e),
        }
    }

    /// Sends `rb`; an error answer becomes the matching [`ApiError`].
    async fn send(&self, rb: RequestBuilder) -> Result<Response, ApiError> {
        let resp = match rb.send().await {
            Ok(resp) => resp,
            Err(e) => return Err(self.not_sent(e).await),
        };
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(self.error_from(resp).await)
    }

    /// A request that got no answer: the certificate refused, the wrong scheme for the port
    /// (asked once in the other scheme to be sure), or the box out of reach.
    async fn not_sent(&self, e: reqwest::Error) -> ApiError {
        let cacert = self.tls.is_some();
        let host = crate::diagnose::host_of(&self.base);
        if let Some(problem) = crate::diagnose::certificate(&e, cacert, host) {
            return ApiError::Untrusted {
                url: self.base.clone(),
                problem,
            };
        }
        if crate::diagnose::worth_probing(&e) {
            if let Some(right) = crate::diagnose::wrong_scheme(&self.base, self.tls.clone()).await {
                return ApiError::WrongScheme {
                    url: self.base.clone(),
                    advice: crate::diagnose::scheme_advice(&right, cacert),
                };
            }
        }
        if crate::diagnose::connection_cut(&e) {
            return ApiError::Cut {
                url: self.base.clone(),
                cause: root_cause(&e),
            };
        }
        self.unreachable(e)
    }

    async fn error_from(&self, resp: Response) -> ApiError {
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = resp.bytes().await.unwrap_or_default();
        let ErrorBody { error, message } =
            serde_json::from_slice(&body).unwrap_or_else(|_| ErrorBody {
                error: String::new(),
                message: format!(
                    "the server answered {status}{}",
                    match String::from_utf8_lossy(&body).trim() {
                        "" => String::new(),
                        text => format!(": {}", text.chars().take(200).collect::<String>()),
                    }
                ),
            });
        classify(status, error, message, retry_after)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        rb: RequestBuilder,
        what: &str,
    ) -> Result<T, ApiError> {
        let resp = self.send(rb).await?;
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::BadResponse {
            what: what.to_owned(),
            cause: e.to_string(),
        })
    }

    async fn empty(&self, rb: RequestBuilder) -> Result<(), ApiError> {
        self.send(rb).await.map(drop)
    }

    async fn bytes(&self, rb: RequestBuilder) -> Result<Vec<u8>, ApiError> {
        let resp = self.send(rb).await?;
        Ok(resp
            .bytes()
            .await
            .map_err(|e| self.unreachable(e))?
            .to_vec())
    }

    /// `POST /api/login`. A 401 is [`ApiError::LoginRefused`].
    pub async fn login(&self, name: &str, password: &str) -> Result<LoginResponse, ApiError> {
        let body = LoginRequest {
            name: name.to_owned(),
            password: password.to_owned(),
        };
        let rb = self
            .http
            .post(format!("{}/api/login", self.base))
            .json(&body);
        match self.json(rb, "login").await {
            Err(ApiError::Unauthorized(_)) => Err(ApiError::LoginRefused),
            other => other,
        }
    }

    /// `POST /api/logout`: the token stops working.
    pub async fn logout(&self) -> Result<(), ApiError> {
        self.empty(self.request(Method::POST, "/api/logout")).await
    }

    /// `GET /api/me`.
    pub async fn me(&self) -> Result<UserInfo, ApiError> {
        self.json(self.request(Method::GET, "/api/me"), "/api/me")
            .await
    }

    /// `PUT /api/me/password`: change my own password (my other sessions end, this one stays).
    pub async fn change_password(&self, current: &str, new: &str) -> Result<(), ApiError> {
        self.empty(
            self.request(Method::PUT, "/api/me/password")
                .json(&ChangePassword {
                    current_password: current.to_owned(),
                    new_password: new.to_owned(),
                }),
        )
        .await
    }

    /// `PUT /api/me/status`.
    pub async fn set_status(&self, status: Status) -> Result<(), ApiError> {
        self.empty(
            self.request(Method::PUT, "/api/me/status")
                .json(&SetStatus { status }),
        )
        .await
    }

    /// `GET /api/me/settings`: my forwards, message taking and do-not-disturb.
    pub async fn settings(&self) -> Result<CallSettingsView, ApiError> {
        self.json(
            self.request(Method::GET, "/api/me/settings"),
            "/api/me/settings",
        )
        .await
    }

    /// `GET /api/me/calls`: my call history, newest first.
    pub async fn calls(&self) -> Result<Vec<CallRecord>, ApiError> {
        self.json(self.request(Method::GET, "/api/me/calls"), "/api/me/calls")
            .await
    }

    /// `PATCH /api/me/settings`: changes the fields given; the settings after.
    pub async fn patch_settings(
        &self,
        patch: &PatchCallSettings,
    ) -> Result<CallSettingsView, ApiError> {
        self.json(
            self.request(Method::PATCH, "/api/me/settings").json(patch),
            "/api/me/settings",
        )
        .await
    }

    /// `GET /api/contacts`: my contacts with live presence.
    pub async fn contacts(&self) -> Result<Vec<Contact>, ApiError> {
        self.json(self.request(Method::GET, "/api/contacts"), "/api/contacts")
            .await
    }

    /// `POST /api/contacts`: add by name, extension or GUID.
    pub async fn add_contact(&self, user: &str) -> Result<Contact, ApiError> {
        let rb = self
            .request(Method::POST, "/api/contacts")
            .json(&AddContact {
                user: user.to_owned(),
            });
        self.json(rb, "/api/contacts")
            .await
            .map_err(|e| e.unknown_as("user", Some(user)))
    }

    /// `DELETE /api/contacts/{guid}`.
    pub async fn remove_contact(&self, guid: Guid) -> Result<(), ApiError> {
        self.empty(self.request(Method::DELETE, &format!("/api/contacts/{guid}")))
            .await
    }

    /// `GET /api/users`: the directory.
    pub async fn users(&self) -> Result<Vec<Contact>, ApiError> {
        self.json(self.request(Method::GET, "/api/users"), "/api/users")
            .await
    }

    /// `POST /api/messages` (multipart): `to` once per recipient, `audio`, `attachment`s.
    pub async fn send_message(
        &self,
        to: &[String],
        audio: Upload,
        attachments: Vec<Upload>,
    ) -> Result<MessageInfo, ApiError> {
        use reqwest::multipart::{Form, Part};
        let part = |u: Upload| {
            let name = u.name;
            Part::bytes(u.bytes)
                .file_name(name.clone())
                .mime_str(&u.content_type)
                .map_err(|e| ApiError::Client(format!("bad content type for {name}: {e}")))
        };
        let sizes = UploadSizes {
            audio: audio.bytes.len() as u64,
            attachments: attachments.iter().map(|a| a.bytes.len() as u64).sum(),
            attachment_count: attachments.len(),
        };
        let mut form = Form::new();
        for name in to {
            form = form.text("to", name.clone());
        }
        form = form.part("audio", part(audio)?);
        for a in attachments {
            form = form.part("attachment", part(a)?);
        }
        let rb = self.request(Method::POST, "/api/messages").multipart(form);
        let only = match to {
            [one] => Some(one.as_str()),
            _ => None,
        };
        self.json(rb, "/api/messages").await.map_err(|e| match e {
            ApiError::TooLarge { message, .. } => ApiError::TooLarge {
                message,
                sizes: Some(sizes),
            },
            ApiError::Cut { cause, .. } => ApiError::UploadCut { cause, sizes },
            e => e.unknown_as("recipient", only),
        })
    }

    /// The newest `max` messages of my inbox (all of them with `None`), newest first,
    /// fetched a page at a time; the flag says whether older ones were left out.
    pub async fn inbox(&self, max: Option<usize>) -> Result<(Vec<MessageInfo>, bool), ApiError> {
        self.list(List::Inbox, max).await
    }

    /// The newest `max` messages I sent (all with `None`), with per-recipient states.
    pub async fn sent(&self, max: Option<usize>) -> Result<(Vec<MessageInfo>, bool), ApiError> {
        self.list(List::Sent, max).await
    }

    /// Pages through `GET /api/messages/{inbox,sent}?limit=N`, following each answer's
    /// `Link: <...>; rel="next"` until `max` messages are in or a page comes without one.
    async fn list(
        &self,
        list: List,
        max: Option<usize>,
    ) -> Result<(Vec<MessageInfo>, bool), ApiError> {
        let (path, what) = match list {
            List::Inbox => ("/api/messages/inbox", "the inbox"),
            List::Sent => ("/api/messages/sent", "sent messages"),
        };
        let page_max = PAGE_MAX as usize;
        let mut out: Vec<MessageInfo> = Vec::new();
        let first = max.unwrap_or(page_max).clamp(1, page_max);
        let mut next = Some(format!("{path}?limit={first}"));
        while let Some(url) = next.take() {
            let resp = self.send(self.request(Method::GET, &url)).await?;
            let link = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
            let page: Vec<MessageInfo> =
                serde_json::from_slice(&bytes).map_err(|e| ApiError::BadResponse {
                    what: what.to_owned(),
                    cause: e.to_string(),
                })?;
            if page.is_empty() {
                break;
            }
            out.extend(page);
            if let Some(m) = max {
                if out.len() >= m {
                    let more = out.len() > m || link.is_some();
                    out.truncate(m);
                    return Ok((out, more));
                }
            }
            // Only a path on this box: never follow a link elsewhere with the token.
            next = link.filter(|l| l.starts_with(path));
        }
        Ok((out, false))
    }

    /// `GET /api/messages/{id}`.
    pub async fn message(&self, id: Guid) -> Result<MessageInfo, ApiError> {
        let path = format!("/api/messages/{id}");
        self.json(self.request(Method::GET, &path), &path).await
    }

    /// `GET /api/messages/{id}/audio`: the Ogg Opus file.
    pub async fn audio(&self, id: Guid) -> Result<Vec<u8>, ApiError> {
        self.bytes(self.request(Method::GET, &format!("/api/messages/{id}/audio")))
            .await
    }

    /// `GET /api/messages/{id}/attachments/{index}`.
    pub async fn attachment(&self, id: Guid, index: u32) -> Result<Vec<u8>, ApiError> {
        let path = format!("/api/messages/{id}/attachments/{index}");
        self.bytes(self.request(Method::GET, &path)).await
    }

    /// `POST /api/messages/{id}/delivered`.
    pub async fn delivered(&self, id: Guid) -> Result<(), ApiError> {
        self.empty(self.request(Method::POST, &format!("/api/messages/{id}/delivered")))
            .await
    }

    /// `POST /api/messages/{id}/played`.
    pub async fn played(&self, id: Guid) -> Result<(), ApiError> {
        self.empty(self.request(Method::POST, &format!("/api/messages/{id}/played")))
            .await
    }

    /// `DELETE /api/messages/{id}`.
    pub async fn delete(&self, id: Guid) -> Result<(), ApiError> {
        self.empty(self.request(Method::DELETE, &format!("/api/messages/{id}")))
            .await
    }
}

/// An error answer as an [`ApiError`].
/// Which message list.
#[derive(Debug, Clone, Copy)]
enum List {
    Inbox,
    Sent,
}

/// The target of the `rel="next"` link in a `Link` header (RFC 8288), if any.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_owned())
    })
}

fn classify(
    status: StatusCode,
    error: String,
    message: String,
    retry_after: Option<u64>,
) -> ApiError {
    if status == StatusCode::FORBIDDEN && error == "password change required" {
        return ApiError::PasswordChangeRequired;
    }
    if status == StatusCode::FORBIDDEN && error == "wrong_password" {
        return ApiError::WrongPassword;
    }
    if error == "unknown_user" {
        return ApiError::UnknownUser {
            role: "user",
            name: quoted(&message),
            message,
        };
    }
    match status {
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized(message),
        StatusCode::NOT_FOUND => ApiError::NotFound(message),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge {
            message,
            sizes: None,
        },
        StatusCode::TOO_MANY_REQUESTS => ApiError::RateLimited {
            message,
            retry_after,
        },
        _ => ApiError::Server {
            status: status.as_u16(),
            error,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        assert_eq!(
            next_link("</api/messages/inbox?limit=50&before=abc>; rel=\"next\"").as_deref(),
            Some("/api/messages/inbox?limit=50&before=abc")
        );
        assert_eq!(
            next_link("</a>; rel=\"prev\", </b?x=1>; rel=next").as_deref(),
            Some("/b?x=1")
        );
        assert_eq!(next_link("</a>; rel=\"prev\""), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn server_urls_are_checked_and_trimmed() {
        assert_eq!(
            normalize_server("https://box:8443/").expect("ok"),
            "https://box:8443"
        );
        assert_eq!(
            normalize_server(" http://10.0.0.2 ").expect("ok"),
            "http://10.0.0.2"
        );
        assert!(normalize_server("box:8443").is_err());
        assert!(normalize_server("https://").is_err());
        assert!(normalize_server("ftp://box").is_err());
    }

    #[test]
    fn unknown_user_names_the_quoted_recipient() {
        let e = classify(
            StatusCode::BAD_REQUEST,
            "unknown_user".into(),
            r#"unknown user "bob""#.into(),
            None,
        )
        .unknown_as("recipient", None);
        assert_eq!(e.to_string(), r#"unknown recipient "bob""#);
        // No quotes in the message: the only recipient given is named.
        let e = classify(
            StatusCode::BAD_REQUEST,
            "unknown_user".into(),
            "no such user".into(),
            None,
        )
        .unknown_as("recipient", Some("bob"));
        assert_eq!(e.to_string(), r#"unknown recipient "bob""#);
        // Several recipients and no quotes: the server's words.
        let e = classify(
            StatusCode::NOT_FOUND,
            "unknown_user".into(),
            "no such user".into(),
            None,
        )
        .unknown_as("recipient", None);
        assert_eq!(e.to_string(), "no such user");
    }

    #[test]
    fn statuses_map_to_the_cases_people_act_on() {
        assert!(matches!(
            classify(
                StatusCode::UNAUTHORIZED,
                "unauthorized".into(),
                "bad token".into(),
                None
            ),
            ApiError::Unauthorized(_)
        ));
        let rl = classify(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited".into(),
            "slow down".into(),
            Some(30),
        );
        assert_eq!(rl.to_string(), "slow down (try again in 30 s)");
        let big = classify(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large".into(),
            "too big".into(),
            None,
        );
        assert!(matches!(big, ApiError::TooLarge { sizes: None, .. }));
        assert_eq!(
            big.to_string(),
            "too big; the limit is the box's `[limits] max_upload_bytes`"
        );
    }

    #[test]
    fn too_large_says_how_large_the_message_was() {
        let e = ApiError::TooLarge {
            message: "the upload is over the size limit".into(),
            sizes: Some(UploadSizes {
                audio: 900 * 1024,
                attachments: 26 * 1024 * 1024,
                attachment_count: 1,
            }),
        };
        assert_eq!(
            e.to_string(),
            "the upload is over the size limit (this message: 26.9 MiB in all, 900 KiB of Ogg \
             Opus audio and 26.0 MiB in 1 attachment); the limit is the box's \
             `[limits] max_upload_bytes`"
        );
        // The connection cut during the upload: the same figures, the limit as a likely cause.
        let e = ApiError::UploadCut {
            cause: "Broken pipe (os error 32)".into(),
            sizes: UploadSizes {
                audio: 2048,
                attachments: 30 * 1024 * 1024,
                attachment_count: 2,
            },
        };
        assert_eq!(
            e.to_string(),
            "the box closed the connection during the upload (Broken pipe (os error 32)); this \
             message is 30.0 MiB in all, 2 KiB of Ogg Opus audio and 30.0 MiB in 2 \
             attachments: if that is over the box's `[limits] max_upload_bytes`, send less"
        );
        // A server message that names the limit itself is not told again.
        let e = ApiError::TooLarge {
            message: "30000000 bytes is over max_upload_bytes (26214400)".into(),
            sizes: Some(UploadSizes {
                audio: 100,
                attachments: 0,
                attachment_count: 0,
            }),
        };
        assert_eq!(
            e.to_string(),
            "30000000 bytes is over max_upload_bytes (26214400) (this message: 100 bytes in \
             all, 100 bytes of Ogg Opus audio)"
        );
    }
}
