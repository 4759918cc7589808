#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs what the rvdpa build and tests need on a Debian 12 machine, then
# fetches the pinned kernel source. Safe to run again: it only does what is
# missing. Run as root (or with sudo available).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

DEBS=(
	rustc-web rust-web-src rust-web-clippy rustfmt-web
	clang-19 lld-19 llvm-19 libclang-19-dev
	ccache bc bison flex libelf-dev libssl-dev cpio make rsync xz-utils
	kmod iproute2 qemu-system-x86 busybox-static python3-venv
)

missing=()
for p in "${DEBS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing Debian packages: ${missing[*]}"
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
		"${missing[@]}"
fi

mkdir -p "$RVDPA_CACHE/tools" "$CCACHE_DIR"

# bindgen: the kernel's Rust build needs a newer one than bookworm ships.
if ! "$RVDPA_CACHE/tools/bin/bindgen" --version 2>/dev/null | grep -q "$RVDPA_BINDGEN_VERSION"; then
	command -v cargo >/dev/null || die "cargo is needed to install bindgen-cli (install rustup or cargo)"
	log "installing bindgen-cli $RVDPA_BINDGEN_VERSION (about 3 minutes)"
	cargo install --quiet --locked --root "$RVDPA_CACHE/tools" \
		bindgen-cli --version "$RVDPA_BINDGEN_VERSION"
fi

# virtme-ng, pinned, in its own virtual environment.
if ! "$RVDPA_CACHE/venv/bin/vng" --version 2>/dev/null | grep -q "$RVDPA_VNG_VERSION"; then
	log "installing virtme-ng $RVDPA_VNG_VERSION"
	python3 -m venv "$RVDPA_CACHE/venv"
	"$RVDPA_CACHE/venv/bin/pip" install --quiet "virtme-ng==$RVDPA_VNG_VERSION"
fi

"$(dirname "$0")/check-tools.sh"
"$(dirname "$0")/fetch-kernel.sh"
# A QEMU that emulates SR-IOV virtio functions, beside the system's (tests only).
"$(dirname "$0")/fetch-qemu.sh" >/dev/null || log "could not fetch the private QEMU: the SR-IOV tests will skip"
