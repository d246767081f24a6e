#!/usr/bin/env bash
# The lab (README quick start): installs what it needs, builds cgnatd and
# cgnatctl, and runs tests/lab.sh: cgnatd --lab (the embedded lab config) on
# TAP PMD ports, two subscriber namespaces and an internet namespace, real
# traffic (ping, curl, UDP, iperf3 both ways), the NAT log, then cleanup.
# As root on Debian 12; safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/install-deps.sh
cargo build --release -p cgnat-dpdk --bin cgnatd -p cgnat-cli --bin cgnatctl
CGNATD="$PWD/target/release/cgnatd" exec bash tests/lab.sh "${1:-run}"
