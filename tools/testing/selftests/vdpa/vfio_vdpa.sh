#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The mdev bridge (vfio_vdpa, include/uapi/linux/vfio_vdpa.h): a vDPA net
# device of the Rust simulator bound to vfio_vdpa through driver_override
# becomes an mdev parent with one type; an mdev created on it opens through
# a type1 container. vfio_vdpa_ctl.c checks GET_INFO, the regions, the irq
# indexes and the vhost ioctls on the VFIO fd with their errnos;
# vhost_vdpa_net.c and vhost_vdpa_blk.c run their tests through the bridge,
# with type1 and with iommufd (DMA through the container or IOAS, calls
# through SET_IRQS, kicks through the NOTIFY region); vfio_vdpa_bad.c sends
# it bad input. While the mdev is open, rmmod vfio_vdpa is refused and the mdev's
# remove waits for the close. Then every way of removing it ends cleanly
# while no fd is open: the mdev's remove, unbinding the vDPA device, vdpa dev
# del, rmmod.
. "$(dirname "$0")/lib.sh"

MGMT=faux/vdpa_rsim_net
MAC=02:52:56:44:55:66
DEV=ksft-vfio0
TYPE=/sys/bus/vdpa/devices/$DEV/mdev_supported_types/vfio_vdpa-net
UUID=$(cat /proc/sys/kernel/random/uuid)
MDEV=/sys/bus/mdev/devices/$UUID

# Adds the device, unbound, and binds it to vfio_vdpa.
add_bound() {
	vdpa dev add name "$DEV" mgmtdev "$MGMT" mac "$MAC" || return 1
	wait_for vdpa_dev_exists "$DEV" || return 1
	vdpa_bind "$DEV" vfio_vdpa && wait_for test -d "$TYPE"
}

t_bind() {
	test_desc "vdpa dev add, driver_override and bind: the device is bound to vfio_vdpa"
	add_bound && [ "$(vdpa_driver_of "$DEV")" = vfio_vdpa ]
}

t_no_override() {
	test_desc "without driver_override vfio_vdpa does not take a device"
	vdpa dev add name ksft-vfio1 mgmtdev "$MGMT" || return 1
	local drv
	drv=$(vdpa_driver_of ksft-vfio1)
	vdpa dev del ksft-vfio1
	echo "bound to '$drv'"
	[ "$drv" != vfio_vdpa ]
}

t_type() {
	test_desc "one mdev type vfio_vdpa-net, device_api vfio-vdpa, 1 instance available"
	ls "$TYPE/.."
	[ "$(ls "$TYPE/.." | wc -l)" = 1 ] &&
		[ "$(cat "$TYPE/device_api")" = vfio-vdpa ] &&
		[ "$(cat "$TYPE/available_instances")" = 1 ]
}

t_create() {
	test_desc "mdev create: the mdev is bound and has a group; 0 instances available"
	echo "$UUID" > "$TYPE/create" || return 1
	wait_for test -e "$MDEV/iommu_group" || return 1
	GROUP=/dev/vfio/$(basename "$(readlink "$MDEV/iommu_group")")
	echo "group $GROUP, available $(cat "$TYPE/available_instances")"
	[ "$(basename "$(readlink "$MDEV/driver")")" = vfio_vdpa_mdev ] &&
		[ "$(cat "$TYPE/available_instances")" = 0 ] && wait_for test -c "$GROUP"
}

t_create_second() {
	test_desc "a second mdev on the device is refused, and the same UUID again"
	local u
	u=$(cat /proc/sys/kernel/random/uuid)
	! echo "$u" > "$TYPE/create" && ! echo "$UUID" > "$TYPE/create" &&
		[ ! -e "/sys/bus/mdev/devices/$u" ]
}

t_ctl() {
	test_desc "vfio_vdpa_ctl"
	local features
	features=$("$DIR/vdpa_nl.py" mgmtdev-features "${MGMT%%/*}" "${MGMT#*/}") ||
		{ ktap_test_fail "vdpa_nl.py mgmtdev-features $MGMT: $features"; return; }
	ktap_run_program "" "$DIR/vfio_vdpa_ctl" "$GROUP" "$UUID" "$MAC" "$features"
}

# The vhost-vdpa userspace driver's net tests, through the bridge: frames
# loop back byte for byte, bad requests and chains are refused, memory never
# given stays out of reach, pins are charged and returned.
t_net() {
	test_desc "vhost_vdpa_net vfio:UUID"
	ktap_run_program "bridge type1:" "$DIR/vhost_vdpa_net" "vfio:$UUID"
}

# The same through the mdev's cdev and an iommufd IOAS.
t_net_iommufd() {
	test_desc "vhost_vdpa_net iommufd:UUID"
	if [ ! -d "$MDEV/vfio-dev" ] || [ ! -c /dev/iommu ]; then
		skip_tests "bridge iommufd: vhost_vdpa_net (no VFIO cdev or /dev/iommu)" t_net_iommufd
		return
	fi
	ktap_run_program "bridge iommufd:" "$DIR/vhost_vdpa_net" "iommufd:$UUID"
}

# Bad input, each refused with its errno, nothing pinned after.
t_bad() {
	test_desc "vfio_vdpa_bad"
	ktap_run_program "bad:" "$DIR/vfio_vdpa_bad" "$UUID"
}

# A block device of the Rust simulator through the bridge, type1 then
# iommufd: the block tests of vhost_vdpa_blk.c (writes read back, limits,
# bad requests).
BLK=ksft-vfio-blk
BLK_UUID=$(cat /proc/sys/kernel/random/uuid)

t_blk_type1() {
	test_desc "vhost_vdpa_blk vfio:UUID"
	local type=/sys/bus/vdpa/devices/$BLK/mdev_supported_types/vfio_vdpa-blk
	vdpa dev add name "$BLK" mgmtdev faux/vdpa_rsim_blk && wait_for vdpa_dev_exists "$BLK" &&
		vdpa_bind "$BLK" vfio_vdpa && wait_for test -d "$type" &&
		echo "$BLK_UUID" > "$type/create" &&
		wait_for test -e "/sys/bus/mdev/devices/$BLK_UUID/iommu_group" || return
	ktap_run_program "blk type1:" "$DIR/vhost_vdpa_blk" "vfio:$BLK_UUID"
}

t_blk_iommufd() {
	test_desc "vhost_vdpa_blk iommufd:UUID"
	if [ ! -d "/sys/bus/mdev/devices/$BLK_UUID/vfio-dev" ] || [ ! -c /dev/iommu ]; then
		skip_tests "blk iommufd: vhost_vdpa_blk (no mdev, VFIO cdev or /dev/iommu)" t_blk_iommufd
	else
		ktap_run_program "blk iommufd:" "$DIR/vhost_vdpa_blk" "iommufd:$BLK_UUID"
	fi
	vdpa dev del "$BLK"
}

t_rmmod_while_open() {
	test_desc "rmmod vfio_vdpa is refused while the mdev is open, nothing changes"
	hold_start "$GROUP" "$UUID" || return 1
	local r=0
	modprobe -r vfio_vdpa 2>/dev/null && r=1
	grep -q '^vfio_vdpa ' /proc/modules && [ -e "$MDEV" ] &&
		[ "$(vdpa_driver_of "$DEV")" = vfio_vdpa ] || r=1
	hold_stop
	return $r
}

t_remove_waits() {
	test_desc "the mdev's remove while open: pages back, ENODEV and REQ at once, done at the close"
	hold_start "$GROUP" "$UUID" || return 1
	local pinned lck st req
	pinned=$(hold_ask lck)
	(echo 1 > "$MDEV/remove") &
	local pid=$! waited=0 i
	sleep 2
	kill -0 "$pid" 2>/dev/null && waited=1
	lck=$(hold_ask lck)
	st=$(hold_ask status)
	req=$(hold_ask req)
	echo "VmLck: $HOLD_BASE kB before the pins, $pinned with them, $lck during the remove;" \
		"ioctl errno $st; REQ signalled: $req"
	hold_stop
	local revoked=0
	[ "$pinned" -gt "$HOLD_BASE" ] && [ "$lck" = "$HOLD_BASE" ] && [ "$st" = 19 ] &&
		[ "$req" = 1 ] && revoked=1
	if ! pid_ends_within "$pid"; then
		echo "remove still running 20 s after the close"
		return 1
	fi
	wait "$pid" || return 1
	echo "waited $waited"
	[ $revoked = 1 ] && [ $waited = 1 ] && [ ! -e "$MDEV" ] &&
		[ "$(cat "$TYPE/available_instances")" = 1 ]
}

t_remove_mdev() {
	test_desc "the mdev's remove: the mdev goes, 1 instance available again"
	echo "$UUID" > "$TYPE/create" && wait_for test -e "$MDEV" || return 1
	echo 1 > "$MDEV/remove" && wait_for test ! -e "$MDEV" &&
		[ "$(cat "$TYPE/available_instances")" = 1 ]
}

t_unbind() {
	test_desc "unbinding the device from vfio_vdpa removes its mdev and its type"
	echo "$UUID" > "$TYPE/create" && wait_for test -e "$MDEV" || return 1
	echo "$DEV" > /sys/bus/vdpa/drivers/vfio_vdpa/unbind &&
		[ ! -e "$MDEV" ] && [ ! -e "$TYPE" ] && [ -z "$(vdpa_driver_of "$DEV")" ]
}

t_dev_del() {
	test_desc "vdpa dev del with an mdev removes the mdev and the device"
	echo "$DEV" > /sys/bus/vdpa/drivers_probe && wait_for test -d "$TYPE" || return 1
	echo "$UUID" > "$TYPE/create" && wait_for test -e "$MDEV" || return 1
	vdpa dev del "$DEV" && [ ! -e "$MDEV" ] && ! vdpa_dev_exists "$DEV"
}

t_rmmod() {
	test_desc "rmmod vfio_vdpa with a bound device and an mdev, then vdpa_rsim"
	add_bound && echo "$UUID" > "$TYPE/create" && wait_for test -e "$MDEV" || return 1
	modprobe -r vfio_vdpa && [ ! -e "$MDEV" ] && [ ! -e "$TYPE" ] &&
		vdpa dev del "$DEV" && modprobe -r vdpa_rsim &&
		! grep -q -E '^(vfio_vdpa|vdpa_rsim) ' /proc/modules
}

# vhost_vdpa_net through the bridge on another parent: loads "module
# [params]" and vfio_vdpa, adds a device of mgmtdev, makes its mdev, runs the
# program with its results prefixed, removes it all.
OTHER=ksft-vfio-other
OTHER_UUID=$(cat /proc/sys/kernel/random/uuid)
net_on_parent() { # net_on_parent <prefix> <mgmtdev> <module> [params]
	local prefix=$1 mgmt=$2 type=/sys/bus/vdpa/devices/$OTHER/mdev_supported_types/vfio_vdpa-net
	shift 2
	modprobe "$@" && modprobe vfio_vdpa &&
		vdpa dev add name "$OTHER" mgmtdev "$mgmt" mac 02:52:56:77:88:99 &&
		wait_for vdpa_dev_exists "$OTHER" && vdpa_bind "$OTHER" vfio_vdpa &&
		wait_for test -d "$type" && echo "$OTHER_UUID" > "$type/create" &&
		wait_for test -e "/sys/bus/mdev/devices/$OTHER_UUID/iommu_group" &&
		ktap_run_program "$prefix" "$DIR/vhost_vdpa_net" "vfio:$OTHER_UUID"
	vdpa dev del "$OTHER" 2>/dev/null
	modprobe -r vfio_vdpa "$1"
}

# The Rust simulator mapping one range at a time (dma_map/dma_unmap).
t_net_incremental() {
	test_desc "vhost_vdpa_net vfio:UUID, vdpa_rsim batch_mapping=0"
	net_on_parent "bridge incremental:" faux/vdpa_rsim_net vdpa_rsim batch_mapping=0
}

# The C simulator, the reference: it maps all physical memory one to one
# until its first mapping; through the bridge, rings and buffers at physical
# addresses must reach nothing all the same (the bridge's empty map).
t_net_c_sim() {
	test_desc "vhost_vdpa_net vfio:UUID, vdpa_sim_net"
	modprobe -r vdpa_sim_net vdpa_sim 2>/dev/null
	if ! modprobe vdpa_sim use_va=0 2>/dev/null; then
		skip_tests "bridge C simulator: vhost_vdpa_net (no vdpa_sim module)" t_net_c_sim
		return
	fi
	net_on_parent "bridge C simulator:" vdpasim_net vdpa_sim_net
	modprobe -r vdpa_sim
}

# With kmemleak (the debug flavour), nothing the tests did may leak.
t_kmemleak() {
	test_desc "kmemleak finds no leak"
	vdpa_kmemleak_clean
}

TESTS=(t_bind t_no_override t_type t_create t_create_second t_ctl t_net t_net_iommufd t_bad t_blk_type1
	t_blk_iommufd t_rmmod_while_open
	t_remove_waits t_remove_mdev t_unbind t_dev_del t_rmmod t_net_incremental t_net_c_sim
	t_kmemleak)

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "the vdpa tool (iproute2)" vdpa help
vdpa_require "the VFIO container (/dev/vfio/vfio)" test -c /dev/vfio/vfio
vdpa_require "the Rust simulator (vdpa_rsim)" modprobe vdpa_rsim
vdpa_require "the mdev bridge (vfio_vdpa)" modprobe vfio_vdpa
test_runs_program t_ctl "$DIR/vfio_vdpa_ctl"
test_runs_program t_net "$DIR/vhost_vdpa_net" vfio:
test_runs_program t_net_iommufd "$DIR/vhost_vdpa_net" iommufd:
test_runs_program t_bad "$DIR/vfio_vdpa_bad"
test_runs_program t_blk_type1 "$DIR/vhost_vdpa_blk"
test_runs_program t_blk_iommufd "$DIR/vhost_vdpa_blk"
test_runs_program t_net_incremental "$DIR/vhost_vdpa_net" vfio:
test_runs_program t_net_c_sim "$DIR/vhost_vdpa_net" vfio:
ulimit -l unlimited
tests_set_plan 1 "${TESTS[@]}"

cleanup() {
	vdpa dev del "$DEV" 2>/dev/null
	vdpa dev del ksft-vfio1 2>/dev/null
	vdpa dev del "$BLK" 2>/dev/null
	vdpa dev del "$OTHER" 2>/dev/null
	modprobe -r vfio_vdpa vdpa_rsim vdpa_sim_net vdpa_sim 2>/dev/null
}
trap cleanup EXIT

# The device must not be taken by virtio_vdpa or vhost_vdpa first.
modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
# What leaked before the tests (the boot) is not theirs.
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan > /sys/kernel/debug/kmemleak
	echo clear > /sys/kernel/debug/kmemleak
fi
run_tests "${TESTS[@]}"
ktap_finished
