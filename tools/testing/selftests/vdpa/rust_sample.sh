#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The Rust sample vDPA parent, rust_vdpa_sink: it gets a device, a netdev
# under virtio_vdpa, and uses every frame the kernel's virtio-net sends it
# (virtio-net counts a sent frame when the device gives its buffer back).
. "$(dirname "$0")/lib.sh"

MOD=rust_vdpa_sink

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "module $MOD" modinfo "$MOD"
ktap_set_plan 5

modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
check "$MOD: loads and lists its mgmtdev" \
	sh -c "modprobe $MOD && vdpa mgmtdev show | grep -q '^faux/$MOD:'"
check "$MOD: dev add succeeds" vdpa dev add name sink0 mgmtdev "faux/$MOD"
modprobe virtio_vdpa
check "$MOD: a netdev appears under virtio_vdpa" wait_for vdpa_netdev_of sink0
ifname=$(vdpa_netdev_of sink0)
ip link set dev "${ifname:-none}" up
check "$MOD: the device used the 10 frames sent (the netdev's tx_packets)" \
	vdpa_send_used "${ifname:-none}"
check "$MOD: dev del and unload" \
	sh -c "vdpa dev del sink0 && modprobe -r virtio_vdpa && modprobe -r $MOD"
ktap_finished
