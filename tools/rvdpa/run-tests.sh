#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite: builds the kernel and the kselftests, boots a guest,
# runs the vdpa kselftests (and reports this boot's KUnit results), checks the
# guest's kernel log for splats, and prints "N passed, N failed[, N skipped]".
# Exits non-zero on any failure.
#
# Usage: run-tests.sh [--flavour base|debug]
# RVDPA_TESTS="vdpa_net.sh kunit.sh" runs only those kselftests.
# (The kselftest runner's output goes through a pipe: it appends nested
# results to /dev/stdout, which interleaves wrongly on a plain file.)
# Results and logs: out/results/ in the repository (RVDPA_RESULTS overrides).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=base
[ "${1:-}" = --flavour ] && flavour=$2

"$(dirname "$0")/build.sh" --flavour "$flavour"
work=$("$(dirname "$0")/sync-tree.sh")
out=$RVDPA_CACHE/build/$flavour
results=${RVDPA_RESULTS:-$RVDPA_TOP/out/results}
rm -rf "$results"
mkdir -p "$results"
results=$(cd "$results" && pwd)

log "checking the result summarizer on the host"
{
	echo "# selftests: host: test_summarize.py"
	if python3 "$(dirname "$0")/test_summarize.py" > "$results/host-summarize.log" 2>&1; then r=ok; else r="not ok"; fi
	sed 's/^/# /' "$results/host-summarize.log"
	echo "$r 1 selftests: host: test_summarize.py"
} > "$results/host.tap"

log "building the kselftests"
rvdpa_make_args
make -s -C "$work" O="$out" "${RVDPA_MAKE_ARGS[@]}" headers
make -s -C "$work/tools/testing/selftests" TARGETS=vdpa O="$RVDPA_CACHE/ksft-$flavour" \
	KHDR_INCLUDES="-isystem $out/usr/include" CC=gcc \
	INSTALL_PATH="$results/kselftest" install >/dev/null

log "running the tests in a guest (TCG unless RVDPA_KVM=1)"
start=$(date +%s)
status=0
only=
for t in ${RVDPA_TESTS:-}; do
	only="$only -t vdpa:$t"
done
rvdpa_use_qemu
RVDPA_RESULTS="$results" "$(dirname "$0")/vm.sh" --flavour "$flavour" --log "$results/console.log" \
	--qemu-opts "$(rvdpa_test_functions "$results")" -- \
	bash -c "cd '$results/kselftest' && ./run_kselftest.sh $only 2>&1 | cat > '$results/kselftest.tap';
		dmesg > '$results/dmesg.log'" >/dev/null || status=$?
log "guest ran for $(($(date +%s) - start)) s"

python3 "$(dirname "$0")/summarize.py" --guest-status "$status" \
	--tap "$results/host.tap" --tap "$results/kselftest.tap" \
	--log "$results/console.log" --log "$results/dmesg.log"
