#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Reports the KUnit results of this boot (the kernel's Rust doctests and any
# other built-in suite) as KTAP, one test per KUnit test case.
. "$(dirname "$0")/lib.sh"

KUNIT=/sys/kernel/debug/kunit

ktap_print_header
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null
vdpa_require "KUnit results in debugfs (CONFIG_KUNIT_DEBUGFS)" test -d "$KUNIT"

# Each suite's results file is KTAP: the suite's cases are indented once.
cases=$(for s in "$KUNIT"/*/results; do
	suite=$(basename "$(dirname "$s")")
	sed -n -E "s/^    (not ok|ok) [0-9]+ ([^#]*[^# ])( *# *(SKIP.*))?\$/\1|$suite.\2|\4/p" "$s"
done)
[ -n "$cases" ] || { ktap_skip_all "no KUnit test ran in this boot"; exit "$KSFT_SKIP"; }
ktap_set_plan "$(echo "$cases" | wc -l)"
while IFS='|' read -r result name skip; do
	if [ -n "$skip" ]; then
		ktap_test_skip "$name"
	elif [ "$result" = ok ]; then
		ktap_test_pass "$name"
	else
		ktap_test_fail "$name"
	fi
done <<< "$cases"
ktap_finished
