#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Shows the main job in a guest: a simulated vDPA net device is created with
# iproute2's vdpa tool, bound to virtio_vdpa (the kernel's virtio-net driver
# runs on it), passes frames that come back, then is rebound to vhost_vdpa and
# shows up as /dev/vhost-vdpa-N for userspace.
#
# Usage: demo.sh [--flavour base|debug]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=base
[ "${1:-}" = --flavour ] && flavour=$2
work=$("$(dirname "$0")/sync-tree.sh")
out=$RVDPA_CACHE/build/$flavour
results=$RVDPA_TOP/out/demo
mkdir -p "$results"
gcc -O2 -Wall -o "$results/vdpa_net_loop" "$RVDPA_TOP/tools/testing/selftests/vdpa/vdpa_net_loop.c"

cat > "$results/demo-guest.sh" <<'GUEST'
#!/bin/bash
set -e
here=$(dirname "$0")
# The parent: our Rust simulator (DEMO_MODULE=vdpa_sim_net DEMO_MGMTDEV=vdpasim_net for the C one).
MOD=${DEMO_MODULE:-vdpa_rsim}
MGMT=${DEMO_MGMTDEV:-faux/vdpa_rsim_net}
step() { echo; echo "### $*"; }
run() { echo "\$ $*"; "$@"; }

step "Load the simulated parent and list management devices"
run modprobe "$MOD"
run vdpa mgmtdev show
step "Create a vDPA net device with a MAC and an MTU"
run vdpa dev add name demo0 mgmtdev "$MGMT" mac 02:52:56:11:22:33 mtu 1500
run vdpa dev show demo0
run vdpa dev config show demo0
step "Bind it to virtio_vdpa: the kernel's virtio-net driver drives it"
run modprobe virtio_vdpa
for i in $(seq 50); do
	ifname=$(ls /sys/bus/vdpa/devices/demo0/virtio*/net 2>/dev/null | head -n 1)
	[ -n "$ifname" ] && break
	sleep 0.2
done
echo "netdev: $ifname"
run ip link set dev "$ifname" up
run ip -br link show dev "$ifname"
step "Send frames of 60..1514 bytes; each must come back with the same bytes"
run "$here/vdpa_net_loop" "$ifname" 02:52:56:11:22:33 60 1514 97
run vdpa dev vstats show demo0 qidx 0
run vdpa dev vstats show demo0 qidx 1
run ip -s link show dev "$ifname"
step "Rebind it to vhost_vdpa: userspace (QEMU, DPDK...) can now drive it"
run modprobe vhost_vdpa
echo demo0 > /sys/bus/vdpa/drivers/virtio_vdpa/unbind
echo vhost_vdpa > /sys/bus/vdpa/devices/demo0/driver_override
echo demo0 > /sys/bus/vdpa/drivers/vhost_vdpa/bind
run ls -l /sys/bus/vdpa/devices/demo0/driver
run ls -l /dev/vhost-vdpa-*
step "Delete it"
run vdpa dev del demo0
run vdpa dev show
echo
echo "demo: OK"
GUEST
chmod +x "$results/demo-guest.sh"

log "booting the guest (TCG unless RVDPA_KVM=1); console log in $results/console.log"
RVDPA_RESULTS="$results" "$(dirname "$0")/vm.sh" --flavour "$flavour" --log "$results/console.log" \
	-- "$results/demo-guest.sh"
