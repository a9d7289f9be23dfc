#!/bin/bash
# stop-guest.sh DIR [--rm-ram]
#
# Stop the QEMU started by boot-guest.sh in DIR: QMP "quit", then SIGTERM,
# then SIGKILL.  With --rm-ram also delete DIR/ram and DIR/core.elf.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

if [ $# -lt 1 ] || [ $# -gt 2 ]; then echo "usage: $0 DIR [--rm-ram]" >&2; exit 2; fi
dir=$1
rm_ram=
[ "${2:-}" = --rm-ram ] && rm_ram=1
[ -z "${2:-}" ] || [ -n "$rm_ram" ] || { echo "usage: $0 DIR [--rm-ram]" >&2; exit 2; }

# is PID the QEMU of this workdir (and not a recycled pid)?
ours() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "path=$(cd "$dir" && pwd)/console.log"
}

# Is this workdir's QEMU itself still running: PID, or through a VMM its
# child (a zombie has no command line)?
qemu_running() {
	local p
	for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
		case "$(cat "/proc/$p/comm" 2>/dev/null)" in qemu-system*) ;; *) continue ;; esac
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "path=$(cd "$dir" && pwd)/console.log" && return 0
	done
	return 1
}

wait_gone() {
	local pid=$1 tenths=$2
	while [ "$tenths" -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
		tenths=$((tenths - 1))
	done
	! kill -0 "$pid" 2>/dev/null
}

if pid=$(cat "$dir/qemu.pid" 2>/dev/null) && [ -n "$pid" ] && ours "$pid"; then
	log "stopping QEMU pid $pid"
	# A QEMU that is gone already (a Ctrl-C reached it too) reads no QMP:
	# "quit" would only wait out its timeout, while the VMM it ran under
	# (--vmm) follows it out on its own.
	if qemu_running "$pid"; then
		KTBPF_QMP_TIMEOUT=10 "$here/qmp.sh" "$dir" '{"execute":"quit"}' >/dev/null 2>&1 || true
	fi
	if ! wait_gone "$pid" 100; then
		log "QEMU ignored quit; sending SIGTERM"
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_gone "$pid" 50; then
			log "sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" 50 || die "QEMU pid $pid does not die"
		fi
	fi
else
	log "no running QEMU for $dir"
fi
rm -f "$dir/qemu.pid" "$dir/qmp.negotiated"
[ -n "$rm_ram" ] && rm -f "$dir/ram" "$dir/core.elf"
exit 0
