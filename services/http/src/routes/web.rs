//! The web client (issue 3): plain HTML, CSS and ES modules from the top-level `web/` folder,
//! embedded into the binary at build time and served on `/` with a strict Content-Security-Policy.
//!
//! Every asset is revalidated (`Cache-Control: no-cache`) against an ETag computed at compile
//! time from its bytes, so an upgraded box never serves a stale mix of old and new modules,
//! and a reload costs one 304 per file. Nothing here reads the disk at run time.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

/// The policy on every page and asset: only this origin, audio from `blob:` URLs (downloads are
/// fetched with the bearer token), no inline script or style, never framed.
pub const CSP: &str = "default-src 'self'; media-src 'self' blob:; img-src 'self' data: blob:; \
connect-src 'self'; style-src 'self'; script-src 'self'; worker-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
pub struct Asset {
    /// URL path it is served at.
    pub path: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes.
    pub body: &'static [u8],
    /// Strong ETag value (quoted), from the bytes.
    pub etag: &'static str,
}

/// FNV-1a 64 of the bytes, at compile time.
const fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < b.len() {
        h ^= b[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// `"` + 16 hex digits + `"`, at compile time.
const fn etag_bytes(b: &[u8]) -> [u8; 18] {
    let h = fnv1a(b);
    let hex = b"0123456789abcdef";
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = hex[((h >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! asset {
    ($path:literal, $file:literal, $ct:expr) => {{
        const BODY: &[u8] =
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $file));
        const TAG: [u8; 18] = etag_bytes(BODY);
        Asset {
            path: $path,
            content_type: $ct,
            body: BODY,
            etag: match std::str::from_utf8(&TAG) {
                Ok(s) => s,
                Err(_) => panic!("etag is ASCII"),
            },
        }
    }};
}

const JS: &str = "text/javascript; charset=utf-8";

/// Everything the web client is made of.
pub static ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!("/app.css", "app.css", "text/css; charset=utf-8"),
    asset!("/app.js", "app.js", JS),
    asset!("/protocol.js", "protocol.js", JS),
    asset!("/recorder.js", "recorder.js", JS),
    asset!("/recorder-worklet.js", "recorder-worklet.js", JS),
    asset!("/talk.js", "talk.js", JS),
    asset!("/jitter.js", "jitter.js", JS),
    asset!("/jitter-worklet.js", "jitter-worklet.js", JS),
    asset!("/ogg.js", "ogg.js", JS),
    asset!("/player.js", "player.js", JS),
    asset!("/admin.js", "admin.js", JS),
    asset!("/admin-update.js", "admin-update.js", JS),
    asset!("/admin-gateways.js", "admin-gateways.js", JS),
    asset!("/calls.js", "calls.js", JS),
    asset!("/dom.js", "dom.js", JS),
    asset!("/vlist.js", "vlist.js", JS),
    asset!("/icon.svg", "icon.svg", "image/svg+xml"),
];

/// Routes for every asset.
pub fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for a in ASSETS {
        r = r.route(a.path, get(move |h: HeaderMap| async move { serve(a, &h) }));
    }
    r
}

/// The headers every page and asset carries.
fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        axum::http::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("microphone=(self), camera=(), geolocation=()"),
    );
}

fn serve(a: &'static Asset, req: &HeaderMap) -> Response {
    let mut h = HeaderMap::new();
    security_headers(&mut h);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::ETAG, HeaderValue::from_static(a.etag));
    let matches = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == a.etag || t.trim() == "*")
        });
    if matches {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    (h, a.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_distinct_and_tagged() {
        let mut paths: Vec<_> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.path);
            assert!(a.etag.len() == 18 && a.etag.starts_with('"') && a.etag.ends_with('"'));
            assert!(
                !a.path.starts_with("/api"),
                "{} would shadow the API",
                a.path
            );
        }
    }

    #[test]
    fn index_loads_only_same_origin_modules() {
        let index = std::str::from_utf8(ASSETS[0].body).expect("utf-8");
        assert!(
            !index.contains("http://") && !index.contains("https://"),
            "no external URLs"
        );
        assert!(
            !index.contains("<style") && !index.contains(" style="),
            "no inline style (CSP)"
        );
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            // The SVG namespace is a name, not a fetch.
            let js = std::str::from_utf8(a.body)
                .expect("utf-8")
                .replace("http://www.w3.org/2000/svg", "");
            assert!(
                !js.contains("https://") && !js.contains("http://"),
                "{} names an external URL",
                a.path
            );
        }
    }

    #[test]
    fn etag_is_stable_hex() {
        assert_eq!(&etag_bytes(b""), b"\"cbf29ce484222325\"");
    }
}
