#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs in the test guest (started by run-tests.sh through vm.sh): runs the
# installed kselftest programs one after the other, each under its own time
# limit, and writes each one's KTAP output to a file of its own, so that no
# result depends on where the guest's stdout goes.
#
# Usage: guest-tests.sh <results dir> <test program>...
#
# For each program T (a file in <results dir>/kselftest/vdpa):
#   <results>/tap/T.tap     everything T printed (stdout and stderr)
#   <results>/tap/T.rc      its exit status (124: the time limit ended it)
#   <results>/progress      "T <seconds since boot>" while T runs, so that
#                           the host can tell which program a hung or
#                           crashed guest was in, and since when
#   <results>/dmesg.log     the kernel log, when all have run
# The kernel log gets a line "rvdpa-test: start T" / "rvdpa-test: end T" around
# each program, so that a report in the log can be put down to a program.
# The time limit of a program is the "timeout=" of the kselftest settings file
# (<results>/test-timeout, which run-tests.sh writes for RVDPA_TEST_TIMEOUT,
# overrides it); the host's watchdog allows more, and ends
# the whole guest when a program outlives even that (a stuck kernel).
set -u
results=$1
shift
dir=$results/kselftest/vdpa
mkdir -p "$results/tap"
limit=$(sed -n 's/^timeout=//p' "$dir/settings" 2>/dev/null)
[ -f "$results/test-timeout" ] && limit=$(cat "$results/test-timeout")
limit=${limit:-600}

# Variables for the programs (run-tests.sh, RVDPA_TEST_ENV).
if [ -f "$results/test-env" ]; then
	set -a
	. "$results/test-env"
	set +a
fi

# Watchdog thresholds that fit TCG (the config enables the detectors).
[ -w /proc/sys/kernel/hung_task_timeout_secs ] && echo 120 > /proc/sys/kernel/hung_task_timeout_secs

kmsg() { echo "rvdpa-test: $*" > /dev/kmsg 2>/dev/null || true; }

for t in "$@"; do
	rm -f "$results/tap/$t.tap" "$results/tap/$t.rc"
	echo "$t $(cut -d' ' -f1 /proc/uptime)" > "$results/progress.tmp"
	mv "$results/progress.tmp" "$results/progress"
	sync
	kmsg "start $t"
	# Test-only knob (run-tests.sh, RVDPA_TEST_PANIC): the kernel panics
	# as the program starts, so that the host's handling of it can be seen.
	if [ "$(cat "$results/test-panic" 2>/dev/null)" = "$t" ]; then
		echo 1 > /proc/sys/kernel/sysrq
		echo c > /proc/sysrq-trigger
	fi
	if [ ! -x "$dir/$t" ]; then
		echo "# $t is not installed in $dir" > "$results/tap/$t.tap"
		rc=127
	else
		# A program of its own session and process group: the time limit
		# ends it and everything it started.
		(cd "$dir" && exec setsid timeout --kill-after=20 "$limit" "./$t") \
			> "$results/tap/$t.tap" 2>&1 < /dev/null
		rc=$?
	fi
	kmsg "end $t rc=$rc"
	echo "$rc" > "$results/tap/$t.rc"
	sync
done
dmesg > "$results/dmesg.log" 2>/dev/null
echo "done $(cut -d' ' -f1 /proc/uptime)" > "$results/progress.tmp"
mv "$results/progress.tmp" "$results/progress"
sync
