#!/bin/bash
# extract-vmlinux.sh VMLINUZ OUT
#
# Decompress the payload of an x86 bzImage into an ELF vmlinux at OUT and check
# that it is an ELF file with a .BTF section (the "vmlinux route": symbols and
# BTF taken from the image rather than from guest RAM).
#
# The payload location is taken from the bzImage header (setup_sects,
# payload_offset, payload_length); if that fails, every offset where a known
# compression magic occurs is tried until the output is an ELF file.
# Supported: gzip, xz, zstd, lz4 (legacy frames), bzip2, lzma, lzo.
# Idempotent: an OUT newer than VMLINUZ that passes the checks is kept.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -eq 2 ] || { echo "usage: $0 VMLINUZ OUT" >&2; exit 2; }
in=$1 out=$2
[ -r "$in" ] || die "cannot read $in"
need_cmd od grep head tail dd

readelf_cmd=
for c in readelf llvm-readelf; do
	if command -v "$c" >/dev/null 2>&1; then readelf_cmd=$c; break; fi
done
[ -n "$readelf_cmd" ] || die "need readelf (binutils) or llvm-readelf (llvm)"

is_elf() { [ "$(head -c4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; }
has_btf() {
	local s
	s=$("$readelf_cmd" -S -W "$1" 2>/dev/null) || return 1
	[[ $s == *" .BTF "* ]]
}

if [ -s "$out" ] && [ "$out" -nt "$in" ] && is_elf "$out" && has_btf "$out"; then
	log "up to date: $out"
	exit 0
fi

# decompressor command for a format name (reads stdin, writes stdout)
decomp_cmd() {
	case "$1" in
	gzip) echo "gzip -dc" ;;
	xz) echo "xz -dc --single-stream" ;;
	zstd) echo "zstd -dcq" ;;
	lz4) echo "lz4 -dc" ;;
	bzip2) echo "bzip2 -dc" ;;
	lzma) echo "xz -dc --format=lzma" ;;
	lzo) echo "lzop -dc" ;;
	esac
}

format_of_magic() {
	case "$1" in
	1f8b08*) echo gzip ;;
	fd377a585a00*) echo xz ;;
	28b52ffd*) echo zstd ;;
	02214c18*) echo lz4 ;;
	425a68*) echo bzip2 ;;
	5d0000*) echo lzma ;;
	894c5a4f*) echo lzo ;;
	*) return 1 ;;
	esac
}

tmp=$(mktemp "${out}.tmp.XXXXXX")
trap 'rm -f "$tmp"' EXIT

# try FORMAT OFFSET [LENGTH]: decompress into $tmp, succeed if it is an ELF
try() {
	local fmt=$1 off=$2 len=${3:-} cmd tool
	cmd=$(decomp_cmd "$fmt")
	tool=${cmd%% *}
	if ! command -v "$tool" >/dev/null 2>&1; then
		log "payload looks like $fmt at offset $off but '$tool' is missing (apt-get install $tool)"
		return 1
	fi
	# Decompressors complain about the 4-byte size trailer the kernel build
	# appends; the exit status is ignored and the result is judged as ELF.
	if [ -n "$len" ]; then
		tail -c +"$((off + 1))" "$in" | head -c "$len" | $cmd >"$tmp" 2>/dev/null || true
	else
		tail -c +"$((off + 1))" "$in" | $cmd >"$tmp" 2>/dev/null || true
	fi
	is_elf "$tmp"
}

found=
# 1. the bzImage header (boot protocol >= 2.08)
if [ "$(dd if="$in" bs=1 skip=$((0x202)) count=4 2>/dev/null)" = HdrS ]; then
	setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$in" | tr -d ' ')
	[ "$setup_sects" -eq 0 ] && setup_sects=4
	payload_off=$(od -An -tu4 -j $((0x248)) -N4 "$in" | tr -d ' ')
	payload_len=$(od -An -tu4 -j $((0x24c)) -N4 "$in" | tr -d ' ')
	off=$(((setup_sects + 1) * 512 + payload_off))
	magic=$(od -An -tx1 -j "$off" -N6 "$in" | tr -d ' \n')
	if fmt=$(format_of_magic "$magic"); then
		log "bzImage payload: $fmt, offset $off, $payload_len bytes"
		try "$fmt" "$off" "$payload_len" && found="$fmt@$off"
	fi
fi

# 2. scan for compression magics
if [ -z "$found" ]; then
	log "scanning $in for compressed payloads"
	for pair in 'gzip:\x1f\x8b\x08' 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'lz4:\x02\x21\x4c\x18' \
		'bzip2:BZh' 'lzma:\x5d\x00\x00\x00' 'lzo:\x89\x4c\x5a\x4f'; do
		fmt=${pair%%:*} pat=${pair#*:}
		for off in $(LC_ALL=C grep -obUaP "$pat" "$in" 2>/dev/null | cut -d: -f1 | head -n 64); do
			if try "$fmt" "$off"; then found="$fmt@$off"; break 2; fi
		done
	done
fi

[ -n "$found" ] || die "no compressed ELF payload found in $in"
has_btf "$tmp" || die "decompressed $found from $in is an ELF but has no .BTF section (kernel built without CONFIG_DEBUG_INFO_BTF?)"
chmod 644 "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
log "extracted $found -> $out ($(stat -c %s "$out") bytes, has .BTF)"
