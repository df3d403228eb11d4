use super::*;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use std::io::Write as _;

/// A signing key made for the test, and its public half.
fn keypair() -> (Ed25519KeyPair, UpdateKey) {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let mut k = [0u8; 32];
    k.copy_from_slice(kp.public_key().as_ref());
    (kp, UpdateKey::from_bytes(k))
}

/// A bundle as scripts/build-image makes one: header, parts, signature of the SHA-256.
fn bundle(
    kp: &Ed25519KeyPair,
    version: &str,
    root: &[u8],
    kernel: &[u8],
    initrd: &[u8],
) -> Vec<u8> {
    let h = Header {
        version: version.into(),
        root_len: root.len() as u64,
        kernel_len: kernel.len() as u64,
        initrd_len: initrd.len() as u64,
    };
    let mut b = h.encode().unwrap().to_vec();
    b.extend_from_slice(root);
    b.extend_from_slice(kernel);
    b.extend_from_slice(initrd);
    let digest: [u8; 32] = Sha256::digest(&b).into();
    b.extend_from_slice(kp.sign(&digest).as_ref());
    b
}

fn file(bytes: &[u8]) -> File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f
}

/// Parts larger than the 1 MiB read buffer, so the digest is made over several reads.
fn parts() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let root: Vec<u8> = (0..(3 << 20) + 17).map(|i| (i % 251) as u8).collect();
    (root, b"kernel-bytes".to_vec(), b"initrd".repeat(1000))
}

#[test]
fn a_signed_bundle_verifies_and_its_parts_are_where_the_header_says() {
    let (kp, key) = keypair();
    let (root, kernel, initrd) = parts();
    let b = bundle(&kp, "0.1.0-g58940bc", &root, &kernel, &initrd);
    let h = verify(&mut file(&b), &key).unwrap();
    assert_eq!(h.version, "0.1.0-g58940bc");
    assert_eq!(h.total_len(), b.len() as u64);
    let at = |r: Range<u64>| &b[r.start as usize..r.end as usize];
    assert_eq!(at(h.root()), &root[..]);
    assert_eq!(at(h.kernel()), &kernel[..]);
    assert_eq!(at(h.initrd()), &initrd[..]);
}

#[test]
fn a_changed_byte_anywhere_is_refused() {
    let (kp, key) = keypair();
    let (root, kernel, initrd) = parts();
    let b = bundle(&kp, "v2", &root, &kernel, &initrd);
    let h = Header::parse(b[..64].try_into().unwrap()).unwrap();
    // The version, a byte in each part, the last byte of the signature.
    for at in [
        9,
        h.root().start as usize + 5,
        h.root().end as usize - 1,
        h.kernel().start as usize,
        h.initrd().end as usize - 1,
        b.len() - 1,
    ] {
        let mut t = b.clone();
        t[at] ^= 0x01;
        let e = verify(&mut file(&t), &key).unwrap_err();
        assert!(matches!(e, BundleError::BadSignature), "byte {at}: {e}");
    }
}

#[test]
fn a_bundle_signed_by_another_key_is_refused() {
    let (kp, _) = keypair();
    let (_, other) = keypair();
    let b = bundle(&kp, "v2", b"root", b"kernel", b"initrd");
    let e = verify(&mut file(&b), &other).unwrap_err();
    assert!(matches!(e, BundleError::BadSignature), "{e}");
    assert!(e.to_string().contains("signed by another key"), "{e}");
}

#[test]
fn a_bundle_cut_short_is_refused_before_its_signature_is_read() {
    let (kp, key) = keypair();
    let b = bundle(&kp, "v2", b"root-image", b"kernel", b"initrd");
    for len in [1, 7, 8, 40, 63, 64, 70, b.len() - 64, b.len() - 1] {
        let e = verify(&mut file(&b[..len]), &key).unwrap_err();
        assert!(
            matches!(e, BundleError::Truncated { .. }),
            "cut at {len}: {e}"
        );
        assert!(e.to_string().contains("cut short"), "{e}");
    }
    let mut long = b.clone();
    long.extend_from_slice(b"more");
    let e = verify(&mut file(&long), &key).unwrap_err();
    assert!(matches!(e, BundleError::TrailingBytes { extra: 4 }), "{e}");
}

#[test]
fn headers_that_cannot_be_installed_are_refused() {
    let good = Header {
        version: "v2".into(),
        root_len: 10,
        kernel_len: 10,
        initrd_len: 10,
    };
    let enc = good.encode().unwrap();
    assert_eq!(Header::parse(&enc).unwrap(), good);
    let mut bad = enc;
    bad[0] = b'X';
    assert!(matches!(Header::parse(&bad), Err(BundleError::BadMagic)));
    let mut bad = enc;
    bad[8] = 0;
    assert!(matches!(Header::parse(&bad), Err(BundleError::BadVersion)));
    let mut bad = enc;
    bad[9] = b'\n';
    assert!(matches!(Header::parse(&bad), Err(BundleError::BadVersion)));
    let big = Header {
        root_len: MAX_ROOT + 1,
        ..good.clone()
    };
    assert!(matches!(
        Header::parse(&big.encode().unwrap()),
        Err(BundleError::TooLarge { part: "root", .. })
    ));
    let empty = Header {
        initrd_len: 0,
        ..good.clone()
    };
    assert!(matches!(
        Header::parse(&empty.encode().unwrap()),
        Err(BundleError::Empty("initrd"))
    ));
    // A huge length cannot overflow the total: each part is bounded first.
    let mut huge = enc;
    huge[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        Header::parse(&huge),
        Err(BundleError::TooLarge { .. })
    ));
    let garbage = b"#!/bin/sh\nrm -rf /\n";
    let (_, key) = keypair();
    assert!(matches!(
        verify(&mut file(garbage), &key),
        Err(BundleError::BadMagic)
    ));
}

#[test]
fn the_public_key_is_read_from_openssl_pem() {
    // RFC 8410, 10.1: an Ed25519 public key as `openssl pkey -pubout` writes it.
    let pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
    let k = UpdateKey::from_pem(pem, "test").unwrap();
    assert_eq!(k.0[..4], [0x19, 0xbf, 0x44, 0x09]);
    // An X25519 key (same length, other algorithm) and text that is no key are refused.
    let x25519 = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
    assert!(matches!(
        UpdateKey::from_pem(x25519, "x"),
        Err(BundleError::BadKey(_))
    ));
    assert!(matches!(
        UpdateKey::from_pem("hello", "h"),
        Err(BundleError::BadKey(_))
    ));
}
