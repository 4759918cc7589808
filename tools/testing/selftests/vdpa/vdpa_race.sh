#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Unbinding virtio_vdpa from a device under traffic, many times: each unbind
# resets the device and frees the virtqueues whose callbacks the parent fires
# as it completes buffers, so a parent that calls a callback after the reset
# that cleared it touches freed memory. Per parent (the sample rust_vdpa_sink,
# which completes from a work item; our simulator, net and blk; the C one as
# the reference), a flood of frames or reads runs while virtio_vdpa is
# unbound and bound again RACE_ROUNDS times: every unbind and bind must end
# within 20 s, the netdev or disk must come back each time, and the device
# must work afterwards. A use after free shows as a splat in the kernel log,
# which fails the run (and KASAN, in the debug flavour, sees the smaller ones).
. "$(dirname "$0")/lib.sh"

PARENTS=${VDPA_RACE_PARENTS:-rust_vdpa_sink:faux/rust_vdpa_sink:net vdpa_rsim:faux/vdpa_rsim_net:net vdpa_sim_net:vdpasim_net:net vdpa_rsim:faux/vdpa_rsim_blk:blk vdpa_sim_blk:vdpasim_blk:blk}
ROUNDS=${RACE_ROUNDS:-30}
# The debug flavour's kernel is several times slower.
vdpa_debug_kernel && ROUNDS=${RACE_ROUNDS:-10}
DEV=ksft-race0
MAC=02:52:56:11:22:66

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "the vdpa tool (iproute2)" vdpa help
vdpa_require "python3" python3 -c ''

flood_pid=
stop_flood() {
	[ -n "$flood_pid" ] && kill "$flood_pid" 2>/dev/null && wait "$flood_pid" 2>/dev/null
	flood_pid=
}
cleanup() {
	stop_flood
	vdpa dev del "$DEV" 2>/dev/null
}
trap cleanup EXIT

# Runs a command in the background and waits up to $1 seconds for it: a
# command stuck in the kernel (D state) cannot be killed, so no `timeout`.
# Its output goes through a file: a stuck command must not hold the pipe of
# a caller that collects the output (a command substitution would wait
# for it forever).
bounded() { # bounded <seconds> <command...>
	local secs=$1 pid i rc out
	shift
	out=$(mktemp)
	"$@" > "$out" 2>&1 < /dev/null &
	pid=$!
	if ! pid_ends_within "$pid" "$secs"; then
		cat "$out"
		echo "still running after $secs s: $*"
		return 1
	fi
	wait "$pid"
	rc=$?
	cat "$out"
	rm -f "$out"
	return $rc
}

sysfs_write() { echo "$1" > "$2"; }

# The netdev or disk the device has under virtio_vdpa.
dev_node() { # dev_node <net|blk>
	if [ "$1" = net ]; then vdpa_netdev_of "$DEV"; else vdpa_blkdev_of "$DEV"; fi
}

# Sends broadcast frames on whatever netdev the device has, as fast as it
# can, until killed; prints how many were sent when it ends. Its sends never
# block: a sender blocked for socket buffer space holds a reference on the
# netdev (packet_snd), and a socket bound with protocol 0 is not woken when
# the netdev goes down, while virtio-net frees the sent buffers that would
# wake it only after the netdev is unregistered, which waits for that
# reference: the unbind would never end.
net_flood() {
	exec python3 -c '
import glob, signal, socket, subprocess, sys, time
dev, sent = sys.argv[1], 0
def done(*_):
    print(sent)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
frame = b"\xff" * 6 + b"\x02\x11\x22\x33\x44\x55\x88\xb5" + bytes(986)
while True:
    names = glob.glob("/sys/bus/vdpa/devices/%s/virtio*/net/*" % dev)
    if not names:
        time.sleep(0.01)
        continue
    name = names[0].rsplit("/", 1)[1]
    subprocess.run(["ip", "link", "set", name, "up"], stderr=subprocess.DEVNULL)
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((name, 0))
        s.setblocking(False)
        while True:
            try:
                s.send(frame)
                sent += 1
            except BlockingIOError:
                time.sleep(0.001)
    except OSError:
        time.sleep(0.01)
' "$DEV"
}

# Reads the disk the device has with direct I/O until killed; prints how
# many 64 KiB reads completed.
blk_flood() {
	local n=0 b
	trap 'echo $n; exit 0' TERM
	while :; do
		b=$(vdpa_blkdev_of "$DEV") &&
			dd if="/dev/$b" of=/dev/null bs=64k count=16 iflag=direct 2>/dev/null &&
			n=$((n + 16))
		sleep 0.01
	done
}

# Unbinds virtio_vdpa and binds it again $ROUNDS times under the flood.
race() { # race <net|blk>
	local i
	for i in $(seq "$ROUNDS"); do
		wait_for dev_node "$1" || { echo "round $i: no $1 node after the bind"; return 1; }
		sleep "0.$((RANDOM % 4))"
		bounded 20 sysfs_write "$DEV" /sys/bus/vdpa/drivers/virtio_vdpa/unbind ||
			{ echo "round $i: unbind"; return 1; }
		bounded 20 sysfs_write "$DEV" /sys/bus/vdpa/drivers/virtio_vdpa/bind ||
			{ echo "round $i: bind"; return 1; }
	done
	wait_for dev_node "$1"
}

# The device works after the race: frames loop back (the simulators), the
# sink uses what it is sent, a disk reads back what was written.
works() { # works <module> <net|blk>
	local n
	n=$(dev_node "$2") || return 1
	if [ "$2" = blk ]; then
		head -c 1M /dev/urandom > /tmp/race.in &&
			dd if=/tmp/race.in of="/dev/$n" bs=64k oflag=direct 2>/dev/null &&
			dd if="/dev/$n" of=/tmp/race.out bs=64k count=16 iflag=direct 2>/dev/null &&
			cmp /tmp/race.in /tmp/race.out
		return
	fi
	ip link set "$n" up || return 1
	if [ "$1" = rust_vdpa_sink ]; then
		vdpa_send_used "$n"
	else
		"$DIR/vdpa_net_loop" "$n" "$MAC" 60 1514 97 back
	fi
}

# The flood (net_flood or blk_flood) runs from before the first test, its
# count in FLOOD_OUT when it ends.
FLOOD_OUT=/tmp/race.flood

t_race() {
	test_desc "$p $ROUNDS unbinds and binds of virtio_vdpa under traffic each end in time, the $kind node back each time"
	race "$kind"
}

t_flood() {
	local unit="frames sent"

	stop_flood
	[ "$kind" = blk ] && unit="64 KiB blocks read"
	test_desc "$p the flood went on during the race ($(cat "$FLOOD_OUT" 2>/dev/null || echo ?) $unit)"
	test "$(cat "$FLOOD_OUT" 2>/dev/null || echo 0)" -gt 0
}

t_works() {
	test_desc "$p the device works after the race"
	works "$mod" "$kind"
}

del_unload() { vdpa dev del "$DEV" && modprobe -r virtio_vdpa "$mod"; }

t_del_unload() {
	test_desc "$p dev del and unload end in time"
	bounded 30 del_unload
}

TESTS=(t_race t_flood t_works t_del_unload)

set -- $PARENTS
tests_set_plan $# "${TESTS[@]}"
for parent in "$@"; do
	IFS=: read -r mod mgmt kind <<< "$parent"
	p="$mod $kind:"
	modprobe -r virtio_vdpa vhost_vdpa 2>/dev/null
	if ! modprobe "$mod" 2>/dev/null; then
		skip_tests "$p module $mod is not available" "${TESTS[@]}"
		continue
	fi
	modprobe virtio_vdpa
	mac=
	[ "$kind" = net ] && [ "$mod" != rust_vdpa_sink ] && mac="mac $MAC"
	if ! vdpa dev add name "$DEV" mgmtdev "$mgmt" $mac || ! wait_for dev_node "$kind"; then
		fail_tests "$p the device could not be made" "${TESTS[@]}"
		vdpa dev del "$DEV" 2>/dev/null
		modprobe -r virtio_vdpa "$mod" 2>/dev/null
		continue
	fi
	if [ "$kind" = net ]; then net_flood > "$FLOOD_OUT" & else blk_flood > "$FLOOD_OUT" & fi
	flood_pid=$!
	run_tests "${TESTS[@]}"
done
ktap_finished
