#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host-side checks of summarize.py, printed as KTAP.

The summarizer decides whether a guest run passed, so it is tested on
synthetic runs: counted cases, skips, a program that died, a kernel splat.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

TAP = """TAP version 13
1..2
# selftests: vdpa: a.sh
# TAP version 13
# 1..3
# ok 1 first
# not ok 2 second
# ok 3 third # SKIP no device
ok 1 selftests: vdpa: a.sh
# selftests: vdpa: b.sh
not ok 2 selftests: vdpa: b.sh # TIMEOUT 600 seconds
"""


def run(tap, log="", status=0):
    with tempfile.TemporaryDirectory() as d:
        t = os.path.join(d, "k.tap")
        g = os.path.join(d, "dmesg.log")
        open(t, "w").write(tap)
        open(g, "w").write(log)
        p = subprocess.run([sys.executable, os.path.join(HERE, "summarize.py"),
                            "--guest-status", str(status), "--tap", t, "--log", g],
                           capture_output=True, text=True)
        return p.returncode, p.stdout.strip().splitlines()[-1]


CASES = [
    ("counts cases, skips and a dead program",
     lambda: run(TAP) == (1, "2 passed, 2 failed, 1 skipped")),
    ("a clean run passes",
     lambda: run("ok 1 selftests: vdpa: c.sh\n", "") == (0, "1 passed, 0 failed")),
    ("a WARN in the kernel log fails the run",
     lambda: run("ok 1 selftests: vdpa: c.sh\n",
                 "WARNING: CPU: 0 PID: 1 at drivers/x.c:1 f+0x1/0x2\n")[0] == 1),
    ("a KASAN report fails the run",
     lambda: run("ok 1 selftests: vdpa: c.sh\n",
                 "BUG: KASAN: slab-use-after-free in f+0x1/0x2\n")[0] == 1),
    ("a lockdep report fails the run",
     lambda: run("ok 1 selftests: vdpa: c.sh\n",
                 "WARNING: possible circular locking dependency detected\n")[0] == 1),
    ("a guest that died fails the run",
     lambda: run("ok 1 selftests: vdpa: c.sh\n", "", 125)[0] == 1),
    ("no result at all fails the run",
     lambda: run("")[0] == 1),
]

print("TAP version 13")
print("1..%d" % len(CASES))
failed = 0
for i, (name, check) in enumerate(CASES, 1):
    ok = check()
    failed += not ok
    print("%s %d %s" % ("ok" if ok else "not ok", i, name))
sys.exit(1 if failed else 0)
