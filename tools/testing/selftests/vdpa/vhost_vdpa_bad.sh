#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Bad input and races against the net simulators, ours (with each DMA model)
# and the C one: vhost_vdpa_bad.c drives /dev/vhost-vdpa-N with bad config
# accesses, status changes, mappings of the wrong permission, bogus control
# commands and resets racing traffic; this script adds the netlink side (MTUs
# out of range) and removals while a process holds the device open (vdpa dev
# del, the module unload), which must wait for it and then complete.
. "$(dirname "$0")/lib.sh"

# Resets racing traffic: fewer on the debug flavour's kernel.
RESETS=100
vdpa_debug_kernel && RESETS=20
PARENTS=${VDPA_BAD_PARENTS:-vdpa_rsim:faux/vdpa_rsim_net vdpa_rsim@batch_mapping=0:faux/vdpa_rsim_net vdpa_sim_net:vdpasim_net}
# On the debug flavour's kernel the C reference's worker, fed kicks in a loop,
# starves its resets (the race below does not end in 600 s): it is compared on
# the base kernel only.
vdpa_debug_kernel && PARENTS=${VDPA_BAD_PARENTS:-vdpa_rsim:faux/vdpa_rsim_net vdpa_rsim@batch_mapping=0:faux/vdpa_rsim_net}
DEV=ksft-bad0
MAC=02:52:56:11:22:44

cleanup() {
	vdpa dev del "$DEV" 2>/dev/null
	modprobe -r vhost_vdpa 2>/dev/null
}
trap cleanup EXIT

# Creates the device, binds it to vhost_vdpa and prints its node.
bad_dev_up() { # bad_dev_up <mgmtdev>
	vdpa dev add name "$DEV" mgmtdev "$1" mac "$MAC" || return 1
	wait_for vdpa_vhost_of "$DEV" || return 1
	wait_for test -c "/dev/$(vdpa_vhost_of "$DEV")" || return 1
	echo "/dev/$(vdpa_vhost_of "$DEV")"
}

# Runs a command in the background while vhost_vdpa_bad holds the node open:
# the command must still be running after 2 s (it waits for the holder) and
# end within 20 s of the holder's exit. Prints "waited" or "did not wait",
# then its exit status.
while_held() { # while_held <node> <command...>
	local node=$1 pid waited=0 i
	shift
	coproc HOLD { "$DIR/vhost_vdpa_bad" hold "$node"; }
	local hold_pid=$HOLD_PID
	read -r -t 10 line <&"${HOLD[0]}"
	[ "$line" = ready ] || { echo "the holder did not get ready"; kill "$hold_pid" 2>/dev/null; return 1; }
	"$@" &
	pid=$!
	sleep 2
	kill -0 "$pid" 2>/dev/null && waited=1
	exec {HOLD[1]}>&-
	wait "$hold_pid" 2>/dev/null
	if ! pid_ends_within "$pid"; then
		echo "still running 20 s after the holder closed the device"
		return 1
	fi
	wait "$pid"
	local rc=$?
	[ $waited = 1 ] && echo waited || echo "did not wait"
	return $rc
}

# Netlink: the core refuses an MTU below 68; one far above what a parent
# takes is refused with nothing created, or created as asked.
t_mtu_too_small() {
	test_desc "$p mtu 0 and 67 are refused, nothing created"
	! vdpa dev add name "$DEV" mgmtdev "$mgmt" mac "$MAC" mtu 0 2>/dev/null &&
		! vdpa dev add name "$DEV" mgmtdev "$mgmt" mac "$MAC" mtu 67 2>/dev/null &&
		! vdpa_dev_exists "$DEV"
}

t_mtu_max() {
	test_desc "$p mtu 65535 is refused with nothing created, or created with that MTU"
	if vdpa dev add name "$DEV" mgmtdev "$mgmt" mac "$MAC" mtu 65535 2>/dev/null; then
		vdpa dev config show "$DEV" | grep -q 'mtu 65535' || return 1
		vdpa dev del "$DEV"
	else
		! vdpa_dev_exists "$DEV"
	fi
}

# The device's bad input and races, in vhost_vdpa_bad.
t_program() {
	local skip_mac=

	test_desc "$p vhost_vdpa_bad"
	node=$(bad_dev_up "$mgmt")
	if [ -z "$node" ]; then
		fail_tests "$p the device for vhost_vdpa_bad could not be made" t_program
		return
	fi
	case "$mod" in vdpa_sim_*) skip_mac="the C simulator copies a short address into its MAC" ;; esac
	VDPA_RACE_RESETS=$RESETS VHOST_VDPA_SKIP_SHORT_MAC=$skip_mac ktap_run_program "$p" "$DIR/vhost_vdpa_bad" "$node" "$MAC"
}

# Removing the device, or unloading its module, while a process holds it:
# the first test of each pair holds it, the second sees how that ended.
held_rc=
t_del_waits() {
	local out

	test_desc "$p vdpa dev del waits while a process holds the device"
	out=$(while_held "$node" vdpa dev del "$DEV" 2>&1)
	held_rc=$?
	echo "$out"
	[ "$(echo "$out" | tail -n 1)" = waited ]
}

t_del_completes() {
	test_desc "$p ... and completes once it lets go, the device gone"
	[ "$held_rc" = 0 ] && ! vdpa_dev_exists "$DEV" && ! ls /dev/vhost-vdpa-* 2>/dev/null
}

t_unload_waits() {
	local out

	test_desc "$p unloading $mod waits while a process holds its device"
	node=$(bad_dev_up "$mgmt")
	out=$([ -n "$node" ] && while_held "$node" modprobe -r "$mod" 2>&1)
	held_rc=$?
	echo "$out"
	[ "$(echo "$out" | tail -n 1)" = waited ]
}

t_unload_completes() {
	test_desc "$p ... and completes once it lets go, device and module gone"
	[ "$held_rc" = 0 ] && ! vdpa_dev_exists "$DEV" && ! grep -q "^$mod " /proc/modules
}

TESTS=(t_mtu_too_small t_mtu_max t_program t_del_waits t_del_completes t_unload_waits
	t_unload_completes)

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "the vdpa tool (iproute2)" vdpa help
test_runs_program t_program "$DIR/vhost_vdpa_bad"
set -- $PARENTS
tests_set_plan $# "${TESTS[@]}"
ulimit -l unlimited

for parent in "$@"; do
	mod=${parent%%:*}
	mgmt=${parent#*:}
	params=
	case "$mod" in *@*) params=${mod#*@}; mod=${mod%%@*} ;; esac
	p="$mod${params:+ $params}:"
	case "$mod" in
	vdpa_sim_*)
		modprobe -r "$mod" vdpa_sim 2>/dev/null
		modprobe vdpa_sim use_va=0 2>/dev/null
		;;
	esac
	modprobe -r "$mod" 2>/dev/null
	if ! modprobe "$mod" $params 2>/dev/null; then
		skip_tests "$p module $mod is not available" "${TESTS[@]}"
		continue
	fi
	modprobe -r virtio_vdpa 2>/dev/null
	modprobe vhost_vdpa
	run_tests "${TESTS[@]}"
	modprobe -r vhost_vdpa 2>/dev/null
	case "$mod" in vdpa_sim_*) modprobe -r vdpa_sim 2>/dev/null ;; esac
done
ktap_finished
