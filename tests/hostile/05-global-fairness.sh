#!/usr/bin/env bash
# Attack 5 of issue 9, global fairness: a few subscribers open sessions up
# to their own limit (nat.max_sessions_per_subscriber) until the global
# session table is under pressure; then a newcomer arrives.
#
# Must hold (issue 9 item 4, RFC 6888 REQ-5 and REQ-11): once the session
# or mapping table is nat.fairness.pressure_percent full, only subscribers
# below nat.fairness.fair_share_sessions grow, so the rest of the table is
# kept for them and the newcomer gets in (curl and ping). The hogs' state
# is theirs (confirmed subscribers): it lasts the ICMP query timer
# (nat.timeouts.icmp, RFC 5508 REQ-1: 60 s) after their last echo.
TEST=global-fairness N=5
# shellcheck source=tests/hostile/lib.sh
. "$(dirname "$0")/lib.sh"

HOGS=(100.64.2.11 100.64.2.12 100.64.2.13 100.64.2.14)
FILL=4 DURATION=10
hostile_up
add_subscriber "$P-hogs" v-hogs "${HOGS[@]}"
warm_up
# The hogs are ordinary subscribers: each has received an answer (and is
# confirmed by its next new session), so its own limit is the full one.
for h in "${HOGS[@]}"; do
    nsx "$P-hogs" python3 "$UDP_TOOL" query --bind "$h:0" --to $INET:3478 >/dev/null || fail "hog $h: no answer from the reflector"
done
per_hog=$((MAX_SESSIONS_PER_SUB + 64))
snap B
RSS0=$(rss_kib) LOG0=$(log_lines)

say "== ${#HOGS[@]} subscribers open $per_hog ICMP echo sessions each (limit $MAX_SESSIONS_PER_SUB) within $FILL s, refreshing them until $DURATION s; table $MAX_SESSIONS, pressure from $PRESSURE_SESSIONS, fair share $FAIR_SHARE"
hogs_csv=$(IFS=,; echo "${HOGS[*]}")
attack hogs "$P-hogs" hog --iface eth0 --dst-mac $MAC_IN --duration $DURATION --fill $FILL \
    --srcs "$hogs_csv" --ports $per_hog --to $INET
sleep $((FILL + 1))
snap D
say "   during: sessions $D_sessions of $MAX_SESSIONS, mappings $D_mappings of $MAX_SESSIONS"
newcomer "$NS_NEW" $NEW
still_attacking "$ATTACK_PID"
attack_done hogs $((DURATION + 10))
snap A
held=""
for h in "${HOGS[@]}"; do
    snap H --subscriber "$h"
    held+="${held:+,}$H_sub_sessions"
    if [ "$H_sub_sessions" -gt "$MAX_SESSIONS_PER_SUB" ]; then fail "hog $h holds $H_sub_sessions sessions, over its limit"; fi
done
fair=$((A_nat_drop_fair_share - B_nat_drop_fair_share))
full=$((A_nat_drop_session_table_full - B_nat_drop_session_table_full + A_nat_drop_mapping_table_full - B_nat_drop_mapping_table_full))
say "   the hogs hold $held sessions; refused: fair_share $fair, session_limit $((A_nat_drop_session_limit - B_nat_drop_session_limit)), table full $full"
if [ "$D_sessions" -lt "$MAX_SESSIONS" ] && [ "$full" = 0 ]; then
    pass "the session table never filled ($D_sessions of $MAX_SESSIONS during the attack, no table-full drop)"
else
    fail "the session table filled ($D_sessions of $MAX_SESSIONS, $full table-full drops)"
fi

bound=$((ICMP_TIMEOUT + RECLAIM_SLACK))
say "== reclaim bound: nat.timeouts.icmp $ICMP_TIMEOUT s + $RECLAIM_SLACK s = $bound s after the hogs' last echo"
wait_clean "$ATTACK_END" $bound "the hogs' echo sessions and mappings are gone (tables as before + the newcomer's)" back_to_baseline

sleep 0.5
blocks=$((C_nat_blocks_allocated - B_nat_blocks_allocated))
log_bound=$((2 * MAX_BLOCKS * ${#HOGS[@]} + 2 * MAX_BLOCKS + 3))
say "== NAT log bound: 2 x $MAX_BLOCKS blocks x ${#HOGS[@]} hogs + $((2 * MAX_BLOCKS)) for the newcomer + 3 table-fill alerts = $log_bound"
check_log "$LOG0" $log_bound
check_rss "$RSS0" $((512 + 4 * blocks + $(tables_kib))) "512 KiB allocator slack + 4 KiB of port records per block first used ($blocks) + $(tables_kib) KiB of preallocated tables"
verify_log
result "sent=$SENT sessions=$D_sessions/$MAX_SESSIONS hogs=$held fair-share-refused=$fair table-full=$full log+$LOG_GROWTH/$log_bound rss=${RSS0}->${RSS_AFTER}KiB clean=${CLEAN_SECS}s/${bound}s newcomer=${NEWCOMER_OK}"
exit "$FAILED"
