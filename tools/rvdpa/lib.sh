# SPDX-License-Identifier: GPL-2.0
# Common settings for the rvdpa build and test scripts. Sourced, not run.

RVDPA_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Everything large lives outside the clone so that a fresh clone reuses it.
RVDPA_CACHE=${RVDPA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rvdpa}
# Pinned toolchain versions.
RVDPA_BINDGEN_VERSION=0.72.1
RVDPA_VNG_VERSION=1.42
RVDPA_LLVM=-19
# The kernel and the private QEMU the suite is known to pass on (Debian
# package versions). When the archive no longer serves one, the newest it
# serves is taken instead, with a warning, and every run prints which it used.
RVDPA_KERNEL_VERSION=${RVDPA_KERNEL_VERSION:-7.2.13-1}
RVDPA_QEMU_VERSION=${RVDPA_QEMU_VERSION:-1:11.1.3+ds-2~bpo13+1}

export PATH="$RVDPA_CACHE/tools/bin:$RVDPA_CACHE/venv/bin:$PATH"
export CCACHE_DIR="$RVDPA_CACHE/ccache"
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
export LIBCLANG_PATH=/usr/lib/llvm-19/lib

die() { echo "rvdpa: error: $*" >&2; exit 1; }
log() { echo "rvdpa: $*" >&2; }

# The Rust standard library source shipped by rust-web-src for /usr/bin/rustc.
rvdpa_rust_lib_src() {
	local v
	v=$(/usr/bin/rustc --version 2>/dev/null | awk '{print $2}')
	[ -n "$v" ] && echo "/usr/src/rustc-$v/library"
}

# Arguments every kernel make invocation gets: Debian's Rust, LLVM 19, ccache.
# Fills the array RVDPA_MAKE_ARGS.
rvdpa_make_args() {
	RVDPA_MAKE_ARGS=(
		LLVM=$RVDPA_LLVM
		RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
		RUSTFMT=/usr/bin/rustfmt CLIPPY_DRIVER=/usr/bin/clippy-driver
		BINDGEN="$RVDPA_CACHE/tools/bin/bindgen"
		RUST_LIB_SRC="$(rvdpa_rust_lib_src)"
		CC=/usr/lib/ccache/clang$RVDPA_LLVM HOSTCC=/usr/lib/ccache/clang$RVDPA_LLVM
	)
}

# The PCI functions the tests give to the guest (QEMU options on stdout), at
# fixed addresses that tools/testing/selftests/vdpa/vdpa_pci.sh and
# vhost_vdpa_pci.sh know: two virtio-net functions joined by a QEMU hub
# (00:10.0 is given to a vDPA parent, 00:11.0 stays with virtio_pci as its
# peer on the wire) and a virtio-blk function (00:12.0) backed by a scratch
# image in $1. On the same hub: a virtio-net function whose notification
# capabilities include one in an I/O BAR (modern-pio-notify, 00:13.0), and
# one behind a hot-plug root port (QEMU id rvhpnet), which a test unplugs with device_del.
# A virtual Intel IOMMU (DMA remapping only) lets vhost_vdpa give
# 00:10.0 an IOMMU domain of its own; that function alone goes through it
# (iommu_platform), and has one page per doorbell (page-per-vq) so that
# vhost_vdpa can map a doorbell into a process.
rvdpa_test_functions() { # rvdpa_test_functions <dir for the disk image>
	local img=$1/pci-blk.img
	rm -f "$img"
	truncate -s 64M "$img"
	# One line: vng takes the first line of --qemu-opts only.
	printf '%s ' "-device intel-iommu,intremap=off" \
		"-netdev hubport,id=rvh0,hubid=7" \
		"-device virtio-net-pci,netdev=rvh0,disable-legacy=on,addr=0x10,mac=52:54:00:72:76:10,iommu_platform=on,ats=off,page-per-vq=on" \
		"-netdev hubport,id=rvh1,hubid=7" \
		"-device virtio-net-pci,netdev=rvh1,disable-legacy=on,addr=0x11,mac=52:54:00:72:76:11" \
		"-drive file=$img,if=none,id=rvd0,format=raw,cache=unsafe" \
		"-device virtio-blk-pci,drive=rvd0,disable-legacy=on,addr=0x12" \
		"-netdev hubport,id=rvh4,hubid=7" \
		"-device virtio-net-pci,netdev=rvh4,disable-legacy=on,addr=0x13,mac=52:54:00:72:76:14,modern-pio-notify=on" \
		"-device pcie-root-port,id=rvhp,chassis=10" \
		"-netdev hubport,id=rvh3,hubid=7" \
		"-device virtio-net-pci,bus=rvhp,netdev=rvh3,id=rvhpnet,disable-legacy=on,mac=52:54:00:72:76:13"
	# With a QEMU that emulates SR-IOV virtio functions (fetch-qemu.sh), a
	# virtio-net physical function with two virtual functions behind a root
	# port, all on one hub (vdpa_sriov.sh). QEMU wants the VFs before the PF.
	# (grep reads everything: with pipefail, an early exit would fail the pipeline.)
	if qemu-system-x86_64 -device virtio-net-pci,help 2>/dev/null | grep sriov-pf >/dev/null; then
		printf '%s ' "-netdev hubport,id=rvs0,hubid=9 -netdev hubport,id=rvs1,hubid=9" \
			"-netdev hubport,id=rvs2,hubid=9" \
			"-device pcie-root-port,id=rvsrp,chassis=9" \
			"-device virtio-net-pci,bus=rvsrp,addr=0x0.0x2,netdev=rvs2,sriov-pf=rvspf,disable-legacy=on,mac=52:54:00:53:00:02" \
			"-device virtio-net-pci,bus=rvsrp,addr=0x0.0x1,netdev=rvs1,sriov-pf=rvspf,disable-legacy=on,mac=52:54:00:53:00:01" \
			"-device virtio-net-pci,bus=rvsrp,addr=0x0.0x0,netdev=rvs0,id=rvspf,disable-legacy=on,mac=52:54:00:53:00:00"
	fi
	echo
}

# Puts the private QEMU (fetch-qemu.sh: a QEMU that emulates SR-IOV virtio
# functions) first in PATH. Without it (it could not be fetched), the system's
# QEMU runs and the SR-IOV tests are skipped.
rvdpa_use_qemu() {
	local d
	if d=$("$RVDPA_TOP/tools/rvdpa/fetch-qemu.sh" 2>"$RVDPA_CACHE/fetch-qemu.log"); then
		export PATH="$d:$PATH"
	else
		log "no private QEMU (see $RVDPA_CACHE/fetch-qemu.log): the system's runs, SR-IOV tests skip"
	fi
}
