#!/usr/bin/env bash
# Attack 6 of issue 9 ("How it must be shown"): a SYN flood from the
# internet at pool addresses without mappings, from many source addresses
# and ports.
#
# Must hold (RFC 4787 REQ-8, RFC 6888 section 6): a packet to a public
# address:port without a mapping is dropped (`no_mapping`) before any state
# is created: no subscriber, session, mapping or block, no NAT log record;
# a newcomer connects and pings during the flood.
TEST=syn-flood N=6
# shellcheck source=tests/hostile/lib.sh
. "$(dirname "$0")/lib.sh"

COUNT=8000 SOURCES=2000 DURATION=8
FLOOD_NET=198.18.0.0/15     # spoofed internet sources: neither subscriber nor pool space
hostile_up
warm_up
snap B
RSS0=$(rss_kib) LOG0=$(log_lines)

say "== $COUNT SYNs from $SOURCES addresses of $FLOOD_NET to random ports of 203.0.113.0/28 in $DURATION s"
attack syns "$NS_INET" syn-flood --iface "$IF_OUT" --dst-mac $MAC_OUT --duration $DURATION \
    --src-net $FLOOD_NET --sources $SOURCES --pool 203.0.113.0/28 --count $COUNT
sleep 2
newcomer "$NS_NEW" $NEW
snap D --subscriber $NEW
still_attacking "$ATTACK_PID"
attack_done syns $((DURATION + 10))
snap A --subscriber $NEW
dropped=$((A_nat_drop_no_mapping - B_nat_drop_no_mapping))
created=$((A_nat_sessions_created - B_nat_sessions_created - A_sub_sessions))
say "   sent $SENT, dropped as no_mapping $dropped, sessions created other than the newcomer's $created"
if [ "$dropped" -ge $((SENT * 99 / 100)) ]; then
    pass "$dropped of $SENT SYNs dropped as no_mapping"
else
    fail "only $dropped of $SENT SYNs dropped as no_mapping"
fi
if [ "$D_subscribers" -le $((B_subscribers + D_known)) ] && [ "$D_sessions" -le $((B_sessions + D_sub_sessions)) ] && [ "$D_blocks" -le $((B_blocks + D_sub_blocks)) ]; then
    pass "during the flood: no state but the newcomer's (subscribers $D_subscribers, sessions $D_sessions, blocks $D_blocks)"
else
    fail "during the flood: state grew (subscribers $B_subscribers -> $D_subscribers, sessions $B_sessions -> $D_sessions, blocks $B_blocks -> $D_blocks)"
fi

bound=$RECLAIM_SLACK
say "== reclaim bound: the flood creates no state; $RECLAIM_SLACK s"
wait_clean "$ATTACK_END" $bound "tables as before + the newcomer's" back_to_baseline

sleep 0.5
log_bound=$((2 * MAX_BLOCKS))
say "== NAT log bound: no record for the flood; $log_bound for the newcomer"
check_log "$LOG0" $log_bound
check_rss "$RSS0" 512 "allocator slack; the flood allocates nothing"
verify_log
result "sent=$SENT no_mapping=$dropped state-created=$created log+$LOG_GROWTH/$log_bound rss=${RSS0}->${RSS_AFTER}KiB clean=${CLEAN_SECS}s/${bound}s newcomer=${NEWCOMER_OK}"
exit "$FAILED"
