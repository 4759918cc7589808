#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarizes a guest test run.

Reads the output of run_kselftest.sh (whose nested KTAP results are the test
cases) and the guest's kernel logs, prints every failed and skipped case, and
ends with one line "N passed, N failed[, N skipped]". Exits 1 on any failure.
A program that died without reporting its cases counts as one failure; a
kernel log with an oops, WARN, BUG, KASAN, UBSAN, lockdep or kmemleak report
fails the run.
"""
import argparse
import re
import sys

TOP = re.compile(r"^(not ok|ok) \d+ selftests: (\S+): (\S+)(.*)$")
CASE = re.compile(r"^# (not ok|ok) \d+ (.*?)\s*(?:#\s*(SKIP|XFAIL|TODO)\b(.*))?$")
SPLAT = re.compile(
    r"(Oops[:\s]|BUG: |WARNING: |kernel BUG at|general protection fault|"
    r"KASAN: |UBSAN: |possible circular locking|possible recursive locking|"
    r"inconsistent lock state|suspicious RCU usage|unreferenced object|"
    r"Kernel panic|blocked for more than|soft lockup|refcount_t: )")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--guest-status", type=int, default=0)
    ap.add_argument("--tap", action="append", default=[],
                    help="output of run_kselftest.sh (may be repeated)")
    ap.add_argument("--log", action="append", default=[], dest="logs",
                    help="a kernel log to check for splats (may be repeated)")
    a = ap.parse_args()

    passed, failed, skipped = [], [], []
    lines = []
    for tap in a.tap:
        try:
            lines += open(tap, errors="replace").read().splitlines()
        except OSError:
            failed.append("test output is missing (%s)" % tap)
    if not any(TOP.match(line) for line in lines):
        failed.append("no test program reported a result")

    block = []  # results of the program being read
    for line in lines:
        m = CASE.match(line)
        if m:
            res, name, directive, why = m.groups()
            if directive == "SKIP":
                block.append(("skip", name + (" #" + why if why else "")))
            elif res == "ok" or directive in ("XFAIL", "TODO"):
                block.append(("pass", name))
            else:
                block.append(("fail", name))
            continue
        m = TOP.match(line)
        if m:
            res, target, prog, rest = m.groups()
            name = "%s/%s" % (target, prog)
            for kind, case in block:
                full = "%s: %s" % (name, case)
                {"pass": passed, "fail": failed, "skip": skipped}[kind].append(full)
            if res == "not ok" and not any(k == "fail" for k, _ in block):
                failed.append("%s: the program failed%s" % (name, rest))
            elif "SKIP" in rest and not block:
                skipped.append("%s: %s" % (name, rest.strip(" #")))
            block = []

    splats = []
    for path in a.logs:
        try:
            for line in open(path, errors="replace"):
                if SPLAT.search(line):
                    splats.append("%s: %s" % (path.rsplit("/", 1)[-1], line.strip()))
        except OSError:
            pass
    if splats:
        failed.append("guest kernel log is clean: %d report(s), first: %s"
                      % (len(splats), splats[0]))
    elif a.logs:
        passed.append("guest kernel log is clean")
    if a.guest_status == 125:
        failed.append("the guest ended before the tests did")

    for name in skipped:
        print("SKIP", name)
    for name in failed:
        print("FAIL", name)
    line = "%d passed, %d failed" % (len(passed), len(failed))
    if skipped:
        line += ", %d skipped" % len(skipped)
    print(line)
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
