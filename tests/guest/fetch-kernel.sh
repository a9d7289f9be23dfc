#!/bin/bash
# fetch-kernel.sh {6.1|6.12|sid} [--vmlinux] [--arch amd64|arm64]
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
#   vmlinux      with --vmlinux: the ELF image with .BTF (extract-vmlinux.sh);
#                arm64: only for 6.1, from its -dbg package (see arm64_files)
#   btf          arm64 with --vmlinux: the vmlinux BTF cut out of the Image
#
# --arch arm64 fetches Debian's arm64 cloud kernels (linux-image-*-cloud-arm64,
# an uncompressed or gzip Image as vmlinuz) through private apt states of the
# cache (apt-arm64-bookworm: bookworm, -updates, -security; apt-arm64-sid),
# APT::Architecture=arm64 with their own lists and an empty status file: the
# host's dpkg never gets the architecture added.
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

usage() { echo "usage: $0 {6.1|6.12|sid} [--vmlinux] [--arch amd64|arm64]" >&2; exit 2; }
[ $# -ge 1 ] || usage
series=$1
shift
want_vmlinux= arch=amd64
while [ $# -gt 0 ]; do
	case "$1" in
	--vmlinux) want_vmlinux=1; shift ;;
	--arch) arch=${2:-}; shift 2 || usage ;;
	*) usage ;;
	esac
done
case "$series" in 6.1|6.12|sid) ;; *) usage ;; esac
case "$arch" in amd64|arm64) ;; *) usage ;; esac
# what a cache directory's "series" file says: "6.12", "6.12 arm64"
series_tag=$series
[ "$arch" = amd64 ] || series_tag="$series $arch"

need_cmd apt-cache apt-get dpkg-deb sort flock
cache=$(ktbpf_cache_dir)/kernels
mkdir -p "$cache"
# Runs sharing the cache take turns: a second run must neither replace a
# directory the first one is extracting vmlinux from nor download twice.
exec {lock}>"$cache/.fetch-$series${arch/amd64/}.lock"
flock "$lock"

# apt options for every apt-cache/apt-get call of this series
apt_q=()
# as root apt drops to the _apt user, who cannot write into our private dirs
[ "$(id -u)" = 0 ] && apt_q+=(-o APT::Sandbox::User=root)

# refresh the package lists this series uses (the host's for 6.1/6.12: root only)
apt_update() {
	if [ -n "${apt_dir:-}" ]; then
		ktbpf_private_apt_update
	elif [ "$(id -u)" = 0 ]; then
		log "refreshing the package lists (apt-get update)"
		apt-get -q update >&2
	else
		return 1
	fi
}

# amd64 sid, and every arm64 series, through a private apt state of the cache
# (arm64: APT::Architecture=arm64 with its own lists and empty status; the
# host's dpkg never learns the architecture)
apt_dir=
if [ "$arch" = arm64 ]; then
	if [ "$series" = sid ]; then
		ktbpf_private_apt apt-arm64-sid arm64 sid
	else
		ktbpf_private_apt apt-arm64-bookworm arm64 bookworm bookworm-updates bookworm-security
	fi
elif [ "$series" = sid ]; then
	ktbpf_private_apt apt-sid "" sid
fi

resolve_pkg() {
	local pkg
	case "$series" in
	6.1)
		pkg=$(apt-cache "${apt_q[@]}" depends "linux-image-cloud-$arch" 2>/dev/null |
			sed -n "s/^ *Depends: \\(linux-image-6\\.1\\.0-[0-9]*-cloud-$arch\\)\$/\\1/p" | head -n1)
		;;
	6.12)
		pkg=$(apt-cache "${apt_q[@]}" search --names-only "^linux-image-6\\.12\\..*\\+deb12-cloud-$arch-unsigned\$" 2>/dev/null |
			awk '{print $1}' | sort -V | tail -n1)
		;;
	sid)
		# the newest by version, not the one a fixed string names
		pkg=$(apt-cache "${apt_q[@]}" search --names-only "^linux-image-[0-9][^ ]*-cloud-$arch\$" 2>/dev/null |
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
			[ "$(cat "$d/series")" = "$series_tag" ] || continue
		elif [ "$arch" = amd64 ]; then
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
	if [ -n "$want_vmlinux" ] && [ "$arch" = arm64 ]; then
		arm64_files "$1"
	elif [ -n "$want_vmlinux" ]; then
		"$here/extract-vmlinux.sh" "$1/vmlinuz" "$1/vmlinux" ||
			die "cannot extract vmlinux from $1/vmlinuz"
	fi
	printf '%s\n' "$1"
	exit 0
}

# arm64 --vmlinux. The Image is no ELF file and Debian's System.map is a
# placeholder, so: DIR/btf, the vmlinux BTF cut out of the Image (the first
# blob with BTF's header: magic 0xeb9f, version 1, hdr_len 24; its size from
# the header's string section end), for the files route; and for 6.1, whose
# kallsyms lack data symbols (no KALLSYMS_ALL), DIR/vmlinux from the -dbg
# package (260 MB download, its vmlinux alone unpacked, debug sections
# stripped: .symtab and .BTF stay; cached).
arm64_files() {
	local d=$1 img=$1/vmlinuz off hdr n
	if [ ! -s "$d/btf" ]; then
		need_cmd grep od dd
		if [ "$(head -c2 "$img" | od -An -tx1 | tr -d ' \n')" = 1f8b ]; then
			gzip -dc <"$img" >"$d/Image.tmp" && img=$d/Image.tmp
		fi
		off=$(LC_ALL=C grep -obUaP -m1 '\x9f\xeb\x01\x00\x18\x00\x00\x00' "$img" | head -n1 | cut -d: -f1) ||
			die "no BTF header in $img"
		# struct btf_header: magic, version, flags, hdr_len, type_off, type_len, str_off, str_len
		read -r -a hdr < <(dd if="$img" bs=1 skip="$off" count=24 status=none | od -An -tu4 -w24)
		n=$((24 + hdr[4] + hdr[5]))
		[ "$n" -gt 1024 ] && [ "$n" -lt $((64 << 20)) ] || die "implausible BTF size $n in $img"
		dd if="$img" of="$d/btf.tmp" bs=4M iflag=skip_bytes,count_bytes skip="$off" count="$n" status=none
		mv "$d/btf.tmp" "$d/btf"
		rm -f "$d/Image.tmp"
		log "BTF ($n bytes) cut out of the Image: $d/btf"
	fi
	[ "$series" = 6.1 ] && [ ! -s "$d/vmlinux" ] && arm64_dbg_vmlinux "$d"
	return 0
}

arm64_dbg_vmlinux() {
	local d=$1 dbg t strip
	dbg=$(head -n1 "$d/package" | awk '{print $1 "-dbg=" $2}')
	t=$(mktemp -d "$cache/.dbg.XXXXXX")
	log "downloading $dbg (large) for its vmlinux"
	(cd "$t" && apt-get download "${apt_q[@]}" -q "$dbg" >&2) || { rm -rf "$t"; die "apt-get download $dbg failed"; }
	# usr/lib/debug/boot/vmlinux-REL comes early in the archive: stop there
	# (dpkg-deb then dies of SIGPIPE: the file, not the pipeline, says)
	{ dpkg-deb --fsys-tarfile "$t"/*.deb | tar -x -C "$t" --occurrence=1 --wildcards './usr/lib/debug/boot/vmlinux-*'; } 2>/dev/null || true
	ls "$t"/usr/lib/debug/boot/vmlinux-* >/dev/null 2>&1 || { rm -rf "$t"; die "no usr/lib/debug/boot/vmlinux-* in $dbg"; }
	strip=objcopy
	command -v aarch64-linux-gnu-objcopy >/dev/null && strip=aarch64-linux-gnu-objcopy
	"$strip" --strip-debug "$t"/usr/lib/debug/boot/vmlinux-* "$d/vmlinux.tmp" ||
		cp "$t"/usr/lib/debug/boot/vmlinux-* "$d/vmlinux.tmp"
	mv "$d/vmlinux.tmp" "$d/vmlinux"
	rm -rf "$t"
	log "vmlinux of $dbg: $d/vmlinux ($(stat -c %s "$d/vmlinux") bytes)"
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
printf '%s\n' "$series_tag" >"$tmp/out/series"
chmod 755 "$tmp/out"
touch "$tmp/out/.complete"

rm -rf "$dir"
mv "$tmp/out" "$dir"
log "kernel $rel ready in $dir"
finish "$dir"
