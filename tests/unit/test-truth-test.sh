#!/bin/bash
# The truth test's own contract, without QEMU: tests/e2e/truth-test.sh run with
# no QEMU on PATH skips (77) only when nothing requires it, fails (1) with
# CI=true or KTBPF_E2E_REQUIRED=1 (what -De2e=enabled sets), and rejects bad
# arguments (2). TAP output for meson.
set -uo pipefail
script=$(cd "$(dirname "${BASH_SOURCE[0]}")/../e2e" && pwd)/truth-test.sh
bin=$(mktemp -d "${TMPDIR:-/tmp}/ktbpf-truth-args.XXXXXX")
trap 'rm -rf "$bin"' EXIT
# a PATH with what the script needs before its first check, and no QEMU
ln -s "$(command -v dirname)" "$bin/dirname"

n=0 failed=0
check() { # NAME WANT_STATUS ENV... -- ARGS...
	local name=$1 want=$2 envs=() st
	shift 2
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env -i PATH="$bin" ${envs[@]+"${envs[@]}"} /bin/bash "$script" "$@" >/dev/null 2>&1
	st=$?
	n=$((n + 1))
	if [ "$st" -eq "$want" ]; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name: exit $st, want $want"
		failed=1
	fi
}

echo "1..6"
check "missing_qemu_skips_when_not_required" 77 -- 6.1 qemu64 1
check "missing_qemu_fails_in_ci" 1 CI=true -- 6.1 qemu64 1
check "missing_qemu_fails_with_e2e_enabled" 1 KTBPF_E2E_REQUIRED=1 -- 6.1 max 4 nostats
check "unknown_scenario_is_a_bad_argument" 2 CI=true -- 6.1 qemu64 1 stats-off
check "non_numeric_smp_is_a_bad_argument" 2 -- 6.1 qemu64 four
check "missing_smp_is_a_bad_argument" 2 -- 6.1 qemu64
exit $failed
