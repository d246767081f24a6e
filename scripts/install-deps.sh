#!/usr/bin/env bash
# Installs what building, testing and the lab need on Debian 12, as root.
# Idempotent: packages already present are skipped by apt.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang libclang-dev        # bindgen + C shim
  dpdk-dev libdpdk-dev                                 # DPDK 22.11
  iproute2 iputils-ping bridge-utils                   # namespaces, veth, bridge
  curl iperf3 dnsutils python3 python3-scapy           # lab traffic, pcap fixtures, attack generators
  natpmpc                                              # NAT-PMP client (RFC 6886) for the PCP lab checks
  tshark nftables conntrack                            # IPFIX decode, kernel NAT peer
  ethtool procps                                       # lab: checksum offload off, cgnatd's RSS (tests/hostile)
  valgrind                                             # instruction counts
  rsyslog                                              # real RFC 5424 collector (NAT log tests)
  prometheus                                           # promtool: checks the metrics exposition
  debootstrap                                          # the base image of the package test and container lab
  libivykis0 libnet1 libwrap0 libpcre3 libjson-c5      # syslog-ng-core's libraries (below)
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get needs it)" >&2
  exit 2
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  # tshark asks whether non-root users may capture; answer no.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# syslog-ng conflicts with rsyslog as a package (both provide
# system-log-daemon), so the collector tests (cgnat-cli/tests/collectors.rs)
# run Debian's syslog-ng unpacked from its own .deb, never as a service.
SYSLOG_NG_ROOT=/opt/cgnat-test/syslog-ng
if [ ! -x "$SYSLOG_NG_ROOT/usr/sbin/syslog-ng" ]; then
  tmp=$(mktemp -d)
  echo "install-deps: unpacking syslog-ng-core into $SYSLOG_NG_ROOT"
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root syslog-ng-core)
  mkdir -p "$SYSLOG_NG_ROOT"
  dpkg-deb -x "$tmp"/syslog-ng-core_*.deb "$SYSLOG_NG_ROOT"
  rm -rf "$tmp"
fi

# Rust: Debian 12's rustc (1.63) is too old; use rustup's toolchain.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: no cargo found. Install Rust >= 1.80 with rustup (https://rustup.rs)," >&2
  echo "  e.g. curl -sSf https://sh.rustup.rs | sh -s -- -y, then re-run." >&2
  exit 2
fi

# cargo-fuzz: the test command runs every fuzz target for a few seconds, so
# a target that cannot even start (its fixed configuration refused by a
# newer validation, say) fails the run instead of rotting unnoticed. From
# crates.io; the targets run on the stable toolchain with RUSTC_BOOTSTRAP=1.
if ! command -v cargo-fuzz >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo-fuzz" ]; then
  echo "install-deps: installing cargo-fuzz (crates.io)"
  cargo install --locked --quiet cargo-fuzz
fi

# cargo-deb builds the Debian package (packaging/build-deb.sh, decision 020).
if ! command -v cargo-deb >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo-deb" ]; then
  echo "install-deps: installing cargo-deb (crates.io)"
  cargo install --locked --quiet cargo-deb
fi

# The container lab's compose tool, where a Docker Engine runs.
if command -v docker >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
  echo "install-deps: installing docker-compose"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
