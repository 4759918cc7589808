#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Writes (or rewrites) one patch of the series from edits made to upstream
# files in the work tree ('make tree' prints its path).
#
# Usage: mkpatch.sh NAME "Subject" "Body" FILE...
#
# NAME is the patch file name without .patch (e.g. 0004-rust-add-vdpa); the
# FILEs are paths inside the kernel tree. Each upstream file belongs to one
# patch only, so the diff is always against the pristine source.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 4 ] || die "usage: mkpatch.sh NAME \"Subject\" \"Body\" FILE..."
name=$1 subject=$2 body=$3
shift 3
pristine=${KERNEL_SRC:-$RVDPA_CACHE/src/pristine}
work=$RVDPA_CACHE/work/$(echo "$pristine" | md5sum | cut -c1-8)
patch="$RVDPA_TOP/patches/$name.patch"

for f in "$@"; do
	other=$(grep -l -x -F -e "+++ b/$f" "$RVDPA_TOP"/patches/*.patch 2>/dev/null | grep -v -x -F "$patch" || true)
	[ -z "$other" ] || die "$f is already changed by $(basename "$other")"
done

{
	echo "From: rvdpa developers"
	echo "Subject: [PATCH] $subject"
	echo
	echo "$body" | fold -s -w 72 | sed 's/ *$//'
	echo "---"
	for f in "$@"; do
		a="$pristine/$f"
		[ -e "$a" ] || a=/dev/null
		(cd / && diff -u --label "a/$f" --label "b/$f" "$a" "$work/$f") || true
	done
} > "$patch.tmp"
mv "$patch.tmp" "$patch"
grep -q -x -F "$name.patch" "$RVDPA_TOP/patches/series" || echo "$name.patch" >> "$RVDPA_TOP/patches/series"
log "wrote patches/$name.patch"
