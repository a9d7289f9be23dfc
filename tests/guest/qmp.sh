#!/bin/bash
# qmp.sh DIR JSON
#
# Send one QMP command to the guest started by boot-guest.sh in DIR and print
# the response line.  Exit status 0 for {"return":...}, 1 for {"error":...}
# or a timeout.  Capabilities are negotiated on first use (the pipe chardev
# is one long-lived QMP session).  Asynchronous events seen while waiting are
# appended to DIR/qmp-events.log.
#
#   qmp.sh DIR '{"execute":"query-status"}'
#   qmp.sh DIR '{"execute":"dump-guest-memory","arguments":{"paging":false,"protocol":"file:DIR/core.elf"}}'
#
# Timeout: KTBPF_QMP_TIMEOUT seconds (default 120).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -eq 2 ] || { echo "usage: $0 DIR JSON" >&2; exit 2; }
dir=$1 cmd=$2
timeout=${KTBPF_QMP_TIMEOUT:-120}
if [ ! -p "$dir/qmp.in" ] || [ ! -p "$dir/qmp.out" ]; then
	die "no QMP fifos in $dir (not started by boot-guest.sh?)"
fi
pid=$(cat "$dir/qemu.pid" 2>/dev/null) || die "no $dir/qemu.pid"
kill -0 "$pid" 2>/dev/null || die "QEMU (pid $pid) is not running"

exec {lock}>"$dir/qmp.lock"
flock -w "$timeout" "$lock" || die "QMP of $dir is busy (lock held for $timeout s)"
exec {qin}<>"$dir/qmp.in" {qout}<>"$dir/qmp.out"

# send JSON, wait for the response carrying its id; prints it
transact() {
	local json=$1 id line deadline left
	json=${json#"${json%%[![:space:]]*}"}
	if [[ $json =~ \"id\"[[:space:]]*:[[:space:]]*\"([^\"]*)\" ]]; then
		id=${BASH_REMATCH[1]}
	else
		[[ $json == '{'* ]] || die "not a JSON object: $json"
		id="ktbpf-$$-$RANDOM"
		json="{\"id\":\"$id\",${json#\{}"
		json=${json/\{\"id\":\"$id\",\}/\{\"id\":\"$id\"\}}
	fi
	printf '%s\n' "$json" >&"$qin"
	deadline=$((SECONDS + timeout))
	while :; do
		left=$((deadline - SECONDS))
		[ "$left" -gt 0 ] || { log "timeout after ${timeout}s waiting for the reply to $json"; return 1; }
		if ! IFS= read -r -t "$left" -u "$qout" line; then
			kill -0 "$pid" 2>/dev/null || { log "QEMU exited"; return 1; }
			continue
		fi
		line=${line%$'\r'}
		if [[ $line =~ \"id\"[[:space:]]*:[[:space:]]*\"$id\" ]]; then
			printf '%s\n' "$line"
			[[ $line != *'"error"'* ]]
			return
		fi
		[[ $line == *'"event"'* ]] && printf '%s\n' "$line" >>"$dir/qmp-events.log"
	done
}

if [ ! -f "$dir/qmp.negotiated" ]; then
	transact '{"execute":"qmp_capabilities"}' >/dev/null || die "qmp_capabilities failed"
	touch "$dir/qmp.negotiated"
fi
transact "$cmd"
