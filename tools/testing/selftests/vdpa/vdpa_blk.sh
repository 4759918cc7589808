#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vDPA block parents under the kernel's virtio-blk driver over virtio_vdpa:
# data written to the disk reads back identical, and a busy disk can be
# deleted. Each parent is
# "module:mgmtdev"; the in-tree C simulator is the reference.
. "$(dirname "$0")/lib.sh"

PARENTS=${VDPA_BLK_PARENTS:-vdpa_sim_blk:vdpasim_blk vdpa_rsim:faux/vdpa_rsim_blk}
DEV=ksft-blk0
TMP=$(mktemp -d)

ktap_print_header
vdpa_require "the vdpa tool (iproute2)" vdpa help
vdpa_require "root" test "$(id -u)" = 0

cleanup() {
	vdpa dev del "$DEV" 2>/dev/null
	modprobe -r virtio_vdpa 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# Deletes a device whose disk has a mounted file system with writes in
# flight: the disk's removal flushes through the device, so the device must
# be unregistered (virtio-blk removed) before the parent stops it. The
# deletion gets 60 seconds (a process stuck in D state cannot be killed, so
# it is watched from here rather than under timeout).
busy_del() { # busy_del <vdpa dev> <disk>
	local pid dd i
	mkdir -p "$TMP/mnt"
	mkfs.ext4 -q -F "/dev/$2" && mount "/dev/$2" "$TMP/mnt" || return 1
	dd if=/dev/zero of="$TMP/mnt/f" bs=1M count=32 status=none 2>/dev/null &
	dd=$!
	sleep 1
	vdpa dev del "$1" &
	pid=$!
	if ! pid_ends_within $pid 60; then
		echo "vdpa dev del is still running after 60 s"
		return 1
	fi
	kill $dd 2>/dev/null
	umount -l "$TMP/mnt"
	wait $pid || return 1
	! vdpa_dev_exists "$1" && ! [ -e "/sys/block/$2" ]
}

# Writes a pattern at a byte offset with O_DIRECT, reads it back and compares.
write_read() { # write_read <disk> <offset in MiB> <MiB>
	head -c $(($3 << 20)) /dev/urandom > "$TMP/pattern"
	dd if="$TMP/pattern" of="/dev/$1" bs=1M seek="$2" oflag=direct conv=fsync status=none &&
		dd if="/dev/$1" of="$TMP/back" bs=1M skip="$2" count="$3" iflag=direct status=none &&
		cmp "$TMP/pattern" "$TMP/back"
}

# Writes a pattern, zeroes it with write-zeroes, and checks it reads back as zeros.
zeroes() { # zeroes <disk> <offset in MiB> <MiB>
	write_read "$1" "$2" "$3" &&
		blkdiscard -z -o $(($2 << 20)) -l $(($3 << 20)) "/dev/$1" &&
		dd if="/dev/$1" of="$TMP/back" bs=1M skip="$2" count="$3" iflag=direct status=none &&
		cmp -n $(($3 << 20)) "$TMP/back" /dev/zero
}

t_dev_add() {
	test_desc "$p dev add succeeds"
	vdpa dev add name "$DEV" mgmtdev "$mgmt"
}

t_bind() {
	test_desc "$p virtio_vdpa binds it"
	modprobe virtio_vdpa
}

t_disk() {
	test_desc "$p a disk appears"
	wait_for vdpa_blkdev_of "$DEV"
	local r=$?
	disk=$(vdpa_blkdev_of "$DEV")
	sectors=$(cat "/sys/block/$disk/size" 2>/dev/null || echo 0)
	return $r
}

t_capacity() {
	test_desc "$p the disk has a capacity"
	test "$sectors" -gt 8192
}

t_rw_start() {
	test_desc "$p data written at the start reads back"
	write_read "$disk" 0 4
}

t_rw_end() {
	test_desc "$p data written at the end reads back"
	write_read "$disk" $(((sectors >> 11) - 2)) 2
}

t_rw_middle() {
	test_desc "$p data written in the middle reads back"
	write_read "$disk" $((sectors >> 12)) 3
}

t_write_zeroes() {
	test_desc "$p write-zeroes clears a range"
	zeroes "$disk" 8 1
}

t_discard() {
	test_desc "$p discard succeeds"
	blkdiscard -o $((16 << 20)) -l $((1 << 20)) "/dev/$disk"
}

t_id() {
	test_desc "$p the disk has an id (GET_ID)"
	[ -n "$(cat "/sys/block/$disk/serial")" ]
}

t_dev_del() {
	test_desc "$p dev del removes the disk"
	vdpa dev del "$DEV" && ! [ -e "/sys/block/$disk" ]
}

t_busy_del() {
	test_desc "$p dev del of a disk with a mounted file system and writes in flight completes"
	vdpa dev add name "$DEV" mgmtdev "$mgmt" && wait_for vdpa_blkdev_of "$DEV"
	busy_del "$DEV" "$(vdpa_blkdev_of "$DEV")"
}

TESTS=(t_dev_add t_bind t_disk t_capacity t_rw_start t_rw_end t_rw_middle t_write_zeroes
	t_discard t_id t_dev_del t_busy_del)

run_parent() { # run_parent <module> <mgmtdev>
	local mod=$1 mgmt=$2 p="$1:" disk sectors

	if ! modprobe "$mod" 2>/dev/null; then
		skip_tests "$p module $mod is not available" "${TESTS[@]}"
		return
	fi
	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
	run_tests "${TESTS[@]}"
	modprobe -r virtio_vdpa "$mod" 2>/dev/null
}

set -- $PARENTS
tests_set_plan $# "${TESTS[@]}"
for parent in "$@"; do
	run_parent "${parent%%:*}" "${parent#*:}"
done
ktap_finished
