#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host-side checks of summarize.py, printed as KTAP.

The summarizer decides whether a run passed, so it is tested on synthetic
runs laid out as run-tests.sh lays out a real one: per-program KTAP and exit
status files, the watchdog's verdicts, kernel logs with program markers.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

A = "TAP version 13\n1..3\nok 1 first\nnot ok 2 second\nok 3 third # SKIP no device\n"
B = "TAP version 13\n1..2\nok 1 only one\n"
C = "TAP version 13\n1..1\nok 1 fine\n"
MARKED = "[    1.0] rvdpa-test: start c.sh\n[    2.0] %s\n[    3.0] rvdpa-test: end c.sh rc=0\n"


def run(progs, log=None, verdicts=""):
    """progs: {name: (tap text or None, rc or None)}; returns (exit, last line, output)."""
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(os.path.join(d, "tap"))
        args = [sys.executable, os.path.join(HERE, "summarize.py"), "--results", d]
        for name, (tap, rc) in progs.items():
            if tap is not None:
                open(os.path.join(d, "tap", name + ".tap"), "w").write(tap)
            if rc is not None:
                open(os.path.join(d, "tap", name + ".rc"), "w").write("%d\n" % rc)
            args += ["--test", name]
        open(os.path.join(d, "verdicts"), "w").write(verdicts)
        if log is not None:
            open(os.path.join(d, "console-1.log"), "w").write(log)
            args += ["--log", os.path.join(d, "console-1.log")]
        p = subprocess.run(args, capture_output=True, text=True)
        lines = p.stdout.strip().splitlines()
        return p.returncode, lines[-1] if lines else "", p.stdout


BOOT_KASAN = """[    0.5] ==================================================================
[    0.5] BUG: KASAN: wild-memory-access in do_raw_spin_lock+0xc3/0x200
[    0.5] Read of size 4 at addr 1fffffff8 by task swapper/0/0
[    0.5] Call Trace:
[    0.5]  <IRQ>
[    0.5]  handle_edge_irq+0x1/0x2
[    0.5]  </IRQ>
[    0.5]  identify_cpu+0x1/0x2
[    0.5] ==================================================================
"""


def boot_kasan(trace, where_marked):
    log = BOOT_KASAN.replace("handle_edge_irq", trace)
    if where_marked:
        log = "[    0.1] rvdpa-test: start c.sh\n" + log
    return run({"c.sh": (C, 0)}, log)


def splat_fails(text):
    code, _, out = run({"c.sh": (C, 0)}, MARKED % text)
    return code == 1 and "during c.sh" in out


CASES = [
    ("the known early-boot KASAN report is skipped, not counted",
     lambda: boot_kasan("handle_edge_irq", False)[:2] == (0, "2 passed, 0 failed, 1 skipped")),
    ("the same report from another trace fails the run",
     lambda: boot_kasan("vdpa_rsim_probe", False)[0] == 1),
    ("the same report while a program runs fails the run",
     lambda: boot_kasan("handle_edge_irq", True)[0] == 1),
    ("counts cases, skips and missing results",
     lambda: run({"a.sh": (A, 1), "b.sh": (B, 0)})[:2] == (1, "2 passed, 2 failed, 1 skipped")),
    ("a clean run passes",
     lambda: run({"c.sh": (C, 0)}, "")[:2] == (0, "2 passed, 0 failed")),
    ("a WARN in the kernel log fails the run, put down to its program",
     lambda: splat_fails("WARNING: CPU: 0 PID: 1 at drivers/x.c:1 f+0x1/0x2")),
    ("a KASAN report fails the run",
     lambda: splat_fails("BUG: KASAN: slab-use-after-free in f+0x1/0x2")),
    ("a lockdep report fails the run",
     lambda: splat_fails("WARNING: possible circular locking dependency detected")),
    ("a hung task report fails the run",
     lambda: splat_fails("INFO: task vdpa:123 blocked for more than 120 seconds.")),
    ("an interrupt nobody cared for fails the run",
     lambda: splat_fails("irq 24: nobody cared (try booting with the \"irqpoll\" option)")),
    ("an RCU stall fails the run",
     lambda: splat_fails("rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:")),
    ("a soft lockup fails the run",
     lambda: splat_fails("watchdog: BUG: soft lockup - CPU#0 stuck for 61s! [x:1]")),
    ("a program the watchdog ended fails, by name",
     lambda: (lambda r: r[0] == 1 and "FAIL h.sh: hung" in r[2])(
         run({"h.sh": ("TAP version 13\n1..5\nok 1 a\n", None)},
             verdicts="h.sh\thung: no result after 720 s\n"))),
    ("a program that did not run fails",
     lambda: run({"c.sh": (C, 0), "n.sh": (None, None)})[:2] == (1, "1 passed, 1 failed")),
    ("a program its time limit ended fails",
     lambda: run({"c.sh": (C, 124)})[0] == 1),
    ("a program that skipped everything is skipped, not passed",
     lambda: run({"c.sh": (C, 0), "s.sh": ("TAP version 13\n1..0 # SKIP no vdpa tool\n", 4)})[:2]
     == (0, "1 passed, 0 failed, 1 skipped")),
    ("a program that failed without a failing case fails",
     lambda: run({"c.sh": (C, 2)})[0] == 1),
    ("more results than the plan fails",
     lambda: run({"c.sh": (C + "ok 2 extra\n", 0)})[0] == 1),
    ("no result at all fails the run",
     lambda: run({"e.sh": ("", 0)})[0] == 1),
]

print("TAP version 13")
print("1..%d" % len(CASES))
failed = 0
for i, (name, check) in enumerate(CASES, 1):
    ok = check()
    failed += not ok
    print("%s %d %s" % ("ok" if ok else "not ok", i, name))
sys.exit(1 if failed else 0)
