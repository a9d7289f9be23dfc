# shellcheck shell=bash
# Common helpers for the ktbpf test-guest scripts. Source this file; do not run it.

ktbpf_cache_dir() {
	printf '%s\n' "${KTBPF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ktbpf}"
}

# progress line on stderr, prefixed with the calling script's name
log() {
	printf '%s: %s\n' "${KTBPF_LOG_TAG:-$(basename "$0")}" "$*" >&2
}

die() {
	log "error: $*"
	exit 1
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || die "required command '$c' not found in PATH"
	done
}
