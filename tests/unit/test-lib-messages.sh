#!/bin/bash
# Library messages name what is missing and why, never a client's command-line
# option: ktbpfctl (or the daemon) turns struct ktbpf_err.need into its own
# options. Every string literal in lib/ is checked for "--option"; the check is
# first shown to catch a planted one. TAP output for meson.
set -uo pipefail
lib=${1:?usage: test-lib-messages.sh LIB_DIR}

# String literals (outside comment lines) holding "--" followed by a letter.
flags_in() {
	grep -rnE --include='*.c' --include='*.h' '"([^"\\]|\\.)*--[a-zA-Z]' "$1" |
		grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)'
}

echo "1..2"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ktbpf-msg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf '/* pass --vmlinux in a comment is fine */\nint f(void) { return set(err, "x: pass --vmlinux"); }\n' >"$tmp/planted.c"
if [ "$(flags_in "$tmp" | wc -l)" -eq 1 ]; then
	echo "ok 1 - the check finds a planted option in a message, not in a comment"
else
	echo "not ok 1 - the check missed a planted option"
fi
hits=$(flags_in "$lib")
if [ -z "$hits" ]; then
	echo "ok 2 - no library message names a command-line option"
else
	echo "not ok 2 - library messages name command-line options:"
	printf '%s\n' "$hits" | sed 's/^/# /'
fi
