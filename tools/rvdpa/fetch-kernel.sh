#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetches Debian's linux-source-7.2 (the newest 7.2.y the archive serves) with
# a private apt configuration that reuses the mirror URI of this machine's own
# apt sources, and unpacks it as the pristine tree. The system's apt setup is
# not touched. Skipped when KERNEL_SRC names a tree of one's own.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ -n "${KERNEL_SRC:-}" ]; then
	[ -f "$KERNEL_SRC/Makefile" ] || die "KERNEL_SRC=$KERNEL_SRC is not a kernel tree"
	log "using the kernel tree in $KERNEL_SRC"
	exit 0
fi

src="$RVDPA_CACHE/src"
if [ -f "$src/pristine/Makefile" ] && [ "${1:-}" != --refresh ]; then
	exit 0
fi

# The first Debian mirror URI in the machine's own sources.
mirror=$( (cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
	awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }') |
	grep -v -e security -e '^$' | grep '/debian/*$' | head -n 1) || true
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources*"

apt_dir="$RVDPA_CACHE/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$src"
for suite in ${RVDPA_KERNEL_SUITES:-sid trixie-backports}; do
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
		> "$apt_dir/sources.list"
	opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
		-o Dir::State::Status=/dev/null -o APT::Architecture=amd64
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root)
	mkdir -p "$apt_dir/cache/archives/partial"
	log "looking for linux-source-7.2 in suite $suite"
	apt-get -q "${opts[@]}" update >/dev/null || continue
	ver=$(apt-cache "${opts[@]}" show linux-source-7.2 2>/dev/null |
		awk '/^Version:/ { print $2 }' | sort -V | tail -n 1)
	[ -n "$ver" ] || continue
	(cd "$apt_dir" && apt-get -q "${opts[@]}" download "linux-source-7.2=$ver")
	deb=$(ls -t "$apt_dir"/linux-source-7.2_*.deb | head -n 1)
	break
done
[ -n "${deb:-}" ] || die "linux-source-7.2 not found in ${RVDPA_KERNEL_SUITES:-sid trixie-backports}"

log "unpacking $(basename "$deb")"
tmp=$(mktemp -d "$src/unpack.XXXXXX")
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './usr/src/linux-source-7.2.tar.*'
tar -x -C "$tmp" -f "$tmp"/usr/src/linux-source-7.2.tar.*
rm -rf "$src/pristine"
mv "$tmp/linux-source-7.2" "$src/pristine"
rm -rf "$tmp"
echo "$ver" > "$src/pristine/.debian-version"
chmod -R a-w "$src/pristine"
log "pinned kernel: Debian linux-source-7.2 $ver, $(make -s -C "$src/pristine" kernelversion)"
