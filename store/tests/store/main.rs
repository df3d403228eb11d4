//! Tests of the store's public API against real data directories (tempfile).

#![allow(clippy::unwrap_used, missing_docs)]

mod blobs;
mod calls;
mod keys;
mod logins;
mod messages;
mod pages;
mod quota;
mod sessions;
mod talks;
mod users;

use std::path::Path;

use ivm_store::{NewUser, Store, User};

/// Opens (or reopens) a store on `dir`.
pub fn open(dir: &Path) -> Store {
    Store::open(dir).unwrap()
}

/// Creates a user with password `password-<name>`.
pub fn add_user(store: &Store, name: &str, ext: &str) -> User {
    store
        .create_user(NewUser {
            name: name.into(),
            extension: ext.into(),
            display_name: None,
            password: format!("password-{name}"),
            admin: false,
        })
        .unwrap()
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}
