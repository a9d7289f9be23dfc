#!/bin/bash
# boot-guest.sh --kernel DIR_OR_VMLINUZ --initrd FILE --workdir DIR
#               [--cpu qemu64|max] [--smp N] [--mem 512M] [--append ARGS]
#               [--timeout SECONDS] [--stall SECONDS] [--machine q35|pc]
#               [--vmm PROGRAM [--vmm-arg ARG]...] [--control] [--allow-reboot]
#               [--arch amd64|arm64]
#
# Boot the ktbpf test guest under QEMU TCG (never KVM), wait for KTBPF-READY
# on the console, then pause the VM through QMP and leave it paused for
# inspection.  Files in DIR:
#   ram           guest RAM (memory-backend-file, share=on); see memmap
#   memmap        one line per RAM region: "GPA SIZE FILE_OFFSET" (hex)
#   console.log   serial 0 (kernel console, agent output)
#   kallsyms      the guest's /proc/kallsyms (System.map format, "[bpf]" etc. suffixes),
#                 unpacked from kallsyms.serial (serial 1, gzip unless ktbpf.kallsyms_gzip=0)
#   qmp.in/out    the QMP fifos (use qmp.sh DIR JSON)
#   qemu.pid      QEMU's pid (stop with stop-guest.sh DIR)
#   qemu.log      QEMU's own stdout/stderr
#   truth.json    the JSON the agent printed after "KTBPF-TRUTH "
#   boot_seconds  seconds from QEMU start to KTBPF-READY
# --timeout bounds the whole boot (180 s); --stall (60 s) gives up earlier on a
# guest whose serial ports stayed silent that long (a TCG guest hung in early
# boot, seen once on a loaded host, would otherwise use the whole timeout).
# Prints DIR on stdout.  KASLR stays on.  QEMU_BIN overrides the emulator.
# --vmm PROGRAM runs QEMU through PROGRAM (ktbpf-qemu): "PROGRAM VMM-ARGS --
# QEMU-ARGS", with no RAM backend of ours (PROGRAM brings its own: no ram,
# no memmap files); qemu.pid is PROGRAM's pid, vmm-qemu.pid QEMU's own.
# --control adds serial 2 as the pipe DIR/ctl (write commands to DIR/ctl.in)
# and tells the agent (ktbpf.control=/dev/ttyS2): read N, traffic, reboot.
# --allow-reboot lets a guest reboot (no -no-reboot).
# --arch arm64 boots an arm64 kernel Image with qemu-system-aarch64 -machine
# virt (direct kernel boot, no firmware): RAM at GPA 0x40000000 (memmap says
# so: the RAM file's offset 0 is GPA 0x40000000), the console on the board's
# one PL011 (ttyAMA0) and kallsyms on a virtio console port (the guest's
# /dev/vport0p1; needs CONFIG_VIRTIO_CONSOLE=y: 6.12 and 7.x). A PCI 16550
# (-device pci-serial) works too but carried the 1.2 MB of gzip'd kallsyms
# in 34 s with 4 vCPUs under TCG (virtio: 0.6 s). --cpu max there means
# max,pauth-impdef=on (52-bit VA with LPA2; plain max, with the architected
# pointer-authentication algorithm, is about 2.5x slower under TCG);
# cortex-a57 runs 48-bit. No --control there (virt has one PL011).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() {
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

kernel='' initrd='' workdir='' cpu=max smp=1 mem=512M append='' timeout=180 stall=60 machine=
vmm='' vmm_args=() control='' reboot=-no-reboot arch=amd64
while [ $# -gt 0 ]; do
	case "$1" in
	--arch) arch=${2:?}; shift 2 ;;
	--kernel) kernel=${2:?}; shift 2 ;;
	--initrd) initrd=${2:?}; shift 2 ;;
	--workdir) workdir=${2:?}; shift 2 ;;
	--cpu) cpu=${2:?}; shift 2 ;;
	--smp) smp=${2:?}; shift 2 ;;
	--mem) mem=${2:?}; shift 2 ;;
	--append) append="$append ${2?}"; shift 2 ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--stall) stall=${2:?}; shift 2 ;;
	--machine) machine=${2:?}; shift 2 ;;
	--vmm) vmm=${2:?}; shift 2 ;;
	--vmm-arg) vmm_args+=("${2?}"); shift 2 ;;
	--control) control=1; shift ;;
	--allow-reboot) reboot=''; shift ;;
	-h|--help) usage ;;
	*) log "unknown option $1"; usage ;;
	esac
done
if [ -z "$kernel" ] || [ -z "$initrd" ] || [ -z "$workdir" ]; then usage; fi
[ -d "$kernel" ] && kernel=$kernel/vmlinuz
[ -r "$kernel" ] || die "kernel $kernel not readable"
[ -r "$initrd" ] || die "initrd $initrd not readable"
[[ $smp =~ ^[1-9][0-9]*$ ]] || die "bad --smp $smp"
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "bad --timeout $timeout"
[[ $stall =~ ^[1-9][0-9]*$ ]] || die "bad --stall $stall"
case "$arch" in
amd64)
	machine=${machine:-q35}
	case "$machine" in q35|pc) ;; *) die "--machine must be q35 or pc" ;; esac
	qemu=${QEMU_BIN:-qemu-system-x86_64}
	;;
arm64)
	machine=${machine:-virt}
	[ "$machine" = virt ] || die "--machine must be virt with --arch arm64"
	[ -z "$control" ] || die "--control needs --arch amd64 (virt has one PL011)"
	qemu=${QEMU_BIN:-qemu-system-aarch64}
	[ "$cpu" = max ] && cpu=max,pauth-impdef=on
	;;
*) die "--arch must be amd64 or arm64" ;;
esac
need_cmd "$qemu" mkfifo grep sed

# memory size in bytes
case "$mem" in
*[Gg]) mem_bytes=$((${mem%[Gg]} * 1024 * 1024 * 1024)) ;;
*[Mm]) mem_bytes=$((${mem%[Mm]} * 1024 * 1024)) ;;
*[!0-9]*) die "bad --mem $mem (use e.g. 512M or 2G)" ;;
*) mem_bytes=$((mem * 1024 * 1024)) ;;
esac
[ "$mem_bytes" -ge $((128 * 1024 * 1024)) ] || die "--mem $mem is too small (>= 128M)"

mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
if pid=$(cat "$workdir/qemu.pid" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "path=$workdir/console.log"; then
	die "a guest is already running in $workdir (pid $pid); run stop-guest.sh $workdir"
fi
rm -f "$workdir"/{ram,memmap,console.log,kallsyms,kallsyms.serial,qmp.in,qmp.out,qmp.negotiated,qmp-events.log,qemu.pid,vmm-qemu.pid,qemu.log,truth.json,boot_seconds,core.elf,ctl.in,ctl.out}
mkfifo "$workdir/qmp.in" "$workdir/qmp.out"
[ -z "$control" ] || mkfifo "$workdir/ctl.in" "$workdir/ctl.out"

# RAM layout: QEMU puts the first part below 4 GiB and the rest at 4 GiB.
# q35: all RAM low if < 2.75 GiB, else 2 GiB low; pc: < 3.5 GiB, else 3 GiB low
# (no gigabyte alignment tricks for these sizes).
if [ "$machine" = q35 ]; then
	if [ "$mem_bytes" -ge $((0xb0000000)) ]; then low=$((0x80000000)); else low=$((0xb0000000)); fi
else
	if [ "$mem_bytes" -ge $((0xe0000000)) ]; then low=$((0xc0000000)); else low=$((0xe0000000)); fi
fi
if [ "$arch" = arm64 ]; then
	# hw/arm/virt.c: RAM from 1 GiB, in one piece
	printf '0x40000000 0x%x 0x0\n' "$mem_bytes" >"$workdir/memmap"
else {
	if [ "$mem_bytes" -gt "$low" ]; then
		printf '0x0 0x%x 0x0\n' "$low"
		printf '0x100000000 0x%x 0x%x\n' $((mem_bytes - low)) "$low"
	else
		printf '0x0 0x%x 0x0\n' "$mem_bytes"
	fi
} >"$workdir/memmap"
fi

if [ "$arch" = arm64 ]; then
	# the PL011 is ttyAMA0; kallsyms go to the virtio console port
	cmdline="console=ttyAMA0 panic=-1 oops=panic ktbpf.kallsyms=/dev/vport0p1${append}"
	ksyms_port=(-device virtio-serial-pci -device virtserialport,chardev=ksyms,name=ksyms)
else
	cmdline="console=ttyS0,115200 panic=-1 oops=panic${append}"
	ksyms_port=(-serial chardev:ksyms)
fi
[ -z "$control" ] || cmdline+=" ktbpf.control=/dev/ttyS2"
# shellcheck disable=SC2054 # commas are QEMU option syntax
args=(
	-accel tcg -machine "$machine" -cpu "$cpu" -smp "$smp" -m "$mem"
	-nographic -nodefaults ${reboot:+"$reboot"} -monitor none
	-chardev "file,id=con,path=$workdir/console.log" -serial chardev:con
	-chardev "file,id=ksyms,path=$workdir/kallsyms.serial" "${ksyms_port[@]}"
	-chardev "pipe,id=qmp,path=$workdir/qmp" -mon chardev=qmp,mode=control
	-kernel "$kernel" -initrd "$initrd" -append "$cmdline"
)
[ -z "$control" ] || args+=(-chardev "pipe,id=ctl,path=$workdir/ctl" -serial chardev:ctl)
if [ -n "$vmm" ]; then
	rm -f "$workdir/memmap"
	args+=(-pidfile "$workdir/vmm-qemu.pid")
	cmd=("$vmm" ${vmm_args[@]+"${vmm_args[@]}"} -- "${args[@]}")
else
	args+=(-machine memory-backend=m
		-object "memory-backend-file,id=m,size=$mem_bytes,mem-path=$workdir/ram,share=on")
	cmd=("$qemu" "${args[@]}")
fi
log "starting QEMU${vmm:+ through $vmm}: -machine $machine -cpu $cpu -smp $smp -m $mem, kernel $kernel"
printf '%q ' "${cmd[@]}" >"$workdir/qemu.cmdline"
echo >>"$workdir/qemu.cmdline"
start=$(date +%s.%N)
"${cmd[@]}" </dev/null >"$workdir/qemu.log" 2>&1 &
pid=$!
echo "$pid" >"$workdir/qemu.pid"
# Whatever ends this script before the guest is paused (an error, set -e, a
# signal) must not leave a QEMU running with its RAM file.
booted=
trap '[ -n "$booted" ] || kill "$pid" 2>/dev/null || true' EXIT

failed() {
	log "error: $*"
	log "last console lines ($workdir/console.log):"
	tail -n 25 "$workdir/console.log" 2>/dev/null | tr -d '\r' | sed 's/^/    /' >&2 || true
	if [ -s "$workdir/qemu.log" ]; then
		log "qemu.log:"
		sed 's/^/    /' "$workdir/qemu.log" >&2
	fi
	kill "$pid" 2>/dev/null || true
	exit 1
}

# wait for KTBPF-READY
next_report=10
last_size=-1 last_change=0
while :; do
	if grep -aq KTBPF-READY "$workdir/console.log" 2>/dev/null; then
		break
	fi
	if grep -aq -e KTBPF-FAILED -e 'Kernel panic' "$workdir/console.log" 2>/dev/null; then
		failed "the guest reported a failure"
	fi
	kill -0 "$pid" 2>/dev/null || failed "QEMU exited before KTBPF-READY"
	elapsed=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN{printf "%d", n-s}')
	[ "$elapsed" -lt "$timeout" ] || failed "no KTBPF-READY after ${timeout}s"
	# progress = bytes on either serial port (kallsyms goes to the second)
	size=$(cat "$workdir/console.log" "$workdir/kallsyms.serial" 2>/dev/null | wc -c) || size=0
	if [ "$size" -ne "$last_size" ]; then
		last_size=$size last_change=$elapsed
	elif [ $((elapsed - last_change)) -ge "$stall" ]; then
		failed "the guest printed nothing for ${stall}s (hung in boot?)"
	fi
	if [ "$elapsed" -ge "$next_report" ]; then
		# (|| true: an empty console -- a slow, loaded host -- must not end
		# this script under set -e + pipefail and leave QEMU running)
		last=$(tr -d '\r' <"$workdir/console.log" 2>/dev/null | grep -a . | tail -n1 | cut -c1-100) || true
		log "waiting for the guest (${elapsed}s): $last"
		next_report=$((next_report + 10))
	fi
	sleep 0.2
done
boot=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN{printf "%.1f", n-s}')

# pause
"$here/qmp.sh" "$workdir" '{"execute":"stop"}' >/dev/null || failed "QMP stop failed"
status=$("$here/qmp.sh" "$workdir" '{"execute":"query-status"}') || failed "QMP query-status failed"
[[ $status == *'"status": "paused"'* || $status == *'"status":"paused"'* ]] ||
	failed "VM is not paused after stop: $status"

{ tr -d '\r' <"$workdir/console.log" | grep -a '^KTBPF-TRUTH ' || true; } | tail -n1 |
	sed 's/^KTBPF-TRUTH //' >"$workdir/truth.json"
[ -s "$workdir/truth.json" ] || log "warning: no KTBPF-TRUTH line on the console"
echo "$boot" >"$workdir/boot_seconds"
# kallsyms: the agent finished writing it before it printed READY
if [ -s "$workdir/kallsyms.serial" ]; then
	if [ "$(head -c2 "$workdir/kallsyms.serial" | od -An -tx1 | tr -d ' \n')" = 1f8b ]; then
		gzip -dc <"$workdir/kallsyms.serial" >"$workdir/kallsyms" ||
			log "warning: kallsyms.serial is a damaged gzip stream"
	else
		cp "$workdir/kallsyms.serial" "$workdir/kallsyms"
	fi
fi
paging=$(tr -d '\r' <"$workdir/console.log" | sed -n 's/.*ktbpf-init: .*paging=\([0-9]*-level\).*/\1/p' | tail -n1)
booted=1
log "guest READY after ${boot}s (${paging:-unknown} paging), VM paused; QEMU pid $pid"
printf '%s\n' "$workdir"
