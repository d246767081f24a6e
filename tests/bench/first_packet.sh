#!/usr/bin/env bash
# First-packet latency of a new subscriber (issue 10 item 10, "durable
# before use"): its first packet allocates a port block and waits until the
# block's allocation record is durable in every legal log target (the lab's
# text and JSON files: written and fsync'd); later packets do not wait.
#
# Runs the lab (tests/lab.sh up), then N new subscribers (addresses added to
# sub1's namespace) each send 5 pings 200 ms apart to the internet host; prints
# the first RTT and the median of the other four for each, and the medians
# over all subscribers. Cleans up with tests/lab.sh down.
#
# Usage: tests/bench/first_packet.sh [N]   (default 20; needs root)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${1:-20}
P=${LAB_PREFIX:-cgn}
NS=$P-sub1
INET=198.51.100.1

trap 'bash "$ROOT/tests/lab.sh" down >/dev/null 2>&1 || true' EXIT
CGNATD=${CGNATD:-$ROOT/target/release/cgnatd} bash "$ROOT/tests/lab.sh" up >/dev/null
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

firsts=$(mktemp) rests=$(mktemp)
printf '%-14s %10s %10s\n' subscriber "first ms" "rest ms"
for i in $(seq 1 "$N"); do
    a=100.64.$((50 + i / 200)).$((1 + i % 200))
    ip -n "$NS" addr add "$a/32" dev eth0
    out=$(ip netns exec "$NS" ping -n -c 5 -i 0.2 -W 2 -I "$a" "$INET" 2>&1 || true)
    rtts=$(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' <<<"$out")
    first=$(head -1 <<<"$rtts")
    rest=$(tail -n +2 <<<"$rtts" | median)
    printf '%-14s %10s %10s\n' "$a" "${first:--}" "$rest"
    [ -n "$first" ] && echo "$first" >>"$firsts"
    tail -n +2 <<<"$rtts" >>"$rests"
done
echo "median first-packet RTT: $(median <"$firsts") ms over $(wc -l <"$firsts") subscribers"
echo "median later-packet RTT: $(median <"$rests") ms"
rm -f "$firsts" "$rests"
