/* SPDX-License-Identifier: MIT */
/*
 * Private to the library: BTF blobs from untrusted bytes (guest RAM, files).
 */
#ifndef KTBPF_BTF_INTERNAL_H
#define KTBPF_BTF_INTERNAL_H

#include <stddef.h>

struct btf;

/*
 * btf__new() on len bytes, after the checks libbpf leaves out: the type
 * section must start and end 4-byte aligned, as the kernel requires
 * (kernel/bpf/btf.c: btf_parse_type_sec(), "Unaligned type_off"), or
 * libbpf reads struct btf_type at misaligned addresses. Returns 0 and *ret,
 * or -EINVAL (not BTF, or misaligned), -ENOMEM, or libbpf's -errno.
 */
int btf_new_checked(const void *data, size_t len, struct btf **ret);

#endif
