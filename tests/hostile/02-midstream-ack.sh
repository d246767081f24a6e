#!/usr/bin/env bash
# Attack 2 of issue 9, "mid-stream TCP pickup holds state for two hours":
# lone TCP ACKs (no SYN seen) from a subscriber to a server.
#
# Must hold (issue 9 item 2, RFC 7857 section 3, RFC 5382 REQ-5): a session
# created by a non-SYN segment is `midstream` with the transitory timer
# (nat.timeouts.tcp_transitory, 240 s) until traffic was seen both ways,
# never `established` with 7 440 s; the attacker, which never received
# anything, is unconfirmed: at most nat.unconfirmed.max_sessions sessions,
# reclaimed nat.unconfirmed.timeout after its last ACK.
#
# The server's firewall drops segments that start no connection without a
# SYN (the usual "new but not SYN: drop" rule), so nothing comes back.
TEST=midstream-ack N=2
# shellcheck source=tests/hostile/lib.sh
. "$(dirname "$0")/lib.sh"

PORTS=64 DURATION=10
hostile_up
nsx "$NS_INET" nft -f - <<'EOF'
table inet server {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp flags & (syn | rst) == 0 ct state new drop
    }
}
EOF
warm_up
# sub1 (confirmed by the warm-up) picks up 4 flows mid-stream too.
nsx "$NS_SUB1" "$PY" "$GEN" lone-ack --iface eth0 --dst-mac $MAC_IN --duration 0.5 \
    --src $SUB1 --to $WEB:443 --ports 4 --interval 1 >/dev/null
sleep 0.5
snap S --subscriber $SUB1 --list --destination $WEB:443
say "   sub1's lone-ACK sessions: $S_listed, states $S_states, longest timer $S_max_expires s"
if [ "$S_listed" -ge 1 ] && [ "$S_states" = midstream ] && [ "$S_max_expires" -le "$TCP_TRANSITORY" ]; then
    pass "a confirmed subscriber's lone ACKs: midstream, timer <= tcp_transitory ($TCP_TRANSITORY s), not tcp_established ($TCP_ESTABLISHED s)"
else
    fail "a confirmed subscriber's lone ACKs: states '$S_states', timer $S_max_expires s (want midstream, <= $TCP_TRANSITORY s)"
fi
snap B
RSS0=$(rss_kib) LOG0=$(log_lines)

say "== lone ACKs from $ATT: $PORTS source ports to $WEB:80, each every second for $DURATION s"
attack acks "$NS_ATT" lone-ack --iface eth0 --dst-mac $MAC_IN --duration $DURATION \
    --src $ATT --to $WEB:80 --ports $PORTS --interval 1
sleep 2
snap D --subscriber $ATT --list
say "   during: attacker sessions $D_listed, states $D_states, longest timer $D_max_expires s"
if [ "$D_listed" -ge 1 ] && [ "$D_states" = midstream ] && [ "$D_max_expires" -le "$TCP_TRANSITORY" ]; then
    pass "lone ACKs create midstream sessions with a timer <= $TCP_TRANSITORY s ($D_listed sessions)"
else
    fail "lone ACKs created sessions in state '$D_states' with a timer of $D_max_expires s (want midstream, <= $TCP_TRANSITORY s)"
fi
if [ "$D_listed" -le "$UNCONF_SESSIONS" ]; then
    pass "the unconfirmed attacker holds $D_listed sessions (nat.unconfirmed.max_sessions $UNCONF_SESSIONS)"
else
    fail "the unconfirmed attacker holds $D_listed sessions, more than nat.unconfirmed.max_sessions $UNCONF_SESSIONS"
fi
newcomer "$NS_NEW" $NEW
still_attacking "$ATTACK_PID"
attack_done acks $((DURATION + 10))
snap A
refused=$((A_nat_drop_unconfirmed_limit - B_nat_drop_unconfirmed_limit + A_nat_drop_session_limit - B_nat_drop_session_limit))

bound=$((UNCONF_TIMEOUT + RECLAIM_SLACK))
say "== reclaim bound: nat.unconfirmed.timeout $UNCONF_TIMEOUT s + $RECLAIM_SLACK s = $bound s after the last ACK"
gone() { snap C --subscriber $ATT; [ "$C_known" = 0 ] && back_to_baseline; }
wait_clean "$ATTACK_END" $bound "the attacker's sessions, block and subscriber entry are gone (tables as before + the newcomer's)" gone

sleep 0.5
log_bound=$((2 * UNCONF_BLOCKS + 2 * MAX_BLOCKS + 3))
say "== NAT log bound: 2 x $UNCONF_BLOCKS block for the attacker + $((2 * MAX_BLOCKS)) for the newcomer + 3 table-fill alerts = $log_bound"
check_log "$LOG0" $log_bound
check_rss "$RSS0" 512 "allocator slack; the attack allocates at most $UNCONF_BLOCKS block"
verify_log
result "sent=$SENT sessions=$D_listed/$UNCONF_SESSIONS state=$D_states timer=${D_max_expires}s refused=$refused log+$LOG_GROWTH/$log_bound rss=${RSS0}->${RSS_AFTER}KiB clean=${CLEAN_SECS}s/${bound}s newcomer=${NEWCOMER_OK}"
exit "$FAILED"
