#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vDPA parents for virtio-pci functions: our vdpa_rpci and the in-tree C
# vp_vdpa (the reference), on functions QEMU gives the guest (see
# rvdpa_test_functions in tools/rvdpa/lib.sh):
#   00:10.0  virtio-net, given to the parent under test
#   00:11.0  virtio-net on the same QEMU hub, left to virtio_pci: the peer
#   00:12.0  virtio-blk on a scratch image
# Frames cross the wire both ways with identical bytes, each queue's MSI-X
# vector fires, blk data written through the parent reads back through the
# native driver afterwards, bad requests are refused, and the function goes
# back to virtio_pci in working order.
. "$(dirname "$0")/lib.sh"

NET=0000:00:10.0
PEER=0000:00:11.0
BLK=0000:00:12.0
# Each parent is "module:pci driver name".
PARENTS=${VDPA_PCI_PARENTS:-vdpa_rpci:vdpa_rpci vp_vdpa:vp-vdpa}
DEV=ksft-pci0
TMP=$(mktemp -d)

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "the vdpa tool (iproute2)" vdpa help
vdpa_require "the test functions (QEMU options from rvdpa_test_functions)" \
	test -e /sys/bus/pci/devices/$NET -a -e /sys/bus/pci/devices/$PEER -a -e /sys/bus/pci/devices/$BLK

# The sum of the interrupt counts of a function's MSI-X vectors.
msix_count() { # msix_count <bdf>
	awk -v d="PCI-MSIX-$1" 'index($0, d) { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' /proc/interrupts
}

# Number of MSI-X vectors of the function that fired at least once.
msix_fired() { # msix_fired <bdf>
	awk -v d="PCI-MSIX-$1" 'index($0, d) { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; if (s) n++ } END { print n + 0 }' /proc/interrupts
}

cleanup() {
	vdpa dev del "$DEV" 2>/dev/null
	vdpa dev del "$DEV-blk" 2>/dev/null
	for f in $NET $BLK; do pci_native $f >/dev/null 2>&1; done
	ip link set "$(fn_netdev $PEER)" down 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

t_bind() {
	test_desc "$p the net function binds to $drv"
	pci_give $NET "$drv"
}

t_mgmtdev_listed() {
	test_desc "$p its management device is listed"
	vdpa mgmtdev show pci/$NET | grep -q 'supported_classes net'
}

# A virtio-pci function's MAC is read-only to a modern driver: neither parent
# offers it as a provisioning attribute.
t_mac_refused() {
	test_desc "$p a MAC to provision is refused, nothing created"
	! vdpa dev add name $DEV mgmtdev pci/$NET mac 02:00:00:00:00:01 2>/dev/null &&
		! vdpa dev show $DEV 2>/dev/null
}

# Features go through our own netlink client (bookworm's vdpa tool cannot
# pass them): more than the function offers is refused; a subset is what the
# driver then negotiates from. A refused add on the C vp_vdpa leaves a
# dangling pointer behind that a later dev del dereferences (see
# pci_dev_add): it is not made here.
t_features_lacking() {
	test_desc "$p features the function lacks are refused, nothing created"
	if [ "$mod" != vdpa_rpci ]; then
		test_desc "$p features the function lacks are refused"
		test_skip "not tried: a refused add breaks vp_vdpa"
		return
	fi
	[ "$("$DIR/vdpa_nl.py" dev-add pci $NET $DEV 0x8000000000000000)" = EINVAL ] &&
		! vdpa dev show $DEV 2>/dev/null
}

# VERSION_1 | ACCESS_PLATFORM | MAC: no mergeable RX buffers, no CVQ.
t_fewer_features() {
	local f n

	test_desc "$p a device provisioned with fewer features negotiates only those, and passes frames"
	pci_dev_add $DEV $NET 0x300000020 || return 1
	modprobe virtio_vdpa
	wait_for fn_netdev $NET || return 1
	f=$(cat /sys/bus/pci/devices/$NET/virtio*/features)
	[ "${f:5:1}" = 1 ] && [ "${f:15:1}" = 0 ] && [ "${f:17:1}" = 0 ] && [ "${f:32:1}" = 1 ] ||
		return 1
	n=$(fn_netdev $NET) && ip link set "$n" up &&
		"$DIR/vdpa_net_loop" "$n" 52:54:00:72:76:11 60 1514 97 back "$peer" >/dev/null &&
		vdpa dev del $DEV && modprobe -r virtio_vdpa
}

# A name another parent's device has: the vDPA core refuses to register the
# device (EEXIST) after the parent created it; the function must not stay
# claimed by that device, which never existed.
t_name_taken() {
	local r other

	test_desc "$p a name already taken is refused, and the function stays free for the next add"
	if [ "$mod" != vdpa_rpci ]; then
		# vp_vdpa keeps a dangling pointer after a failed add (see above).
		test_skip "vp_vdpa: a failed add leaves a dangling pointer"
		return
	fi
	modprobe vdpa_rsim && vdpa dev add name $DEV mgmtdev faux/vdpa_rsim_net || return 1
	vdpa dev add name $DEV mgmtdev pci/$NET 2>/dev/null
	r=$?
	vdpa dev show $DEV | grep -q 'mgmtdev faux/vdpa_rsim_net'
	other=$?
	vdpa dev del $DEV
	modprobe -r vdpa_rsim
	[ $r != 0 ] && [ $other = 0 ] || return 1
	vdpa dev add name $DEV mgmtdev pci/$NET && vdpa dev del $DEV
}

t_dev_add() {
	test_desc "$p dev add succeeds"
	pci_dev_add "$DEV" "$NET"
}

t_second_device() {
	test_desc "$p a second device on the same function is refused"
	if [ "$mod" != vdpa_rpci ]; then
		# The C vp_vdpa does not check: a second dev add would register
		# a second device on the same function (a difference, not tested).
		test_skip "vp_vdpa does not check"
		return
	fi
	! vdpa dev add name $DEV-2 mgmtdev pci/$NET 2>/dev/null
}

t_netdev() {
	test_desc "$p virtio_vdpa gives it a netdev"
	modprobe virtio_vdpa
	wait_for fn_netdev $NET
	local r=$?
	ifname=$(fn_netdev $NET)
	return $r
}

t_netdev_mac() {
	test_desc "$p the netdev has the function's MAC"
	ip link show "$ifname" | grep -q 52:54:00:72:76:10
}

t_frames_to_peer() {
	test_desc "$p frames sent through the parent reach the peer intact"
	ip link set "$ifname" up
	before=$(msix_count $NET)
	"$DIR/vdpa_net_loop" "$ifname" 52:54:00:72:76:11 60 1514 73 back "$peer"
}

t_frames_from_peer() {
	test_desc "$p frames from the peer arrive through the parent intact"
	"$DIR/vdpa_net_loop" "$peer" 52:54:00:72:76:10 60 1514 73 back "$ifname"
}

t_msix_fired() {
	test_desc "$p the function's MSI-X vectors fired"
	test "$(msix_count $NET)" -gt "$before"
}

t_msix_per_queue() {
	test_desc "$p RX and TX each have a vector that fired"
	test "$(msix_fired $NET)" -ge 2
}

t_dev_del() {
	test_desc "$p dev del removes the device and its netdev"
	vdpa dev del $DEV && ! vdpa_dev_exists $DEV && ! fn_netdev $NET
}

t_cycles() {
	local i n

	test_desc "$p 3 add/traffic/del cycles work"
	for i in 1 2 3; do
		n=$(vdpa_fn_up $DEV $NET) || return 1
		"$DIR/vdpa_net_loop" "$n" 52:54:00:72:76:11 60 300 120 back "$peer" >/dev/null || return 1
		vdpa dev del $DEV || return 1
	done
}

# Unbinding virtio_vdpa while frames flow resets the device with its queues
# active; a new bind must work.
t_reset_under_traffic() {
	local n bg t

	test_desc "$p a reset under traffic (virtio_vdpa unbound), then a rebind, works"
	n=$(vdpa_fn_up $DEV $NET) || return 1
	bg=$(traffic_bg "$DIR/vdpa_net_loop" "$n" 52:54:00:72:76:11 "$peer")
	sleep 2
	echo $DEV > /sys/bus/vdpa/drivers/virtio_vdpa/unbind
	kill "$bg"
	wait "$bg" 2>/dev/null
	echo $DEV > /sys/bus/vdpa/drivers/virtio_vdpa/bind || return 1
	for t in $(seq 50); do n=$(fn_netdev $NET) && break; sleep 0.2; done
	ip link set "$n" up &&
		"$DIR/vdpa_net_loop" "$n" 52:54:00:72:76:11 60 600 90 back "$peer" >/dev/null &&
		vdpa dev del $DEV
}

# A hot removal of the function while frames flow through the parent.
t_remove_under_traffic() {
	local n bg

	test_desc "$p removing the function under traffic ends cleanly"
	n=$(vdpa_fn_up $DEV $NET) || return 1
	bg=$(traffic_bg "$DIR/vdpa_net_loop" "$n" 52:54:00:72:76:11 "$peer")
	sleep 2
	echo 1 > /sys/bus/pci/devices/$NET/remove
	kill "$bg"
	wait "$bg" 2>/dev/null
	! vdpa_dev_exists $DEV && [ ! -e /sys/bus/pci/devices/$NET ]
}

t_rescan() {
	test_desc "$p a rescan brings the function back, to virtio_pci"
	echo 1 > /sys/bus/pci/rescan && wait_for fn_netdev $NET &&
		[ "$(basename "$(readlink /sys/bus/pci/devices/$NET/driver)")" = virtio-pci ]
}

# QEMU unplugs a function (device_del on a hot-plug root port) while frames
# flow through the parent, then plugs it back. hp is the function, when
# there is one and a monitor to reach.
t_device_del() {
	local n bg t

	test_desc "$p QEMU's device_del of a function under traffic ends cleanly"
	hp=$(fn_by_mac 52:54:00:72:76:13)
	if [ -z "$hp" ] || ! qmp '{"execute": "query-status"}' >/dev/null; then
		hp=
		test_skip "no hot-plug function or monitor relay"
		return
	fi
	pci_give "$hp" "$drv" && n=$(vdpa_fn_up $DEV-hp "$hp") || return 1
	bg=$(traffic_bg "$DIR/vdpa_net_loop" "$n" 52:54:00:72:76:11 "$peer")
	sleep 2
	qmp '{"execute": "device_del", "arguments": {"id": "rvhpnet"}}' | grep -q return || return 1
	for t in $(seq 150); do [ -e "/sys/bus/pci/devices/$hp" ] || break; sleep 0.2; done
	kill "$bg"
	wait "$bg" 2>/dev/null
	[ ! -e "/sys/bus/pci/devices/$hp" ] && ! vdpa_dev_exists $DEV-hp
}

t_device_add() {
	test_desc "$p device_add brings the function back, to virtio_pci"
	if [ -z "$hp" ]; then
		test_skip "no hot-plug function or monitor relay"
		return
	fi
	qmp '{"execute": "device_add", "arguments": {"driver": "virtio-net-pci", "bus": "rvhp", "netdev": "rvh3", "id": "rvhpnet", "disable-legacy": "on", "mac": "52:54:00:72:76:13"}}' |
		grep -q return && wait_for fn_by_mac 52:54:00:72:76:13
}

# QEMU's modern-pio-notify=on adds a notification capability in an I/O BAR,
# listed before the memory one: the parent must kick through the memory one
# (a harness function with MAC 52:54:00:72:76:14 on the hub).
t_pio_notify() {
	local pio n r

	test_desc "$p a function with a notification capability in an I/O BAR too passes frames"
	pio=$(fn_by_mac 52:54:00:72:76:14)
	if [ -z "$pio" ]; then
		test_skip "no function with MAC 52:54:00:72:76:14 and modern-pio-notify=on"
		return
	fi
	pci_give "$pio" "$drv" && n=$(vdpa_fn_up $DEV-pio "$pio") || return 1
	"$DIR/vdpa_net_loop" "$n" 52:54:00:72:76:11 60 600 90 back "$peer" >/dev/null
	r=$?
	vdpa dev del $DEV-pio && pci_native "$pio" && return $r
}

t_unload() {
	test_desc "$p unloading the module with a device present ends cleanly"
	vdpa dev del "$DEV" 2>/dev/null
	pci_give $NET "$drv" && pci_dev_add $DEV $NET && modprobe -r virtio_vdpa "$mod" &&
		! vdpa_dev_exists $DEV
}

t_native_works() {
	local n

	test_desc "$p the function works again under virtio_pci"
	modprobe "$mod"
	pci_native $NET && n=$(fn_netdev $NET) && ip link set "$n" up &&
		"$DIR/vdpa_net_loop" "$n" 52:54:00:72:76:11 60 600 90 back "$peer" >/dev/null
}

# Block: data written through the parent must be on the backend.
t_blk_bind() {
	test_desc "$p the blk function binds to $drv"
	modprobe virtio_vdpa
	pci_give $BLK "$drv"
}

t_blk_mgmtdev_listed() {
	test_desc "$p its management device is listed"
	vdpa mgmtdev show pci/$BLK | grep -q 'supported_classes block'
}

t_blk_dev_add() {
	test_desc "$p dev add succeeds for blk"
	pci_dev_add "$DEV-blk" "$BLK"
}

t_blk_disk() {
	test_desc "$p virtio_vdpa gives it a disk"
	wait_for fn_blkdev $BLK
	local r=$?
	disk=$(fn_blkdev $BLK)
	return $r
}

t_blk_rw() {
	test_desc "$p data written through the parent reads back"
	pattern="$TMP/pattern-$mod"
	head -c $((3 << 20)) /dev/urandom > "$pattern"
	dd if="$pattern" of="/dev/$disk" bs=1M seek=5 oflag=direct conv=fsync status=none &&
		dd if="/dev/$disk" of="$TMP/back" bs=1M skip=5 count=3 iflag=direct status=none &&
		cmp "$pattern" "$TMP/back"
}

t_blk_on_backend() {
	local t d

	test_desc "$p the data is on the backend (read through virtio_pci)"
	vdpa dev del "$DEV-blk"
	pci_native $BLK && for t in $(seq 50); do d=$(fn_blkdev $BLK) && break; sleep 0.2; done &&
		dd if="/dev/$d" of="$TMP/native" bs=1M skip=5 count=3 iflag=direct status=none &&
		cmp "$pattern" "$TMP/native"
}

TESTS=(t_bind t_mgmtdev_listed t_mac_refused t_features_lacking t_fewer_features t_name_taken
	t_dev_add t_second_device t_netdev t_netdev_mac t_frames_to_peer t_frames_from_peer
	t_msix_fired t_msix_per_queue t_dev_del t_cycles t_reset_under_traffic
	t_remove_under_traffic t_rescan t_device_del t_device_add t_pio_notify t_unload
	t_native_works t_blk_bind t_blk_mgmtdev_listed t_blk_dev_add t_blk_disk t_blk_rw
	t_blk_on_backend)

run_parent() { # run_parent <module> <pci driver>
	local mod=$1 drv=$2 p="$1:" ifname peer before hp disk pattern

	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
	if ! modprobe "$mod" 2>/dev/null; then
		skip_tests "$p module $mod is not available" "${TESTS[@]}"
		return
	fi
	peer=$(fn_netdev $PEER)
	ip link set "$peer" up
	run_tests "${TESTS[@]}"
	modprobe -r virtio_vdpa "$mod" 2>/dev/null
}

set -- $PARENTS
tests_set_plan $# "${TESTS[@]}"
for parent in "$@"; do
	run_parent "${parent%%:*}" "${parent#*:}"
done
ktap_finished
