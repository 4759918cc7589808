#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The irq bypass abstraction's refusals, with no device: irq_bypass_bad.c
# drives the test consumer (rust_irq_bypass_probe.ko) with descriptors that are
# not eventfds, a second consumer on a taken eventfd and bad ioctls; this
# script adds that the module cannot go while a file of it is open, and
# goes once it is closed.
. "$(dirname "$0")/lib.sh"

NPROG=9

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "the irq bypass probe (rust_irq_bypass_probe.ko)" modprobe rust_irq_bypass_probe
ktap_set_plan $((NPROG + 2))

wait_for test -c /dev/rust_irq_bypass_probe
ktap_run_program $NPROG "$DIR/irq_bypass_bad"

unload_while_open() {
	local r
	exec {fd}<>/dev/rust_irq_bypass_probe || return 1
	modprobe -r rust_irq_bypass_probe 2>/dev/null
	r=$?
	exec {fd}>&-
	[ $r != 0 ] && grep -q '^rust_irq_bypass_probe ' /proc/modules
}
check "the probe module is not unloaded while a file of it is open" unload_while_open
check "... and is once the file is closed" bash -c "modprobe -r rust_irq_bypass_probe && ! grep -q '^rust_irq_bypass_probe ' /proc/modules"
ktap_finished
