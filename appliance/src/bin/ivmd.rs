//! `ivmd`: the box. See `ivmd --help`.

fn main() -> std::process::ExitCode {
    ivm_appliance::cli::main()
}
