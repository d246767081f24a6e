#!/usr/bin/env bash
# Attack 4 of issue 9, fragments: an internet host floods pool addresses
# with orphan non-first fragments (their first fragment never comes), and
# first fragments whose later fragments never come arrive at a mapping (of
# another subscriber, the target) from many source addresses, one source
# port each so that they pass the inbound budget and reach the tracker.
#
# Must hold (issue 9 item 5, RFC 4787 REQ-14): the holding area and the
# fragment tracker are bounded in all and per source
# (nat.fragments.max_held / max_tracked / max_per_source), so legitimate
# fragmented traffic keeps working during the flood: ping -s 4000 through
# the NAT (fragmented both ways, in order) and a 3 000-byte UDP exchange
# whose fragments are sent in reverse order both ways. The flood allocates
# no block and its inbound sessions are gone nat.inbound.timeout after it.
TEST=fragment-flood N=4
# shellcheck source=tests/hostile/lib.sh
. "$(dirname "$0")/lib.sh"

ORPHANS=${ORPHANS:-4000} ORPHAN_SOURCES=${ORPHAN_SOURCES:-2} FIRSTS=${FIRSTS:-3000} FIRST_SOURCES=${FIRST_SOURCES:-24} DURATION=12
FLOOD_NET=198.18.0.0/15     # the attacker's (spoofed) sources: neither subscriber nor pool space
hostile_up
# The UDP server that answers with the same datagram as fragments in reverse order.
bg frag-echo "$NS_INET" "$PY" "$GEN" frag-echo --iface "$IF_OUT" --dst-mac $MAC_OUT --bind $INET:3479 --lifetime 120
warm_up
# The target: a subscriber with a UDP mapping the attacker learned. (Its own
# kernel holds the incomplete datagrams the NAT lets through its mapping:
# the host's reassembly memory is its own to defend, not the NAT's.)
nsx "$NS_ATT" curl -sS --max-time 10 -o /dev/null "http://$WEB/"   # a confirmed subscriber: its mapping lasts
bg target-app "$NS_ATT" python3 -u "$UDP_TOOL" listen --bind $ATT:5000 --out "$WORK/target-app.count" \
    --announce $INET:3478 --announce-file "$WORK/target.public" --lifetime 120
wait_for 20 "the target's public UDP endpoint" test -s "$WORK/target.public"
PUB=$(cat "$WORK/target.public")

# legit WHEN: sub1's fragmented traffic through the NAT, in order and out of order.
legit() {
    local when=$1 out
    out=$(nsx "$NS_SUB1" ping -n -s 4000 -c 3 -i 0.3 -W 2 -w 6 $INET 2>&1 || true)
    local replies
    replies=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out")
    if [ "${replies:-0}" -ge 1 ]; then
        pass "$when: sub1's ping -s 4000 (fragmented both ways) answered ($replies of 3)"
    else
        fail "$when: sub1's ping -s 4000 got no reply"
        LEGIT_OK=0
    fi
    if out=$(nsx "$NS_SUB1" "$PY" "$GEN" frag-query --iface eth0 --dst-mac $MAC_IN --src $SUB1 \
        --to $INET:3479 --size 3000 --tries 3 --timeout 1 2>&1); then
        pass "$when: sub1's 3000-byte UDP datagram, fragments in reverse order: $out"
    else
        fail "$when: sub1's out-of-order fragmented UDP exchange failed: $out"
        LEGIT_OK=0
    fi
}
LEGIT_OK=1
legit "before the attack"
snap B --subscriber $ATT
RSS0=$(rss_kib) LOG0=$(log_lines)

say "== from $FLOOD_NET: $ORPHANS orphan fragments ($ORPHAN_SOURCES sources) at 203.0.113.0/28, $FIRSTS first fragments ($FIRST_SOURCES sources) at $PUB, in $DURATION s"
attack frags "$NS_INET" frag-flood --iface "$IF_OUT" --dst-mac $MAC_OUT --duration $DURATION \
    --src-net $FLOOD_NET --pool 203.0.113.0/28 --orphans $ORPHANS --orphan-sources $ORPHAN_SOURCES \
    --sources $FIRST_SOURCES --firsts $FIRSTS --first-to "$PUB"
sleep 2
reach_start "$NS_NEW" $NEW newcomer
legit "during the attack"
reach_finish $NEW
NEWCOMER_OK=$REACH_OK
still_attacking "$ATTACK_PID"
attack_done frags $((DURATION + 10))
snap A --subscriber $ATT
say "   the target holds $A_sub_sessions sessions at the end of the flood ($B_sub_sessions before; inbound budget $INBOUND_PER_MAPPING per mapping)"
if [ "$A_sub_sessions" -le $((B_sub_sessions + INBOUND_PER_MAPPING)) ]; then
    pass "the flood's first fragments hold at most nat.inbound.max_sessions_per_mapping sessions on the target's mapping"
else
    fail "the target holds $A_sub_sessions sessions: more than its $B_sub_sessions + $INBOUND_PER_MAPPING inbound"
fi
d() { echo $(($1 - $2)); }
say "   sent $SENT; NAT: fragment_source_limit $(d "$A_nat_drop_fragment_source_limit" "$B_nat_drop_fragment_source_limit"), fragment_cache_full $(d "$A_nat_drop_fragment_cache_full" "$B_nat_drop_fragment_cache_full"), fragments_held $(d "$A_nat_fragments_held" "$B_nat_fragments_held"), inbound_session_limit $(d "$A_nat_drop_inbound_session_limit" "$B_nat_drop_inbound_session_limit"), no_mapping $(d "$A_nat_drop_no_mapping" "$B_nat_drop_no_mapping")"
say "   data plane: fragment_source_limit $(d "$A_dp_fragment_source_limit" "$B_dp_fragment_source_limit"), fragment_stash_full $(d "$A_dp_fragment_stash_full" "$B_dp_fragment_stash_full"), fragments_expired $(d "$A_dp_fragments_expired" "$B_dp_fragments_expired")"
limited=$(( $(d "$A_nat_drop_fragment_source_limit" "$B_nat_drop_fragment_source_limit") + $(d "$A_dp_fragment_source_limit" "$B_dp_fragment_source_limit") ))
if [ "$limited" -gt 0 ]; then
    pass "the per-source bound (nat.fragments.max_per_source $FRAG_PER_SOURCE) refused $limited fragments"
else
    fail "no fragment was refused by the per-source bound (fragment_source_limit 0)"
fi

bound=$((INBOUND_TIMEOUT + RECLAIM_SLACK))
say "== reclaim bound: nat.inbound.timeout $INBOUND_TIMEOUT s + $RECLAIM_SLACK s = $bound s (held fragments: nat.fragments.timeout $FRAG_TIMEOUT s)"
gone() { snap T --subscriber $ATT; [ "$T_sub_sessions" -le "$B_sub_sessions" ]; }
wait_clean "$ATTACK_END" $bound "the flood's inbound sessions are gone (the target holds $B_sub_sessions sessions, as before)" gone
legit "after the attack"

sleep 0.5
log_bound=$((2 * MAX_BLOCKS + 3))
say "== NAT log bound: the flood allocates no block; $((2 * MAX_BLOCKS)) for the newcomer + 3 table-fill alerts = $log_bound"
check_log "$LOG0" $log_bound
check_rss "$RSS0" 512 "allocator slack; the holding area and trackers are preallocated"
verify_log
result "sent=$SENT source-limited=$limited stash-full=$(d "$A_dp_fragment_stash_full" "$B_dp_fragment_stash_full") log+$LOG_GROWTH/$log_bound rss=${RSS0}->${RSS_AFTER}KiB clean=${CLEAN_SECS}s/${bound}s legit-fragments=${LEGIT_OK} newcomer=${NEWCOMER_OK}"
exit "$FAILED"
