//! `ivm`: the command-line IVM client. All of it lives in the `ivm-client` crate.

fn main() -> std::process::ExitCode {
    ivm_client::main()
}
