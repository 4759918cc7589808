#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarizes a test run.

Each test program ran on its own (tools/rvdpa/guest-tests.sh in the guest,
or on the host) and left two files in the results directory:
  tap/NAME.tap   its KTAP output,
  tap/NAME.rc    its exit status.
The host's watchdog (run-tests.sh) may also have left a verdict on a program
it had to end, or that took its guest down with it:
  verdicts       lines "NAME<TAB>what happened".

Every test case a program reported counts (passed, failed or skipped); a plan
with results missing, an exit status that says the program failed, a program
that did not run, and every verdict count as failures; and the kernel logs
(--log) are read for oopses, WARNs, BUGs, sanitizer, lockdep, kmemleak,
hung-task, lockup and stall reports, each put down to the program that ran
when it appeared ("rvdpa-test: start NAME" lines mark them). The closing line
is "N passed, N failed[, N skipped]"; the exit status is 1 on any failure.
"""
import argparse
import os
import re
import sys

KSFT_SKIP = 4
TIMEOUT_RCS = (124, 137)  # timeout(1): ended at the limit, or killed after it

RESULT = re.compile(r"^(not ok|ok) (\d+)\b ?(.*?)\s*(?:#\s*(SKIP|XFAIL|TODO|TIMEOUT)\b\s*(.*))?$")
PLAN = re.compile(r"^1\.\.(\d+)(?:\s*#\s*SKIP\b\s*(.*))?")
MARK = re.compile(r"rvdpa-test: (start|end) (\S+)")
STAMP = re.compile(r"^.*?\[\s*\d+\.\d+\]\s*")
SPLAT = re.compile(
    r"(Oops[:\s]|BUG: |WARNING: |kernel BUG at|general protection fault|"
    r"KASAN: |UBSAN: |possible circular locking|possible recursive locking|"
    r"inconsistent lock state|suspicious RCU usage|unreferenced object|"
    r"Kernel panic|blocked for more than|soft lockup|hard LOCKUP|"
    r"nobody cared|rcu_\w+ (self-)?detected stall|detected stalls on CPUs|"
    r"rcu: INFO: .*stall|workqueue lockup|refcount_t: )")


def read_lines(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return None


def program(name, tapdir, verdict):
    """Returns (passed, failed, skipped) lists of case names for one program."""
    passed, failed, skipped = [], [], []
    lines = read_lines(os.path.join(tapdir, name + ".tap"))
    rc_lines = read_lines(os.path.join(tapdir, name + ".rc"))
    rc = int(rc_lines[0]) if rc_lines and rc_lines[0].strip().lstrip("-").isdigit() else None
    if lines is None and rc is None:
        failed.append("%s: %s" % (name, verdict or "did not run (no output, no exit status)"))
        return passed, failed, skipped

    plan, skip_all, got = None, None, 0
    for line in lines or []:
        m = PLAN.match(line)
        if m and plan is None:
            plan = int(m.group(1))
            if plan == 0:
                skip_all = m.group(2) or "skipped"
            continue
        m = RESULT.match(line)
        if not m:
            continue
        res, _, desc, directive, why = m.groups()
        got += 1
        case = "%s: %s" % (name, desc or "result %d" % got)
        if directive == "SKIP":
            skipped.append(case + (" (%s)" % why if why else ""))
        elif directive == "TIMEOUT":
            failed.append(case + " (timed out)")
        elif res == "ok" or directive in ("XFAIL", "TODO"):
            passed.append(case)
        else:
            failed.append(case)

    if verdict:
        failed.append("%s: %s" % (name, verdict))
    elif rc is None:
        failed.append("%s: ended without an exit status" % name)
    elif rc in TIMEOUT_RCS:
        failed.append("%s: its time limit ended it (exit %d)" % (name, rc))
    elif skip_all is not None and not got:
        if rc in (0, KSFT_SKIP):
            skipped.append("%s: %s" % (name, skip_all))
        else:
            failed.append("%s: skipped everything but exited %d" % (name, rc))
    elif rc not in (0, KSFT_SKIP) and not any(c.startswith(name + ":") for c in failed):
        failed.append("%s: the program failed (exit %d) without a failing case" % (name, rc))
    elif rc == KSFT_SKIP and not got:
        skipped.append("%s: skipped (exit 4)" % name)
    if plan is not None and got < plan:
        failed.append("%s: %d of %d planned results missing" % (name, plan - got, plan))
    elif plan is not None and got > plan:
        failed.append("%s: %d results where the plan said %d" % (name, got, plan))
    elif plan is None and got == 0 and skip_all is None and rc != KSFT_SKIP:
        failed.append("%s: reported no result" % name)
    return passed, failed, skipped


# The one report that is not counted: under TCG the debug flavour's kernel
# sometimes reports a KASAN wild-memory-access in do_raw_spin_lock from the
# edge interrupt handler while the boot CPU is still being identified, long
# before any module (ours included) is loaded. Only at boot, only this access
# in this function, and only with handle_edge_irq in the report's trace.
KNOWN_BOOT = re.compile(r"BUG: KASAN: wild-memory-access in do_raw_spin_lock\+")
KASAN_END = re.compile(r"={40,}")


def known_boot_report(lines, i):
    """Whether the report at lines[i] is the known boot-time one; returns the
    index of its last line too."""
    end = i
    for j in range(i + 1, min(len(lines), i + 120)):
        end = j
        if KASAN_END.search(lines[j]):
            break
    return any("handle_edge_irq" in l for l in lines[i:end + 1]), end


def splats(paths, known=None):
    """Kernel reports in the logs, as {program (or "boot"): [lines]}, deduplicated.
    The known boot-time report (KNOWN_BOOT) goes to known, a list, instead."""
    found = {}
    seen = set()
    for path in paths:
        current = "boot"
        lines = read_lines(path) or []
        skip_to = -1
        for i, line in enumerate(lines):
            if i <= skip_to:
                continue
            m = MARK.search(line)
            if m:
                current = m.group(2) if m.group(1) == "start" else "between programs"
                continue
            if current == "boot" and KNOWN_BOOT.search(line) and known is not None:
                is_known, end = known_boot_report(lines, i)
                if is_known:
                    known.append("%s: %s" % (os.path.basename(path), STAMP.sub("", line).strip()))
                    skip_to = end
                    continue
            if SPLAT.search(line):
                text = STAMP.sub("", line).strip()
                if (current, text) not in seen:
                    seen.add((current, text))
                    found.setdefault(current, []).append(
                        "%s: %s" % (os.path.basename(path), text))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True, help="the results directory (tap/, verdicts)")
    ap.add_argument("--test", action="append", default=[], dest="tests",
                    help="a program that was to run, in order (may be repeated)")
    ap.add_argument("--log", action="append", default=[], dest="logs",
                    help="a kernel log to check for reports (may be repeated)")
    a = ap.parse_args()

    verdicts = {}
    for line in read_lines(os.path.join(a.results, "verdicts")) or []:
        if "\t" in line:
            name, what = line.split("\t", 1)
            verdicts[name] = what
    tapdir = os.path.join(a.results, "tap")
    passed, failed, skipped = [], [], []
    for name in a.tests:
        p, f, s = program(name, tapdir, verdicts.get(name))
        passed += p
        failed += f
        skipped += s
    if not a.tests:
        failed.append("no test program was to run")

    known = []
    reports = splats(a.logs, known)
    for text in known:
        skipped.append("the known early-boot KASAN report under TCG (not ours, no module loaded yet): %s"
                       % text)
    for where in sorted(reports):
        lines = reports[where]
        failed.append("the kernel log is clean during %s: %d report(s), first: %s"
                      % (where, len(lines), lines[0]))
    if a.logs and not reports:
        passed.append("the kernel log is clean")

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
