# PCP (RFC 6887) and NAT-PMP (RFC 6886) in the lab (issue 12), sourced by
# tests/lab.sh. Requests come from tests/lab/pcp_client.py (written from
# the RFC, sharing no code with cgnatd) and Debian's natpmpc. The lab runs
# cgnatd with pcp.min_lifetime = 2 (so that expiry can be watched) and
# pcp.max_mappings_per_subscriber = 6.

PCP_CLIENT=$ROOT/tests/lab/pcp_client.py
PCP_SERVER=${GW_IN:-100.64.0.1}

# The lab's [pcp] settings (exported before cgnatd starts).
pcp_env() {
    export CGNAT_PCP__MIN_LIFETIME=2 CGNAT_PCP__MAX_MAPPINGS_PER_SUBSCRIBER=6
}

# Waits in sub1 for the unsolicited ANNOUNCE cgnatd multicasts after its
# start (RFC 6887 section 14.1.3); started right after the subscribers.
pcp_listen_announce() {
    bg pcp-announce "$NS_SUB1" python3 -u "$PCP_CLIENT" listen --timeout 60
}

pcpc() { local ns=$1; shift; nsx "$ns" python3 "$PCP_CLIENT" "$@" --server "$PCP_SERVER" 2>&1 || true; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }

pcp_checks() {
    local sock=$WORK/cgnatd.sock out ext ext2 nonce=0123456789abcdef01234567 i pub port
    say "== PCP (RFC 6887) and NAT-PMP (RFC 6886) on $PCP_SERVER:5351"
    mkdir -p "$WORK/www-pcp"
    echo "hello via PCP" >"$WORK/www-pcp/index.html"
    bg http-sub1-pcp "$NS_SUB1" python3 -m http.server 8081 --bind $SUB1 --directory "$WORK/www-pcp"
    bg udp-sub1-pcp "$NS_SUB1" python3 -u "$UDP_TOOL" listen --bind $SUB1:9000 --out "$WORK/udp-sub1-pcp.count"
    wait_for 10 "sub1's PCP servers" nsx "$NS_SUB1" bash -c "exec 3<>/dev/tcp/$SUB1/8081" || true

    out=$(cat "$WORK/pcp-announce.log" 2>/dev/null || true)
    if grep -q "from=$PCP_SERVER:5351 result=SUCCESS .*opcode=0" <<<"$out"; then
        pass "sub1 heard cgnatd's unsolicited ANNOUNCE on 224.0.0.1:5350 ($out)"
    else fail "no unsolicited ANNOUNCE: $out"; fi
    out=$(pcpc "$NS_SUB1" announce)
    if grep -q "result=SUCCESS lifetime=0 epoch=[0-9]* version=2 opcode=0" <<<"$out"; then pass "ANNOUNCE answered: $out"; else fail "ANNOUNCE: $out"; fi

    # MAP TCP with a suggested port in a block sub1 can get (issue 12
    # item 2), then the internet reaches sub1's web server through it.
    out=$(pcpc "$NS_SUB1" map --proto tcp --port 8081 --suggest 20000 --lifetime 600 --nonce $nonce)
    ext=$(field external "$out")
    if grep -q "result=SUCCESS lifetime=600 " <<<"$out" && [ "${ext#*:}" = 20000 ]; then
        pass "MAP TCP 8081 → $ext (the suggested port, in a block sub1 could get)"
    else fail "MAP TCP 8081: $out"; fi
    if nsx "$NS_INET" curl -sS --max-time 5 "http://$ext/" 2>&1 | grep -q "hello via PCP"; then
        pass "the internet fetches http://$ext/ → sub1:8081 (PCP MAP)"
    else fail "curl through the PCP mapping $ext"; fi

    # MAP UDP: datagrams from the internet reach sub1:9000.
    out=$(pcpc "$NS_SUB1" map --proto udp --port 9000 --lifetime 600)
    ext2=$(field external "$out")
    nsx "$NS_INET" python3 "$UDP_TOOL" send --to "$ext2" --count 3 || true
    sleep 0.5
    if grep -q "result=SUCCESS" <<<"$out" && [ "$(cat "$WORK/udp-sub1-pcp.count" 2>/dev/null || echo 0)" -ge 1 ]; then
        pass "MAP UDP 9000 → $ext2: the internet's datagrams reach sub1"
    else fail "MAP UDP 9000 ($out): $(cat "$WORK/udp-sub1-pcp.count" 2>/dev/null) datagrams"; fi

    # FILTER (section 13.3): only 198.51.100.1 may reach the mapping now.
    out=$(pcpc "$NS_SUB1" map --proto tcp --port 8081 --lifetime 600 --nonce $nonce --filter "$INET/32:0")
    if grep -q "result=SUCCESS" <<<"$out" && nsx "$NS_INET" curl -sS --max-time 5 "http://$ext/" 2>&1 | grep -q "hello via PCP"; then
        pass "MAP with FILTER $INET/32: that peer still gets in"
    else fail "FILTER: $out"; fi
    if ! nsx "$NS_INET" curl -sS --max-time 3 --interface $WEB "http://$ext/" >/dev/null 2>&1; then
        pass "MAP with FILTER: another peer ($WEB) is refused"
    else fail "FILTER let $WEB in"; fi
    out=$(pcpc "$NS_SUB1" map --proto tcp --port 8081 --lifetime 600 --nonce ffffffffffffffffffffffff)
    if grep -q "result=NOT_AUTHORIZED" <<<"$out"; then pass "another nonce cannot take the mapping over: NOT_AUTHORIZED"; else fail "nonce check: $out"; fi

    # PEER (section 12): the outbound mapping to one remote, which may answer.
    out=$(pcpc "$NS_SUB1" peer --proto udp --port 9000 --peer "$INET:3478" --lifetime 600)
    if grep -q "result=SUCCESS .*opcode=2 .*external=$ext2" <<<"$out"; then
        pass "PEER UDP 9000 → $INET:3478 answered with the endpoint's mapping $ext2"
    else fail "PEER: $out"; fi

    # Spoofing: the client address field must be the source (ADDRESS_MISMATCH);
    # a source outside the subscriber prefixes gets nothing; a request
    # forging sub2's address from sub1 is dropped by the layer-2
    # reverse-path check (its Ethernet source is sub1's, not sub2's).
    out=$(pcpc "$NS_SUB1" map --proto tcp --port 8090 --client $SUB2)
    if grep -q "result=ADDRESS_MISMATCH" <<<"$out"; then pass "a MAP naming another client address: ADDRESS_MISMATCH"; else fail "client address check: $out"; fi
    pcpc "$NS_SUB1" spoof --src 192.0.2.99 --proto tcp --port 8091 >/dev/null
    pcpc "$NS_SUB1" spoof --src $SUB2 --proto tcp --port 8092 >/dev/null
    sleep 0.5
    out=$("$CGNATCTL" --socket "$sock" pcp 2>&1 || true)
    if grep -q "^$SUB1 " <<<"$out" && ! grep -qE '^192\.0\.2\.99 | (8090|8091|8092) ' <<<"$out" \
        && curl -sS --max-time 5 "http://$METRICS/metrics" | grep -qE '^cgnat_dataplane_dropped_packets_total\{reason="pcp_spoofed"\} [2-9]'; then
        pass "spoofed requests (an outside source; sub2's address forged by sub1) and a mismatched one made no mapping (pcp_spoofed counted)"
    else fail "a spoofed request made a mapping or was not counted: $out"; fi

    # NAT-PMP with Debian's natpmpc (RFC 6887 Appendix A).
    if command -v natpmpc >/dev/null; then
        out=$(nsx "$NS_SUB2" timeout 20 natpmpc -g "$PCP_SERVER" 2>&1 || true)
        pub=$(sed -n 's/^Public IP address : //p' <<<"$out")
        if [ -n "$pub" ] && grep -q "^$pub:" "$WORK/sub2.public"; then pass "natpmpc: sub2's public address $pub"; else fail "natpmpc -g: $out"; fi
        out=$(nsx "$NS_SUB2" timeout 20 natpmpc -g "$PCP_SERVER" -a 9100 9100 udp 600 2>&1 || true)
        port=$(sed -n 's/^Mapped public port \([0-9]*\) protocol UDP to local port 9100 .*/\1/p' <<<"$out")
        if [ -n "$port" ] && "$CGNATCTL" --socket "$sock" pcp --subscriber $SUB2 | grep -q "nat-pmp .*9100 *$pub:$port "; then
            pass "natpmpc maps UDP 9100 → $pub:$port (listed by cgnatctl pcp)"
        else fail "natpmpc -a: $out"; fi
    else fail "natpmpc is not installed (scripts/install-deps.sh installs it)"; fi

    # Limits: sub1 holds 3 (MAP TCP 8081, MAP and PEER UDP 9000); 3 more
    # make 6, the 7th is refused.
    for i in 1 2 3 4; do out=$(pcpc "$NS_SUB1" map --proto udp --port $((9300 + i)) --lifetime 600 --nonce "${nonce%??}0$i"); done
    if grep -q "result=USER_EX_QUOTA" <<<"$out"; then pass "the 7th mapping of sub1 is refused: USER_EX_QUOTA (pcp.max_mappings_per_subscriber = 6)"; else fail "limit: $out"; fi
    for i in 1 2 3; do pcpc "$NS_SUB1" map --proto udp --port $((9300 + i)) --lifetime 0 --nonce "${nonce%??}0$i" >/dev/null; done

    # Lifetime: a 2 s mapping goes by itself (section 15).
    out=$(pcpc "$NS_SUB1" map --proto udp --port 9400 --lifetime 2)
    if grep -q "result=SUCCESS lifetime=2 " <<<"$out"; then pass "MAP with lifetime 2 s granted"; else fail "short MAP: $out"; fi
    sleep 4
    if ! "$CGNATCTL" --socket "$sock" pcp --subscriber $SUB1 | grep -q " 9400 " && grep -q "pcp-unmap subscriber=$SUB1 .* reason=expired .*aux=9400 " "$WORK/nat.log"; then
        pass "it expired: gone from cgnatctl pcp, pcp-unmap reason=expired in the NAT log"
    else fail "expiry of the 2 s mapping"; fi

    # A flooding client is rate limited (pcp.requests_per_sec) and the
    # others are still served.
    pcpc "$NS_SUB2" flood --count 3000 >/dev/null
    out=$(pcpc "$NS_SUB1" announce)
    if grep -q "result=SUCCESS" <<<"$out" && curl -sS --max-time 5 "http://$METRICS/metrics" | grep -qE '^cgnat_pcp_rate_limited_requests_total [1-9]'; then
        pass "sub2's flood of 3000 requests is rate limited; sub1 is still answered"
    else fail "PCP flood: $out"; fi

    out=$("$CGNATCTL" --socket "$sock" pcp 2>&1 || true)
    sed 's/^/   /' <<<"$out"
    if grep -q "^100.64.1.10 .*map .*tcp .*8081 .*$ext .*$INET/32:0" <<<"$out" && grep -q "^100.64.1.10 .*peer .*$INET:3478" <<<"$out"; then
        pass "cgnatctl pcp lists the mappings with kind, lifetime and peers"
    else fail "cgnatctl pcp"; fi
    out=$(curl -sS --max-time 5 "http://$METRICS/metrics" 2>&1)
    if grep -qE '^cgnat_pcp_requests_total\{opcode="map"\} [1-9]' <<<"$out" && grep -qE '^cgnat_pcp_results_total\{result="user-ex-quota"\} [1-9]' <<<"$out" \
        && grep -qE '^cgnat_pcp_requests_total\{opcode="natpmp-map"\} [1-9]' <<<"$out"; then
        pass "metrics: PCP requests by opcode and answers by result code"
    else fail "PCP metrics: $(grep cgnat_pcp <<<"$out" | head -5)"; fi

    # cgnatctl clear removes a mapping with the port's state.
    out=$("$CGNATCTL" --socket "$sock" clear --public "$ext" 2>&1 || true)
    sleep 0.5
    if ! "$CGNATCTL" --socket "$sock" pcp --subscriber $SUB1 | grep -q " 8081 " \
        && grep -q "pcp-unmap subscriber=$SUB1 .* reason=cleared .*aux=8081 " "$WORK/nat.log" \
        && ! nsx "$NS_INET" curl -sS --max-time 3 "http://$ext/" >/dev/null 2>&1; then
        pass "cgnatctl clear --public $ext removed the PCP mapping (pcp-unmap reason=cleared) and closed the port"
    else fail "clear of the PCP mapping: $out"; fi
}
