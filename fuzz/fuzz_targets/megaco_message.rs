//! A MEGACO message from a gateway: the decoder, then the round trip (what the box encodes,
//! pretty or compact, decodes to the same message), and the digit maps it carries.
#![no_main]

use ivm_megaco::{decode, encode, Body, Descriptor, Form, Transaction};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ivm_megaco::digitmap::DigitMapValue::parse(text);
    }
    let Ok(msg) = decode(data) else {
        return;
    };
    for form in [Form::Pretty, Form::Compact] {
        let text = encode(&msg, form);
        assert_eq!(decode(text.as_bytes()).as_ref(), Ok(&msg), "MEGACO round trip ({form:?}):\n{text}");
    }
    if let Body::Transactions(ts) = &msg.body {
        for t in ts {
            if let Transaction::Request { actions, .. } = t {
                for d in actions.iter().flat_map(|a| &a.commands).flat_map(|c| &c.descriptors) {
                    if let Descriptor::DigitMap(dm) = d {
                        if let Some(v) = &dm.value {
                            let _ = v.map.evaluate(&ivm_megaco::digitmap::Symbol::keys("*7202").unwrap_or_default());
                        }
                    }
                }
            }
        }
    }
});
