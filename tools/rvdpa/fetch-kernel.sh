#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetches Debian's linux-source-7.2 at the pinned version (RVDPA_KERNEL_VERSION
# in lib.sh; when no suite serves it any more, the newest 7.2.y served, with a
# warning) with a private apt configuration that reuses the mirror URI of this
# machine's own apt sources, and unpacks it as the pristine tree. The system's
# apt setup is not touched. Skipped when KERNEL_SRC names a tree of one's own.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ -n "${KERNEL_SRC:-}" ]; then
	[ -f "$KERNEL_SRC/Makefile" ] || die "KERNEL_SRC=$KERNEL_SRC is not a kernel tree"
	log "using the kernel tree in $KERNEL_SRC"
	exit 0
fi

src="$RVDPA_CACHE/src"
have=$(cat "$src/pristine/.debian-version" 2>/dev/null || true)
if [ -f "$src/pristine/Makefile" ] && [ "${1:-}" != --refresh ]; then
	[ "$have" = "$RVDPA_KERNEL_VERSION" ] && exit 0
	# Another version (unpinned, or the pin moved): the pinned one if it is served.
	[ -f "$src/pristine/.fallback" ] && [ "$(cat "$src/pristine/.fallback")" = "$RVDPA_KERNEL_VERSION" ] && exit 0
	log "the kernel source is Debian $have, the pin is $RVDPA_KERNEL_VERSION: fetching the pin"
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
	served=$(apt-cache "${opts[@]}" show linux-source-7.2 2>/dev/null |
		awk '/^Version:/ { print $2 }' | sort -V)
	[ -n "$served" ] || continue
	newest=${newest:-$(echo "$served" | tail -n 1)}
	grep -qxF -- "$RVDPA_KERNEL_VERSION" <<<"$served" || continue
	ver=$RVDPA_KERNEL_VERSION
	(cd "$apt_dir" && apt-get -q "${opts[@]}" download "linux-source-7.2=$ver")
	break
done
if [ -z "${ver:-}" ]; then
	[ -n "${newest:-}" ] || die "linux-source-7.2 not found in ${RVDPA_KERNEL_SUITES:-sid trixie-backports}"
	if [ -f "$src/pristine/Makefile" ]; then
		log "WARNING: the pinned kernel $RVDPA_KERNEL_VERSION is not served any more; keeping Debian $have"
		echo "$RVDPA_KERNEL_VERSION" | (chmod u+w "$src/pristine" && cat > "$src/pristine/.fallback"; chmod u-w "$src/pristine")
		exit 0
	fi
	ver=$newest
	log "WARNING: the pinned kernel $RVDPA_KERNEL_VERSION is not served any more; taking Debian $ver," \
		"which the suite has not been run on (set RVDPA_KERNEL_VERSION to pin it)"
	(cd "$apt_dir" && apt-get -q "${opts[@]}" download "linux-source-7.2=$ver")
fi
deb=$apt_dir/linux-source-7.2_${ver#*:}_all.deb
[ -f "$deb" ] || die "the download of linux-source-7.2 $ver left no $deb"

log "unpacking $(basename "$deb")"
tmp=$(mktemp -d "$src/unpack.XXXXXX")
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './usr/src/linux-source-7.2.tar.*'
tar -x -C "$tmp" -f "$tmp"/usr/src/linux-source-7.2.tar.*
rm -rf "$src/pristine"
mv "$tmp/linux-source-7.2" "$src/pristine"
rm -rf "$tmp"
echo "$ver" > "$src/pristine/.debian-version"
[ "$ver" = "$RVDPA_KERNEL_VERSION" ] || echo "$RVDPA_KERNEL_VERSION" > "$src/pristine/.fallback"
chmod -R a-w "$src/pristine"
log "pinned kernel: Debian linux-source-7.2 $ver, $(make -s -C "$src/pristine" kernelversion)"
