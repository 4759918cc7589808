# SPDX-License-Identifier: GPL-2.0
# Common settings for the rvdpa build and test scripts. Sourced, not run.

RVDPA_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Everything large lives outside the clone so that a fresh clone reuses it.
RVDPA_CACHE=${RVDPA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rvdpa}
# Pinned toolchain versions.
RVDPA_BINDGEN_VERSION=0.72.1
RVDPA_VNG_VERSION=1.42
RVDPA_LLVM=-19

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
# image in $1. A virtual Intel IOMMU (DMA remapping only) lets vhost_vdpa give
# 00:10.0 an IOMMU domain of its own; that function alone goes through it
# (iommu_platform), and has one page per doorbell (page-per-vq) so that
# vhost_vdpa can map a doorbell into a process.
rvdpa_test_functions() { # rvdpa_test_functions <dir for the disk image>
	local img=$1/pci-blk.img
	rm -f "$img"
	truncate -s 64M "$img"
	echo "-device intel-iommu,intremap=off" \
		"-netdev hubport,id=rvh0,hubid=7" \
		"-device virtio-net-pci,netdev=rvh0,disable-legacy=on,addr=0x10,mac=52:54:00:72:76:10,iommu_platform=on,ats=off,page-per-vq=on" \
		"-netdev hubport,id=rvh1,hubid=7" \
		"-device virtio-net-pci,netdev=rvh1,disable-legacy=on,addr=0x11,mac=52:54:00:72:76:11" \
		"-drive file=$img,if=none,id=rvd0,format=raw,cache=unsafe" \
		"-device virtio-blk-pci,drive=rvd0,disable-legacy=on,addr=0x12"
}
