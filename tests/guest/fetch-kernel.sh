#!/bin/bash
# fetch-kernel.sh {6.1|6.12} [--vmlinux]
#
# Download a Debian bookworm cloud kernel image package (never installed on the
# host), unpack its boot files into the ktbpf cache and print the cache
# directory.  The directory holds:
#   vmlinuz      the bzImage
#   config       the kernel .config
#   System.map   only if the package ships a real one (Debian ships a one-line
#                placeholder pointing at the -dbg package; it is dropped)
#   version      the kernel release (uname -r in the guest)
#   package      "<package> <version>" that was unpacked
#   vmlinux      with --vmlinux: the ELF image with .BTF (extract-vmlinux.sh)
#
#   6.1  = the linux-image-6.1.0-*-cloud-amd64 that linux-image-cloud-amd64 depends on
#   6.12 = the newest linux-image-6.12.*+deb12-cloud-amd64-unsigned (bookworm-security)
#
# The caller is expected to have run `apt-get update`.  If the package index
# cannot be queried, the newest cached kernel of the series is reused.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() { echo "usage: $0 {6.1|6.12} [--vmlinux]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
series=$1
want_vmlinux=
case "${2:-}" in
"") ;;
--vmlinux) want_vmlinux=1 ;;
*) usage ;;
esac
case "$series" in 6.1|6.12) ;; *) usage ;; esac

need_cmd apt-cache apt-get dpkg-deb sort flock
cache=$(ktbpf_cache_dir)/kernels
mkdir -p "$cache"
# Runs sharing the cache take turns: a second run must neither replace a
# directory the first one is extracting vmlinux from nor download twice.
exec {lock}>"$cache/.fetch-$series.lock"
flock "$lock"

resolve_pkg() {
	local pkg
	case "$series" in
	6.1)
		pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-cloud-amd64\)$/\1/p' | head -n1)
		;;
	6.12)
		pkg=$(apt-cache search --names-only '^linux-image-6\.12\..*\+deb12-cloud-amd64-unsigned$' 2>/dev/null |
			awk '{print $1}' | sort -V | tail -n1)
		;;
	esac
	[ -n "$pkg" ] || return 1
	printf '%s\n' "$pkg"
}

candidate_version() {
	apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -n1
}

# Newest already-unpacked kernel of this series, for offline reuse.
cached_fallback() {
	local d best
	best=$(for d in "$cache"/linux-image-"$series".*_* "$cache"/linux-image-"$series".0-*_*; do
		[ -f "$d/.complete" ] && printf '%s\n' "$d"
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

if ! pkg=$(resolve_pkg) || ! ver=$(candidate_version "$pkg") || [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
	if dir=$(cached_fallback); then
		log "warning: cannot resolve the $series kernel package with apt-cache; reusing cached $dir"
		finish "$dir"
	fi
	die "cannot resolve the Debian $series cloud kernel package with apt-cache.
  Is a bookworm (and, for 6.12, bookworm-security) source configured and 'apt-get update' run?
  Try: apt-get update && apt-cache search linux-image-$series"
fi

dir=$cache/${pkg}_${ver//:/%}
if [ -f "$dir/.complete" ] && [ -f "$dir/vmlinuz" ]; then
	log "cached: $pkg $ver"
	finish "$dir"
fi

tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "downloading $pkg=$ver"
apt_opts=(-q)
# as root apt drops to the _apt user, who cannot write into our private temp dir
[ "$(id -u)" = 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
if ! (cd "$tmp" && apt-get download "${apt_opts[@]}" "$pkg=$ver" >&2) && [ "$(id -u)" = 0 ]; then
	# Stale package lists name a version the mirror no longer carries
	# (security updates replace it): refresh them once and ask again.
	log "download failed; refreshing the package lists (apt-get update) and retrying"
	apt-get update -q >&2 || true
	rm -rf "${tmp:?}"/*
	if pkg=$(resolve_pkg) && ver=$(candidate_version "$pkg") && [ -n "$ver" ] && [ "$ver" != "(none)" ]; then
		dir=$cache/${pkg}_${ver//:/%}
		if [ -f "$dir/.complete" ] && [ -f "$dir/vmlinuz" ]; then
			log "cached: $pkg $ver"
			finish "$dir"
		fi
		log "downloading $pkg=$ver"
		(cd "$tmp" && apt-get download "${apt_opts[@]}" "$pkg=$ver" >&2) || true
	fi
fi
if ! ls "$tmp"/*.deb >/dev/null 2>&1; then
	die "apt-get download $pkg=$ver failed.
  Run 'apt-get update' (as root) so the package index is current, check network access to
  deb.debian.org (bookworm, bookworm-security), then retry."
fi
deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || die "apt-get download produced no .deb in $tmp"

log "unpacking $(basename "$deb")"
mkdir -p "$tmp/x" "$tmp/out"
dpkg-deb -x "$deb" "$tmp/x"
vmlinuz=$(ls "$tmp"/x/boot/vmlinuz-* 2>/dev/null | head -n1)
[ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in $deb"
rel=${vmlinuz##*/vmlinuz-}
cp "$vmlinuz" "$tmp/out/vmlinuz"
[ -f "$tmp/x/boot/config-$rel" ] && cp "$tmp/x/boot/config-$rel" "$tmp/out/config"
sm=$tmp/x/boot/System.map-$rel
if [ -f "$sm" ]; then
	if [ "$(stat -c %s "$sm")" -lt 4096 ] && grep -q 'real System.map' "$sm"; then
		log "the package's System.map is a placeholder; not kept (use the guest's kallsyms)"
	else
		cp "$sm" "$tmp/out/System.map"
	fi
fi
printf '%s\n' "$rel" >"$tmp/out/version"
printf '%s %s\n' "$pkg" "$ver" >"$tmp/out/package"
chmod 755 "$tmp/out"
touch "$tmp/out/.complete"

rm -rf "$dir"
mv "$tmp/out" "$dir"
log "kernel $rel ready in $dir"
finish "$dir"
