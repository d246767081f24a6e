#!/usr/bin/env bash
# The Debian package, installed into a clean Debian root and run for real
# (issue 14 item 1): as root, with a Docker Engine.
#
#   bash tests/package.sh
#
# 1. Builds target/debian/cgnat_VERSION_amd64.deb (packaging/build-deb.sh)
#    and checks its control data and contents.
# 2. Starts a container from the locally built base image
#    (packaging/images/build-base.sh: debootstrap + docker import, no
#    registry) with systemd as PID 1, installs the package with dpkg (which
#    checks its dependencies on Debian's DPDK runtime packages; there is no
#    apt source inside), checks the installed configuration with `cgnatd
#    --check`, the unit with `systemd-analyze verify`, the man pages and the
#    completions.
# 3. Runs the packaged unit under systemd with its hardening (TAP ports):
#    Type=notify start, status text, reload, the watchdog (a stopped
#    daemon is restarted), stop, and `cgnatctl log verify` of its NAT log.
# 4. Runs the lab (tests/lab.sh) in the container against the installed
#    /usr/sbin/cgnatd and /usr/bin/cgnatctl.
# The container is removed at exit, also on failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=${PACKAGE_TEST_CONTAINER:-cgnat-package-test}
# shellcheck source=tests/lib/report.sh
. "$ROOT/tests/lib/report.sh"
[ "$(id -u)" = 0 ] || { say "tests/package.sh: run as root"; exit 2; }
docker info >/dev/null 2>&1 || { say "tests/package.sh: no Docker Engine answers"; exit 2; }

say "== build the package"
DEB=$(bash "$ROOT/packaging/build-deb.sh")
info=$(dpkg-deb --info "$DEB")
contents=$(dpkg-deb --contents "$DEB" | awk '{print $6}')
say "   $DEB ($(du -h "$DEB" | cut -f1))"
grep -E '^ (Package|Version|Architecture|Depends|Recommends):' <<<"$info" | sed 's/^/   /'
if grep -q '^ Package: cgnat$' <<<"$info" && grep -q '^ Architecture: amd64$' <<<"$info" &&
    [[ $(basename "$DEB") =~ ^cgnat_[0-9][^_]*_amd64\.deb$ ]]; then
    pass "package cgnat, amd64: $(basename "$DEB")"
else fail "package name/architecture"; fi
dep=$(sed -n 's/^ Depends: //p' <<<"$info")
missing=""
for d in librte-eal23 librte-ethdev23 librte-net-tap23 librte-mempool-ring23 librte-net-af-xdp23 libc6; do
    grep -qw "$d" <<<"$dep" || missing="$missing $d"
done
if [ -z "$missing" ]; then pass "depends on Debian's DPDK runtime packages (dpkg-shlibdeps + the PMD plugins)"; else fail "Depends lacks$missing: $dep"; fi
missing=""
for f in ./usr/sbin/cgnatd ./usr/bin/cgnatctl ./etc/cgnat/cgnatd.toml ./usr/lib/systemd/system/cgnatd.service \
    ./usr/share/man/man8/cgnatd.8.gz ./usr/share/man/man1/cgnatctl.1.gz ./usr/share/man/man1/cgnatctl-lookup.1.gz \
    ./usr/share/bash-completion/completions/cgnatctl ./usr/share/zsh/vendor-completions/_cgnatctl \
    ./usr/share/fish/vendor_completions.d/cgnatctl.fish ./usr/share/cgnat/prometheus/cgnat-alerts.yml; do
    grep -qxF "$f" <<<"$contents" || missing="$missing $f"
done
if [ -z "$missing" ]; then pass "contents: binaries, unit, conffile, man pages, completions, alert rules"; else fail "missing from the package:$missing"; fi
if dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles 2>/dev/null | grep -qx /etc/cgnat/cgnatd.toml; then
    pass "/etc/cgnat/cgnatd.toml is a conffile (local edits survive upgrades)"
else fail "cgnatd.toml is not a conffile"; fi

say "== a clean Debian root with systemd (container)"
BASE=$(bash "$ROOT/packaging/images/build-base.sh")
cleanup() { docker rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
# Not --privileged: this engine cannot grant every capability (runc:
# "unable to apply caps"); the capabilities systemd, DPDK and the lab's
# namespaces need, and the TAP device.
docker run -d --name "$NAME" --hostname cgnat-pkg \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add NET_RAW --cap-add IPC_LOCK \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --device /dev/net/tun \
    --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:ro \
    -v "$DEB:/tmp/cgnat.deb:ro" -v "$ROOT:/src:ro" "$BASE" /lib/systemd/systemd >/dev/null
x() { docker exec "$NAME" "$@"; }
for _ in $(seq 1 50); do
    s=$(x systemctl is-system-running 2>/dev/null || true)
    [ "$s" = running ] || [ "$s" = degraded ] && break
    sleep 0.2
done
say "   systemd in the container: ${s:-?}"

if out=$(x dpkg -i /tmp/cgnat.deb 2>&1); then pass "dpkg -i: installed with its dependencies satisfied by Debian's packages"
else fail "dpkg -i: $out"; fi
if out=$(x cgnatd --check 2>&1); then pass "cgnatd --check: $out"; else fail "cgnatd --check of the installed configuration: $out"; fi
if out=$(x cgnatctl config check /etc/cgnat/cgnatd.toml 2>&1); then pass "cgnatctl config check /etc/cgnat/cgnatd.toml"; else fail "cgnatctl config check: $out"; fi
if out=$(x systemd-analyze verify cgnatd.service 2>&1) && ! grep -v 'dpdk.service' <<<"$out" | grep -q .; then
    pass "systemd-analyze verify cgnatd.service${out:+ (only: $out)}"
else fail "systemd-analyze verify: $out"; fi
sec=$(x systemd-analyze security cgnatd.service 2>&1 | tail -1 || true)
say "   systemd-analyze security: $sec"
if [ "$(x stat -c '%a %U %G' /var/log/cgnat)" = "750 root adm" ]; then pass "/var/log/cgnat exists, 0750 root:adm"; else fail "/var/log/cgnat: $(x stat -c '%a %U %G' /var/log/cgnat 2>&1)"; fi
if x sh -c 'zcat /usr/share/man/man8/cgnatd.8.gz | grep -q "^\.TH cgnatd 8" && zcat /usr/share/man/man1/cgnatctl-lookup.1.gz | grep -q "^\.TH cgnatctl-lookup 1"'; then
    pass "man pages cgnatd(8), cgnatctl(1), cgnatctl-lookup(1), ..."
else fail "man pages"; fi
if out=$(x bash -c 'source /usr/share/bash-completion/completions/cgnatctl && complete -p cgnatctl' 2>&1); then
    pass "bash completion: $out"
else fail "bash completion: $out"; fi

say "== the packaged unit under systemd (TAP ports, the lab configuration)"
# The production template names PCI NICs; the container has none, so the
# test replaces it with the lab configuration (TAP ports) and a drop-in
# points the NAT log and sockets at the packaged directories.
x cp /src/configs/lab.toml /etc/cgnat/cgnatd.toml
x mkdir -p /etc/systemd/system/cgnatd.service.d
docker exec -i "$NAME" sh -c 'cat >/etc/systemd/system/cgnatd.service.d/test.conf' <<'EOF'
[Service]
Environment=CGNAT_LOG__FILE=/var/log/cgnat/nat.log CGNAT_CONTROL__SOCKET=/run/cgnat/cgnatd.sock
EOF
x systemctl daemon-reload
if x timeout 90 systemctl start cgnatd; then
    pass "systemctl start cgnatd returned (Type=notify: READY=1 received): $(x systemctl is-active cgnatd)"
else fail "systemctl start cgnatd"; x journalctl -u cgnatd --no-pager | tail -n 30; fi
status=$(x systemctl show -p StatusText --value cgnatd)
if grep -q 'worker(s)' <<<"$status"; then pass "status text from cgnatd: $status"; else fail "StatusText: $status"; fi
if x cgnatctl status >/dev/null 2>&1; then pass "cgnatctl status over /run/cgnat/cgnatd.sock (the default socket)"; else fail "cgnatctl status"; fi
journal=$(x journalctl -u cgnatd --no-pager -o cat)
if grep -qE '^[0-9T:.-]+Z INFO .*worker\(s\) running' <<<"$journal"; then
    pass "the daemon's own log reaches the journal (levels, RFC 3339 timestamps)"
else fail "journal: $(tail -n 3 <<<"$journal")"; fi
if x systemctl reload cgnatd && x journalctl -u cgnatd --no-pager -o cat | grep 'configuration reloaded from' >/dev/null; then
    pass "systemctl reload cgnatd (ExecReload: cgnatctl reload; the daemon logs it)"
else fail "systemctl reload"; fi
caps=$(x sh -c 'grep CapBnd /proc/$(systemctl show -p MainPID --value cgnatd)/status' 2>/dev/null | awk '{print $2}' || true)
if [ -n "$caps" ] && [ $((16#$caps & ~(1 << 12 | 1 << 13 | 1 << 14 | 1 << 39 | 1 << 0))) = 0 ]; then
    pass "cgnatd runs with the bounded capabilities only (CapBnd $caps)"
else fail "capability bounding set $caps"; fi
# The watchdog: a daemon that stops making progress (SIGSTOP freezes
# every thread) is killed and restarted by systemd within WatchdogSec.
pid=$(x systemctl show -p MainPID --value cgnatd)
[ "${pid:-0}" != 0 ] && x kill -STOP "$pid"
restarted=""
for _ in $(seq 1 40); do
    n=$(x systemctl show -p NRestarts --value cgnatd)
    now=$(x systemctl show -p MainPID --value cgnatd)
    if [ "${n:-0}" -ge 1 ] && [ "$now" != "$pid" ] && [ "$(x systemctl is-active cgnatd)" = active ]; then restarted=1; break; fi
    sleep 0.5
done
# (The journal is read into a variable first: grep -q closing the pipe
# early would fail the pipeline under pipefail.)
journal=$(x journalctl -u cgnatd --no-pager -o cat)
if [ -n "$restarted" ] && grep -qi 'watchdog timeout' <<<"$journal"; then
    pass "watchdog: a frozen cgnatd was killed ($(grep -i -m1 'watchdog timeout' <<<"$journal")) and restarted (NRestarts=$n)"
else fail "watchdog restart (NRestarts=${n:-?}): $(tail -n 5 <<<"$journal")"; fi
if x timeout 90 systemctl stop cgnatd && [ "$(x systemctl is-active cgnatd || true)" = inactive ]; then
    pass "systemctl stop cgnatd (clean drain)"
else fail "systemctl stop"; fi
# Every NAT log the service wrote: the text log and its JSON-lines copy.
for f in /var/log/cgnat/nat.log /var/log/cgnat/nat.jsonl; do
    if out=$(x cgnatctl log verify "$f" 2>&1); then
        pass "cgnatctl log verify $f (a clean run, a watchdog kill, a clean run): $(tail -n 1 <<<"$out")"
    else fail "log verify $f: $out"; fi
done

say "== the lab against the installed binaries (tests/lab.sh in the container)"
rc=0
x env CGNATD=/usr/sbin/cgnatd CGNATCTL=/usr/bin/cgnatctl LAB_QUICK=1 LAB_DIR=/tmp/cgnat-lab \
    bash /src/tests/lab.sh run >"${PACKAGE_LAB_LOG:-/tmp/cgnat-package-lab.log}" 2>&1 || rc=$?
grep -E '^(PASS|FAIL)' "${PACKAGE_LAB_LOG:-/tmp/cgnat-package-lab.log}" | sed 's/^/   /'
if [ $rc = 0 ] && grep -q 'lab: ALL PASSED' "${PACKAGE_LAB_LOG:-/tmp/cgnat-package-lab.log}"; then
    pass "tests/lab.sh run with /usr/sbin/cgnatd and /usr/bin/cgnatctl: $(grep -c '^PASS' "${PACKAGE_LAB_LOG:-/tmp/cgnat-package-lab.log}") checks"
else fail "the lab against the installed binaries (exit $rc; log ${PACKAGE_LAB_LOG:-/tmp/cgnat-package-lab.log})"; tail -n 20 "${PACKAGE_LAB_LOG:-/tmp/cgnat-package-lab.log}"; fi

if [ $FAILED = 0 ]; then say "package: ALL PASSED"; else say "package: FAILURES"; fi
exit $FAILED
