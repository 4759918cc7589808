#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vDPA block parents under the kernel's virtio-blk driver over virtio_vdpa:
# data written to the disk reads back identical. Each parent is
# "module:mgmtdev"; the in-tree C simulator is the reference.
. "$(dirname "$0")/lib.sh"

PARENTS=${VDPA_BLK_PARENTS:-vdpa_sim_blk:vdpasim_blk vdpa_rsim:faux/vdpa_rsim_blk}
DEV=ksft-blk0
NTESTS=11
TMP=$(mktemp -d)

ktap_print_header
vdpa_require "the vdpa tool (iproute2)" vdpa help
vdpa_require "root" test "$(id -u)" = 0
set -- $PARENTS
ktap_set_plan $((NTESTS * $#))

cleanup() {
	vdpa dev del "$DEV" 2>/dev/null
	modprobe -r virtio_vdpa 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

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

run_parent() { # run_parent <module> <mgmtdev>
	local mod=$1 mgmt=$2 p="$1:" disk sectors i

	if ! modprobe "$mod" 2>/dev/null; then
		for i in $(seq 1 $NTESTS); do ktap_test_skip "$p module $mod is not available"; done
		return
	fi
	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
	check "$p dev add succeeds" vdpa dev add name "$DEV" mgmtdev "$mgmt"
	check "$p virtio_vdpa binds it" sh -c "modprobe virtio_vdpa"
	check "$p a disk appears" wait_for vdpa_blkdev_of "$DEV"
	disk=$(vdpa_blkdev_of "$DEV")
	sectors=$(cat "/sys/block/$disk/size" 2>/dev/null || echo 0)
	check "$p the disk has a capacity" test "$sectors" -gt 8192
	check "$p data written at the start reads back" write_read "$disk" 0 4
	check "$p data written at the end reads back" write_read "$disk" $(((sectors >> 11) - 2)) 2
	check "$p data written in the middle reads back" write_read "$disk" $((sectors >> 12)) 3
	check "$p write-zeroes clears a range" zeroes "$disk" 8 1
	check "$p discard succeeds" blkdiscard -o $((16 << 20)) -l $((1 << 20)) "/dev/$disk"
	check "$p the disk has an id (GET_ID)" sh -c "[ -n \"\$(cat /sys/block/$disk/serial)\" ]"
	check "$p dev del removes the disk" \
		sh -c "vdpa dev del $DEV && ! [ -e /sys/block/$disk ]"
	modprobe -r virtio_vdpa "$mod" 2>/dev/null
}

for parent in "$@"; do
	run_parent "${parent%%:*}" "${parent#*:}"
done
ktap_finished
