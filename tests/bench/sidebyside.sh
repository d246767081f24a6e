#!/usr/bin/env bash
# Side by side: cgnatd (TAP PMD) and the Linux kernel (nftables SNAT with
# conntrack) driven by the same generator (tests/bench/udpgen.c, AF_PACKET
# sendmmsg of 64-byte UDP frames) in the same namespace topology:
#
#   ns sbs-sub (udpgen, CPU 0) ─ sbs-cin  ═ cgnatd, TAP PMD (worker lcore on CPU 1) ═ sbs-cout ─ ns sbs-inet (sink)
#                              ─ k-sub ── k-in  ns sbs-rtr (nft snat, RPS on CPU 1)  k-out ── k-inet
#                              ─ c-sub ── c-in  ns sbs-cg (cgnatd, AF_PACKET PMD)    c-out ── c-inet
#
# (a) cgnatd with the TAP PMD (DPDK's TAP ports moved into the namespaces),
# (b) the kernel router, (c) cgnatd with the AF_PACKET PMD on veth pairs,
# i.e. the same links as the kernel router.
#
# Per router: new connections per second (every frame opens a new flow,
# SUBS*FLOWS flows) then forwarded packets per second (the same flows
# again), both counted as frames received by the sink interface (the sink
# drops them: not for a local address, no forwarding). Also measures the
# kernel's conntrack memory per entry (/proc/slabinfo delta / entries).
#
# Usage: tests/bench/sidebyside.sh [--smoke]. Needs root. Prints
# `RESULT kind=...` lines. Cleans up everything it creates (trap), restores
# nf_conntrack_max. Environment: CGNATD (binary; default
# target/release/cgnatd), SBS_DIR (work dir, default /tmp/cgnat-sbs).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SMOKE=0
[ "${1:-}" = --smoke ] && SMOKE=1
CGNATD=${CGNATD:-$ROOT/target/release/cgnatd}
WORK=${SBS_DIR:-/tmp/cgnat-sbs}
NS_SUB=sbs-sub NS_INET=sbs-inet NS_RTR=sbs-rtr NS_CG=sbs-cg
IF_CIN=sbs-cin IF_COUT=sbs-cout
if [ $SMOKE = 1 ]; then
    SUBS=64 FLOWS=64 NEW_SECS=3 STEADY_SECS=1
else
    SUBS=1024 FLOWS=256 NEW_SECS=10 STEADY_SECS=5
fi
TOTAL=$((SUBS * FLOWS))
STEADY_MAX=200000000
SRC_BASE=100.64.4.0 DST=192.0.2.80 DPORT=9
CGNAT_MAC=02:c6:0a:00:00:01
CT_MAX_OLD=$(sysctl -n net.netfilter.nf_conntrack_max 2>/dev/null || echo "")

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
say() { printf 'sidebyside: %s\n' "$*" >&2; }

cleanup() {
    if [ -f "$WORK/cgnatd.pid" ]; then
        local pid
        pid=$(cat "$WORK/cgnatd.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -INT "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$WORK/cgnatd.pid"
    fi
    for ns in $NS_SUB $NS_INET $NS_RTR $NS_CG; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    for i in $IF_CIN $IF_COUT; do ip link del "$i" 2>/dev/null || true; done
    if [ -n "$CT_MAX_OLD" ]; then sysctl -qw net.netfilter.nf_conntrack_max="$CT_MAX_OLD" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { say "needs root"; exit 2; }
for c in nft conntrack gcc ip ethtool; do
    command -v $c >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables conntrack gcc iproute2 ethtool >/dev/null; break; }
done
[ -x "$CGNATD" ] || { say "no cgnatd at $CGNATD"; exit 1; }
cleanup
rm -rf "$WORK"; mkdir -p "$WORK"
gcc -O2 -Wall -o "$WORK/udpgen" "$ROOT/tests/bench/udpgen.c"

for ns in $NS_SUB $NS_INET $NS_RTR; do
    ip netns add $ns
    ip -n $ns link set lo up
done
no_offload() { nsx "$1" ethtool -K "$2" tx off rx off >/dev/null 2>&1 || true; }

# --- the kernel router ------------------------------------------------------
ip -n $NS_SUB link add k-sub type veth peer name k-in netns $NS_RTR
ip -n $NS_INET link add k-inet type veth peer name k-out netns $NS_RTR
ip -n $NS_SUB addr add 100.64.3.1/10 dev k-sub
ip -n $NS_RTR addr add 100.64.0.1/10 dev k-in
ip -n $NS_RTR addr add 198.51.101.2/24 dev k-out
ip -n $NS_INET addr add 198.51.101.1/24 dev k-inet
for x in "$NS_SUB k-sub" "$NS_RTR k-in" "$NS_RTR k-out" "$NS_INET k-inet"; do
    set -- $x; ip -n "$1" link set "$2" up; no_offload "$1" "$2"
done
ip -n $NS_RTR route add default via 198.51.101.1
nsx $NS_RTR sysctl -qw net.ipv4.ip_forward=1
nsx $NS_RTR sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.k-in.rp_filter=0
nsx $NS_RTR nft -f - <<'EOF'
table ip nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "k-out" snat to 198.51.101.10-198.51.101.250
    }
}
EOF
# The SNAT range: many addresses like cgnatd's pool (one address would run
# out of ports towards the single sink endpoint after 64 512 flows).
ip -n $NS_INET route add 198.51.101.0/24 dev k-inet 2>/dev/null || true
# The kernel router forwards on CPU 1 (RPS), like cgnatd's worker lcore;
# the generator runs on CPU 0.
nsx $NS_RTR sh -c 'echo 2 > /sys/class/net/k-in/queues/rx-0/rps_cpus' 2>/dev/null || true
sysctl -qw net.netfilter.nf_conntrack_max=$((TOTAL * 2 > 262144 ? TOTAL * 2 : 262144)) 2>/dev/null || true
K_MAC=$(nsx $NS_RTR cat /sys/class/net/k-in/address)

rx() { nsx $NS_INET cat "/sys/class/net/$1/statistics/rx_packets"; }
slab_bytes() { awk '$1 == "nf_conntrack" { print $15 * $6 * 4096 }' /proc/slabinfo; }
ct_count() { nsx $NS_RTR cat /proc/sys/net/netfilter/nf_conntrack_count; }

# gen IFACE MAC MODE SECS MAX -> "sent N secs S"
gen() { nsx $NS_SUB taskset -c 0 "$WORK/udpgen" "$1" "$2" $SRC_BASE $SUBS $FLOWS $DST $DPORT "$3" "$4" "$5"; }

# measure NAME SINK_IF GEN_IF MAC
measure() {
    local name=$1 sink=$2 gif=$3 mac=$4 r0 r1 out secs newc pps
    r0=$(rx "$sink")
    out=$(gen "$gif" "$mac" new $NEW_SECS $TOTAL)
    sleep 0.5
    r1=$(rx "$sink")
    secs=$(awk '{print $4}' <<<"$out")
    newc=$(awk -v a="$r0" -v b="$r1" -v s="$secs" 'BEGIN { printf "%.0f", (b - a) / s }')
    say "$name new flows: $out; sink got $((r1 - r0)) -> $newc new connections/s"
    echo "RESULT kind=sbs_new router=$name flows=$TOTAL sent=$(awk '{print $2}' <<<"$out") forwarded=$((r1 - r0)) secs=$secs rate=$newc"
    r0=$(rx "$sink")
    out=$(gen "$gif" "$mac" steady $STEADY_SECS $STEADY_MAX)
    sleep 0.3
    r1=$(rx "$sink")
    secs=$(awk '{print $4}' <<<"$out")
    pps=$(awk -v a="$r0" -v b="$r1" -v s="$secs" 'BEGIN { printf "%.0f", (b - a) / s }')
    say "$name steady: $out; sink got $((r1 - r0)) -> $pps packets/s forwarded"
    echo "RESULT kind=sbs_pps router=$name flows=$TOTAL sent=$(awk '{print $2}' <<<"$out") forwarded=$((r1 - r0)) secs=$secs pps=$pps"
}

# --- kernel run ----------------------------------------------------------------
# Prime ARP in both directions so no first packet waits.
nsx $NS_SUB ping -c1 -W1 100.64.0.1 >/dev/null 2>&1 || true
nsx $NS_RTR ping -c1 -W1 198.51.101.1 >/dev/null 2>&1 || true
s0=$(slab_bytes); c0=$(ct_count)
measure kernel k-inet k-sub "$K_MAC"
s1=$(slab_bytes); c1=$(ct_count)
per=$(awk -v a="$s0" -v b="$s1" -v c="$c0" -v d="$c1" 'BEGIN { if (d > c) printf "%.1f", (b - a) / (d - c); else print "nan" }')
objsize=$(awk '$1 == "nf_conntrack" { print $4 }' /proc/slabinfo)
say "conntrack: $((c1 - c0)) entries, slab +$((s1 - s0)) bytes -> $per bytes/entry (object size $objsize)"
echo "RESULT kind=conntrack entries=$((c1 - c0)) slab_added=$((s1 - s0)) bytes_per_entry=$per objsize=$objsize"

# --- cgnatd runs -----------------------------------------------------------------
# start_cgnatd NS INSIDE_DEVICE OUTSIDE_DEVICE (NS "" = the root namespace)
start_cgnatd() {
    local ns=$1 run=$4 pre=()
    [ -n "$ns" ] && pre=(ip netns exec "$ns")
    CGNAT_LOG__FILE=$WORK/$run-nat.log \
    CGNAT_CONTROL__SOCKET=$WORK/$run.sock \
    CGNAT_METRICS__LISTEN=127.0.0.1:9479 \
    CGNAT_DATAPLANE__WORKERS=1 \
    CGNAT_DATAPLANE__IDLE_SLEEP_US=0 \
    CGNAT_DATAPLANE__INSIDE__DEVICE="$2" \
    CGNAT_DATAPLANE__OUTSIDE__DEVICE="$3" \
    CGNAT_NAT__POOL=203.0.113.0/24 \
    CGNAT_NAT__MAX_SUBSCRIBERS=$((SUBS + 1024)) \
    CGNAT_NAT__MAX_SESSIONS=$((TOTAL * 2 + 4096)) \
    CGNAT_NAT__MAX_MAPPINGS=$((TOTAL * 2 + 4096)) \
        "${pre[@]}" "$CGNATD" --lab --stats-file "$WORK/$run-stats.txt" >"$WORK/$run.log" 2>&1 &
    echo $! >"$WORK/cgnatd.pid"
    for _ in $(seq 1 600); do
        grep -q "NAT log targets" "$WORK/$run.log" && break
        kill -0 "$(cat "$WORK/cgnatd.pid")" 2>/dev/null || { cat "$WORK/$run.log" >&2; exit 1; }
        sleep 0.1
    done
    grep -q "NAT log targets" "$WORK/$run.log" || { cat "$WORK/$run.log" >&2; exit 1; }
}

stop_cgnatd() {
    local name=$1 created pid
    pid=$(cat "$WORK/cgnatd.pid")
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$WORK/cgnatd.pid"
    created=$(awk '$1 == "nat.sessions_created" { print $2 }' "$WORK/$name-stats.txt" 2>/dev/null || true)
    say "$name counters: sessions created ${created:-?}; $(grep -E '^port ' "$WORK/$name-stats.txt" 2>/dev/null | tr '\n' ';')"
}

# (a) TAP PMD: DPDK's TAP ports moved into the namespaces.
start_cgnatd "" "net_tap0,iface=$IF_CIN" "net_tap1,iface=$IF_COUT" cgnatd-tap
ip link set $IF_CIN netns $NS_SUB
ip link set $IF_COUT netns $NS_INET
ip -n $NS_SUB addr add 100.64.2.1/10 dev $IF_CIN
ip -n $NS_INET addr add 198.51.100.1/24 dev $IF_COUT
for x in "$NS_SUB $IF_CIN" "$NS_INET $IF_COUT"; do
    set -- $x; ip -n "$1" link set "$2" up; no_offload "$1" "$2"
done
# cgnatd resolves its gateway on the first translated packet: send one flow first.
gen $IF_CIN $CGNAT_MAC new 1 1 >/dev/null
sleep 1.2
measure cgnatd-tap $IF_COUT $IF_CIN $CGNAT_MAC
stop_cgnatd cgnatd-tap

# (b) AF_PACKET PMD on veth pairs, cgnatd in its own namespace: the same
# links as the kernel router (veth in, veth out, RPS to CPU 1).
ip netns add $NS_CG
ip -n $NS_CG link set lo up
ip -n $NS_SUB link add c-sub type veth peer name c-in netns $NS_CG
ip -n $NS_INET link add c-inet type veth peer name c-out netns $NS_CG
ip -n $NS_SUB addr add 100.64.5.1/10 dev c-sub
ip -n $NS_INET addr add 198.51.102.1/24 dev c-inet
for x in "$NS_SUB c-sub" "$NS_CG c-in" "$NS_CG c-out" "$NS_INET c-inet"; do
    set -- $x; ip -n "$1" link set "$2" up; no_offload "$1" "$2"
done
[ "${SBS_CG_RPS:-0}" = 1 ] && { nsx $NS_CG sh -c "echo 2 > /sys/class/net/c-in/queues/rx-0/rps_cpus" 2>/dev/null || true; }
CGNAT_DATAPLANE__OUTSIDE__ADDRESS=198.51.102.2/24 CGNAT_DATAPLANE__OUTSIDE__GATEWAY=198.51.102.1 \
    start_cgnatd $NS_CG "net_af_packet0,iface=c-in" "net_af_packet1,iface=c-out" cgnatd-afpacket
gen c-sub $CGNAT_MAC new 1 1 >/dev/null
sleep 1.2
measure cgnatd-afpacket c-inet c-sub $CGNAT_MAC
stop_cgnatd cgnatd-afpacket
