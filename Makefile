# SPDX-License-Identifier: GPL-2.0
#
# rvdpa: Rust vDPA parents and an mdev bridge for Linux 7.2.
#
# This is the front door. The kernel build itself happens in a work tree and
# an object tree under $(RVDPA_CACHE) (default ~/.cache/rvdpa), outside this
# clone, with this repository laid over the pinned kernel source.
#
#   make setup      install the toolchain and fetch the kernel source
#   make kernel     build the kernel and modules (FLAVOUR=debug for KASAN etc.)
#   make demo       setup + kernel, then show a simulated vDPA device at work
#   make check      the whole test suite; ends with "N passed, N failed"
#                   (T="vdpa_net.sh" runs only the named kselftests)
#   make vm CMD='...'  run a command in a guest with our kernel
#   make reliability  the reliability groups (bad input, teardown, the bridge,
#                   fuzz, fault injection) on the debug kernel (KASAN, UBSAN,
#                   lockdep, kmemleak); ends with "N passed, N failed"
#   make fuzz       the seeded fuzzer alone: SEED=.. (one or several) STEPS=..
#   make bench     Rust vs C simulator, side by side in one guest (not a test)
#   make tree       print the path of the kernel work tree (to apply patches by hand)
#   make help       this text

FLAVOUR ?= base
RT := tools/rvdpa

SEED ?= 1
STEPS ?= 20000
comma := ,
space := $() $()

RELIABILITY := vhost_vdpa_bad.sh vdpa_race.sh irq_bypass.sh vfio_vdpa.sh vhost_vdpa_pci.sh \
	vhost_vdpa_bypass.sh vdpa_fuzz.sh vdpa_failnth.sh

.PHONY: help setup kernel demo check reliability fuzz vm bench tree

help:
	@sed -n '/^#   make/s/^#   //p' Makefile

setup:
	@$(RT)/setup.sh

kernel: setup
	@$(RT)/build.sh --flavour $(FLAVOUR)

demo: kernel
	@$(RT)/demo.sh --flavour $(FLAVOUR)

check: setup
	@RVDPA_TESTS="$(T)" $(RT)/run-tests.sh --flavour $(FLAVOUR)

reliability: setup
	@RVDPA_TESTS="$(RELIABILITY)" $(RT)/run-tests.sh --flavour debug

fuzz: setup
	@RVDPA_TESTS=vdpa_fuzz.sh RVDPA_TEST_ENV="VDPA_FUZZ_SEEDS=$(subst $(space),$(comma),$(strip $(SEED))) VDPA_FUZZ_STEPS=$(STEPS)" \
		$(RT)/run-tests.sh --flavour $(FLAVOUR)

vm:
	@$(RT)/vm.sh --flavour $(FLAVOUR) -- $(if $(CMD),$(CMD),uname -a)

bench:
	@$(RT)/bench.sh --flavour $(FLAVOUR)

tree:
	@$(RT)/sync-tree.sh
