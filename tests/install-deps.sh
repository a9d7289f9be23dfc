#!/usr/bin/env bash
# Installs every Debian 12 package ktbpf builds and tests with (idempotent).
# Needs root (or sudo). The list is the single source of truth: README,
# run-tests and CI all come through here.
set -euo pipefail

packages=(
	# build
	gcc meson ninja-build pkg-config
	libbpf-dev libelf-dev zlib1g-dev libjansson-dev libuv1-dev libsystemd-dev
	# tests
	libcriterion-dev
	# real-guest tests: BPF objects, static guest agent, QEMU, initramfs
	clang llvm bpftool qemu-system-x86 busybox-static cpio xz-utils zstd lz4 gzip
	# the sched_ext test kernel, built from Debian's linux-source-6.12
	build-essential flex bison bc libssl-dev dwarves python3-minimal
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages present" >&2
	exit 0
fi

sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
