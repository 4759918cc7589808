#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks that every tool the build and tests need is there, and says in one
# line what to install when one is missing or too old.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

fail=0
need() { # need <command> <what to install>
	if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
		echo "rvdpa: missing $1: install $2 (or run 'make setup')" >&2
		fail=1
	fi
}
need /usr/bin/rustc "the Debian package rustc-web"
need /usr/bin/rustdoc "the Debian package rustc-web"
need clang-19 "the Debian package clang-19"
need ld.lld-19 "the Debian package lld-19"
need llvm-ar-19 "the Debian package llvm-19"
need ccache "the Debian package ccache"
need bison "the Debian package bison"
need flex "the Debian package flex"
need bc "the Debian package bc"
need cpio "the Debian package cpio"
need rsync "the Debian package rsync"
need depmod "the Debian package kmod"
need vdpa "the Debian package iproute2"
need qemu-system-x86_64 "the Debian package qemu-system-x86"
need vng "virtme-ng $RVDPA_VNG_VERSION from PyPI"
need "$RVDPA_CACHE/tools/bin/bindgen" "bindgen-cli $RVDPA_BINDGEN_VERSION with cargo install --locked"
[ -f /usr/lib/llvm-19/lib/libclang.so ] || [ -f /usr/lib/llvm-19/lib/libclang.so.1 ] ||
	{ echo "rvdpa: missing libclang: install the Debian package libclang-19-dev" >&2; fail=1; }
src=$(rvdpa_rust_lib_src)
[ -n "$src" ] && [ -d "$src/core" ] ||
	{ echo "rvdpa: missing the Rust library source: install the Debian package rust-web-src" >&2; fail=1; }
[ -f /usr/include/libelf.h ] ||
	{ echo "rvdpa: missing libelf.h: install the Debian package libelf-dev" >&2; fail=1; }
[ -f /usr/include/openssl/ssl.h ] ||
	{ echo "rvdpa: missing openssl headers: install the Debian package libssl-dev" >&2; fail=1; }
if [ $fail = 0 ]; then
	v=$(/usr/bin/rustc --version | awk '{print $2}')
	[ "$(printf '%s\n' 1.78.0 "$v" | sort -V | head -n 1)" = 1.78.0 ] ||
		{ echo "rvdpa: /usr/bin/rustc $v is too old: install rustc-web (1.96)" >&2; fail=1; }
fi
exit $fail
