#!/usr/bin/env bash
# Line coverage of lib/ reached by the fuzz corpora (after fuzz/run-fuzz.sh):
#   fuzz/coverage.sh [TARGET...]
# Builds each target with clang source-based coverage (no sanitizers) in
# ${FUZZ_BUILD:-build-fuzz}/cov, replays build-fuzz/corpus/T and seeds/T once
# (-runs=0) and prints llvm-cov's per-file report for lib/.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

build=${FUZZ_BUILD:-build-fuzz}
all=(vmcoreinfo symbols elfcore kallsyms xarray walk)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
CC=${CC:-clang-14}
command -v "$CC" >/dev/null || CC=clang
v=${CC#clang}
profdata=llvm-profdata$v
cov=llvm-cov$v
sources_of() {
	sed -n "/^$2 = files(/,/)/p" "$1" | grep -o "'[^']*\.c'" | tr -d "'"
}
lib_srcs=$(sources_of lib/meson.build libktbpf_sources | sed 's|^|lib/|')
kit_srcs=$(sources_of tests/meson.build kit_sources | sed 's|^|tests/|')
cflags="-std=gnu11 -D_GNU_SOURCE -g -O1 -Ilib/include -Irpc/include -Itests/kit -Ifuzz
	-fprofile-instr-generate -fcoverage-mapping -w"
out="$build/cov"
mkdir -p "$out"
for t in "${targets[@]}"; do
	[ -d "$build/corpus/$t" ] || { echo "coverage: run fuzz/run-fuzz.sh first ($t)" >&2; exit 1; }
	bin="$out/fuzz-$t"
	# (rpc/json.c and codec.c: fuzz-walk writes each snapshot's JSON)
	# shellcheck disable=SC2086
	$CC $cflags -fsanitize=fuzzer "fuzz/fuzz-$t.c" fuzz/fuzz-common.c fuzz/fuzz-guest.c \
		$lib_srcs $kit_srcs rpc/json.c rpc/codec.c -lbpf -lelf -lz -ljansson -o "$bin"
	rm -f "$out/$t.profraw"
	LLVM_PROFILE_FILE="$out/$t.profraw" "$bin" -runs=0 "$build/corpus/$t" "$build/seeds/$t" \
		>"$out/$t.log" 2>&1
	$profdata merge -sparse "$out/$t.profraw" -o "$out/$t.profdata"
	echo "=== $t ==="
	# shellcheck disable=SC2086
	$cov report "$bin" -instr-profile="$out/$t.profdata" $lib_srcs |
		awk '$1 ~ /\.c$/ && $8 != $9 { printf "  %-14s lines %4d/%-4d %s\n", $1, $8 - $9, $8, $10 }'
done
