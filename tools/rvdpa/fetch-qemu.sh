#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs a private QEMU new enough to emulate SR-IOV virtio functions
# (virtio-net-pci's sriov-pf property, QEMU 11.x) into $RVDPA_CACHE/qemu,
# beside the system's QEMU, which is not touched; prints the directory of its
# qemu-system-x86_64. Put that directory first in PATH and vng uses it:
#
#   PATH=$(tools/rvdpa/fetch-qemu.sh):$PATH make vm CMD='lspci'
#
# Debian's qemu-system-x86 and the whole closure of its dependencies, glibc
# included, come from a newer suite (default: trixie-backports over trixie)
# through a private apt configuration (its own sources list, lists and cache
# under $RVDPA_CACHE/qemu/apt) that reuses the mirror of this machine's own apt
# sources. The packages are only unpacked (dpkg-deb -x) into
# $RVDPA_CACHE/qemu/root, nothing is configured. The wrapper
# $RVDPA_CACHE/qemu/bin/qemu-system-x86_64 runs that QEMU through the root's
# own dynamic loader with the root's libraries, firmware (-L) and modules, not
# in a chroot: host paths (kernel image, 9p shares, /proc/self/fd/N) work as
# they are.
#
# Usage: fetch-qemu.sh [--refresh]
#
# Environment:
#   RVDPA_QEMU_SUITES   suites to take packages from (default "trixie trixie-backports")
#   RVDPA_QEMU_RELEASE  the suite qemu-system-x86 comes from (default: the last one)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir=$RVDPA_CACHE/qemu
wrapper=$dir/bin/qemu-system-x86_64

mkdir -p "$RVDPA_CACHE"
exec 8>"$RVDPA_CACHE/.qemu.lock"
flock 8
if [ -x "$wrapper" ] && [ -f "$dir/version" ] && [ "${1:-}" != --refresh ]; then
	# The pinned version (RVDPA_QEMU_VERSION in lib.sh), or the best there
	# was when the pin was not served any more.
	if [ "$(cat "$dir/version")" = "$RVDPA_QEMU_VERSION" ] ||
		[ "$(cat "$dir/fallback" 2>/dev/null)" = "$RVDPA_QEMU_VERSION" ]; then
		echo "$dir/bin"
		exit 0
	fi
	log "the private QEMU is $(cat "$dir/version"), the pin is $RVDPA_QEMU_VERSION: fetching the pin"
fi

# The first Debian mirror of the machine's own apt sources, as apt itself reads them.
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
	awk '$1 ~ /\/debian\/?$/ && $2 !~ /security/ { print $1; exit }') || true
[ -n "$mirror" ] || die "no Debian mirror found in the system's apt sources (run apt-get update once)"

suites=${RVDPA_QEMU_SUITES:-trixie trixie-backports}
release=${RVDPA_QEMU_RELEASE:-${suites##* }}
apt_dir=$dir/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/preferences.d"
for s in $suites; do
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $s main"
done > "$apt_dir/sources.list"
# Nothing of the system's apt state counts: no dpkg status (so the whole
# dependency closure is chosen), no preferences, no foreign architectures.
opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$apt_dir/preferences.d"
	-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
	-o Dir::State::Status=/dev/null -o APT::Architecture=amd64 -o APT::Architectures::=amd64
	-o APT::Install-Recommends=false -o Debug::NoLocking=1 -o APT::Sandbox::User=root)

log "updating the package lists of $suites"
apt-get -q "${opts[@]}" update >/dev/null || die "apt-get update failed for $suites"
# The pinned version if it is served, else the newest, with a warning.
want=qemu-system-x86
if apt-cache "${opts[@]}" show qemu-system-x86 2>/dev/null | awk '/^Version:/ { print $2 }' |
	grep -qxF -- "$RVDPA_QEMU_VERSION"; then
	want=qemu-system-x86=$RVDPA_QEMU_VERSION
else
	log "WARNING: the pinned QEMU $RVDPA_QEMU_VERSION is not served any more; taking the newest" \
		"(the suite has not been run on it; set RVDPA_QEMU_VERSION to pin it)"
fi
# The packages (name=version) a fresh system would get for it.
mapfile -t pkgs < <(apt-get -s "${opts[@]}" -t "$release" install "$want" |
	sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p')
[ ${#pkgs[@]} -gt 0 ] || die "qemu-system-x86 not found in $suites"
ver=$(printf '%s\n' "${pkgs[@]}" | sed -n 's/^qemu-system-x86=//p')
log "downloading qemu-system-x86 $ver and ${#pkgs[@]} packages in all"
debs=$apt_dir/cache/archives
(cd "$debs" && apt-get -q "${opts[@]}" download "${pkgs[@]}" >/dev/null) ||
	die "downloading the packages failed"
size=$(du -cb "$debs"/*.deb | awk 'END { print $1 }')

log "unpacking into $dir/root"
tmp=$(mktemp -d "$dir/root.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for p in "${pkgs[@]}"; do
	deb=$(ls "$debs/${p%%=*}_"*.deb | head -n 1)
	dpkg-deb -x "$deb" "$tmp"
done
# A link to an absolute path would reach the host's file: point it into the
# root (the packages of trixie have none, but nothing promises that).
find "$tmp" -type l -lname '/*' | while read -r l; do
	ln -sfn "$dir/root$(readlink "$l")" "$l"
done
rm -rf "$dir/root"
mv "$tmp" "$dir/root"
rm -f "$debs"/*.deb

root=$dir/root
ldso=
for l in "$root"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 \
	"$root"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; do
	[ -e "$l" ] && ldso=$l && break
done
[ -n "$ldso" ] || die "no dynamic loader in $root"
libs=$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu
# Debian's QEMU finds SeaBIOS (and iPXE) in their packages' own directories.
# Its modules are looked for in QEMU_MODULE_DIR first; one the root lacks
# (ui-opengl) is then tried in the host's module directory too, and refused
# there as a module of another build, which does no harm.
fw=
for d in usr/share/qemu usr/share/seabios usr/lib/ipxe/qemu; do
	[ -d "$root/$d" ] && fw="$fw -L '$root/$d'"
done
mkdir -p "$dir/bin"
cat > "$wrapper.tmp" <<EOF
#!/bin/sh
# Generated by tools/rvdpa/fetch-qemu.sh: Debian's QEMU $ver, run
# with the libraries, firmware and modules of $root.
QEMU_MODULE_DIR='$root/usr/lib/x86_64-linux-gnu/qemu'
export QEMU_MODULE_DIR
exec '$ldso' --library-path '$libs' --argv0 "\$0" \\
	'$root/usr/bin/qemu-system-x86_64'$fw "\$@"
EOF
chmod +x "$wrapper.tmp"
mv "$wrapper.tmp" "$wrapper"

"$wrapper" --version >/dev/null || die "$wrapper does not run"
props=$("$wrapper" -device virtio-net-pci,help) || die "$wrapper does not run"
grep -q '^ *sriov-pf=' <<<"$props" || die "QEMU $ver has no sriov-pf property on virtio-net-pci"
echo "$ver" > "$dir/version"
if [ "$ver" = "$RVDPA_QEMU_VERSION" ]; then rm -f "$dir/fallback"; else echo "$RVDPA_QEMU_VERSION" > "$dir/fallback"; fi
log "QEMU: $("$wrapper" --version | head -n 1); downloaded $((size / 1024 / 1024)) MiB"
echo "$dir/bin"
