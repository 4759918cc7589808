#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite: builds the kernel and the kselftests, boots a guest,
# runs the vdpa kselftest programs in it one by one (guest-tests.sh; each
# program's KTAP goes to a file of its own), checks the guest's kernel logs for
# reports, and prints "N passed, N failed[, N skipped]". Exits non-zero on any
# failure.
#
# Usage: run-tests.sh [--flavour base|debug]
#
# Everything is bounded. In the guest, each program runs under the time limit
# of the kselftest settings file (600 s). On the host, a watchdog reads which
# program the guest is in: when one outlives its limit by RVDPA_WATCHDOG_GRACE
# seconds (120; a stuck kernel, which no limit in the guest can end), when a
# guest does not start its first program within RVDPA_BOOT_TIMEOUT seconds
# (600), or when the run passes its deadline (RVDPA_RUN_DEADLINE seconds of
# guest time in all, 3600), the host ends the guest. A program that was running
# when its guest hung or died (a panic) is a failure that names it and its
# console log, and the programs after it run in a fresh guest.
#
# Environment:
#   RVDPA_TESTS="vdpa_net.sh kunit.sh"  run only those programs (make check T=...)
#   RVDPA_TEST_HANG=NAME   test-only knob: once program NAME has started, the
#                          host freezes the guest's QEMU (SIGSTOP), as a kernel
#                          that stopped making progress would look from outside;
#                          the watchdog must end it and name NAME
#   RVDPA_TEST_PANIC=NAME  test-only knob: the guest's kernel panics (sysrq c)
#                          as program NAME starts; NAME must be named as the
#                          program that took its guest down
#   RVDPA_TEST_TIMEOUT     overrides the per-program limit in the guest
#   RVDPA_TEST_ENV="A=1 B=2"  variables the test programs get (make fuzz)
# Results and logs: out/results/ in the repository (RVDPA_RESULTS overrides):
# tap/NAME.tap and tap/NAME.rc per program, console-N.log and dmesg-N.log per
# guest, verdicts (what the watchdog saw).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=base
[ "${1:-}" = --flavour ] && flavour=$2
here=$(cd "$(dirname "$0")" && pwd)

# The work tree and the object tree are shared by every clone on this machine.
# The run holds the build lock from its build until its last guest ends:
# exclusively while it builds the kernel and the kselftests (so that no other
# clone's sync changes the sources in between), then shared, as its guests do.
mkdir -p "$RVDPA_CACHE/build"
exec 9>"$RVDPA_CACHE/build/.lock"
flock 9
RVDPA_LOCK_HELD=1 "$here/build.sh" --flavour "$flavour"
work=$("$here/sync-tree.sh")
out=$RVDPA_CACHE/build/$flavour
results=${RVDPA_RESULTS:-$RVDPA_TOP/out/results}
rm -rf "$results"
mkdir -p "$results/tap"
results=$(cd "$results" && pwd)
: > "$results/verdicts"
# (The guest reads these from the results directory.)
[ -n "${RVDPA_TEST_PANIC:-}" ] && echo "$RVDPA_TEST_PANIC" > "$results/test-panic"
[ -n "${RVDPA_TEST_TIMEOUT:-}" ] && echo "$RVDPA_TEST_TIMEOUT" > "$results/test-timeout"
# Variables for the test programs, "NAME=VALUE ..." (make fuzz passes the seeds so).
[ -n "${RVDPA_TEST_ENV:-}" ] && printf '%s\n' $RVDPA_TEST_ENV > "$results/test-env"

log "checking the result summarizer on the host"
rc=0
python3 "$here/test_summarize.py" > "$results/tap/host:test_summarize.py.tap" 2>&1 || rc=$?
echo "$rc" > "$results/tap/host:test_summarize.py.rc"

log "building the kselftests"
rvdpa_make_args
make -s -C "$work" O="$out" "${RVDPA_MAKE_ARGS[@]}" headers
make -s -C "$work/tools/testing/selftests" TARGETS=vdpa O="$RVDPA_CACHE/ksft-$flavour" \
	KHDR_INCLUDES="-isystem $out/usr/include" CC=gcc \
	INSTALL_PATH="$results/kselftest" install >/dev/null
cp "$here/guest-tests.sh" "$results/guest-tests.sh"
flock -s 9

# The programs, in the order of the Makefile's TEST_PROGS.
mapfile -t all < <(sed -n 's/^vdpa://p' "$results/kselftest/kselftest-list.txt")
tests=()
if [ -n "${RVDPA_TESTS:-}" ]; then
	for t in $RVDPA_TESTS; do
		printf '%s\n' "${all[@]}" | grep -qx -- "$t" || die "no test program '$t' (have: ${all[*]})"
		tests+=("$t")
	done
else
	tests=("${all[@]}")
fi
limit=$(sed -n 's/^timeout=//p' "$results/kselftest/vdpa/settings")
limit=${RVDPA_TEST_TIMEOUT:-${limit:-600}}
grace=${RVDPA_WATCHDOG_GRACE:-120}
boot_timeout=${RVDPA_BOOT_TIMEOUT:-600}
run_start=$(date +%s)
deadline=$((run_start + ${RVDPA_RUN_DEADLINE:-3600}))

verdict() { printf '%s\t%s\n' "$1" "$2" >> "$results/verdicts"; log "$1: $2"; }
finished() { [ -f "$results/tap/$1.rc" ]; }

rvdpa_use_qemu
kver="Debian linux-source $(cat "$work/.debian-version" 2>/dev/null || echo '(own tree)'), $(cat "$out/include/config/kernel.release")"
qver=$(qemu-system-x86_64 --version | head -n 1)
printf 'kernel: %s (pinned: %s)\nQEMU: %s (pinned: %s)\n' "$kver" "$RVDPA_KERNEL_VERSION" \
	"$qver" "$RVDPA_QEMU_VERSION" | tee "$results/versions" >&2
functions=$(rvdpa_test_functions "$results")
remaining=("${tests[@]}")
boot=0
logs=()
while [ ${#remaining[@]} -gt 0 ]; do
	boot=$((boot + 1))
	if [ "$(date +%s)" -ge "$deadline" ]; then
		for t in "${remaining[@]}"; do verdict "$t" "not run: the run passed its deadline"; done
		break
	fi
	console=$results/console-$boot.log
	logs+=("$console")
	rm -f "$results/progress"
	log "guest $boot (TCG unless RVDPA_KVM=1): ${remaining[*]}"
	# vm.sh in a process group of its own, so that the watchdog can end it
	# (QEMU included) at once.
	RVDPA_RESULTS="$results" setsid "$here/vm.sh" --flavour "$flavour" --log "$console" \
		--qemu-opts "$functions" -- "$results/guest-tests.sh" "$results" "${remaining[@]}" \
		> "$results/vm-$boot.log" 2>&1 < /dev/null &
	vm=$!
	started=$(date +%s)
	last= since=$started why= frozen=
	while kill -0 "$vm" 2>/dev/null; do
		sleep 2
		now=$(date +%s)
		p=$(cat "$results/progress" 2>/dev/null || true)
		[ "$p" != "$last" ] && last=$p && since=$now
		cur=${p%% *}
		if [ -z "$p" ] && [ $((now - started)) -gt "$boot_timeout" ]; then
			why="the guest did not start its first program within $boot_timeout s"
		elif [ -n "$p" ] && [ "$cur" != done ] && [ $((now - since)) -gt $((limit + grace)) ]; then
			why="hung: no result after $((now - since)) s (limit $limit s + $grace s); the host ended the guest"
		elif [ "$now" -ge "$deadline" ]; then
			why="the run passed its deadline ($((now - run_start)) s); the host ended the guest"
		fi
		if [ -z "$frozen" ] && [ -n "${RVDPA_TEST_HANG:-}" ] && [ "$cur" = "$RVDPA_TEST_HANG" ]; then
			log "test knob RVDPA_TEST_HANG: freezing the guest in $cur"
			pkill -STOP -g "$vm" -f qemu-system || true
			frozen=1
		fi
		if [ -n "$why" ]; then
			kill -KILL -- "-$vm" 2>/dev/null || true
			break
		fi
	done
	wait "$vm" 2>/dev/null || true
	[ -f "$results/dmesg.log" ] && mv "$results/dmesg.log" "$results/dmesg-$boot.log" &&
		logs+=("$results/dmesg-$boot.log")

	p=$(cat "$results/progress" 2>/dev/null || true)
	cur=${p%% *}
	if [ -z "$p" ]; then
		# Not one program started: another guest would do no better.
		for t in "${remaining[@]}"; do
			verdict "$t" "not run: ${why:-the guest ended before its first program} (console: ${console#"$RVDPA_TOP"/})"
		done
		break
	fi
	if [ "$cur" != done ] && ! finished "$cur"; then
		if [ -z "$why" ]; then
			if grep -q 'Kernel panic' "$console"; then
				why="the kernel panicked while it ran"
			else
				why="the guest ended while it ran"
			fi
		fi
		verdict "$cur" "$why (console: ${console#"$RVDPA_TOP"/})"
	fi
	next=()
	for t in "${remaining[@]}"; do
		finished "$t" || [ "$t" = "$cur" ] || next+=("$t")
	done
	remaining=("${next[@]+"${next[@]}"}")
	[ -n "$why" ] && [ ${#remaining[@]} -gt 0 ] && log "the remaining programs run in a fresh guest"
done
log "guests ran for $(($(date +%s) - run_start)) s ($boot boot(s)); results in ${results#"$RVDPA_TOP"/}"

args=(--results "$results" --test "host:test_summarize.py")
for t in "${tests[@]}"; do args+=(--test "$t"); done
for l in "${logs[@]}"; do args+=(--log "$l"); done
python3 "$here/summarize.py" "${args[@]}"
