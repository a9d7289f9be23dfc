/* SPDX-License-Identifier: MIT */
/*
 * BTF blobs from untrusted bytes: the header checks libbpf leaves out, then
 * libbpf's parser (btf-internal.h).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <bpf/btf.h>
#include <linux/btf.h>

#include "btf-internal.h"

int btf_new_checked(const void *data, size_t len, struct btf **ret)
{
	struct btf_header h;
	struct btf *btf;

	if (len >= sizeof(h)) {
		memcpy(&h, data, sizeof(h));
		if (h.magic ==
		    __builtin_bswap16(BTF_MAGIC)) { /* the other endianness: libbpf swaps */
			h.hdr_len = __builtin_bswap32(h.hdr_len);
			h.type_off = __builtin_bswap32(h.type_off);
			h.type_len = __builtin_bswap32(h.type_len);
		} else if (h.magic != BTF_MAGIC) {
			return -EINVAL;
		}
		if (((uint64_t)h.hdr_len + h.type_off) % 4 || h.type_len % 4)
			return -EINVAL;
	}
	errno = 0;
	btf = btf__new(data, (uint32_t)len);
	if (!btf)
		return errno ? -errno : -EINVAL;
	*ret = btf;
	return 0;
}
