# SPDX-License-Identifier: GPL-2.0
# Helpers for the PCI functions the vDPA tests (and the benchmark) are given
# (see rvdpa_test_functions in tools/rvdpa/lib.sh). Sourced.

# Gives a PCI function to a driver: driver_override, then a probe.
pci_give() { # pci_give <bdf> <driver>
	local cur
	cur=$(basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null)
	[ "$cur" = "$2" ] && return 0
	[ -n "$cur" ] && echo "$1" > "/sys/bus/pci/devices/$1/driver/unbind"
	echo "$2" > "/sys/bus/pci/devices/$1/driver_override"
	echo "$1" > /sys/bus/pci/drivers_probe
	[ "$(basename "$(readlink "/sys/bus/pci/devices/$1/driver")")" = "$2" ]
}

# Gives a function back to virtio_pci. (Through driver_override, which is
# cleared afterwards: a VF whose PF has sriov_drivers_autoprobe off binds to
# no driver that is not named so.)
pci_native() { # pci_native <bdf>
	local r
	pci_give "$1" virtio-pci
	r=$?
	echo > "/sys/bus/pci/devices/$1/driver_override"
	return $r
}

# The netdev (or disk) of a function's virtio device, whether virtio_pci or
# virtio_vdpa over a parent drives it: virtio_vdpa places the virtio device
# under the parent's DMA device, which is the function.
fn_netdev() { ls /sys/bus/pci/devices/"$1"/virtio*/net 2>/dev/null | head -n 1 | grep .; }
fn_blkdev() { ls /sys/bus/pci/devices/"$1"/virtio*/block 2>/dev/null | head -n 1 | grep .; }


# Sends a QMP command (JSON) to the guest's QEMU through the host's relay
# (tools/rvdpa/qmp-relay.py) and prints the answer; fails without a relay.
qmp() { # qmp <json>
	local d=${RVDPA_RESULTS:-} i
	[ -n "$d" ] && [ -d "$d" ] || return 1
	rm -f "$d/qmp-reply"
	echo "$1" > "$d/qmp-request.tmp" && mv "$d/qmp-request.tmp" "$d/qmp-request"
	for i in $(seq 100); do
		[ -f "$d/qmp-reply" ] && cat "$d/qmp-reply" && return 0
		sleep 0.1
	done
	return 1
}

# The PCI function whose virtio-net device has a MAC (bound to virtio_pci).
fn_by_mac() { # fn_by_mac <mac>
	local a
	for a in /sys/bus/pci/devices/*/virtio*/net/*/address; do
		[ "$(cat "$a" 2>/dev/null)" = "$1" ] && basename "$(readlink -f "${a%/virtio*}")" && return 0
	done
	return 1
}

# Creates a vDPA device on a function (with the features given, through
# vdpa_nl.py), but only when the add cannot fail for a reason the test did not
# choose: the name is free and the function has no vDPA device yet. A failed
# add on the C vp_vdpa leaves a dangling pointer in its management device that
# the next dev del or module unload dereferences (see "Known problems of the C
# reference" in Documentation/driver-api/virtio/vdpa-rust.rst), so the tests
# never let one fail by accident. Tests that want a refusal call vdpa directly,
# on our parents only.
pci_dev_add() { # pci_dev_add <vdpa dev name> <bdf> [features]
	if [ -e "/sys/bus/vdpa/devices/$1" ]; then
		echo "not adding $1: a vDPA device of that name exists" >&2
		return 1
	fi
	if vdpa dev show 2>/dev/null | grep -q "mgmtdev pci/$2 "; then
		echo "not adding $1: $2 has a vDPA device already" >&2
		return 1
	fi
	if [ -n "${3:-}" ]; then
		"${DIR:-$(dirname "${BASH_SOURCE[0]}")}/vdpa_nl.py" dev-add pci "$2" "$1" "$3"
	else
		vdpa dev add name "$1" mgmtdev "pci/$2"
	fi
}

# Creates a vDPA device on a function, brings its netdev up and prints it.
vdpa_fn_up() { # vdpa_fn_up <vdpa dev name> <bdf>
	local n= t
	pci_dev_add "$1" "$2" || return 1
	for t in $(seq 50); do n=$(fn_netdev "$2") && break; sleep 0.2; done
	[ -n "$n" ] && ip link set "$n" up && echo "$n"
}

# Sends frames from a netdev in a loop in the background until killed, and
# prints the loop's pid.
traffic_bg() { # traffic_bg <vdpa_net_loop> <ifname> <dst mac> <rx ifname>
	(while :; do "$1" "$2" "$3" 60 1514 50 back "$4"; sleep 0.1; done) >/dev/null 2>&1 &
	echo $!
}
