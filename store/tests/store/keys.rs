use std::fs;
use std::os::unix::fs::PermissionsExt;

use ivm_store::{Store, StoreError};

use crate::open;

#[test]
fn master_key_is_created_0600_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let sealed;
    let key1;
    {
        let store = open(dir.path());
        assert_eq!(store.data_dir(), dir.path());
        let meta = fs::metadata(dir.path().join("master.key")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        key1 = fs::read(dir.path().join("master.key")).unwrap();
        sealed = store.seal(b"tls-key", b"secret key material").unwrap();
        assert!(dir.path().join("ivm.redb").is_file());
        assert!(dir.path().join("blobs/00").is_dir() && dir.path().join("blobs/ff").is_dir());
        assert!(dir.path().join("tmp").is_dir());
    }
    let store = open(dir.path());
    assert_eq!(fs::read(dir.path().join("master.key")).unwrap(), key1);
    assert_eq!(
        store.unseal(b"tls-key", &sealed).unwrap(),
        b"secret key material"
    );
}

#[test]
fn folder_and_database_are_made_private_again_at_every_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(open(&data));
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("ivm.redb")), 0o600);
    // A restore or a copy by hand opened them up: the next open closes them again.
    fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(data.join("ivm.redb"), fs::Permissions::from_mode(0o644)).unwrap();
    drop(open(&data));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("ivm.redb")), 0o600);
}

#[test]
fn refuses_a_key_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let key = dir.path().join("master.key");
    for mode in [0o644, 0o640, 0o604, 0o660] {
        fs::set_permissions(&key, fs::Permissions::from_mode(mode)).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::MasterKey(_)),
            "mode {mode:o}: {err}"
        );
    }
    fs::set_permissions(&key, fs::Permissions::from_mode(0o400)).unwrap();
    drop(open(dir.path()));
}

#[test]
fn refuses_a_key_of_the_wrong_length() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let key = dir.path().join("master.key");
    for len in [0usize, 31, 33] {
        fs::write(&key, vec![7u8; len]).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::MasterKey(_)), "len {len}: {err}");
    }
}

#[test]
fn refuses_a_missing_key_beside_a_database() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    fs::remove_file(dir.path().join("master.key")).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::MasterKey(_)), "{err}");
    assert!(!dir.path().join("master.key").exists());
}

#[test]
fn seal_round_trips_and_detects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = store.seal(b"tls-key", b"hello").unwrap();
    let b = store.seal(b"tls-key", b"hello").unwrap();
    assert_ne!(a, b, "fresh nonce each time");
    assert_eq!(a.len(), 1 + 12 + 5 + 16);
    assert_eq!(a[0], 1);
    assert_eq!(store.unseal(b"tls-key", &a).unwrap(), b"hello");
    assert_eq!(
        store.unseal(b"x", &store.seal(b"x", b"").unwrap()).unwrap(),
        b""
    );

    for i in 0..a.len() {
        let mut t = a.clone();
        t[i] ^= 0x01;
        assert!(
            matches!(store.unseal(b"tls-key", &t), Err(StoreError::Crypto(_))),
            "byte {i}"
        );
    }
    assert!(matches!(
        store.unseal(b"sip-cred", &a),
        Err(StoreError::Crypto(_))
    ));
    assert!(matches!(
        store.unseal(b"tls-key", &a[..a.len() - 1]),
        Err(StoreError::Crypto(_))
    ));
    assert!(matches!(
        store.unseal(b"tls-key", &[]),
        Err(StoreError::Crypto(_))
    ));

    // Another box (another master key) cannot open it.
    let other = tempfile::tempdir().unwrap();
    let other = open(other.path());
    assert!(matches!(
        other.unseal(b"tls-key", &a),
        Err(StoreError::Crypto(_))
    ));
}
