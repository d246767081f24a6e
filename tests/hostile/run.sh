#!/usr/bin/env bash
# The hostile-traffic suite (issue 9, "How it must be shown"): one test per
# attack, each against its own fresh cgnatd on TAP PMD ports with network
# namespaces around it (tests/lib/netns.sh), packets from scapy
# (tests/hostile/gen.py), limits from tests/hostile/hostile.toml.
#
#   01-spoofed-flood    one UDP packet from each of 10 000 spoofed subscriber addresses
#   02-midstream-ack    lone TCP ACKs (no SYN) from a subscriber
#   03-inbound-spray    1 000 source ports at one subscriber's UDP mapping
#   04-fragment-flood   orphan and first fragments at pool addresses and a mapping
#   05-global-fairness  four subscribers at their session limit, a newcomer
#   06-syn-flood        SYNs at pool addresses without mappings
#
# Each test asserts during its attack that a subscriber the NAT did not know
# fetches over HTTP and pings through it, and after it that the attack's
# state is gone within the bound computed from the configuration, that the
# NAT log grew by at most its bound and that cgnatd's RSS did not grow; it
# prints a PASS/FAIL line per check and one RESULT line with its figures.
#
# Usage: tests/hostile/run.sh [TEST...]   (names or numbers; default: all)
# Environment: CGNATD (default target/debug/cgnatd, built if missing;
# CGNATCTL defaults to the cgnatctl beside it). A cgnatd that predates the
# limits (its --check rejects [nat.admission]) runs the same tests with the
# limits' keys stripped: its failures are the "before" results.
# HOSTILE_DIR (work directory, default /tmp/cgnat-hostile-PID; removed when
# every test passed), HOSTILE_KEEP=1 (leave a failed test's lab up).
# Needs root, network namespaces, /dev/net/tun, python3-scapy: without
# them it fails (exit 1); it never skips.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"

die() { echo "hostile: cannot run: $*" >&2; echo "hostile: 0 passed, 1 failed"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, TAP devices, DPDK)"
[ -c /dev/net/tun ] || die "no /dev/net/tun (the TAP PMD needs it)"
PY=${HOSTILE_PYTHON:-/usr/bin/python3}
"$PY" -c 'import scapy.all' 2>/dev/null || die "$PY cannot import scapy (apt-get install python3-scapy; scripts/install-deps.sh)"
for c in ip ss curl ping nft ethtool ps timeout awk python3; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' is missing (scripts/install-deps.sh installs it)"
done
probe=hostile-probe-$$
ip netns add "$probe" 2>/dev/null || die "cannot create a network namespace"
ip netns del "$probe"

if [ -z "${CGNATD:-}" ]; then
    CGNATD=$ROOT/target/debug/cgnatd
    (cd "$ROOT" && cargo build -q -p cgnat-dpdk --bin cgnatd -p cgnat-cli --bin cgnatctl) || die "cargo build failed"
fi
CGNATCTL=${CGNATCTL:-$(dirname "$CGNATD")/cgnatctl}
[ -x "$CGNATD" ] || die "no cgnatd at $CGNATD"
[ -x "$CGNATCTL" ] || die "no cgnatctl at $CGNATCTL"
export CGNATD CGNATCTL HOSTILE_PYTHON=$PY

export HOSTILE_LEGACY=0
if ! out=$("$CGNATD" --config "$HERE/hostile.toml" --check 2>&1); then
    if grep -q "unknown field" <<<"$out"; then
        HOSTILE_LEGACY=1
        echo "hostile: $CGNATD predates the limits against hostile traffic ($out)"
        echo "hostile: running with them stripped from the configuration: expect failures (the 'before' results)"
    else
        die "$CGNATD rejects tests/hostile/hostile.toml: $out"
    fi
fi

export HOSTILE_ID=$(($$ % 100000))
export HOSTILE_DIR=${HOSTILE_DIR:-/tmp/cgnat-hostile-$HOSTILE_ID}
export HOSTILE_RESULTS=$HOSTILE_DIR/results.txt
rm -rf "$HOSTILE_DIR"
mkdir -p "$HOSTILE_DIR"
: >"$HOSTILE_RESULTS"

tests=()
if [ $# = 0 ]; then
    tests=("$HERE"/[0-9][0-9]-*.sh)
else
    for a in "$@"; do
        m=("$HERE"/*"$a"*.sh)
        [ -e "${m[0]}" ] || die "no test matches '$a'"
        tests+=("${m[0]}")
    done
fi

cleanup() {
    local t
    for t in "${tests[@]}"; do
        [ "${HOSTILE_KEEP:-0}" = 1 ] || bash "$t" --down >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT

start=$(date +%s)
passed=0 failed=0
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    echo
    echo "=== hostile: $name ($(sed -n 2p "$t" | sed 's/^# //'))"
    before=$(wc -l <"$HOSTILE_RESULTS")
    t0=$(date +%s)
    rc=0
    timeout --kill-after=10 240 bash "$t" 2>&1 | tee "$HOSTILE_DIR/$name.out" || rc=$?
    # Whatever a killed test left behind.
    [ "${HOSTILE_KEEP:-0}" = 1 ] || bash "$t" --down >/dev/null 2>&1 || true
    if [ "$(wc -l <"$HOSTILE_RESULTS")" = "$before" ]; then
        printf '%-22s FAIL  no result (exit %s)\n' "${name#[0-9][0-9]-}" "$rc" >>"$HOSTILE_RESULTS"
    fi
    if [ "$rc" = 0 ] && tail -1 "$HOSTILE_RESULTS" | grep -q ' PASS '; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
    echo "--- $name: $(($(date +%s) - t0)) s"
done

echo
echo "=== hostile-traffic suite: $CGNATD$([ "$HOSTILE_LEGACY" = 1 ] && echo " (limits stripped: predates them)") in $(($(date +%s) - start)) s"
cat "$HOSTILE_RESULTS"
if [ "$failed" = 0 ] && [ "${HOSTILE_KEEP:-0}" != 1 ]; then
    rm -rf "$HOSTILE_DIR"
else
    echo "logs: $HOSTILE_DIR"
fi
echo "hostile: $passed passed, $failed failed"
[ "$failed" = 0 ]
