#!/usr/bin/env bash
# The container lab, one command (as root, with a Docker Engine):
#
#   bash docker/lab.sh
#
# Builds the Debian package (packaging/build-deb.sh), the base image
# without a registry (packaging/images/build-base.sh: debootstrap + docker
# import) and the cgnatd image (the package installed by dpkg), starts
# docker/compose.yaml (cgnatd on DPDK TAP ports between two subscriber
# containers and an internet container, on two container networks), sends
# real traffic through it (ping, curl, iperf3, DNS, UDP), asks `cgnatctl
# lookup` who a public address:port was (live, and from the NAT log after
# cgnatd stopped), verifies the NAT log, then `docker-compose down` and
# checks that no container, network or volume of the lab is left. The
# images stay (they are the cache of the next run). Exit 0 only if every
# check passed. DOCKER_LAB_PROJECT names the compose project (default
# cgnatlab); DOCKER_LAB_KEEP=1 leaves the lab up for inspection.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROJECT=${DOCKER_LAB_PROJECT:-cgnatlab}
# shellcheck source=tests/lib/report.sh
. "$ROOT/tests/lib/report.sh"

[ "$(id -u)" = 0 ] || { say "docker/lab.sh: run as root"; exit 2; }
command -v docker >/dev/null && docker info >/dev/null 2>&1 || { say "docker/lab.sh: no Docker Engine answers"; exit 2; }
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
command -v "${COMPOSE[0]}" >/dev/null || { say "docker/lab.sh: neither 'docker compose' nor docker-compose"; exit 2; }

say "== images (no registry: built here)"
DEB=$(bash "$ROOT/packaging/build-deb.sh")
BASE_IMAGE=$(bash "$ROOT/packaging/images/build-base.sh")
CGNATD_IMAGE=cgnat/cgnatd:local
ctx=$(mktemp -d)
cp "$DEB" "$ctx/cgnat.deb"
cp "$ROOT/docker/Dockerfile" "$ROOT/docker/cgnatd-entry.sh" "$ctx/"
docker build -q --build-arg BASE="$BASE_IMAGE" -t "$CGNATD_IMAGE" "$ctx" >/dev/null
rm -rf "$ctx"
say "   base $BASE_IMAGE, cgnatd $CGNATD_IMAGE ($(basename "$DEB"))"
export BASE_IMAGE CGNATD_IMAGE

dc() { "${COMPOSE[@]}" -p "$PROJECT" -f "$ROOT/docker/compose.yaml" "$@"; }
x() { local s=$1; shift; dc exec -T "$s" "$@"; }
leftovers() {
    {
        docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
        docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
        docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"
    } | wc -l
}
down() { dc down -v --remove-orphans -t 30 >/dev/null 2>&1 || true; }
cleanup() {
    [ "${DOCKER_LAB_KEEP:-0}" = 1 ] && { say "lab left up (DOCKER_LAB_KEEP=1): ${COMPOSE[*]} -p $PROJECT -f docker/compose.yaml down -v"; return; }
    down
}
trap cleanup EXIT
down
dc up -d >/dev/null
if wait_for 90 "cgnatd's control socket" x cgnatd cgnatctl status; then
    pass "cgnatd container up: $(x cgnatd cgnatctl status | head -1)"
else
    fail "cgnatd did not start"; dc logs cgnatd | tail -n 40; exit 1
fi
wait_for 30 "the internet container's servers" x inet bash -c 'exec 3<>/dev/tcp/198.51.100.1/80' || true

say "== ping"
if x sub1 ping -c 2 -W 2 100.64.0.1 >/dev/null; then pass "sub1 pings cgnatd's inside address"; else fail "ping 100.64.0.1"; fi
if x sub1 ping -c 3 -W 2 198.51.100.1 >/dev/null; then pass "sub1 pings the internet container through the NAT"; else fail "ping through the NAT"; fi

say "== curl"
for s in sub1 sub2; do
    if x "$s" curl -sS --max-time 10 http://198.51.100.1/ | grep -q "hello from the internet"; then pass "$s fetches http://198.51.100.1/"; else fail "curl from $s"; fi
done
sleep 0.5
log=$(x inet cat /var/log/inet/http.log)
sed 's/^/   /' <<<"$log" | grep 'GET /' || true
if grep 'GET /' <<<"$log" | grep -q '^203\.0\.113\.' && ! grep -q '^100\.' <<<"$log"; then
    pass "the web server saw only pool addresses"
else fail "the web server saw a subscriber address"; fi

say "== DNS"
out=$(x sub1 dig +short +time=2 +tries=2 @198.51.100.1 www.example.test 2>&1 || true)
if [ "$out" = 198.51.100.1 ]; then pass "sub1 resolves www.example.test through the NAT (dig: $out)"; else fail "DNS: $out"; fi
dns=$(x inet cat /var/log/inet/dns.log)
if grep -q 'query\[A\] www.example.test from 203\.0\.113\.' <<<"$dns"; then
    pass "dnsmasq saw the query from a pool address: $(grep -o 'from 203[.0-9]*' <<<"$dns" | head -1)"
else fail "dnsmasq log: $(tail -2 <<<"$dns")"; fi

say "== UDP (who was this public address:port?)"
at=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
out=$(x sub1 python3 /opt/lab/udp_tool.py query --to 198.51.100.1:3478 2>&1 || true)
seen=$(sed -n 's/^seen \([0-9.]*:[0-9]*\).*/\1/p' <<<"$out" | head -1)
if [[ $seen == 203.0.113.* ]]; then pass "sub1's UDP query answered; the reflector saw $seen"; else fail "UDP query: $out"; fi

say "== iperf3 (2 s each)"
for args in "" "-R" "-u -b 20M" "-u -b 20M -R"; do
    # shellcheck disable=SC2086
    if out=$(x sub2 iperf3 -c 198.51.100.1 -p 5201 -t 2 $args 2>&1); then
        pass "iperf3 ${args:-tcp}: $(grep receiver <<<"$out" | tail -1 | sed -E 's/ +/ /g')"
    else fail "iperf3 $args: $(tail -2 <<<"$out")"; fi
done

say "== cgnatctl in the cgnatd container"
out=$(x cgnatd cgnatctl lookup "$seen" 2>&1 || true)
sed 's/^/   /' <<<"$out"
if grep -q 100.64.1.10 <<<"$out"; then pass "cgnatctl lookup $seen (live) -> 100.64.1.10"; else fail "live lookup of $seen"; fi
out=$(x cgnatd cgnatctl subscribers 2>&1 || true)
if grep -q '^100.64.1.10 ' <<<"$out" && grep -q '^100.64.1.20 ' <<<"$out"; then pass "cgnatctl subscribers lists both subscribers"; else fail "cgnatctl subscribers: $out"; fi

say "== stop cgnatd (SIGINT): releases logged, history answers"
x cgnatd pkill -INT -x cgnatd || true
wait_for 60 "cgnatd to exit" x cgnatd test -s /run/cgnatd.exit || true
rc=$(x cgnatd cat /run/cgnatd.exit 2>/dev/null || echo "?")
if [ "$rc" = 0 ]; then pass "cgnatd exited 0"; else fail "cgnatd exit status $rc"; dc logs cgnatd | tail -n 30; fi
out=$(x cgnatd cgnatctl lookup "$seen" --at "$at" --log-dir /var/log/cgnat 2>&1 || true)
sed 's/^/   /' <<<"$out"
if grep -q 100.64.1.10 <<<"$out"; then pass "cgnatctl lookup $seen --at $at from the NAT log -> 100.64.1.10"; else fail "historical lookup"; fi
# Every NAT log the run wrote: the text log and its JSON-lines copy.
for f in /var/log/cgnat/nat.log /var/log/cgnat/nat.jsonl; do
    if out=$(x cgnatd cgnatctl log verify "$f" 2>&1); then
        pass "cgnatctl log verify $f: $(tail -1 <<<"$out")"
    else fail "log verify $f: $out"; fi
done

if [ "${DOCKER_LAB_KEEP:-0}" != 1 ]; then
    say "== docker-compose down"
    down
    n=$(leftovers)
    if [ "$n" = 0 ]; then pass "nothing of project $PROJECT is left (containers, networks, volumes)"; else fail "$n objects of $PROJECT left"; fi
fi
if [ $FAILED = 0 ]; then say "container lab: ALL PASSED"; else say "container lab: FAILURES"; fi
exit $FAILED
