//! `cgnatctl`: the operator CLI of cgnat (commands arrive with the
//! management-core and CLI issues).

fn main() {
    eprintln!("cgnatctl {}: no commands yet", env!("CARGO_PKG_VERSION"));
    std::process::exit(2);
}
