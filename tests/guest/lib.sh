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

# "URI [SIGNED-BY]" of the host's Debian archive: the first enabled deb source
# that is not a security archive (deb822 .sources files first, then the
# one-line format).
host_debian_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk 'BEGIN { RS = ""; FS = "\n" }
		{
			types = uris = suites = sb = ""; enabled = "yes"
			for (i = 1; i <= NF; i++) {
				l = $i
				if (l ~ /^[ \t]*#/ || !match(l, /^[A-Za-z-]+:/)) continue
				k = tolower(substr(l, 1, RLENGTH - 1)); v = substr(l, RLENGTH + 1)
				gsub(/^[ \t]+|[ \t]+$/, "", v)
				if (k == "types") types = v; else if (k == "uris") uris = v
				else if (k == "suites") suites = v; else if (k == "signed-by") sb = v
				else if (k == "enabled") enabled = tolower(v)
			}
			if (enabled == "no" || (" " types " ") !~ / deb /) next
			if (sb !~ /^\//) sb = ""
			n = split(uris, u, /[ \t]+/); m = split(suites, su, /[ \t]+/)
			for (j = 1; j <= n; j++)
				for (k2 = 1; k2 <= m; k2++)
					if (u[j] !~ /security/ && su[k2] !~ /-security$/) { print u[j], sb; exit }
		}' "$f" | head -n1
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk '$1 != "deb" { next }
		{
			i = 2; sb = ""
			if ($2 ~ /^\[/) {
				for (; i <= NF; i++) {
					if ($i ~ /^\[?signed-by=/) { sb = $i; sub(/^\[?signed-by=/, "", sb); sub(/\]$/, "", sb) }
					if ($i ~ /\]$/) { i++; break }
				}
			}
			if ($i !~ /security/ && $(i + 1) !~ /-security$/) { print $i, sb; exit }
		}' "$f"
	done
}

# "URI" of the host's Debian security archive (debian-security), else the
# archive's sibling; KTBPF_DEBIAN_SECURITY_MIRROR overrides.
host_debian_security_mirror() {
	local f u
	if [ -n "${KTBPF_DEBIAN_SECURITY_MIRROR:-}" ]; then
		printf '%s\n' "$KTBPF_DEBIAN_SECURITY_MIRROR"
		return
	fi
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		u=$(grep -v '^[[:space:]]*#' "$f" | grep -o 'https\{0,1\}://[^ ]*debian-security[^ ]*' | head -n1) || true
		if [ -n "$u" ]; then printf '%s\n' "$u"; return; fi
	done
	printf '%s-security\n' "${1%/}"
}

# ktbpf_private_apt NAME ARCH SUITE...: a private apt state in the cache
# ($(ktbpf_cache_dir)/NAME: sources.list, lists/, cache/, an empty status),
# never the host's sources, lists or dpkg database: its sources are the
# host's Debian mirror (KTBPF_DEBIAN_MIRROR overrides) with each SUITE, main
# (a SUITE ending in -security from the security mirror); ARCH (amd64,
# arm64) is the only architecture its lists carry unless empty (the host's).
# Lists are refreshed when missing, older than a day or when the sources
# change (ktbpf_private_apt_update). Sets apt_q (options for every
# apt-get/apt-cache call) and apt_dir.
ktbpf_private_apt() {
	local name=$1 arch=$2 mirror sb line suite stamp opts lines=''
	shift 2
	apt_dir=$(ktbpf_cache_dir)/$name
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/preferences.d"
	if [ -n "${KTBPF_DEBIAN_MIRROR:-}" ]; then
		mirror=$KTBPF_DEBIAN_MIRROR sb=
	else
		read -r mirror sb < <(host_debian_mirror | head -n1) || true
		[ -n "${mirror:-}" ] || die "no Debian archive found in the host's apt sources
  (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list); set KTBPF_DEBIAN_MIRROR=URI"
	fi
	opts=${sb:+signed-by=$sb}
	# a snapshot archive's Release files are past their Valid-Until by design
	case "$mirror" in *snapshot.debian.org*) opts="${opts:+$opts }check-valid-until=no" ;; esac
	for suite in "$@"; do
		case "$suite" in
		*-security) line="deb ${opts:+[$opts] }$(host_debian_security_mirror "$mirror") $suite main" ;;
		*) line="deb ${opts:+[$opts] }$mirror $suite main" ;;
		esac
		lines+=$line$'\n'
	done
	stamp=$apt_dir/updated
	if [ "$(cat "$apt_dir/sources.list" 2>/dev/null)"$'\n' != "$lines" ]; then
		printf '%s' "$lines" >"$apt_dir/sources.list"
		rm -f "$stamp"
	fi
	apt_q=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=-
		-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
		-o Dir::Etc::preferences=/dev/null -o "Dir::Etc::preferencesparts=$apt_dir/preferences.d")
	if [ -n "$arch" ]; then
		: >>"$apt_dir/status"
		apt_q+=(-o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
			-o "Dir::State::status=$apt_dir/status")
	fi
	# as root apt drops to the _apt user, who cannot write into our private dirs
	[ "$(id -u)" = 0 ] && apt_q+=(-o APT::Sandbox::User=root)
	if [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
		ktbpf_private_apt_update || log "warning: cannot refresh the package lists in $apt_dir; using the ones there"
	fi
}

ktbpf_private_apt_update() {
	log "refreshing the private package lists in $apt_dir ($(awk '{print $(NF-1)}' "$apt_dir/sources.list" | tr '\n' ' '))"
	apt-get "${apt_q[@]}" -q --error-on=any update >&2 && touch "$apt_dir/updated"
}
