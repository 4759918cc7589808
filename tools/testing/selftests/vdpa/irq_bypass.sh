#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The irq bypass abstraction's refusals, with no device: irq_bypass_bad.c
# drives the test consumer (rust_irq_bypass_probe.ko) with descriptors that are
# not eventfds, a second consumer on a taken eventfd and bad ioctls; this
# script adds that the module cannot go while a file of it is open, and
# goes once it is closed.
. "$(dirname "$0")/lib.sh"

# The refusals, in irq_bypass_bad.
t_program() {
	test_desc irq_bypass_bad
	wait_for test -c /dev/rust_irq_bypass_probe
	ktap_run_program "" "$DIR/irq_bypass_bad"
}

t_unload_while_open() {
	local r
	test_desc "the probe module is not unloaded while a file of it is open"
	exec {fd}<>/dev/rust_irq_bypass_probe || return 1
	modprobe -r rust_irq_bypass_probe 2>/dev/null
	r=$?
	exec {fd}>&-
	[ $r != 0 ] && grep -q '^rust_irq_bypass_probe ' /proc/modules
}

t_unload_after_close() {
	test_desc "... and is once the file is closed"
	modprobe -r rust_irq_bypass_probe && ! grep -q '^rust_irq_bypass_probe ' /proc/modules
}

TESTS=(t_program t_unload_while_open t_unload_after_close)

ktap_print_header
vdpa_require "root" test "$(id -u)" = 0
vdpa_require "the irq bypass probe (rust_irq_bypass_probe.ko)" modprobe rust_irq_bypass_probe
test_runs_program t_program "$DIR/irq_bypass_bad"
tests_set_plan 1 "${TESTS[@]}"
run_tests "${TESTS[@]}"
ktap_finished
