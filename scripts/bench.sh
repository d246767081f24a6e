#!/usr/bin/env bash
# The benchmarks of BENCHMARKS.md ("DPDK fast path", "Side by side with the
# Linux kernel"), one command:
#
#   scripts/bench.sh                    full run (release build; ~10 min on 2 vCPUs)
#   scripts/bench.sh --smoke            tiny sizes, debug build, ~1 min: checks that
#                                       every part runs and measures something (CI)
#   scripts/bench.sh --baseline REV     also builds REV (a commit, branch or tag) in
#                                       a separate git worktree with its own target
#                                       directory and runs both builds alternately
#                                       in this one run; every figure is printed
#                                       with its ratio to REV's
#
# Parts: (1) cgnat_bench (cgnat-dpdk/examples/cgnat_bench/): the real
# cgnatd worker loop between two net_ring ports fed by a generator lcore:
# new-session rate, resident bytes per session, fast-path Mpps and TSC
# cycles/packet per worker core for UDP and TCP at 64 Ki, 1 Mi and 16 Mi
# sessions, sweeper expiry rate; (2) the harness limit (cgnat_bench
# --harness): the same generator and ports with a forwarder that does no
# NAT; every Mpps figure is also shown as a fraction of it; (3)
# tests/bench/sidebyside.sh: the kernel (nftables SNAT + conntrack) and
# cgnatd on TAP, AF_PACKET and AF_XDP ports in the same namespaces with the
# same generator: offered, delivered and lost frames and connections, the
# highest rate at <= 0.1 % loss, ratios to the kernel; with --baseline, the
# AF_XDP router runs with both builds.
#
# Environment: BENCH_OUT (results directory, default /tmp/cgnat-bench),
# BENCH_NO_16M=1 (skip the 16 Mi run, which needs ~1.3 GB), BENCH_SECONDS
# (steady-state seconds per direction, default 3), BENCH_ROUNDS (rounds of
# each cgnat_bench run per build with --baseline, default 3; the median is
# reported), BENCH_BASE_DIR (the baseline's worktree, default
# $BENCH_OUT/baseline), BENCH_NO_SBS=1 (skip the side by side).
# Needs root (DPDK, netns).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SMOKE=0 BASE_REV=""
usage() { echo "usage: scripts/bench.sh [--smoke] [--baseline REV]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --baseline) [ $# -ge 2 ] || usage; BASE_REV=$2; shift ;;
        *) usage ;;
    esac
    shift
done
OUT=${BENCH_OUT:-/tmp/cgnat-bench}
mkdir -p "$OUT"
RES=$OUT/results.txt
: >"$RES"
start=$(date +%s)
cpu_pressure() { awk -F'[ =]' '/^some/ { print $3; exit }' /proc/pressure/cpu 2>/dev/null || echo 0; }
pressure0=$(cpu_pressure)

if [ $SMOKE = 1 ]; then
    PROFILE=debug CARGO_PROFILE=()
    RUNS=("4K udp 0.3" "4K tcp 0.3")
    HARNESS_SECS=0.3 ROUNDS=1
else
    PROFILE=release CARGO_PROFILE=(--release)
    S=${BENCH_SECONDS:-3}
    RUNS=("64K udp $S" "64K tcp $S" "1M udp $S" "1M tcp $S")
    [ "${BENCH_NO_16M:-0}" = 1 ] || RUNS+=("16M udp $S")
    HARNESS_SECS=$S ROUNDS=${BENCH_ROUNDS:-3}
fi
[ -n "$BASE_REV" ] || ROUNDS=1
cargo build -q "${CARGO_PROFILE[@]}" -p cgnat-dpdk --example cgnat_bench --bin cgnatd
BIN=target/$PROFILE
BUILDS=(new)

if [ -n "$BASE_REV" ]; then
    # The baseline: its own worktree (so its sources never mix with these)
    # and its own target directory (the worktree's default).
    BASE_DIR=${BENCH_BASE_DIR:-$OUT/baseline}
    base_sha=$(git rev-parse --verify "$BASE_REV^{commit}") || { echo "bench.sh: no commit $BASE_REV" >&2; exit 2; }
    if [ "$(git -C "$BASE_DIR" rev-parse HEAD 2>/dev/null || true)" != "$base_sha" ]; then
        git worktree remove --force "$BASE_DIR" 2>/dev/null || rm -rf "$BASE_DIR"
        git worktree prune
        git worktree add -q --detach "$BASE_DIR" "$base_sha"
    fi
    echo "bench.sh: building the baseline $BASE_REV ($(git log -1 --format='%h %s' "$base_sha" | cut -c1-70)) in $BASE_DIR"
    (cd "$BASE_DIR" && CARGO_TARGET_DIR="$BASE_DIR/target" cargo build -q "${CARGO_PROFILE[@]}" -p cgnat-dpdk --example cgnat_bench --bin cgnatd)
    BASE_BIN=$BASE_DIR/target/$PROFILE
    BUILDS=(base new)
fi
bin_of() { if [ "$1" = base ]; then echo "$BASE_BIN"; else echo "$BIN"; fi; }

echo "cgnat benchmarks ($([ $SMOKE = 1 ] && echo smoke || echo full)) on $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ), this tree $(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo '+changes')${BASE_REV:+, baseline $BASE_REV ($(git rev-parse --short "$base_sha"))}"

# One cgnat_bench run: its RESULT lines, tagged with the build, the round
# and the run, go to the results file.
bench_run() { # BUILD ROUND LABEL ARGS...
    local build=$1 round=$2 label=$3 log; shift 3
    log=$OUT/fastpath-$label-$build-$round.log
    echo "--- [$build, round $round] cgnat_bench $*"
    timeout 300 "$(bin_of "$build")/examples/cgnat_bench" "$@" | tee "$log" | grep -v '^RESULT' | sed 's/^/    /'
    sed -n "s/^RESULT \(.*\)/RESULT \1 build=$build round=$round run=$label/p" "$log" >>"$RES"
}

for round in $(seq 1 $ROUNDS); do
    # Alternate the order of the builds from round to round.
    order=("${BUILDS[@]}")
    if [ ${#BUILDS[@]} = 2 ] && [ $((round % 2)) = 0 ]; then order=(new base); fi
    # The harness limit, with this tree's cgnat_bench (the harness is the
    # benchmark's own generator and ports; it has no NAT to compare).
    for proto in udp tcp; do
        bench_run new "$round" "harness-$proto" --harness --proto $proto --seconds $HARNESS_SECS
    done
    for r in "${RUNS[@]}"; do
        set -- $r
        for build in "${order[@]}"; do
            bench_run "$build" "$round" "$1-$2" --sessions "$1" --proto "$2" --seconds "$3"
        done
    done
done

if [ "${BENCH_NO_SBS:-0}" != 1 ]; then
    routers="kernel cgnatd-tap cgnatd-afpacket cgnatd-afxdp"
    [ -n "$BASE_REV" ] && routers="kernel cgnatd-tap cgnatd-afpacket cgnatd-afxdp@base cgnatd-afxdp"
    echo "--- tests/bench/sidebyside.sh $([ $SMOKE = 1 ] && echo --smoke) ($routers)"
    CGNATD=$BIN/cgnatd CGNATD_BASE=${BASE_BIN:+$BASE_BIN/cgnatd} SBS_ROUTERS="$routers" \
        timeout 1200 bash tests/bench/sidebyside.sh $([ $SMOKE = 1 ] && echo --smoke) | tee "$OUT/sidebyside.log" | grep -v '^RESULT' | sed '/^== side by side/,$d'
    grep '^RESULT' "$OUT/sidebyside.log" | grep -v 'kind=sbs_trial' | sed 's/$/ build=new round=1/' >>"$RES"
fi

# The tables: medians over rounds per build, ratio to the baseline, and
# the fraction of the harness limit.
awk -v base="$BASE_REV" '
function kv(   i, a) { delete v; for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] } }
function add(key, b, x) { n[key, b]++; val[key, b, n[key, b]] = x; if (!(key in seen)) { seen[key] = 1; keys[++nk] = key } }
function median(key, b,   m, i, j, t, a) {
    m = n[key, b]; if (m == 0) return ""
    for (i = 1; i <= m; i++) a[i] = val[key, b, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function all(key, b,   i, s) { s = ""; for (i = 1; i <= n[key, b]; i++) s = s (i > 1 ? ", " : "") val[key, b, i]; return s }
function row(key, label, fmt,   nv, bv, s, k, h) {
    nv = median(key, "new"); if (nv == "") return
    s = sprintf("| %-40s | " fmt, label, nv)
    if (base != "" && key !~ /^harness/) {
        bv = median(key, "base")
        s = s sprintf(" | " fmt " | %6s |", bv == "" ? 0 : bv, bv > 0 ? sprintf("%.2fx", nv / bv) : "-")
    } else s = s " |"
    if (key ~ /^mpps/) { split(key, k, SUBSEP); h = median("harness" SUBSEP k[3] SUBSEP k[4], "new"); s = s sprintf(" %5s |", h > 0 ? sprintf("%.0f%%", 100 * nv / h) : "-") }
    print s
    if (n[key, "new"] > 1) print "|   runs: this tree " all(key, "new") (base != "" && key !~ /^harness/ ? "; baseline " all(key, "base") : "")
}
{ kv() }
v["kind"] == "harness" { add("harness" SUBSEP v["proto"] SUBSEP v["dir"], "new", v["mpps"]) }
v["kind"] == "fastpath" { add("mpps" SUBSEP v["run"] SUBSEP v["proto"] SUBSEP v["dir"], v["build"], v["mpps"]); add("cycles" SUBSEP v["run"] SUBSEP v["proto"] SUBSEP v["dir"], v["build"], v["cycles_per_pkt"]) }
v["kind"] == "create" { add("create" SUBSEP v["run"], v["build"], v["rate_mps"]) }
v["kind"] == "expiry" { add("expiry" SUBSEP v["run"], v["build"], v["rate_mps"]) }
v["kind"] == "memory" { add("memory" SUBSEP v["run"], v["build"], v["bytes_per_session"]) }
v["kind"] == "conntrack" { ct = sprintf("conntrack: %d entries, %.1f B/entry (slab object %d B)", v["entries"], v["bytes_per_entry"], v["objsize"]) }
END {
    hdr = base != "" ? sprintf(" this tree | baseline %s | ratio |", base) : " this tree |"
    print "\n== harness limit (cgnat_bench --harness: same generator and ports, forwarder without NAT; this tree), Mpps"
    for (i = 1; i <= nk; i++) { split(keys[i], k, SUBSEP); if (k[1] == "harness") row(keys[i], k[2] " " (k[3] == "out" ? "inside -> outside" : "outside -> inside"), "%9.2f") }
    print "\n== fast path (real worker loop, net_ring, 64-byte frames, one worker core), Mpps; last column: fraction of the harness limit"
    print "| run                                      |" hdr " of harness |"
    for (i = 1; i <= nk; i++) { split(keys[i], k, SUBSEP); if (k[1] == "mpps") row(keys[i], k[2] " " (k[4] == "out" ? "inside -> outside" : "outside -> inside"), "%9.2f") }
    print "\n== TSC cycles per packet (1 / rate; lower is better)"
    for (i = 1; i <= nk; i++) { split(keys[i], k, SUBSEP); if (k[1] == "cycles") row(keys[i], k[2] " " (k[4] == "out" ? "inside -> outside" : "outside -> inside"), "%9d") }
    print "\n== new sessions (M/s; UDP first packets, TCP handshakes) | expiry (M sessions/s) | resident bytes/session"
    for (i = 1; i <= nk; i++) { split(keys[i], k, SUBSEP); if (k[1] == "create") row(keys[i], "new sessions " k[2], "%9.3f") }
    for (i = 1; i <= nk; i++) { split(keys[i], k, SUBSEP); if (k[1] == "expiry") row(keys[i], "expiry " k[2], "%9.3f") }
    for (i = 1; i <= nk; i++) { split(keys[i], k, SUBSEP); if (k[1] == "memory") row(keys[i], "bytes/session " k[2], "%9.1f") }
    if (ct != "") print ct
}' "$RES"
if [ -f "$OUT/sidebyside.log" ]; then
    sed -n '/^== side by side/,$p' "$OUT/sidebyside.log"
fi

# Every part measured something, and nothing is a silent failure: a zero
# rate, untranslated frames, a router that delivered nothing or is missing
# fails the run. (A side-by-side rate of 0 at <= 0.1 % loss is a measured
# result, printed in the table, not a failure of the benchmark.)
want="harness fastpath create memory expiry"
[ "${BENCH_NO_SBS:-0}" != 1 ] && want="$want conntrack sbs_new sbs_pps"
for k in $want; do
    grep -q "^RESULT kind=$k " "$RES" || { echo "bench.sh: no $k result" >&2; exit 1; }
done
bad=$(awk -v base="$BASE_REV" -v sbs="${BENCH_NO_SBS:-0}" -v routers="${routers:-}" '
function kv(   i, a) { delete v; for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] } }
{ kv() }
v["kind"] == "harness" && (v["mpps"] + 0 == 0 || v["bad"] + 0 != 0) { print "harness " v["proto"] " " v["dir"] ": mpps=" v["mpps"] " bad=" v["bad"] }
v["kind"] == "fastpath" { fp[v["build"]]++ }
v["kind"] == "fastpath" && (v["mpps"] + 0 == 0 || v["bad"] + 0 != 0) { print "fastpath " v["build"] " " v["proto"] " " v["dir"] " " v["sessions"] ": mpps=" v["mpps"] " bad=" v["bad"] }
v["kind"] == "create" && (v["rate_mps"] + 0 == 0 || v["created"] + 0 == 0) { print "create " v["build"] " " v["proto"] " " v["sessions"] ": created=" v["created"] }
v["kind"] == "sbs_pps" || v["kind"] == "sbs_new" { got[v["kind"], v["router"]] = 1 }
(v["kind"] == "sbs_pps" || v["kind"] == "sbs_new") && v["delivered"] + 0 == 0 { print "side by side " v["router"] " " v["kind"] ": delivered nothing of " v["offered"] " offered" }
END {
    if (base != "" && !fp["base"]) print "no fast-path result from the baseline build"
    if (sbs != 1) { nr = split(routers, rs, " "); for (i = 1; i <= nr; i++) for (t = 1; t <= 2; t++) { kd = t == 1 ? "sbs_pps" : "sbs_new"; if (!got[kd, rs[i]]) print "side by side " rs[i] ": no " kd " result (the router did not run)" } }
}' "$RES")
if [ -n "$bad" ]; then
    echo "bench.sh: a benchmark measured nothing:" >&2
    echo "$bad" >&2
    exit 1
fi
pressure1=$(cpu_pressure)
echo
echo "bench.sh: done in $(( $(date +%s) - start )) s; raw results in $RES"
if awk -v a="$pressure0" -v b="$pressure1" 'BEGIN { exit !(a > 10 || b > 10) }'; then
    echo "bench.sh: WARNING: other programs competed for the CPUs (CPU pressure avg10 $pressure0 % before, $pressure1 % after): the figures of this run are not reliable"
fi
