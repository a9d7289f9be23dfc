#!/bin/bash
# fetch-kernel.sh {6.1|6.12|sid} [--vmlinux]
#
# Download a Debian cloud kernel image package (never installed on the host),
# unpack its boot files into the ktbpf cache and print the cache directory.
# The directory holds:
#   vmlinuz      the bzImage
#   config       the kernel .config
#   System.map   only if the package ships a real one (Debian ships a one-line
#                placeholder pointing at the -dbg package; it is dropped)
#   version      the kernel release (uname -r in the guest)
#   package      "<package> <version>" that was unpacked (first line), then one
#                such line per companion package (sid: linux-binary-*, linux-base-*)
#   vmlinux      with --vmlinux: the ELF image with .BTF (extract-vmlinux.sh)
#
#   6.1  = the linux-image-6.1.0-*-cloud-amd64 that linux-image-cloud-amd64 depends on
#   6.12 = the newest linux-image-6.12.*+deb12-cloud-amd64-unsigned (bookworm-security)
#   sid  = the newest linux-image-*-cloud-amd64 in Debian unstable (7.2 in late 2026).
#          Since 7.x the image package is empty and depends on linux-binary-<abi>
#          (usr/lib/modules/<abi>/vmlinuz) and linux-base-<abi> (its config);
#          those are fetched too.
#
# 6.1 and 6.12 use the host's apt (the caller is expected to have run
# `apt-get update`). sid uses an apt state of its own under the cache
# ($KTBPF_CACHE/apt-sid: sources.list, lists/, cache/), never the host's
# sources or lists: its one source is the host's Debian mirror (the first
# non-security URI of /etc/apt/sources.list.d/*.sources or sources.list;
# KTBPF_DEBIAN_MIRROR overrides it) with suite sid. Its lists are refreshed
# when missing, older than a day, or when a download fails.
# If the package index cannot be queried, the newest cached kernel of the
# series is reused.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() { echo "usage: $0 {6.1|6.12|sid} [--vmlinux]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
series=$1
want_vmlinux=
case "${2:-}" in
"") ;;
--vmlinux) want_vmlinux=1 ;;
*) usage ;;
esac
case "$series" in 6.1|6.12|sid) ;; *) usage ;; esac

need_cmd apt-cache apt-get dpkg-deb sort flock
cache=$(ktbpf_cache_dir)/kernels
mkdir -p "$cache"
# Runs sharing the cache take turns: a second run must neither replace a
# directory the first one is extracting vmlinux from nor download twice.
exec {lock}>"$cache/.fetch-$series.lock"
flock "$lock"

# apt options for every apt-cache/apt-get call of this series
apt_q=()
# as root apt drops to the _apt user, who cannot write into our private dirs
[ "$(id -u)" = 0 ] && apt_q+=(-o APT::Sandbox::User=root)

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

# Set up (or refresh) the private sid apt state and fill apt_q.
setup_sid_apt() {
	local aptdir mirror sb line stamp
	aptdir=$(ktbpf_cache_dir)/apt-sid
	mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/preferences.d"
	if [ -n "${KTBPF_DEBIAN_MIRROR:-}" ]; then
		mirror=$KTBPF_DEBIAN_MIRROR sb=
	else
		read -r mirror sb < <(host_debian_mirror | head -n1) || true
		[ -n "${mirror:-}" ] || die "no Debian archive found in the host's apt sources
  (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list); set KTBPF_DEBIAN_MIRROR=URI"
	fi
	local opts=${sb:+signed-by=$sb}
	# a snapshot archive's Release files are past their Valid-Until by design
	case "$mirror" in *snapshot.debian.org*) opts="${opts:+$opts }check-valid-until=no" ;; esac
	line="deb ${opts:+[$opts] }$mirror sid main"
	stamp=$aptdir/updated
	if [ "$(cat "$aptdir/sources.list" 2>/dev/null)" != "$line" ]; then
		printf '%s\n' "$line" >"$aptdir/sources.list"
		rm -f "$stamp"
	fi
	apt_q+=(-o "Dir::Etc::sourcelist=$aptdir/sources.list" -o Dir::Etc::sourceparts=-
		-o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache"
		-o Dir::Etc::preferences=/dev/null -o "Dir::Etc::preferencesparts=$aptdir/preferences.d")
	if [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
		apt_update || log "warning: cannot refresh the sid package lists; using the ones in $aptdir/lists"
	fi
}

# refresh the package lists this series uses (the host's for 6.1/6.12: root only)
apt_update() {
	if [ "$series" = sid ]; then
		log "refreshing the private sid package lists ($(cut -d' ' -f2- "$(ktbpf_cache_dir)/apt-sid/sources.list"))"
		apt-get "${apt_q[@]}" -q --error-on=any update >&2 && touch "$(ktbpf_cache_dir)/apt-sid/updated"
	elif [ "$(id -u)" = 0 ]; then
		log "refreshing the package lists (apt-get update)"
		apt-get -q update >&2
	else
		return 1
	fi
}

[ "$series" = sid ] && setup_sid_apt

resolve_pkg() {
	local pkg
	case "$series" in
	6.1)
		pkg=$(apt-cache "${apt_q[@]}" depends linux-image-cloud-amd64 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-cloud-amd64\)$/\1/p' | head -n1)
		;;
	6.12)
		pkg=$(apt-cache "${apt_q[@]}" search --names-only '^linux-image-6\.12\..*\+deb12-cloud-amd64-unsigned$' 2>/dev/null |
			awk '{print $1}' | sort -V | tail -n1)
		;;
	sid)
		# the newest by version, not the one a fixed string names
		pkg=$(apt-cache "${apt_q[@]}" search --names-only '^linux-image-[0-9][^ ]*-cloud-amd64$' 2>/dev/null |
			awk '{print $1}' | sort -V | tail -n1)
		;;
	esac
	[ -n "$pkg" ] || return 1
	printf '%s\n' "$pkg"
}

candidate_version() {
	apt-cache "${apt_q[@]}" policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -n1
}

# "NAME=VERSION" for PKG=VER and each companion it depends on that carries the
# kernel's files (linux-binary-*: vmlinuz, linux-base-*: config), exact versions.
download_set() {
	local pkg=$1 ver=$2
	printf '%s=%s\n' "$pkg" "$ver"
	apt-cache "${apt_q[@]}" show "$pkg=$ver" 2>/dev/null | sed -n 's/^Depends: //p' | head -n1 |
		tr ',' '\n' | sed -n 's/^ *\(linux-\(binary\|base\)-[^ ]*\) (= \([^)]*\)).*$/\1=\3/p'
}

# Newest already-unpacked kernel of this series, for offline reuse.
cached_fallback() {
	local d best
	best=$(for d in "$cache"/linux-image-*_*; do
		[ -f "$d/.complete" ] || continue
		if [ -f "$d/series" ]; then
			[ "$(cat "$d/series")" = "$series" ] || continue
		else
			# unpacked before the series file existed (6.1, 6.12 only)
			case "${d##*/}" in linux-image-"$series".*_* | linux-image-"$series".0-*_*) ;; *) continue ;; esac
		fi
		printf '%s\n' "$d"
	done | sort -uV | tail -n1)
	[ -n "$best" ] || return 1
	printf '%s\n' "$best"
}

# print DIR (after extracting vmlinux when asked) and stop
finish() {
	if [ -n "$want_vmlinux" ]; then
		"$here/extract-vmlinux.sh" "$1/vmlinuz" "$1/vmlinux" ||
			die "cannot extract vmlinux from $1/vmlinuz"
	fi
	printf '%s\n' "$1"
	exit 0
}

# resolve pkg and ver; fails if apt does not know the package
resolve() {
	pkg=$(resolve_pkg) && ver=$(candidate_version "$pkg") && [ -n "$ver" ] && [ "$ver" != "(none)" ]
}

if ! resolve; then
	if dir=$(cached_fallback); then
		log "warning: cannot resolve the $series kernel package with apt-cache; reusing cached $dir"
		finish "$dir"
	fi
	if [ "$series" = sid ]; then
		die "cannot resolve Debian unstable's newest cloud kernel with apt-cache.
  The private lists in $(ktbpf_cache_dir)/apt-sid could not be refreshed from $(cut -d' ' -f2- "$(ktbpf_cache_dir)/apt-sid/sources.list")."
	fi
	die "cannot resolve the Debian $series cloud kernel package with apt-cache.
  Is a bookworm (and, for 6.12, bookworm-security) source configured and 'apt-get update' run?
  Try: apt-get update && apt-cache search linux-image-$series"
fi

cached_dir() {
	dir=$cache/${pkg}_${ver//:/%}
	[ -f "$dir/.complete" ] && [ -f "$dir/vmlinuz" ]
}
if cached_dir; then
	log "cached: $pkg $ver"
	finish "$dir"
fi

tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
download() {
	local want
	mapfile -t want < <(download_set "$pkg" "$ver")
	log "downloading ${want[*]}"
	(cd "$tmp" && apt-get download "${apt_q[@]}" -q "${want[@]}" >&2)
}
if ! download; then
	# Stale package lists name a version the mirror no longer carries
	# (security updates and unstable replace it): refresh them once and ask again.
	log "download failed; refreshing the package lists and retrying"
	apt_update || true
	rm -rf "${tmp:?}"/*
	if resolve; then
		if cached_dir; then
			log "cached: $pkg $ver"
			finish "$dir"
		fi
		download || true
	fi
fi
if ! ls "$tmp"/*.deb >/dev/null 2>&1; then
	if dir=$(cached_fallback); then
		log "warning: apt-get download $pkg=$ver failed; reusing cached $dir"
		finish "$dir"
	fi
	die "apt-get download $pkg=$ver failed.
  Run 'apt-get update' (as root) so the package index is current, check network access to
  the Debian mirror (bookworm, bookworm-security; sid for the sid series), then retry."
fi

mkdir -p "$tmp/x" "$tmp/out"
: >"$tmp/out/package"
for deb in "$tmp"/*.deb; do
	log "unpacking $(basename "$deb")"
	dpkg-deb -x "$deb" "$tmp/x"
	printf '%s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" >>"$tmp/out/package.all"
done
# the image package first: "package" names what a run used
{ grep "^$pkg " "$tmp/out/package.all"; grep -v "^$pkg " "$tmp/out/package.all" || true; } >"$tmp/out/package"
rm -f "$tmp/out/package.all"
# boot/vmlinuz-REL up to 6.x; usr/lib/modules/REL/vmlinuz (linux-binary-*) since 7.x
vmlinuz=$(find "$tmp/x/boot" "$tmp/x/usr/lib/modules" -mindepth 1 -maxdepth 2 \
	\( -path "$tmp/x/boot/vmlinuz-*" -o -path "$tmp/x/usr/lib/modules/*/vmlinuz" \) 2>/dev/null | sort | head -n1) || true
[ -n "$vmlinuz" ] || die "no boot/vmlinuz-* or usr/lib/modules/*/vmlinuz in $(cd "$tmp" && ls ./*.deb)"
case "$vmlinuz" in
*/boot/vmlinuz-*)
	rel=${vmlinuz##*/vmlinuz-}
	cfg=$tmp/x/boot/config-$rel sm=$tmp/x/boot/System.map-$rel
	;;
*)
	rel=$(basename "$(dirname "$vmlinuz")")
	cfg=$tmp/x/usr/lib/modules/$rel/config sm=$tmp/x/usr/lib/modules/$rel/System.map
	;;
esac
cp "$vmlinuz" "$tmp/out/vmlinuz"
[ -f "$cfg" ] && cp "$cfg" "$tmp/out/config"
if [ -f "$sm" ]; then
	if [ "$(stat -c %s "$sm")" -lt 4096 ] && grep -q 'real System.map' "$sm"; then
		log "the package's System.map is a placeholder; not kept (use the guest's kallsyms)"
	else
		cp "$sm" "$tmp/out/System.map"
	fi
fi
printf '%s\n' "$rel" >"$tmp/out/version"
printf '%s\n' "$series" >"$tmp/out/series"
chmod 755 "$tmp/out"
touch "$tmp/out/.complete"

rm -rf "$dir"
mv "$tmp/out" "$dir"
log "kernel $rel ready in $dir"
finish "$dir"
