#!/usr/bin/env python3
"""A PCP client (RFC 6887) for the lab, written from the RFC with struct
and sockets only: it shares no code with cgnatd's codec, so the lab's PCP
checks test the server against an independent reading of the RFC.

  pcp_client.py map --server 100.64.0.1 --proto tcp --port 8081 [--suggest 40000]
                    [--lifetime 120] [--nonce HEX] [--filter 198.51.100.1/32:0]
                    [--prefer-failure] [--client 100.64.1.20] [--third-party ADDR]
  pcp_client.py peer --server ... --proto tcp --port 8081 --peer 198.51.100.1:80
  pcp_client.py announce --server 100.64.0.1
  pcp_client.py spoof --server 100.64.0.1 --src 192.0.2.99 --proto udp --port 9000
  pcp_client.py listen --timeout 5         (waits for an unsolicited ANNOUNCE on 5350)
  pcp_client.py flood --count 2000         (ANNOUNCE requests as fast as possible, answers unread)

Prints one line: `result=NAME lifetime=N epoch=N [external=ADDR:PORT]`;
exit status 0 if an answer came (whatever its result), 1 otherwise.
"""

import argparse
import ipaddress
import os
import socket
import struct
import sys

SERVER_PORT = 5351  # RFC 6887 section 19.1
CLIENT_PORT = 5350
VERSION = 2
OP_ANNOUNCE, OP_MAP, OP_PEER = 0, 1, 2
OPT_THIRD_PARTY, OPT_PREFER_FAILURE, OPT_FILTER = 1, 2, 3
PROTO = {"tcp": 6, "udp": 17}
# Section 7.4.
RESULTS = [
    "SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST",
    "UNSUPP_OPCODE", "UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE",
    "NO_RESOURCES", "UNSUPP_PROTOCOL", "USER_EX_QUOTA", "CANNOT_PROVIDE_EXTERNAL",
    "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS",
]


def v6(addr):
    """An IPv4 address as the IPv4-mapped IPv6 address PCP carries (section 5)."""
    return ipaddress.IPv6Address("::ffff:" + addr).packed


def v4(b):
    a = ipaddress.IPv6Address(b)
    return str(a.ipv4_mapped) if a.ipv4_mapped else str(a)


def option(code, data):
    # Section 7.3: code, reserved, length, data padded to 4 octets.
    pad = (-len(data)) % 4
    return struct.pack("!BBH", code, 0, len(data)) + data + b"\0" * pad


def header(opcode, lifetime, client):
    # Section 7.1: version, R=0 + opcode, reserved, lifetime, client address.
    return struct.pack("!BBHI", VERSION, opcode, 0, lifetime) + v6(client)


def map_data(nonce, proto, port, suggest_port, suggest_addr):
    # Section 11.1: nonce, protocol, reserved, internal port, suggested port and address.
    return nonce + struct.pack("!B3xHH", proto, port, suggest_port) + v6(suggest_addr)


def peer_data(nonce, proto, port, suggest_port, suggest_addr, peer_addr, peer_port):
    # Section 12.1: MAP's fields, then remote peer port, reserved, remote peer address.
    return map_data(nonce, proto, port, suggest_port, suggest_addr) + struct.pack("!H2x", peer_port) + v6(peer_addr)


def options(a):
    out = b""
    if getattr(a, "third_party", None):
        out += option(OPT_THIRD_PARTY, v6(a.third_party))
    if getattr(a, "prefer_failure", False):
        out += option(OPT_PREFER_FAILURE, b"")
    for f in getattr(a, "filter", None) or []:
        # Section 13.3: reserved, prefix length (of the IPv6 form), peer port, peer address.
        net, _, port = f.rpartition(":")
        addr, _, plen = net.partition("/")
        out += option(OPT_FILTER, struct.pack("!BBH", 0, 96 + int(plen or 32), int(port)) + v6(addr))
    return out


def parse(resp):
    if len(resp) < 24:
        return "short answer (%d octets)" % len(resp)
    ver, r_op, _, result, lifetime, epoch = struct.unpack("!BBBBII", resp[:12])
    name = RESULTS[result] if result < len(RESULTS) else str(result)
    line = "result=%s lifetime=%d epoch=%d version=%d opcode=%d" % (name, lifetime, epoch, ver, r_op & 0x7F)
    if not r_op & 0x80:
        line += " NOT-A-RESPONSE"
    if r_op & 0x7F in (OP_MAP, OP_PEER) and len(resp) >= 60:
        ext_port = struct.unpack("!H", resp[42:44])[0]
        line += " nonce=%s external=%s:%d" % (resp[24:36].hex(), v4(resp[44:60]), ext_port)
    return line


def exchange(server, src_ip, msg, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src_ip or "0.0.0.0", 0))
    s.settimeout(timeout)
    # Section 8.1.1: retransmit with a growing interval; bounded here.
    wait = 0.5
    for _ in range(4):
        s.sendto(msg, (server, SERVER_PORT))
        try:
            data, _ = s.recvfrom(2048)
            return data
        except socket.timeout:
            wait *= 2
            s.settimeout(wait)
    return None


def local_address(server):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((server, SERVER_PORT))
    return s.getsockname()[0]


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def spoof(server, src, payload):
    """Sends `payload` to the server from address `src` (not ours) with a raw socket."""
    udp_len = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(server) + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", 40000, SERVER_PORT, udp_len, 0) + payload
    c = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 1, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(server))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.sendto(ip + udp, (server, 0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=["map", "peer", "announce", "spoof", "listen", "flood"])
    ap.add_argument("--server", default="100.64.0.1")
    ap.add_argument("--proto", default="tcp")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--suggest", type=int, default=0)
    ap.add_argument("--suggest-addr", default="0.0.0.0")
    ap.add_argument("--lifetime", type=int, default=120)
    ap.add_argument("--nonce", default=None, help="12 octets in hex (random if absent)")
    ap.add_argument("--filter", action="append", help="ADDR/LEN:PORT (port 0: any)")
    ap.add_argument("--prefer-failure", action="store_true")
    ap.add_argument("--third-party")
    ap.add_argument("--client", help="client address field (default: our source address)")
    ap.add_argument("--peer", help="remote peer ADDR:PORT for PEER")
    ap.add_argument("--src", help="source address for spoof")
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--count", type=int, default=1000)
    a = ap.parse_args()

    if a.op == "listen":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", CLIENT_PORT))
        s.settimeout(a.timeout)
        try:
            data, src = s.recvfrom(2048)
        except socket.timeout:
            print("no announcement")
            return 1
        print("from=%s:%d %s" % (src[0], src[1], parse(data)))
        return 0

    nonce = bytes.fromhex(a.nonce) if a.nonce else os.urandom(12)
    src = a.src if a.op == "spoof" else local_address(a.server)
    client = a.client or src
    proto = PROTO.get(a.proto, 0) if not a.proto.isdigit() else int(a.proto)
    if a.op == "announce":
        msg = header(OP_ANNOUNCE, 0, client)
    elif a.op == "peer":
        paddr, _, pport = a.peer.rpartition(":")
        msg = header(OP_PEER, a.lifetime, client) + peer_data(nonce, proto, a.port, a.suggest, a.suggest_addr, paddr, int(pport)) + options(a)
    else:
        msg = header(OP_MAP, a.lifetime, client) + map_data(nonce, proto, a.port, a.suggest, a.suggest_addr) + options(a)
    if a.op == "flood":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(min(a.count, 100000)):
            s.sendto(header(OP_ANNOUNCE, 0, client), (a.server, SERVER_PORT))
        print("sent %d" % a.count)
        return 0
    if a.op == "spoof":
        spoof(a.server, a.src, msg)
        print("sent")
        return 0
    resp = exchange(a.server, None, msg, a.timeout)
    if resp is None:
        print("no answer")
        return 1
    print(parse(resp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
