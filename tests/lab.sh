#!/usr/bin/env bash
# The cgnat lab: cgnatd on two TAP PMD ports between two subscriber
# namespaces and an "internet" namespace, with real programs crossing the
# NAT (ping, curl, iperf3, UDP).
#
#   sub1 100.64.1.10 ─┐                 inside TAP            outside TAP
#                     ├─ br0 (ns access) ─ cgnat-in ═ cgnatd ═ cgnat-out ─ ns inet
#   sub2 100.64.1.20 ─┘                   100.64.0.1/10       198.51.100.2/24
#                                                              198.51.100.1/24 (+ 192.0.2.80 on lo)
#
# Usage: tests/lab.sh [run|up|check|down]   (run = up + check + down; default)
#   up     start cgnatd and build the topology (leaves it running)
#   check  run the scenarios against a running lab; exit 1 if one fails
#   down   stop everything and remove every namespace/interface it created
# Environment: CGNATD (path to the binary; default target/debug/cgnatd, built
# if missing), LAB_PREFIX (namespace prefix, default cgn), LAB_DIR (work
# directory, default /tmp/cgnat-lab), LAB_WORKERS (default 2), LAB_QUICK=1
# (shorter iperf3 runs). Needs root. Safe to run twice: `up` starts with `down`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
P=${LAB_PREFIX:-cgn}
IF_IN=${LAB_IF_IN:-cgnat-in}
IF_OUT=${LAB_IF_OUT:-cgnat-out}
WORK=${LAB_DIR:-/tmp/cgnat-lab}
CGNATD=${CGNATD:-$ROOT/target/debug/cgnatd}
CGNATCTL=${CGNATCTL:-$(dirname "$CGNATD")/cgnatctl}
WORKERS=${LAB_WORKERS:-2}
METRICS=127.0.0.1:${LAB_METRICS_PORT:-9469}
# shellcheck source=tests/lib/netns.sh
. "$ROOT/tests/lib/netns.sh"
NS_SUB1=$P-sub1 NS_SUB2=$P-sub2
NAMESPACES+=("$NS_SUB1" "$NS_SUB2")
IPERF_T=${LAB_QUICK:+2}
IPERF_T=${IPERF_T:-3}
UDP_TOOL=$ROOT/tests/lab/udp_tool.py
CTL=$ROOT/tests/lab/ctl.py

SUB1=100.64.1.10 SUB2=100.64.1.20
STATIC_PUB=203.0.113.14

install_deps() {
    local missing=()
    for c in ip ping curl iperf3 python3 ethtool; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "lab.sh: installing missing tools: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 curl iproute2 iputils-ping dnsutils python3 ethtool >/dev/null
}

down() { lab_down; }

up() {
    need_root
    install_deps
    down
    if [ ! -x "$CGNATD" ]; then
        (cd "$ROOT" && cargo build -q -p cgnat-dpdk --bin cgnatd)
    fi
    if [ ! -x "$CGNATCTL" ]; then
        (cd "$ROOT" && cargo build -q -p cgnat-cli --bin cgnatctl)
        CGNATCTL=$ROOT/target/debug/cgnatctl
    fi
    rm -rf "$WORK"
    mkdir -p "$PIDS" "$WORK/www"
    echo "hello from the internet" >"$WORK/www/index.html"
    mkdir -p "$WORK/www-sub2"
    echo "hello from sub2" >"$WORK/www-sub2/index.html"

    start_cgnatd
    topology_up
    add_subscriber "$NS_SUB1" v-sub1 $SUB1
    add_subscriber "$NS_SUB2" v-sub2 $SUB2

    say "lab: starting servers"
    bg http-inet "$NS_INET" python3 -m http.server 80 --bind $WEB --directory "$WORK/www"
    bg iperf3 "$NS_INET" iperf3 -s -B $INET -p 5201
    bg reflector "$NS_INET" python3 -u "$UDP_TOOL" reflect --bind $INET:3478
    bg http-sub2 "$NS_SUB2" python3 -m http.server 8080 --bind $SUB2 --directory "$WORK/www-sub2"
    bg http-sub1-trap "$NS_SUB1" python3 -m http.server 7001 --bind $SUB1 --directory "$WORK/www"
    bg udp-sub1-trap "$NS_SUB1" python3 -u "$UDP_TOOL" listen --bind $SUB1:7000 --out "$WORK/udp-sub1-trap.count"
    wait_for 15 "servers" nsx "$NS_INET" bash -c "exec 3<>/dev/tcp/$WEB/80" || true
    # sub2's UDP server learns its public endpoint from the reflector first
    # (an outbound packet creates its endpoint-independent mapping).
    bg udp-sub2 "$NS_SUB2" python3 -u "$UDP_TOOL" reflect --bind $SUB2:5000 \
        --announce $INET:3478 --announce-file "$WORK/sub2.public"
    wait_for 30 "sub2's public UDP endpoint" test -s "$WORK/sub2.public" || true
    say "lab: up (logs in $WORK)"
}

check() {
    need_root
    local out pub
    say "== ping"
    if nsx "$NS_SUB1" ping -c 2 -W 2 $GW_IN >/dev/null; then pass "sub1 pings cgnatd's inside address $GW_IN"; else fail "ping $GW_IN"; fi
    if nsx "$NS_SUB1" ping -c 3 -W 2 $INET >"$WORK/ping.out"; then pass "sub1 pings $INET through the NAT"; else fail "ping $INET"; fi
    if nsx "$NS_INET" ping -c 2 -W 2 203.0.113.5 >/dev/null; then pass "the internet pings pool address 203.0.113.5 (proxy ARP + echo)"; else fail "ping pool address"; fi
    out=$(nsx "$NS_SUB1" ping -c 1 -t 1 -W 2 $WEB 2>&1 || true)
    if grep -q "From $GW_IN.*Time to live exceeded" <<<"$out"; then pass "TTL 1 → ICMP time exceeded from $GW_IN"; else fail "time exceeded: $out"; fi

    say "== curl (HTTP server logs the client address)"
    for s in 1 2; do
        if nsx "$P-sub$s" curl -sS --max-time 10 "http://$WEB/" | grep -q "hello from the internet"; then pass "sub$s fetches http://$WEB/"; else fail "curl from sub$s"; fi
    done
    sleep 0.5
    say "   server log: $(grep -c 'GET /' "$WORK/http-inet.log" || true) requests:"
    sed 's/^/     /' "$WORK/http-inet.log" | grep 'GET /' || true
    if grep 'GET /' "$WORK/http-inet.log" | grep -q '^203\.0\.113\.' && ! grep -q '^100\.' "$WORK/http-inet.log"; then
        pass "the server saw only pool addresses (203.0.113.0/28)"
    else fail "server saw a non-pool client"; fi

    say "== UDP request"
    UDP_AT=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
    out=$(nsx "$NS_SUB1" python3 "$UDP_TOOL" query --to $INET:3478 2>&1 || true)
    if grep -q '^seen 203\.0\.113\.' <<<"$out"; then pass "sub1 UDP query answered; the server saw '$out'"; else fail "UDP query: $out"; fi
    UDP_SEEN=$(sed -n 's/^seen \([0-9.]*:[0-9]*\).*/\1/p' <<<"$out" | head -1)

    say "== iperf3 (${IPERF_T}s each)"
    local name args
    for name in "tcp upload::" "tcp download::-R" "udp upload::-u -b 20M" "udp download::-u -b 20M -R"; do
        args=${name#*::}; name=${name%%::*}
        # shellcheck disable=SC2086
        if out=$(nsx "$NS_SUB1" iperf3 -c $INET -p 5201 -t "$IPERF_T" -P 2 $args 2>&1); then
            pass "iperf3 $name: $(grep -E 'receiver' <<<"$out" | tail -1 | sed -E 's/ +/ /g')"
        else
            fail "iperf3 $name: $(tail -3 <<<"$out")"
        fi
    done

    say "== unsolicited inbound traffic is dropped"
    nsx "$NS_INET" python3 "$UDP_TOOL" send --to $SUB1:7000 --count 5 || true
    for a in 203.0.113.1 203.0.113.5 203.0.113.9; do
        nsx "$NS_INET" python3 "$UDP_TOOL" send --to $a:7000 --count 3 || true
        nsx "$NS_INET" curl -s --max-time 1 "http://$a:7001/" >/dev/null 2>&1 || true
    done
    nsx "$NS_INET" curl -s --max-time 2 "http://$SUB1:7001/" >/dev/null 2>&1 || true
    sleep 1
    if [ "$(cat "$WORK/udp-sub1-trap.count" 2>/dev/null || echo 0)" = 0 ] && ! grep -q 'GET /' "$WORK/http-sub1-trap.log"; then
        pass "nothing from the internet reached sub1 (UDP and TCP, to its address and to pool addresses)"
    else fail "unsolicited traffic reached sub1"; fi

    say "== hairpinning (sub1 → sub2 via sub2's public address)"
    pub=$(cat "$WORK/sub2.public" 2>/dev/null || true)
    if [ -n "$pub" ]; then
        out=$(nsx "$NS_SUB1" python3 "$UDP_TOOL" query --to "$pub" 2>&1 || true)
        if grep -q '^seen 203\.0\.113\.' <<<"$out"; then pass "UDP to sub2's public endpoint $pub answered; sub2 saw '$out'"; else fail "UDP hairpin to $pub: $out"; fi
    else fail "sub2 never learned its public UDP endpoint"; fi
    if nsx "$NS_SUB1" curl -sS --max-time 10 "http://$STATIC_PUB:8080/" | grep -q "hello from sub2"; then
        pass "sub1 fetches http://$STATIC_PUB:8080/ (static mapping to sub2, hairpinned)"
    else fail "TCP hairpin"; fi
    if nsx "$NS_INET" curl -sS --max-time 10 "http://$STATIC_PUB:8080/" | grep -q "hello from sub2"; then
        pass "the internet fetches http://$STATIC_PUB:8080/ (static inbound mapping)"
    else fail "static inbound mapping"; fi
    sleep 0.5
    say "   sub2's server log:"
    sed 's/^/     /' "$WORK/http-sub2.log" | grep 'GET /' || true
    if grep 'GET /' "$WORK/http-sub2.log" | grep -q '^203\.0\.113\.' && ! grep 'GET /' "$WORK/http-sub2.log" | grep -q '^100\.'; then
        pass "sub2 saw sub1 as a pool address (RFC 4787 REQ-9)"
    else fail "sub2 saw a private client address"; fi

    say "== NAT log ($WORK/nat.log)"
    sed 's/^/   /' "$WORK/nat.log" || true
    for a in $SUB1 $SUB2; do
        if grep -q "block-alloc subscriber=$a " "$WORK/nat.log"; then pass "NAT log has a block allocation for $a"; else fail "no block-alloc for $a"; fi
    done
    if [ -s "$WORK/nat.jsonl" ] && [ "$(wc -l <"$WORK/nat.jsonl")" = "$(wc -l <"$WORK/nat.log")" ]; then
        pass "JSON-lines copy of the NAT log ($WORK/nat.jsonl) has every record"
    else fail "JSON-lines log missing or short"; fi
    control_and_metrics
}

# The control socket (docs/control-protocol.md) and the Prometheus endpoint.
control_and_metrics() {
    local sock=$WORK/cgnatd.sock out line pub port
    say "== control socket ($sock) and metrics (http://$METRICS/metrics)"
    if [ "$(stat -c %a "$sock" 2>/dev/null)" = 600 ]; then pass "control socket is mode 0600"; else fail "control socket mode $(stat -c %a "$sock" 2>&1)"; fi
    line=$(grep -m1 "block-alloc subscriber=$SUB1 " "$WORK/nat.log")
    pub=$(sed -n 's/.* public=\([0-9.]*\) .*/\1/p' <<<"$line")
    port=$(sed -n 's/.* ports=\([0-9]*\)-.*/\1/p' <<<"$line")
    out=$(python3 "$CTL" "$sock" '{"cmd":"status"}' "{\"cmd\":\"lookup\",\"public\":\"$pub\",\"port\":$port}" \
        "{\"cmd\":\"sessions\",\"filter\":{\"subscriber\":\"$SUB1\"},\"limit\":3}" \
        "{\"cmd\":\"subscriber\",\"address\":\"$SUB1\"}" '{"cmd":"stats"}' 'not json' '{"cmd":"clear"}' 2>&1)
    sed 's/^/   /' <<<"$out" | cut -c1-300
    if sed -n 1p <<<"$out" | grep -q '"type":"status"'; then pass "control: status"; else fail "control: status"; fi
    if sed -n 2p <<<"$out" | grep -q "\"subscriber\":\"$SUB1\""; then pass "control: live lookup $pub:$port -> $SUB1"; else fail "control: lookup $pub:$port"; fi
    if sed -n 3p <<<"$out" | grep -q '"type":"sessions","sessions":\[{'; then pass "control: sessions of $SUB1"; else fail "control: sessions"; fi
    if sed -n 4p <<<"$out" | grep -q "\"public\":\"$pub\""; then pass "control: subscriber detail"; else fail "control: subscriber"; fi
    if sed -n 5p <<<"$out" | grep -q '"translated_out":[1-9]'; then pass "control: stats"; else fail "control: stats"; fi
    if sed -n 6,7p <<<"$out" | grep -c '"code":"bad-request"' | grep -q 2; then pass "control: malformed requests answered with errors"; else fail "control: malformed requests"; fi
    out=$(curl -sS --max-time 5 "http://$METRICS/metrics" 2>&1)
    grep -E '^cgnat_(table_used|log_records_total\{event="block-alloc"\}|worker_translated_total)' <<<"$out" | sed 's/^/   /'
    if grep -qE '^cgnat_table_used\{table="sessions"\} [1-9]' <<<"$out" && grep -qE '^cgnat_log_records_total\{event="block-alloc"\} [1-9]' <<<"$out"; then
        pass "metrics: sessions in use and block allocations exported"
    else fail "metrics endpoint"; fi
}

# The abuse-desk question for the flow the UDP check made: who was
# UDP_SEEN at UDP_AT? Asked live (control socket) while cgnatd runs, and
# from the NAT log file after it stopped (the historical answer).
lookup_live() {
    [ -n "${UDP_SEEN:-}" ] || { fail "cgnatctl lookup: no flow recorded by the UDP check"; return; }
    say "== cgnatctl lookup $UDP_SEEN (live)"
    local out
    out=$("$CGNATCTL" --socket "$WORK/cgnatd.sock" lookup "$UDP_SEEN" 2>&1) || true
    sed 's/^/   /' <<<"$out"
    if grep -q "$SUB1" <<<"$out"; then pass "cgnatctl lookup $UDP_SEEN (live) -> $SUB1"; else fail "cgnatctl live lookup of $UDP_SEEN"; fi
}

lookup_history() {
    [ -n "${UDP_SEEN:-}" ] || return
    say "== cgnatctl lookup $UDP_SEEN --at $UDP_AT (from the NAT log)"
    local out rc=0
    out=$("$CGNATCTL" lookup --log "$WORK/nat.log" "$UDP_SEEN" --at "$UDP_AT" 2>&1) || rc=$?
    sed 's/^/   /' <<<"$out"
    if [ $rc = 0 ] && grep -q "$SUB1" <<<"$out"; then
        pass "cgnatctl lookup $UDP_SEEN at $UDP_AT from the log -> $SUB1"
    else fail "cgnatctl historical lookup of $UDP_SEEN (exit $rc)"; fi
}

stop_daemon() {
    say "== stopping cgnatd (SIGINT)"
    stop_pid "$PIDS/cgnatd" INT
    sed 's/^/   /' "$WORK/cgnatd.log" | grep -v '^   tap_\|^   qdisc\|^   eth_dev_tap' || true
    local allocs releases
    allocs=$(grep -c 'block-alloc .*reason=new-mapping' "$WORK/nat.log" || true)
    releases=$(grep -c 'block-release' "$WORK/nat.log" || true)
    if [ "$allocs" -gt 0 ] && [ "$allocs" = "$releases" ]; then
        pass "clean shutdown: $allocs block allocations, $releases release records"
    else fail "allocations $allocs != releases $releases"; fi
    if [ -s "$WORK/stats.txt" ]; then
        local busy
        busy=$(grep -cE '^worker [0-9]+: rx_inside [1-9][0-9]* rx_outside [1-9]' "$WORK/stats.txt" || true)
        if [ "$busy" -ge 2 ]; then pass "$busy workers received on both ports (flows cross workers)"; else fail "only $busy worker(s) received on both ports"; fi
    else fail "no statistics written"; fi
}

# Every NAT log the lab wrote passes cgnatctl log verify (each target on
# its own: the text log with its rotated files, and the JSON-lines copy).
verify_logs() {
    say "== cgnatctl log verify"
    local out rc f
    for f in "$WORK/nat.log" "$WORK/nat.jsonl"; do
        rc=0
        out=$("$CGNATCTL" log verify "$f" 2>&1) || rc=$?
        sed 's/^/   /' <<<"$out"
        if [ $rc = 0 ]; then pass "cgnatctl log verify $f"; else fail "cgnatctl log verify $f (exit $rc)"; fi
    done
}

cmd=${1:-run}
case "$cmd" in
    up) up ;;
    down) down ;;
    check) check; exit $FAILED ;;
    run)
        trap down EXIT
        up
        check
        lookup_live
        stop_daemon
        lookup_history
        verify_logs
        if [ $FAILED = 0 ]; then say "lab: ALL PASSED"; else say "lab: FAILURES"; fi
        exit $FAILED
        ;;
    *) say "usage: $0 [run|up|check|down]"; exit 2 ;;
esac
