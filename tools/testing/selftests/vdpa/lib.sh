# SPDX-License-Identifier: GPL-2.0
# Helpers for the vDPA kselftests. Sourced by each test.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
DIR=$(cd "$(dirname "$0")" && pwd)
export DIR
. "$DIR/../kselftest/ktap_helpers.sh"

# Skips the whole test (exit 4) when something it needs is missing.
vdpa_require() { # vdpa_require <what> <check command...>
	local what=$1
	shift
	if ! "$@" >/dev/null 2>&1; then
		ktap_skip_all "$what is not available"
		exit "$KSFT_SKIP"
	fi
}

# Waits up to $2 (default 10) seconds for a condition command to succeed.
wait_for() { # wait_for <command...>
	local i
	for i in $(seq 1 50); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# 0 once process <pid> has ended, waiting at most <seconds> (20 by default);
# 1 if it is still running then.
pid_ends_within() { # pid_ends_within <pid> [seconds]
	local i
	for i in $(seq $((${2:-20} * 5))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.2
	done
	! kill -0 "$1" 2>/dev/null
}

# Starts vfio_vdpa_ctl holding mdev <uuid> of group <group> open through a
# type1 container, with 64 KiB pinned (the HOLD coprocess); 0 once it has.
# HOLD_BASE: the holder's VmLck before the pins.
hold_start() { # hold_start </dev/vfio/N> <uuid>
	coproc HOLD { "$DIR/vfio_vdpa_ctl" hold "$1" "$2"; }
	HOLD_PID_SAVED=$HOLD_PID
	local line
	read -r -t 20 line <&"${HOLD[0]}"
	HOLD_BASE=${line#ready }
	[ "${line%% *}" = ready ] || { echo "the holder did not get ready"; hold_stop; return 1; }
}

# Asks the holder a question (see hold() in vfio_vdpa_ctl.c) and prints the
# answer.
hold_ask() { # hold_ask <lck|status|req|bell|touch>
	local line
	echo "$1" >&"${HOLD[1]}" && read -r -t 20 line <&"${HOLD[0]}" && echo "$line"
}

# Lets the holder close the device and waits for it (at most 20 s).
hold_stop() {
	[ -n "${HOLD[1]:-}" ] && exec {HOLD[1]}>&-
	pid_ends_within "$HOLD_PID_SAVED" || kill "$HOLD_PID_SAVED" 2>/dev/null
	wait "$HOLD_PID_SAVED" 2>/dev/null
}

vdpa_dev_exists() { [ -e "/sys/bus/vdpa/devices/$1" ]; }

# Whether this is the debug flavour's kernel (sanitizers, lockdep, fault
# injection): several times slower, so stress tests run fewer rounds on it.
vdpa_debug_kernel() { [ -e /proc/thread-self/fail-nth ]; }

# The number of vDPA devices on the bus.
vdpa_dev_count() { ls /sys/bus/vdpa/devices 2>/dev/null | wc -l; }

# Prints the driver a vDPA device is bound to (empty when none).
vdpa_driver_of() {
	local l
	l=$(readlink "/sys/bus/vdpa/devices/$1/driver" 2>/dev/null) && basename "$l"
}

# Binds a vDPA device to the named driver, unbinding it first if needed.
vdpa_bind() { # vdpa_bind <dev> <driver>
	local cur
	cur=$(vdpa_driver_of "$1")
	[ "$cur" = "$2" ] && return 0
	[ -n "$cur" ] && echo "$1" > "/sys/bus/vdpa/drivers/$cur/unbind"
	echo "$2" > "/sys/bus/vdpa/devices/$1/driver_override"
	echo "$1" > "/sys/bus/vdpa/drivers/$2/bind"
}

# Prints the virtio device node (virtioN) a vDPA device was given by virtio_vdpa.
vdpa_virtio_of() {
	local d
	for d in /sys/bus/vdpa/devices/"$1"/virtio*; do
		[ -e "$d" ] && basename "$d" && return 0
	done
	return 1
}

# Prints the netdev name of a vDPA net device bound to virtio_vdpa.
vdpa_netdev_of() {
	local v
	v=$(vdpa_virtio_of "$1") || return 1
	ls "/sys/bus/vdpa/devices/$1/$v/net" 2>/dev/null | head -n 1 | grep .
}

# Prints the block device name of a vDPA blk device bound to virtio_vdpa.
vdpa_blkdev_of() {
	local v
	v=$(vdpa_virtio_of "$1") || return 1
	ls "/sys/bus/vdpa/devices/$1/$v/block" 2>/dev/null | head -n 1 | grep .
}

# Prints the vhost-vdpa character device of a vDPA device bound to vhost_vdpa.
vdpa_vhost_of() {
	local d
	for d in /sys/bus/vdpa/devices/"$1"/vhost-vdpa-*; do
		[ -e "$d" ] && basename "$d" && return 0
	done
	return 1
}

# The frames a netdev sent whose buffers its device gave back: virtio-net
# counts a sent frame when the device uses its buffer.
vdpa_tx_packets() { cat "/sys/class/net/$1/statistics/tx_packets" 2>/dev/null; }

vdpa_tx_at_least() { [ "$(vdpa_tx_packets "$1")" -ge "$2" ] 2>/dev/null; }

# Sends 10 broadcast frames of 60..600 bytes on a netdev (which must be up)
# and waits until its device used them all.
vdpa_send_used() { # vdpa_send_used <ifname>
	local before
	before=$(vdpa_tx_packets "$1")
	"$DIR/vdpa_net_loop" "$1" ff:ff:ff:ff:ff:ff 60 600 60 none >/dev/null
	wait_for vdpa_tx_at_least "$1" $((${before:-0} + 10)) ||
		{ echo "tx_packets ${before:-?} -> $(vdpa_tx_packets "$1")"; return 1; }
}

# With kmemleak (the debug flavour): scans twice, prints what it found and
# fails if anything the tests did leaked; asks the caller to skip without it.
vdpa_kmemleak_clean() {
	local f=/sys/kernel/debug/kmemleak r=0

	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null
	if ! [ -w "$f" ]; then
		test_skip "no kmemleak: debug flavour only"
		return
	fi
	echo scan > "$f"; sleep 1; echo scan > "$f"
	if grep -q "unreferenced object" "$f"; then
		head -n 40 "$f"
		r=1
	fi
	echo clear > "$f"
	return $r
}

# Helpers for the PCI functions the tests are given.
. "$DIR/pci_lib.sh"

# A script's tests are shell functions, run in order by run_tests: each is
# one result, its description set by test_desc, its verdict its exit status
# (or test_skip). What it prints becomes diagnostics when it fails. A test
# that runs a test program (test_runs_program) reports the program's results
# instead, as many as the program says it has. The plan comes from the lists
# of tests (tests_plan), never from a count kept by hand.
declare -A TEST_RESULTS=()
TEST_DESC=
TEST_SKIP=

# Describes the test that runs: its name in the results.
test_desc() { TEST_DESC=$*; }

# Has the test that runs reported as skipped, and why (it returns after).
test_skip() { TEST_SKIP=$*; }

# Has a test run a test program (ktap_run_program), and learns how many
# results it owes: the program prints that, given --plan in place of its
# first argument (see vdpa_test.h). Ends the script when it cannot say.
test_runs_program() { # test_runs_program <test> <program> [arguments after the first]
	local n
	n=$("$2" --plan "${@:3}") && [ "$n" -gt 0 ] 2>/dev/null ||
		ktap_exit_fail_msg "$(basename "$2") --plan did not print its number of results"
	TEST_RESULTS[$1]=$n
}

# The number of results a list of tests reports.
tests_plan() { # tests_plan <test...>
	local t n=0
	for t in "$@"; do
		n=$((n + ${TEST_RESULTS[$t]:-1}))
	done
	echo "$n"
}

# Sets the plan: the results of a list of tests, times over (once per parent).
tests_set_plan() { # tests_set_plan <times> <test...>
	ktap_set_plan $(($(tests_plan "${@:2}") * $1))
}

# Runs a test that runs a program (its test_desc names the program). The
# results the program owes and did not print (it stopped early) are
# failures; more than it owes end the script, for the plan no longer holds.
__run_program_test() { # __run_program_test <test>
	local want=${TEST_RESULTS[$1]} got=$KTAP_TESTNO

	TEST_DESC=
	"$1"
	got=$((KTAP_TESTNO - got))
	[ "$got" -gt "$want" ] && ktap_exit_fail_msg "${TEST_DESC:-$1} reported $got results, not $want"
	while [ "$got" -lt "$want" ]; do
		got=$((got + 1))
		ktap_test_fail "${TEST_DESC:-$1}: result $got of $want missing (the program stopped early)"
	done
}

# Runs a list of tests in order, in this shell: a test may leave variables
# for those after it.
run_tests() { # run_tests <test...>
	local t out rc no

	out=$(mktemp) || ktap_exit_fail_msg "no temporary file"
	for t in "$@"; do
		if [ -n "${TEST_RESULTS[$t]:-}" ]; then
			__run_program_test "$t"
			continue
		fi
		TEST_DESC= TEST_SKIP=
		no=$KTAP_TESTNO
		"$t" > "$out" 2>&1
		rc=$?
		[ "$KTAP_TESTNO" = "$no" ] || ktap_exit_fail_msg "$t reported results of its own"
		if [ -n "$TEST_SKIP" ]; then
			ktap_test_skip "${TEST_DESC:-$t} ($TEST_SKIP)"
		elif [ $rc = 0 ]; then
			ktap_test_pass "${TEST_DESC:-$t}"
		else
			sed 's/^/# /' "$out"
			ktap_test_fail "${TEST_DESC:-$t}"
		fi
	done
	rm -f "$out"
}

# Reports every result a list of tests owes as skipped (or failed), for one
# reason.
skip_tests() { # skip_tests <why> <test...>
	__report_tests ktap_test_skip "$@"
}

fail_tests() { # fail_tests <why> <test...>
	__report_tests ktap_test_fail "$@"
}

__report_tests() { # __report_tests <ktap_test_skip|ktap_test_fail> <why> <test...>
	local report=$1 why=$2 t i
	shift 2
	for t in "$@"; do
		for i in $(seq "${TEST_RESULTS[$t]:-1}"); do
			"$report" "$why"
		done
	done
}

# Runs a test program (KTAP through kselftest.h, numbered from 1) and reports
# its results as ours, each name after the prefix; what else it prints
# becomes diagnostics. Only in a test of test_runs_program, which has the
# results the program owes and did not print reported as failures.
ktap_run_program() { # ktap_run_program <prefix> <command...>
	local prefix=${1:+$1 } line res desc rc
	shift
	while IFS= read -r line; do
		if ! [[ $line =~ ^(not ok|ok)\ [0-9]+( (.*))?$ ]]; then
			case "$line" in
			"TAP version"*|"1.."*|"# Totals"*|"# Planned tests"*) ;;
			*) echo "# $line" ;;
			esac
			continue
		fi
		res=${BASH_REMATCH[1]}
		desc=${BASH_REMATCH[3]}
		case "$res:$desc" in
		"ok:# SKIP "*) ktap_test_skip "$prefix${desc#\# SKIP }" ;;
		ok:*) ktap_test_pass "$prefix$desc" ;;
		*) ktap_test_fail "$prefix$desc" ;;
		esac
	done < <("$@" 2>&1)
	wait $! 2>/dev/null
	rc=$?
	[ $rc -gt 1 ] && echo "# $(basename "$1") exited $rc"
	return 0
}
