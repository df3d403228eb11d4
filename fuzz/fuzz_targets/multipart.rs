//! The body of `POST /api/messages` as the box reads it: axum's multipart reader (multer)
//! under the box's own form handling (`ivm_http::routes::read_upload_form`: field names,
//! recipient list, one audio part, attachment count and file-name checks). The boundary is
//! fixed (`ivmfuzz`), as a client picks one; the body is the fuzz input. Invariants: an
//! accepted form respects every bound the handler promises.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::Request;
use ivm_http::routes::{read_upload_form, MAX_ATTACHMENTS, MAX_TO_FIELDS};
use libfuzzer_sys::fuzz_target;

/// Runs a future that never waits on I/O (the whole body is in memory) to completion.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("an in-memory multipart body did not finish reading");
}

fuzz_target!(|data: &[u8]| {
    let req = Request::builder()
        .method("POST")
        .uri("/api/messages")
        .header("content-type", "multipart/form-data; boundary=ivmfuzz")
        .body(Body::from(data.to_vec()))
        .expect("request");
    let result = block_on(async {
        let form = Multipart::from_request(req, &())
            .await
            .expect("multipart content type");
        read_upload_form(form, 25 * 1024 * 1024).await
    });
    if let Ok(form) = result {
        assert!(!form.to.is_empty() && form.to.len() <= MAX_TO_FIELDS);
        assert!(form
            .to
            .iter()
            .all(|t| !t.is_empty() && t.trim() == t && !t.contains(',')));
        assert!(!form.audio.is_empty());
        assert!(form.attachments.len() <= MAX_ATTACHMENTS);
        for a in &form.attachments {
            assert!(ivm_actors::client::check_attachment_name(&a.name).is_ok());
            assert!(!a.name.contains(['/', '\\']) && a.name != ".." && a.name != ".");
        }
        let total: usize =
            form.audio.len() + form.attachments.iter().map(|a| a.data.len()).sum::<usize>();
        assert!(total <= data.len());
    }
});
