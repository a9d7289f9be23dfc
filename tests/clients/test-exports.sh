#!/bin/sh
# SPDX-License-Identifier: MIT
# libktbpf-client exports ktbpf_client_* and nothing else, all versioned
# KTBPF_CLIENT_0.1 (the version script): its private copies of rpc/ and
# lib/err.c must never clash with a program that links libktbpf too.
set -eu
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }')
[ -n "$syms" ] || { echo "no symbols exported by $lib" >&2; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -v '^ktbpf_client_[a-z_]*@@KTBPF_CLIENT_0\.1$' || true)
if [ -n "$bad" ]; then
	echo "exported beyond ktbpf_client_*@@KTBPF_CLIENT_0.1:" >&2
	printf '%s\n' "$bad" >&2
	exit 1
fi
for want in connect register snapshot process fd events; do
	printf '%s\n' "$syms" | grep -q "^ktbpf_client_${want}@@" ||
		{ echo "ktbpf_client_$want is not exported" >&2; exit 1; }
done
echo "ok: $(printf '%s\n' "$syms" | wc -l) symbols, all ktbpf_client_*@@KTBPF_CLIENT_0.1"
