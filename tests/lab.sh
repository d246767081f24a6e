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
# PCP and NAT-PMP (tests/lab/pcp.sh): MAP, PEER, FILTER, ANNOUNCE, natpmpc,
# limits, expiry and clear against cgnatd's PCP server on 100.64.0.1:5351.
#
# Usage: tests/lab.sh [run|up|check|down]   (run = up + check + down; default)
#   up     start cgnatd and build the topology (leaves it running)
#   check  run the scenarios against a running lab; exit 1 if one fails
#   down   stop everything and remove every namespace/interface it created
# Environment: CGNATD (path to the binary; default target/debug/cgnatd, built
# if missing), LAB_PREFIX (namespace prefix, default cgn), LAB_DIR (work
# directory, default /tmp/cgnat-lab), LAB_WORKERS (default 2; 1 with AF_XDP),
# LAB_QUICK=1 (shorter iperf3 runs), LAB_PORTS (tap, the default: DPDK TAP
# ports; afxdp: AF_XDP ports on veth pairs, `LAB_PORTS=afxdp bash
# tests/lab.sh run`). Needs root. Safe to run twice: `up` starts with `down`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
P=${LAB_PREFIX:-cgn}
IF_IN=${LAB_IF_IN:-cgnat-in}
IF_OUT=${LAB_IF_OUT:-cgnat-out}
WORK=${LAB_DIR:-/tmp/cgnat-lab}
CGNATD=${CGNATD:-$ROOT/target/debug/cgnatd}
CGNATCTL=${CGNATCTL:-$(dirname "$CGNATD")/cgnatctl}
PORT_KIND=${LAB_PORTS:-tap}
# A veth has one queue, so an AF_XDP port on it serves one worker.
WORKERS=${LAB_WORKERS:-$([ "$PORT_KIND" = afxdp ] && echo 1 || echo 2)}
METRICS=127.0.0.1:${LAB_METRICS_PORT:-9469}
# shellcheck source=tests/lib/netns.sh
. "$ROOT/tests/lib/netns.sh"
NS_SUB1=$P-sub1 NS_SUB2=$P-sub2
NAMESPACES+=("$NS_SUB1" "$NS_SUB2")
IPERF_T=${LAB_QUICK:+2}
IPERF_T=${IPERF_T:-3}
UDP_TOOL=$ROOT/tests/lab/udp_tool.py
CTL=$ROOT/tests/lab/ctl.py
# shellcheck source=tests/lab/pcp.sh
. "$ROOT/tests/lab/pcp.sh"
# shellcheck source=tests/lab/prometheus.sh
. "$ROOT/tests/lab/prometheus.sh"

SUB1=100.64.1.10 SUB2=100.64.1.20
STATIC_PUB=203.0.113.14

install_deps() {
    local missing=()
    for c in ip ping curl iperf3 python3 ethtool natpmpc; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "lab.sh: installing missing tools: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 curl iproute2 iputils-ping dnsutils python3 ethtool natpmpc >/dev/null
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

    # The lab configuration explicitly (cgnatd without --config reads
    # /etc/cgnat/cgnatd.toml), with the read-only socket for group nogroup.
    export CGNAT_CONTROL__READONLY_SOCKET=$WORK/cgnatd-ro.sock
    export CGNAT_CONTROL__READONLY_GROUP=nogroup
    pcp_env
    # The daemon's own log also to a rolling file ([daemon_log], issue 14).
    export CGNAT_DAEMON_LOG__FILE=$WORK/cgnatd-own.log
    start_cgnatd --lab
    topology_up
    add_subscriber "$NS_SUB1" v-sub1 $SUB1
    add_subscriber "$NS_SUB2" v-sub2 $SUB2
    pcp_listen_announce

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
    toolkit
    pcp_checks
    daemon_log_check
    prometheus_check
}

# The daemon's own log: levels and RFC 3339 UTC timestamps, on stderr and
# in the [daemon_log] file.
daemon_log_check() {
    say "== the daemon's own log ($WORK/cgnatd-own.log)"
    sed 's/^/   /' "$WORK/cgnatd-own.log" | head -8
    local re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z (INFO|WARN|ERROR) '
    if grep -qE "$re.*worker\(s\) running" "$WORK/cgnatd-own.log" && grep -qE "$re.*worker\(s\) running" "$WORK/cgnatd.log"; then
        pass "daemon log: timestamped, levelled lines on stderr and in the [daemon_log] file"
    else fail "daemon log format: $(head -3 "$WORK/cgnatd-own.log" 2>&1)"; fi
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
    if grep -qE '^cgnat_table_entries\{table="sessions"\} [1-9]' <<<"$out" && grep -qE '^cgnat_log_records_total\{event="block-alloc"\} [1-9]' <<<"$out"; then
        pass "metrics: sessions in use and block allocations exported"
    else fail "metrics endpoint"; fi
    local dev=net_tap0
    [ "$PORT_KIND" = afxdp ] && dev=net_af_xdp0
    if grep -qE "^cgnat_port_received_packets_total\\{port=\"inside\",device=\"$dev\"\\} [1-9]" <<<"$out"; then
        pass "metrics: NIC counters of the ports (read by the management core)"
    else fail "metrics: no NIC counters"; fi
    if command -v promtool >/dev/null 2>&1; then
        local p
        if p=$(sed 's/\r$//' <<<"$out" | promtool check metrics 2>&1) && [ -z "$p" ]; then
            pass "promtool check metrics: the live scrape follows Prometheus' conventions"
        else fail "promtool check metrics: $p"; fi
    fi
    local undocumented
    undocumented=$(grep '^# TYPE ' <<<"$out" | awk '{print $3}' | while read -r m; do grep -q "| \`$m\`" "$ROOT/docs/metrics.md" || echo "$m"; done)
    if [ -z "$undocumented" ]; then pass "every exported metric is in docs/metrics.md"; else fail "undocumented metrics: $undocumented"; fi
}

# Issue 15's toolkit against the running lab: reload, subscribers, top
# (one frame), the read-only socket, NIC counters, history from the logs.
toolkit() {
    local sock=$WORK/cgnatd.sock ro=$WORK/cgnatd-ro.sock out rc
    say "== cgnatctl reload, subscribers, top, stats (NIC counters)"
    rc=0; out=$("$CGNATCTL" --socket "$sock" reload "$ROOT/configs/lab.toml" 2>&1) || rc=$?
    sed 's/^/   /' <<<"$out"
    if [ $rc = 0 ] && "$CGNATCTL" --socket "$sock" status | grep -q "^config: *$ROOT/configs/lab.toml"; then
        pass "cgnatctl reload configs/lab.toml; status names the file loaded"
    else fail "cgnatctl reload (exit $rc)"; fi
    out=$("$CGNATCTL" --socket "$sock" subscribers --sort sessions --top 5 2>&1) || true
    sed 's/^/   /' <<<"$out"
    if grep -q "^$SUB1 " <<<"$out" && grep -q "^$SUB2 " <<<"$out"; then pass "cgnatctl subscribers lists both subscribers"; else fail "cgnatctl subscribers"; fi
    rc=0; out=$(timeout 20 "$CGNATCTL" --socket "$sock" top --count 1 --interval 0.5 2>&1) || rc=$?
    sed 's/^/   /' <<<"$out"
    if [ $rc = 0 ] && grep -q '^WORKER' <<<"$out" && grep -q '^inside' <<<"$out"; then pass "cgnatctl top: one frame of rates, non-interactive"; else fail "cgnatctl top (exit $rc)"; fi
    out=$("$CGNATCTL" --socket "$sock" --json stats 2>&1) || true
    if python3 -c 'import json,sys; p=json.load(sys.stdin)["ports"]; sys.exit(0 if p and p[0]["rx_packets"] > 0 else 1)' <<<"$out"; then
        pass "cgnatctl stats: NIC counters while running"
    else fail "cgnatctl stats: NIC counters"; fi

    say "== the read-only socket ($ro)"
    if [ "$(stat -c '%a %G' "$ro" 2>/dev/null)" = "660 nogroup" ]; then pass "read-only socket is mode 0660, group nogroup"; else fail "read-only socket: $(stat -c '%a %G' "$ro" 2>&1)"; fi
    if "$CGNATCTL" --socket "$ro" status >/dev/null && "$CGNATCTL" --socket "$ro" sessions --subscriber $SUB1 --limit 1 >/dev/null; then
        pass "read-only socket answers queries"
    else fail "read-only socket queries"; fi
    rc=0; out=$("$CGNATCTL" --socket "$ro" clear --subscriber $SUB1 2>&1) || rc=$?
    if [ $rc = 2 ] && grep -q 'read-only control socket' <<<"$out"; then pass "read-only socket refuses clear: $(head -1 <<<"$out")"; else fail "read-only socket clear (exit $rc): $out"; fi
    if command -v setpriv >/dev/null; then
        local ctl=$WORK/cgnatctl-noc
        cp "$CGNATCTL" "$ctl" && chmod 755 "$ctl"
        if setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" --socket "$ro" status >/dev/null 2>&1; then
            pass "a member of the group (nobody:nogroup) queries the read-only socket"
        else fail "group access to the read-only socket"; fi
        rc=0; setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" --socket "$sock" status >/dev/null 2>&1 || rc=$?
        if [ $rc = 2 ]; then pass "... and is refused by the control socket (owner only)"; else fail "control socket let nobody in (exit $rc)"; fi
        rm -f "$ctl"
    fi

    say "== cgnatctl history $SUB1 (from the NAT logs in $WORK, beside the daemon's and the tools' logs)"
    rc=0; out=$("$CGNATCTL" history $SUB1 --log-dir "$WORK" 2>&1) || rc=$?
    sed 's/^/   /' <<<"$out"
    if [ $rc = 0 ] && grep -qE '^203\.0\.113\.[0-9]+ +[0-9]+-[0-9]+ ' <<<"$out"; then
        pass "cgnatctl history $SUB1: its public address and port blocks, with the records"
    else fail "cgnatctl history (exit $rc)"; fi
    if ls -a "$WORK" | grep -q cgnatidx; then fail "index files written beside the NAT logs"; else pass "no index file written beside the NAT logs"; fi
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
    out=$("$CGNATCTL" lookup --log-dir "$WORK" "$UDP_SEEN" --at "$UDP_AT" 2>&1) || rc=$?
    sed 's/^/   /' <<<"$out"
    if [ $rc = 0 ] && grep -q "$SUB1" <<<"$out"; then
        pass "cgnatctl lookup $UDP_SEEN at $UDP_AT from the log -> $SUB1"
    else fail "cgnatctl historical lookup of $UDP_SEEN (exit $rc)"; fi
}

stop_daemon() {
    say "== stopping cgnatd (SIGINT), an events --follow client attached"
    local follow_rc=0
    "$CGNATCTL" --socket "$WORK/cgnatd.sock" --json events --follow >"$WORK/follow.jsonl" 2>"$WORK/follow.err" &
    local fpid=$!
    sleep 1
    stop_pid "$PIDS/cgnatd" INT
    wait "$fpid" || follow_rc=$?
    if [ $follow_rc = 0 ] && tail -1 "$WORK/follow.jsonl" | grep -q '"event":"daemon-stop"'; then
        pass "events --follow got every record to daemon-stop and exited 0"
    else fail "events --follow at shutdown (exit $follow_rc): $(tail -2 "$WORK/follow.jsonl") $(cat "$WORK/follow.err")"; fi
    sed 's/^/   /' "$WORK/cgnatd.log" | grep -v 'dpdk: \(tap_\|qdisc\|eth_dev_tap\)' || true
    local allocs releases
    allocs=$(grep -c 'block-alloc ' "$WORK/nat.log" || true)
    releases=$(grep -c 'block-release' "$WORK/nat.log" || true)
    if [ "$allocs" -gt 0 ] && [ "$allocs" = "$releases" ]; then
        pass "clean shutdown: $allocs block allocations (static mappings included), $releases release records"
    else fail "allocations $allocs != releases $releases"; fi
    if [ "$(stat -c %a "$WORK/nat.log")" = 640 ] && [ "$(stat -c %a "$WORK/nat.jsonl")" = 640 ]; then
        pass "the NAT logs are mode 0640"
    else fail "NAT log modes: $(stat -c '%n %a' "$WORK"/nat.*)"; fi
    if [ -s "$WORK/stats.txt" ]; then
        local busy
        local want=$((WORKERS < 2 ? WORKERS : 2))
        busy=$(grep -cE '^worker [0-9]+: rx_inside [1-9][0-9]* rx_outside [1-9]' "$WORK/stats.txt" || true)
        if [ "$busy" -ge "$want" ] && [ "$WORKERS" -ge 2 ]; then pass "$busy workers received on both ports (flows cross workers)"
        elif [ "$busy" -ge "$want" ]; then pass "the worker received on both ports (one worker)"
        else fail "only $busy worker(s) received on both ports"; fi
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
