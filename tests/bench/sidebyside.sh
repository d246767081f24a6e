#!/usr/bin/env bash
# Side by side: the Linux kernel (nftables SNAT with conntrack) and cgnatd
# on three kinds of DPDK port, driven by the same generator
# (tests/bench/udpgen.c: AF_PACKET sendmmsg of 64-byte UDP frames, on CPU 0)
# into the same sink, in one run:
#
#   ns sbs-sub ─ k-sub ── k-in  ns sbs-rtr: nftables SNAT (RPS on CPU 1)  k-out ── k-inet ─ ns sbs-inet
#              ─ sbs-cin ═ cgnatd, TAP PMD (its TAP interfaces)  ═ sbs-cout ─
#              ─ c-sub ── c-in  ns sbs-cg: cgnatd, AF_PACKET PMD  c-out ── c-inet ─
#              ─ x-sub ── x-in  ns sbs-cx: cgnatd, AF_XDP PMD     x-out ── x-inet ─
#
# Every cgnatd runs configs/sidebyside.toml with one worker lcore on CPU 1.
# The sink counts the frames that reach it with an nftables counter on the
# ingress hook of its interface (and drops them there). For every router:
#
#   packets/s: the generator opens STEADY_FLOWS flows, then
#     - blast: sends over them as fast as it can for BLAST_SECS; offered,
#       delivered and lost frames, and delivered/s (at the stated loss);
#     - search: offers paced rates, doubling from START_RATE, then bisecting,
#       at most STEPS rates of TRIAL_SECS: the highest offered rate whose
#       loss is at most LOSS_PPM parts per million (default 1000 = 0.1 %);
#       a rate that fails is tried once more and fails only if both fail;
#   new connections/s: every frame opens a new flow (never seen before):
#     - blast: NEW_BLAST new flows as fast as the generator sends them;
#     - search: as above, each trial with fresh flows: the highest rate of
#       connections completed (first packet delivered) with loss ≤ LOSS_PPM.
#   A search that passes at the generator's own limit says so (limit=generator);
#   a blast without loss counts as such a pass (no search then).
#
# Prints `RESULT kind=...` lines (sbs_trial per trial; sbs_pps and sbs_new per
# router; conntrack: the kernel's bytes per conntrack entry) and a table with
# the ratio of each figure to the kernel's from the same run.
#
# Usage: tests/bench/sidebyside.sh [--smoke]. Needs root. Environment:
# CGNATD (binary; default target/release/cgnatd), SBS_DIR (work dir,
# default /tmp/cgnat-sbs), SBS_ROUTERS (default "kernel cgnatd-tap
# cgnatd-afpacket cgnatd-afxdp"; NAME@base runs CGNATD_BASE instead),
# SBS_LOSS_PPM. Cleans up everything it
# creates (trap) and restores the conntrack limits. Fails (exit 1) if a
# router cannot run, e.g. AF_XDP sockets are unavailable.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SMOKE=0
[ "${1:-}" = --smoke ] && SMOKE=1
CGNATD=${CGNATD:-$ROOT/target/release/cgnatd}
CONFIG=$ROOT/configs/sidebyside.toml
WORK=${SBS_DIR:-/tmp/cgnat-sbs}
ROUTERS=${SBS_ROUTERS:-kernel cgnatd-tap cgnatd-afpacket cgnatd-afxdp}
NS_SUB=sbs-sub NS_INET=sbs-inet NS_RTR=sbs-rtr NS_CG=sbs-cg NS_CX=sbs-cx
IF_CIN=sbs-cin IF_COUT=sbs-cout
LOSS_PPM=${SBS_LOSS_PPM:-1000}
if [ $SMOKE = 1 ]; then
    SUBS=256 STEADY_FLOWS=4096 BLAST_SECS=0.5 TRIAL_SECS=0.25 STEPS=4
    NEW_BLAST=8192 NEW_MIN=2000 NEW_MAX=20000 START_RATE=50000
else
    SUBS=4096 STEADY_FLOWS=65536 BLAST_SECS=3 TRIAL_SECS=1 STEPS=10
    NEW_BLAST=262144 NEW_MIN=20000 NEW_MAX=400000 START_RATE=50000
fi
MAX_RATE=8000000 MIN_RATE=1000 WARM_RATE=50000
# Every flow any run opens: the steady flows, the new-connection blast and
# the search trials (sizes the kernel's conntrack table; cgnatd's tables are
# sized in configs/sidebyside.toml).
ALL_FLOWS=$((STEADY_FLOWS + NEW_BLAST + STEPS * NEW_MAX))
SRC_BASE=100.64.16.0 DST=192.0.2.80 DPORT=9
CGNAT_MAC=02:c6:0a:00:00:01
CT_MAX_OLD=$(sysctl -n net.netfilter.nf_conntrack_max 2>/dev/null || echo "")
CT_HASH_OLD=$(cat /sys/module/nf_conntrack/parameters/hashsize 2>/dev/null || echo "")

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
say() { printf 'sidebyside: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

stop_cgnatd_pid() {
    local pid
    [ -f "$WORK/cgnatd.pid" ] || return 0
    pid=$(cat "$WORK/cgnatd.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -INT "$pid" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    rm -f "$WORK/cgnatd.pid"
}

cleanup() {
    stop_cgnatd_pid
    for ns in $NS_SUB $NS_INET $NS_RTR $NS_CG $NS_CX; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    for i in $IF_CIN $IF_COUT; do ip link del "$i" 2>/dev/null || true; done
    if [ -n "$CT_MAX_OLD" ]; then sysctl -qw net.netfilter.nf_conntrack_max="$CT_MAX_OLD" 2>/dev/null || true; fi
    if [ -n "$CT_HASH_OLD" ]; then echo "$CT_HASH_OLD" >/sys/module/nf_conntrack/parameters/hashsize 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { say "needs root"; exit 2; }
for c in nft conntrack gcc ip ethtool; do
    command -v $c >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables conntrack gcc iproute2 ethtool >/dev/null; break; }
done
[ -x "$CGNATD" ] || die "no cgnatd at $CGNATD"
BIN=$CGNATD
cleanup
rm -rf "$WORK"; mkdir -p "$WORK"
gcc -O2 -Wall -o "$WORK/udpgen" "$ROOT/tests/bench/udpgen.c"
RES=$WORK/results.txt
: >"$RES"
emit() { echo "RESULT $*"; echo "RESULT $*" >>"$RES"; }

for ns in $NS_SUB $NS_INET; do
    ip netns add $ns
    ip -n $ns link set lo up
done
# The sink: frames to DST:DPORT are counted and dropped on the ingress hook
# of each sink interface (one counter per router), before any IP processing.
nsx $NS_INET nft add table netdev sink
sink_add() { # sink_add DEV: count (and drop) the benchmark's frames arriving on DEV
    # (a chain left from an earlier router on an interface of that name goes first)
    nsx $NS_INET nft delete chain netdev sink "$1" 2>/dev/null || true
    nsx $NS_INET nft delete counter netdev sink "$1" 2>/dev/null || true
    nsx $NS_INET nft add counter netdev sink "$1"
    nsx $NS_INET nft add chain netdev sink "$1" "{ type filter hook ingress device \"$1\" priority 0; }"
    nsx $NS_INET nft add rule netdev sink "$1" ip daddr $DST udp dport $DPORT counter name "\"$1\"" drop
}
sink_count() { nsx $NS_INET nft list counter netdev sink "$1" | awk '/packets/ { print $2; exit }'; }
no_offload() { nsx "$1" ethtool -K "$2" tx off rx off >/dev/null 2>&1 || true; }

# link_pair NS_A IF_A NS_B IF_B: a veth pair, up, checksums complete on the
# wire (the NAT updates them incrementally).
link_pair() {
    ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
    ip -n "$1" link set "$2" up; no_offload "$1" "$2"
    ip -n "$3" link set "$4" up; no_offload "$3" "$4"
}

# gen IFACE MAC ARGS...: one generator run from the subscriber namespace on CPU 0.
gen() {
    local ifc=$1 mac=$2; shift 2
    nsx $NS_SUB taskset -c 0 "$WORK/udpgen" --iface "$ifc" --dst-mac "$mac" --src $SRC_BASE \
        --subs $SUBS --dst $DST --dport $DPORT "$@"
}
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$2"; }

# trial ROUTER TEST RATE (0: as fast as possible): one measurement. Sets
# T_OFF (frames sent), T_DEL (frames counted by the sink), T_SECS (the
# sender's time), T_SPAN (the sender's time plus the time the router took
# to deliver what was still queued when the sender stopped: the sink's
# counter is read every 50 ms until it stops moving), T_ACH (the sender's
# achieved rate); prints a sbs_trial result.
NEXT_FLOW=$STEADY_FLOWS
trial() {
    local r=$1 test=$2 rate=$3 out c0 c n secs t_end t_last prev still
    c0=$(sink_count "$SINK")
    if [ "$test" = new ]; then
        if [ "$rate" = 0 ]; then n=$NEW_BLAST; else
            n=$(awk -v r="$rate" -v t=$TRIAL_SECS -v lo=$NEW_MIN -v hi=$NEW_MAX 'BEGIN { n = int(r * t); if (n < lo) n = lo; if (n > hi) n = hi; print n }')
        fi
        out=$(gen "$GEN_IF" "$GEN_MAC" --mode new --first $NEXT_FLOW --count "$n" --rate "$rate" --seconds 60)
        NEXT_FLOW=$((NEXT_FLOW + n))
    else
        secs=$([ "$rate" = 0 ] && echo $BLAST_SECS || echo $TRIAL_SECS)
        out=$(gen "$GEN_IF" "$GEN_MAC" --mode steady --flows $STEADY_FLOWS --seconds "$secs" --rate "$rate")
    fi
    t_end=$(date +%s.%N) t_last=$t_end prev=-1 still=0
    # Until the counter has not moved for 3 reads (at most ~3 s).
    for _ in $(seq 1 60); do
        sleep 0.05
        c=$(sink_count "$SINK")
        if [ "$c" = "$prev" ]; then
            still=$((still + 1))
            [ $still -ge 3 ] && break
        else
            still=0 prev=$c t_last=$(date +%s.%N)
        fi
    done
    T_OFF=$(field sent "$out"); T_SECS=$(field secs "$out"); T_ACH=$(field achieved "$out")
    T_DEL=$((c - c0))
    T_SPAN=$(awk -v s="$T_SECS" -v a="$t_end" -v b="$t_last" 'BEGIN { t = b - a - 0.05; printf "%.4f", s + (t > 0 ? t : 0) }')
    emit "kind=sbs_trial router=$r test=$test rate=$rate offered=$T_OFF delivered=$T_DEL lost=$((T_OFF - T_DEL)) secs=$T_SECS span=$T_SPAN achieved=$T_ACH"
}

passes() { # loss within LOSS_PPM
    awk -v o="$T_OFF" -v d="$T_DEL" -v p="$LOSS_PPM" 'BEGIN { exit !(o > 0 && (o - d) * 1e6 <= p * o) }'
}

# search ROUTER TEST: the highest offered rate with loss ≤ LOSS_PPM.
# Sets S_RATE (frames or connections delivered per second in the best
# passing trial), S_OFF/S_DEL/S_SECS of that trial, S_LIMIT.
search() {
    local r=$1 test=$2 rate=$START_RATE lo=0 hi=0 step
    S_RATE=0 S_OFF=0 S_DEL=0 S_LIMIT=router
    # The blast just before is a trial at the generator's own rate: if the
    # router lost nothing there, no paced rate the generator can offer would
    # find a limit.
    if passes; then
        S_OFF=$T_OFF S_DEL=$T_DEL S_LIMIT=generator
        S_RATE=$(awk -v d="$T_DEL" -v s="$T_SPAN" 'BEGIN { printf "%.0f", d / s }')
        return 0
    fi
    for step in $(seq 1 $STEPS); do
        trial "$r" "$test" $rate
        # A rate fails only if it fails twice: one stall of the shared VM
        # (a descheduled vCPU) is not the router's limit.
        passes || trial "$r" "$test" $rate
        local gen_short
        gen_short=$(awk -v a="$T_ACH" -v r=$rate 'BEGIN { print (a < 0.97 * r) ? 1 : 0 }')
        if passes; then
            S_OFF=$T_OFF S_DEL=$T_DEL
            S_RATE=$(awk -v d="$T_DEL" -v s="$T_SPAN" 'BEGIN { printf "%.0f", d / s }')
            if [ "$gen_short" = 1 ]; then S_LIMIT=generator; break; fi
            lo=$rate
            if [ $hi = 0 ]; then
                if [ $rate -ge $MAX_RATE ]; then S_LIMIT=max-rate; break; fi
                rate=$((rate * 2 > MAX_RATE ? MAX_RATE : rate * 2))
            else
                rate=$(((lo + hi) / 2))
            fi
        else
            hi=$rate
            rate=$(((lo + hi) / 2))
        fi
        # Within 8 % of the boundary, or below the smallest rate tried.
        if [ $hi != 0 ] && [ $(((hi - lo) * 100)) -le $((hi * 8)) ]; then break; fi
        if [ $rate -lt $MIN_RATE ]; then break; fi
    done
}

# measure ROUTER SINK GEN_IF GEN_MAC: everything for one router.
measure() {
    local r=$1 pps_blast new_blast
    SINK=$2 GEN_IF=$3 GEN_MAC=$4
    sink_add "$SINK"
    NEXT_FLOW=$STEADY_FLOWS
    # Open the steady flows (twice: a flow lost the first time is opened by
    # the second pass).
    gen "$GEN_IF" "$GEN_MAC" --mode new --first 0 --count $STEADY_FLOWS --rate $WARM_RATE >/dev/null
    gen "$GEN_IF" "$GEN_MAC" --mode steady --flows $STEADY_FLOWS --count $STEADY_FLOWS --rate $WARM_RATE >/dev/null
    sleep 0.3
    say "$r: packets/s over $STEADY_FLOWS open flows"
    trial "$r" pps 0
    pps_blast="offered=$T_OFF delivered=$T_DEL lost=$((T_OFF - T_DEL)) secs=$T_SECS span=$T_SPAN max_rate=$(awk -v d="$T_DEL" -v s="$T_SPAN" 'BEGIN { printf "%.0f", d / s }')"
    search "$r" pps
    emit "kind=sbs_pps router=$r flows=$STEADY_FLOWS $pps_blast rate=$S_RATE rate_offered=$S_OFF rate_delivered=$S_DEL rate_lost=$((S_OFF - S_DEL)) limit=$S_LIMIT loss_ppm=$LOSS_PPM"
    say "$r: new connections/s"
    trial "$r" new 0
    new_blast="offered=$T_OFF delivered=$T_DEL lost=$((T_OFF - T_DEL)) secs=$T_SECS span=$T_SPAN max_rate=$(awk -v d="$T_DEL" -v s="$T_SPAN" 'BEGIN { printf "%.0f", d / s }')"
    search "$r" new
    emit "kind=sbs_new router=$r $new_blast rate=$S_RATE rate_offered=$S_OFF rate_delivered=$S_DEL rate_lost=$((S_OFF - S_DEL)) limit=$S_LIMIT loss_ppm=$LOSS_PPM"
}

# --- cgnatd -----------------------------------------------------------------
# start_cgnatd RUN NS INSIDE_DEVICE OUTSIDE_DEVICE [VAR=VALUE...] (NS "" =
# the root namespace): configs/sidebyside.toml with these ports, at nice
# -20: on this shared machine that stands for the dedicated core a DPDK
# worker has in production (the kernel router's forwarding runs in softirq
# context, which preempts every task anyway).
start_cgnatd() {
    local run=$1 ns=$2 in=$3 out=$4 pre=(); shift 4
    [ -n "$ns" ] && pre=(ip netns exec "$ns")
    env CGNAT_LOG__FILE="$WORK/$run-nat.log" \
        CGNAT_CONTROL__SOCKET="$WORK/$run.sock" \
        CGNAT_DATAPLANE__INSIDE__DEVICE="$in" \
        CGNAT_DATAPLANE__OUTSIDE__DEVICE="$out" \
        "$@" "${pre[@]}" nice -n -20 "$BIN" --config "$CONFIG" --stats-file "$WORK/$run-stats.txt" >"$WORK/$run.log" 2>&1 &
    echo $! >"$WORK/cgnatd.pid"
    for _ in $(seq 1 600); do
        grep -q "worker(s) running" "$WORK/$run.log" && return 0
        kill -0 "$(cat "$WORK/cgnatd.pid")" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/$run.log" >&2
    die "cgnatd ($run: $in, $out) did not start"
}

# stop_cgnatd RUN [NS IF]: stops it and reports its port and drop counters,
# and the kernel's drops on its veth IF in NS (where its losses happened:
# the veth's ring, or the XDP redirect into a full AF_XDP ring).
stop_cgnatd() {
    local run=$1
    stop_cgnatd_pid
    say "$run counters: $(grep -E '^(port |nat\.drop|dataplane\.(log_wait|unresolved|tx_drop)|nat\.sessions_created)' "$WORK/$run-stats.txt" 2>/dev/null | tr '\n' ';')"
    if [ $# -ge 3 ]; then
        say "$run: kernel counters of $3: $(nsx "$2" ethtool -S "$3" 2>/dev/null | awk '$1 ~ /drops|xdp_redirect|xdp_packets/ { printf "%s %s ", $1, $2 }')rx_dropped $(nsx "$2" cat /sys/class/net/"$3"/statistics/rx_dropped)"
    fi
}

# First packet through a cgnatd: it resolves its gateway (ARP) then.
prime() { gen "$1" $CGNAT_MAC --mode new --first 0 --count 1 >/dev/null; sleep 1.2; }

run_kernel() {
    ip netns add $NS_RTR
    ip -n $NS_RTR link set lo up
    link_pair $NS_SUB k-sub $NS_RTR k-in
    link_pair $NS_INET k-inet $NS_RTR k-out
    ip -n $NS_SUB addr add 100.64.3.1/10 dev k-sub
    ip -n $NS_RTR addr add 100.64.0.1/10 dev k-in
    ip -n $NS_RTR addr add 198.51.101.2/24 dev k-out
    ip -n $NS_INET addr add 198.51.101.1/24 dev k-inet
    ip -n $NS_RTR route add default via 198.51.101.1
    nsx $NS_RTR sysctl -qw net.ipv4.ip_forward=1
    nsx $NS_RTR sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.k-in.rp_filter=0
    # A pool of addresses like cgnatd's (one address would run out of ports
    # towards the single sink endpoint after 64 512 flows).
    nsx $NS_RTR nft -f - <<'EOF'
table ip nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "k-out" snat to 198.51.101.10-198.51.101.250
    }
}
EOF
    # The kernel router forwards on CPU 1 (RPS), like cgnatd's worker lcore;
    # the generator runs on CPU 0. Its conntrack table holds every flow of
    # the run, with a hash table as large.
    nsx $NS_RTR sh -c 'echo 2 > /sys/class/net/k-in/queues/rx-0/rps_cpus' 2>/dev/null || true
    sysctl -qw net.netfilter.nf_conntrack_max=$((ALL_FLOWS * 2)) 2>/dev/null || true
    echo $((ALL_FLOWS > 262144 ? 1 << 21 : 262144)) >/sys/module/nf_conntrack/parameters/hashsize 2>/dev/null || true
    nsx $NS_SUB ping -c1 -W1 100.64.0.1 >/dev/null 2>&1 || true
    nsx $NS_RTR ping -c1 -W1 198.51.101.1 >/dev/null 2>&1 || true
    local mac s0 s1 c0 c1 per objsize
    mac=$(nsx $NS_RTR cat /sys/class/net/k-in/address)
    slab_bytes() { awk '$1 == "nf_conntrack" { print $15 * $6 * 4096 }' /proc/slabinfo; }
    ct_count() { nsx $NS_RTR cat /proc/sys/net/netfilter/nf_conntrack_count; }
    s0=$(slab_bytes); c0=$(ct_count)
    gen k-sub "$mac" --mode new --first 0 --count $STEADY_FLOWS --rate $WARM_RATE >/dev/null
    sleep 0.3
    s1=$(slab_bytes); c1=$(ct_count)
    per=$(awk -v a="$s0" -v b="$s1" -v c="$c0" -v d="$c1" 'BEGIN { if (d > c) printf "%.1f", (b - a) / (d - c); else print "nan" }')
    objsize=$(awk '$1 == "nf_conntrack" { print $4 }' /proc/slabinfo)
    say "conntrack: $((c1 - c0)) entries, slab +$((s1 - s0)) bytes -> $per bytes/entry (object size $objsize)"
    emit "kind=conntrack entries=$((c1 - c0)) slab_added=$((s1 - s0)) bytes_per_entry=$per objsize=$objsize"
    measure kernel k-inet k-sub "$mac"
    say "kernel: conntrack entries $(ct_count); insert_failed/drop $(nsx $NS_RTR conntrack -S 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(insert_failed|drop|early_drop)=/) { split($i, a, "="); s[a[1]] += a[2] } } END { printf "%d/%d", s["insert_failed"], s["drop"] + s["early_drop"] }')"
    ip netns del $NS_RTR
}

run_tap() {
    local run=$1
    start_cgnatd "$run" "" "net_tap0,iface=$IF_CIN" "net_tap1,iface=$IF_COUT"
    ip link set $IF_CIN netns $NS_SUB
    ip link set $IF_COUT netns $NS_INET
    ip -n $NS_SUB addr add 100.64.2.1/10 dev $IF_CIN
    ip -n $NS_INET addr add 198.51.100.1/24 dev $IF_COUT
    for x in "$NS_SUB $IF_CIN" "$NS_INET $IF_COUT"; do
        set -- $x; ip -n "$1" link set "$2" up; no_offload "$1" "$2"
    done
    prime $IF_CIN
    measure "$run" $IF_COUT $IF_CIN $CGNAT_MAC
    stop_cgnatd "$run"
}

# cgnatd in its own namespace on veth pairs: the same links as the kernel
# router. PMD = af_packet or af_xdp; P = interface prefix.
run_veth() {
    local run=$1 ns=$2 p=$3 in=$4 out=$5 sub_addr=$6 net=$7
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    link_pair $NS_SUB "$p-sub" "$ns" "$p-in"
    link_pair $NS_INET "$p-inet" "$ns" "$p-out"
    ip -n $NS_SUB addr add "$sub_addr/10" dev "$p-sub"
    ip -n $NS_INET addr add "$net.1/24" dev "$p-inet"
    start_cgnatd "$run" "$ns" "$in" "$out" \
        CGNAT_DATAPLANE__OUTSIDE__ADDRESS="$net.2/24" CGNAT_DATAPLANE__OUTSIDE__GATEWAY="$net.1"
    prime "$p-sub"
    measure "$run" "$p-inet" "$p-sub" $CGNAT_MAC
    stop_cgnatd "$run" "$ns" "$p-in"
    ip netns del "$ns"
}

# A router named NAME@base runs the baseline build ($CGNATD_BASE; set by
# scripts/bench.sh --baseline) instead of $CGNATD.
for r in $ROUTERS; do
    BIN=$CGNATD
    if [ "${r%@base}" != "$r" ]; then
        BIN=${CGNATD_BASE:-}
        [ -x "$BIN" ] || die "router $r needs CGNATD_BASE (the baseline's cgnatd)"
    fi
    case $r in
        kernel) run_kernel ;;
        cgnatd-tap | cgnatd-tap@base) run_tap "$r" ;;
        cgnatd-afpacket | cgnatd-afpacket@base) run_veth "$r" $NS_CG c "net_af_packet0,iface=c-in" "net_af_packet1,iface=c-out" 100.64.5.1 198.51.102 ;;
        # busy_budget=0: no busy-poll recvfrom() per empty poll (docs/decisions/014-af-xdp-ports.md).
        cgnatd-afxdp | cgnatd-afxdp@base) run_veth "$r" $NS_CX x "net_af_xdp0,iface=x-in,busy_budget=0" "net_af_xdp1,iface=x-out,busy_budget=0" 100.64.6.1 198.51.103 ;;
        *) die "unknown router $r (kernel, cgnatd-tap, cgnatd-afpacket, cgnatd-afxdp)" ;;
    esac
done

# The table: every router's figures and their ratio to the kernel's.
awk -v ppm=$LOSS_PPM '
function kv(   i, a) { delete v; for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] } }
function pct(l, o) { return o > 0 ? 100 * l / o : 0 }
function ratio(x, k) { return k > 0 ? sprintf("%.2f", x / k) : "-" }
{ kv() }
v["kind"] == "sbs_pps" || v["kind"] == "sbs_new" {
    t = v["kind"]; r = v["router"]; seen[r] = 1; if (!(r in order)) { order[r] = ++n; names[n] = r }
    for (k in v) d[t, r, k] = v[k]
}
END {
    if (n == 0) exit
    printf "\n== side by side: one run, same generator and sink; loss threshold %.2f %%\n", ppm / 1e4
    for (pass = 1; pass <= 2; pass++) {
        t = pass == 1 ? "sbs_pps" : "sbs_new"
        print (pass == 1 ? "\npackets/s (open flows)" : "\nnew connections/s (every frame a new flow)")
        printf "| %-20s | %10s | %10s | %9s | %6s | %11s | %16s | %-9s | %s |\n", "router", "offered", "delivered", "lost", "loss", "delivered/s", "rate at <= loss", "limit", "vs kernel (blast, rate)"
        for (i = 1; i <= n; i++) {
            r = names[i]
            if (d[t, r, "kind"] == "") continue
            printf "| %-20s | %10d | %10d | %9d | %5.1f%% | %11d | %16d | %-9s | %s, %s |\n", r, d[t, r, "offered"], d[t, r, "delivered"], d[t, r, "lost"], pct(d[t, r, "lost"], d[t, r, "offered"]), d[t, r, "max_rate"], d[t, r, "rate"], d[t, r, "limit"], ratio(d[t, r, "max_rate"], d[t, "kernel", "max_rate"]), ratio(d[t, r, "rate"], d[t, "kernel", "rate"])
        }
        for (i = 1; i <= n; i++) {
            r = names[i]
            if (d[t, r "@base", "kind"] == "" || d[t, r, "kind"] == "") continue
            printf "  %s against the baseline build (%s@base): %s (delivered/s), %s (rate at <= loss)\n", r, r, ratio(d[t, r, "max_rate"], d[t, r "@base", "max_rate"]), ratio(d[t, r, "rate"], d[t, r "@base", "rate"])
        }
    }
}' "$RES"
