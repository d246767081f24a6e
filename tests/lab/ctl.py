#!/usr/bin/env python3
"""Minimal cgnatd control-socket client for the lab (docs/control-protocol.md).

usage: ctl.py SOCKET 'JSON-REQUEST' ...   (one response line printed per request;
`{"cmd":...}` without "v" gets "v":1 and an id added)."""
import json
import socket
import sys

sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(10)
sock.connect(sys.argv[1])
f = sock.makefile("rw")
for i, arg in enumerate(sys.argv[2:], 1):
    try:
        req = json.loads(arg)
        if isinstance(req, dict) and "v" not in req:
            req = {"v": 1, "id": i, **req}
        line = json.dumps(req)
    except ValueError:
        line = arg  # deliberately malformed
    f.write(line + "\n")
    f.flush()
    print(f.readline().strip())
