#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark (not a test): one guest boot, the Rust simulator and the C
# one measured side by side with the same clients, then the same PCI
# functions natively, through vp_vdpa and through vdpa_rpci, and each
# simulator's device and vdpa_rpci's through vhost_vdpa and through the mdev
# bridge; ratios printed. Under TCG
# compare ratios only, never absolute numbers.
#
# Usage: bench.sh [--flavour base|debug]   (BENCH_SECS sets the net duration)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=base
[ "${1:-}" = --flavour ] && flavour=$2
"$(dirname "$0")/build.sh" --flavour "$flavour" >/dev/null
results=$RVDPA_TOP/out/bench
mkdir -p "$results"
# The kselftest programs (vdpa_bench), built as the tests build them.
work=$("$(dirname "$0")/sync-tree.sh")
out=$RVDPA_CACHE/build/$flavour
rvdpa_make_args
make -s -C "$work" O="$out" "${RVDPA_MAKE_ARGS[@]}" headers
make -s -C "$work/tools/testing/selftests" TARGETS=vdpa O="$RVDPA_CACHE/ksft-$flavour" \
	KHDR_INCLUDES="-isystem $out/usr/include" CC=gcc \
	INSTALL_PATH="$results/kselftest" install >/dev/null
rvdpa_use_qemu
RVDPA_RESULTS="$results" "$(dirname "$0")/vm.sh" --flavour "$flavour" --log "$results/console.log" \
	--qemu-opts "$(rvdpa_test_functions "$results")" -- \
	env BENCH_SECS="${BENCH_SECS:-10}" BENCH_PARTS="${BENCH_PARTS:-sim bridge pci}" \
	BENCH_BIN="$results/kselftest/vdpa" \
	BENCH_PCI_ORDER="${BENCH_PCI_ORDER:-native vp_vdpa:vp-vdpa vdpa_rpci:vdpa_rpci}" \
	"$RVDPA_TOP/tools/rvdpa/bench-guest.sh"
