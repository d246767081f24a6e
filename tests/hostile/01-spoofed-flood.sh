#!/usr/bin/env bash
# Attack 1 of issue 9, "spoofed subscriber flood": one inside host sends one
# UDP packet from each of 10 000 random 100.64.0.0/10 source addresses.
#
# Must hold (issue 9 "What it must do" 1 and 2): admission of new
# subscribers is rate-limited (nat.admission) and unconfirmed subscribers
# hold at most their share of the table (nat.unconfirmed), so a newcomer
# still gets in during the flood (its refused first packet's retry is
# admitted from the retry budget); the flood's subscribers are reclaimed
# after nat.unconfirmed.timeout; the NAT log gets at most two records
# (alloc + release) per admitted source plus one admission-limit summary
# per worker and interval, not one record per spoofed address.
TEST=spoofed-flood N=1
# shellcheck source=tests/hostile/lib.sh
. "$(dirname "$0")/lib.sh"

COUNT=10000 DURATION=10
hostile_up
warm_up
snap B
RSS0=$(rss_kib) LOG0=$(log_lines)

say "== $COUNT spoofed sources in $DURATION s from $ATT (one UDP packet each to $WEB:9)"
attack flood "$NS_ATT" spoof-flood --iface eth0 --dst-mac $MAC_IN --duration $DURATION \
    --src-net 100.64.0.0/10 --exclude $SUB1 $NEW $ATT $GW_IN --count $COUNT --to $WEB:9
# The newcomer comes once the flood holds the unconfirmed share of the
# table ((UNCONF_CAP - SUB_BURST) / SUB_RATE seconds in): its first packet
# is refused, its retry admitted.
sleep $(( (UNCONF_CAP - SUB_BURST) / SUB_RATE + 1 ))
newcomer "$NS_NEW" $NEW
still_attacking "$ATTACK_PID"
attack_done flood $((DURATION + 10))

# What the flood got: every subscriber created but the newcomer's.
snap A --subscriber $NEW
admitted=$((A_nat_subscribers_created - B_nat_subscribers_created - A_known))
refused=$((A_nat_drop_admission_limited - B_nat_drop_admission_limited + A_nat_drop_unconfirmed_limit - B_nat_drop_unconfirmed_limit))
retried=$((A_nat_admitted_on_retry - B_nat_admitted_on_retry))
T=$ATTACK_SECS
# Documented bound: the global bucket's burst plus its rate over the attack,
# and no more than the unconfirmed share of the table at once (a spoofed
# source, which sends once, holds its place nat.unconfirmed.timeout), plus
# the retry budget.
by_rate=$((SUB_BURST + SUB_RATE * T))
by_share=$((UNCONF_CAP * (1 + T / UNCONF_TIMEOUT)))
admit_bound=$(( (by_rate < by_share ? by_rate : by_share) + RETRY_BURST + RETRY_RATE * T ))
say "   sent $SENT, admitted $admitted (bound $admit_bound = min($SUB_BURST + $SUB_RATE/s x $T s, $UNCONF_CAP unconfirmed x (1 + $T s / $UNCONF_TIMEOUT s)) + $RETRY_BURST + $RETRY_RATE/s x $T s retries), refused $refused, admitted on retry $retried, reached the internet $(cat "$WORK/discard.count" 2>/dev/null || echo ?)"
if [ "$admitted" -le "$admit_bound" ]; then pass "admitted $admitted spoofed sources (bound $admit_bound)"; else fail "admitted $admitted spoofed sources, more than the bound $admit_bound"; fi
if [ "$refused" -ge $((SENT - admit_bound)) ]; then pass "refused $refused (admission_limited + unconfirmed_limit)"; else fail "only $refused refusals counted for $SENT packets"; fi

bound=$((UNCONF_TIMEOUT + RECLAIM_SLACK))
say "== reclaim bound: nat.unconfirmed.timeout $UNCONF_TIMEOUT s + $RECLAIM_SLACK s (1 s timer granularity, a session pass, two block/subscriber passes: $SWEEP_CYCLE s of passes, log flush) = $bound s"
wait_clean "$ATTACK_END" $bound "the flood's subscribers, sessions, mappings and blocks are gone (tables as before + the newcomer's)" back_to_baseline
say "   before: subscribers $B_subscribers, sessions $B_sessions, blocks $B_blocks; now: $C_subscribers, $C_sessions, $C_blocks (the newcomer: $C_sub_sessions sessions, $C_sub_blocks blocks)"
m=$("$PY" "$STATE" metric "http://$METRICS/metrics" cgnat_table_entries 'table="subscribers"' 2>&1 || true)
if [ "$m" = "$C_subscribers" ]; then pass "metrics agree: cgnat_table_entries{table=\"subscribers\"} $m"; else fail "metrics say $m subscribers, stats $C_subscribers"; fi

sleep 0.5
window=$(calc "$(now_s) - $ATTACK_T0" | cut -d. -f1)
summaries=$((WORKERS * (window / SUMMARY_INTERVAL + 2)))
log_bound=$((2 * UNCONF_BLOCKS * admit_bound + summaries + 2 * MAX_BLOCKS + 3))
say "== NAT log bound: 2 x $UNCONF_BLOCKS block x $admit_bound admitted + $summaries summaries ($WORKERS workers x ($window s / $SUMMARY_INTERVAL s + 2)) + $((2 * MAX_BLOCKS)) for the newcomer + 3 table-fill alerts = $log_bound"
check_log "$LOG0" $log_bound
summarised=$(log_events admission-limit)
say "   records: $(log_events block-alloc) block-alloc, $(log_events block-release) block-release, $summarised admission-limit, $(log_events table-full) table-full"
if [ "$summarised" -ge 1 ] && [ "$summarised" -le "$summaries" ]; then
    pass "refusals summarised: $summarised admission-limit records (at most one per worker and ${SUMMARY_INTERVAL} s: $summaries)"
else
    fail "$summarised admission-limit records (want 1 to $summaries: one per worker and interval with refusals)"
fi

# Pages of the pool's per-port records are faulted in once, when a block is
# first used (4 KiB per block and protocol): the flood may touch that many,
# and every page of the preallocated subscriber, session and mapping tables.
blocks=$((C_nat_blocks_allocated - B_nat_blocks_allocated))
tol=$((512 + 4 * blocks + $(tables_kib)))
check_rss "$RSS0" $tol "512 KiB allocator slack + 4 KiB of port records per block first used ($blocks) + $(tables_kib) KiB of preallocated tables"
verify_log
result "sent=$SENT admitted=$admitted/$admit_bound refused=$refused retry-admitted=$retried log+$LOG_GROWTH/$log_bound rss=${RSS0}->${RSS_AFTER}KiB clean=${CLEAN_SECS}s/${bound}s newcomer=${NEWCOMER_OK}"
exit "$FAILED"
