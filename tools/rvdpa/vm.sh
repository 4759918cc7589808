#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs one command inside a virtme-ng guest booted with the built kernel and
# returns its exit status. The guest sees the host's root file system
# read-only, this repository, and a writable results directory.
#
# Usage: vm.sh [--flavour base|debug] [--log FILE] [--qemu-opts '...'] -- COMMAND...
#
# Environment:
#   RVDPA_KVM=1        use KVM (off by default: TCG works on every host)
#   RVDPA_VM_MEMORY    guest memory (default 2G)
#   RVDPA_VM_CPUS      guest CPUs (default 2)
#   RVDPA_QEMU_OPTS    extra QEMU arguments, e.g. '-device virtio-net-pci,...'
#   RVDPA_RESULTS      the writable directory (default out/vm in the repository)
#
# The guest console (kernel log included) goes to FILE (default
# $RVDPA_RESULTS/console.log). The command's own output is printed when the
# guest is done; it is also kept in $RVDPA_RESULTS/command.log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=base
log=
qopts=${RVDPA_QEMU_OPTS:-}
while [ $# -gt 0 ]; do
	case "$1" in
	--flavour) flavour=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--qemu-opts) qopts="$qopts $2"; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || die "usage: vm.sh [--flavour F] [--log FILE] [--qemu-opts '...'] -- COMMAND..."

out=$RVDPA_CACHE/build/$flavour
# The guest loads its modules from the object tree: no build may change it
# while a guest runs (build.sh takes this lock exclusively, guests share it).
mkdir -p "$RVDPA_CACHE/build"
exec 9>"$RVDPA_CACHE/build/.lock"
flock -s 9
# One guest at a time on this machine (two cores): a second one waits.
exec 7>"$RVDPA_CACHE/.guest.lock"
flock 7
[ -f "$out/arch/x86/boot/bzImage" ] || die "no $flavour kernel in $out: run 'make kernel' first"
results=${RVDPA_RESULTS:-$RVDPA_TOP/out/vm}
mkdir -p "$results"
results=$(cd "$results" && pwd)
log=${log:-$results/console.log}
rm -f "$results/.status" "$results/command.log"

# The command runs in a login-less shell in the guest; its status and output go
# to files in the shared directory, which are read back here.
printf '%q ' "$@" > "$results/.command"
cat > "$results/.guest.sh" <<GUEST
#!/bin/bash
cd '$RVDPA_TOP'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin RVDPA_RESULTS='$results' RVDPA_IN_GUEST=1
ulimit -l unlimited
bash -c "\$(cat '$results/.command')" 2>&1 | tee '$results/command.log'
echo "\${PIPESTATUS[0]}" > '$results/.status'
sync
GUEST
chmod +x "$results/.guest.sh"

# The guest may ask QEMU for a monitor command (e.g. device_del, to unplug a
# function under a test) through files in the shared directory: see
# qmp-relay.py.
qmp=$results/.qmp.sock
rm -f "$qmp" "$results/qmp-request" "$results/qmp-reply"
qopts="$qopts -qmp unix:$qmp,server=on,wait=off"
python3 "$RVDPA_TOP/tools/rvdpa/qmp-relay.py" "$qmp" "$results" &
relay=$!

kvm=--disable-kvm
[ "${RVDPA_KVM:-0}" = 1 ] && kvm=
# Kernel options: keep the console quiet but complete in the log; panic on oops
# so that a broken guest ends the run instead of hanging it; use the virtual
# IOMMU when the guest has one (rvdpa_test_functions adds it); give the soft
# lockup (2 x 30 s) and workqueue (60 s) detectors thresholds that a TCG guest
# on a busy host does not cross by itself.
vng --run "$out" $kvm --verbose \
	--cpus "${RVDPA_VM_CPUS:-2}" --memory "${RVDPA_VM_MEMORY:-2G}" \
	--rwdir "$results" \
	--append "oops=panic panic=-1 intel_iommu=on watchdog_thresh=30 workqueue.watchdog_thresh=60" \
	${qopts:+--qemu-opts="$qopts"} \
	--exec "$results/.guest.sh" > "$log" 2>&1 < /dev/null || true
kill "$relay" 2>/dev/null
wait "$relay" 2>/dev/null || true

if [ ! -f "$results/.status" ]; then
	echo "rvdpa: the guest ended before the command did; console log: $log" >&2
	tail -n 30 "$log" >&2
	exit 125
fi
cat "$results/command.log"
exit "$(cat "$results/.status")"
