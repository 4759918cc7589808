#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Our Rust sample module (samples/rust/rust_rvdpa_hello.rs) loads with a
# parameter, computes from it, refuses a bad one, and unloads.
. "$(dirname "$0")/lib.sh"

MOD=rust_rvdpa_hello

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "module $MOD" modinfo "$MOD"
ktap_set_plan 6

rmmod "$MOD" 2>/dev/null
dmesg -C
check "modprobe $MOD terms=37 succeeds" modprobe "$MOD" terms=37
check "it is loaded" test -d "/sys/module/$MOD"
check "it computed 1+...+37 = 703" sh -c "dmesg | grep -q '$MOD: loaded: terms=37 sum=703'"
check "rmmod succeeds and it is gone" sh -c "rmmod $MOD && ! [ -d /sys/module/$MOD ]"
check "its exit ran" sh -c "dmesg | grep -q '$MOD: unloaded: terms=37'"
check "terms=5000 is refused with EINVAL and nothing stays loaded" \
	sh -c "! modprobe $MOD terms=5000 2>/dev/null && ! [ -d /sys/module/$MOD ] &&
		dmesg | grep -q 'terms=5000 is out of range'"
ktap_finished
