#!/bin/bash
# Every long option a program's --help teaches (ktbpfctl: each command's)
# is in its man page, so that the two cannot drift apart. TAP.
# Usage: test-man-pages.sh SRCDIR  (KTBPFCTL, KTBPFD, KTBPF_QEMU from meson)
set -uo pipefail
src=${1:?usage: test-man-pages.sh SRCDIR}
: "${KTBPFCTL:?}" "${KTBPFD:?}" "${KTBPF_QEMU:?}"
n=0
# The long options in stdin, one a line.
longopts() { grep -o -- '--[a-z][a-z0-9-]*' | sort -u; }
# A man page's text with roff's \- and font changes taken out.
man_text() { sed 's/\\-/-/g; s/\\f[BIRP]//g' "$1"; }
check() { # NAME MANPAGE: the options on stdin are all in MANPAGE
	local missing
	missing=$(comm -23 - <(man_text "$2" | longopts) | tr '\n' ' ')
	n=$((n + 1))
	if [ -z "$missing" ]; then
		echo "ok $n - $1: every option of --help is in $(basename "$2")"
	else
		echo "not ok $n - $1: --help options missing from $(basename "$2"): $missing"
	fi
}
echo "1..4"
cmds=$("$KTBPFCTL" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
check "ktbpfctl ($(echo "$cmds" | wc -w) commands)" "$src/clients/ktbpfctl/ktbpfctl.1" \
	< <(for c in $cmds; do "$KTBPFCTL" "$c" --help 2>&1; done | longopts)
check ktbpfd "$src/daemon/ktbpfd.8" < <("$KTBPFD" --help 2>&1 | longopts)
check ktbpf-qemu "$src/clients/ktbpf-qemu/ktbpf-qemu.1" < <("$KTBPF_QEMU" --help 2>&1 | longopts)
# Every program answers --version with its name and the project's version.
n=$((n + 1))
bad=""
for p in "$KTBPFCTL" "$KTBPFD" "$KTBPF_QEMU"; do
	out=$("$p" --version 2>&1) && [[ $out =~ ^$(basename "$p")\ [0-9] ]] || bad+=" $(basename "$p"):'$out'"
done
if [ -z "$bad" ]; then
	echo "ok $n - ktbpfctl, ktbpfd and ktbpf-qemu --version name themselves and their version"
else
	echo "not ok $n - --version:$bad"
fi
