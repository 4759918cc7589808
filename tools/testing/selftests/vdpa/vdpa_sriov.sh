#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# SR-IOV: a virtio-net physical function with two virtual functions (QEMU's
# sriov-pf, see rvdpa_test_functions in tools/rvdpa/lib.sh; all three on one
# QEMU hub). With the PF bound to vdpa_rpci, enabling VFs through sysfs works
# and each VF gets its own management device; a VF's vDPA device passes
# frames to a sibling VF left to virtio_pci; disabling the VFs removes them
# and their vDPA devices cleanly, and so does unloading the module with a
# VF's device in use. The C vp_vdpa, which
# cannot manage a PF, is the reference for the VF part (its PF stays with
# virtio_pci).
. "$(dirname "$0")/lib.sh"

PARENTS=${VDPA_SRIOV_PARENTS:-vdpa_rpci:vdpa_rpci vp_vdpa:vp-vdpa}
DEV=ksft-vf0

# The first virtio function with SR-IOV virtual functions to offer.
sriov_pf() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor" 2>/dev/null)" = 0x1af4 ] &&
			[ "$(cat "$d/sriov_totalvfs" 2>/dev/null || echo 0)" -ge 2 ] &&
			basename "$d" && return 0
	done
	return 1
}

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "the vdpa tool (iproute2)" vdpa help
vdpa_require "an SR-IOV virtio-net function (QEMU with sriov-pf)" sriov_pf
PF=$(sriov_pf)

# The BDF of virtual function N of the PF.
vf() { basename "$(readlink "/sys/bus/pci/devices/$PF/virtfn$1")"; }

cleanup() {
	vdpa dev del "$DEV" 2>/dev/null
	echo 0 > "/sys/bus/pci/devices/$PF/sriov_numvfs" 2>/dev/null
	pci_native "$PF" >/dev/null 2>&1
}
trap cleanup EXIT

t_pf() {
	if [ "$mod" = vdpa_rpci ]; then
		test_desc "$p the PF binds to $drv"
		pci_give "$PF" "$drv"
	else
		# vp_vdpa has no sriov_configure: the PF stays with virtio_pci.
		test_desc "$p the PF stays with virtio_pci"
		pci_native "$PF"
	fi
}

t_enable_vfs() {
	test_desc "$p enabling 2 VFs through sriov_numvfs works"
	# The new VFs are probed by no driver until the test gives them one.
	echo 0 > "/sys/bus/pci/devices/$PF/sriov_drivers_autoprobe"
	echo 2 > "/sys/bus/pci/devices/$PF/sriov_numvfs"
}

t_vfs_appear() {
	vf0=$(vf 0)
	vf1=$(vf 1)
	test_desc "$p both VFs appear ($vf0, $vf1)"
	test -e "/sys/bus/pci/devices/$vf0/physfn" -a -e "/sys/bus/pci/devices/$vf1/physfn"
}

t_vf0_mgmtdev() {
	test_desc "$p VF 0 binds to $drv and has its own management device"
	pci_give "$vf0" "$drv" && vdpa mgmtdev show "pci/$vf0" | grep -q 'supported_classes net'
}

t_vf1_native() {
	test_desc "$p VF 1 goes to virtio_pci"
	pci_native "$vf1"
}

t_vf0_netdev() {
	test_desc "$p dev add on VF 0 gives a netdev"
	pci_dev_add $DEV "$vf0" && wait_for fn_netdev "$vf0"
}

t_vf0_to_vf1() {
	test_desc "$p frames from VF 0 reach VF 1 intact"
	n=$(fn_netdev "$vf0")
	peer=$(fn_netdev "$vf1")
	ip link set "$n" up
	ip link set "$peer" up
	"$DIR/vdpa_net_loop" "$n" "$(cat "/sys/class/net/$peer/address")" 60 1514 97 back "$peer"
}

t_vf1_to_vf0() {
	test_desc "$p frames from VF 1 reach VF 0 intact"
	"$DIR/vdpa_net_loop" "$peer" "$(cat "/sys/class/net/$n/address")" 60 1514 97 back "$n"
}

t_disable_vfs() {
	test_desc "$p disabling the VFs removes them and the vDPA device"
	echo 0 > "/sys/bus/pci/devices/$PF/sriov_numvfs" &&
		! vdpa_dev_exists $DEV && [ ! -e "/sys/bus/pci/devices/$vf0" ]
}

# The VFs outlive the PF's binding (see vdpa_rpci.rs: removing them from an
# unbind path would need a lock the path may already hold); the module unload
# still removes the VF's vDPA device, and the next PF driver disables them.
t_unload() {
	local v

	test_desc "$p unloading the module with a VF's device in use ends cleanly"
	if [ "$mod" != vdpa_rpci ]; then
		echo 0 > "/sys/bus/pci/devices/$PF/sriov_numvfs"
		test_skip "tested with vdpa_rpci"
		return
	fi
	echo 2 > "/sys/bus/pci/devices/$PF/sriov_numvfs" &&
		v=$(basename "$(readlink "/sys/bus/pci/devices/$PF/virtfn0")") &&
		pci_give "$v" "$drv" && pci_dev_add $DEV "$v" &&
		modprobe -r virtio_vdpa "$mod" && ! vdpa_dev_exists $DEV &&
		pci_native "$PF" && echo 0 > "/sys/bus/pci/devices/$PF/sriov_numvfs" &&
		[ ! -e "/sys/bus/pci/devices/$v" ]
}

TESTS=(t_pf t_enable_vfs t_vfs_appear t_vf0_mgmtdev t_vf1_native t_vf0_netdev t_vf0_to_vf1
	t_vf1_to_vf0 t_disable_vfs t_unload)

run_parent() { # run_parent <module> <pci driver>
	local mod=$1 drv=$2 p="$1:" vf0 vf1 n peer

	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
	if ! modprobe "$mod" 2>/dev/null; then
		skip_tests "$p module $mod is not available" "${TESTS[@]}"
		return
	fi
	modprobe virtio_vdpa
	run_tests "${TESTS[@]}"
	echo 1 > "/sys/bus/pci/devices/$PF/sriov_drivers_autoprobe"
	pci_native "$PF"
	modprobe -r virtio_vdpa "$mod" 2>/dev/null
}

set -- $PARENTS
tests_set_plan $# "${TESTS[@]}"
for parent in "$@"; do
	run_parent "${parent%%:*}" "${parent#*:}"
done
ktap_finished
