#!/bin/bash
# harness.sh: how a test runner boots a guest through ktbpf-qemu, runs a test
# in it, and on failure stores a ktbpf failure dump next to the test's other
# artifacts. A working example (tests/e2e/harness-test.sh runs it); copy it.
#
#   harness.sh --test NAME --artifacts DIR [--timeout S] [--stall S]
#              [--pass REGEX] [--fail REGEX] -- QEMU-ARGUMENT...
#
# The test is whatever the guest runs; its verdict is a line on its serial
# console (saved as DIR/console.log): --pass REGEX (default KTBPF-PASS) passes,
# --fail REGEX (default KTBPF-FAIL|Kernel panic) fails. The test also fails
# when QEMU exits first, after --timeout S (default 300) seconds, or when the
# console stays silent for --stall S (default 60) seconds. On failure:
#   ktbpfctl dump VM --test NAME --reason WHY   -> DIR/ktbpf-dump.json (the
#                                                 stored dump, JSON)
#   ktbpfctl dumps info ID                      -> DIR/ktbpf-dump.txt (the report)
# ktbpfd freezes the guest for the dump through ktbpf-qemu; a guest whose QEMU
# died is dumped from its RAM all the same (ktbpfd kept it). Exit status: 0
# pass, 1 fail, 2 usage. Environment: KTBPF_SOCKET (ktbpfd's socket),
# KTBPF_QEMU and KTBPFCTL (default: from PATH).
set -euo pipefail
usage() { sed -n '6,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
test_name='' art='' timeout=300 stall=60 pass=KTBPF-PASS fail='KTBPF-FAIL|Kernel panic'
while [ $# -gt 0 ]; do
	case "$1" in
	--test) test_name=${2:?}; shift 2 ;;
	--artifacts) art=${2:?}; shift 2 ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--stall) stall=${2:?}; shift 2 ;;
	--pass) pass=${2:?}; shift 2 ;;
	--fail) fail=${2:?}; shift 2 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ -n "$test_name" ] && [ -n "$art" ] && [ $# -gt 0 ] || usage
# (a --timeout or --stall that is not a number would never fire: the test would hang)
for v in "$timeout" "$stall"; do
	[[ $v =~ ^[1-9][0-9]{0,6}$ ]] || { echo "harness: --timeout and --stall want whole seconds, not '$v'" >&2; exit 2; }
done
ktbpf_qemu=${KTBPF_QEMU:-ktbpf-qemu}
ktbpfctl=${KTBPFCTL:-ktbpfctl}
say() { printf 'harness %s: %s\n' "$test_name" "$*" >&2; }
mkdir -p "$art"
console=$art/console.log
: >"$console"
# The VM's name in ktbpfd is unique per uid: one per run.
vm="harness-$$"

# 1. Boot through ktbpf-qemu: it registers the guest's RAM with ktbpfd before
# the guest runs. --require-monitor: a run without ktbpfd could not be dumped.
"$ktbpf_qemu" --require-monitor --name "$vm" --label "test=$test_name" -- "$@" \
	-display none -serial "file:$console" </dev/null >"$art/qemu.log" 2>&1 &
vmm=$!
# On any exit: stop ktbpf-qemu (it passes SIGTERM to QEMU) and wait until both
# are gone, so that nothing writes to the artifacts after the harness returns.
stop_vmm() {
	kill -TERM "$vmm" 2>/dev/null || return 0
	for _ in $(seq 100); do kill -0 "$vmm" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$vmm" 2>/dev/null || true # its QEMU dies with it (PDEATHSIG)
	wait "$vmm" 2>/dev/null || true
}
trap stop_vmm EXIT
trap 'exit 130' INT TERM

# 2. Wait for the verdict, a timeout, a stall, or QEMU's end.
start=$SECONDS last_size=-1 last_change=$SECONDS reason=''
while :; do
	if ! kill -0 "$vmm" 2>/dev/null; then
		st=0
		wait "$vmm" || st=$?
		reason="QEMU exited (status $st) before the test finished: $(tail -n1 "$art/qemu.log" | cut -c1-200)"
		break
	fi
	if line=$(grep -a -m1 -E -- "$fail" "$console"); then
		reason="the test failed: $(printf '%s' "$line" | tr -d '\r' | cut -c1-200)"
		break
	fi
	if grep -aq -E -- "$pass" "$console"; then
		say "PASS in $((SECONDS - start)) s"
		exit 0
	fi
	size=$(stat -c %s "$console")
	if [ "$size" -ne "$last_size" ]; then
		last_size=$size last_change=$SECONDS
	elif [ $((SECONDS - last_change)) -ge "$stall" ]; then
		reason="stall: no console output for ${stall} s"
		break
	fi
	if [ $((SECONDS - start)) -ge "$timeout" ]; then
		reason="timeout after ${timeout} s"
		break
	fi
	sleep 0.5
done

# 3. Failed: a dump, named after the test and why, stored with the artifacts.
say "FAIL: $reason"
st=0
"$ktbpfctl" dump "$vm" --test "$test_name" --reason "$reason" --json \
	>"$art/ktbpf-dump.json" 2>"$art/ktbpf-dump.err" || st=$?
if [ "$st" -eq 0 ]; then
	id=$(sed -n 's/.*"dump": *"\([^"]*\)".*/\1/p' "$art/ktbpf-dump.json" | head -n1)
	"$ktbpfctl" dumps info "$id" >"$art/ktbpf-dump.txt" 2>>"$art/ktbpf-dump.err" || true
	say "ktbpf dump $id stored in $art/ktbpf-dump.json and $art/ktbpf-dump.txt"
else
	# 4: the guest kernel was not found yet (it failed early in boot)
	say "no ktbpf dump (ktbpfctl exit $st): $(cat "$art/ktbpf-dump.err")"
fi
exit 1
