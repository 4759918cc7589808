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
set -- $PARENTS
NTESTS=33
ktap_set_plan $((NTESTS * $#))

cleanup() {
	vdpa dev del "$DEV" 2>/dev/null
	vdpa dev del "$DEV-b" 2>/dev/null
	vdpa dev del "$DEV-f" 2>/dev/null
	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
}
trap cleanup EXIT

skip_parent() { # skip_parent <why>
	local i
	for i in $(seq 1 $NTESTS); do
		ktap_test_skip "$1"
	done
}

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

# With kmemleak (the debug flavour), nothing the tests did may leak.
kmemleak_check() { # kmemleak_check <prefix>
	local f=/sys/kernel/debug/kmemleak
	if ! [ -w "$f" ]; then
		ktap_test_skip "$1 kmemleak finds no leak (no kmemleak: debug flavour only)"
		return 0
	fi
	echo scan > "$f"; sleep 1; echo scan > "$f"
	if grep -q "unreferenced object" "$f"; then
		head -n 40 "$f" | sed 's/^/# /'
		ktap_test_fail "$1 kmemleak finds no leak"
	else
		ktap_test_pass "$1 kmemleak finds no leak"
	fi
	echo clear > "$f"
}

run_parent() { # run_parent <module> <mgmtdev>
	local mod=$1 mgmt=$2 p="$1:" n0 ifname vhost out

	if ! modprobe "$mod" 2>/dev/null; then
		skip_parent "$p module $mod is not available"
		return
	fi
	# Start with no bus driver loaded, so that new devices stay unbound.
	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null

	check "$p mgmtdev show lists $mgmt" \
		sh -c "vdpa mgmtdev show | grep -q '^$mgmt:'"
	n0=$(vdpa_dev_count)
	check "$p dev add with mac and mtu succeeds" \
		vdpa dev add name "$DEV" mgmtdev "$mgmt" mac "$MAC" mtu "$MTU"
	out=$(vdpa -j dev config show "$DEV" 2>&1)
	check "$p config show reports the mac" \
		sh -c "echo '$out' | grep -q '\"mac\":\"$MAC\"'"
	check "$p config show reports the mtu" \
		sh -c "echo '$out' | grep -q '\"mtu\":$MTU'"

	# Bad attributes are refused and create nothing.
	check "$p unknown mgmtdev is refused" fails vdpa dev add name "$DEV-b" mgmtdev no_such_mgmtdev
	check "$p duplicate name is refused" fails vdpa dev add name "$DEV" mgmtdev "$mgmt"
	check "$p malformed mac is refused" \
		fails vdpa dev add name "$DEV-b" mgmtdev "$mgmt" mac 02:zz:00:00:00:01
	check "$p refused adds created nothing" \
		sh -c "[ \$(ls /sys/bus/vdpa/devices | wc -l) -eq $((n0 + 1)) ] && ! [ -e /sys/bus/vdpa/devices/$DEV-b ]"

	# Features to offer (vdpa_nl.py: bookworm's vdpa cannot pass them).
	# Without VIRTIO_F_ACCESS_PLATFORM (bit 33) a simulator cannot work:
	# it reaches memory through its IOTLB only, and refuses every driver's
	# features without that bit.
	local bus=${mgmt%%/*} mname=${mgmt#*/} with without
	[ "$bus" = "$mgmt" ] && bus=-
	with=$(printf '0x%x' $(((1 << 32) | (1 << 33) | (1 << 5))))
	without=$(printf '0x%x' $(((1 << 32) | (1 << 5))))
	check "$p dev add with device_features $with (VERSION_1, ACCESS_PLATFORM, MAC) succeeds" \
		sh -c "'$DIR/vdpa_nl.py' dev-add $bus $mname $DEV-f $with && vdpa dev del $DEV-f"
	case "$mod" in
	vdpa_sim_*)
		ktap_test_skip "$p dev add with device_features $without (no ACCESS_PLATFORM) is refused with EINVAL (the C simulator takes the device, then refuses every driver's features)"
		;;
	*)
		check "$p dev add with device_features $without (no ACCESS_PLATFORM) is refused with EINVAL, nothing created" \
			sh -c "[ \"\$('$DIR/vdpa_nl.py' dev-add $bus $mname $DEV-b $without)\" = EINVAL ] && ! [ -e /sys/bus/vdpa/devices/$DEV-b ]"
		;;
	esac

	# The kernel's virtio-net driver over virtio_vdpa.
	check "$p virtio_vdpa loads" modprobe virtio_vdpa
	check "$p device binds to virtio_vdpa" vdpa_bind "$DEV" virtio_vdpa
	check "$p a netdev appears" wait_for vdpa_netdev_of "$DEV"
	ifname=$(vdpa_netdev_of "$DEV")
	check "$p netdev has the provisioned mac" \
		sh -c "[ \"\$(cat /sys/class/net/$ifname/address)\" = $MAC ]"
	check "$p netdev has the provisioned mtu" \
		sh -c "[ \"\$(cat /sys/class/net/$ifname/mtu)\" = $MTU ]"
	ip link set dev "$ifname" up 2>/dev/null
	check "$p frames of 60..$((MTU + 14)) bytes come back intact" \
		"$DIR/vdpa_net_loop" "$ifname" "$MAC" 60 $((MTU + 14)) 11
	check "$p broadcast frames come back intact" \
		"$DIR/vdpa_net_loop" "$ifname" ff:ff:ff:ff:ff:ff 60 200 70
	check "$p frames to another unicast mac are filtered" \
		"$DIR/vdpa_net_loop" "$ifname" 02:52:56:11:22:99 60 200 70 none

	# A MAC change by the driver goes through the control virtqueue.
	check "$p the driver sets a new mac" ip link set dev "$ifname" address "$MAC2"
	check "$p config show reports the new mac" \
		sh -c "vdpa -j dev config show $DEV | grep -q '\"mac\":\"$MAC2\"'"
	check "$p frames to the new mac come back" \
		"$DIR/vdpa_net_loop" "$ifname" "$MAC2" 60 300 60
	check "$p frames to the old mac are filtered" \
		"$DIR/vdpa_net_loop" "$ifname" "$MAC" 60 200 70 none

	# The device's counters agree with the driver's.
	check "$p vstats tx packets match the netdev's" \
		vstat_matches "$DEV" 1 "tx packets" "$ifname" tx_packets
	check "$p vstats rx packets match the netdev's" \
		vstat_matches "$DEV" 0 "rx packets" "$ifname" rx_packets

	# vhost_vdpa: the same device handed to userspace.
	check "$p vhost_vdpa loads" modprobe vhost_vdpa
	check "$p device rebinds to vhost_vdpa" vdpa_bind "$DEV" vhost_vdpa
	check "$p the netdev is gone" sh -c "! ls /sys/class/net/$ifname >/dev/null 2>&1"
	vhost=$(wait_for vdpa_vhost_of "$DEV"; vdpa_vhost_of "$DEV")
	check "$p /dev/$vhost appears" wait_for test -c "/dev/${vhost:-vhost-vdpa-none}"

	check "$p dev del removes the device and its char device" \
		sh -c "vdpa dev del $DEV && ! [ -e /sys/bus/vdpa/devices/$DEV ] && ! [ -e /dev/${vhost:-vhost-vdpa-none} ]"

	# Creating and deleting devices leaves nothing behind.
	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
	check "$p 100 add/del cycles" add_del_cycles "$mgmt" 100
	check "$p 10 add/bind/del cycles under virtio_vdpa" bind_cycles "$mgmt" 10
	check "$p the module unloads afterwards" \
		sh -c "modprobe -r virtio_vdpa && modprobe -r $mod && ! [ -d /sys/module/$mod ]"
	kmemleak_check "$p"
}

for parent in "$@"; do
	run_parent "${parent%%:*}" "${parent#*:}"
done
ktap_finished
