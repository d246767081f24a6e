# Helpers of the hostile-traffic tests (tests/hostile/NN-*.sh), sourced by
# each test after setting TEST (its name) and N (its number, 1..9). Every
# test gets its own cgnatd (tests/hostile/hostile.toml), namespaces, TAP
# interfaces, metrics port and work directory; `trap hostile_down` removes
# them whatever happens.
#
# Topology (tests/lib/netns.sh), per test:
#   sub1 100.64.1.10  known subscriber (warm-up: curl, ping, UDP)
#   new  100.64.1.20  the newcomer: first seen during the attack
#   att  100.64.1.66  the attacking subscriber host (rp_filter off)
#   inet 198.51.100.1 servers: HTTP on 192.0.2.80:80, UDP reflector :3478,
#        UDP discard on 192.0.2.80:9; 198.51.100.66 the internet attacker
#
# Environment (set by run.sh): CGNATD, CGNATCTL, HOSTILE_ID (unique run
# id), HOSTILE_DIR (work directory), HOSTILE_RESULTS (summary file),
# HOSTILE_LEGACY=1 (the daemon predates the limits: their keys are
# stripped from the configuration), HOSTILE_KEEP=1 (leave the lab up at
# the end, for a look; `NN-test.sh --down` removes it).

set -euo pipefail
HOSTILE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HOSTILE/../.." && pwd)
ID=${HOSTILE_ID:-$$}
P=hs$((ID % 100000))$N
IF_IN=$P-in IF_OUT=$P-out
WORK=${HOSTILE_DIR:-/tmp/cgnat-hostile}/$N-$TEST
CGNATD=${CGNATD:-$ROOT/target/debug/cgnatd}
CGNATCTL=${CGNATCTL:-$(dirname "$CGNATD")/cgnatctl}
WORKERS=2
# A metrics port of its own: derived from the run id, the next free one.
metrics_port=$((20000 + (ID * 10 + N) % 40000))
for _ in $(seq 1 20); do
    ss -Hltn "sport = :$metrics_port" 2>/dev/null | grep -q . || break
    metrics_port=$((metrics_port + 100))
done
METRICS=127.0.0.1:$metrics_port
PY=${HOSTILE_PYTHON:-/usr/bin/python3}
GEN=$HOSTILE/gen.py
STATE=$HOSTILE/state.py
UDP_TOOL=$ROOT/tests/lab/udp_tool.py
RESULTS=${HOSTILE_RESULTS:-/dev/null}
# shellcheck source=tests/lib/netns.sh
. "$ROOT/tests/lib/netns.sh"
NS_SUB1=$P-sub1 NS_NEW=$P-new NS_ATT=$P-att
NAMESPACES+=("$NS_SUB1" "$NS_NEW" "$NS_ATT")
SUB1=100.64.1.10 NEW=100.64.1.20 ATT=100.64.1.66 INET_ATT=198.51.100.66
# cgnatd's MAC addresses (hostile.toml [dataplane.inside/outside] mac).
MAC_IN=02:c6:0a:00:00:01 MAC_OUT=02:c6:0a:00:00:02
CONFIG=$WORK/cgnatd.toml

hostile_down() {
    local rc=$?
    set +e
    if [ "${HOSTILE_KEEP:-0}" = 1 ]; then
        say "HOSTILE_KEEP=1: left running (prefix $P, work directory $WORK); remove with: HOSTILE_ID=$ID $0 --down"
        exit $rc
    fi
    lab_down >/dev/null 2>&1
    exit $rc
}
# `NN-test.sh --down`: removes what a test left (HOSTILE_KEEP=1 or a kill -9).
if [ "${1:-}" = --down ]; then
    lab_down
    exit 0
fi

# The configuration under test: hostile.toml, without the `# issue9` lines
# and tables for a daemon that predates them.
write_config() {
    if [ "${HOSTILE_LEGACY:-0}" = 1 ]; then
        awk '/^\[/ { skip = ($0 ~ /# issue9/) } !skip && !/# issue9/' "$HOSTILE/hostile.toml" >"$CONFIG"
    else
        cp "$HOSTILE/hostile.toml" "$CONFIG"
    fi
    # The bounds this test checks, computed from the configuration.
    eval "$("$PY" "$STATE" bounds "$HOSTILE/hostile.toml" --workers $WORKERS)"
}

hostile_up() {
    need_root
    trap hostile_down EXIT
    trap 'exit 130' INT TERM
    lab_down >/dev/null 2>&1
    rm -rf "$WORK"
    mkdir -p "$PIDS" "$WORK/www"
    echo "hello from the internet" >"$WORK/www/index.html"
    write_config
    start_cgnatd --config "$CONFIG"
    topology_up
    ip -n "$NS_INET" addr add $INET_ATT/24 dev "$IF_OUT"
    add_subscriber "$NS_SUB1" v-sub1 $SUB1
    add_subscriber "$NS_NEW" v-new $NEW
    add_subscriber "$NS_ATT" v-att $ATT
    # The attacker sends spoofed sources (and takes what comes back).
    nsx "$NS_ATT" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
    bg http "$NS_INET" python3 -m http.server 80 --bind $WEB --directory "$WORK/www"
    bg reflector "$NS_INET" python3 -u "$UDP_TOOL" reflect --bind $INET:3478 --lifetime 300
    bg discard "$NS_INET" python3 -u "$UDP_TOOL" listen --bind $WEB:9 --out "$WORK/discard.count" --lifetime 300
    wait_for 15 "the HTTP server" nsx "$NS_INET" bash -c "exec 3<>/dev/tcp/$WEB/80"
}

# Known traffic before the attack: sub1 fetches, pings and queries (it is a
# confirmed subscriber afterwards); the daemon's pages for it are in use.
warm_up() {
    local ok=1
    nsx "$NS_SUB1" curl -sS --max-time 10 "http://$WEB/" | grep -q "hello from the internet" || ok=0
    nsx "$NS_SUB1" ping -n -c 2 -i 0.3 -W 2 $INET >/dev/null || ok=0
    nsx "$NS_SUB1" python3 "$UDP_TOOL" query --to $INET:3478 >/dev/null || ok=0
    if [ $ok = 1 ]; then pass "warm-up: sub1 fetches, pings and queries through the NAT"; else fail "warm-up traffic from sub1"; fi
    sleep 1
}

# snap PREFIX [ARGS]: the daemon's figures as shell variables
# PREFIX_subscribers, PREFIX_sessions, PREFIX_nat_drop_admission_limited,
# PREFIX_dp_fragment_source_limit, PREFIX_sub_sessions (--subscriber A),
# PREFIX_listed (--list), ... (state.py snapshot).
snap() {
    local prefix=$1 out; shift
    if ! out=$("$PY" "$STATE" snapshot --ctl "$CGNATCTL" --socket "$WORK/cgnatd.sock" --prefix "$prefix" "$@" 2>&1); then
        fail "cannot read the daemon's state: $out"
        result "daemon unreachable"
        exit 1
    fi
    eval "$out"
}

# Floating-point arithmetic (awk: no bc needed).
calc() { awk "BEGIN { printf \"%.1f\", $* }"; }
holds() { awk "BEGIN { exit !($*) }"; }
now_s() { date +%s.%N; }

# back_to_baseline: the tables hold no more than before the attack (B_*,
# from `snap B`) plus the newcomer's own state. Sets C_*.
back_to_baseline() {
    snap C --subscriber $NEW
    [ "$C_subscribers" -le $((B_subscribers + C_known)) ] &&
        [ "$C_sessions" -le $((B_sessions + C_sub_sessions)) ] &&
        [ "$C_mappings" -le $((B_mappings + C_sub_sessions)) ] &&
        [ "$C_blocks" -le $((B_blocks + C_sub_blocks)) ]
}

# Anonymous resident memory (RssAnon): what the daemon allocated and
# touched. File-backed pages (code of cgnatd and libc paged in the first
# time an attack reaches a path, e.g. the refusal paths) are left out:
# they are not memory the attack makes the daemon hold.
rss_kib() { awk '/^RssAnon:/ { print $2 }' "/proc/$(cat "$PIDS/cgnatd")/status"; }
log_lines() { if [ -f "$WORK/nat.log" ]; then wc -l <"$WORK/nat.log"; else echo 0; fi; }

# reach_start NS ADDR WHO: during the attack, subscriber ADDR (in NS)
# fetches over HTTP and pings through the NAT, in the background; curl is
# bounded with one retry (a refused first SYN is retransmitted by the kernel
# after 1 s and admitted as a retry: the design). reach_finish ADDR waits
# and checks; it sets REACH_OK (1: both worked).
reach_start() {
    local ns=$1 addr=$2
    REACH_WHO[$addr]=$3
    REACH_T0[$addr]=$(now_s)
    nsx "$ns" timeout 12 curl -sS --connect-timeout 5 --max-time 8 --retry 1 --retry-all-errors --retry-delay 1 \
        -w 'curl: connected after %{time_connect} s, %{time_total} s in all\n' \
        "http://$WEB/" >"$WORK/reach-$addr.curl" 2>&1 &
    REACH_CURL[$addr]=$!
    nsx "$ns" timeout 12 ping -n -c 5 -i 0.5 -W 2 -w 8 $INET >"$WORK/reach-$addr.ping" 2>&1 &
    REACH_PING[$addr]=$!
}
declare -A REACH_WHO REACH_T0 REACH_CURL REACH_PING

reach_finish() {
    local addr=$1 c=0 replies who=${REACH_WHO[$1]}
    wait "${REACH_CURL[$addr]}" || c=$?
    wait "${REACH_PING[$addr]}" || true
    replies=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$WORK/reach-$addr.ping")
    REACH_OK=1
    if [ $c = 0 ] && grep -q "hello from the internet" "$WORK/reach-$addr.curl"; then
        pass "during the attack: $who $addr fetched http://$WEB/ ($(grep '^curl:' "$WORK/reach-$addr.curl" | cut -c7-))"
    else
        fail "during the attack: $who $addr could not fetch http://$WEB/: $(grep -v '^curl: connected' "$WORK/reach-$addr.curl" | tail -1)"
        REACH_OK=0
    fi
    if [ "${replies:-0}" -ge 1 ]; then
        pass "during the attack: $who $addr pinged $INET ($replies of 5 replies)"
    else
        fail "during the attack: $who $addr got no ping reply"
        REACH_OK=0
    fi
}

# newcomer NS ADDR: reach_start + reach_finish for a subscriber the NAT
# does not know yet; sets NEWCOMER_OK.
newcomer() {
    reach_start "$1" "$2" newcomer
    reach_finish "$2"
    NEWCOMER_OK=$REACH_OK
}

# still_attacking PID: the attack must outlast the checks made "during" it.
still_attacking() {
    if kill -0 "$1" 2>/dev/null; then
        pass "the attack was still running when the newcomer's checks ended"
    else
        fail "the attack ended before the newcomer's checks (not a check during the attack)"
    fi
}

# wait_clean T0 BOUND DESCRIPTION CONDITION...: polls CONDITION (a shell
# command, every 0.5 s) until it holds; passes if it held at most BOUND
# seconds after T0 (the attack's end, now_s). Waits at most BOUND + 10 s.
# Sets CLEAN_SECS.
wait_clean() {
    local t0=$1 bound=$2 what=$3; shift 3
    local now limit
    limit=$(calc "$bound + 10")
    CLEAN_SECS=">$limit"
    while :; do
        now=$(calc "$(now_s) - $t0")
        if "$@"; then
            CLEAN_SECS=$now
            break
        fi
        if holds "$now > $limit"; then break; fi
        sleep 0.5
    done
    if [ "${CLEAN_SECS#>}" = "$CLEAN_SECS" ] && holds "$CLEAN_SECS <= $bound"; then
        pass "after the attack: $what within $CLEAN_SECS s (bound $bound s)"
    else
        fail "after the attack: $what not within the bound of $bound s (took $CLEAN_SECS s)"
    fi
}

# attack NAME NS GEN-ARGS...: starts a generator (gen.py) in namespace NS
# and waits until it sends its first packet; sets ATTACK_PID and ATTACK_T0.
attack() {
    local name=$1 ns=$2; shift 2
    bg "$name" "$ns" "$PY" "$GEN" "$@"
    ATTACK_PID=$(cat "$PIDS/$name")
    wait_for 60 "the $name generator to start sending" grep -q '^sending' "$WORK/$name.log" || true
    ATTACK_T0=$(now_s)
}

# attack_done NAME SECONDS: waits (bounded) for the generator to finish;
# sets SENT (packets it sent), ATTACK_SECS (whole seconds it sent for,
# rounded up) and ATTACK_END.
attack_done() {
    local name=$1 t=$2
    wait_for "$t" "the $name generator to finish" bash -c "! kill -0 $ATTACK_PID 2>/dev/null" || stop_pid "$PIDS/$name"
    ATTACK_END=$(now_s)
    SENT=$(sed -n 's/^sent \([0-9]*\) in .*/\1/p' "$WORK/$name.log")
    ATTACK_SECS=$(sed -n 's/^sent [0-9]* in \([0-9]*\)\.\([0-9]\) s$/\1 \2/p' "$WORK/$name.log" | awk '{ print $1 + ($2 > 0) }')
    if [ -z "$SENT" ]; then
        ATTACK_SECS=0
        fail "the $name generator failed: $(tail -3 "$WORK/$name.log")"
        SENT=0
    fi
}

# log_events EVENT: NAT log records of one kind.
log_events() { grep -c " $1 " "$WORK/nat.log" 2>/dev/null || true; }

# check_log BEFORE BOUND: the NAT log grew by at most BOUND records.
check_log() {
    local before=$1 bound=$2 now
    now=$(log_lines)
    LOG_GROWTH=$((now - before))
    if [ "$LOG_GROWTH" -le "$bound" ]; then
        pass "NAT log grew by $LOG_GROWTH records (bound $bound)"
    else
        fail "NAT log grew by $LOG_GROWTH records, more than the bound of $bound"
    fi
}

# tables_kib: KiB the subscriber, session and mapping tables reserve (from
# `snap B`). They are preallocated; their pages become resident when first
# touched, so an attack that fills them may raise RSS by up to this much
# without allocating anything.
tables_kib() { echo $(( (B_subscribers_bytes + B_sessions_bytes + B_mappings_bytes + 1023) / 1024 )); }

# check_rss BEFORE TOLERANCE WHY: resident memory did not grow by more
# than TOLERANCE KiB.
check_rss() {
    local before=$1 tol=$2 why=$3
    RSS_AFTER=$(rss_kib)
    if [ $((RSS_AFTER - before)) -le "$tol" ]; then
        pass "anonymous RSS ${before} KiB before, ${RSS_AFTER} KiB after (tolerance $tol KiB: $why)"
    else
        fail "anonymous RSS grew from ${before} KiB to ${RSS_AFTER} KiB (+$((RSS_AFTER - before)), tolerance $tol KiB: $why)"
    fi
}

# verify_log: stops cgnatd (SIGINT: it releases and logs every block and
# ends its run) and checks that the NAT log written under attack is a sound
# legal record (`cgnatctl log verify`: sequence, order, every allocation
# released, no port held twice).
verify_log() {
    stop_pid "$PIDS/cgnatd" INT
    if ! "$CGNATCTL" log verify --help >/dev/null 2>&1; then
        say "   (cgnatctl $CGNATCTL has no 'log verify': the log's soundness is not checked)"
        return 0
    fi
    local out rc=0
    out=$("$CGNATCTL" log verify "$WORK/nat.log" 2>&1) || rc=$?
    if [ $rc = 0 ]; then
        pass "cgnatctl log verify: the NAT log written under attack is sound ($(tail -1 <<<"$out" | tr -s " "))"
    else
        fail "cgnatctl log verify $WORK/nat.log (exit $rc): $(tail -3 <<<"$out")"
    fi
}

# result FIGURES...: the test's summary line (printed and kept for run.sh).
result() {
    local status=PASS
    [ "$FAILED" = 0 ] || status=FAIL
    local line
    line=$(printf '%-22s %s  %s' "$TEST" "$status" "$*")
    say "RESULT $line"
    echo "$line" >>"$RESULTS"
}
