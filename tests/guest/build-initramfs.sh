#!/bin/bash
# build-initramfs.sh OUT.cpio.gz [--arch amd64|arm64] [--obj FILE]...
#
# Build the ktbpf test-guest initramfs: busybox-static, the static
# ktbpf-agent, the ktbpf_cc struct_ops object (built from bpf/ktbpf_cc.bpf.c)
# and any extra BPF objects given with --obj (placed at /<basename>).
#
# --arch arm64 cross-builds it: the agent with aarch64-linux-gnu-gcc
# (gcc-aarch64-linux-gnu), linked statically against Debian's arm64 libbpf,
# libelf and zlib, and busybox from Debian's arm64 busybox-static: those .debs
# come through the cache's private arm64 apt state (lib.sh ktbpf_private_apt)
# and are unpacked with dpkg-deb -x into $KTBPF_CACHE/sysroot-arm64/<hash>
# (never installed); ktbpf_cc.bpf.o with -D__TARGET_ARCH_arm64. BPF objects
# given with --obj are bytecode and serve both architectures.
#
# The result is cached under $KTBPF_CACHE/initramfs/<hash>/ keyed by the
# content of every input (sources, this script, busybox, compiler and libbpf
# versions, extra objects) and copied to OUT.  Prints OUT on stdout.
#
# Kernel command line understood by /init:
#   ktbpf.workload=tcp|sched|none   (default tcp)
#   ktbpf.obj=/a.bpf.o[,/b.bpf.o]   (default /ktbpf_cc.bpf.o; loaded in this order;
#                                    /a.bpf.o:noattach is loaded but not attached)
#   ktbpf.cc=NAME                   (TCP congestion control name, default ktbpf_cc)
#   ktbpf.duration=SECONDS          (workload length, default 1.5)
#   ktbpf.detach=1                  (detach struct_ops before reporting)
#   ktbpf.stats=0                   (runtime stats off: sysctl 0, no stats fd)
#   ktbpf.kallsyms=PATH|none        (default /dev/ttyS1)
#   ktbpf.kallsyms_gzip=0|1         (gzip that copy, default 1; the host unpacks it)
#   ktbpf.agent=0                   (do not run the agent, just idle)
#   ktbpf.control=TTY               (after READY the agent takes commands on TTY:
#                                    read N, traffic, reboot; boot-guest.sh --control)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() { echo "usage: $0 OUT.cpio.gz [--arch amd64|arm64] [--obj FILE]..." >&2; exit 2; }
[ $# -ge 1 ] || usage
out=$1
shift
extra=() arch=amd64
while [ $# -gt 0 ]; do
	case "$1" in
	--arch)
		[ $# -ge 2 ] || usage
		arch=$2
		shift 2
		;;
	--obj)
		[ $# -ge 2 ] || usage
		[ -r "$2" ] || die "cannot read --obj $2"
		extra+=("$(cd "$(dirname "$2")" && pwd)/$(basename "$2")")
		shift 2
		;;
	--obj=*)
		f=${1#--obj=}
		[ -r "$f" ] || die "cannot read --obj $f"
		extra+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
		shift
		;;
	*) usage ;;
	esac
done

case "$arch" in amd64|arm64) ;; *) usage ;; esac
CLANG=${CLANG:-clang}
bpf_arch=x86 agent_flags=() sysroot=
if [ "$arch" = arm64 ]; then
	CC=${CC_ARM64:-aarch64-linux-gnu-gcc}
	need_cmd "$CC" dpkg-deb apt-get flock
	# arm64 libbpf/libelf/zlib (static) and busybox-static, unpacked, never installed
	sysroot_pkgs=(libbpf-dev libelf-dev zlib1g-dev busybox-static)
	ktbpf_private_apt apt-arm64-bookworm arm64 bookworm bookworm-updates bookworm-security
	pins=$(apt-cache "${apt_q[@]}" policy "${sysroot_pkgs[@]}" 2>/dev/null |
		awk '/^[^ ]/ {p = $1} /Candidate:/ {print p "=" $2}' | sed 's/:$//; s/:=/=/') ||
		die "cannot resolve ${sysroot_pkgs[*]} for arm64"
	[ "$(printf '%s\n' "$pins" | grep -c =)" -eq ${#sysroot_pkgs[@]} ] || die "arm64 packages not all known: $pins"
	sysroot=$(ktbpf_cache_dir)/sysroot-arm64/$(printf '%s\n' "$pins" | sha256sum | cut -c1-16)
	mkdir -p "$(dirname "$sysroot")"
	exec {sylock}>"$(dirname "$sysroot")/.lock"
	flock "$sylock"
	if [ ! -f "$sysroot/.complete" ]; then
		st=$(mktemp -d "$(dirname "$sysroot")/.build.XXXXXX")
		log "downloading arm64 $(printf '%s ' $pins)"
		# shellcheck disable=SC2086 # one NAME=VERSION a word
		(cd "$st" && apt-get download "${apt_q[@]}" -q $pins >&2) || { rm -rf "$st"; die "apt-get download of the arm64 packages failed"; }
		for deb in "$st"/*.deb; do dpkg-deb -x "$deb" "$st/root"; done
		printf '%s\n' "$pins" >"$st/root/packages"
		touch "$st/root/.complete"
		rm -rf "$sysroot"
		mv "$st/root" "$sysroot"
		rm -rf "$st"
	fi
	flock -u "$sylock"
	BUSYBOX=$sysroot/bin/busybox
	bpf_arch=arm64
	agent_flags=(-I"$sysroot/usr/include" -L"$sysroot/usr/lib/aarch64-linux-gnu")
	[ -r "$sysroot/usr/lib/aarch64-linux-gnu/libbpf.a" ] || die "no libbpf.a in $sysroot"
else
	CC=${CC:-cc}
	BUSYBOX=${BUSYBOX:-/bin/busybox}
fi
need_cmd "$CC" "$CLANG" cpio gzip sha256sum find sort
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (apt-get install busybox-static)"
if [ "$arch" = amd64 ] && ldd "$BUSYBOX" >/dev/null 2>&1; then
	die "$BUSYBOX is not a static busybox (apt-get install busybox-static, or set BUSYBOX=)"
fi
[ -r /usr/include/bpf/libbpf.h ] || die "libbpf headers missing (apt-get install libbpf-dev)"

bpf_src=$here/bpf/ktbpf_cc.bpf.c
agent_src=$here/agent/ktbpf-agent.c
for f in "$bpf_src" "$agent_src"; do [ -r "$f" ] || die "missing source $f"; done

# The /init script (kept here so that it is part of the cache key).
init_script() {
	cat <<'INIT'
#!/bin/busybox sh
# ktbpf test guest init (PID 1): set up, run the agent, never exit.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /bin /sbin
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
# the kernel may have started us without a console if /dev/console was absent
[ -c /dev/console ] && exec 0<>/dev/console 1>&0 2>&0
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf 2>/dev/null || echo "ktbpf-init: cannot mount bpffs"
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
# keep kernel chatter (below error level) off the console so lines stay whole
echo "3 4 1 7" >/proc/sys/kernel/printk
echo 0 >/proc/sys/kernel/kptr_restrict 2>/dev/null || true
ip link set lo up || echo "ktbpf-init: ip link set lo up failed"

wl=tcp objs=/ktbpf_cc.bpf.o cc=ktbpf_cc dur= detach= stats=1 ksyms=/dev/ttyS1 ksgz=1 agent=1 ctl=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	ktbpf.workload=*) wl=${arg#*=} ;;
	ktbpf.obj=*) objs=${arg#*=} ;;
	ktbpf.cc=*) cc=${arg#*=} ;;
	ktbpf.duration=*) dur=${arg#*=} ;;
	ktbpf.detach=1) detach=1 ;;
	ktbpf.stats=0) stats=0 ;;
	ktbpf.kallsyms=*) ksyms=${arg#*=} ;;
	ktbpf.kallsyms_gzip=*) ksgz=${arg#*=} ;;
	ktbpf.agent=0) agent=0 ;;
	ktbpf.control=*) ctl=${arg#*=} ;;
	esac
done
if [ "$stats" = 1 ]; then
	echo 1 >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo "ktbpf-init: cannot enable bpf_stats"
else
	echo 0 >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo "ktbpf-init: cannot disable bpf_stats"
fi
if grep -qw la57 /proc/cpuinfo; then paging=5-level; else paging=4-level; fi
echo "ktbpf-init: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus, paging=$paging"

set -- --workload "$wl" --cc-name "$cc"
for o in $(echo "$objs" | tr , ' '); do
	case "$o" in
	*:noattach) set -- "$@" --obj-noattach "${o%:noattach}" ;;
	*) set -- "$@" --obj "$o" ;;
	esac
done
[ -n "$dur" ] && set -- "$@" --duration "$dur"
[ -n "$detach" ] && set -- "$@" --detach
[ "$stats" = 0 ] && set -- "$@" --no-stats
[ -n "$ctl" ] && set -- "$@" --control "$ctl"
if [ "$ksyms" != none ]; then
	set -- "$@" --kallsyms-out "$ksyms"
	[ "$ksgz" = 1 ] && set -- "$@" --kallsyms-gzip
fi
if [ "$agent" = 1 ]; then
	echo "ktbpf-init: running /ktbpf-agent $*"
	/ktbpf-agent "$@"
	echo "ktbpf-init: ktbpf-agent exited with status $?"
else
	echo "KTBPF-READY"
fi
# PID 1 must not exit
while :; do sleep 3600; done
INIT
}

hash_inputs() {
	{
		echo "ktbpf-initramfs v1"
		sha256sum "$bpf_src" "$agent_src" "$here/build-initramfs.sh" "$here/lib.sh" "$BUSYBOX" | awk '{print $1}'
		init_script | sha256sum
		"$CLANG" --version | head -n1
		"$CC" --version | head -n1
		for f in /usr/include/bpf/libbpf_version.h /usr/lib/x86_64-linux-gnu/libbpf.a; do
			[ -r "$f" ] && sha256sum <"$f"
		done
		for f in "${extra[@]}"; do
			printf '%s ' "$(basename "$f")"
			sha256sum <"$f"
		done
		# (amd64 keys stay what they were before arm64 existed)
		[ "$arch" = amd64 ] || printf 'arch %s sysroot %s\n' "$arch" "$(cat "$sysroot/packages")"
	} | sha256sum | cut -c1-16
}

cache=$(ktbpf_cache_dir)/initramfs
mkdir -p "$cache"
key=$(hash_inputs)
dir=$cache/$key
# Runs sharing the cache take turns (held until OUT is copied): one must not
# replace or prune a directory another is copying from.
need_cmd flock
exec {lock}>"$cache/.lock"
flock "$lock"

if [ -f "$dir/.complete" ]; then
	log "cached: $dir"
	touch "$dir" # most recently used, for pruning
else
	tmp=$(mktemp -d "$cache/.build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	log "building BPF object ktbpf_cc.bpf.o"
	"$CLANG" -O2 -g -target bpf -D__TARGET_ARCH_$bpf_arch -Wall -Werror \
		-c "$bpf_src" -o "$tmp/ktbpf_cc.bpf.o"
	log "building static ktbpf-agent ($arch)"
	"$CC" -O2 -g -Wall -Wextra -static ${agent_flags[@]+"${agent_flags[@]}"} -o "$tmp/ktbpf-agent" "$agent_src" -lbpf -lelf -lz ||
		die "linking the static agent failed (needs libbpf-dev, libelf-dev, zlib1g-dev static libraries)"

	root=$tmp/root
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc}
	cp "$BUSYBOX" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	init_script >"$root/init"
	chmod 755 "$root/init"
	cp "$tmp/ktbpf-agent" "$root/ktbpf-agent"
	cp "$tmp/ktbpf_cc.bpf.o" "$root/ktbpf_cc.bpf.o"
	for f in "${extra[@]}"; do
		[ "$(basename "$f")" = ktbpf_cc.bpf.o ] && die "--obj $f would replace the built ktbpf_cc.bpf.o"
		cp "$f" "$root/$(basename "$f")"
	done
	# a console node lets the kernel give /init its stdio; needs root, optional
	mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
	find "$root" -exec touch -h -d @0 {} +
	log "packing initramfs"
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n >"$tmp/initramfs.cpio.gz"
	rm -rf "$root"
	chmod 755 "$tmp"
	touch "$tmp/.complete"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	trap - EXIT
	log "built $dir ($(stat -c %s "$dir/initramfs.cpio.gz") bytes)"
	# keep the 8 most recent builds
	ls -1dt "$cache"/[0-9a-f]*/ 2>/dev/null | tail -n +9 | while read -r old; do rm -rf "$old"; done
fi

if [ ! "$out" -ef "$dir/initramfs.cpio.gz" ]; then
	mkdir -p "$(dirname "$out")"
	cp -f "$dir/initramfs.cpio.gz" "$out.tmp.$$"
	mv -f "$out.tmp.$$" "$out"
fi
printf '%s\n' "$out"
