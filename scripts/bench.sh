#!/usr/bin/env bash
# The benchmarks of BENCHMARKS.md ("DPDK fast path", "Side by side with the
# Linux kernel"), one command:
#
#   scripts/bench.sh            full run (release build; < 10 min on 2 vCPUs)
#   scripts/bench.sh --smoke    tiny sizes, debug build, < 90 s: checks that
#                               every part runs and prints numbers (CI)
#
# Parts: (1) cgnat_bench (cgnat-dpdk/examples/cgnat_bench/): the real
# cgnatd worker loop between two net_ring ports fed by a generator lcore:
# new-session rate, resident bytes per session, fast-path Mpps and
# ns/packet per worker core for UDP and TCP at 64 Ki, 1 Mi and 16 Mi
# sessions, sweeper expiry rate; (2) tests/bench/sidebyside.sh: cgnatd
# (TAP PMD) against nftables SNAT + conntrack in the same namespaces with
# the same generator, and conntrack's bytes per entry.
#
# Environment: BENCH_OUT (results directory, default /tmp/cgnat-bench),
# BENCH_NO_16M=1 (skip the 16 Mi run, which needs ~1.3 GB), BENCH_SECONDS
# (steady-state seconds per direction, default 3). Needs root (DPDK, netns).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SMOKE=0
case "${1:-}" in
    --smoke) SMOKE=1 ;;
    "") ;;
    *) echo "usage: scripts/bench.sh [--smoke]" >&2; exit 2 ;;
esac
OUT=${BENCH_OUT:-/tmp/cgnat-bench}
mkdir -p "$OUT"
RES=$OUT/results.txt
: >"$RES"
start=$(date +%s)

if [ $SMOKE = 1 ]; then
    cargo build -q -p cgnat-dpdk --example cgnat_bench --bin cgnatd
    BIN=target/debug
    RUNS=("4K udp 0.3" "4K tcp 0.3")
else
    cargo build -q --release -p cgnat-dpdk --example cgnat_bench --bin cgnatd
    BIN=target/release
    S=${BENCH_SECONDS:-3}
    RUNS=("64K udp $S" "64K tcp $S" "1M udp $S" "1M tcp $S")
    [ "${BENCH_NO_16M:-0}" = 1 ] || RUNS+=("16M udp $S")
fi

echo "cgnat benchmarks ($([ $SMOKE = 1 ] && echo smoke || echo full)) on $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
for r in "${RUNS[@]}"; do
    set -- $r
    echo "--- cgnat_bench --sessions $1 --proto $2 --seconds $3"
    timeout 300 "$BIN/examples/cgnat_bench" --sessions "$1" --proto "$2" --seconds "$3" | tee "$OUT/fastpath-$1-$2.log" | grep -v '^RESULT'
    grep '^RESULT' "$OUT/fastpath-$1-$2.log" >>"$RES"
done

echo "--- tests/bench/sidebyside.sh $([ $SMOKE = 1 ] && echo --smoke)"
CGNATD=$BIN/cgnatd timeout 300 bash tests/bench/sidebyside.sh $([ $SMOKE = 1 ] && echo --smoke) | tee "$OUT/sidebyside.log"
grep '^RESULT' "$OUT/sidebyside.log" >>"$RES"

# The table.
awk '
function kv(   i, a) { delete v; for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] } }
{ kv() }
v["kind"] == "fastpath" { fp[++nfp] = sprintf("| %-9s | %-4s | %-17s | %7.2f | %7.1f | %6d |", v["sessions"], v["proto"], v["dir"] == "out" ? "inside -> outside" : "outside -> inside", v["mpps"], v["ns_per_pkt"], v["cycles_per_pkt"]) }
v["kind"] == "create" { cr[++ncr] = sprintf("| %-9s | %-4s | %6.2f M/s |", v["sessions"], v["proto"], v["rate_mps"]) }
v["kind"] == "expiry" { ex[++nex] = sprintf("| %-9s | %-4s | %6.2f M/s |", v["sessions"], v["proto"], v["rate_mps"]) }
v["kind"] == "memory" { me[++nme] = sprintf("| %-9s | %-4s | %8.1f MB | %7.1f |", v["sessions"], v["proto"], v["rss_added"] / 1e6, v["bytes_per_session"]) }
v["kind"] == "conntrack" { ct = sprintf("| conntrack | %d entries | %.1f B/entry (slab object %d B) |", v["entries"], v["bytes_per_entry"], v["objsize"]) }
v["kind"] == "sbs_new" { sn[v["router"]] = v["rate"] }
v["kind"] == "sbs_pps" { sp[v["router"]] = v["pps"] }
END {
    print "\n== fast path (real worker loop, net_ring, 64-byte frames, one worker core)"
    print "| sessions  | prot | direction         |    Mpps |   ns/pkt | cycles |"
    for (i = 1; i <= nfp; i++) print fp[i]
    print "\n== new sessions per second (one worker core) | expiry (sweeper)"
    for (i = 1; i <= ncr; i++) print cr[i] "  expiry " ex[i]
    print "\n== resident memory added by the sessions"
    for (i = 1; i <= nme; i++) print me[i]
    if (ct != "") print ct
    print "\n== side by side (same namespaces, same generator; packets/s at the sink)"
    printf "| router          | new connections/s | forwarded packets/s | ratio to kernel (new, pps) |\n"
    n = split("kernel cgnatd-tap cgnatd-afpacket", rs, " ")
    for (i = 1; i <= n; i++) {
        r = rs[i]
        if (!(r in sp)) continue
        printf "| %-15s | %17d | %19d | %5.2f, %5.2f |\n", r, sn[r], sp[r], sn["kernel"] ? sn[r] / sn["kernel"] : 0, sp["kernel"] ? sp[r] / sp["kernel"] : 0
    }
}' "$RES"

# Every part printed numbers, and none is a silent failure: a fast-path or
# creation figure of zero, or untranslated frames, fails the run.
want="fastpath create memory expiry conntrack sbs_new sbs_pps"
for k in $want; do
    grep -q "^RESULT kind=$k " "$RES" || { echo "bench.sh: no $k result" >&2; exit 1; }
done
bad=$(awk '
function kv(   i, a) { delete v; for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] } }
{ kv() }
v["kind"] == "fastpath" && (v["mpps"] + 0 == 0 || v["bad"] + 0 != 0) { print "fastpath " v["proto"] " " v["dir"] " " v["sessions"] ": mpps=" v["mpps"] " bad=" v["bad"] }
v["kind"] == "create" && (v["rate_mps"] + 0 == 0 || v["created"] + 0 == 0) { print "create " v["proto"] " " v["sessions"] ": created=" v["created"] }
v["kind"] == "sbs_pps" && v["pps"] + 0 == 0 { print "side by side " v["router"] ": nothing forwarded" }
' "$RES")
if [ -n "$bad" ]; then
    echo "bench.sh: a benchmark measured nothing:" >&2
    echo "$bad" >&2
    exit 1
fi
echo
echo "bench.sh: done in $(( $(date +%s) - start )) s; raw results in $RES"
