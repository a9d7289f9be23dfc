#!/bin/bash
# harness-test.sh: examples/harness.sh, the README's example for test runners,
# run as a test runner would, on a real guest (Debian 6.1, TCG):
#  - a test that passes (its verdict line on the console): exit 0, no dump;
#  - a test that stalls (the guest goes silent after its report): exit 1, and
#    next to the artifacts a ktbpf dump naming the test and the reason, taken
#    frozen, whose programs equal the guest's own truth, and its text report;
#    no QEMU left running.
# Environment: KTBPFD, KTBPFCTL, KTBPF_QEMU, COMPARE_TRUTH (meson).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
guest=$here/../guest
harness=$here/../../examples/harness.sh
say() { printf 'harness-test: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
missing() {
	if [ "${CI:-}" = true ] || [ "${KTBPF_E2E_REQUIRED:-}" = 1 ]; then fail "$*"; fi
	say "SKIP: $*"
	exit 77
}
for c in qemu-system-x86_64 clang busybox cpio dpkg-deb python3; do
	command -v "$c" >/dev/null 2>&1 || missing "'$c' is not installed"
done
: "${KTBPFD:?}" "${KTBPFCTL:?}" "${KTBPF_QEMU:?}" "${COMPARE_TRUTH:?}"
wd=$(mktemp -d "${TMPDIR:-/tmp}/ktbpf-harness.XXXXXX")
daemon_pid=
cleanup() {
	[ -z "$daemon_pid" ] || { kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null || true; }
	if [ "${passed:-0}" = 1 ] && [ "${KTBPF_E2E_KEEP:-}" != 1 ]; then rm -rf "$wd"; else say "work dir kept: $wd"; fi
}
trap cleanup EXIT
export KTBPF_SOCKET=$wd/ktbpfd.sock KTBPF_QEMU KTBPFCTL
"$KTBPFD" --socket "$KTBPF_SOCKET" --state-dir "$wd/state" 2>"$wd/ktbpfd.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$KTBPF_SOCKET" ] && break; sleep 0.1; done
kdir=$("$guest/fetch-kernel.sh" 6.1 2>"$wd/fetch.log") || missing "kernel 6.1 not available"
initrd=$("$guest/build-initramfs.sh" "$wd/initramfs.cpio.gz" 2>"$wd/initramfs.log")
qemu_args=(-accel tcg -machine q35 -cpu max -m 512M -smp 2 -nodefaults -no-reboot
	-kernel "$kdir/vmlinuz" -initrd "$initrd"
	-append "console=ttyS0,115200 panic=-1 ktbpf.kallsyms=none")

# the guest's agent prints KTBPF-READY after its report: call that a pass
st=0
"$harness" --test example/pass --artifacts "$wd/pass" --pass KTBPF-READY --stall 60 -- "${qemu_args[@]}" || st=$?
[ "$st" -eq 0 ] || fail "a passing test: harness exit $st ($(tail -n3 "$wd/pass/console.log"))"
[ ! -e "$wd/pass/ktbpf-dump.json" ] || fail "a passing test left a dump"
say "a passing test: exit 0, no dump"

# a test whose verdict never comes: the idle guest is silent after READY
st=0
"$harness" --test example/stall --artifacts "$wd/stall" --pass NEVER-PRINTED --stall 8 -- "${qemu_args[@]}" || st=$?
[ "$st" -eq 1 ] || fail "a stalled test: harness exit $st, want 1"
[ -s "$wd/stall/ktbpf-dump.json" ] && [ -s "$wd/stall/ktbpf-dump.txt" ] ||
	fail "no dump next to the artifacts: $(ls "$wd/stall"; cat "$wd/stall/ktbpf-dump.err" 2>/dev/null)"
tr -d '\r' <"$wd/stall/console.log" | grep -a '^KTBPF-TRUTH ' | tail -n1 | sed 's/^KTBPF-TRUTH //' >"$wd/truth.json"
python3 - "$wd/stall/ktbpf-dump.json" "$wd/snapshot.json" <<'PY' || fail "the dump's header is wrong"
import json, sys
d = json.load(open(sys.argv[1]))
want = {"test": "example/stall", "frozen": True, "detached": False}
got = {k: d.get(k) for k in want}
if got != want or not d.get("reason", "").startswith("stall: no console output"):
    print(f"    dump says {got}, reason {d.get('reason')!r}; want {want} and a stall reason", file=sys.stderr)
    sys.exit(1)
json.dump(d["snapshot"], open(sys.argv[2], "w"))
PY
"$COMPARE_TRUTH" "$wd/truth.json" "$wd/snapshot.json" >"$wd/cmp.txt" 2>&1 ||
	{ sed 's/^/    /' "$wd/cmp.txt" >&2; fail "the dump's programs differ from the guest's truth"; }
grep -q 'example/stall' "$wd/stall/ktbpf-dump.txt" || fail "the text report does not name the test"
for _ in $(seq 50); do
	pgrep -f "file:$wd/stall/console.log" >/dev/null || break
	sleep 0.2
done
pgrep -f "file:$wd/stall/console.log" >/dev/null && fail "QEMU still runs after the harness ended"
say "a stalled test: exit 1; ktbpf-dump.json (test, stall reason, frozen) equals the guest's truth: $(cat "$wd/cmp.txt"); ktbpf-dump.txt names the test; nothing left running"
passed=1
