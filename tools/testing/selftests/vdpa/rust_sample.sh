#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Our Rust sample modules: rust_rvdpa_hello loads with a parameter, computes
# from it, refuses a bad one, and unloads; rust_vdpa_sink, the minimal vDPA
# parent, swallows and counts the frames the kernel's virtio-net sends it.
. "$(dirname "$0")/lib.sh"

MOD=rust_rvdpa_hello

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "module $MOD" modinfo "$MOD"
ktap_set_plan 11

rmmod "$MOD" 2>/dev/null
dmesg -C
check "modprobe $MOD terms=37 succeeds" modprobe "$MOD" terms=37
check "it is loaded" test -d "/sys/module/$MOD"
check "it computed 1+...+37 = 703" sh -c "dmesg | grep -q '$MOD: loaded: terms=37 sum=703'"
check "rmmod succeeds and it is gone" sh -c "rmmod $MOD && ! [ -d /sys/module/$MOD ]"
check "its exit ran" sh -c "dmesg | grep -q '$MOD: unloaded: terms=37'"
check "terms=5000 is refused with EINVAL and nothing stays loaded" \
	sh -c "! modprobe $MOD terms=5000 2>/dev/null && ! [ -d /sys/module/$MOD ] &&
		dmesg | grep -q 'terms=5000 is out of range'"

# The minimal vDPA parent.
sink_frames() {
	vdpa dev vstats show sink0 qidx 1 | grep -o "frames swallowed [0-9]*" | awk '{print $NF}'
}
if modinfo rust_vdpa_sink >/dev/null 2>&1; then
	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
	check "rust_vdpa_sink: loads and lists its mgmtdev" \
		sh -c "modprobe rust_vdpa_sink && vdpa mgmtdev show | grep -q '^faux/rust_vdpa_sink:'"
	check "rust_vdpa_sink: dev add succeeds" vdpa dev add name sink0 mgmtdev faux/rust_vdpa_sink
	modprobe virtio_vdpa
	check "rust_vdpa_sink: a netdev appears under virtio_vdpa" wait_for vdpa_netdev_of sink0
	ifname=$(vdpa_netdev_of sink0)
	ip link set dev "${ifname:-none}" up 2>/dev/null
	before=$(sink_frames)
	"$DIR/vdpa_net_loop" "${ifname:-none}" ff:ff:ff:ff:ff:ff 60 600 60 none >/dev/null
	after=$(sink_frames)
	check "rust_vdpa_sink: the 10 frames sent were swallowed and counted (${before:-?} -> ${after:-?})" \
		test "$((${after:-0} - ${before:-0}))" -ge 10
	check "rust_vdpa_sink: dev del and unload" \
		sh -c "vdpa dev del sink0 && modprobe -r virtio_vdpa && modprobe -r rust_vdpa_sink"
else
	for i in 1 2 3 4 5; do ktap_test_skip "rust_vdpa_sink is not built"; done
fi
ktap_finished
