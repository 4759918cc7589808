# SPDX-License-Identifier: GPL-2.0
# Helpers for the vDPA kselftests. Sourced by each test.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
DIR=$(cd "$(dirname "$0")" && pwd)
export DIR
. "$DIR/../kselftest/ktap_helpers.sh"

# Skips the whole test (exit 4) when something it needs is missing.
vdpa_require() { # vdpa_require <what> <check command...>
	local what=$1
	shift
	if ! "$@" >/dev/null 2>&1; then
		ktap_skip_all "$what is not available"
		exit "$KSFT_SKIP"
	fi
}

# Runs a check and reports it as one KTAP test; on failure, prints the
# command's output as diagnostics.
check() { # check <description> <command...>
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		ktap_test_pass "$desc"
	else
		[ -n "$out" ] && echo "$out" | sed 's/^/# /'
		ktap_test_fail "$desc"
	fi
}

# True when the command fails: for inputs that must be refused.
fails() { ! "$@"; }

# Waits up to $2 (default 10) seconds for a condition command to succeed.
wait_for() { # wait_for <command...>
	local i
	for i in $(seq 1 50); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

vdpa_dev_exists() { [ -e "/sys/bus/vdpa/devices/$1" ]; }

# The number of vDPA devices on the bus.
vdpa_dev_count() { ls /sys/bus/vdpa/devices 2>/dev/null | wc -l; }

# Prints the driver a vDPA device is bound to (empty when none).
vdpa_driver_of() {
	local l
	l=$(readlink "/sys/bus/vdpa/devices/$1/driver" 2>/dev/null) && basename "$l"
}

# Binds a vDPA device to the named driver, unbinding it first if needed.
vdpa_bind() { # vdpa_bind <dev> <driver>
	local cur
	cur=$(vdpa_driver_of "$1")
	[ "$cur" = "$2" ] && return 0
	[ -n "$cur" ] && echo "$1" > "/sys/bus/vdpa/drivers/$cur/unbind"
	echo "$2" > "/sys/bus/vdpa/devices/$1/driver_override"
	echo "$1" > "/sys/bus/vdpa/drivers/$2/bind"
}

# Prints the virtio device node (virtioN) a vDPA device was given by virtio_vdpa.
vdpa_virtio_of() {
	local d
	for d in /sys/bus/vdpa/devices/"$1"/virtio*; do
		[ -e "$d" ] && basename "$d" && return 0
	done
	return 1
}

# Prints the netdev name of a vDPA net device bound to virtio_vdpa.
vdpa_netdev_of() {
	local v
	v=$(vdpa_virtio_of "$1") || return 1
	ls "/sys/bus/vdpa/devices/$1/$v/net" 2>/dev/null | head -n 1 | grep .
}

# Prints the block device name of a vDPA blk device bound to virtio_vdpa.
vdpa_blkdev_of() {
	local v
	v=$(vdpa_virtio_of "$1") || return 1
	ls "/sys/bus/vdpa/devices/$1/$v/block" 2>/dev/null | head -n 1 | grep .
}

# Prints the vhost-vdpa character device of a vDPA device bound to vhost_vdpa.
vdpa_vhost_of() {
	local d
	for d in /sys/bus/vdpa/devices/"$1"/vhost-vdpa-*; do
		[ -e "$d" ] && basename "$d" && return 0
	done
	return 1
}

# The frames a netdev sent whose buffers its device gave back: virtio-net
# counts a sent frame when the device uses its buffer.
vdpa_tx_packets() { cat "/sys/class/net/$1/statistics/tx_packets" 2>/dev/null; }

vdpa_tx_at_least() { [ "$(vdpa_tx_packets "$1")" -ge "$2" ] 2>/dev/null; }

# Sends 10 broadcast frames of 60..600 bytes on a netdev (which must be up)
# and waits until its device used them all.
vdpa_send_used() { # vdpa_send_used <ifname>
	local before
	before=$(vdpa_tx_packets "$1")
	"$DIR/vdpa_net_loop" "$1" ff:ff:ff:ff:ff:ff 60 600 60 none >/dev/null
	wait_for vdpa_tx_at_least "$1" $((${before:-0} + 10)) ||
		{ echo "tx_packets ${before:-?} -> $(vdpa_tx_packets "$1")"; return 1; }
}

# Helpers for the PCI functions the tests are given.
. "$DIR/pci_lib.sh"

# Runs a program that prints KTAP numbered from 1 and reports its results as
# ours; results it did not print (it bailed out) are failures, so that the
# plan holds.
ktap_run_program() { # ktap_run_program <number of results> <command...>
	local want=$1 got=0 line
	shift
	while IFS= read -r line; do
		case "$line" in
		"ok "*"# SKIP "*)
			ktap_test_skip "$(echo "$line" | sed -E 's/^ok [0-9]+ //; s/ # SKIP .*//') (${line##*# SKIP })"
			got=$((got + 1)) ;;
		"ok "*) ktap_test_pass "$(echo "$line" | sed -E 's/^ok [0-9]+ //')"; got=$((got + 1)) ;;
		"not ok "*) ktap_test_fail "$(echo "$line" | sed -E 's/^not ok [0-9]+ //')"; got=$((got + 1)) ;;
		"TAP version"*|"1.."*|"# Totals"*) ;;
		*) echo "# $line" ;;
		esac
	done < <("$@" 2>&1)
	while [ $got -lt "$want" ]; do
		got=$((got + 1))
		ktap_test_fail "$(basename "$1"): result $got missing (the program stopped early)"
	done
}
