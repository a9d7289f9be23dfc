#!/bin/bash
# truth-test.sh KERNEL CPU SMP
#   KERNEL: 6.1 | 6.12 | sid (Debian's cloud kernels; sid is unstable's newest,
#           7.x) with a TCP congestion control | scx (our 6.12 sched_ext kernel)
#           | sid-scx (sid's built-in sched_ext) with our sched_ext scheduler
#   CPU:    qemu64 (4-level paging) | max (5-level paging)
#   SMP:    number of vCPUs
#
# The truth test: boot a real guest under QEMU (TCG) with a struct_ops BPF
# object loaded and run, pause it, then read its RAM from the host with
# `ktbpfctl inspect` through three routes and compare each, exactly, with what
# the guest reported through the bpf() syscall:
#   1. zero-config: raw RAM, no vmlinux (VMCOREINFO + kallsyms + BTF from RAM);
#   2. files: BTF from the kernel image, symbols from the guest's /proc/kallsyms;
#   3. an ELF core written by QEMU's dump-guest-memory.
# With SMP > 1 a deliberately broken inspector (sums CPU 0 only) must FAIL the
# comparison, proving the test can see a per-CPU bug.
#
# Environment: KTBPFCTL, KTBPFCTL_FAULT, COMPARE_TRUTH (set by meson),
# KTBPF_E2E_KEEP=1 keeps the work dir. A missing component fails in CI
# (CI=true) and skips (exit 77) elsewhere.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
guest=$here/../guest
kernel=${1:?usage: truth-test.sh KERNEL CPU SMP}
cpu=${2:?}
smp=${3:?}
name="$kernel-$cpu-smp$smp"

say() { printf 'truth-test %s: %s\n' "$name" "$*" >&2; }
missing() {
	if [ "${CI:-}" = true ]; then
		say "FAIL: $* (CI=true: a missing real component is a failure)"
		exit 1
	fi
	say "SKIP: $* -- run ./run-tests (it installs and prepares everything) to run this test"
	exit 77
}

for c in qemu-system-x86_64 clang busybox cpio dpkg-deb; do
	command -v "$c" >/dev/null 2>&1 || missing "'$c' is not installed"
done
: "${KTBPFCTL:?}" "${COMPARE_TRUTH:?}"

wd=$(mktemp -d "${TMPDIR:-/tmp}/ktbpf-e2e-$name.XXXXXX")
cleanup() {
	"$guest/stop-guest.sh" "$wd" --rm-ram >/dev/null 2>&1 || true
	rm -f "$wd/core.elf"
	if [ "${KTBPF_E2E_KEEP:-}" = 1 ] || [ "${failed:-1}" = 1 ]; then
		say "work dir kept: $wd"
	else
		rm -rf "$wd"
	fi
}
trap cleanup EXIT

append=()
objs=()
case "$kernel" in
6.1 | 6.12 | sid)
	# sid: Debian unstable's newest cloud kernel (7.x), through the cache's own apt state
	kdir=$("$guest/fetch-kernel.sh" "$kernel" --vmlinux) || missing "kernel $kernel not available"
	say "kernel: Debian $(head -n1 "$kdir/package"), release $(cat "$kdir/version")"
	want_obj=ktbpf_cc want_iface=tcp_congestion_ops
	;;
scx | sid-scx)
	if [ "$kernel" = scx ]; then
		# (--print-dir needs apt's candidate version of linux-source-6.12)
		kdir=$("$guest/scx/build-kernel.sh" --print-dir) ||
			missing "cannot locate the sched_ext kernel (is linux-source-6.12 known to apt?)"
		[ -f "$kdir/bzImage" ] && [ -f "$kdir/vmlinux" ] ||
			missing "the sched_ext kernel is not built: run tests/guest/scx/build-kernel.sh (about 12 minutes)"
		say "kernel: ours, built from $(sed -n 's/^package=//p' "$kdir/build-info") $(sed -n 's/^version=//p' "$kdir/build-info")"
	else
		# the same scheduler on the built-in sched_ext (CONFIG_SCHED_CLASS_EXT=y)
		# of Debian unstable's newest cloud kernel
		kdir=$("$guest/fetch-kernel.sh" sid --vmlinux) || missing "kernel sid not available"
		say "kernel: Debian $(head -n1 "$kdir/package"), release $(cat "$kdir/version")"
	fi
	obj=$("$guest/scx/build-bpf.sh" "$wd/bpf") || missing "cannot build the scheduler"
	objs=(--obj "$obj")
	append=(--append "ktbpf.workload=sched ktbpf.obj=/ktbpf_scx.bpf.o")
	# libbpf names the maps ktbpf_sc.bss/.data/.rodata: it cuts the object
	# name so that "<obj>.rodata" fits BPF_OBJ_NAME_LEN. The ops are ktbpf_scx.
	want_obj=ktbpf_sc want_iface=sched_ext_ops want_ops=ktbpf_scx
	;;
*) say "unknown kernel $kernel"; exit 2 ;;
esac
initrd=$("$guest/build-initramfs.sh" "$wd/initramfs.cpio.gz" ${objs[@]+"${objs[@]}"})
kimage=$kdir/vmlinuz
[ -f "$kimage" ] || kimage=$kdir/bzImage

boot() {
	"$guest/boot-guest.sh" --kernel "$kimage" --initrd "$initrd" --cpu "$cpu" --smp "$smp" \
		--workdir "$wd" ${append[@]+"${append[@]}"} >/dev/null
}
boot
# The guest reports only once its counters held still for 500 ms; if they
# never did (a stray timer on a loaded host), its report cannot be compared
# exactly with a later pause. Boot once more rather than compare noise.
if grep -q '"quiesced":false' "$wd/truth.json"; then
	say "guest counters were still moving when it reported; booting once more"
	"$guest/stop-guest.sh" "$wd" >/dev/null 2>&1 || true
	boot
	if grep -q '"quiesced":false' "$wd/truth.json"; then
		say "FAIL: the guest's struct_ops counters never held still (see $wd/console.log)"
		exit 1
	fi
fi
say "booted and paused in $(cat "$wd/boot_seconds")s: $(tr -d '\r' <"$wd/console.log" | grep -o 'paging=[0-9]-level' | tail -n1)"
if [ "$kernel" = scx ]; then
	ops=$(tr -d '\r' <"$wd/console.log" | sed -n 's/.*KTBPF-SCX-OPS \(.*\)$/\1/p' | tail -n1)
	[ "$ops" = "$want_ops" ] || { say "FAIL: /sys/kernel/sched_ext/root/ops says '$ops', not $want_ops"; exit 1; }
	say "guest: /sys/kernel/sched_ext/root/ops = $ops"
fi

rc=0
route() {
	local label=$1 out=$wd/inspect-$1.json
	shift
	local t0 t1
	t0=$(date +%s%N)
	if ! "$KTBPFCTL" inspect "$@" --json >"$out" 2>"$wd/inspect-$label.err"; then
		say "route $label: ktbpfctl failed: $(cat "$wd/inspect-$label.err") $(head -c 300 "$out")"
		rc=1
		return
	fi
	t1=$(date +%s%N)
	if "$COMPARE_TRUTH" "$wd/truth.json" "$out" --active-obj "$want_obj" \
		--active-iface "$want_iface" >"$wd/compare-$label.txt"; then
		say "route $label: $(cat "$wd/compare-$label.txt") ($(((t1 - t0) / 1000000)) ms, $(grep -o '"discover_ns": *[0-9]*' "$out" | head -n1))"
	else
		say "route $label: FAILED"
		sed 's/^/    /' "$wd/compare-$label.txt" >&2
		rc=1
	fi
}

route raw --ram "$wd/ram"
if [ "$kernel" = scx ]; then
	# Our own build keeps a full vmlinux: symbols from .symtab, BTF from .BTF.
	route files --ram "$wd/ram" --vmlinux "$kdir/vmlinux"
else
	# Debian's image is stripped: BTF from the decompressed image, symbols
	# from the guest's /proc/kallsyms (System.map format).
	route files --ram "$wd/ram" --btf "$kdir/vmlinux" --system-map "$wd/kallsyms"
fi
if dump=$("$guest/qmp.sh" "$wd" "{\"execute\":\"dump-guest-memory\",\"arguments\":{\"paging\":false,\"protocol\":\"file:$wd/core.elf\"}}" 2>&1); then
	route core --ram "$wd/core.elf"
else
	say "route core: FAILED: QMP dump-guest-memory: $dump"
	rc=1
fi

if [ "$smp" -gt 1 ] && [ -n "${KTBPFCTL_FAULT:-}" ]; then
	# Negative control: the same comparison with an inspector that sums CPU 0 only.
	if ! "$KTBPFCTL_FAULT" inspect --ram "$wd/ram" --json >"$wd/inspect-fault.json" 2>"$wd/inspect-fault.err"; then
		say "FAIL: the CPU-0-only inspector did not run: $(cat "$wd/inspect-fault.err")"
		rc=1
	elif "$COMPARE_TRUTH" "$wd/truth.json" "$wd/inspect-fault.json" >"$wd/compare-fault.txt"; then
		say "FAIL: the CPU-0-only inspector matched too: the test cannot see per-CPU sums"
		rc=1
	else
		say "negative control: CPU-0-only inspector caught ($(grep -c MISMATCH "$wd/compare-fault.txt" || true) mismatches)"
	fi
fi
failed=$rc
exit $rc
