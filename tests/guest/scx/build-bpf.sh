#!/usr/bin/env bash
# Build the ktbpf_scx sched_ext scheduler object.
#
# Usage: build-bpf.sh OUT_DIR [NAME [error|stall]]
#   Writes OUT_DIR/NAME.bpf.o (NAME defaults to ktbpf_scx; no-op when it is up
#   to date with the source, the libbpf headers and the compiler).  Prints the
#   object path.  Another NAME builds the same scheduler with
#   -DKTBPF_SCX_NAME=NAME: ops name NAME, struct_ops map NAME_ops, libbpf
#   object name NAME (its global-data maps are named after its first 8
#   characters, so those must differ from "ktbpf_sc" for the maps to differ).
#   VARIANT error: the scheduler calls scx_bpf_error("ktbpf test error 7") at
#   its 7th enqueue; stall: it never dispatches, so the watchdog ejects it
#   after its 1 s timeout_ms.
#
# Needs clang (clang-14 on Debian 12) and libbpf-dev headers (bpf/bpf_helpers.h).
# Does not need /sys/kernel/btf/vmlinux: kernel types are declared in the source.
# Environment: CLANG=/path/to/clang to override the compiler.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/ktbpf_scx.bpf.c"

[ $# -ge 1 ] && [ $# -le 3 ] || { echo "usage: $0 OUT_DIR [NAME [error|stall]]" >&2; exit 2; }
out_dir="$1"
name="${2:-ktbpf_scx}"
variant="${3:-}"
# a C identifier that fits ops.name and BPF_OBJ_NAME_LEN with "_ops"
[[ $name =~ ^[a-z_][a-z0-9_]{0,10}$ ]] ||
  { echo "build-bpf: NAME must match [a-z_][a-z0-9_]{0,10}, not '$name'" >&2; exit 2; }

clang="${CLANG:-}"
if [ -z "$clang" ]; then
  for c in clang-14 clang clang-15 clang-16 clang-17 clang-18 clang-19; do
    if command -v "$c" >/dev/null 2>&1; then clang="$c"; break; fi
  done
fi
[ -n "$clang" ] || { echo "build-bpf: clang not found (apt-get install clang-14)" >&2; exit 1; }
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "build-bpf: libbpf headers missing (apt-get install libbpf-dev)" >&2; exit 1; }

cflags=(-target bpf -O2 -g -Wall -Werror -Wno-unused-function -DKTBPF_SCX_NAME="$name" -c)
case "$variant" in
  '') ;;
  error) cflags+=(-DKTBPF_SCX_ERROR_AFTER=7) ;; # scx_bpf_error("ktbpf test error 7")
  stall) cflags+=(-DKTBPF_SCX_STALL) ;;         # never dispatch: the watchdog ejects it
  *) echo "build-bpf: VARIANT must be error or stall, not '$variant'" >&2; exit 2 ;;
esac

mkdir -p "$out_dir"
obj="$out_dir/$name.bpf.o"
stamp="$out_dir/$name.bpf.o.stamp"
key="$( { cat "$src" /usr/include/bpf/bpf_helpers.h /usr/include/bpf/bpf_helper_defs.h \
               /usr/include/bpf/bpf_tracing.h; "$clang" --version; echo "${cflags[*]}"; } \
        | sha256sum | cut -d' ' -f1)"

if [ -f "$obj" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
  echo "$obj"
  exit 0
fi

"$clang" "${cflags[@]}" "$src" -o "$obj.tmp"
mv "$obj.tmp" "$obj"
echo "$key" >"$stamp"
echo "build-bpf: built $obj with $clang" >&2
echo "$obj"
