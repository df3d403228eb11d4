//! The fuzz target's seed corpus (`fuzz/corpus/mgcp_message/seed-*`, written by
//! `fuzz/make-seeds`) is real MGCP: every seed but the bare digit map decodes and round-trips,
//! so the fuzzer starts from inputs that reach deep into the codec.

use std::path::Path;

use ivm_mgcp::message::{decode, encode};

#[test]
fn every_seed_decodes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/mgcp_message");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the seed corpus exists") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.starts_with("seed-") || name == "seed-digit-map" {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        let messages = decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decode(&encode(&messages)).as_ref(), Ok(&messages), "{name}");
        seen += 1;
    }
    assert!(seen >= 14, "only {seen} seeds");
}
