use std::fs;
use std::path::{Path, PathBuf};

use ivm_store::{BlobRef, StoreError};

use crate::open;

const HEADER: usize = 16;
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;

fn blob_file(dir: &Path, b: &BlobRef) -> PathBuf {
    let hex = b.id.simple().to_string();
    dir.join("blobs").join(&hex[..2]).join(hex)
}

fn pattern(len: usize) -> Vec<u8> {
    b"IVM-PLAINTEXT-MARKER:"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

fn tmp_is_empty(dir: &Path) -> bool {
    fs::read_dir(dir.join("tmp")).unwrap().next().is_none()
}

#[test]
fn round_trips_small_empty_and_multi_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let sizes = [
        0usize,
        1,
        100,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        2 * CHUNK,
        (1 << 20) + 3,
    ];
    let mut refs = Vec::new();
    for len in sizes {
        let data = pattern(len);
        let b = store.put_blob(&data).unwrap();
        assert_eq!(b.size, len as u64);
        let chunks = len.div_ceil(CHUNK).max(1);
        assert_eq!(
            fs::metadata(blob_file(dir.path(), &b)).unwrap().len() as usize,
            HEADER + len + chunks * TAG
        );
        assert_eq!(store.read_blob(&b).unwrap(), data, "len {len}");
        refs.push((b, data));
    }
    assert!(tmp_is_empty(dir.path()));
    drop(store);
    let store = open(dir.path());
    for (b, data) in &refs {
        assert_eq!(&store.read_blob(b).unwrap(), data);
    }
}

#[test]
fn ciphertext_hides_the_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = pattern(200_000);
    let b = store.put_blob(&data).unwrap();
    let on_disk = fs::read(blob_file(dir.path(), &b)).unwrap();
    let marker = b"IVM-PLAINTEXT";
    assert!(!on_disk.windows(marker.len()).any(|w| w == marker));
    assert!(!b.wrapped_key.windows(marker.len()).any(|w| w == marker));
    // Same plaintext twice: different files, different keys.
    let b2 = store.put_blob(&data).unwrap();
    assert_ne!(b.wrapped_key, b2.wrapped_key);
    assert_ne!(on_disk, fs::read(blob_file(dir.path(), &b2)).unwrap());
}

#[test]
fn tampering_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = pattern(3 * CHUNK + 10);
    let b = store.put_blob(&data).unwrap();
    let path = blob_file(dir.path(), &b);
    let good = fs::read(&path).unwrap();
    for pos in [
        0,
        4,
        6,
        8,
        15,
        HEADER,
        HEADER + 5000,
        HEADER + CHUNK + TAG + 1,
        good.len() - 1,
    ] {
        let mut bad = good.clone();
        bad[pos] ^= 0x80;
        fs::write(&path, &bad).unwrap();
        assert!(
            matches!(store.read_blob(&b), Err(StoreError::Corrupt(_))),
            "byte {pos}"
        );
    }
    // Two chunks swapped.
    let mut swapped = good.clone();
    let (c0, c1) = (
        HEADER..HEADER + CHUNK + TAG,
        HEADER + CHUNK + TAG..HEADER + 2 * (CHUNK + TAG),
    );
    let first = good[c0.clone()].to_vec();
    swapped[c0].copy_from_slice(&good[c1.clone()]);
    swapped[c1].copy_from_slice(&first);
    fs::write(&path, &swapped).unwrap();
    assert!(matches!(store.read_blob(&b), Err(StoreError::Corrupt(_))));
    // Extended.
    let mut longer = good.clone();
    longer.push(0);
    fs::write(&path, &longer).unwrap();
    assert!(matches!(store.read_blob(&b), Err(StoreError::Corrupt(_))));
    // Another blob's key does not open it.
    fs::write(&path, &good).unwrap();
    let other = store.put_blob(b"other").unwrap();
    let wrong = BlobRef {
        wrapped_key: other.wrapped_key.clone(),
        ..b.clone()
    };
    assert!(matches!(
        store.read_blob(&wrong),
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.read_blob(&b).unwrap(), data);
}

#[test]
fn truncation_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = pattern(2 * CHUNK + 7);
    let b = store.put_blob(&data).unwrap();
    let path = blob_file(dir.path(), &b);
    let good = fs::read(&path).unwrap();
    for len in [
        0,
        3,
        HEADER,
        HEADER + 100,
        good.len() - 1,
        HEADER + CHUNK + TAG,
    ] {
        fs::write(&path, &good[..len]).unwrap();
        assert!(
            matches!(store.read_blob(&b), Err(StoreError::Corrupt(_))),
            "len {len}"
        );
    }
    // Cut at a chunk boundary *and* a record that agrees with the shorter size: the final-chunk
    // flag still catches it.
    fs::write(&path, &good[..HEADER + CHUNK + TAG]).unwrap();
    let short = BlobRef {
        size: CHUNK as u64,
        ..b.clone()
    };
    assert!(matches!(
        store.read_blob(&short),
        Err(StoreError::Corrupt(_))
    ));
    fs::write(&path, &good[..HEADER + 2 * (CHUNK + TAG)]).unwrap();
    let short = BlobRef {
        size: 2 * CHUNK as u64,
        ..b.clone()
    };
    assert!(matches!(
        store.read_blob(&short),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn remove_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let b = store.put_blob(b"bye").unwrap();
    store.remove_blob(&b).unwrap();
    assert!(!blob_file(dir.path(), &b).exists());
    assert!(matches!(store.read_blob(&b), Err(StoreError::NotFound)));
    store.remove_blob(&b).unwrap();
}

#[test]
fn tmp_is_cleared_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let b = {
        let store = open(dir.path());
        store.put_blob(b"kept").unwrap()
    };
    fs::write(dir.path().join("tmp/0123abcd"), b"half a file").unwrap();
    fs::create_dir_all(dir.path().join("tmp/sub/dir")).unwrap();
    fs::write(dir.path().join("tmp/sub/dir/x"), b"x").unwrap();
    let store = open(dir.path());
    assert!(tmp_is_empty(dir.path()));
    assert_eq!(store.read_blob(&b).unwrap(), b"kept");
}
