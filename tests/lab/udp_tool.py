#!/usr/bin/env python3
"""UDP helpers for the cgnat lab (tests/lab.sh). Every mode is bounded in time.

  reflect --bind ADDR:PORT [--announce ADDR:PORT --announce-file FILE] [--lifetime S]
      Answer every datagram with the source address:port it came from
      ("seen 203.0.113.3:1536"). With --announce, first send "hello" from the
      bound socket to a reflector and write the address:port it saw (our
      public endpoint) to FILE.
  query --to ADDR:PORT [--bind ADDR:PORT] [--timeout S] [--tries N]
      Send "ping" and print the reply; exit 1 without one.
  listen --bind ADDR:PORT --out FILE [--lifetime S] [--announce ADDR:PORT --announce-file FILE]
      Count datagrams received (written to FILE as they arrive); never
      answers. --announce as for reflect.
  send --to ADDR:PORT [--count N]
      Fire-and-forget datagrams.
"""
import argparse
import socket
import sys
import time


def endpoint(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def announce(s, a):
    """Sends "hello" to the reflector a.announce from socket s and writes
    the address:port it saw (our public endpoint) to a.announce_file."""
    s.settimeout(1.0)
    seen = None
    for _ in range(20):
        s.sendto(b"hello", endpoint(a.announce))
        try:
            data, _ = s.recvfrom(2048)
            seen = data.decode().split()[-1]
            break
        except socket.timeout:
            continue
    if seen is None:
        print("announce: no answer", file=sys.stderr)
        sys.exit(1)
    with open(a.announce_file, "w") as f:
        f.write(seen + "\n")


def reflect(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(endpoint(a.bind))
    if a.announce:
        announce(s, a)
    s.settimeout(0.5)
    end = time.time() + a.lifetime
    while time.time() < end:
        try:
            data, src = s.recvfrom(2048)
        except socket.timeout:
            continue
        s.sendto(("seen %s:%d" % src).encode(), src)
        print("seen %s:%d %r" % (src[0], src[1], data[:32]), flush=True)


def query(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.bind:
        s.bind(endpoint(a.bind))
    s.settimeout(a.timeout)
    for _ in range(a.tries):
        s.sendto(b"ping", endpoint(a.to))
        try:
            data, src = s.recvfrom(2048)
            print(data.decode())
            return 0
        except socket.timeout:
            continue
    print("no reply from %s" % a.to, file=sys.stderr)
    return 1


def listen(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(endpoint(a.bind))
    if a.announce:
        announce(s, a)
    s.settimeout(0.5)
    n = 0
    open(a.out, "w").write("0\n")
    end = time.time() + a.lifetime
    while time.time() < end:
        try:
            s.recvfrom(2048)
        except socket.timeout:
            continue
        n += 1
        open(a.out, "w").write("%d\n" % n)


def send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(a.count):
        s.sendto(b"unsolicited", endpoint(a.to))
        time.sleep(0.01)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("reflect")
    r.add_argument("--bind", required=True)
    r.add_argument("--announce")
    r.add_argument("--announce-file")
    r.add_argument("--lifetime", type=float, default=600)
    q = sub.add_parser("query")
    q.add_argument("--to", required=True)
    q.add_argument("--bind")
    q.add_argument("--timeout", type=float, default=1.0)
    q.add_argument("--tries", type=int, default=5)
    l = sub.add_parser("listen")
    l.add_argument("--bind", required=True)
    l.add_argument("--out", required=True)
    l.add_argument("--lifetime", type=float, default=600)
    l.add_argument("--announce")
    l.add_argument("--announce-file")
    s = sub.add_parser("send")
    s.add_argument("--to", required=True)
    s.add_argument("--count", type=int, default=5)
    a = p.parse_args()
    return {"reflect": reflect, "query": query, "listen": listen, "send": send}[a.mode](a) or 0


if __name__ == "__main__":
    sys.exit(main())
