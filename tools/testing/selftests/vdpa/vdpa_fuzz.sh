#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The seeded fuzzer (vdpa_fuzz.c) on the simulators' loopback net devices:
# the Rust simulator and the C one, each through vhost_vdpa and through the
# mdev bridge (vfio_vdpa, a type1 container), each with every
# seed of VDPA_FUZZ_SEEDS for VDPA_FUZZ_STEPS steps. A failed liveness probe
# prints the seed and the steps before it; the kernel log must stay clean
# (the harness reads it). `make fuzz SEED=.. STEPS=..` runs one seed longer.
. "$(dirname "$0")/lib.sh"

# Seeds, separated by spaces or commas.
SEEDS=${VDPA_FUZZ_SEEDS:-1 2 3 4}
STEPS=${VDPA_FUZZ_STEPS:-1500}
# The debug flavour's kernel is several times slower: fewer, unless asked.
vdpa_debug_kernel && SEEDS=${VDPA_FUZZ_SEEDS:-1 2} && STEPS=${VDPA_FUZZ_STEPS:-200}
SEEDS=${SEEDS//,/ }
MAC=02:52:56:66:77:88
DEV=ksft-fuzz0
# "module:management device:driver"
TARGETS="vdpa_rsim:faux/vdpa_rsim_net:vhost_vdpa vdpa_sim_net:vdpasim_net:vhost_vdpa"
TARGETS="$TARGETS vdpa_rsim:faux/vdpa_rsim_net:vfio_vdpa vdpa_sim_net:vdpasim_net:vfio_vdpa"

t_fuzz() {
	test_desc "$what: vdpa_fuzz seed $seed"
	ktap_run_program "$what seed $seed:" "$DIR/vdpa_fuzz" "$node" "$seed" "$STEPS"
}
TESTS=(t_fuzz)

cleanup() {
	[ -n "${UUID:-}" ] && [ -e "/sys/bus/mdev/devices/$UUID" ] &&
		echo 1 > "/sys/bus/mdev/devices/$UUID/remove"
	vdpa dev del "$DEV" 2>/dev/null
	modprobe -r vhost_vdpa vfio_vdpa vdpa_sim_net vdpa_sim vdpa_rsim 2>/dev/null
}
trap cleanup EXIT

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "the vdpa tool (iproute2)" vdpa help
test_runs_program t_fuzz "$DIR/vdpa_fuzz"
set -- $TARGETS
tests_set_plan $(($# * $(echo $SEEDS | wc -w))) "${TESTS[@]}"
ulimit -l unlimited
modprobe -r virtio_vdpa 2>/dev/null

for target in "$@"; do
	IFS=: read -r mod mgmt drv <<< "$target"
	what="$mod through $drv"
	node=
	# The C simulators translate IOVAs to physical addresses only so.
	case "$mod" in vdpa_sim_*) modprobe -r "$mod" vdpa_sim 2>/dev/null; modprobe vdpa_sim use_va=0 ;; esac
	if modprobe "$mod" 2>/dev/null && modprobe "$drv" 2>/dev/null &&
		vdpa dev add name "$DEV" mgmtdev "$mgmt" mac "$MAC" &&
		wait_for vdpa_dev_exists "$DEV" && vdpa_bind "$DEV" "$drv"; then
		if [ "$drv" = vfio_vdpa ]; then
			type=/sys/bus/vdpa/devices/$DEV/mdev_supported_types/vfio_vdpa-net
			UUID=$(cat /proc/sys/kernel/random/uuid)
			wait_for test -d "$type" && echo "$UUID" > "$type/create" &&
				wait_for test -e "/sys/bus/mdev/devices/$UUID/iommu_group" &&
				node=vfio:$UUID
		else
			wait_for vdpa_vhost_of "$DEV" && node=/dev/$(vdpa_vhost_of "$DEV") &&
				wait_for test -c "$node" || node=
		fi
	fi
	for seed in $SEEDS; do
		if [ -n "$node" ]; then
			run_tests "${TESTS[@]}"
		else
			fail_tests "$what: no device to fuzz" "${TESTS[@]}"
		fi
	done
	cleanup
	UUID=
done
ktap_finished
