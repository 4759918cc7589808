#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The Rust sample vDPA parent, rust_vdpa_sink: it gets a device, a netdev
# under virtio_vdpa, and uses every frame the kernel's virtio-net sends it
# (virtio-net counts a sent frame when the device gives its buffer back).
. "$(dirname "$0")/lib.sh"

MOD=rust_vdpa_sink

t_load() {
	test_desc "$MOD: loads and lists its mgmtdev"
	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
	modprobe "$MOD" && vdpa mgmtdev show | grep -q "^faux/$MOD:"
}

t_dev_add() {
	test_desc "$MOD: dev add succeeds"
	vdpa dev add name sink0 mgmtdev "faux/$MOD"
}

t_netdev() {
	test_desc "$MOD: a netdev appears under virtio_vdpa"
	modprobe virtio_vdpa
	wait_for vdpa_netdev_of sink0
	local r=$?
	ifname=$(vdpa_netdev_of sink0)
	return $r
}

t_frames_used() {
	test_desc "$MOD: the device used the 10 frames sent (the netdev's tx_packets)"
	ip link set dev "${ifname:-none}" up
	vdpa_send_used "${ifname:-none}"
}

t_del_unload() {
	test_desc "$MOD: dev del and unload"
	vdpa dev del sink0 && modprobe -r virtio_vdpa && modprobe -r "$MOD"
}

TESTS=(t_load t_dev_add t_netdev t_frames_used t_del_unload)

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "module $MOD" modinfo "$MOD"
tests_set_plan 1 "${TESTS[@]}"
run_tests "${TESTS[@]}"
ktap_finished
