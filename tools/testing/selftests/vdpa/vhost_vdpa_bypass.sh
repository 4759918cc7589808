#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The irq bypass wiring of the PCI parents (our vdpa_rpci, the C vp_vdpa as
# the reference): with the function's vDPA device bound to vhost_vdpa (or to
# the mdev bridge, vfio_vdpa, and driven through an mdev: "+vfio"), a test
# consumer (rust_irq_bypass_probe.ko, in KVM's place) on a queue's call
# eventfd must be connected to that queue's MSI-X IRQ, and disconnected when
# the call eventfd is cleared or the device reset. See vhost_vdpa_bypass.c.
. "$(dirname "$0")/lib.sh"

NET=0000:00:10.0
PARENTS=${VDPA_PCI_PARENTS:-vdpa_rpci:vdpa_rpci vp_vdpa:vp-vdpa vdpa_rpci:vdpa_rpci+vfio}
DEV=ksft-bypass0

# The program's tests, on the device's node.
t_program() {
	test_desc "$mod: vhost_vdpa_bypass"
	ktap_run_program "$mod:" "$DIR/vhost_vdpa_bypass" "$node" $NET
}
TESTS=(t_program)

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "the vdpa tool (iproute2)" vdpa help
vdpa_require "the test function $NET" test -e /sys/bus/pci/devices/$NET
# vhost-vdpa attaches the function to an IOMMU domain of its own.
vdpa_require "an IOMMU for $NET (a vIOMMU in the guest)" test -e /sys/bus/pci/devices/$NET/iommu_group
vdpa_require "the irq bypass probe (rust_irq_bypass_probe.ko)" modprobe rust_irq_bypass_probe
test_runs_program t_program "$DIR/vhost_vdpa_bypass"
set -- $PARENTS
tests_set_plan $# "${TESTS[@]}"
ulimit -l unlimited

cleanup() {
	vdpa dev del "$DEV" 2>/dev/null
	pci_native $NET >/dev/null 2>&1
	modprobe -r vhost_vdpa vfio_vdpa rust_irq_bypass_probe 2>/dev/null
}
trap cleanup EXIT

for parent in "$@"; do
	mod=${parent%%:*}
	drv=${parent#*:}
	vfio=
	[ "${drv%+vfio}" != "$drv" ] && vfio=1 drv=${drv%+vfio} mod="$mod through vfio_vdpa"
	if ! modprobe "${parent%%:*}" 2>/dev/null || ! pci_give $NET "$drv"; then
		skip_tests "$mod: the parent cannot take $NET" "${TESTS[@]}"
		continue
	fi
	modprobe -r virtio_vdpa 2>/dev/null
	if [ -n "$vfio" ]; then
		modprobe vfio_vdpa
		pci_dev_add "$DEV" "$NET"
		type=/sys/bus/vdpa/devices/$DEV/mdev_supported_types/vfio_vdpa-net
		uuid=$(cat /proc/sys/kernel/random/uuid)
		node=vfio:$uuid
		if ! vdpa_bind "$DEV" vfio_vdpa || ! wait_for test -d "$type" ||
			! echo "$uuid" > "$type/create" ||
			! wait_for test -e "/sys/bus/mdev/devices/$uuid/iommu_group"; then
			fail_tests "$mod: no mdev of $DEV" "${TESTS[@]}"
			node=
		fi
	else
		modprobe vhost_vdpa
		pci_dev_add "$DEV" "$NET"
		wait_for vdpa_vhost_of "$DEV"
		node=/dev/$(vdpa_vhost_of "$DEV")
		wait_for test -c "$node"
	fi
	[ -n "$node" ] && run_tests "${TESTS[@]}"
	vdpa dev del "$DEV"
	pci_native $NET
	modprobe -r vhost_vdpa vfio_vdpa "${parent%%:*}" 2>/dev/null
done
ktap_finished
