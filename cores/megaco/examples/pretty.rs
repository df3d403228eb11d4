//! Reads a MEGACO message from stdin and writes it pretty and compact: handy with a capture.
//! `cargo run -p ivm-megaco --example pretty < message.txt`

use std::io::Read;

fn main() {
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("stdin: {e}");
        std::process::exit(1);
    }
    match ivm_megaco::decode(&bytes) {
        Ok(msg) => {
            print!("{}", ivm_megaco::encode(&msg, ivm_megaco::Form::Pretty));
            print!("{}", ivm_megaco::encode(&msg, ivm_megaco::Form::Compact));
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
