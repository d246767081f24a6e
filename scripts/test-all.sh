#!/usr/bin/env bash
# Runs every test of cgnat: formatting, lints, docs, unit/property/RFC tests
# of cgnat-core, loom models, the DPDK tests (real EAL, TAP, pcap replay,
# namespaces), the lab on AF_XDP ports, the hostile-traffic suite, the Debian package under
# systemd in a clean root and the container lab (Docker), fuzz-target builds with a short
# fuzz run, and the benchmark smoke mode. As root on Debian 12; installs
# what it needs; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/install-deps.sh

step() { printf '\n=== %s\n' "$*"; }
start=$(date +%s)

# Workspace tests run DPDK for real: a skipped DPDK test is a failure here.
export CGNAT_DPDK_REQUIRE=1
export CARGO_TERM_COLOR=never

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "pure-Rust crates build and test without DPDK (plain cargo test)"
cargo test -p cgnat-core -p cgnat-cli --quiet 2>&1 | tail -n 3

step "cargo test --workspace"
cargo test --workspace

step "Prometheus alert rules: promtool check and unit tests (packaging/prometheus)"
(cd packaging/prometheus && promtool check rules cgnat-alerts.yml && promtool test rules cgnat-alerts.test.yml)

step "hostile-traffic suite: one real cgnatd per attack, TAP ports, namespaces, scapy (tests/hostile)"
bash tests/hostile/run.sh

step "the lab on AF_XDP ports (LAB_PORTS=afxdp tests/lab.sh run; fails if AF_XDP cannot run)"
LAB_PORTS=afxdp LAB_QUICK=1 LAB_METRICS_PORT=9473 LAB_PREFIX=cgx LAB_IF_IN=cgx-in LAB_IF_OUT=cgx-out LAB_DIR=/tmp/cgnat-lab-afxdp \
  bash tests/lab.sh run

step "the HA pair: kill -9 failover and planned switchover under iperf3 and UDP, sync losses, both logs verified (tests/ha.sh)"
bash tests/ha.sh run

# The package and the container lab need a Docker Engine: required in CI
# (CI=true), skipped with a message elsewhere.
if docker info >/dev/null 2>&1; then
  step "the Debian package: built, installed into a clean Debian root, run under systemd, the lab against it (tests/package.sh)"
  bash tests/package.sh
  step "the container lab: docker-compose, cgnatd from the package on DPDK TAP ports, real traffic (docker/lab.sh)"
  bash docker/lab.sh
elif [ -n "${CI:-}" ]; then
  echo "CI: no Docker Engine answers (docker info); the package test and the container lab must run here" >&2
  exit 1
else
  step "SKIPPED: the package test and the container lab (no Docker Engine answers 'docker info')"
fi

step "loom models of the table protocol"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p cgnat-core --test loom_tables --release

step "fuzz targets: build, and run each for a few seconds"
CARGO_TARGET_DIR=target/fuzz cargo build --quiet --manifest-path cgnat-core/fuzz/Cargo.toml
if command -v cargo-fuzz >/dev/null 2>&1; then
  secs=${CGNAT_FUZZ_SECONDS:-5}
  mkdir -p target/fuzz-logs
  (cd cgnat-core && for t in $(cargo fuzz list); do
     log=../target/fuzz-logs/$t.log
     if ! RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
       grep -v '^ *#[0-9]' "$log" | tail -n 30
       echo "fuzz target $t failed (input in cgnat-core/fuzz/artifacts/$t/)" >&2
       exit 1
     fi
     echo "fuzz $t: $(tail -n 1 "$log")"
   done)
else
  echo "cargo-fuzz missing although scripts/install-deps.sh installs it" >&2
  exit 1
fi

step "benchmarks compile (criterion --test mode runs each once)"
CGNAT_BENCH_SMALL=1 cargo bench -p cgnat-core --bench translate -- --test >/dev/null
CGNAT_BENCH_SMALL=1 cargo bench -p cgnat-core --bench memory >/dev/null
CGNAT_BENCH_SMALL=1 cargo bench -p cgnat-core --bench expiry >/dev/null
bash scripts/bench.sh --smoke | tail -n 25   # DPDK fast path, new sessions, memory, nftables side by side (tiny sizes)

echo
echo "all tests passed in $(( $(date +%s) - start )) s"
