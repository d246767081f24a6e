# Shared helpers of the namespace labs (tests/lab.sh, tests/hostile/):
# output, namespaces, background programs, cgnatd on two TAP PMD ports
# and the topology around it. Sourced, not run.
#
#   subscribers ─┐                 inside TAP            outside TAP
#                ├─ br0 (ns access) ─ $IF_IN ═ cgnatd ═ $IF_OUT ─ ns inet
#   ...         ─┘                   100.64.0.1/10       198.51.100.2/24
#                                                   198.51.100.1/24 (+ 192.0.2.80 on lo)
#
# The caller sets P (namespace prefix), IF_IN, IF_OUT, WORK (work
# directory), CGNATD, WORKERS and METRICS (host:port) before calling
# these; NAMESPACES lists the namespaces `lab_down` removes.
#
# PORT_KIND (default tap) chooses cgnatd's ports: `tap` (cgnatd creates TAP
# interfaces $IF_IN/$IF_OUT, which are then moved into the namespaces) or
# `afxdp` (AF_XDP PMD on veth pairs: cgnatd binds $IF_IN/$IF_OUT in the
# root namespace, their peers $IF_IN-p/$IF_OUT-p go into the namespaces;
# one queue per veth, so one worker; docs/decisions/014-af-xdp-ports.md).

NS_ACCESS=$P-access NS_INET=$P-inet
PIDS=$WORK/pids
GW_IN=100.64.0.1
INET=198.51.100.1 CGN_OUT=198.51.100.2 WEB=192.0.2.80
NAMESPACES=("$NS_ACCESS" "$NS_INET")
PORT_KIND=${PORT_KIND:-tap}
case "$PORT_KIND" in
    tap | afxdp) ;;
    *) printf 'unknown port kind "%s": tap or afxdp\n' "$PORT_KIND" >&2; exit 2 ;;
esac

# shellcheck source=tests/lib/report.sh
. "$(dirname "${BASH_SOURCE[0]}")/report.sh"
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        say "$(basename "$0"): needs root (network namespaces, TAP devices, DPDK)"
        exit 2
    fi
}

# Runs a command in the background inside a namespace, remembering its pid.
bg() {
    local name=$1 ns=$2; shift 2
    # `ip netns exec` execs the command, so $! is the program's own PID
    # (through the nsx function it would be a subshell's, and the program
    # would outlive `down`).
    ip netns exec "$ns" "$@" >"$WORK/$name.log" 2>&1 &
    echo $! >"$PIDS/$name"
}

stop_pid() {
    local f=$1 sig=${2:-TERM} pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill "-$sig" "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

no_offload() { # checksums must be complete on the wire (the NAT updates them incrementally)
    nsx "$1" ethtool -K "$2" tx off rx off >/dev/null 2>&1 || true
}

# Stops every recorded program (cgnatd last, with SIGINT so it logs its
# releases), kills what remains in the namespaces and removes them and
# the TAP interfaces or veth pairs. Safe to call twice.
lab_down() {
    if [ -d "$PIDS" ]; then
        for f in "$PIDS"/*; do
            [ -e "$f" ] || continue
            [ "$(basename "$f")" = cgnatd ] && continue
            stop_pid "$f"
        done
        stop_pid "$PIDS/cgnatd" INT
    fi
    local ns
    # Every namespace of this prefix, also those of a run that died before
    # recording them.
    for ns in "${NAMESPACES[@]}" $(ip netns list 2>/dev/null | awk -v p="$P-" 'index($1, p) == 1 {print $1}'); do
        # Whatever still runs in the namespace (a server, a client cut off by
        # a failure) goes with it.
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    for i in "$IF_IN" "$IF_OUT"; do
        ip link del "$i" 2>/dev/null || true
    done
}

# The kernel-side links the topology is built from: the TAP interfaces
# themselves, or the peers of the veths cgnatd's AF_XDP ports bind.
link_in() { if [ "$PORT_KIND" = afxdp ]; then echo "$IF_IN-p"; else echo "$IF_IN"; fi; }
link_out() { if [ "$PORT_KIND" = afxdp ]; then echo "$IF_OUT-p"; else echo "$IF_OUT"; fi; }

# AF_XDP: the veth pairs exist before cgnatd binds them. Checksums are
# complete on the peers (an AF_XDP port receives the frame as sent; the NAT
# updates checksums incrementally).
afxdp_links() {
    local i
    for i in "$IF_IN" "$IF_OUT"; do
        ip link add "$i" type veth peer name "$i-p"
        ip link set "$i" up
        ethtool -K "$i" tx off rx off >/dev/null 2>&1 || true
        ethtool -K "$i-p" tx off rx off >/dev/null 2>&1 || true
    done
}

# start_cgnatd [ARGS...]: cgnatd with its ports on $IF_IN and $IF_OUT (TAP
# interfaces it creates, or AF_XDP on veths), NAT log, control socket and
# stats in $WORK; waits until its workers run (the topology is built around
# its ports afterwards).
start_cgnatd() {
    local in="net_tap0,iface=$IF_IN" out="net_tap1,iface=$IF_OUT"
    if [ "$PORT_KIND" = afxdp ]; then
        afxdp_links
        # busy_budget=0: no busy-poll system call per empty poll.
        in="net_af_xdp0,iface=$IF_IN,busy_budget=0" out="net_af_xdp1,iface=$IF_OUT,busy_budget=0"
    fi
    say "lab: starting cgnatd ($WORKERS workers, $PORT_KIND ports)"
    CGNAT_LOG__FILE=$WORK/nat.log \
    CGNAT_CONTROL__SOCKET=$WORK/cgnatd.sock \
    CGNAT_METRICS__LISTEN=$METRICS \
    CGNAT_DATAPLANE__WORKERS=$WORKERS \
    CGNAT_DATAPLANE__INSIDE__DEVICE="$in" \
    CGNAT_DATAPLANE__OUTSIDE__DEVICE="$out" \
        "$CGNATD" "$@" --stats-file "$WORK/stats.txt" >"$WORK/cgnatd.log" 2>&1 &
    echo $! >"$PIDS/cgnatd"
    wait_for 60 "cgnatd workers" grep -q "worker(s) running" "$WORK/cgnatd.log" || { cat "$WORK/cgnatd.log"; return 1; }
}

# The access network (a bridge joining the inside TAP and the subscribers)
# and the internet: the outside TAP; the pool is on-link (cgnatd answers
# ARP for it: proxy_arp_pool), subscriber space routed to cgnatd (which
# must drop unsolicited traffic to it). Subscribers are added with
# add_subscriber.
topology_up() {
    local ns lin lout
    lin=$(link_in) lout=$(link_out)
    for ns in "$NS_ACCESS" "$NS_INET"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    ip link set "$lin" netns "$NS_ACCESS"
    ip -n "$NS_ACCESS" link add br0 type bridge
    ip -n "$NS_ACCESS" link set "$lin" master br0
    ip -n "$NS_ACCESS" link set br0 up
    ip -n "$NS_ACCESS" link set "$lin" up
    ip link set "$lout" netns "$NS_INET"
    ip -n "$NS_INET" addr add $INET/24 dev "$lout"
    ip -n "$NS_INET" addr add $WEB/32 dev lo
    ip -n "$NS_INET" link set "$lout" up
    ip -n "$NS_INET" route add 203.0.113.0/28 dev "$lout"
    ip -n "$NS_INET" route add 100.64.0.0/10 via $CGN_OUT
}

# add_subscriber NS VETH ADDR...: a subscriber namespace on the access
# bridge (its bridge port named VETH), with one or more addresses in
# 100.64.0.0/10 and cgnatd as its default gateway.
add_subscriber() {
    local ns=$1 veth=$2 a; shift 2
    ip netns add "$ns"
    NAMESPACES+=("$ns")
    ip -n "$ns" link set lo up
    ip -n "$NS_ACCESS" link add "$veth" type veth peer name eth0 netns "$ns"
    ip -n "$NS_ACCESS" link set "$veth" master br0 up
    no_offload "$NS_ACCESS" "$veth"
    for a in "$@"; do
        ip -n "$ns" addr add "$a/10" dev eth0
    done
    ip -n "$ns" link set eth0 up
    no_offload "$ns" eth0
    ip -n "$ns" route add default via $GW_IN
}
