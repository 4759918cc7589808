#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark (not a test): one guest boot, the Rust simulator and the C
# one measured side by side with the same clients, then the same PCI
# functions natively, through vp_vdpa and through vdpa_rpci; ratios printed. Under TCG
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
rvdpa_use_qemu
RVDPA_RESULTS="$results" "$(dirname "$0")/vm.sh" --flavour "$flavour" --log "$results/console.log" \
	--qemu-opts "$(rvdpa_test_functions "$results")" -- \
	env BENCH_SECS="${BENCH_SECS:-10}" BENCH_PARTS="${BENCH_PARTS:-sim pci}" \
	BENCH_PCI_ORDER="${BENCH_PCI_ORDER:-native vp_vdpa:vp-vdpa vdpa_rpci:vdpa_rpci}" \
	"$RVDPA_TOP/tools/rvdpa/bench-guest.sh"
