/* SPDX-License-Identifier: MIT */
/*
 * Private to the library: BTF helpers of offsets.c that other modules
 * reading BTF (opstab.c, vars-render.c) share.
 */
#ifndef KTBPF_OFFSETS_INTERNAL_H
#define KTBPF_OFFSETS_INTERNAL_H

#include <stdint.h>

struct btf;
struct btf_type;

/* Typedef and modifier chains are short in real kernels; this bounds hostile BTF (a loop). */
#define OFFSETS_MAX_MOD_HOPS 32

/*
 * Follow typedef/const/volatile/restrict/type_tag from type id to the
 * underlying type, whose id goes to *ret_id (may be NULL). NULL for a bad id
 * or a chain longer than OFFSETS_MAX_MOD_HOPS.
 */
const struct btf_type *offsets_skip_mods(const struct btf *btf, uint32_t id, uint32_t *ret_id);

#endif
