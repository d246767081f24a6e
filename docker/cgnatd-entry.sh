#!/bin/bash
# Entry point of the cgnatd container: cgnatd (the package's binary) with
# the lab configuration on two TAP PMD ports, each bridged to the
# container's interface on its network; the interface's address is taken
# over by cgnatd (it answers ARP for it and for the pool). When cgnatd
# exits, its status is written to /run/cgnatd.exit and the container stays
# up so its NAT log can be read (`docker compose down` ends it).
set -euo pipefail
iface_of() { ip -o -4 addr show | awk -v p="$1" 'index($4, p) == 1 {print $2; exit}'; }
IN_IF=$(iface_of 100.64.)
OUT_IF=$(iface_of 198.51.100.)
[ -n "$IN_IF" ] && [ -n "$OUT_IF" ] || { echo "cgnatd-entry: no interface on the access or internet network" >&2; ip -o addr >&2; exit 1; }
for i in "$IN_IF" "$OUT_IF"; do
    ip addr flush dev "$i"
    ethtool -K "$i" tx off rx off >/dev/null 2>&1 || true
done

mkdir -p /var/log/cgnat /run/cgnat
export CGNAT_LOG__FILE=/var/log/cgnat/nat.log
export CGNAT_CONTROL__SOCKET=/run/cgnat/cgnatd.sock
export CGNAT_DATAPLANE__INSIDE__DEVICE=net_tap0,iface=cgnat-in
export CGNAT_DATAPLANE__OUTSIDE__DEVICE=net_tap1,iface=cgnat-out
export CGNAT_DAEMON_LOG__FILE=/var/log/cgnat/daemon/cgnatd.log
cgnatd --lab --stats-file /var/log/cgnat/stats.txt &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true' TERM INT

for _ in $(seq 1 300); do
    ip link show cgnat-in >/dev/null 2>&1 && ip link show cgnat-out >/dev/null 2>&1 && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
for pair in "br-in:$IN_IF:cgnat-in" "br-out:$OUT_IF:cgnat-out"; do
    IFS=: read -r br eth tap <<<"$pair"
    ip link add "$br" type bridge
    ip link set "$eth" master "$br"
    ip link set "$tap" master "$br"
    ethtool -K "$tap" tx off rx off >/dev/null 2>&1 || true
    ip link set "$br" up
    ip link set "$eth" up
    ip link set "$tap" up
done
echo "cgnatd-entry: cgnatd $pid on cgnat-in (bridged to $IN_IF) and cgnat-out (bridged to $OUT_IF)"

rc=0
while :; do
    # A trapped TERM interrupts wait while cgnatd drains: wait again.
    if wait $pid; then rc=0; else rc=$?; fi
    kill -0 $pid 2>/dev/null || break
done
echo "$rc" >/run/cgnatd.exit
echo "cgnatd-entry: cgnatd exited with $rc; staying up for inspection until stopped"
trap 'exit 0' TERM INT
sleep infinity &
wait
