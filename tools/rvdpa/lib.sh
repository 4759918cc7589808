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
