//! `cgnatctl`: the operator CLI of cgnat (see the `cgnat_cli` library).

fn main() {
    std::process::exit(cgnat_cli::main_with_args(std::env::args_os()));
}
