#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vDPA parents driven from userspace through vhost_vdpa, the way a VMM drives
# them: vhost_vdpa_net.c for net parents (the default), vhost_vdpa_blk.c for
# blk parents ("vhost_vdpa.sh blk", which vhost_vdpa_blk.sh runs). Each parent
# is "module[@params]:mgmtdev"; the Rust simulator runs with both of its DMA
# models (whole IOTLBs through set_map, and one mapping at a time through
# dma_map/dma_unmap).
. "$(dirname "$0")/lib.sh"

TYPE=${1:-net}
case "$TYPE" in
net)
	PARENTS=${VDPA_VHOST_PARENTS:-vdpa_rsim:faux/vdpa_rsim_net vdpa_rsim@batch_mapping=0:faux/vdpa_rsim_net vdpa_sim_net:vdpasim_net}
	ADD_ARGS="mac 02:52:56:11:22:33"
	;;
blk)
	PARENTS=${VDPA_VHOST_BLK_PARENTS:-vdpa_rsim:faux/vdpa_rsim_blk vdpa_rsim@batch_mapping=0:faux/vdpa_rsim_blk vdpa_sim_blk:vdpasim_blk}
	ADD_ARGS=
	;;
*)
	echo "usage: $0 [net|blk]" >&2
	exit 2
	;;
esac
DEV=ksft-vhost0
# The C simulators run with use_va=0: IOTLB entries are physical addresses,
# as in the Rust simulator, which has no user-VA mode. (In its default
# use_va=1 mode, driven by this program, vdpa_sim_net fails to reach its
# rings: "vringh: Failed to access avail idx"; that is the C simulator's to
# answer.)
C_SIM_PARAMS="use_va=0"
# What the C simulators do that the tests do not accept, each skipped there
# with its reason (the programs read these variables).
C_SIM_SKIP_PA="the C simulator with use_va=0 maps physical memory one to one until the first mapping"
C_SIM_SKIP_STATUS="the C simulator advances past the status byte after a failed transfer"
C_SIM_SKIP_SIZE="the C simulator compares a request's sectors with seg_max x size_max, a number of bytes: it takes up to 64 MiB"

# The userspace driver's tests, on the device's node.
t_program() {
	test_desc "$name: vhost_vdpa_$TYPE"
	VHOST_VDPA_SKIP_PA=$skip_pa VHOST_VDPA_SKIP_STATUS=$skip_status VHOST_VDPA_SKIP_SIZE=$skip_size \
		ktap_run_program "$name:" "$DIR/vhost_vdpa_$TYPE" "$node"
}
TESTS=(t_program)

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "the vdpa tool (iproute2)" vdpa help
test_runs_program t_program "$DIR/vhost_vdpa_$TYPE"
set -- $PARENTS
tests_set_plan $# "${TESTS[@]}"
ulimit -l unlimited

cleanup() {
	vdpa dev del "$DEV" 2>/dev/null
	modprobe -r vhost_vdpa 2>/dev/null
}
trap cleanup EXIT

for parent in "$@"; do
	mod=${parent%%:*}
	mgmt=${parent#*:}
	params=
	case "$mod" in *@*) params=${mod#*@}; mod=${mod%%@*} ;; esac
	name=$mod${params:+ $params}
	case "$mod" in
	vdpa_sim_*)
		modprobe -r "$mod" vdpa_sim 2>/dev/null
		modprobe vdpa_sim $C_SIM_PARAMS 2>/dev/null
		;;
	esac
	modprobe -r "$mod" 2>/dev/null
	if ! modprobe "$mod" $params 2>/dev/null; then
		skip_tests "$name: module $mod is not available" "${TESTS[@]}"
		continue
	fi
	modprobe -r virtio_vdpa 2>/dev/null
	modprobe vhost_vdpa
	vdpa dev add name "$DEV" mgmtdev "$mgmt" $ADD_ARGS
	wait_for vdpa_vhost_of "$DEV"
	node=/dev/$(vdpa_vhost_of "$DEV")
	wait_for test -c "$node"
	skip_pa= skip_status= skip_size=
	case "$mod" in
	vdpa_sim_*) skip_pa=$C_SIM_SKIP_PA skip_status=$C_SIM_SKIP_STATUS skip_size=$C_SIM_SKIP_SIZE ;;
	esac
	run_tests "${TESTS[@]}"
	vdpa dev del "$DEV"
	modprobe -r vhost_vdpa "$mod" 2>/dev/null
	case "$mod" in vdpa_sim_*) modprobe -r vdpa_sim 2>/dev/null ;; esac
done
ktap_finished
