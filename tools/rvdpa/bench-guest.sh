#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs in the guest (see bench.sh): the same clients against the Rust
# simulator and the C one, side by side in one boot.
#   net: pktgen sends 64-byte frames (60 + FCS room) to the device's MAC on
#        the virtio-net netdev over virtio_vdpa; frames received back per
#        second are the device's loopback rate.
#   blk: 4 KiB O_DIRECT reads at queue depth 1 (dd) on the virtio-blk disk.
#   pci: the same QEMU virtio-net function (00:10.0) driven natively by
#        virtio_pci, through the C vp_vdpa and through our vdpa_rpci (both
#        over virtio_vdpa): pktgen frames to the peer function (00:11.0),
#        counted as the peer receives them, 64-byte (pps) and 1514-byte
#        (throughput); then 4 KiB reads on the virtio-blk function (00:12.0).
#   bridge: the same net device of each simulator driven from userspace by
#        vdpa_bench (vhost_vdpa_lib.c), through vhost_vdpa and then through
#        the mdev bridge (vfio_vdpa, type1): kick-to-call round trip of one
#        64-byte frame, and 64-byte frames looped back per second with 32 in
#        flight; then the vdpa_rpci device of the PCI function the same two
#        ways, on the wire (vdpa_bench wire): doorbells mapped, kick to TX
#        call of one frame, 64-byte frames sent per second.
set -u
. "$(dirname "$0")/../testing/selftests/vdpa/pci_lib.sh"
NET=0000:00:10.0
PEER=0000:00:11.0
BLK=0000:00:12.0
SECS=${BENCH_SECS:-10}
# What to measure: "sim" (the simulators) and/or "pci" (the PCI parents).
PARTS=${BENCH_PARTS:-sim bridge pci}
# Where the kselftest programs are (vdpa_bench).
BIN=${BENCH_BIN:-}
MAC=02:52:56:11:22:33
PARENTS_NET="vdpa_rsim:faux/vdpa_rsim_net vdpa_sim_net:vdpasim_net"
PARENTS_BLK="vdpa_rsim:faux/vdpa_rsim_blk vdpa_sim_blk:vdpasim_blk"

pg() { echo "$2" > "/proc/net/pktgen/$1"; }

# Runs pktgen on a netdev for SECS seconds (frames of a size to a MAC) and
# prints the frames and bytes per second an interface (the same one, or the
# peer) received.
pktgen_rx() { # pktgen_rx <tx ifname> <frame size> <dst mac> <rx ifname>
	local p0 b0 p1 b1 st=/sys/class/net/$4/statistics
	pg kpktgend_0 "rem_device_all"
	pg kpktgend_0 "add_device $1"
	pg "$1" "count 0"
	pg "$1" "pkt_size $2"
	pg "$1" "delay 0"
	pg "$1" "dst_mac $3"
	p0=$(cat "$st/rx_packets")
	b0=$(cat "$st/rx_bytes")
	echo start > /proc/net/pktgen/pgctrl &
	sleep "$SECS"
	echo stop > /proc/net/pktgen/pgctrl
	wait
	p1=$(cat "$st/rx_packets")
	b1=$(cat "$st/rx_bytes")
	pg kpktgend_0 "rem_device_all"
	echo "$(( (p1 - p0) / SECS )) $(( (b1 - b0) / SECS ))"
}

net_pps() { # net_pps <module> <mgmtdev>
	local ifname
	modprobe "$1" && modprobe virtio_vdpa || return 1
	vdpa dev add name bench0 mgmtdev "$2" mac "$MAC" || return 1
	for _ in $(seq 50); do
		ifname=$(ls /sys/bus/vdpa/devices/bench0/virtio*/net 2>/dev/null) && [ -n "$ifname" ] && break
		sleep 0.1
	done
	ip link set dev "$ifname" up
	pktgen_rx "$ifname" 60 "$MAC" "$ifname" | cut -d' ' -f1
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

# pktgen frames of a size from a netdev to the peer function; prints the
# frames per second and Mbit/s the peer received.
peer_rate() { # peer_rate <ifname> <frame size>
	local peer pps bps
	peer=$(fn_netdev $PEER)
	ip link set dev "$1" up
	ip link set dev "$peer" up
	sleep 1
	read -r pps bps < <(pktgen_rx "$1" "$2" 52:54:00:72:76:11 "$peer")
	echo "$pps $(( bps * 8 / 1000000 ))"
}

# Gives the functions to a driver ("native" is virtio_pci) and prints
# "pps Mbit/s IOPS" for them.
pci_run() { # pci_run <native|module:pci driver>
	local ifname disk pps mbit n start end
	if [ "$1" = native ]; then
		pci_native $NET && pci_native $BLK || return 1
	else
		modprobe "${1%%:*}" && modprobe virtio_vdpa || return 1
		pci_give $NET "${1#*:}" && pci_give $BLK "${1#*:}" || return 1
		pci_dev_add benchp0 $NET || return 1
		pci_dev_add benchp1 $BLK || return 1
	fi
	ifname= disk=
	for _ in $(seq 100); do
		ifname=$(fn_netdev $NET) && disk=$(fn_blkdev $BLK) && break
		sleep 0.1
	done
	if [ -z "$ifname" ] || [ -z "$disk" ]; then
		echo "pci $1: no netdev or disk after 10 s" >&2
		vdpa dev show >&2
		lsmod | grep -E 'vdpa|virtio' >&2
		ls -l /sys/bus/vdpa/devices/*/driver >&2
		dmesg | tail -n 5 >&2
		return 1
	fi
	read -r pps _ < <(peer_rate "$ifname" 60)
	read -r _ mbit < <(peer_rate "$ifname" 1514)
	n=20000
	start=$(date +%s%N)
	dd if="/dev/$disk" of=/dev/null bs=4k count=$n iflag=direct status=none
	end=$(date +%s%N)
	echo "$pps $mbit $(( n * 1000000000 / (end - start) ))"
	if [ "$1" != native ]; then
		vdpa dev del benchp0
		vdpa dev del benchp1
		pci_native $NET
		pci_native $BLK
		modprobe -r virtio_vdpa "${1%%:*}"
	fi
}

# Binds a vDPA device to a bus driver through driver_override.
bind_to() { # bind_to <dev> <driver>
	local cur
	cur=$(basename "$(readlink "/sys/bus/vdpa/devices/$1/driver" 2>/dev/null)" 2>/dev/null)
	[ -n "$cur" ] && echo "$1" > "/sys/bus/vdpa/drivers/$cur/unbind"
	echo "$2" > "/sys/bus/vdpa/devices/$1/driver_override"
	echo "$1" > "/sys/bus/vdpa/drivers/$2/bind"
}

# Waits up to 10 s for a path to exist.
wait_path() {
	for _ in $(seq 100); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# One simulator's net device through vhost_vdpa, then through the bridge:
# prints "RTT_NS PPS RTT_NS PPS".
bridge_pair() { # bridge_pair <module> <mgmtdev>
	local node uuid type vr vp br bp
	modprobe "$1" && modprobe vhost_vdpa && modprobe vfio_vdpa || return 1
	vdpa dev add name benchb0 mgmtdev "$2" mac "$MAC" || return 1
	bind_to benchb0 vhost_vdpa
	wait_path /sys/bus/vdpa/devices/benchb0/vhost-vdpa-* 2>/dev/null
	node=/dev/$(basename /sys/bus/vdpa/devices/benchb0/vhost-vdpa-*)
	wait_path "$node"
	read -r vr vp < <("$BIN/vdpa_bench" "$node" "$SECS")
	bind_to benchb0 vfio_vdpa
	type=/sys/bus/vdpa/devices/benchb0/mdev_supported_types/vfio_vdpa-net
	uuid=$(cat /proc/sys/kernel/random/uuid)
	wait_path "$type" && echo "$uuid" > "$type/create" &&
		wait_path "/sys/bus/mdev/devices/$uuid/iommu_group" &&
		read -r br bp < <("$BIN/vdpa_bench" "vfio:$uuid" "$SECS")
	[ -e "/sys/bus/mdev/devices/$uuid" ] && echo 1 > "/sys/bus/mdev/devices/$uuid/remove"
	vdpa dev del benchb0
	modprobe -r vfio_vdpa vhost_vdpa "$1"
	echo "${vr:-0} ${vp:-0} ${br:-0} ${bp:-0}"
}

# vdpa_rpci's device of the net function through vhost_vdpa and through the
# bridge, on the wire, in the order vhost_vdpa, bridge, bridge, vhost_vdpa
# (what runs later must not be favoured): prints the means,
# "RTT_NS PPS MAPPED RTT_NS PPS MAPPED".
bridge_pci_pair() {
	local node uuid type v1 v2 b1 b2
	modprobe vdpa_rpci && modprobe vhost_vdpa && modprobe vfio_vdpa || return 1
	pci_native $PEER && ip link set "$(fn_netdev $PEER)" up
	pci_give $NET vdpa_rpci && pci_dev_add benchbp $NET || return 1
	type=/sys/bus/vdpa/devices/benchbp/mdev_supported_types/vfio_vdpa-net
	uuid=$(cat /proc/sys/kernel/random/uuid)
	bench_vhost() {
		bind_to benchbp vhost_vdpa
		wait_path /sys/bus/vdpa/devices/benchbp/vhost-vdpa-* 2>/dev/null
		node=/dev/$(basename /sys/bus/vdpa/devices/benchbp/vhost-vdpa-*)
		wait_path "$node" && "$BIN/vdpa_bench" "$node" "$SECS" wire
	}
	bench_bridge() {
		bind_to benchbp vfio_vdpa
		wait_path "$type" && echo "$uuid" > "$type/create" &&
			wait_path "/sys/bus/mdev/devices/$uuid/iommu_group" &&
			"$BIN/vdpa_bench" "vfio:$uuid" "$SECS" wire
		[ -e "/sys/bus/mdev/devices/$uuid" ] && echo 1 > "/sys/bus/mdev/devices/$uuid/remove"
	}
	v1=$(bench_vhost)
	b1=$(bench_bridge)
	b2=$(bench_bridge)
	v2=$(bench_vhost)
	vdpa dev del benchbp
	pci_native $NET
	modprobe -r vfio_vdpa vhost_vdpa vdpa_rpci
	echo "${v1:-0 0 0} ${v2:-0 0 0} ${b1:-0 0 0} ${b2:-0 0 0}" |
		awk '{ printf "%.0f %.0f %d %.0f %.0f %d\n", ($1 + $4) / 2, ($2 + $5) / 2, $3 * $6,
			($7 + $10) / 2, ($8 + $11) / 2, $9 * $12 }'
}

modprobe pktgen || { echo "pktgen is not available"; exit 4; }
modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
declare -A res
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
case " $PARTS " in *" sim "*)
	echo "# net: 64-byte frames looped back per second ($SECS s each, pktgen over virtio_vdpa)"
	for p in $PARENTS_NET; do
		rx=$(net_pps "${p%%:*}" "${p#*:}")
		res[net_${p%%:*}]=${rx:-0}
		echo "net ${p%%:*}: ${rx:-0} pps looped back"
	done
	echo "# blk: 4 KiB O_DIRECT reads per second, queue depth 1 (dd over virtio_vdpa)"
	for p in $PARENTS_BLK; do
		iops=$(blk_iops "${p%%:*}" "${p#*:}")
		res[blk_${p%%:*}]=$iops
		echo "blk ${p%%:*}: ${iops} IOPS"
	done
	echo "ratio net Rust/C: $(ratio "${res[net_vdpa_rsim]:-0}" "${res[net_vdpa_sim_net]:-0}")"
	echo "ratio blk Rust/C: $(ratio "${res[blk_vdpa_rsim]:-0}" "${res[blk_vdpa_sim_blk]:-0}")"
;;
esac

case " $PARTS " in *" bridge "*)
	if [ -x "$BIN/vdpa_bench" ]; then
		ulimit -l unlimited
		echo "# bridge: vdpa_bench on each simulator's net device, through vhost_vdpa then" \
			"through vfio_vdpa (type1): round trip of one 64-byte frame (kick to call)," \
			"64-byte frames per second with 32 in flight ($SECS s each)"
		modprobe -r vdpa_sim_net vdpa_sim 2>/dev/null
		modprobe vdpa_sim use_va=0
		for p in vdpa_rsim:faux/vdpa_rsim_net vdpa_sim_net:vdpasim_net; do
			read -r vr vp br bp < <(bridge_pair "${p%%:*}" "${p#*:}")
			echo "bridge ${p%%:*}: vhost_vdpa ${vr} ns ${vp} pps; vfio_vdpa ${br} ns ${bp} pps"
			echo "ratio bridge/vhost_vdpa ${p%%:*}: round trip $(ratio "$br" "$vr")," \
				"pps $(ratio "$bp" "$vp")"
		done
		modprobe -r vdpa_sim 2>/dev/null
		if [ -e /sys/bus/pci/devices/$NET ] && [ -e /sys/bus/pci/devices/$NET/iommu_group ]; then
			echo "# bridge: vdpa_bench wire on vdpa_rpci's device of $NET, through vhost_vdpa" \
				"then vfio_vdpa: round trip of one 64-byte frame sent (kick to TX call)," \
				"64-byte frames sent per second with 32 in flight ($SECS s each; each" \
				"way twice, vhost_vdpa, bridge, bridge, vhost_vdpa, averaged)"
			read -r vr vp vm br bp bm < <(bridge_pci_pair)
			echo "bridge vdpa_rpci: vhost_vdpa ${vr} ns ${vp} pps (doorbells mapped: ${vm});" \
				"vfio_vdpa ${br} ns ${bp} pps (doorbells mapped: ${bm})"
			echo "ratio bridge/vhost_vdpa vdpa_rpci: round trip $(ratio "$br" "$vr")," \
				"pps $(ratio "$bp" "$vp")"
		else
			echo "# bridge: no PCI function behind an IOMMU in this guest for vdpa_rpci"
		fi
	else
		echo "# bridge: no vdpa_bench program (BENCH_BIN)"
	fi
;;
esac

if [[ " $PARTS " != *" pci "* ]]; then
	:
elif [ -e /sys/bus/pci/devices/$NET ] && [ -e /sys/bus/pci/devices/$BLK ]; then
	order=${BENCH_PCI_ORDER:-native vp_vdpa:vp-vdpa vdpa_rpci:vdpa_rpci}
	rounds=${BENCH_ROUNDS:-2}
	echo "# pci: the same functions natively, through vp_vdpa and through vdpa_rpci" \
		"($SECS s per net run; $rounds rounds, every other one in reverse order, averaged)"
	reverse=$(echo "$order" | tr ' ' '\n' | tac | tr '\n' ' ')
	for r in $(seq "$rounds"); do
		[ $((r % 2)) = 1 ] && this=$order || this=$reverse
		for p in $this; do
			# (Not a process substitution: pci_run's cleanup must end before the next run.)
			out=$(pci_run "$p")
			read -r pps mbit iops <<< "$out"
			echo "pci round $r ${p%%:*}: ${pps:-0} pps (64 B), ${mbit:-0} Mbit/s (1514 B)," \
				"${iops:-0} IOPS (blk 4 KiB QD1)"
			res[pps_${p%%:*}]=$(( ${res[pps_${p%%:*}]:-0} + ${pps:-0} / rounds ))
			res[mbit_${p%%:*}]=$(( ${res[mbit_${p%%:*}]:-0} + ${mbit:-0} / rounds ))
			res[iops_${p%%:*}]=$(( ${res[iops_${p%%:*}]:-0} + ${iops:-0} / rounds ))
		done
	done
	for p in $order; do
		echo "pci ${p%%:*}: ${res[pps_${p%%:*}]} pps, ${res[mbit_${p%%:*}]} Mbit/s," \
			"${res[iops_${p%%:*}]} IOPS (mean of $rounds)"
	done
	for m in pps mbit iops; do
		echo "ratio pci $m vdpa_rpci/native: $(ratio "${res[${m}_vdpa_rpci]:-0}" "${res[${m}_native]:-0}")," \
			"vdpa_rpci/vp_vdpa: $(ratio "${res[${m}_vdpa_rpci]:-0}" "${res[${m}_vp_vdpa]:-0}")"
	done
else
	echo "# pci: no test functions in this guest (bench.sh adds them)"
fi
