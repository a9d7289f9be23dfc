#!/bin/bash
# ktbpf-qemu against a real ktbpfd and a real QEMU, without a guest kernel
# (QEMU runs its firmware only, so this takes seconds, not a boot):
#  - a guest larger than the PCI hole on q35 and on pc registers: ktbpf-qemu's
#    computed two-region table agreed with QEMU's own memory tree (it refuses
#    to register otherwise), and it was registered with -S, before the guest ran;
#  - SIGTERM to ktbpf-qemu reaches QEMU, whose status (0) is ktbpf-qemu's;
#    QEMU killed with SIGKILL gives 137 and leaves the VM detached, readable;
#  - no ktbpfd: the guest still runs, with a message; --require-monitor: exit 1
#    and no QEMU started;
#  - refused: an unknown machine type, a RAM backend of the user's, -numa.
# Environment: KTBPFD, KTBPFCTL, KTBPF_QEMU (meson). Skips (77) without QEMU
# outside CI.
set -euo pipefail
say() { printf 'test-ktbpf-qemu: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
	[ "${CI:-}" = true ] && fail "qemu-system-x86_64 is not installed"
	say "SKIP: qemu-system-x86_64 is not installed"
	exit 77
fi
: "${KTBPFD:?}" "${KTBPFCTL:?}" "${KTBPF_QEMU:?}"
T=$(mktemp -d "${TMPDIR:-/tmp}/ktbpf-qemu-test.XXXXXX")
pids=()
cleanup() {
	for p in ${pids[@]+"${pids[@]}"}; do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
export KTBPF_SOCKET=$T/ktbpfd.sock
# start ktbpfd on KTBPF_SOCKET, logging to $1; its pid in $daemon
start_daemon() {
	"$KTBPFD" --socket "$KTBPF_SOCKET" --state-dir "$T" 2>"$1" &
	daemon=$!
	pids+=("$daemon")
	for _ in $(seq 50); do "$KTBPFCTL" list >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "ktbpfd did not start: $(cat "$1")"
}
start_daemon "$T/ktbpfd.log"

qargs=(-accel tcg -nodefaults -display none -no-reboot)
# wait until VM NAME is listed with state STATE-PATTERN; prints the list line
wait_listed() {
	local name=$1 line
	for _ in $(seq 100); do
		line=$("$KTBPFCTL" list --json | python3 -c '
import json, sys
for v in json.load(sys.stdin)["vms"]:
    if v["name"] == sys.argv[1]:
        print(v["state"], v["attached"], v["labels"].get("vmm"), v["labels"].get("qemu_pid"))
' "$name")
		[ -n "$line" ] && { echo "$line"; return 0; }
		sleep 0.1
	done
	return 1
}

declare -A qemu_of vmm_of
# 1. q35 and pc, 3.5 GiB each: more than either machine keeps below 4 GiB.
for m in q35 pc; do
	"$KTBPF_QEMU" --name "big-$m" --label test=ktbpf-qemu -- "${qargs[@]}" -machine "$m" -m 3584 \
		2>"$T/$m.err" &
	qp=$!
	pids+=("$qp")
	st=$(wait_listed "big-$m") || fail "$m: not registered: $(cat "$T/$m.err")"
	grep -q "registered with ktbpfd as vm-[0-9]* (2 RAM regions, 3584 MiB)" "$T/$m.err" ||
		fail "$m: want 2 regions of 3584 MiB: $(cat "$T/$m.err")"
	read -r state attached vmm qemu_pid <<<"$st"
	if [ "$attached" != True ] || [ "$vmm" != ktbpf-qemu ]; then fail "$m: listed as $st"; fi
	# the label is QEMU's pid, a child of ktbpf-qemu
	[ "$(ps -o ppid= -p "$qemu_pid" | tr -d ' ')" = "$qp" ] || fail "$m: qemu_pid $qemu_pid is not ktbpf-qemu's child"
	grep -q "vm 'big-$m' (vm-[0-9]*): registered by pid $qp uid $(id -u), 2 region(s), can freeze" "$T/ktbpfd.log" ||
		fail "$m: ktbpfd did not log the registration with 2 regions"
	say "$m -m 3584: registered as 2 regions, confirmed against QEMU's memory tree ($state)"
	qemu_of[$m]=$qemu_pid vmm_of[$m]=$qp
done
# 2. SIGTERM to ktbpf-qemu: QEMU terminates on it and exits 0, and so do we.
st=0
kill -TERM "${vmm_of[q35]}"
wait "${vmm_of[q35]}" || st=$?
[ "$st" -eq 0 ] || fail "SIGTERM: ktbpf-qemu exited $st, not QEMU's 0"
kill -0 "${qemu_of[q35]}" 2>/dev/null && fail "QEMU outlived ktbpf-qemu"
# 3. SIGKILL to QEMU: 128+9, and the VM is detached but still listed.
st=0
kill -KILL "${qemu_of[pc]}"
wait "${vmm_of[pc]}" || st=$?
[ "$st" -eq 137 ] || fail "QEMU killed by SIGKILL: ktbpf-qemu exited $st, not 137"
st=$(wait_listed big-pc) || fail "big-pc vanished"
[[ $st == "detached False "* ]] || fail "big-pc after kill -9 of QEMU: $st, want detached"
say "exit statuses: SIGTERM 0, QEMU killed 137; VM detached and still listed"

# 4. No ktbpfd: the guest runs anyway; --require-monitor refuses.
KTBPF_SOCKET=$T/absent.sock "$KTBPF_QEMU" -- "${qargs[@]}" -m 128 2>"$T/absent.err" &
qp=$!
pids+=("$qp")
for _ in $(seq 100); do [ -n "$(pgrep -P "$qp")" ] && break; sleep 0.1; done
[ -n "$(pgrep -P "$qp")" ] || fail "no ktbpfd: QEMU was not started: $(cat "$T/absent.err")"
grep -q "no ktbpfd at $T/absent.sock.*the guest runs unmonitored" "$T/absent.err" ||
	fail "no ktbpfd: no message saying so: $(cat "$T/absent.err")"
kill -TERM "$qp"
wait "$qp" || fail "no ktbpfd: exit status $?"
st=0
KTBPF_SOCKET=$T/absent.sock "$KTBPF_QEMU" --require-monitor -- "${qargs[@]}" -m 128 2>"$T/req.err" || st=$?
[ "$st" -eq 1 ] || fail "--require-monitor without ktbpfd: exit $st, want 1"
grep -q "error: no ktbpfd" "$T/req.err" || fail "--require-monitor: $(cat "$T/req.err")"
say "no ktbpfd: runs unmonitored with a message; --require-monitor exits 1"

# 5. Refused before QEMU starts (usage errors, exit 2).
for bad in "-M microvm" "-machine q35,memory-backend=x" "-numa node" "-m 1G,maxmem=4G,slots=2"; do
	st=0
	# shellcheck disable=SC2086 # split on purpose
	"$KTBPF_QEMU" -- "${qargs[@]}" $bad 2>"$T/bad.err" || st=$?
	[ "$st" -eq 2 ] || fail "'$bad': exit $st, want 2 ($(cat "$T/bad.err"))"
done
# QEMU refuses an argument: its message, its status
st=0
"$KTBPF_QEMU" -- "${qargs[@]}" -m 128 -no-such-option 2>"$T/bad.err" || st=$?
[ "$st" -eq 1 ] && grep -q 'no-such-option' "$T/bad.err" || fail "QEMU's own refusal: exit $st ($(cat "$T/bad.err"))"
"$KTBPF_QEMU" --help | grep -q -- --require-monitor || fail "--help does not teach --require-monitor"
# QEMU's own answers before any guest: its output and its status (0)
# (timeout: a QEMU that ended with 0 before its monitor once left ktbpf-qemu waiting forever)
KTBPF_SOCKET=$T/absent.sock timeout 20 "$KTBPF_QEMU" -- -M help >"$T/mhelp.out" 2>&1 ||
	fail "-M help: exit $? ($(tail -3 "$T/mhelp.out"))"
grep -q q35 "$T/mhelp.out" || fail "-M help: QEMU's machine list not shown: $(tail -3 "$T/mhelp.out")"
KTBPF_SOCKET=$T/absent.sock timeout 20 "$KTBPF_QEMU" -- -version >"$T/version.out" 2>&1 || fail "-version: exit $?"
grep -q 'QEMU emulator version' "$T/version.out" || fail "-version: QEMU's version not shown: $(cat "$T/version.out")"
KTBPF_SOCKET=$T/absent.sock timeout 20 "$KTBPF_QEMU" -- -cpu help >"$T/cpuhelp.out" 2>&1 ||
	fail "-cpu help: exit $? ($(tail -3 "$T/cpuhelp.out"))"
# no guest runs for them: no word about ktbpfd (it is not asked), no RAM made
for f in mhelp version cpuhelp; do
	if grep -q 'ktbpf-qemu:' "$T/$f.out"; then
		fail "a QEMU query ($f) talks of ktbpfd or a guest: $(grep 'ktbpf-qemu:' "$T/$f.out")"
	fi
done
# a name in use by a running guest: the refusal says what to do
"$KTBPF_QEMU" --name dup -- "${qargs[@]}" -m 128 2>/dev/null &
qp=$!
pids+=("$qp")
wait_listed dup >/dev/null || fail "the first 'dup' did not register"
st=0
"$KTBPF_QEMU" --name dup --require-monitor -- "${qargs[@]}" -m 128 2>"$T/dup.err" || st=$?
[ "$st" -eq 1 ] && grep -q "registered already.*another name" "$T/dup.err" ||
	fail "a name in use: exit $st: $(cat "$T/dup.err")"
kill -TERM "$qp"
wait "$qp" || fail "the first 'dup': exit status $?"
# a refusal says what to do instead
"$KTBPF_QEMU" -- "${qargs[@]}" -numa node 2>"$T/bad.err" || true
grep -q "drop it" "$T/bad.err" || fail "-numa refused without saying what to do: $(cat "$T/bad.err")"
say "refused: unknown machine, the user's RAM backend, -numa, memory hotplug; QEMU's own refusal gives its status"

# 6. Argument forms users pass: accel as a machine property, -m size=, a
#    versioned and an old machine type (before 4.0 QEMU names the backend by
#    its QOM path in the memory tree), -smp topology, an unrelated backend,
#    and splits only QEMU knows (max-ram-below-4g; a machine type from before
#    the 1 GiB aligned split): QEMU's own table, checked whole, is registered;
#    a size QEMU rounds up to 8 KiB.
forms=("-machine q35,accel=tcg -m 4G|2"
	"-machine accel=tcg -M pc-i440fx-7.2 -m size=2G -smp sockets=2,cores=2|1"
	"-machine accel=tcg -M pc-q35-2.4 -m 3G|2"
	"-machine accel=tcg -m 512M -object memory-backend-ram,id=other,size=64M|1"
	"-machine pc,accel=tcg,max-ram-below-4g=2G -m 3G|2"
	"-machine accel=tcg -M pc-i440fx-1.7 -m 3840M|2"
	"-machine accel=tcg -m 131076k|1")
i=0
for f in "${forms[@]}"; do
	i=$((i + 1))
	# shellcheck disable=SC2086 # split on purpose
	"$KTBPF_QEMU" --name "form-$i" -- -nodefaults -display none ${f%|*} 2>"$T/form.err" &
	qp=$!
	pids+=("$qp")
	wait_listed "form-$i" >/dev/null || fail "'${f%|*}': not registered: $(cat "$T/form.err")"
	grep -q "(${f#*|} RAM region" "$T/form.err" || fail "'${f%|*}': want ${f#*|} region(s): $(cat "$T/form.err")"
	kill -TERM "$qp"
	wait "$qp" || fail "'${f%|*}': exit status $?"
done
say "argument forms: machine accel=, -m size=, pc-i440fx-7.2, pc-q35-2.4, -smp topology, another backend, max-ram-below-4g, pc-i440fx-1.7 (QEMU's own split), -m rounded up to 8 KiB as QEMU does"
# 7. examples/harness.sh on a guest that never reports (firmware only, no
#    disk): it fails on its stall, and when it returns nothing of its guest is
#    left running; without ktbpfd its reason carries ktbpf-qemu's message.
harness=$(dirname "$0")/../../examples/harness.sh
st=0
KTBPF_QEMU=$KTBPF_QEMU KTBPFCTL=$KTBPFCTL "$harness" --test stall --artifacts "$T/h" --stall 2 \
	-- "${qargs[@]}" -m 128 2>"$T/h.err" || st=$?
[ "$st" -eq 1 ] || fail "harness on a silent guest: exit $st, want 1: $(cat "$T/h.err")"
grep -q "FAIL: stall" "$T/h.err" || fail "harness: no stall reason: $(cat "$T/h.err")"
left=$(pgrep -f -- "$T/h/console.log" || true)
[ -z "$left" ] || fail "harness returned with its guest still running (pids $left)"
st=0
KTBPF_SOCKET=$T/absent.sock KTBPF_QEMU=$KTBPF_QEMU KTBPFCTL=$KTBPFCTL "$harness" --test nod \
	--artifacts "$T/h2" -- "${qargs[@]}" -m 128 2>"$T/h2.err" || st=$?
[ "$st" -eq 1 ] && grep -q "before the test finished: ktbpf-qemu: error: no ktbpfd" "$T/h2.err" ||
	fail "harness without ktbpfd: exit $st: $(cat "$T/h2.err")"
st=0
"$harness" --test t --artifacts "$T/h3" --timeout 5m -- -m 128 2>"$T/h3.err" || st=$?
[ "$st" -eq 2 ] && grep -q "whole seconds, not '5m'" "$T/h3.err" ||
	fail "harness --timeout 5m: exit $st, want a usage error: $(cat "$T/h3.err")"
say "harness: a stalled guest fails and leaves nothing running; without ktbpfd it says why; --timeout 5m is refused"
# 8. ktbpfd restarts under a running guest (--require-monitor counts at start
#    only): ktbpf-qemu says so once, connects again and registers the same
#    guest (name, labels, QEMU) anew; QEMU is not disturbed.
"$KTBPF_QEMU" --name rc --label test=reconnect --require-monitor -- "${qargs[@]}" -m 128 \
	-smp sockets=2,cores=2 2>"$T/rc.err" &
qp=$!
pids+=("$qp")
st=$(wait_listed rc) || fail "rc: not registered: $(cat "$T/rc.err")"
read -r _ _ _ rc_qemu <<<"$st"
kill -TERM "$daemon"
wait "$daemon" || true
for _ in $(seq 50); do grep -q "lost ktbpfd" "$T/rc.err" && break; sleep 0.1; done
grep -q "lost ktbpfd" "$T/rc.err" || fail "ktbpfd stopped: ktbpf-qemu did not notice: $(cat "$T/rc.err")"
kill -0 "$qp" 2>/dev/null || fail "ktbpfd stopped: ktbpf-qemu exited: $(cat "$T/rc.err")"
start_daemon "$T/ktbpfd2.log"
st=$(wait_listed rc) || fail "ktbpfd restarted: rc not registered again: $(cat "$T/rc.err")"
[ "${st#* }" = "True ktbpf-qemu $rc_qemu" ] || fail "rc after the restart: $st (QEMU was $rc_qemu)"
"$KTBPFCTL" list --json | python3 -c '
import json, sys
v = [v for v in json.load(sys.stdin)["vms"] if v["name"] == "rc"][0]
assert v["labels"].get("test") == "reconnect", v["labels"]
' || fail "rc after the restart: its labels were lost"
[ "$(grep -c "lost ktbpfd" "$T/rc.err")" -eq 1 ] || fail "the loss was not said once: $(cat "$T/rc.err")"
grep -q "ktbpfd at $KTBPF_SOCKET is back: guest 'rc' registered again as vm-" "$T/rc.err" ||
	fail "the return was not said: $(cat "$T/rc.err")"
kill -TERM "$qp"
wait "$qp" || fail "rc: exit status $?"
say "ktbpfd restarted: the guest is registered again (same QEMU and labels), the loss said once"
say "PASS"
