//! The REST routes, one file per resource. Paths are listed in `openapi.json` beside this
//! file; a test keeps the two in step.

mod admin;
mod contacts;
mod gateways;
pub mod health;
mod messages;
mod pages;
mod phones;
mod provision;
pub mod restart;
mod ring_me;
mod session;
pub mod update;
pub mod web;

pub use messages::{read_upload_form, UploadForm, MAX_ATTACHMENTS, MAX_TO_FIELDS};

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;

use crate::AppState;

/// The OpenAPI 3.1 document, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The unauthenticated health check (served on the plain listener to the LAN too).
pub const HEALTH_PATH: &str = "/api/health";

/// Every `(method, path)` the API serves, in axum's path syntax; checked against [`OPENAPI`].
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/login"),
    ("post", "/api/logout"),
    ("get", "/api/me"),
    ("put", "/api/me/status"),
    ("get", "/api/me/settings"),
    ("patch", "/api/me/settings"),
    ("get", "/api/me/calls"),
    ("put", "/api/me/password"),
    ("get", "/api/contacts"),
    ("post", "/api/contacts"),
    ("delete", "/api/contacts/{user}"),
    ("get", "/api/users"),
    ("post", "/api/messages"),
    ("get", "/api/messages/inbox"),
    ("get", "/api/messages/sent"),
    ("get", "/api/messages/counts"),
    ("get", "/api/messages/{id}"),
    ("delete", "/api/messages/{id}"),
    ("get", "/api/messages/{id}/audio"),
    ("get", "/api/messages/{id}/attachments/{index}"),
    ("post", "/api/messages/{id}/delivered"),
    ("post", "/api/messages/{id}/played"),
    ("post", "/api/ring-me"),
    ("get", "/api/admin/status"),
    ("put", "/api/admin/update"),
    ("post", "/api/admin/restart"),
    ("get", "/api/admin/users"),
    ("post", "/api/admin/users"),
    ("patch", "/api/admin/users/{user}"),
    ("delete", "/api/admin/users/{user}"),
    ("post", "/api/admin/users/{user}/password"),
    ("get", "/api/admin/groups"),
    ("post", "/api/admin/groups"),
    ("patch", "/api/admin/groups/{group}"),
    ("delete", "/api/admin/groups/{group}"),
    ("get", "/api/admin/phones"),
    ("post", "/api/admin/phones"),
    ("put", "/api/admin/phones/{mac}"),
    ("delete", "/api/admin/phones/{mac}"),
    ("post", "/api/admin/phones/{mac}/arm"),
    ("get", "/api/admin/phones/{mac}/secrets"),
    ("get", "/api/admin/gateways"),
    ("put", "/api/admin/gateways/{gateway}/lines"),
    ("get", "/provision/{name}"),
    ("get", "/api/openapi.json"),
    ("get", HEALTH_PATH),
    ("get", "/api/ws"),
];

/// The `/api` routes. Every body is limited to [`crate::body::SMALL_BODY`] by the caller's
/// layer, but the upload's: `max_upload` bytes, read only after its token was checked (see
/// `messages::send`).
pub fn api(max_upload: usize) -> Router<AppState> {
    Router::new()
        .route("/api/login", post(session::login))
        .route("/api/logout", post(session::logout))
        .route("/api/me", get(session::me))
        .route("/api/me/status", put(session::set_status))
        .route(
            "/api/me/settings",
            get(session::settings).patch(session::patch_settings),
        )
        .route("/api/me/calls", get(session::calls))
        .route("/api/me/password", put(session::change_password))
        .route("/api/contacts", get(contacts::list).post(contacts::add))
        .route("/api/contacts/{user}", delete(contacts::remove))
        .route("/api/users", get(contacts::directory))
        .route(
            "/api/messages",
            post(messages::send).layer(DefaultBodyLimit::max(max_upload)),
        )
        .route("/api/messages/inbox", get(messages::inbox))
        .route("/api/messages/sent", get(messages::sent))
        .route("/api/messages/counts", get(messages::counts))
        .route(
            "/api/messages/{id}",
            get(messages::one).delete(messages::remove),
        )
        .route("/api/messages/{id}/audio", get(messages::audio))
        .route(
            "/api/messages/{id}/attachments/{index}",
            get(messages::attachment),
        )
        .route("/api/messages/{id}/delivered", post(messages::delivered))
        .route("/api/messages/{id}/played", post(messages::played))
        .route("/api/ring-me", post(ring_me::ring_me))
        .route("/api/admin/status", get(admin::status))
        .route("/api/admin/update", put(update::upload))
        .route("/api/admin/restart", post(restart::restart))
        .route("/api/admin/users", get(admin::users).post(admin::add_user))
        .route(
            "/api/admin/users/{user}",
            patch(admin::update_user).delete(admin::delete_user),
        )
        .route(
            "/api/admin/users/{user}/password",
            post(admin::reset_password),
        )
        .route(
            "/api/admin/groups",
            get(admin::groups).post(admin::add_group),
        )
        .route(
            "/api/admin/groups/{group}",
            patch(admin::update_group).delete(admin::delete_group),
        )
        .route("/api/admin/phones", get(phones::list).post(phones::add))
        .route("/api/admin/gateways", get(gateways::list))
        .route(
            "/api/admin/gateways/{gateway}/lines",
            put(gateways::assign_line),
        )
        .route(
            "/api/admin/phones/{mac}",
            put(phones::assign).delete(phones::remove),
        )
        .route("/api/admin/phones/{mac}/arm", post(phones::arm))
        .route("/api/admin/phones/{mac}/secrets", get(phones::secrets))
        // Firmware may sit in sub-folders of `<data>/firmware/`; the front refuses `..`.
        .route("/provision/{*name}", get(provision::fetch))
        .route("/api/openapi.json", get(openapi))
        .route(HEALTH_PATH, get(health::health))
        .fallback(not_found)
}

/// Pages outside `/api`: the web client (see [`web`]).
pub fn pages() -> Router<AppState> {
    web::routes()
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn not_found() -> crate::error::ApiError {
    crate::error::ApiError::not_found("no such endpoint; see /api/openapi.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_lists_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json parses");
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented = Vec::new();
        for (path, ops) in paths {
            for method in ops.as_object().expect("operations").keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        documented.sort();
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        served.sort();
        assert_eq!(documented, served);
        let send = &doc["paths"]["/api/messages"]["post"];
        assert_eq!(
            send["parameters"][0]["name"]
                .as_str()
                .map(str::to_ascii_lowercase),
            Some(messages::IDEMPOTENCY_KEY.to_owned()),
            "the idempotency header is documented under its name"
        );
        for code in ["200", "413", "422", "429", "507"] {
            assert!(
                send["responses"][code].is_object(),
                "POST /api/messages {code}"
            );
        }
    }

    /// Every route in [`ROUTES`] reaches a handler of the real router (the fallback would
    /// answer `no such endpoint`, a wrong method 405).
    #[actix::test]
    async fn the_router_serves_every_listed_route() {
        use axum::body::Body;
        use axum::http::{Method, Request, StatusCode};
        use tower::ServiceExt;

        let dir = tempfile::tempdir().expect("tempdir");
        let store = std::sync::Arc::new(ivm_store::Store::open(dir.path()).expect("store"));
        let db = ivm_actors::database::Db::start(store, 1);
        let clients = actix::Actor::start(ivm_actors::client::ClientActor::new(
            db.clone(),
            ivm_actors::client::ClientConfig::default(),
        ));
        let backend = crate::Backend {
            db,
            clients: ivm_actors::client::ClientHandle::new(&clients),
            phones: None,
            gateways: None,
            started: std::time::Instant::now(),
        };
        let service =
            crate::HttpService::new(backend, crate::HttpConfig::default(), None, None, None);
        let app = crate::HttpService::router(service.state.clone());
        for (method, path) in ROUTES {
            let uri = path
                .replace("{user}", "nobody")
                .replace("{id}", "00000000-0000-0000-0000-000000000000")
                .replace("{index}", "0")
                .replace("{mac}", "001565aabbcc")
                .replace("{name}", "nothing.cfg");
            let req = Request::builder()
                .method(Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method"))
                .uri(&uri)
                .body(Body::empty())
                .expect("request");
            let resp = app.clone().oneshot(req).await.expect("answer");
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .expect("body");
            let text = String::from_utf8_lossy(&body);
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
            assert!(
                !text.contains("no such endpoint"),
                "{method} {uri}: {status} {text}"
            );
        }
    }
}
