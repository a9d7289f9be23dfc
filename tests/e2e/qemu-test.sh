#!/bin/bash
# qemu-test.sh CASE: real guests booted through ktbpf-qemu, registered with a
# private ktbpfd, each check against the guest's own bpf() answers (the
# agent's KTBPF-TRUTH and KTBPF-READING lines). Checks share boots:
#
#   chain   Debian sid's newest 7.x kernel with its built-in sched_ext and our
#           scheduler (ktbpf_scx), q35 with 3.5 GiB (RAM split around the PCI
#           hole), 2 vCPUs. One boot:
#            1. registered before the kernel ran (ktbpfd's vm.status: the
#               guest's RAM not yet written at registration, the first
#               discovery attempt found no kernel); vm.snapshot equals the
#               truth;
#            2. under traffic (the scheduler busy), three frozen snapshots,
#               each between the guest's own readings just before the freeze
#               and just after the thaw, program by program (and the counters
#               did move);
#            3. kill -9 QEMU: ktbpf-qemu exits, the VM turns detached and
#               `ktbpfctl dump` still reports from the dead guest's RAM,
#               equal to a snapshot taken just before, the scheduler's
#               variables (snapshot.vars) included.
#   uids    two guests at once from two uids: root's on pc with 3.5 GiB (split),
#           nobody's (setpriv, uid 65534) on q35 with 512 MiB; each snapshot
#           equals its own guest's truth; nobody sees only its own VM and
#           cannot read root's; root sees both, with their uids.
#   reboot  `reboot -f` inside the guest (6.1, q35): ktbpf-qemu turns QEMU's
#           RESET into vm.reset (ktbpfd also notices a changed VMCOREINFO on
#           its own); after the second boot ktbpfd answers with the new kernel
#           (new KASLR offset; the old note may still be in RAM) and the
#           snapshot equals the new truth.
#
# Environment: KTBPFD, KTBPFCTL, KTBPF_QEMU, COMPARE_TRUTH (meson);
# KTBPF_E2E_KEEP=1 keeps the work dir. A missing component fails with CI=true
# or KTBPF_E2E_REQUIRED=1 and skips (77) otherwise.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
guest=$here/../guest
case=${1:-}
say() { printf 'qemu-test %s: %s\n' "$case" "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
case "$case" in chain | uids | reboot) ;; *) echo "usage: qemu-test.sh chain|uids|reboot" >&2; exit 2 ;; esac
missing() {
	if [ "${CI:-}" = true ] || [ "${KTBPF_E2E_REQUIRED:-}" = 1 ]; then
		fail "$* (CI=true or -De2e=enabled: a missing real component is a failure)"
	fi
	say "SKIP: $* -- run ./run-tests (it installs and prepares everything)"
	exit 77
}
for c in qemu-system-x86_64 clang busybox cpio dpkg-deb python3 setpriv; do
	command -v "$c" >/dev/null 2>&1 || missing "'$c' is not installed"
done
: "${KTBPFD:?}" "${KTBPFCTL:?}" "${KTBPF_QEMU:?}" "${COMPARE_TRUTH:?}"

wd=$(mktemp -d "${TMPDIR:-/tmp}/ktbpf-qemu-$case.XXXXXX")
chmod 755 "$wd"
# uids: nobody must reach ktbpfd's socket and its own files in here; a
# $TMPDIR under a private home is not for it: /tmp then.
if [ "$case" = uids ] && ! setpriv --reuid 65534 --regid 65534 --clear-groups test -x "$wd"; then
	rmdir "$wd"
	wd=$(mktemp -d "/tmp/ktbpf-qemu-$case.XXXXXX")
	chmod 755 "$wd"
fi
daemon_pid=
guests=()
cleanup() {
	local g
	for g in ${guests[@]+"${guests[@]}"}; do "$guest/stop-guest.sh" "$g" >/dev/null 2>&1 || true; done
	[ -z "$daemon_pid" ] || { kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null || true; }
	if [ "${KTBPF_E2E_KEEP:-}" = 1 ] || [ "${passed:-0}" != 1 ]; then
		say "work dir kept: $wd"
	else
		rm -rf "$wd"
	fi
}
trap cleanup EXIT

# A private ktbpfd; its socket is open to every uid (it checks SO_PEERCRED).
export KTBPF_SOCKET=$wd/ktbpfd.sock
"$KTBPFD" --socket "$KTBPF_SOCKET" --state-dir "$wd/state" 2>"$wd/ktbpfd.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$KTBPF_SOCKET" ] && break; sleep 0.1; done
[ -S "$KTBPF_SOCKET" ] || fail "ktbpfd did not start: $(cat "$wd/ktbpfd.log")"

ctl() { "$KTBPFCTL" "$@"; }
# boot NAME DIR KERNEL_IMAGE INITRD [boot-guest.sh args...]: through ktbpf-qemu;
# one more boot when the guest kernel itself fails under TCG (truth-test.sh's
# reason), never when our agent fails.
boot() {
	local name=$1 dir=$2 kimage=$3 initrd=$4
	shift 4
	mkdir -p "$dir"
	guests+=("$dir")
	local t
	for t in 1 2; do
		if "$guest/boot-guest.sh" --kernel "$kimage" --initrd "$initrd" --workdir "$dir" \
			--vmm "$KTBPF_QEMU" --vmm-arg --socket --vmm-arg "$KTBPF_SOCKET" \
			--vmm-arg --name --vmm-arg "$name" --vmm-arg --require-monitor \
			--control "$@" >/dev/null 2>"$dir/boot.log"; then
			say "$name: booted in $(cat "$dir/boot_seconds") s ($*)"
			return 0
		fi
		grep -aq KTBPF-FAILED "$dir/console.log" 2>/dev/null && break
		[ "$t" = 2 ] || say "$name: the guest kernel did not boot (TCG flake?); once more"
		"$guest/stop-guest.sh" "$dir" >/dev/null 2>&1 || true
	done
	sed 's/^/    /' "$dir/boot.log" >&2
	fail "$name: the guest did not boot"
}
qmp() { "$guest/qmp.sh" "$@" >/dev/null; }
# the last KTBPF-TRUTH of DIR's console
truth_of() { tr -d '\r' <"$1/console.log" | grep -a '^KTBPF-TRUTH ' | tail -n1 | sed 's/^KTBPF-TRUTH //'; }
# snapshot VM into FILE (freeze required) and compare it with DIR's truth
snapshot_matches() {
	local vm=$1 dir=$2 out=$3
	ctl snapshot "$vm" --freeze require --json >"$out" || fail "$vm: ktbpfctl snapshot failed"
	truth_of "$dir" >"$dir/truth-now.json"
	"$COMPARE_TRUTH" "$dir/truth-now.json" "$out" >"$out.cmp" 2>&1 ||
		{ sed 's/^/    /' "$out.cmp" >&2; fail "$vm: the snapshot differs from the guest's truth"; }
	say "$vm: vm.snapshot equals the guest's own truth: $(cat "$out.cmp")"
}
# wait until DIR's console has COUNT lines matching PATTERN (SECONDS at most)
wait_console() {
	local dir=$1 pattern=$2 count=$3 secs=$4 end=$((SECONDS + $4))
	while [ "$SECONDS" -lt "$end" ]; do
		[ "$(tr -d '\r' <"$dir/console.log" | grep -ac -- "$pattern")" -ge "$count" ] && return 0
		sleep 0.2
	done
	fail "no $count× '$pattern' on the console of $dir after $secs s"
}
# the guest's own reading N (bpf() at that moment), after asking for it
reading() {
	# the whole line (its closing "]}"), not the part of it the console has
	# written so far: a reading cut short once failed a CI run
	local dir=$1 n=$2 line="KTBPF-READING $2 {.*]}\$"
	printf 'read %s\n' "$n" >"$dir/ctl.in"
	wait_console "$dir" "$line" 1 30
	tr -d '\r' <"$dir/console.log" | grep -a -o "$line" | head -n1 | sed "s/^KTBPF-READING $n //"
}
# wait until ktbpfd has discovered VM's kernel
wait_ready() {
	local vm=$1 end=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$end" ]; do
		ctl status "$vm" --json 2>/dev/null | grep -q '"state": *"ready"' && return 0
		sleep 0.5
	done
	fail "$vm: ktbpfd did not discover the kernel: $(ctl status "$vm" 2>&1 | grep state)"
}

initramfs() { "$guest/build-initramfs.sh" "$wd/initramfs.cpio.gz" "$@" 2>"$wd/initramfs.log"; }

case_chain() {
	local kdir obj initrd g=$wd/chain
	kdir=$("$guest/fetch-kernel.sh" sid 2>"$wd/fetch.log") || missing "kernel sid not available: $(tail -n1 "$wd/fetch.log")"
	obj=$("$guest/scx/build-bpf.sh" "$wd/bpf" 2>"$wd/bpf.log") || missing "cannot build the scheduler: $(tail -n1 "$wd/bpf.log")"
	initrd=$(initramfs --obj "$obj")
	say "kernel: Debian $(head -n1 "$kdir/package")"
	boot chain "$g" "$kdir/vmlinuz" "$initrd" --machine q35 --mem 3584M --smp 2 --cpu max \
		--append "ktbpf.workload=sched ktbpf.obj=/ktbpf_scx.bpf.o"
	# 1. registered with -S, before the kernel ran: ktbpfd found the guest's
	# RAM not yet written (not even by the firmware) when it registered, and
	# its first discovery attempt found no kernel.
	grep -q "ktbpf-qemu: guest 'chain' registered with ktbpfd as vm-[0-9]* (2 RAM regions, 3584 MiB)" "$g/qemu.log" ||
		fail "ktbpf-qemu did not register 2 regions: $(cat "$g/qemu.log")"
	ctl status chain --json >"$wd/status.json" || fail "ktbpfctl status failed"
	python3 - "$wd/status.json" <<'PY' >&2 || fail "not registered before the guest ran (vm.status)"
import json, sys
st = json.load(open(sys.argv[1]))
reg, first = st.get("registration") or {}, st.get("first_discovery") or {}
bad = []
if reg.get("ram_written") is not False:
    bad.append(f"registration: {reg} (RAM already written: the guest ran before it registered)")
if first.get("found") is not False or "no VMCOREINFO note" not in (first.get("reason") or ""):
    bad.append(f"first discovery attempt: {first} (want: no kernel found)")
for m in bad:
    print("    " + m)
if bad:
    sys.exit(1)
print(f"    registered with its RAM unwritten; first attempt {first['ms_after_registration']} ms "
      f"after: {first['reason'][:60]}...")
PY
	say "registered before the guest ran: RAM unwritten at registration, the first discovery found no kernel"
	tr -d '\r' <"$g/console.log" | grep -q 'KTBPF-SCX-OPS ktbpf_scx' ||
		fail "our scheduler is not what sched_ext says is attached"
	wait_ready chain
	snapshot_matches chain "$g" "$wd/snap-truth.json"

	# 2. traffic, and frozen snapshots bracketed by the guest's own readings
	qmp "$g" '{"execute":"cont"}'
	printf 'traffic\n' >"$g/ctl.in"
	wait_console "$g" 'KTBPF-TRAFFIC on' 1 30
	sleep 1
	for i in 1 2 3; do
		reading "$g" "b$i" >"$wd/before-$i.json"
		ctl snapshot chain --freeze require --json >"$wd/frozen-$i.json" || fail "frozen snapshot $i failed"
		reading "$g" "a$i" >"$wd/after-$i.json"
		python3 - "$wd/before-$i.json" "$wd/frozen-$i.json" "$wd/after-$i.json" <<'PY' >&2 || fail "frozen snapshot $i is not between the guest's readings"
import json, sys
b, s, a = (json.load(open(p)) for p in sys.argv[1:])
bad = []
if s.get("frozen") is not True:
    bad.append(f"frozen is {s.get('frozen')!r}")
ids = lambda d: sorted(p["id"] for p in d["progs"])
if not (ids(b) == ids(s) == ids(a)):
    bad.append(f"programs differ: before {ids(b)}, snapshot {ids(s)}, after {ids(a)}")
byid = lambda d: {p["id"]: p for p in d["progs"]}
B, S, A = byid(b), byid(s), byid(a)
for i in sorted(set(B) & set(S) & set(A)):
    for k in ("run_cnt", "run_time_ns", "recursion_misses"):
        if not B[i][k] <= S[i][k] <= A[i][k]:
            bad.append(f"prog {i} {k}: before {B[i][k]}, snapshot {S[i][k]}, after {A[i][k]}")
moved = sum(A[i]["run_cnt"] - B[i]["run_cnt"] for i in A if i in B)
if moved <= 0:
    bad.append("no program ran between the readings: no traffic, nothing proven")
for m in bad:
    print("    " + m)
if bad:
    sys.exit(1)
print(f"    {len(S)} programs between the readings; {moved} runs in the window, "
      f"{sum(S[i]['run_cnt'] - B[i]['run_cnt'] for i in S)} of them before the freeze "
      f"(freeze {s['freeze_ns'] / 1e6:.1f} ms, walk {s['walk_ns'] / 1e6:.3f} ms)")
PY
		say "frozen snapshot $i under traffic lies between the guest's readings before the freeze and after the thaw"
	done

	# 3. kill -9 QEMU: detached, and a dump of the dead guest equals the last snapshot
	qmp "$g" '{"execute":"stop"}'
	ctl snapshot chain --freeze require --vars --json >"$wd/last.json" || fail "last snapshot failed"
	local qpid vpid
	qpid=$(cat "$g/vmm-qemu.pid") vpid=$(cat "$g/qemu.pid")
	kill -KILL "$qpid"
	for _ in $(seq 100); do kill -0 "$vpid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$vpid" 2>/dev/null && fail "ktbpf-qemu still runs after its QEMU was killed"
	ctl list --json | python3 -c 'import json,sys; v=[v for v in json.load(sys.stdin)["vms"] if v["name"]=="chain"]; sys.exit(0 if v and v[0]["state"]=="detached" and not v[0]["attached"] else 1)' ||
		fail "after kill -9 of QEMU the VM is not detached: $(ctl list)"
	ctl dump chain --test e2e/qemu-chain --reason "QEMU killed" --json >"$wd/dump.json" ||
		fail "ktbpfctl dump of the dead guest failed"
	python3 - "$wd/last.json" "$wd/dump.json" <<'PY' >&2 || fail "the dead guest's dump differs from the snapshot taken just before"
import json, sys
last, dump = (json.load(open(p)) for p in sys.argv[1:])
snap = dump["snapshot"]
bad = []
if not dump.get("detached") or dump.get("test") != "e2e/qemu-chain" or dump.get("reason") != "QEMU killed":
    bad.append(f"dump header: detached {dump.get('detached')}, test {dump.get('test')!r}, reason {dump.get('reason')!r}")
for k in ("progs", "struct_ops", "active", "stats_enabled", "sched_ext", "vars"):
    if snap.get(k) != last.get(k):
        bad.append(f"{k}: dump {json.dumps(snap.get(k))[:300]} != snapshot {json.dumps(last.get(k))[:300]}")
if not snap.get("progs"):
    bad.append("no programs in the dump")
nvars = sum(len(m.get("vars") or []) for m in (snap.get("vars") or {}).get("maps") or [])
if not nvars:
    bad.append(f"no scheduler variables in the dump: {json.dumps(snap.get('vars'))[:300]}")
for m in bad:
    print("    " + m)
sys.exit(1 if bad else 0)
PY
	say "kill -9 QEMU: VM detached; the dump of the dead guest equals the snapshot before ($(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["snapshot"]; print(len(s["progs"]), "programs,", sum(len(m.get("vars") or []) for m in s["vars"]["maps"]), "variables of", s["vars"].get("object"))' "$wd/dump.json"))"
	guests=()
}

case_uids() {
	local kdir initrd pub=$wd/pub nb=65534
	kdir=$("$guest/fetch-kernel.sh" 6.1 2>"$wd/fetch.log") || missing "kernel 6.1 not available"
	initrd=$(initramfs)
	# nobody cannot read the cache or maybe the tree: its own copies, world-readable
	mkdir -p "$pub/bin" "$pub/libktbpf-client" "$pub/guest" "$wd/nobody"
	cp "$kdir/vmlinuz" "$initrd" "$pub/"
	cp "$KTBPF_QEMU" "$KTBPFCTL" "$pub/bin/"
	cp -L "$(dirname "$KTBPF_QEMU")/../libktbpf-client/libktbpf-client.so.0" "$pub/libktbpf-client/"
	cp "$guest"/{boot-guest.sh,lib.sh,qmp.sh,stop-guest.sh} "$pub/guest/"
	chmod -R a+rX "$pub"
	chown "$nb:$nb" "$wd/nobody"
	as_nobody() { setpriv --reuid "$nb" --regid "$nb" --clear-groups env HOME="$wd/nobody" KTBPF_SOCKET="$KTBPF_SOCKET" "$@"; }
	# both at once: root's pc guest and nobody's q35 guest
	boot root-pc "$wd/root" "$pub/vmlinuz" "$pub/initramfs.cpio.gz" --machine pc --mem 3584M --smp 2 &
	local rp=$!
	guests+=("$wd/nobody/g")
	as_nobody "$pub/guest/boot-guest.sh" --kernel "$pub/vmlinuz" --initrd "$pub/initramfs.cpio.gz" \
		--workdir "$wd/nobody/g" --vmm "$pub/bin/ktbpf-qemu" --vmm-arg --name --vmm-arg nobody-q35 \
		--vmm-arg --require-monitor --control --machine q35 --mem 512M --smp 1 >/dev/null 2>"$wd/nobody-boot.log" ||
		{ sed 's/^/    /' "$wd/nobody-boot.log" >&2; wait "$rp" || true; fail "nobody's guest did not boot"; }
	wait "$rp" || fail "root's guest did not boot"
	guests+=("$wd/root")
	say "both guests booted at once: root's pc 3.5 GiB ($(cat "$wd/root/boot_seconds") s), nobody's q35 512 MiB ($(cat "$wd/nobody/g/boot_seconds") s)"
	grep -q "ktbpf-qemu: guest 'root-pc' registered .*(2 RAM regions, 3584 MiB)" "$wd/root/qemu.log" ||
		fail "root's pc guest is not 2 regions: $(cat "$wd/root/qemu.log")"
	wait_ready root-pc
	snapshot_matches root-pc "$wd/root" "$wd/root-snap.json"
	# nobody: only its own VM, its snapshot matches its guest, root's VM refused
	as_nobody "$pub/bin/ktbpfctl" list --json >"$wd/nobody-list.json"
	python3 - "$wd/nobody-list.json" <<'PY' >&2 || fail "nobody's list is wrong"
import json, sys
vms = json.load(open(sys.argv[1]))["vms"]
names = sorted(v["name"] for v in vms)
if names != ["nobody-q35"] or vms[0]["uid"] != 65534:
    print(f"    nobody sees {[(v['name'], v['uid']) for v in vms]}, want only its own nobody-q35")
    sys.exit(1)
PY
	local end=$((SECONDS + 60))
	until as_nobody "$pub/bin/ktbpfctl" status nobody-q35 --json 2>/dev/null | grep -q '"state": *"ready"'; do
		[ "$SECONDS" -lt "$end" ] || fail "nobody-q35 not discovered"
		sleep 0.5
	done
	as_nobody "$pub/bin/ktbpfctl" snapshot nobody-q35 --freeze require --json >"$wd/nobody-snap.json" ||
		fail "nobody cannot snapshot its own VM"
	"$COMPARE_TRUTH" "$wd/nobody/g/truth.json" "$wd/nobody-snap.json" >"$wd/nobody-cmp.txt" 2>&1 ||
		{ sed 's/^/    /' "$wd/nobody-cmp.txt" >&2; fail "nobody's snapshot differs from its guest's truth"; }
	say "nobody-q35: vm.snapshot (asked by uid 65534) equals its guest's truth: $(cat "$wd/nobody-cmp.txt")"
	local st=0
	as_nobody "$pub/bin/ktbpfctl" snapshot root-pc --json >/dev/null 2>"$wd/nobody-root.err" || st=$?
	[ "$st" -ne 0 ] || fail "nobody could read root's VM"
	ctl list --json | python3 -c '
import json, sys
vms = {v["name"]: v["uid"] for v in json.load(sys.stdin)["vms"]}
sys.exit(0 if vms == {"root-pc": 0, "nobody-q35": 65534} else print(f"    root sees {vms}") or 1)' >&2 ||
		fail "root does not see both VMs with their uids"
	say "uids: nobody sees only its own VM and is refused root's ($(head -c 120 "$wd/nobody-root.err")); root sees both"
	as_nobody "$pub/guest/stop-guest.sh" "$wd/nobody/g" >/dev/null 2>&1 || true
}

case_reboot() {
	local kdir initrd g=$wd/reboot k1 k2
	kdir=$("$guest/fetch-kernel.sh" 6.1 2>"$wd/fetch.log") || missing "kernel 6.1 not available"
	initrd=$(initramfs)
	boot reboot "$g" "$kdir/vmlinuz" "$initrd" --machine q35 --mem 512M --smp 1 --allow-reboot
	wait_ready reboot
	snapshot_matches reboot "$g" "$wd/snap-1.json"
	k1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernel"]["kaslr_offset"])' "$wd/snap-1.json")
	qmp "$g" '{"execute":"cont"}'
	printf 'reboot\n' >"$g/ctl.in"
	wait_console "$g" KTBPF-READY 2 120
	qmp "$g" '{"execute":"stop"}'
	grep -q 'ktbpf-qemu: the guest reset (QMP RESET): ktbpfd discovers its kernel again (vm.reset)' "$g/qemu.log" ||
		fail "ktbpf-qemu did not send vm.reset on the guest's reset: $(cat "$g/qemu.log")"
	# ktbpfd rediscovers after ktbpf-qemu's vm.reset (and on VMCOREINFO change)
	local end=$((SECONDS + 60)) ok=
	while [ "$SECONDS" -lt "$end" ]; do
		if ctl snapshot reboot --json >"$wd/snap-2.json" 2>/dev/null &&
			truth_of "$g" >"$wd/truth-2.json" &&
			"$COMPARE_TRUTH" "$wd/truth-2.json" "$wd/snap-2.json" >"$wd/cmp-2.txt" 2>&1; then
			ok=1
			break
		fi
		sleep 1
	done
	[ -n "$ok" ] || { sed 's/^/    /' "$wd/cmp-2.txt" >&2; fail "after the reboot the snapshot never matched the new truth (60 s)"; }
	k2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernel"]["kaslr_offset"])' "$wd/snap-2.json")
	if [ "$k1" = "$k2" ]; then
		say "note: both boots drew the same KASLR offset $k1 (1 in ~500); the answers still match the new boot"
	fi
	say "reboot -f: rediscovered (KASLR $k1 -> $k2), the snapshot equals the new boot's truth: $(cat "$wd/cmp-2.txt")"
}

t0=$SECONDS
"case_$case"
say "PASS in $((SECONDS - t0)) s"
passed=1
