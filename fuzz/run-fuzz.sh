#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang and runs each for a while.
#   fuzz/run-fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# SECONDS_PER_TARGET defaults to 20; TARGETs default to all (see fuzz/README.md).
# Environment: FUZZ_BUILD (build and corpus dir, default build-fuzz), CC
# (default clang-14, else clang), FUZZ_JOBS (compile jobs, default 2),
# FUZZ_FLAGS (extra libFuzzer flags).
# Exits non-zero on any crash, leak or timeout and prints the reproducer.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

secs=${1:-20}
shift || true
all=(vmcoreinfo symbols elfcore kallsyms xarray walk walk-arm64 scx rpc vars daemon)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
build=${FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_JOBS:-2}
if [ -z "${CC:-}" ]; then
	CC=clang-14
	command -v "$CC" >/dev/null || CC=clang
fi
command -v "$CC" >/dev/null || { echo "run-fuzz: no clang (apt-get install clang-14)" >&2; exit 1; }

# The library and kit sources, as meson lists them (so a new lib file is picked up).
sources_of() { # meson.build variable
	sed -n "/^$2 = files(/,/)/p" "$1" | grep -o "'[^']*\.c'" | tr -d "'"
}
lib_srcs=$(sources_of lib/meson.build libktbpf_sources | sed 's|^|lib/|')
kit_srcs=$(sources_of tests/meson.build kit_sources | sed 's|^|tests/|')
rpc_srcs=$(sources_of rpc/meson.build rpc_sources | sed 's|^|rpc/|')
[ -n "$lib_srcs" ] || lib_srcs=$(ls lib/*.c)
[ -n "$kit_srcs" ] || kit_srcs=$(ls tests/kit/*.c)
[ -n "$rpc_srcs" ] || rpc_srcs=$(ls rpc/*.c)

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fno-strict-aliasing
	-Wall -Wextra -Wno-unused-parameter -Ilib/include -Irpc/include -Itests/kit -Ifuzz $san"
ldlibs="-lbpf -lelf -lz -ljansson"

mkdir -p "$build/obj"
# Objects: instrumented for coverage without libFuzzer's main; rebuilt when
# the source or any header is newer (headers are few, so any header counts).
newest_hdr=$(ls -t lib/include/ktbpf/*.h rpc/include/ktbpf/*.h tests/kit/*.h fuzz/*.h | head -1)
objs=()
pending=()
# rpc/codec.c too: fuzz-walk writes each snapshot's JSON.
for src in $lib_srcs $kit_srcs $rpc_srcs rpc/codec.c fuzz/fuzz-common.c fuzz/fuzz-guest.c; do
	obj="$build/obj/$(echo "${src%.c}" | tr / _).o"
	objs+=("$obj")
	if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_hdr" -nt "$obj" ] ||
		[ "$0" -nt "$obj" ]; then
		pending+=("$src:$obj")
	fi
done
compile() {
	local src=${1%%:*} obj=${1#*:}
	# shellcheck disable=SC2086
	$CC $cflags -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
}
export -f compile
export CC cflags
if [ ${#pending[@]} -gt 0 ]; then
	echo "run-fuzz: compiling ${#pending[@]} sources with $CC" >&2
	printf '%s\n' "${pending[@]}" | xargs -P "$jobs" -I{} bash -c 'compile "$@"' _ {}
fi
# The daemon target also links ktbpfd's objects (all but its main), the rest
# of rpc/ (codec-vars, metrics, the OpenRPC document built in), libuv and libsystemd.
daemon_objs=()
if printf '%s\n' "${targets[@]}" | grep -qx daemon; then
	python3 rpc/embed-text.py rpc/openrpc.json "$build/openrpc-text.c" ktbpf_openrpc_text
	for src in $(ls daemon/*.c | grep -v '/ktbpfd\.c$') rpc/openrpc.c \
		rpc/codec-vars.c rpc/metrics.c "$build/openrpc-text.c"; do
		obj="$build/obj/d_$(echo "${src%.c}" | tr / _).o"
		daemon_objs+=("$obj")
		if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_hdr" -nt "$obj" ] ||
			[ daemon/daemon-internal.h -nt "$obj" ]; then
			# shellcheck disable=SC2086
			$CC $cflags -Idaemon -DKTBPF_VERSION='"fuzz"' -fsanitize=fuzzer-no-link \
				-c "$src" -o "$obj"
		fi
	done
fi
for t in "${targets[@]}"; do
	[ -e "fuzz/fuzz-$t.c" ] || { echo "run-fuzz: no target $t" >&2; exit 2; }
	bin="$build/fuzz-$t"
	extra=()
	libs=$ldlibs
	if [ "$t" = daemon ]; then
		extra=(-Idaemon "${daemon_objs[@]}")
		libs="$ldlibs -luv -lsystemd"
	fi
	if [ ! -e "$bin" ] || [ "fuzz/fuzz-$t.c" -nt "$bin" ] ||
		[ -n "$(find "${objs[@]}" ${extra[@]+"${daemon_objs[@]}"} -newer "$bin")" ]; then
		# shellcheck disable=SC2086
		$CC $cflags -fsanitize=fuzzer "fuzz/fuzz-$t.c" ${extra[@]+"${extra[@]}"} \
			"${objs[@]}" $libs -o "$bin"
	fi
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
for t in "${targets[@]}"; do
	bin="$build/fuzz-$t"
	seeds="$build/seeds/$t"
	corpus="$build/corpus/$t"
	arts="$build/artifacts/$t"
	rm -rf "$seeds" "$arts"
	mkdir -p "$seeds" "$corpus" "$arts"
	KTBPF_FUZZ_SEEDS="$seeds" "$bin"
	dict=()
	[ -e "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
	log="$build/fuzz-$t.log"
	echo "run-fuzz: $t for ${secs}s (log $log)" >&2
	# shellcheck disable=SC2086
	if "$bin" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$arts/" ${dict[@]+"${dict[@]}"} ${FUZZ_FLAGS:-} \
		"$corpus" "$seeds" >"$log" 2>&1; then
		grep -E '^#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec' \
			"$log" | sed "s/^/  $t: /" >&2 || true
	else
		failed+=("$t")
		tail -n 60 "$log" >&2
		for a in "$arts"/*; do
			[ -e "$a" ] && echo "run-fuzz: $t FAILED; reproduce: $bin $a" >&2
		done
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "run-fuzz: failures in: ${failed[*]}" >&2
	exit 1
fi
echo "run-fuzz: all targets ran clean" >&2
