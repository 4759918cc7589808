#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs in the guest (see bench.sh): the same clients against the Rust
# simulator and the C one, side by side in one boot.
#   net: pktgen sends 64-byte frames (60 + FCS room) to the device's MAC on
#        the virtio-net netdev over virtio_vdpa; frames received back per
#        second are the device's loopback rate.
#   blk: 4 KiB O_DIRECT reads at queue depth 1 (dd) on the virtio-blk disk.
set -u
SECS=${BENCH_SECS:-10}
MAC=02:52:56:11:22:33
PARENTS_NET="vdpa_rsim:faux/vdpa_rsim_net vdpa_sim_net:vdpasim_net"
PARENTS_BLK="vdpa_rsim:faux/vdpa_rsim_blk vdpa_sim_blk:vdpasim_blk"

pg() { echo "$2" > "/proc/net/pktgen/$1"; }

net_pps() { # net_pps <module> <mgmtdev>
	local ifname rx0 rx1 tx0 tx1
	modprobe "$1" && modprobe virtio_vdpa || return 1
	vdpa dev add name bench0 mgmtdev "$2" mac "$MAC" || return 1
	for _ in $(seq 50); do
		ifname=$(ls /sys/bus/vdpa/devices/bench0/virtio*/net 2>/dev/null) && [ -n "$ifname" ] && break
		sleep 0.1
	done
	ip link set dev "$ifname" up
	pg kpktgend_0 "rem_device_all"
	pg kpktgend_0 "add_device $ifname"
	pg "$ifname" "count 0"
	pg "$ifname" "pkt_size 60"
	pg "$ifname" "delay 0"
	pg "$ifname" "dst_mac $MAC"
	rx0=$(cat "/sys/class/net/$ifname/statistics/rx_packets")
	tx0=$(cat "/sys/class/net/$ifname/statistics/tx_packets")
	echo start > /proc/net/pktgen/pgctrl &
	sleep "$SECS"
	echo stop > /proc/net/pktgen/pgctrl
	wait
	rx1=$(cat "/sys/class/net/$ifname/statistics/rx_packets")
	tx1=$(cat "/sys/class/net/$ifname/statistics/tx_packets")
	echo "$(( (rx1 - rx0) / SECS )) $(( (tx1 - tx0) / SECS ))"
	pg kpktgend_0 "rem_device_all"
	vdpa dev del bench0
	modprobe -r virtio_vdpa "$1"
}

blk_iops() { # blk_iops <module> <mgmtdev>
	local disk n start end
	modprobe "$1" && modprobe virtio_vdpa || return 1
	vdpa dev add name bench1 mgmtdev "$2" || return 1
	for _ in $(seq 300); do
		disk=$(ls /sys/bus/vdpa/devices/bench1/virtio*/block 2>/dev/null) && [ -n "$disk" ] && break
		sleep 0.1
	done
	if [ -z "$disk" ]; then
		echo 0
		vdpa dev del bench1
		return 1
	fi
	n=20000
	start=$(date +%s%N)
	dd if="/dev/$disk" of=/dev/null bs=4k count=$n iflag=direct status=none
	end=$(date +%s%N)
	echo $(( n * 1000000000 / (end - start) ))
	vdpa dev del bench1
	modprobe -r virtio_vdpa "$1"
}

modprobe pktgen || { echo "pktgen is not available"; exit 4; }
modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
echo "# net: 64-byte frames looped back per second ($SECS s each, pktgen over virtio_vdpa)"
declare -A res
for p in $PARENTS_NET; do
	read -r rx tx < <(net_pps "${p%%:*}" "${p#*:}")
	res[net_${p%%:*}]=$rx
	echo "net ${p%%:*}: rx ${rx} pps (tx ${tx} pps)"
done
echo "# blk: 4 KiB O_DIRECT reads per second, queue depth 1 (dd over virtio_vdpa)"
for p in $PARENTS_BLK; do
	iops=$(blk_iops "${p%%:*}" "${p#*:}")
	res[blk_${p%%:*}]=$iops
	echo "blk ${p%%:*}: ${iops} IOPS"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "ratio net Rust/C: $(ratio "${res[net_vdpa_rsim]:-0}" "${res[net_vdpa_sim_net]:-0}")"
echo "ratio blk Rust/C: $(ratio "${res[blk_vdpa_rsim]:-0}" "${res[blk_vdpa_sim_blk]:-0}")"
