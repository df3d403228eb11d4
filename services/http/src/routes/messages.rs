//! Voice messages: send (multipart upload), inbox and sent lists a page at a time (paging in
//! `pages.rs`), counts, metadata, audio and attachment downloads, receipts and delete. A user sees only messages sent by or to them.

use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ivm_actors::client::{
    check_attachment_name, MailboxChanged, NewAttachment, PostMessage, PostOnce, Receipt,
};
use ivm_actors::database::messages::{
    AttachmentFile, CountsOf, DeleteMessage, InboxPage, MessageAttachment, MessageAudio,
    MessageView, SentPage,
};
use ivm_wire::rest::{MessageCounts, MessageInfo};
use ivm_wire::{Guid, MailboxState};

use super::pages;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::AppState;

/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 20;
/// Most `to` fields on one upload.
pub const MAX_TO_FIELDS: usize = 256;

/// The header carrying the client's idempotency key on `POST /api/messages`.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set (`true`) on the answer to a retry that found its message already stored.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

fn multipart_error(e: axum::extract::multipart::MultipartError, limit: usize) -> ApiError {
    if crate::body::is_timeout(&e) {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the upload did not arrive within {} seconds",
                crate::body::UPLOAD_TIMEOUT.as_secs()
            ),
        )
    } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(format!(
            "the upload is over the limit of {limit} bytes (audio and attachments)"
        ))
    } else {
        ApiError::bad_request(format!("bad multipart body: {}", e.body_text()))
    }
}

/// The `Idempotency-Key` header, checked before the body is read.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let max = ivm_store::MAX_IDEMPOTENCY_KEY_LEN;
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= max && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_owned()))
        }
        _ => Err(ApiError::bad_request(format!(
            "Idempotency-Key: use 1-{max} visible ASCII characters (a UUID is fine)"
        ))),
    }
}

/// What a `POST /api/messages` form carried, each field checked as it was read.
#[derive(Debug)]
pub struct UploadForm {
    /// Recipients as given (names, extensions or GUIDs), trimmed, none empty; at least one.
    pub to: Vec<String>,
    /// The audio part, not empty (its format is checked later, by `ivm_media`).
    pub audio: Bytes,
    /// Attachments, at most [`MAX_ATTACHMENTS`], each with a safe file name.
    pub attachments: Vec<NewAttachment>,
}

/// Reads and checks the multipart body of `POST /api/messages`: `to` (repeatable,
/// comma-separated), one `audio`, `attachment` (repeatable files). Bad input is a clear 400
/// (or 413 over `limit`, the body limit, named in the error) before anything is stored.
/// Separate from the handler so the form parsing can be fuzzed without a running box
/// (fuzz/fuzz_targets/multipart.rs).
pub async fn read_upload_form(mut form: Multipart, limit: usize) -> Result<UploadForm, ApiError> {
    let multipart_error = |e| multipart_error(e, limit);
    let mut to = Vec::new();
    let mut audio: Option<Bytes> = None;
    let mut attachments = Vec::new();
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or("") {
            "to" => {
                let text = field.text().await.map_err(multipart_error)?;
                to.extend(
                    text.split(',')
                        .map(|t| t.trim().to_owned())
                        .filter(|t| !t.is_empty()),
                );
                if to.len() > MAX_TO_FIELDS {
                    return Err(ApiError::bad_request("too many recipients"));
                }
            }
            "audio" => {
                if audio.is_some() {
                    return Err(ApiError::bad_request("only one audio part is allowed"));
                }
                audio = Some(field.bytes().await.map_err(multipart_error)?);
            }
            "attachment" => {
                if attachments.len() == MAX_ATTACHMENTS {
                    return Err(ApiError::bad_request(format!(
                        "at most {MAX_ATTACHMENTS} attachments"
                    )));
                }
                let name = field.file_name().unwrap_or("").to_owned();
                check_attachment_name(&name).map_err(ApiError::from)?;
                let content_type = field.content_type().unwrap_or("").to_owned();
                let data = field.bytes().await.map_err(multipart_error)?.to_vec();
                attachments.push(NewAttachment {
                    name,
                    content_type,
                    data,
                });
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected form field {:?}: use to, audio, attachment",
                    other.chars().take(40).collect::<String>()
                )))
            }
        }
    }
    if to.is_empty() {
        return Err(ApiError::bad_request("name at least one recipient in `to`"));
    }
    let audio = audio.filter(|a| !a.is_empty()).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_audio",
            "the `audio` part is missing or empty",
        )
    })?;
    Ok(UploadForm {
        to,
        audio,
        attachments,
    })
}

/// `POST /api/messages` (multipart): `to` (repeatable, comma-separated names, extensions or
/// GUIDs), `audio` (one WAV or Ogg Opus file), `attachment` (repeatable files): see
/// [`read_upload_form`]. Answers 201
/// only once the message is durable.
///
/// The token is checked ([`AuthUser`]) before any of the body is read, and only then may the
/// body be as large as `max_upload_bytes` (every other route allows 64 KiB). With an
/// `Idempotency-Key` header, a retry of a send whose answer was lost gets the message already
/// stored, with 200 and `Idempotent-Replayed: true`, and nothing is stored twice.
pub async fn send(
    State(state): State<AppState>,
    me: AuthUser,
    headers: HeaderMap,
    form: Multipart,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let form = read_upload_form(form, state.cfg.max_upload_bytes).await?;
    let post = PostMessage {
        sender: me.user.guid,
        to: form.to,
        audio: form.audio.to_vec(),
        attachments: form.attachments,
    };
    let Some(key) = key else {
        let info = state.clients.send(post).await??;
        return Ok((StatusCode::CREATED, Json(info)).into_response());
    };
    let posted = state.clients.send(PostOnce { post, key }).await??;
    if posted.replayed {
        Ok((
            StatusCode::OK,
            [(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"))],
            Json(posted.info),
        )
            .into_response())
    } else {
        Ok((StatusCode::CREATED, Json(posted.info)).into_response())
    }
}

fn parse_id(id: &str) -> Result<Guid, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found("no such message"))
}

fn no_such_message() -> ApiError {
    ApiError::not_found("no such message")
}

/// `GET /api/messages/inbox?limit=N&before=CURSOR`: a page of messages to me, newest first,
/// with a `Link` to the next page (see [`pages`]). The store reads only this page's rows.
pub async fn inbox(
    State(state): State<AppState>,
    me: AuthUser,
    query: pages::RawQuery,
) -> Result<Response, ApiError> {
    let q = pages::list_query(query)?;
    let user = me.user.guid;
    let page = state
        .db
        .call(InboxPage {
            user,
            before: q.before,
            limit: q.limit,
        })
        .await?;
    Ok(pages::answer("/api/messages/inbox", q.limit, page))
}

/// `GET /api/messages/sent?limit=N&before=CURSOR`: a page of messages from me with every
/// recipient's state, newest first, paged like the inbox.
pub async fn sent(
    State(state): State<AppState>,
    me: AuthUser,
    query: pages::RawQuery,
) -> Result<Response, ApiError> {
    let q = pages::list_query(query)?;
    let user = me.user.guid;
    let page = state
        .db
        .call(SentPage {
            user,
            before: q.before,
            limit: q.limit,
        })
        .await?;
    Ok(pages::answer("/api/messages/sent", q.limit, page))
}

/// `GET /api/messages/counts`: how many messages my inbox (and of them unplayed) and my sent
/// list hold, for a badge or a heading, without fetching the lists.
pub async fn counts(
    State(state): State<AppState>,
    me: AuthUser,
) -> Result<Json<MessageCounts>, ApiError> {
    let user = me.user.guid;
    let c = state.db.call(CountsOf { user }).await?;
    Ok(Json(MessageCounts {
        inbox: c.inbox,
        unplayed: c.unplayed,
        sent: c.sent,
    }))
}

/// `GET /api/messages/{id}`.
pub async fn one(
    State(state): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<MessageInfo>, ApiError> {
    let (id, user) = (parse_id(&id)?, me.user.guid);
    let info = state
        .db
        .call(MessageView { id, user })
        .await?
        .ok_or_else(no_such_message)?;
    Ok(Json(info))
}

/// `GET /api/messages/{id}/audio`: the Ogg Opus file, decrypted.
pub async fn audio(
    State(state): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (id, user) = (parse_id(&id)?, me.user.guid);
    let bytes = state
        .db
        .call(MessageAudio { id, user })
        .await?
        .ok_or_else(no_such_message)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("audio/ogg; codecs=opus"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=31536000, immutable"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /api/messages/{id}/attachments/{index}`: always as a download (never rendered inline
/// on the box's origin, so an HTML attachment cannot run script there).
pub async fn attachment(
    State(state): State<AppState>,
    me: AuthUser,
    Path((id, index)): Path<(String, usize)>,
) -> Result<Response, ApiError> {
    let (id, user) = (parse_id(&id)?, me.user.guid);
    let AttachmentFile {
        name,
        content_type,
        bytes,
    } = state
        .db
        .call(MessageAttachment { id, user, index })
        .await?
        .ok_or_else(|| ApiError::not_found("no such attachment"))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok((headers, bytes).into_response())
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266).
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " ._-()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

async fn receipt(
    state: &AppState,
    user: Guid,
    id: &str,
    st: MailboxState,
) -> Result<StatusCode, ApiError> {
    let message = parse_id(id)?;
    state
        .clients
        .send(Receipt {
            user,
            message,
            state: st,
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/messages/{id}/delivered`: my client has the message.
pub async fn delivered(
    State(state): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    receipt(&state, me.user.guid, &id, MailboxState::Delivered).await
}

/// `POST /api/messages/{id}/played`: I played it (the sender gets a receipt).
pub async fn played(
    State(state): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    receipt(&state, me.user.guid, &id, MailboxState::Played).await
}

/// `DELETE /api/messages/{id}`: removes it from my inbox (or my sent list).
pub async fn remove(
    State(state): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (id, user) = (parse_id(&id)?, me.user.guid);
    let deleted = state.db.call(DeleteMessage { id, user }).await?;
    if deleted {
        // The lamp of the user's desk phones follows the mailbox.
        state.clients.do_send(MailboxChanged { user });
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_such_message())
    }
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn disposition_is_safe() {
        let d = content_disposition("a\"b;\r\nc.txt");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(d.starts_with("attachment; filename=\"a_b___c.txt\""));
        assert!(d.contains("filename*=UTF-8''a%22b%3B%0D%0Ac.txt"));
    }
}
