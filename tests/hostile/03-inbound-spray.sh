#!/usr/bin/env bash
# Attack 3 of issue 9, "inbound spray under endpoint-independent
# filtering": an internet host learns a subscriber's UDP mapping (as any
# STUN server or peer does) and sends 1 000 UDP packets to it from 1 000
# source ports.
#
# Must hold (issue 9 item 3, RFC 4787 REQ-8 and REQ-6): sessions created by
# inbound packets have their own budget (nat.inbound: per mapping and per
# subscriber) and a short timer until the inside host answers, so the
# sprayed subscriber's own new connections keep working during the spray
# (and a newcomer's too), and the spray's sessions are gone
# nat.inbound.timeout after it stops. The spray allocates no block: the
# NAT log does not grow for it.
TEST=inbound-spray N=3
# shellcheck source=tests/hostile/lib.sh
. "$(dirname "$0")/lib.sh"

COUNT=1000 DURATION=12
hostile_up
warm_up
# sub1's application: a UDP socket that learns its public endpoint from the
# reflector (creating the mapping) and then only listens (it answers no one).
bg sub1-app "$NS_SUB1" python3 -u "$UDP_TOOL" listen --bind $SUB1:5000 --out "$WORK/sub1-app.count" \
    --announce $INET:3478 --announce-file "$WORK/sub1.public" --lifetime 120
wait_for 20 "sub1's public UDP endpoint" test -s "$WORK/sub1.public"
PUB=$(cat "$WORK/sub1.public")
say "   sub1's mapping: $SUB1:5000 -> $PUB"
snap B
RSS0=$(rss_kib) LOG0=$(log_lines)

say "== $COUNT UDP packets from $COUNT source ports of $INET_ATT to $PUB in $DURATION s"
attack spray "$NS_INET" spray --iface "$IF_OUT" --dst-mac $MAC_OUT --duration $DURATION \
    --src $INET_ATT --to "$PUB" --count $COUNT
# Past the point where the spray alone would fill sub1's own session limit
# (MAX_SESSIONS_PER_SUB of COUNT packets), sub1 and a newcomer connect.
sleep $(( DURATION * MAX_SESSIONS_PER_SUB / COUNT + 1 ))
snap D --list --destination $INET_ATT
reach_start "$NS_SUB1" $SUB1 "the sprayed subscriber"
reach_start "$NS_NEW" $NEW newcomer
reach_finish $SUB1
SPRAYED_OK=$REACH_OK
reach_finish $NEW
NEWCOMER_OK=$REACH_OK
still_attacking "$ATTACK_PID"
attack_done spray $((DURATION + 10))
snap A
say "   during: the spray held $D_listed sessions (nat.inbound: $INBOUND_PER_MAPPING per mapping, $INBOUND_PER_SUB per subscriber)"
if [ "$D_listed" -le "$INBOUND_PER_MAPPING" ]; then
    pass "the spray holds $D_listed sessions (nat.inbound.max_sessions_per_mapping $INBOUND_PER_MAPPING)"
else
    fail "the spray holds $D_listed sessions, more than nat.inbound.max_sessions_per_mapping $INBOUND_PER_MAPPING"
fi
refused=$((A_nat_drop_inbound_session_limit - B_nat_drop_inbound_session_limit + A_nat_drop_session_limit - B_nat_drop_session_limit))
delivered=$(cat "$WORK/sub1-app.count" 2>/dev/null || echo 0)
say "   sent $SENT, refused $refused (inbound_session_limit + session_limit), delivered to sub1's application $delivered"

bound=$((INBOUND_TIMEOUT + RECLAIM_SLACK))
say "== reclaim bound: nat.inbound.timeout $INBOUND_TIMEOUT s + $RECLAIM_SLACK s = $bound s after the spray"
gone() { snap G --list --destination $INET_ATT; [ "$G_listed" = 0 ]; }
wait_clean "$ATTACK_END" $bound "the spray's sessions are gone" gone
snap C --subscriber $SUB1
if [ "$C_known" = 1 ] && [ "$C_mappings" -ge "$B_mappings" ]; then
    pass "sub1 and its mapping $PUB are still there"
else
    fail "sub1 or its mappings went away (mappings $B_mappings before, $C_mappings after)"
fi

sleep 0.5
log_bound=$((2 * MAX_BLOCKS + 2 * MAX_BLOCKS + 3))
say "== NAT log bound: the spray allocates no block; $((2 * MAX_BLOCKS)) for the newcomer + $((2 * MAX_BLOCKS)) for sub1's new connections + 3 table-fill alerts = $log_bound"
check_log "$LOG0" $log_bound
check_rss "$RSS0" 512 "allocator slack; the spray allocates no block"
verify_log
result "sent=$SENT held=$D_listed/$INBOUND_PER_MAPPING refused=$refused delivered=$delivered log+$LOG_GROWTH/$log_bound rss=${RSS0}->${RSS_AFTER}KiB clean=${CLEAN_SECS}s/${bound}s sprayed-sub=${SPRAYED_OK} newcomer=${NEWCOMER_OK}"
exit "$FAILED"
