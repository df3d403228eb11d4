//! A SIP byte stream as a TCP connection delivers it: the input is cut into reads of sizes
//! the fuzzer picks (first byte), fed to the stream framer, and every framed message goes
//! through the typed views and the round trip. The framer must never buffer more than one
//! message's limit plus one read, and once it fails it stays failed.
#![no_main]

use ivm_sip::message::{Framed, Framer, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1) * 7;
    let limits = Limits::default();
    let mut framer = Framer::new(limits);
    let mut failed = false;
    for read in stream.chunks(chunk) {
        framer.extend(read);
        loop {
            match framer.next() {
                Ok(Some(Framed::Message(m))) => {
                    assert!(!failed, "a failed framer yielded a message");
                    ivm_fuzz::exercise_sip(&m);
                }
                Ok(Some(Framed::Ping)) => assert!(!failed),
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(
            framer.buffered() <= limits.max_message + chunk,
            "framer holds {} bytes",
            framer.buffered()
        );
    }
});
