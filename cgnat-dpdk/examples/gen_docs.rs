//! Man pages and shell completions of `cgnatd` and `cgnatctl`, generated
//! from their clap definitions (the package ships what this writes):
//!
//! ```sh
//! cargo run --release -p cgnat-dpdk --example gen_docs -- OUT_DIR
//! ```
//!
//! writes `OUT_DIR/man/cgnatd.8`, `OUT_DIR/man/cgnatctl.1` plus one page per
//! `cgnatctl` subcommand (`cgnatctl-lookup.1`, ...), and
//! `OUT_DIR/completions/{bash,zsh,fish}/...`.

use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

fn main() {
    let out = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        eprintln!("usage: gen_docs OUT_DIR");
        std::process::exit(2);
    });
    if let Err(e) = generate(&out) {
        eprintln!("gen_docs: {e}");
        std::process::exit(1);
    }
}

fn generate(out: &Path) -> std::io::Result<()> {
    let man = out.join("man");
    fs::create_dir_all(&man)?;
    // cgnatd is a system daemon: section 8; cgnatctl a user command: 1.
    let cgnatd = cgnat_dpdk::daemon::cli::command().version(env!("CARGO_PKG_VERSION"));
    write_man(&man, cgnatd.clone(), "8")?;
    let cgnatctl = cgnat_cli::cli::Cli::command().version(env!("CARGO_PKG_VERSION"));
    write_man(&man, cgnatctl.clone(), "1")?;
    for sub in cgnatctl.get_subcommands().filter(|s| !s.is_hide_set()) {
        // clap names are &'static str; this process ends right after.
        let name: &'static str = Box::leak(format!("cgnatctl-{}", sub.get_name()).into_boxed_str());
        let page = sub.clone().name(name).bin_name(format!("cgnatctl {}", sub.get_name()));
        write_man(&man, page.version(env!("CARGO_PKG_VERSION")), "1")?;
    }
    for (shell, dir) in [(Shell::Bash, "bash"), (Shell::Zsh, "zsh"), (Shell::Fish, "fish")] {
        let d = out.join("completions").join(dir);
        fs::create_dir_all(&d)?;
        for mut cmd in [cgnatd.clone(), cgnatctl.clone()] {
            let name = cmd.get_name().to_string();
            clap_complete::generate_to(shell, &mut cmd, name, &d)?;
        }
    }
    Ok(())
}

fn write_man(dir: &Path, cmd: clap::Command, section: &str) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    let page = clap_mangen::Man::new(cmd)
        .section(section)
        .manual("cgnat")
        .source(concat!("cgnat ", env!("CARGO_PKG_VERSION")));
    let mut buf = Vec::new();
    page.render(&mut buf)?;
    fs::write(dir.join(format!("{name}.{section}")), buf)
}
