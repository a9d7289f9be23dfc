#!/bin/bash
# prepare.sh: download and build, once, everything the real-guest truth tests
# boot: Debian's 6.1, 6.12 and sid cloud kernels for amd64 and arm64 (with the
# vmlinux decompressed from each amd64 image, the BTF cut out of each arm64
# one, for the BTF-from-files route) and our sched_ext kernel built from
# Debian's linux-source-6.12 (about 12 minutes on 2 cores, the first time).
# Everything lands in the cache ($KTBPF_CACHE, default ~/.cache/ktbpf), outside
# the repository; later runs take a few seconds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
guest=$here/../guest
t0=$(date +%s)
for k in 6.1 6.12 sid; do
	kdir=$("$guest/fetch-kernel.sh" "$k" --vmlinux)
	echo "prepare: Debian $k kernel -> $kdir ($(head -n1 "$kdir/package"))" >&2
	# arm64: the Image, its BTF; for 6.1 the -dbg package's vmlinux (262 MB download)
	kdir=$("$guest/fetch-kernel.sh" "$k" --vmlinux --arch arm64)
	echo "prepare: Debian $k arm64 kernel -> $kdir ($(head -n1 "$kdir/package"))" >&2
done
echo "prepare: sched_ext kernel (first build takes ~12 min) ..." >&2
echo "prepare: sched_ext kernel -> $(KTBPF_SCX_NO_APT=1 "$guest/scx/build-kernel.sh")" >&2
echo "prepare: done in $(($(date +%s) - t0)) s" >&2
