#!/usr/bin/env bash
# Builds the Debian package target/debian/cgnat_VERSION_amd64.deb:
# release cgnatd and cgnatctl, man pages and completions generated from
# their clap definitions, then cargo-deb (metadata in cgnat-dpdk/Cargo.toml).
# Prints the package's path. Needs DPDK's -dev packages and cargo-deb
# (scripts/install-deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet -p cgnat-dpdk --bin cgnatd -p cgnat-cli --bin cgnatctl
rm -rf target/gen-docs
cargo run --release --quiet -p cgnat-dpdk --example gen_docs -- target/gen-docs
gzip -9n target/gen-docs/man/*
rm -f target/debian/cgnat_*.deb target/debian/cgnat-dbgsym_*
# Stripped binaries; their debug symbols go to cgnat-dbgsym_*.ddeb beside it.
cargo deb --quiet -p cgnat-dpdk --no-build --dbgsym --output target/debian/ >/dev/null
ls "$PWD"/target/debian/cgnat_*_amd64.deb
