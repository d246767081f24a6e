#!/usr/bin/env bash
# Builds the local base image of the package test and the container lab,
# without a registry: debootstrap Debian 12 from the machine's own apt
# mirror, then `docker import`. The image holds what the tests run (DPDK's
# runtime libraries, systemd, iproute2, curl, iperf3, dnsmasq, python3,
# prometheus, ...) so that nothing in a container needs the network; the
# cgnat package itself is installed on top (tests/package.sh, docker/).
#
#   packaging/images/build-base.sh        # prints the image name
#
# The tag carries a hash of the package list: a changed list builds a new
# image, an unchanged one is reused (safe to run twice). Needs root,
# debootstrap and a Docker Engine.
set -euo pipefail
cd "$(dirname "$0")"

PKGS=(
  # the package's dependencies (what dpkg -i checks; no apt inside)
  librte-eal23 librte-ethdev23 librte-mbuf23 librte-mempool23 librte-ring23
  librte-net-tap23 librte-mempool-ring23 librte-net-af-xdp23 librte-net-af-packet23
  libgcc-s1 libc6
  # the service manager (systemd-analyze verify, the unit run for real)
  systemd systemd-sysv dbus
  # man (systemd-analyze verify reads the unit's Documentation= pages)
  man-db
  # the lab's tools (tests/lab.sh) and the container lab's servers
  iproute2 iputils-ping curl iperf3 dnsutils dnsmasq-base python3 ethtool procps
  natpmpc prometheus util-linux ca-certificates
)
hash=$(printf '%s\n' "${PKGS[@]}" | sha256sum | cut -c1-12)
IMAGE=${CGNAT_BASE_IMAGE:-cgnat/debian-base:bookworm-$hash}
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi

# The machine's Debian mirror (deb822 or one-line sources).
MIRROR=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
[ -n "$MIRROR" ] || MIRROR=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

root=$(mktemp -d /var/tmp/cgnat-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "build-base: debootstrap bookworm from $MIRROR into $root (a few minutes)" >&2
inc=$(IFS=,; echo "${PKGS[*]}")
if ! debootstrap --variant=minbase --include="$inc" bookworm "$root" "$MIRROR" >"$root.log" 2>&1; then
  tail -n 30 "$root.log" >&2
  echo "build-base: debootstrap failed (log $root.log)" >&2
  exit 1
fi
rm -f "$root.log"
# No services start at package installation inside the image, no apt lists.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
echo "cgnat-base" >"$root/etc/hostname"
tar -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
  --message "Debian 12 minbase + cgnat test tools (packaging/images/build-base.sh)" - "$IMAGE" >/dev/null
echo "build-base: imported $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | numfmt --to=iec))" >&2
echo "$IMAGE"
