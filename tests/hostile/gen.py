#!/usr/bin/python3
"""Packet generators of the hostile-traffic suite (tests/hostile/run.sh).

Frames are built with scapy (Debian's python3-scapy) and sent on a raw
AF_PACKET socket, paced evenly over a bounded duration: every mode stops by
itself (packet count and time bounded). Run inside a lab namespace:
traffic only ever reaches the lab's own TAP and veth interfaces.

Attacks (print `sent N in S s` when done: S counts from the first packet):
  spoof-flood  one UDP packet from each of COUNT random source addresses
               of a prefix (a subscriber host spoofing sources)
  lone-ack     TCP ACKs without a SYN, from PORTS source ports, each port
               repeating every INTERVAL seconds (mid-stream pickup)
  spray        UDP to one public endpoint from COUNT source ports
  frag-flood   orphan non-first fragments to pool addresses, and first
               fragments to a mapping, from many source addresses
  syn-flood    TCP SYNs to random ports of pool addresses from many
               source addresses and ports
  hog          ICMP echo sessions, PORTS identifiers from each of several
               addresses (subscribers opening sessions up to their limit)

Legitimate out-of-order fragments:
  frag-echo    UDP server: answers each datagram with one of the same size,
               sent as IPv4 fragments in reverse order
  frag-query   UDP client: sends a datagram of SIZE bytes as fragments in
               reverse order and waits for a reply of the same size
"""
import argparse
import ipaddress
import random
import socket
import sys
import time

from scapy.all import ICMP, IP, TCP, UDP, Ether, Raw, fragment, get_if_hwaddr  # noqa: E402

ETH_P_ALL = 0x0003
SENDING_SINCE = None  # when the first packet went out


def endpoint(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


class Wire:
    """A raw socket on one interface, framing IP packets for DST_MAC."""

    def __init__(self, iface, dst_mac):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((iface, 0))
        self.eth = Ether(src=get_if_hwaddr(iface), dst=dst_mac)

    def frame(self, ip_packet):
        return bytes(self.eth / ip_packet)

    def send(self, frame):
        try:
            self.sock.send(frame)
            return True
        except OSError:  # a full queue: the attack loses a packet, as a real one would
            return False


def paced(wire, frames, duration):
    """Sends FRAMES evenly over DURATION seconds (in 10 ms slices); returns how many went out."""
    global SENDING_SINCE
    n = len(frames)
    start = time.monotonic()
    if SENDING_SINCE is None:
        print("sending %d" % n, flush=True)
        SENDING_SINCE = start
    if n == 0:
        return 0
    sent = 0
    for i, f in enumerate(frames):
        due = start + duration * i / n
        delay = due - time.monotonic()
        if delay > 0.01:
            time.sleep(delay)
        sent += wire.send(f)
    return sent


def random_hosts(prefix, count, rng, exclude=()):
    net = ipaddress.ip_network(prefix)
    size = net.num_addresses
    skip = {int(ipaddress.ip_address(a)) for a in exclude}
    base = int(net.network_address)
    out = set()
    # Bounded: at most 4x the draws needed (the prefixes used are far larger).
    for _ in range(4 * count + 16):
        if len(out) == count:
            break
        a = base + rng.randrange(1, size - 1)
        if a not in skip:
            out.add(a)
    return [str(ipaddress.ip_address(a)) for a in sorted(out, key=lambda _: rng.random())]


def pool_addrs(prefix):
    return [str(a) for a in ipaddress.ip_network(prefix)]


def spoof_flood(a, rng):
    w = Wire(a.iface, a.dst_mac)
    dst, dport = endpoint(a.to)
    srcs = random_hosts(a.src_net, a.count, rng, a.exclude)
    frames = [w.frame(IP(src=s, dst=dst) / UDP(sport=rng.randrange(1024, 65536), dport=dport) / Raw(b"x" * 8)) for s in srcs]
    return paced(w, frames, a.duration)


def lone_ack(a, rng):
    w = Wire(a.iface, a.dst_mac)
    dst, dport = endpoint(a.to)
    ports = rng.sample(range(20000, 60000), a.ports)
    seqs = {p: rng.randrange(1 << 32) for p in ports}
    rounds = max(1, int(a.duration / a.interval))
    frames = []
    for r in range(rounds):
        for p in ports:
            seg = TCP(sport=p, dport=dport, flags="A", seq=seqs[p] + r, ack=rng.randrange(1 << 32))
            frames.append(w.frame(IP(src=a.src, dst=dst) / seg))
    return paced(w, frames, a.duration)


def spray(a, rng):
    w = Wire(a.iface, a.dst_mac)
    dst, dport = endpoint(a.to)
    ports = rng.sample(range(1024, 65536), a.count)
    frames = [w.frame(IP(src=a.src, dst=dst) / UDP(sport=p, dport=dport) / b"spray") for p in ports]
    return paced(w, frames, a.duration)


def frag_flood(a, rng):
    """Orphans: non-first fragments (offset > 0, random identification) at
    random pool addresses from ORPHAN_SOURCES addresses; firsts: first
    fragments (MF set) at one mapping, whose later fragments never come,
    from SOURCES addresses. Sources are random addresses of SRC_NET."""
    w = Wire(a.iface, a.dst_mac)
    srcs = random_hosts(a.src_net, a.sources + a.orphan_sources, rng)
    orphan_srcs, srcs = srcs[: a.orphan_sources], srcs[a.orphan_sources :]
    pool = pool_addrs(a.pool)
    frames = []
    for i in range(a.orphans):
        s = orphan_srcs[i % len(orphan_srcs)]
        ip = IP(src=s, dst=rng.choice(pool), id=rng.randrange(1 << 16), proto=17, flags="MF" if i % 2 else 0, frag=rng.randrange(1, 180))
        frames.append(w.frame(ip / Raw(b"\0" * 512)))
    if a.first_to:
        dst, dport = endpoint(a.first_to)
        # One source port per source: each source's first fragments belong
        # to one inbound session, so they pass the inbound budget and reach
        # the fragment tracker (the most it can be made to hold).
        sports = {s: rng.randrange(1024, 65536) for s in srcs}
        for i in range(a.firsts):
            s = srcs[i % len(srcs)]
            ip = IP(src=s, dst=dst, id=rng.randrange(1 << 16), flags="MF")
            frames.append(w.frame(ip / UDP(sport=sports[s], dport=dport, len=2008) / Raw(b"\0" * 504)))
    rng.shuffle(frames)
    return paced(w, frames, a.duration)


def syn_flood(a, rng):
    w = Wire(a.iface, a.dst_mac)
    srcs = random_hosts(a.src_net, a.sources, rng)
    pool = pool_addrs(a.pool)
    frames = []
    for i in range(a.count):
        seg = TCP(sport=rng.randrange(1024, 65536), dport=rng.randrange(1024, 65536), flags="S", seq=rng.randrange(1 << 32))
        frames.append(w.frame(IP(src=srcs[i % len(srcs)], dst=rng.choice(pool)) / seg))
    return paced(w, frames, a.duration)


def hog(a, rng):
    """ICMP echo requests with PORTS identifiers from each address: that
    many sessions per subscriber, opened within FILL seconds and then
    refreshed once, more slowly, until DURATION (the table stays full)."""
    w = Wire(a.iface, a.dst_mac)
    frames = []
    for i in range(a.ports):
        for s in a.srcs.split(","):
            frames.append(w.frame(IP(src=s, dst=a.to) / ICMP(type=8, id=1000 + i, seq=1) / Raw(b"hog")))
    n = paced(w, frames, a.fill)
    return n + paced(w, frames, max(a.duration - a.fill, 0.1))


def reversed_fragments(ip_packet, fragsize=1400):
    """The fragments of a datagram, last first (RFC 4787 REQ-14:
    out-of-order fragments)."""
    return list(reversed(fragment(IP(bytes(ip_packet)), fragsize=fragsize)))


def frag_echo(a, rng):
    w = Wire(a.iface, a.dst_mac)
    host, port = endpoint(a.bind)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    s.settimeout(0.5)
    end = time.time() + a.lifetime
    answered = 0
    while time.time() < end:
        try:
            data, (src, sport) = s.recvfrom(65535)
        except socket.timeout:
            continue
        reply = IP(src=host, dst=src, id=rng.randrange(1 << 16)) / UDP(sport=port, dport=sport) / Raw(data)
        for f in reversed_fragments(reply):
            w.send(w.frame(f))
        answered += 1
        print("answered %s:%d with %d bytes" % (src, sport, len(data)), flush=True)
    return answered


def frag_query(a, rng):
    w = Wire(a.iface, a.dst_mac)
    dst, dport = endpoint(a.to)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.src, 0))
    sport = s.getsockname()[1]
    s.settimeout(a.timeout)
    payload = bytes(rng.randrange(256) for _ in range(a.size))
    for _ in range(a.tries):
        dgram = IP(src=a.src, dst=dst, id=rng.randrange(1 << 16)) / UDP(sport=sport, dport=dport) / Raw(payload)
        for f in reversed_fragments(dgram):
            w.send(w.frame(f))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            continue
        if data == payload:
            print("echoed %d bytes (fragments out of order both ways)" % len(data))
            return 0
        print("reply of %d bytes differs from the %d sent" % (len(data), a.size), file=sys.stderr)
        return 1
    print("no reply from %s" % a.to, file=sys.stderr)
    return 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=9)
    sub = p.add_subparsers(dest="mode", required=True)

    def attack(name, **kw):
        q = sub.add_parser(name, **kw)
        q.add_argument("--iface", required=True)
        q.add_argument("--dst-mac", required=True)
        q.add_argument("--duration", type=float, required=True, help="seconds the attack lasts")
        return q

    q = attack("spoof-flood")
    q.add_argument("--src-net", required=True)
    q.add_argument("--exclude", nargs="*", default=[])
    q.add_argument("--count", type=int, required=True)
    q.add_argument("--to", required=True)
    q = attack("lone-ack")
    q.add_argument("--src", required=True)
    q.add_argument("--to", required=True)
    q.add_argument("--ports", type=int, required=True)
    q.add_argument("--interval", type=float, default=1.0)
    q = attack("spray")
    q.add_argument("--src", required=True)
    q.add_argument("--to", required=True)
    q.add_argument("--count", type=int, required=True)
    q = attack("frag-flood")
    q.add_argument("--src-net", required=True)
    q.add_argument("--sources", type=int, required=True)
    q.add_argument("--pool", required=True)
    q.add_argument("--orphans", type=int, required=True)
    q.add_argument("--orphan-sources", type=int, default=1)
    q.add_argument("--firsts", type=int, default=0)
    q.add_argument("--first-to")
    q = attack("syn-flood")
    q.add_argument("--src-net", required=True)
    q.add_argument("--sources", type=int, required=True)
    q.add_argument("--pool", required=True)
    q.add_argument("--count", type=int, required=True)
    q = attack("hog")
    q.add_argument("--srcs", required=True)
    q.add_argument("--to", required=True, help="an address (ICMP echo)")
    q.add_argument("--ports", type=int, required=True, help="echo identifiers per address")
    q.add_argument("--fill", type=float, required=True, help="seconds to open them in")
    q = sub.add_parser("frag-echo")
    q.add_argument("--iface", required=True)
    q.add_argument("--dst-mac", required=True)
    q.add_argument("--bind", required=True)
    q.add_argument("--lifetime", type=float, default=300)
    q = sub.add_parser("frag-query")
    q.add_argument("--iface", required=True)
    q.add_argument("--dst-mac", required=True)
    q.add_argument("--src", required=True)
    q.add_argument("--to", required=True)
    q.add_argument("--size", type=int, default=3000)
    q.add_argument("--tries", type=int, default=3)
    q.add_argument("--timeout", type=float, default=2.0)
    a = p.parse_args()
    rng = random.Random(a.seed)
    modes = {
        "spoof-flood": spoof_flood,
        "lone-ack": lone_ack,
        "spray": spray,
        "frag-flood": frag_flood,
        "syn-flood": syn_flood,
        "hog": hog,
    }
    if a.mode in modes:
        global SENDING_SINCE
        n = modes[a.mode](a, rng)
        print("sent %d in %.1f s" % (n, time.monotonic() - (SENDING_SINCE or time.monotonic())), flush=True)
        return 0
    return {"frag-echo": lambda: frag_echo(a, rng) and 0, "frag-query": lambda: frag_query(a, rng)}[a.mode]()


if __name__ == "__main__":
    sys.exit(main())
