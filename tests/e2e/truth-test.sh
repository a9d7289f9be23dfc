#!/bin/bash
# truth-test.sh KERNEL CPU SMP [SCENARIO]
#   KERNEL:   6.1 | 6.12 | sid (Debian's cloud kernels; sid is unstable's
#             newest, 7.x) with a TCP congestion control | scx (our 6.12
#             sched_ext kernel) | sid-scx (sid's built-in sched_ext) with our
#             sched_ext scheduler
#   CPU:      qemu64 (4-level paging) | max (5-level paging)
#   SMP:      number of vCPUs
#   SCENARIO: default | nostats (runtime stats off) | two-scx (two schedulers
#             loaded, one attached) | scx-detached (a scheduler detached
#             before the snapshot) | scx-error (a scheduler that calls
#             scx_bpf_error) | scx-stall (one the watchdog ejects);
#             tests/e2e/scenario.sh says what each boots
#
# The truth test: boot a real guest under QEMU (TCG) with struct_ops BPF
# objects loaded and run, pause it, then read its RAM from the host with
# `ktbpfctl inspect` through three routes and compare each, exactly, with what
# the guest reported through the bpf() syscall and sysfs (compare-truth: every
# program, struct_ops instance, the attached instance and object, stats state,
# paging levels, sched_ext's state, sysfs numbers and SCX_EV_* event counters;
# the host's answer must be whole):
#   1. zero-config: raw RAM, no vmlinux (VMCOREINFO + kallsyms + BTF from RAM);
#   2. files: BTF from the kernel image, symbols from the guest's /proc/kallsyms
#      (arm64-6.1, whose kallsyms lack data symbols: the -dbg package's vmlinux;
#      there the zero-config route must fail with the error naming
#      CONFIG_KALLSYMS_ALL instead);
#   3. an ELF core written by QEMU's dump-guest-memory.
# With SMP > 1, on every route, a deliberately broken inspector (sums CPU 0
# only) must fail the comparison with counter mismatches and nothing else,
# proving the test can see a per-CPU bug (with stats off every counter is 0
# on every CPU: there it must match).
#
# Environment: KTBPFCTL, KTBPFCTL_FAULT, COMPARE_TRUTH (set by meson),
# KTBPF_E2E_KEEP=1 keeps the work dir. A missing component fails with CI=true
# or KTBPF_E2E_REQUIRED=1 (meson sets it for -De2e=enabled), and skips (exit
# 77) otherwise. Exit status: 0 pass, 1 fail, 2 bad arguments, 77 skip.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
guest=$here/../guest
if [ $# -lt 3 ] || [ $# -gt 4 ]; then
	echo "usage: truth-test.sh KERNEL CPU SMP [SCENARIO]" >&2
	exit 2
fi
kernel=$1 cpu=$2 smp=$3 scenario=${4:-default}
name="$kernel-$cpu-smp$smp"
[ "$scenario" = default ] || name+="-$scenario"

say() { printf 'truth-test %s: %s\n' "$name" "$*" >&2; }
case "$scenario" in
default | nostats | two-scx | scx-detached | scx-error | scx-stall) ;;
*) say "unknown scenario '$scenario' (default, nostats, two-scx, scx-detached, scx-error, scx-stall)"; exit 2 ;;
esac
case "$smp" in
'' | *[!0-9]*) say "SMP must be a number of vCPUs, not '$smp'"; exit 2 ;;
esac
missing() {
	if [ "${CI:-}" = true ] || [ "${KTBPF_E2E_REQUIRED:-}" = 1 ]; then
		say "FAIL: $* (CI=true or -De2e=enabled: a missing real component is a failure)"
		exit 1
	fi
	say "SKIP: $* -- run ./run-tests (it installs and prepares everything) to run this test"
	exit 77
}

case "$kernel" in
arm64-6.1 | arm64-6.12 | arm64-sid | arm64-sid-scx)
	arch=arm64 base=${kernel#arm64-}
	case "$cpu" in cortex-a57 | max) ;; *) say "arm64 CPU must be cortex-a57 or max, not '$cpu'"; exit 2 ;; esac
	tools=(qemu-system-aarch64 aarch64-linux-gnu-gcc clang cpio dpkg-deb apt-get)
	;;
*)
	arch=amd64 base=$kernel
	tools=(qemu-system-x86_64 clang busybox cpio dpkg-deb)
	;;
esac
for c in "${tools[@]}"; do
	command -v "$c" >/dev/null 2>&1 || missing "'$c' is not installed"
done
: "${KTBPFCTL:?}" "${COMPARE_TRUTH:?}"
# The negative control is part of every SMP > 1 test: without its inspector
# the test would prove less than it claims.
if [ "$smp" -gt 1 ] && [ ! -x "${KTBPFCTL_FAULT:-}" ]; then
	missing "the CPU-0-only inspector (KTBPFCTL_FAULT) is not built"
fi

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

# KERNEL picks the kernel and the workload; SCENARIO what the guest loads and
# does with it (tests/e2e/scenario.sh).
case "$base" in
6.1 | 6.12 | sid)
	# sid: Debian unstable's newest cloud kernel (7.x), through the cache's own apt state
	kdir=$("$guest/fetch-kernel.sh" "$base" --vmlinux --arch "$arch") || missing "kernel $kernel not available"
	say "kernel: Debian $(head -n1 "$kdir/package"), release $(cat "$kdir/version")"
	workload=cc
	;;
scx | sid-scx)
	if [ "$base" = scx ]; then
		# (--print-dir needs apt's candidate version of linux-source-6.12)
		kdir=$("$guest/scx/build-kernel.sh" --print-dir) ||
			missing "cannot locate the sched_ext kernel (is linux-source-6.12 known to apt?)"
		[ -f "$kdir/bzImage" ] && [ -f "$kdir/vmlinux" ] ||
			missing "the sched_ext kernel is not built: run tests/guest/scx/build-kernel.sh (about 12 minutes)"
		say "kernel: ours, built from $(sed -n 's/^package=//p' "$kdir/build-info") $(sed -n 's/^version=//p' "$kdir/build-info")"
	else
		# the same scheduler on the built-in sched_ext (CONFIG_SCHED_CLASS_EXT=y)
		# of Debian unstable's newest cloud kernel
		kdir=$("$guest/fetch-kernel.sh" sid --vmlinux --arch "$arch") || missing "kernel $kernel not available"
		say "kernel: Debian $(head -n1 "$kdir/package"), release $(cat "$kdir/version")"
	fi
	workload=scx
	# /sys/kernel/sched_ext/root/ops names the attached scheduler's ops
	want_ops=ktbpf_scx
	;;
*) say "unknown kernel $kernel"; exit 2 ;;
esac
# shellcheck source=scenario.sh
. "$here/scenario.sh"
ktbpf_scenario "$workload" "$scenario" "$wd/bpf" || case $? in
	2) say "scenario $scenario does not apply to kernel $kernel"; exit 2 ;;
	*) missing "cannot build the scheduler for scenario $scenario" ;;
	esac
initrd=$("$guest/build-initramfs.sh" "$wd/initramfs.cpio.gz" --arch "$arch" ${scenario_objs[@]+"${scenario_objs[@]}"})
kimage=$kdir/vmlinuz
[ -f "$kimage" ] || kimage=$kdir/bzImage

# arm64-6.1 has no built-in virtio console for kallsyms, and needs none:
# its kallsyms lack the data symbols, its files are the -dbg vmlinux.
[ "$kernel" = arm64-6.1 ] && scenario_append="${scenario_append:+$scenario_append }ktbpf.kallsyms=none"
boot_once() {
	"$guest/boot-guest.sh" --arch "$arch" --kernel "$kimage" --initrd "$initrd" --cpu "$cpu" --smp "$smp" \
		--workdir "$wd" ${scenario_append:+--append "$scenario_append"} >/dev/null
}
# The guest kernel itself sometimes fails to boot under TCG on a loaded host,
# before our agent or ktbpf ever run: an int3 oops in sched_clock_cpu while a
# static key is patched across vCPUs (seen twice), a hang right after hpet0
# on 7.2 with 4 vCPUs (seen once). That is QEMU's or the guest's flake, not an
# answer to compare: boot once more, saying so. A failure of our own agent
# (KTBPF-FAILED) or a second failed boot still fails the test.
boot() {
	boot_once && return 0
	if grep -aq KTBPF-FAILED "$wd/console.log" 2>/dev/null; then
		say "FAIL: the guest agent failed (see $wd/console.log)"
		exit 1
	fi
	say "the guest kernel did not boot (TCG flake?): $(tr -d '\r' <"$wd/console.log" | grep -a -m1 -e 'Oops' -e 'BUG:' -e 'Kernel panic' | cut -c1-120) last line: $(tr -d '\r' <"$wd/console.log" | grep -a . | tail -n1 | cut -c1-100); booting once more"
	cp "$wd/console.log" "$wd/console-crash.log" 2>/dev/null || true
	"$guest/stop-guest.sh" "$wd" >/dev/null 2>&1 || true
	boot_once || { say "FAIL: the guest did not boot twice (see $wd/console.log)"; exit 1; }
}
boot
# The guest reports only once its counters (the struct_ops programs' and
# sched_ext's events) held still for 500 ms; if they
# never did (a stray timer on a loaded host), its report cannot be compared
# exactly with a later pause. Boot once more rather than compare noise.
if grep -q '"quiesced":false' "$wd/truth.json"; then
	say "guest counters were still moving when it reported; booting once more"
	"$guest/stop-guest.sh" "$wd" >/dev/null 2>&1 || true
	boot
	if grep -q '"quiesced":false' "$wd/truth.json"; then
		say "FAIL: the guest's struct_ops or sched_ext event counters never held still (see $wd/console.log)"
		exit 1
	fi
fi
if [ "$arch" = arm64 ]; then
	say "booted and paused in $(cat "$wd/boot_seconds")s: $(grep -o '"paging_levels":[0-9]*' "$wd/truth.json")"
else
	say "booted and paused in $(cat "$wd/boot_seconds")s: $(tr -d '\r' <"$wd/console.log" | grep -o 'paging=[0-9]-level' | tail -n1)"
fi
if [ "$workload" = scx ] && [ "$scenario" = default ]; then
	ops=$(tr -d '\r' <"$wd/console.log" | sed -n 's/.*KTBPF-SCX-OPS \(.*\)$/\1/p' | tail -n1)
	[ "$ops" = "$want_ops" ] || { say "FAIL: /sys/kernel/sched_ext/root/ops says '$ops', not $want_ops"; exit 1; }
	say "guest: /sys/kernel/sched_ext/root/ops = $ops"
fi

# The scenario must have happened in the guest, or the test would prove less
# than its name says (a "nostats" guest with stats on, two schedulers that are
# not two). Read from the guest's own truth; the values themselves are for
# compare-truth.
scenario_check=$(python3 - "$scenario" "$wd/truth.json" <<'PY'
import json, sys
scenario, path = sys.argv[1], sys.argv[2]
t = json.load(open(path))
act = t.get("active") or {}
scx = sorted(i.get("map_id") for i in t.get("struct_ops", [])
             if i.get("interface") == "sched_ext_ops")
if scenario == "nostats" and t.get("stats_enabled") is not False:
    print("runtime stats are not disabled")
elif scenario in ("default", "nostats") and not act.get("attached"):
    print("nothing is attached")
elif scenario == "two-scx" and not (len(scx) >= 2 and act.get("attached")
                                    and act.get("instances") and min(scx) not in act["instances"]):
    print(f"want two sched_ext instances, the lower-id one not attached; have {scx}, attached {act.get('instances')}")
elif scenario == "scx-detached" and not (scx and act.get("attached") is False):
    print(f"want a loaded sched_ext instance and nothing attached; have {scx}, attached {act.get('instances')}")
elif scenario in ("scx-error", "scx-stall"):
    # enum scx_exit_kind: SCX_EXIT_ERROR_BPF 1025, SCX_EXIT_ERROR_STALL 1026
    want = 1025 if scenario == "scx-error" else 1026
    uei = (t.get("sched_ext") or {}).get("uei") or {}
    if uei.get("kind") != want or act.get("attached") is not False:
        print(f"want the scheduler ejected with exit kind {want}; its uei says {uei}, attached {act.get('instances')}")
    elif scenario == "scx-error" and uei.get("msg") != "ktbpf test error 7":
        print(f"want the message 'ktbpf test error 7'; its uei says {uei.get('msg')!r}")
PY
) || scenario_check="cannot read the guest's truth"
if [ -n "$scenario_check" ]; then
	say "FAIL: scenario $scenario did not happen in the guest: $scenario_check"
	exit 1
fi

rc=0
routes=0 controls=0
route() {
	local label=$1 out=$wd/inspect-$1.json
	shift
	local t0 t1 st=0
	routes=$((routes + 1))
	t0=$(date +%s%N)
	"$KTBPFCTL" inspect "$@" --json >"$out" 2>"$wd/inspect-$label.err" || st=$?
	t1=$(date +%s%N)
	if [ "$st" -eq 3 ]; then
		# exit 3: an answer was printed but ktbpfctl says it is incomplete; compare it anyway
		say "route $label: FAIL: ktbpfctl says its answer is incomplete: $(cat "$wd/inspect-$label.err")"
		rc=1
	fi
	if [ "$st" -ne 0 ] && [ "$st" -ne 3 ]; then
		say "route $label: ktbpfctl failed (exit $st): $(cat "$wd/inspect-$label.err") $(head -c 300 "$out")"
		rc=1
	else
		# What is active comes from the guest's truth, never from this script.
		if "$COMPARE_TRUTH" "$wd/truth.json" "$out" >"$wd/compare-$label.txt" 2>&1; then
			say "route $label: $(cat "$wd/compare-$label.txt") ($(((t1 - t0) / 1000000)) ms, $(grep -o '"discover_ns": *[0-9]*' "$out" | head -n1))"
		else
			say "route $label: FAILED"
			sed 's/^/    /' "$wd/compare-$label.txt" >&2
			rc=1
		fi
	fi
	[ "$smp" -gt 1 ] && control "$label" "$@"
	return 0
}

# Negative control on one route: the same comparison with an inspector that
# sums CPU 0 only. It must be caught by counter mismatches and nothing else;
# with stats off (every counter 0 on every CPU) it must match instead.
control() {
	local label=$1 out=$wd/inspect-fault-$1.json expect=--expect-counter-mismatch
	shift
	controls=$((controls + 1))
	[ "$scenario" = nostats ] && expect=
	if ! "$KTBPFCTL_FAULT" inspect "$@" --json >"$out" 2>"$wd/inspect-fault-$label.err"; then
		# (exit 3, an incomplete answer, is no counter bug either)
		say "route $label: FAIL: the CPU-0-only inspector failed: $(cat "$wd/inspect-fault-$label.err")"
		rc=1
	elif "$COMPARE_TRUTH" ${expect:+"$expect"} "$wd/truth.json" "$out" >"$wd/compare-fault-$label.txt" 2>&1; then
		if [ -n "$expect" ]; then
			say "route $label: negative control caught: $(tail -n1 "$wd/compare-fault-$label.txt")"
		else
			say "route $label: negative control: stats are off, every counter is 0, the CPU-0-only inspector matches as it must"
		fi
	else
		if [ -n "$expect" ]; then
			say "route $label: FAIL: the CPU-0-only inspector was not caught by counter mismatches alone"
		else
			say "route $label: FAIL: with stats off the CPU-0-only inspector should match"
		fi
		sed 's/^/    /' "$wd/compare-fault-$label.txt" >&2
		rc=1
	fi
}

# The RAM file's regions (arm64 virt: GPA 1 GiB at offset 0); x86_64 keeps
# offset = GPA, no option.
regions=()
if [ "$arch" = arm64 ]; then
	while read -r gpa size off; do regions+=(--region "$gpa:$size:$off"); done <"$wd/memmap"
fi
# Files the routes without them need where the guest's kallsyms lack data
# symbols (arm64-6.1: no CONFIG_KALLSYMS_ALL): its -dbg vmlinux.
needs_files=()
if [ "$kernel" = arm64-6.1 ]; then
	needs_files=(--vmlinux "$kdir/vmlinux")
	# zero-config must refuse with the error that says what is missing
	st=0
	"$KTBPFCTL" inspect --ram "$wd/ram" "${regions[@]}" --json >"$wd/inspect-nofiles.json" 2>"$wd/inspect-nofiles.err" || st=$?
	if [ "$st" -eq 1 ] && grep -q "'prog_idr' .*not found.*CONFIG_KALLSYMS_ALL" "$wd/inspect-nofiles.err" &&
		[ "$(grep -c . "$wd/inspect-nofiles.err")" -le 2 ]; then
		say "route raw without files: refused as it must: $(head -n1 "$wd/inspect-nofiles.err")"
	else
		say "route raw without files: FAIL: want exit 1 naming prog_idr and CONFIG_KALLSYMS_ALL, got exit $st: $(cat "$wd/inspect-nofiles.err")"
		rc=1
	fi
fi
route raw --ram "$wd/ram" ${regions[@]+"${regions[@]}"} ${needs_files[@]+"${needs_files[@]}"}
# The active object's variables (global sections, per-CPU arrays) as the host
# reads them (ktbpfctl vars) against the guest's own bpf() lookups; with
# nothing active, a loaded object's, named (the guest's truth names it).
# "vars": null only when no struct_ops object is loaded at all.
if grep -q '"vars":null' "$wd/truth.json"; then
	say "vars: FAIL: the guest reports no struct_ops object to read variables of"
	rc=1
else
	vars_obj=$(python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))["vars"]; print("" if v.get("active") else v["object"])' "$wd/truth.json") || vars_obj=
	st=0
	"$KTBPFCTL" vars --ram "$wd/ram" ${regions[@]+"${regions[@]}"} ${needs_files[@]+"${needs_files[@]}"} \
		--json ${vars_obj:+"$vars_obj"} >"$wd/vars.json" 2>"$wd/vars.err" || st=$?
	if [ "$st" -ne 0 ] && [ "$st" -ne 3 ]; then
		say "vars: FAIL: ktbpfctl vars failed (exit $st): $(cat "$wd/vars.err")"
		rc=1
	elif "$COMPARE_TRUTH" --vars "$wd/truth.json" "$wd/vars.json" >"$wd/compare-vars.txt" 2>&1; then
		say "vars${vars_obj:+ of $vars_obj (not active)}: $(cat "$wd/compare-vars.txt")"
	else
		say "vars: FAILED"
		sed 's/^/    /' "$wd/compare-vars.txt" >&2
		rc=1
	fi
fi
# The failure report a person reads (inspect --vars: the codec and renderer of
# a ktbpfd dump and `ktbpfctl dump`) names the exit kind, where it was read,
# the message, and the ejected scheduler's variables.
if [ "$scenario" = scx-error ] || [ "$scenario" = scx-stall ]; then
	st=0
	"$KTBPFCTL" inspect --ram "$wd/ram" ${regions[@]+"${regions[@]}"} ${needs_files[@]+"${needs_files[@]}"} \
		--vars >"$wd/report.txt" 2>"$wd/report.err" || st=$?
	obj=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["vars"]["object"])' "$wd/truth.json" 2>/dev/null) || obj=
	kind=SCX_EXIT_ERROR_BPF
	[ "$scenario" = scx-stall ] && kind=SCX_EXIT_ERROR_STALL
	why=
	[ "$st" -eq 0 ] || [ "$st" -eq 3 ] || why="ktbpfctl inspect --vars failed (exit $st): $(cat "$wd/report.err")"
	[ -n "$why" ] || grep -qE "^  exit \((the kernel's record|the scheduler's uei copy)\): $kind " "$wd/report.txt" ||
		why="no '$kind' exit line"
	[ -n "$why" ] || [ "$scenario" != scx-error ] || grep -qxF "    message: ktbpf test error 7" "$wd/report.txt" ||
		why="no 'message: ktbpf test error 7' line"
	[ -n "$why" ] || { [ -n "$obj" ] && grep -qF "variables of $obj (" "$wd/report.txt"; } ||
		why="no variables of the scheduler '$obj'"
	if [ -z "$why" ]; then
		say "report: $(grep -E '^  exit \(' "$wd/report.txt" | head -n1 | sed 's/^ *//'); variables of $obj"
	else
		say "report: FAIL: $why (see $wd/report.txt)"
		rc=1
	fi
fi
if [ "$kernel" = scx ]; then
	# Our own build keeps a full vmlinux: symbols from .symtab, BTF from .BTF.
	route files --ram "$wd/ram" --vmlinux "$kdir/vmlinux"
elif [ "$kernel" = arm64-6.1 ]; then
	# Debian's -dbg vmlinux: .symtab (link-time, relocated by KASLR) and .BTF
	route files --ram "$wd/ram" "${regions[@]}" --vmlinux "$kdir/vmlinux"
elif [ "$arch" = arm64 ]; then
	# The arm64 Image is no ELF: BTF cut out of it (fetch-kernel.sh), symbols
	# from the guest's /proc/kallsyms.
	route files --ram "$wd/ram" "${regions[@]}" --btf "$kdir/btf" --system-map "$wd/kallsyms"
else
	# Debian's image is stripped: BTF from the decompressed image, symbols
	# from the guest's /proc/kallsyms (System.map format).
	route files --ram "$wd/ram" --btf "$kdir/vmlinux" --system-map "$wd/kallsyms"
fi
if dump=$("$guest/qmp.sh" "$wd" "{\"execute\":\"dump-guest-memory\",\"arguments\":{\"paging\":false,\"protocol\":\"file:$wd/core.elf\"}}" 2>&1); then
	route core --ram "$wd/core.elf" ${needs_files[@]+"${needs_files[@]}"}
else
	say "route core: FAILED: QMP dump-guest-memory: $dump"
	rc=1
fi

if [ "$smp" -gt 1 ] && [ "$controls" -ne "$routes" ]; then
	say "FAIL: the negative control ran on $controls of $routes routes"
	rc=1
fi
failed=$rc
exit $rc
