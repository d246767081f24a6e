#!/bin/bash
# A subscriber container: cgnatd (100.64.0.1) is its only way out.
set -eu
ip route replace default via 100.64.0.1
# Complete checksums on the wire: the NAT updates them incrementally.
ethtool -K eth0 tx off rx off >/dev/null 2>&1 || true
echo "subscriber $(hostname -I) ready"
exec sleep infinity
