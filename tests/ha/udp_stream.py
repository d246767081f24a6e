#!/usr/bin/env python3
"""A numbered UDP stream across an HA failover (tests/ha.sh). Bounded in time.

  send --to ADDR:PORT --pps N --seconds S [--bind ADDR:PORT]
      Send datagrams "SEQ" at N per second for S seconds from one socket
      (one flow, one NAT mapping), then exit.
  recv --bind ADDR:PORT --out FILE --seconds S
      Record every datagram as "SEQ ARRIVAL_US SOURCE_ADDR:PORT" in FILE
      (flushed per line) for S seconds.
  report FILE [--from-us T]
      Print: received count, distinct sources, the longest gap between
      consecutive arrivals (ms) and when it began (µs), lost sequence
      numbers; as JSON.
"""
import argparse
import json
import socket
import time


def endpoint(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.bind:
        s.bind(endpoint(a.bind))
    to = endpoint(a.to)
    period = 1.0 / a.pps
    start = time.monotonic()
    n = int(a.pps * a.seconds)
    for seq in range(n):
        target = start + seq * period
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            s.sendto(str(seq).encode(), to)
        except OSError:
            pass  # no route for a moment: counted as lost by the receiver


def recv(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(endpoint(a.bind))
    end = time.monotonic() + a.seconds
    with open(a.out, "w") as f:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(min(left, 0.5))
            try:
                data, src = s.recvfrom(2048)
            except socket.timeout:
                continue
            us = time.time_ns() // 1000
            f.write(f"{data.decode(errors='replace')} {us} {src[0]}:{src[1]}\n")
            f.flush()


def report(a):
    rows = []
    with open(a.file) as f:
        for line in f:
            p = line.split()
            if len(p) == 3 and p[0].isdigit():
                rows.append((int(p[0]), int(p[1]), p[2]))
    rows = [r for r in rows if r[1] >= a.from_us]
    gap, gap_at = 0, None
    for x, y in zip(rows, rows[1:]):
        if y[1] - x[1] > gap:
            gap, gap_at = y[1] - x[1], x[1]
    seqs = sorted({r[0] for r in rows})
    lost = [s for s in range(seqs[0], seqs[-1] + 1) if s not in set(seqs)] if seqs else []
    print(json.dumps({
        "received": len(rows),
        "sources": sorted({r[2] for r in rows}),
        "max_gap_ms": round(gap / 1000, 1),
        "gap_began_us": gap_at,
        "first_us": rows[0][1] if rows else None,
        "last_us": rows[-1][1] if rows else None,
        "lost": len(lost),
    }))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--to", required=True)
    s.add_argument("--bind")
    s.add_argument("--pps", type=float, default=100)
    s.add_argument("--seconds", type=float, default=10)
    r = sub.add_parser("recv")
    r.add_argument("--bind", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--seconds", type=float, default=60)
    q = sub.add_parser("report")
    q.add_argument("file")
    q.add_argument("--from-us", type=int, default=0)
    a = p.parse_args()
    {"send": send, "recv": recv, "report": report}[a.cmd](a)


if __name__ == "__main__":
    main()
