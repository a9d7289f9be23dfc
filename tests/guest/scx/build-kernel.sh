#!/usr/bin/env bash
# Build (once, cached) a small x86_64 guest kernel with sched_ext, BTF,
# kallsyms and VMCOREINFO from Debian 12's linux-source-6.12 package.
#
# Usage: build-kernel.sh [--print-deps | --print-dir | --help]
#   (no args)     build if needed; print the cache dir on stdout when done
#   --print-deps  print the apt packages the build needs, then exit
#   --print-dir   print the cache dir this config/source would use, then exit
#
# Environment:
#   KTBPF_CACHE            cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/ktbpf)
#   KTBPF_SCX_SRC_VERSION  Debian version of linux-source-6.12 to use
#                          (default: apt's candidate version)
#   KTBPF_SCX_JOBS         make -j value (default: nproc)
#   KTBPF_SCX_KEEP_BUILD=1 keep the extracted/built source tree (work dir)
#   KTBPF_SCX_NO_APT=1     never run apt-get install/update (fail if deps missing)
#
# The cache dir holds: bzImage (+ vmlinuz symlink) vmlinux System.map config
# config-fragment build.log build-info
# Progress goes to stderr; stdout carries only the cache dir path.
set -euo pipefail

# Packages needed to build the kernel (the project's setup script installs these too).
KTBPF_SCX_BUILD_DEPS="build-essential flex bison bc libelf-dev libssl-dev dwarves xz-utils"
KTBPF_SCX_SRC_PKG="linux-source-6.12"

# Config fragment applied on top of `make tinyconfig`. One entry per line:
#   NAME=y | NAME=n | NAME=<value>      (NAME without the CONFIG_ prefix)
# Every entry is verified in the final .config.
KTBPF_SCX_CONFIG_FRAGMENT='
64BIT=y
SMP=y
ACPI=y
NR_CPUS=8
PRINTK=y
PRINTK_TIME=y
EARLY_PRINTK=y
TTY=y
SERIAL_8250=y
SERIAL_8250_CONSOLE=y
BLK_DEV_INITRD=y
RD_GZIP=y
KERNEL_GZIP=y
KERNEL_XZ=n
BINFMT_ELF=y
BINFMT_SCRIPT=y
PROC_FS=y
PROC_KCORE=y
SYSFS=y
DEVTMPFS=y
DEVTMPFS_MOUNT=y
SHMEM=y
TMPFS=y
MULTIUSER=y
FUTEX=y
EPOLL=y
POSIX_TIMERS=y
NET=y
UNIX=y
BPF=y
BPF_SYSCALL=y
BPF_JIT=y
DEBUG_KERNEL=y
DEBUG_FS=y
DEBUG_INFO_NONE=n
DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y
DEBUG_INFO=y
DEBUG_INFO_BTF=y
CGROUPS=y
CGROUP_SCHED=y
EXT_GROUP_SCHED=y
SCHED_DEBUG=y
SCHED_CLASS_EXT=y
KALLSYMS=y
KALLSYMS_ALL=y
VMCORE_INFO=y
X86_5LEVEL=y
RELOCATABLE=y
RANDOMIZE_BASE=y
RANDOMIZE_MEMORY=y
'
# Bump when the build recipe (not the fragment) changes in a way that alters output.
KTBPF_SCX_RECIPE=1

log() { printf '[build-kernel] %s\n' "$*" >&2; }
die() { printf '[build-kernel] ERROR: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
  --print-deps) echo "$KTBPF_SCX_BUILD_DEPS"; exit 0 ;;
  --help|-h) sed -n '2,20p' "$0"; exit 0 ;;
  --print-dir|"") ;;
  *) die "unknown argument: $1" ;;
esac

log "build deps: $KTBPF_SCX_BUILD_DEPS"

cache_root="${KTBPF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ktbpf}"

# --- which source version -------------------------------------------------
candidate_version() {
  apt-cache policy "$KTBPF_SCX_SRC_PKG" 2>/dev/null \
    | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}
src_version="${KTBPF_SCX_SRC_VERSION:-}"
if [ -z "$src_version" ]; then
  src_version="$(candidate_version || true)"
  if [ -z "$src_version" ] && [ "$(id -u)" = 0 ] && [ -z "${KTBPF_SCX_NO_APT:-}" ]; then
    log "no apt candidate for $KTBPF_SCX_SRC_PKG; running apt-get update"
    apt-get update -qq >&2 || true
    src_version="$(candidate_version || true)"
  fi
  [ -n "$src_version" ] || die "cannot determine $KTBPF_SCX_SRC_PKG version (set KTBPF_SCX_SRC_VERSION or run apt-get update)"
fi

fragment="$(printf '%s\n' "$KTBPF_SCX_CONFIG_FRAGMENT" | sed '/^[[:space:]]*$/d')"
key="$(printf 'recipe=%s\npkg=%s\nversion=%s\n%s\n' "$KTBPF_SCX_RECIPE" \
        "$KTBPF_SCX_SRC_PKG" "$src_version" "$fragment" | sha256sum | cut -c1-16)"
out_dir="$cache_root/scx-kernel-$key"

if [ "${1:-}" = "--print-dir" ]; then echo "$out_dir"; exit 0; fi

if [ -f "$out_dir/bzImage" ] && [ -f "$out_dir/build-info" ]; then
  [ -e "$out_dir/vmlinuz" ] || ln -s bzImage "$out_dir/vmlinuz" 2>/dev/null || true
  log "already built ($KTBPF_SCX_SRC_PKG $src_version): $out_dir"
  echo "$out_dir"
  exit 0
fi

# --- build dependencies ---------------------------------------------------
need_cmds="make gcc flex bison bc pahole xz tar dpkg-deb"
missing=""
for c in $need_cmds; do command -v "$c" >/dev/null 2>&1 || missing="$missing $c"; done
[ -f /usr/include/libelf.h ] || missing="$missing libelf.h"
[ -f /usr/include/openssl/ssl.h ] || missing="$missing openssl/ssl.h"
if [ -n "$missing" ]; then
  log "missing:$missing"
  if [ "$(id -u)" = 0 ] && [ -z "${KTBPF_SCX_NO_APT:-}" ]; then
    log "installing: $KTBPF_SCX_BUILD_DEPS"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $KTBPF_SCX_BUILD_DEPS >&2 \
      || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive \
           apt-get install -y --no-install-recommends $KTBPF_SCX_BUILD_DEPS >&2; }
  else
    die "install build deps first: apt-get install $KTBPF_SCX_BUILD_DEPS"
  fi
fi

# --- serialize concurrent builds -------------------------------------------
mkdir -p "$cache_root"
exec 9>"$cache_root/.scx-kernel-$key.lock"
if ! flock -n 9; then
  log "another build of $out_dir is running; waiting for it"
  flock 9
fi
if [ -f "$out_dir/bzImage" ] && [ -f "$out_dir/build-info" ]; then
  log "built by a concurrent run: $out_dir"
  echo "$out_dir"
  exit 0
fi

t_start=$(date +%s)
work="$cache_root/.scx-kernel-$key.work"
stage="$cache_root/.scx-kernel-$key.stage"
rm -rf "$work" "$stage"
mkdir -p "$work" "$stage"
cleanup() { [ -n "${KTBPF_SCX_KEEP_BUILD:-}" ] || rm -rf "$work"; rm -rf "$stage"; }
trap cleanup EXIT

# --- fetch + unpack source ------------------------------------------------
log "downloading $KTBPF_SCX_SRC_PKG=$src_version"
# Download into a world-writable temp dir so apt's _apt sandbox user can write
# there (the cache may live under a 0700 home dir).
dl="$(mktemp -d "${TMPDIR:-/tmp}/ktbpf-scx-dl.XXXXXX")"
chmod 0777 "$dl"
download() { (cd "$dl" && apt-get download "$KTBPF_SCX_SRC_PKG=$src_version" >&2); }
if ! download; then
  if [ "$(id -u)" = 0 ] && [ -z "${KTBPF_SCX_NO_APT:-}" ]; then
    log "download failed; apt-get update and retry"
    apt-get update -qq >&2
    download || { rm -rf "$dl"; die "apt-get download $KTBPF_SCX_SRC_PKG=$src_version failed"; }
  else
    rm -rf "$dl"
    die "apt-get download $KTBPF_SCX_SRC_PKG=$src_version failed"
  fi
fi
mv "$dl"/"$KTBPF_SCX_SRC_PKG"_*.deb "$work"/
rm -rf "$dl"
deb="$(ls "$work"/"$KTBPF_SCX_SRC_PKG"_*.deb | head -n1)"
log "unpacking $(basename "$deb")"
dpkg-deb -x "$deb" "$work/pkg"
rm -f "$deb"
tarball="$(ls "$work"/pkg/usr/src/linux-source-*.tar.* | head -n1)"
[ -f "$tarball" ] || die "no source tarball in $deb"
tar -C "$work" -xf "$tarball"
rm -rf "$work/pkg"
src="$(ls -d "$work"/linux-source-*/ | head -n1)"
src="${src%/}"
[ -f "$src/Makefile" ] || die "no kernel tree after unpacking"
log "source: $src ($(make -s -C "$src" kernelversion 2>/dev/null))"

# --- configure --------------------------------------------------------------
mk() { make -C "$src" ARCH=x86_64 "$@"; }
log "make tinyconfig"
mk tinyconfig >"$work/config.log" 2>&1 || { cat "$work/config.log" >&2; die "tinyconfig failed"; }

apply_fragment() {
  local line name val
  while IFS= read -r line; do
    name="${line%%=*}"; val="${line#*=}"
    case "$val" in
      y) "$src/scripts/config" --file "$src/.config" --enable "$name" ;;
      n) "$src/scripts/config" --file "$src/.config" --disable "$name" ;;
      *) "$src/scripts/config" --file "$src/.config" --set-val "$name" "$val" ;;
    esac
  done <<<"$fragment"
}
# Two passes: some options only become visible after their dependencies are set.
for pass in 1 2; do
  log "applying config fragment (pass $pass)"
  apply_fragment
  mk olddefconfig >>"$work/config.log" 2>&1 || { cat "$work/config.log" >&2; die "olddefconfig failed"; }
done

log "verifying .config"
dropped=""
while IFS= read -r line; do
  name="${line%%=*}"; val="${line#*=}"
  case "$val" in
    n) if grep -q "^CONFIG_$name=" "$src/.config"; then
         dropped="$dropped CONFIG_$name(want n, got $(grep "^CONFIG_$name=" "$src/.config" | cut -d= -f2))"
       fi ;;
    *) if ! grep -qx "CONFIG_$name=$val" "$src/.config"; then
         got="$(grep "^CONFIG_$name=" "$src/.config" | cut -d= -f2 || true)"
         dropped="$dropped CONFIG_$name(want $val, got ${got:-unset})"
       fi ;;
  esac
done <<<"$fragment"
if [ -n "$dropped" ]; then
  cp "$src/.config" "$cache_root/scx-kernel-$key.failed.config" || true
  die "olddefconfig dropped/changed required options:$dropped (config saved to $cache_root/scx-kernel-$key.failed.config)"
fi
log "config OK ($(grep -c '=y$' "$src/.config") options =y)"

# --- build ------------------------------------------------------------------
jobs="${KTBPF_SCX_JOBS:-$(nproc)}"
log "make -j$jobs bzImage (log: $work/build.log; this takes a while)"
t_build=$(date +%s)
mk -j"$jobs" bzImage >"$work/build.log" 2>&1 &
mpid=$!
while kill -0 "$mpid" 2>/dev/null; do
  sleep 30
  kill -0 "$mpid" 2>/dev/null || break
  log "  ... $(( $(date +%s) - t_build ))s: $(tail -n1 "$work/build.log" | cut -c1-100)"
done
if ! wait "$mpid"; then
  tail -n 40 "$work/build.log" >&2
  cp "$work/build.log" "$cache_root/scx-kernel-$key.failed.log" || true
  die "kernel build failed (log: $cache_root/scx-kernel-$key.failed.log)"
fi
t_end=$(date +%s)

# --- install into cache ------------------------------------------------------
cp "$src/arch/x86/boot/bzImage" "$src/vmlinux" "$src/System.map" "$stage/"
ln -s bzImage "$stage/vmlinuz"   # the name tests/guest/boot-guest.sh looks for
cp "$src/.config" "$stage/config"
cp "$work/build.log" "$stage/build.log"
{
  echo "package=$KTBPF_SCX_SRC_PKG"
  echo "version=$src_version"
  echo "kernelrelease=$(cat "$src/include/config/kernel.release" 2>/dev/null || true)"
  echo "key=$key"
  echo "jobs=$jobs"
  echo "build_seconds=$(( t_end - t_build ))"
  echo "total_seconds=$(( t_end - t_start ))"
  echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$stage/build-info"
printf '%s\n' "$fragment" >"$stage/config-fragment"
rm -rf "$out_dir"
mv "$stage" "$out_dir"
log "done in $(( t_end - t_start ))s (make: $(( t_end - t_build ))s); $(du -sh "$out_dir" | cut -f1) in $out_dir"
echo "$out_dir"
