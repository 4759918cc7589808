#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vDPA net parents, driven through iproute2's vdpa tool, the kernel's
# virtio-net driver over virtio_vdpa, and vhost_vdpa.
#
# Each parent is "module:mgmtdev". The in-tree C simulator is the reference;
# a parent whose module is not built is reported as skipped.
. "$(dirname "$0")/lib.sh"

PARENTS=${VDPA_NET_PARENTS:-vdpa_sim_net:vdpasim_net vdpa_rsim:faux/vdpa_rsim_net}
# No zero byte in the MACs: the C simulator compares MACs with strncmp(),
# which stops at the first zero byte and would accept a foreign MAC.
MAC=02:52:56:11:22:33
MAC2=02:52:56:11:22:44
MTU=1400
DEV=ksft-net0

ktap_print_header
vdpa_require "the vdpa tool (iproute2)" vdpa help
vdpa_require "root" test "$(id -u)" = 0

cleanup() {
	vdpa dev del "$DEV" 2>/dev/null
	vdpa dev del "$DEV-b" 2>/dev/null
	vdpa dev del "$DEV-f" 2>/dev/null
	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
}
trap cleanup EXIT

# True if a vendor counter of a queue equals a statistic of the netdev.
vstat_matches() { # vstat_matches <dev> <qidx> <counter name> <ifname> <statistic>
	local dev_val if_val
	dev_val=$(vdpa dev vstats show "$1" qidx "$2" | grep -o "$3 [0-9]*" | awk '{print $NF}')
	if_val=$(cat "/sys/class/net/$4/statistics/$5")
	echo "device $3: ${dev_val:-none}, netdev $5: $if_val"
	[ -n "$dev_val" ] && [ "$dev_val" = "$if_val" ]
}

add_del_cycles() { # add_del_cycles <mgmtdev> <n>
	local i n0
	n0=$(vdpa_dev_count)
	for i in $(seq 1 "$2"); do
		vdpa dev add name "$DEV" mgmtdev "$1" mac "$MAC" || return 1
		vdpa dev del "$DEV" || return 1
	done
	[ "$(vdpa_dev_count)" = "$n0" ]
}

bind_cycles() { # bind_cycles <mgmtdev> <n>
	local i
	modprobe virtio_vdpa || return 1
	for i in $(seq 1 "$2"); do
		vdpa dev add name "$DEV" mgmtdev "$1" mac "$MAC" || return 1
		wait_for vdpa_netdev_of "$DEV" || { echo "no netdev in cycle $i"; return 1; }
		vdpa dev del "$DEV" || return 1
	done
}

t_mgmtdev_listed() {
	test_desc "$p mgmtdev show lists $mgmt"
	vdpa mgmtdev show | grep -q "^$mgmt:"
}

t_dev_add() {
	test_desc "$p dev add with mac and mtu succeeds"
	n0=$(vdpa_dev_count)
	vdpa dev add name "$DEV" mgmtdev "$mgmt" mac "$MAC" mtu "$MTU"
}

t_config_mac() {
	test_desc "$p config show reports the mac"
	vdpa -j dev config show "$DEV" | grep -q "\"mac\":\"$MAC\""
}

t_config_mtu() {
	test_desc "$p config show reports the mtu"
	vdpa -j dev config show "$DEV" | grep -q "\"mtu\":$MTU"
}

# Bad attributes are refused and create nothing.
t_unknown_mgmtdev() {
	test_desc "$p unknown mgmtdev is refused"
	! vdpa dev add name "$DEV-b" mgmtdev no_such_mgmtdev
}

t_duplicate_name() {
	test_desc "$p duplicate name is refused"
	! vdpa dev add name "$DEV" mgmtdev "$mgmt"
}

t_malformed_mac() {
	test_desc "$p malformed mac is refused"
	! vdpa dev add name "$DEV-b" mgmtdev "$mgmt" mac 02:zz:00:00:00:01
}

t_refused_created_nothing() {
	test_desc "$p refused adds created nothing"
	[ "$(vdpa_dev_count)" -eq $((n0 + 1)) ] && ! vdpa_dev_exists "$DEV-b"
}

# Features to offer (vdpa_nl.py: bookworm's vdpa cannot pass them). Without
# VIRTIO_F_ACCESS_PLATFORM (bit 33) a simulator cannot work: it reaches
# memory through its IOTLB only, and refuses every driver's features without
# that bit.
FEATURES_WITH=$(printf '0x%x' $(((1 << 32) | (1 << 33) | (1 << 5))))
FEATURES_WITHOUT=$(printf '0x%x' $(((1 << 32) | (1 << 5))))

# The bus and name of the mgmtdev, as vdpa_nl.py takes them.
nl_mgmtdev() {
	local bus=${mgmt%%/*}
	[ "$bus" = "$mgmt" ] && bus=-
	echo "$bus ${mgmt#*/}"
}

t_features() {
	test_desc "$p dev add with device_features $FEATURES_WITH (VERSION_1, ACCESS_PLATFORM, MAC) succeeds"
	"$DIR/vdpa_nl.py" dev-add $(nl_mgmtdev) "$DEV-f" "$FEATURES_WITH" && vdpa dev del "$DEV-f"
}

t_features_no_access_platform() {
	test_desc "$p dev add with device_features $FEATURES_WITHOUT (no ACCESS_PLATFORM) is refused with EINVAL, nothing created"
	case "$mod" in
	vdpa_sim_*)
		test_desc "$p dev add with device_features $FEATURES_WITHOUT (no ACCESS_PLATFORM) is refused with EINVAL"
		test_skip "the C simulator takes the device, then refuses every driver's features"
		return
		;;
	esac
	[ "$("$DIR/vdpa_nl.py" dev-add $(nl_mgmtdev) "$DEV-b" "$FEATURES_WITHOUT")" = EINVAL ] &&
		! vdpa_dev_exists "$DEV-b"
}

# The kernel's virtio-net driver over virtio_vdpa.
t_virtio_vdpa_loads() {
	test_desc "$p virtio_vdpa loads"
	modprobe virtio_vdpa
}

t_virtio_vdpa_binds() {
	test_desc "$p device binds to virtio_vdpa"
	vdpa_bind "$DEV" virtio_vdpa
}

t_netdev() {
	test_desc "$p a netdev appears"
	wait_for vdpa_netdev_of "$DEV"
	local r=$?
	ifname=$(vdpa_netdev_of "$DEV")
	return $r
}

t_netdev_mac() {
	test_desc "$p netdev has the provisioned mac"
	[ "$(cat "/sys/class/net/$ifname/address")" = "$MAC" ]
}

t_netdev_mtu() {
	test_desc "$p netdev has the provisioned mtu"
	[ "$(cat "/sys/class/net/$ifname/mtu")" = "$MTU" ]
}

t_frames() {
	test_desc "$p frames of 60..$((MTU + 14)) bytes come back intact"
	ip link set dev "$ifname" up 2>/dev/null
	"$DIR/vdpa_net_loop" "$ifname" "$MAC" 60 $((MTU + 14)) 11
}

t_broadcast() {
	test_desc "$p broadcast frames come back intact"
	"$DIR/vdpa_net_loop" "$ifname" ff:ff:ff:ff:ff:ff 60 200 70
}

t_other_mac_filtered() {
	test_desc "$p frames to another unicast mac are filtered"
	"$DIR/vdpa_net_loop" "$ifname" 02:52:56:11:22:99 60 200 70 none
}

# A MAC change by the driver goes through the control virtqueue.
t_set_mac() {
	test_desc "$p the driver sets a new mac"
	ip link set dev "$ifname" address "$MAC2"
}

t_config_new_mac() {
	test_desc "$p config show reports the new mac"
	vdpa -j dev config show "$DEV" | grep -q "\"mac\":\"$MAC2\""
}

t_new_mac_frames() {
	test_desc "$p frames to the new mac come back"
	"$DIR/vdpa_net_loop" "$ifname" "$MAC2" 60 300 60
}

t_old_mac_filtered() {
	test_desc "$p frames to the old mac are filtered"
	"$DIR/vdpa_net_loop" "$ifname" "$MAC" 60 200 70 none
}

# The device's counters agree with the driver's.
t_vstats_tx() {
	test_desc "$p vstats tx packets match the netdev's"
	vstat_matches "$DEV" 1 "tx packets" "$ifname" tx_packets
}

t_vstats_rx() {
	test_desc "$p vstats rx packets match the netdev's"
	vstat_matches "$DEV" 0 "rx packets" "$ifname" rx_packets
}

# vhost_vdpa: the same device handed to userspace.
t_vhost_vdpa_loads() {
	test_desc "$p vhost_vdpa loads"
	modprobe vhost_vdpa
}

t_vhost_vdpa_binds() {
	test_desc "$p device rebinds to vhost_vdpa"
	vdpa_bind "$DEV" vhost_vdpa
}

t_netdev_gone() {
	test_desc "$p the netdev is gone"
	! ls "/sys/class/net/$ifname" >/dev/null 2>&1
}

t_vhost_node() {
	wait_for vdpa_vhost_of "$DEV"
	vhost=$(vdpa_vhost_of "$DEV")
	test_desc "$p /dev/$vhost appears"
	wait_for test -c "/dev/${vhost:-vhost-vdpa-none}"
}

t_dev_del() {
	test_desc "$p dev del removes the device and its char device"
	vdpa dev del "$DEV" && ! vdpa_dev_exists "$DEV" && ! [ -e "/dev/${vhost:-vhost-vdpa-none}" ]
}

# Creating and deleting devices leaves nothing behind.
t_add_del_cycles() {
	test_desc "$p 100 add/del cycles"
	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
	add_del_cycles "$mgmt" 100
}

t_bind_cycles() {
	test_desc "$p 10 add/bind/del cycles under virtio_vdpa"
	bind_cycles "$mgmt" 10
}

t_unload() {
	test_desc "$p the module unloads afterwards"
	modprobe -r virtio_vdpa && modprobe -r "$mod" && ! [ -d "/sys/module/$mod" ]
}

# With kmemleak (the debug flavour), nothing the tests did may leak.
t_kmemleak() {
	test_desc "$p kmemleak finds no leak"
	vdpa_kmemleak_clean
}

TESTS=(t_mgmtdev_listed t_dev_add t_config_mac t_config_mtu t_unknown_mgmtdev t_duplicate_name
	t_malformed_mac t_refused_created_nothing t_features t_features_no_access_platform
	t_virtio_vdpa_loads t_virtio_vdpa_binds t_netdev t_netdev_mac t_netdev_mtu t_frames
	t_broadcast t_other_mac_filtered t_set_mac t_config_new_mac t_new_mac_frames
	t_old_mac_filtered t_vstats_tx t_vstats_rx t_vhost_vdpa_loads t_vhost_vdpa_binds
	t_netdev_gone t_vhost_node t_dev_del t_add_del_cycles t_bind_cycles t_unload t_kmemleak)

run_parent() { # run_parent <module> <mgmtdev>
	local mod=$1 mgmt=$2 p="$1:" n0 ifname vhost

	if ! modprobe "$mod" 2>/dev/null; then
		skip_tests "$p module $mod is not available" "${TESTS[@]}"
		return
	fi
	# Start with no bus driver loaded, so that new devices stay unbound.
	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
	run_tests "${TESTS[@]}"
}

set -- $PARENTS
tests_set_plan $# "${TESTS[@]}"
for parent in "$@"; do
	run_parent "${parent%%:*}" "${parent#*:}"
done
ktap_finished
