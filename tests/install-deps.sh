#!/usr/bin/env bash
# Installs every Debian 12 package ktbpf builds and tests with (idempotent).
# Needs root (or sudo). The list is the single source of truth: README,
# run-tests and CI all come through here.
set -euo pipefail

packages=(
	# build
	gcc meson ninja-build pkg-config
	libbpf-dev libelf-dev zlib1g-dev libjansson-dev libuv1-dev libsystemd-dev
	# tests; python3 and systemd: the protocol client and the units' tests
	# (systemd-analyze, systemd-socket-activate; no systemd as PID 1 needed)
	libcriterion-dev python3 systemd
	# real-guest tests: BPF objects, static guest agent, QEMU, initramfs
	clang llvm libclang-rt-14-dev bpftool qemu-system-x86 busybox-static cpio xz-utils zstd lz4 gzip
	# arm64 real-guest tests: QEMU for aarch64 and the cross compiler for the static
	# agent (arm64 libbpf/libelf/zlib and busybox are unpacked from Debian's arm64
	# .debs into the cache, never installed)
	qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	# the sched_ext test kernel, built from Debian's linux-source-6.12
	build-essential flex bison bc libssl-dev dwarves python3-minimal
)

sudo='' updated=''
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
fi

# The test guests download Debian kernels with `apt-get download`: the
# package lists must know them (bookworm-security carries the 6.12 ones).
if ! apt-cache show linux-source-6.12 >/dev/null 2>&1; then
	echo "install-deps: refreshing apt package lists (linux-source-6.12 unknown)" >&2
	$sudo apt-get update -q && updated=1 || echo "install-deps: WARNING: apt-get update failed" >&2
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages present" >&2
	exit 0
fi

if [ -n "$sudo" ] && ! command -v sudo >/dev/null; then
	echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
[ -n "$updated" ] || $sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
