#!/usr/bin/python3
"""State and bounds of the hostile-traffic suite (tests/hostile/lib.sh).

  bounds CONFIG --workers N
      Shell assignments of the limits and timers in CONFIG (cgnatd's TOML)
      and the bounds derived from them: how long reclaiming state takes
      (RECLAIM_SLACK: timer granularity + sweeper passes + log flush).
  snapshot --ctl CGNATCTL --socket SOCK --prefix P [--subscriber A] [--list [--destination D] [--proto P] [--remote-port N]]
      Shell assignments P_<figure> of the running daemon, read with
      `cgnatctl stats --json`: table fill (P_subscribers, P_sessions,
      P_mappings, P_blocks), every NAT counter (P_nat_drop_admission_limited,
      ...) and data-plane counter (P_dp_fragment_source_limit, ...; 0 when
      the daemon has no such counter). With --subscriber, from `cgnatctl
      subscriber`: P_known (0/1), P_sub_sessions, P_sub_tcp/udp/icmp,
      P_sub_used, P_sub_blocks. With --list, from `cgnatctl sessions`
      (filtered by the daemon: --subscriber, --destination, --proto):
      P_listed, P_midstream, P_max_expires, P_states.
  metric URL NAME [LABELS]
      One value from the Prometheus endpoint (e.g. cgnat_table_entries 'table="subscribers"').
"""
import argparse
import json
import math
import re
import subprocess
import sys
import tomllib
import urllib.request

# cgnat-core/src/sweeper/pacing.rs (decision 012): every table is passed
# over once per PERIOD_S; session and mapping passes visit at least
# MIN_SLOTS slots per call and at most MAX_SLOTS; the management loop calls
# the sweeper every tick, at most GAP_S apart (the pacing bound's condition).
PERIOD_S = 4.0
MIN_SLOTS = 1024
MAX_SLOTS = 65536
GAP_S = 0.0125
# Counters the suite reads that an older daemon may not have.
KNOWN_COUNTERS = [
    "nat_drop_admission_limited", "nat_drop_block_admission_limited", "nat_drop_unconfirmed_limit",
    "nat_drop_inbound_session_limit", "nat_drop_fair_share", "nat_drop_fragment_source_limit",
    "nat_admitted_on_retry", "nat_subscribers_confirmed", "nat_admission_summaries",
    "dp_fragment_source_limit", "dp_log_wait_held", "dp_log_wait_dropped",
]


def table_slots(n):
    """Slots of a table for n entries (cgnat-core: n * 5 / 4, at least 16)."""
    return max(n * 5 // 4, 16)


def bounds(a):
    with open(a.config, "rb") as f:
        c = tomllib.load(f)
    nat = c["nat"]
    adm = nat.get("admission", {})
    unc = nat.get("unconfirmed", {})
    inb = nat.get("inbound", {})
    fair = nat.get("fairness", {})
    frag = nat.get("fragments", {})
    t = nat.get("timeouts", {})
    pool_addrs = sum(2 ** (32 - int(p.split("/")[1])) for p in nat["pool"])
    first, last = (int(x) for x in nat["port_range"].split("-"))
    blocks = pool_addrs * ((last - first + 1) // nat["block_size"])
    sessions = table_slots(nat["max_sessions"])
    # A session pass: the period, or sooner for a small table (MIN_SLOTS a
    # call), or longer for a huge one (MAX_SLOTS a call).
    session_pass = max(min(PERIOD_S, math.ceil(sessions / MIN_SLOTS) * GAP_S), sessions * GAP_S / MAX_SLOTS)
    # Blocks and subscribers keep the period (a pass per PERIOD_S).
    other_pass = max(PERIOD_S, max(blocks, table_slots(nat["max_subscribers"])) * GAP_S / MAX_SLOTS)
    cycle = session_pass + other_pass
    # A session idle past its timer: idle time counts whole seconds (1 s),
    # then the session pass removes it (one call later at most), the
    # blocks' pass releases its block (the release record is queued first)
    # and the subscribers' pass removes the subscriber (each at most a
    # pass and a call); the log pump flushes within 0.5 s.
    slack = math.ceil(1 + session_pass + GAP_S + 2 * (other_pass + GAP_S) + 0.5)
    v = {
        "WORKERS": a.workers,
        "MAX_SUBSCRIBERS": nat["max_subscribers"],
        "MAX_SESSIONS": nat["max_sessions"],
        "MAX_SESSIONS_PER_SUB": nat["max_sessions_per_subscriber"],
        "MAX_BLOCKS": nat["max_blocks_per_subscriber"],
        "BLOCK_SIZE": nat["block_size"],
        "POOL_BLOCKS": blocks,
        "HOLD_DOWN": nat.get("block_hold_down", 120),
        "UDP_TIMEOUT": t.get("udp", 300),
        "TCP_TRANSITORY": t.get("tcp_transitory", 240),
        "TCP_ESTABLISHED": t.get("tcp_established", 7440),
        "ICMP_TIMEOUT": t.get("icmp", 60),
        "FRAG_TIMEOUT": frag.get("timeout", 2),
        "FRAG_MAX_HELD": frag.get("max_held", 256),
        "FRAG_MAX_TRACKED": frag.get("max_tracked", 4096),
        "FRAG_PER_SOURCE": frag.get("max_per_source", 64),
        "SUB_RATE": adm.get("subscriber_rate", 1000),
        "SUB_BURST": adm.get("subscriber_burst", 4000),
        "BLOCK_RATE": adm.get("block_rate", 2000),
        "BLOCK_BURST": adm.get("block_burst", 8000),
        "RETRY_RATE": adm.get("retry_rate", 200),
        "RETRY_BURST": adm.get("retry_burst", 400),
        "SUMMARY_INTERVAL": adm.get("summary_interval_secs", 10),
        "UNCONF_CAP": nat["max_subscribers"] * unc.get("max_subscribers_percent", 25) // 100,
        "UNCONF_SESSIONS": unc.get("max_sessions", 64),
        "UNCONF_BLOCKS": unc.get("max_blocks", 1),
        "UNCONF_TIMEOUT": unc.get("timeout", 120),
        "INBOUND_PER_SUB": inb.get("max_sessions_per_subscriber", 256),
        "INBOUND_PER_MAPPING": inb.get("max_sessions_per_mapping", 64),
        "INBOUND_TIMEOUT": inb.get("timeout", 30),
        "PRESSURE_SESSIONS": nat["max_sessions"] * fair.get("pressure_percent", 75) // 100,
        "FAIR_SHARE": fair.get("fair_share_sessions", 128),
        "SWEEP_CYCLE": "%.1f" % cycle,
        "RECLAIM_SLACK": slack,
    }
    for k, x in v.items():
        print("%s=%s" % (k, x))


def cgnatctl(a, *args, missing_ok=False):
    out = subprocess.run([a.ctl, "--socket", a.socket, "--json", *args], capture_output=True, text=True, timeout=20)
    if out.returncode == 1 and missing_ok:
        return None
    if out.returncode != 0:
        sys.exit("cgnatctl %s: exit %d: %s" % (" ".join(args), out.returncode, out.stderr.strip()))
    return json.loads(out.stdout)


def name(s):
    return re.sub(r"[^A-Za-z0-9_]", "_", s)


def snapshot(a):
    st = cgnatctl(a, "stats")
    v = {k: 0 for k in KNOWN_COUNTERS}
    for t in st["tables"]:
        v[t["name"]] = t["used"]
        v[t["name"] + "_bytes"] = t.get("bytes", 0)
    for k, x in st["nat"].items():
        v["nat_" + name(k)] = x
    for k, x in st["dataplane"].items():
        v["dp_" + name(k)] = x
    v["log_records"] = st["log"]["records"]
    if a.subscriber:
        d = cgnatctl(a, "subscriber", a.subscriber, missing_ok=True)
        v["known"] = int(d is not None)
        d = d or {"sessions": {"tcp": 0, "udp": 0, "icmp": 0}, "sessions_used": 0, "blocks": []}
        v["sub_sessions"] = sum(d["sessions"].values())
        v["sub_used"] = d["sessions_used"]
        for p, n in d["sessions"].items():
            v["sub_" + p] = n
        v["sub_blocks"] = len(d["blocks"])
    if a.list:
        # Filtered by the daemon: the answer (and the daemon's memory for
        # it) stays small.
        args = ["sessions", "--limit", "100000"]
        if a.subscriber:
            args += ["--subscriber", a.subscriber]
        if a.destination:
            args += ["--destination", a.destination]
        if a.proto:
            args += ["--proto", a.proto]
        # cgnatctl exits 1 when no session matches.
        ss = (cgnatctl(a, *args, missing_ok=True) or {"sessions": []})["sessions"]
        picked = [s for s in ss if a.remote_port is None or s["remote_port"] == a.remote_port]
        v["listed"] = len(picked)
        v["midstream"] = sum(1 for s in picked if s["state"] == "midstream")
        v["max_expires"] = max((s["expires_in_secs"] for s in picked), default=0)
        v["states"] = ",".join(sorted({s["state"] for s in picked})) or "-"
    for k, x in v.items():
        print("%s_%s=%s" % (a.prefix, k, x))


def metric(a):
    with urllib.request.urlopen(a.url, timeout=10) as r:
        text = r.read().decode()
    want = "%s{%s}" % (a.name, a.labels) if a.labels else a.name
    for line in text.splitlines():
        if line.startswith(want + " "):
            print(line.split()[-1])
            return 0
    sys.exit("metric %s not exported by %s" % (want, a.url))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bounds")
    b.add_argument("config")
    b.add_argument("--workers", type=int, required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("--ctl", required=True)
    s.add_argument("--socket", required=True)
    s.add_argument("--prefix", required=True)
    s.add_argument("--subscriber", help="also this subscriber's detail")
    s.add_argument("--list", action="store_true", help="also list sessions (filtered)")
    s.add_argument("--destination", help="list: only to this remote address[:port]")
    s.add_argument("--proto", choices=["tcp", "udp", "icmp"], help="list: only this protocol")
    s.add_argument("--remote-port", type=int, help="list: only to this remote port")
    m = sub.add_parser("metric")
    m.add_argument("url")
    m.add_argument("name")
    m.add_argument("labels", nargs="?")
    a = p.parse_args()
    return {"bounds": bounds, "snapshot": snapshot, "metric": metric}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
