#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vhost_vdpa over the vDPA parents for virtio-pci functions (our vdpa_rpci,
# and the in-tree C vp_vdpa as the reference), and the mdev bridge over
# vdpa_rpci: the virtio-net function at 00:10.0 is given to the parent, its
# vDPA device to vhost_vdpa (or vfio_vdpa, then an mdev of it), and
# vhost_vdpa_net drives it from userspace in wire mode, with the function at
# 00:11.0 (on the same QEMU hub, left to virtio_pci) as the peer on the wire.
# See rvdpa_test_functions in tools/rvdpa/lib.sh for the QEMU side: the guest
# needs a virtual IOMMU in front of 00:10.0, for vhost_vdpa gives the
# function an IOMMU domain of its own and maps the process's memory there.
#
# Besides the program's tests: the IOMMU reports the faults the program
# provokes (DMA to IOVAs the device was not given) as faults, and once given
# back to virtio_pci the function works as before.
. "$(dirname "$0")/lib.sh"

NET=0000:00:10.0
PEER=0000:00:11.0
# Each parent is "module:pci driver name", "+vfio" after it to drive the
# vDPA device through the mdev bridge (vfio_vdpa, a type1 container;
# "+iommufd": the mdev's cdev and an IOAS; the
# bridge owns the function's IOMMU domain) instead of vhost_vdpa.
PARENTS=${VDPA_PCI_PARENTS:-vdpa_rpci:vdpa_rpci vp_vdpa:vp-vdpa vdpa_rpci:vdpa_rpci+vfio vdpa_rpci:vdpa_rpci+iommufd}
DEV=ksft-vpci0

# The number of IOMMU faults of the function the kernel logged, at IOVAs that
# start with the given hex digits: Intel's DMAR reports name the function,
# virtio-iommu's its endpoint (the requester ID, 0x80 for 00:10.0).
iommu_faults() { # iommu_faults <iova prefix, e.g. 0x2000>
	dmesg | grep -cE "DMAR: .*Request device \[(0000:)?00:10\.0\] fault addr $1|virtio_iommu .*page fault from EP 128 at $1"
}

# The faults the program provokes: at IOVA 0x20000000 (never mapped) and in
# its memory at 0x40000000 (invalidated, or past its end). virtio-iommu
# reports a fault per word, rate-limited, so that the later ones may be
# suppressed: with it, any new fault of the function counts.
faults_logged() { # faults_logged <counts before: never, memory, any>
	if ls /sys/bus/virtio/drivers/virtio_iommu 2>/dev/null | grep -q virtio; then
		test "$(iommu_faults 0x)" -gt "$3"
	else
		test "$(iommu_faults 0x20000000)" -gt "$1" -a "$(iommu_faults 0x40[01])" -gt "$2"
	fi
}

cleanup() {
	vdpa dev del "$DEV" 2>/dev/null
	modprobe -r vhost_vdpa vfio_vdpa 2>/dev/null
	pci_native $NET >/dev/null 2>&1
}
trap cleanup EXIT

t_bind() {
	test_desc "$p: the net function binds to $drv"
	pci_give $NET "$drv"
}

t_dev_add() {
	test_desc "$p: dev add succeeds"
	pci_dev_add "$DEV" "$NET"
}

t_vhost_node() {
	if [ -n "$vfio" ]; then
		test_desc "$p: bound to vfio_vdpa, an mdev is made of it"
		local type=/sys/bus/vdpa/devices/$DEV/mdev_supported_types/vfio_vdpa-net
		local uuid
		uuid=$(cat /proc/sys/kernel/random/uuid)
		node=$vfio:$uuid
		UUID=$uuid
		[ "$vfio" = vfio ] || [ -c /dev/iommu ] || { echo "no /dev/iommu"; return 1; }
		vdpa_bind "$DEV" vfio_vdpa && wait_for test -d "$type" &&
			echo "$uuid" > "$type/create" &&
			wait_for test -e "/sys/bus/mdev/devices/$uuid/iommu_group"
		return
	fi
	test_desc "$p: vhost_vdpa gives it a /dev/vhost-vdpa-N"
	wait_for vdpa_vhost_of "$DEV"
	local r=$?
	node=/dev/$(vdpa_vhost_of "$DEV")
	return $r
}

# vhost_vdpa_net in wire mode, with the peer at the other end.
t_program() {
	test_desc "$p: vhost_vdpa_net"
	faults="$(iommu_faults 0x20000000) $(iommu_faults 0x40[01]) $(iommu_faults 0x)"
	[ -n "$vfio" ] || wait_for test -c "$node"
	VHOST_VDPA_PCI_BDF=$NET ktap_run_program "$p:" "$DIR/vhost_vdpa_net" "$node" "$peer"
}

t_faults() {
	test_desc "$p: the IOMMU logged faults at the IOVA never mapped and in the invalidated memory"
	faults_logged $faults
}

# Through the bridge: a doorbell page of the NOTIFY region maps and a store
# to it works, after a reset too (which takes the page out of the process's
# page tables: it faults in again); once the mdev is removed, the mapping is
# gone (SIGBUS), before the holder closes the device.
t_doorbell_revoked() {
	test_desc "$p: a mapped doorbell works, after a reset too, and faults (SIGBUS) once the mdev is removed"
	if [ -z "$vfio" ]; then
		test_skip "NOTIFY mappings are the bridge's; vhost_vdpa's are tested by vhost_vdpa_net"
		return
	fi
	local mdev=/sys/bus/mdev/devices/$UUID group bell before reset again after pid i
	group=/dev/vfio/$(basename "$(readlink "$mdev/iommu_group")")
	hold_start "$group" "$UUID" || return 1
	bell=$(hold_ask bell)
	before=$(hold_ask touch)
	reset=$(hold_ask reset)
	again=$(hold_ask touch)
	(echo 1 > "$mdev/remove") &
	pid=$!
	# The revoke is the remove's first step; the remove then waits for the close.
	for i in $(seq 50); do
		after=$(hold_ask touch)
		[ "$after" != ok ] && break
		sleep 0.2
	done
	hold_stop
	pid_ends_within "$pid" || { echo "the remove did not end after the close"; return 1; }
	echo "map: $bell; store: $before; reset: $reset, store: $again; after the remove: $after"
	[ "$bell" = 0 ] && [ "$before" = ok ] && [ "$reset" = 0 ] && [ "$again" = ok ] &&
		[ "$after" = sigbus ] && [ ! -e "$mdev" ]
}

t_dev_del() {
	test_desc "$p: dev del removes the device"
	vdpa dev del "$DEV" && ! vdpa_dev_exists "$DEV"
}

# Gives the function back to virtio_pci; frames must then reach the peer.
t_native_works() {
	local n

	test_desc "$p: the function works again under virtio_pci"
	pci_native $NET && wait_for fn_netdev $NET && n=$(fn_netdev $NET) && ip link set "$n" up &&
		"$DIR/vdpa_net_loop" "$n" 52:54:00:72:76:11 60 600 90 back "$peer" >/dev/null
}

TESTS=(t_bind t_dev_add t_vhost_node t_program t_faults t_doorbell_revoked t_dev_del t_native_works)

run_parent() { # run_parent <module> <pci driver>[+vfio|+iommufd]
	local mod=$1 drv=${2%+*} p="$1" peer node faults vfio=

	[ "$drv" != "$2" ] && vfio=${2#*+} p="$1 through vfio_vdpa"
	[ "$vfio" = iommufd ] && p="$p (iommufd)"
	modprobe -r virtio_vdpa vhost_vdpa vfio_vdpa 2>/dev/null
	if ! modprobe "$mod" 2>/dev/null; then
		skip_tests "$p: module $mod is not available" "${TESTS[@]}"
		return
	fi
	if [ -n "$vfio" ]; then
		modprobe vfio_vdpa
	else
		modprobe vhost_vdpa
	fi
	pci_native $PEER
	peer=$(fn_netdev $PEER)
	# The peer stays quiet on the wire: no IPv6 autoconfiguration traffic.
	sysctl -qw "net.ipv6.conf.$peer.disable_ipv6=1" 2>/dev/null
	ip link set "$peer" up
	run_tests "${TESTS[@]}"
	modprobe -r vhost_vdpa vfio_vdpa "$mod" 2>/dev/null
}

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "the vdpa tool (iproute2)" vdpa help
vdpa_require "the test functions (QEMU options from rvdpa_test_functions)" \
	test -e /sys/bus/pci/devices/$NET -a -e /sys/bus/pci/devices/$PEER
vdpa_require "an IOMMU in front of $NET (QEMU's intel-iommu with intel_iommu=on, or virtio-iommu-pci)" \
	test -e /sys/bus/pci/devices/$NET/iommu_group
test_runs_program t_program "$DIR/vhost_vdpa_net" wire
set -- $PARENTS
tests_set_plan $# "${TESTS[@]}"
ulimit -l unlimited

for parent in "$@"; do
	run_parent "${parent%%:*}" "${parent#*:}"
done
ktap_finished
