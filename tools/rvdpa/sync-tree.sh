#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Lays this repository over the pinned kernel: the work tree is the pristine
# source, plus the patch series in patches/, plus our own files. Only files
# whose content changed are written, so an unchanged file keeps its mtime
# and kbuild rebuilds only what really changed.
#
# Usage: sync-tree.sh            (prints the work tree's path)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Directories of ours that are laid over the kernel, at their in-tree paths.
OVERLAY_DIRS=(rust drivers include samples tools Documentation)

pristine=${KERNEL_SRC:-$RVDPA_CACHE/src/pristine}
[ -f "$pristine/Makefile" ] || die "no kernel source in $pristine: run 'make setup' first"
work=$RVDPA_CACHE/work/$(echo "$pristine" | md5sum | cut -c1-8)
mkdir -p "$(dirname "$work")"

# The work tree belongs to one version of the pristine source: a new one
# (fetch-kernel.sh took another version) gets a new work tree.
version=$(cat "$pristine/.debian-version" 2>/dev/null || make -s -C "$pristine" kernelversion)
# (A work tree made before versions were recorded has an empty stamp.)
[ -f "$work/.rvdpa-ready" ] && [ ! -s "$work/.rvdpa-ready" ] && echo "$version" > "$work/.rvdpa-ready"
if [ ! -f "$work/.rvdpa-ready" ] || [ "$(cat "$work/.rvdpa-ready")" != "$version" ]; then
	log "creating the work tree $work from $pristine ($version)"
	rm -rf "$work"
	cp -a "$pristine" "$work"
	chmod -R u+w "$work"
	echo "$version" > "$work/.rvdpa-ready"
	touch "$work/.rvdpa-manifest"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# 1. The patch series, applied to copies of the files it touches.
series="$RVDPA_TOP/patches/series"
if [ -f "$series" ]; then
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		for f in $(awk '/^\+\+\+ / { sub(/^b\//, "", $2); print $2 }' "$RVDPA_TOP/patches/$p"); do
			if [ -e "$pristine/$f" ] && [ ! -e "$stage/$f" ]; then
				mkdir -p "$stage/$(dirname "$f")"
				cp -p "$pristine/$f" "$stage/$f"
			fi
		done
		patch -s -p1 -d "$stage" --no-backup-if-mismatch -r - < "$RVDPA_TOP/patches/$p" ||
			die "patches/$p does not apply to $pristine"
	done < "$series"
fi

# 2. Our files. They must be new files: edits to upstream files go in the series.
(cd "$RVDPA_TOP" && for d in "${OVERLAY_DIRS[@]}"; do
	if [ -d "$d" ]; then
		find "$d" -type f ! -name '*.o' ! -name '*.ko' ! -name '.*.cmd' ! -path '*/target/*'
	fi
done) > "$stage.ours"
while read -r f; do
	if [ -e "$pristine/$f" ]; then
		rm -f "$stage.ours"
		die "$f exists upstream: change it with a patch in patches/, not by overlaying it"
	fi
	mkdir -p "$stage/$(dirname "$f")"
	cp -p "$RVDPA_TOP/$f" "$stage/$f"
done < "$stage.ours"
rm -f "$stage.ours"

# 3. Undo what an earlier sync laid down and this one does not.
(cd "$stage" && find . -type f | sed 's|^\./||' | sort) > "$stage/.rvdpa-manifest"
comm -23 <(sort "$work/.rvdpa-manifest") "$stage/.rvdpa-manifest" | while read -r f; do
	if [ -e "$pristine/$f" ]; then
		cp "$pristine/$f" "$work/$f"
	else
		rm -f "$work/$f"
	fi
done

# 4. Write only what changed.
# --perms: a script made executable later must be executable in the tree too.
rsync -r --perms --checksum --no-times --chmod=u+w "$stage/" "$work/"
echo "$work"
