#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds the kernel with this repository laid over it.
#
# Usage: build.sh [--flavour base|debug] [make targets...]
#
# The object tree is $RVDPA_CACHE/build/<flavour>, outside the clone, so a
# fresh clone on the same machine rebuilds only what changed. The config is
# regenerated when a fragment changes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=base
if [ "${1:-}" = --flavour ]; then
	flavour=$2
	shift 2
fi
case "$flavour" in base|debug) ;; *) die "unknown flavour '$flavour' (base or debug)" ;; esac

"$(dirname "$0")/check-tools.sh"
# One build at a time on this machine, and none while a guest runs from the
# object tree (vm.sh holds this lock shared): a build waits for them. A caller
# that holds the lock already (run-tests.sh) says so with RVDPA_LOCK_HELD=1.
mkdir -p "$RVDPA_CACHE/build"
if [ -z "${RVDPA_LOCK_HELD:-}" ]; then
	exec 9>"$RVDPA_CACHE/build/.lock"
	flock 9
fi
work=$("$(dirname "$0")/sync-tree.sh")
out=$RVDPA_CACHE/build/$flavour
mkdir -p "$out"
rvdpa_make_args
kmake=(make -s -C "$work" O="$out" "${RVDPA_MAKE_ARGS[@]}")

fragments=("$RVDPA_TOP/tools/rvdpa/configs/base.config"
	"$RVDPA_TOP/tools/testing/selftests/vdpa/config")
[ "$flavour" = debug ] && fragments+=("$RVDPA_TOP/tools/rvdpa/configs/debug.config")

# The config depends on the fragments, the kernel and the toolchain.
stamp=$(cat "${fragments[@]}" "$work/Makefile" "$RVDPA_TOP/patches/series" "$RVDPA_TOP"/patches/*.patch |
	cat - <(/usr/bin/rustc --version) | md5sum | cut -c1-32)
if [ ! -f "$out/.config" ] || [ "$(cat "$out/.rvdpa-config-stamp" 2>/dev/null)" != "$stamp" ]; then
	log "configuring $flavour kernel in $out"
	"${kmake[@]}" allnoconfig
	(cd "$out" && virtme-configkernel --arch x86_64 --update > "$out/.rvdpa-virtme.log" 2>&1)
	KCONFIG_CONFIG="$out/.config" "$work/scripts/kconfig/merge_config.sh" -m -O "$out" \
		"$out/.config" "${fragments[@]}" > "$out/.rvdpa-merge.log" 2>&1
	"${kmake[@]}" olddefconfig
	# Every option a fragment sets must have taken, or the build is not what we asked for.
	bad=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) want=$line ;;
		"# CONFIG_"*" is not set") want=$line ;;
		*) continue ;;
		esac
		sym=$(echo "$want" | sed -E 's/^# (CONFIG_[A-Za-z0-9_]+) is not set$/\1/; s/=.*//')
		have=$(grep -E "^($sym=|# $sym is not set)" "$out/.config" || true)
		if [ "$want" != "$have" ] && ! { [ -z "$have" ] && [[ "$want" == "# "* ]]; }; then
			echo "rvdpa: config: asked for '$want', got '${have:-nothing}'" >&2
			bad=1
		fi
	done < <(cat "${fragments[@]}")
	[ $bad = 0 ] || die "the config fragments did not apply (see above)"
	echo "$stamp" > "$out/.rvdpa-config-stamp"
fi

log "building the $flavour kernel in $out ($(nproc) cores)"
start=$(date +%s)
"${kmake[@]}" -j"$(($(nproc) + 1))" "${@:-all}"
log "built in $(($(date +%s) - start)) s: $(cat "$out/include/config/kernel.release")," \
	"Debian linux-source $(cat "$work/.debian-version" 2>/dev/null || echo '(own tree)')"
