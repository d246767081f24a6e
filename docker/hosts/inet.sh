#!/bin/bash
# The "internet" container: HTTP (logs client addresses), iperf3, DNS
# (dnsmasq answers www.example.test and logs each query's source) and a UDP
# reflector that answers with the address:port it saw. The pool is on-link
# (cgnatd answers ARP for it), subscriber space is routed to cgnatd.
set -eu
# No default route: the internet container answers what reaches it and
# nothing else (Docker's gateway would lead off the machine).
ip route del default 2>/dev/null || true
ip route replace 203.0.113.0/28 dev eth0
ip route replace 100.64.0.0/10 via 198.51.100.2
ethtool -K eth0 tx off rx off >/dev/null 2>&1 || true
mkdir -p /srv/www /var/log/inet
echo "hello from the internet" >/srv/www/index.html
cd /srv/www
python3 -m http.server 80 --bind 198.51.100.1 >/var/log/inet/http.log 2>&1 &
iperf3 -s -B 198.51.100.1 -p 5201 >/var/log/inet/iperf3.log 2>&1 &
dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --listen-address=198.51.100.1 \
  --address=/www.example.test/198.51.100.1 --log-queries --log-facility=/var/log/inet/dns.log &
python3 -u /opt/lab/udp_tool.py reflect --bind 198.51.100.1:3478 --lifetime 3600 >/var/log/inet/udp.log 2>&1 &
echo "inet ready"
wait
