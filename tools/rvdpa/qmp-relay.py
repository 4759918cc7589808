#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Relays monitor commands from a guest to its QEMU (see vm.sh).

A test in the guest cannot reach QEMU's monitor, but it shares a directory
with the host. It writes one QMP command (a JSON object) to DIR/qmp-request;
this relay sends it on QEMU's QMP socket and writes QEMU's answer (the
"return" or "error" object, events skipped) to DIR/qmp-reply, then removes the
request. It ends when QEMU closes the socket.

Usage: qmp-relay.py SOCKET DIR
"""

import json
import os
import socket
import sys
import time


def connect(path, timeout):
    """Connects to the QMP socket once QEMU has created it."""
    end = time.monotonic() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > end:
                return None
            time.sleep(0.2)


def answer(f):
    """Reads QMP lines until an answer (not an event); None at EOF."""
    for line in f:
        msg = json.loads(line)
        if "return" in msg or "error" in msg:
            return msg
    return None


def main():
    path, shared = sys.argv[1], sys.argv[2]
    request = os.path.join(shared, "qmp-request")
    reply = os.path.join(shared, "qmp-reply")
    s = connect(path, 120)
    if s is None:
        return 1
    f = s.makefile("r")
    f.readline()  # the greeting
    s.sendall(b'{"execute": "qmp_capabilities"}\n')
    if answer(f) is None:
        return 1
    while True:
        if os.path.exists(request):
            with open(request) as r:
                cmd = r.read()
            s.sendall(cmd.strip().encode() + b"\n")
            msg = answer(f)
            if msg is None:
                return 0
            with open(reply + ".tmp", "w") as w:
                json.dump(msg, w)
            os.rename(reply + ".tmp", reply)
            os.remove(request)
        # QEMU gone: the socket reads EOF.
        s.setblocking(False)
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                return 0
        except BlockingIOError:
            pass
        finally:
            s.setblocking(True)
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
