#!/bin/bash
# cgnatctl lookup latency on a day of NAT logs for 1 M subscribers.
#
#   cargo build --release -p cgnat-cli
#   cgnat-cli/bench/lookup.sh [DIR] [FILES]
#
# Writes DIR/nat.log (FILES=1: one ~1 GB text file; FILES=24: hourly
# rotation, nat.log.2.gz.. gzip) with `cgnatctl gen-log` unless present,
# then measures a cold lookup (no index: the index is built) and 20 warm
# lookups (index reused), wall clock per process, targets spread over the
# day. The indexes go to DIR.idx (--index-dir), emptied before the cold
# lookup. Results go to stdout; BENCHMARKS.md "cgnatctl lookup" records them.
set -eu
C=${CGNATCTL:-$(dirname "$0")/../../target/release/cgnatctl}
DIR=${1:-/tmp/cgnatctl-bench}
FILES=${2:-1}
IX=$DIR.idx
mkdir -p "$DIR"
if [ ! -e "$DIR/nat.log" ]; then
  gz=; [ "$FILES" -gt 2 ] && gz=--gzip
  /usr/bin/time -f "gen-log: %e s" "$C" gen-log --subscribers 1000000 --hours 24 --files "$FILES" $gz --out "$DIR/nat.log" >/dev/null
fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "logs: $(ls "$DIR" | grep -vc '^\.') files, $(du -sh --exclude='.*' "$DIR" | cut -f1)"
targets=$(for f in $(ls -r "$DIR"/nat.log*); do case $f in *.gz) zcat "$f" ;; *) cat "$f" ;; esac; done |
  awk 'NR % 150001 == 1 && /block-alloc/ {split($5,p,"="); split($6,r,"="); split(r[2],q,"-"); print p[2] ":" q[1]+100 " " $1}' | head -20)
set -- $(echo "$targets" | head -1)
rm -rf "$IX"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
echo "cold: cgnatctl lookup $1 --at $2 --log-dir $DIR --index-dir $IX"
/usr/bin/time -f "  wall %e s, max RSS %M KB" env CGNATCTL_TIMING=1 "$C" lookup "$1" --at "$2" --log-dir "$DIR" --index-dir "$IX" >/dev/null
echo "warm: 20 lookups, index reused"
while read -r t at; do
  s=$(date +%s%N); rc=0; "$C" lookup "$t" --at "$at" --log-dir "$DIR" --index-dir "$IX" >/dev/null || rc=$?; e=$(date +%s%N)
  echo "$(( (e - s) / 1000 )) $rc"
done <<< "$targets" | sort -n | awk '{a[NR]=$1; if ($2 == 0) f++} END {printf "  wall min %.1f ms, median %.1f ms, max %.1f ms (n=%d, found %d)\n", a[1]/1000, a[int((NR+1)/2)]/1000, a[NR]/1000, NR, f}'
CGNATCTL_TIMING=1 "$C" lookup "$1" --at "$2" --log-dir "$DIR" --index-dir "$IX" 2>&1 >/dev/null | sed 's/^/  in-process /'
echo "  index files: $(du -sh "$IX" | cut -f1)"
