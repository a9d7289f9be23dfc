#!/bin/bash
# smoke.sh [--keep] [KERNEL_SERIES...]
#
# End-to-end check of the test guest: for each kernel series (default: 6.1
# 6.12) and CPU configuration (qemu64 with 1 CPU, max with 4 CPUs) fetch the
# kernel, build the initramfs, boot under TCG to KTBPF-READY, check the truth
# line (a struct_ops program with run_cnt > 0 using ktbpf_cc.bss and
# ktbpf_cc.data), check the VM is paused, dump guest memory to an ELF core and
# stop the guest.  Prints one summary line per run.  Work directories go to
# $KTBPF_SMOKE_DIR (default: a temp dir, removed unless --keep).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

keep=
if [ "${1:-}" = --keep ]; then keep=1; shift; fi
series=("$@")
[ ${#series[@]} -gt 0 ] || series=(6.1 6.12)
configs=("qemu64 1" "max 4")

base=${KTBPF_SMOKE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ktbpf-smoke.XXXXXX")}
mkdir -p "$base"
current=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	[ -n "$current" ] && "$here/stop-guest.sh" "$current" --rm-ram >/dev/null 2>&1 || true
	[ -n "$keep" ] || rm -rf "$base"
}
trap cleanup EXIT

initrd=$("$here/build-initramfs.sh" "$base/initramfs.cpio.gz")
fail=0
summary=()
for s in "${series[@]}"; do
	kdir=$("$here/fetch-kernel.sh" "$s")
	for c in "${configs[@]}"; do
		read -r cpu smp <<<"$c"
		wd=$base/$s-$cpu-$smp
		current=$wd
		res=ok
		if ! "$here/boot-guest.sh" --kernel "$kdir" --initrd "$initrd" --cpu "$cpu" --smp "$smp" \
			--workdir "$wd" >/dev/null; then
			res="boot failed"
		else
			t=$(cat "$wd/truth.json")
			grep -q '"run_cnt":[1-9]' <<<"$t" || res="no struct_ops program ran"
			grep -q '"ktbpf_cc.bss"' <<<"$t" && grep -q '"ktbpf_cc.data"' <<<"$t" ||
				res="maps ktbpf_cc.bss/.data missing"
			grep -q '"stats_enabled":true' <<<"$t" || res="stats not enabled"
			"$here/qmp.sh" "$wd" '{"execute":"query-status"}' | grep -q '"status": "paused"' ||
				res="not paused"
			"$here/qmp.sh" "$wd" "{\"execute\":\"dump-guest-memory\",\"arguments\":{\"paging\":false,\"protocol\":\"file:$wd/core.elf\"}}" >/dev/null &&
				[ "$(head -c4 "$wd/core.elf" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] ||
				res="dump-guest-memory failed"
			[ -s "$wd/kallsyms" ] && grep -q ' T _text$' "$wd/kallsyms" || res="no kallsyms"
		fi
		paging=$(tr -d '\r' <"$wd/console.log" 2>/dev/null | sed -n 's/.*paging=\([0-9]-level\).*/\1/p' | tail -n1)
		line=$(printf '%-5s %-7s smp=%s boot=%ss paging=%s: %s' "$s" "$cpu" "$smp" \
			"$(cat "$wd/boot_seconds" 2>/dev/null || echo -)" "${paging:-?}" "$res")
		log "$line"
		summary+=("$line")
		[ "$res" = ok ] || fail=1
		"$here/stop-guest.sh" "$wd" --rm-ram >/dev/null 2>&1 || true
		current=
	done
done
printf '%s\n' "${summary[@]}"
exit $fail
