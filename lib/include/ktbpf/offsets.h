/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_OFFSETS_H
#define KTBPF_OFFSETS_H

/*
 * Struct member offsets resolved from the guest kernel's BTF with libbpf, so no
 * layout is hard-coded and no version string is consulted. Members inside
 * anonymous structs/unions are found (their offsets are added up). A missing
 * required member is an error naming struct and member.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/xarray.h"

struct btf;

/*
 * An optional member the guest kernel does not have. Optional today:
 * bpf_prog_aux.attach_func_name and .prog, bpf_prog_stats.misses (also
 * has_misses). Every other member is required.
 */
#define KTBPF_OFFSET_NONE UINT32_MAX

struct ktbpf_offsets {
	/* struct bpf_prog (include/linux/bpf.h) */
	uint32_t prog_type;		    /* enum bpf_prog_type, u32 */
	uint32_t prog_expected_attach_type; /* struct_ops: member index in the ops struct */
	uint32_t prog_aux;		    /* struct bpf_prog_aux * */
	uint32_t prog_stats;		    /* struct bpf_prog_stats __percpu * */
	/* struct bpf_prog_aux */
	uint32_t aux_id;
	uint32_t aux_verified_insns;
	uint32_t aux_name;	       /* char[BPF_OBJ_NAME_LEN] */
	uint32_t aux_used_maps;	       /* struct bpf_map ** */
	uint32_t aux_used_map_cnt;     /* u32 */
	uint32_t aux_attach_btf_id;    /* u32 */
	uint32_t aux_attach_func_name; /* const char *; optional (KTBPF_OFFSET_NONE) */
	uint32_t aux_prog;	       /* struct bpf_prog * back-pointer; optional */
	/* struct bpf_prog_stats (per CPU) */
	uint32_t stats_cnt;
	uint32_t stats_nsecs;
	uint32_t stats_misses; /* optional (KTBPF_OFFSET_NONE) */
	bool has_misses;       /* bpf_prog_stats.misses exists (5.12+) */
	/* struct bpf_map */
	uint32_t map_name; /* char[BPF_OBJ_NAME_LEN] */
	/* struct idr / struct xarray */
	uint32_t idr_xa_head;	   /* idr.idr_rt + xarray.xa_head */
	uint32_t idr_next;	   /* idr.idr_next (u32) */
	struct ktbpf_xa_layout xa; /* struct xa_node */
	/* struct static_key (bpf_stats_enabled_key.key.enabled: atomic_t) */
	uint32_t static_key_enabled;
};

/*
 * Resolve every member above from btf (borrowed). Errors: -ENOENT naming the
 * missing "struct.member" and what to do ("the guest kernel's BTF lacks
 * bpf_prog_aux.verified_insns (needs Linux 5.16+)").
 */
int ktbpf_offsets_from_btf(const struct btf *btf, struct ktbpf_offsets *ret, struct ktbpf_err *err);

/*
 * Byte offset of member (searched through anonymous members) in struct or
 * union type_name. -ENOENT if the type or member is missing, -EINVAL if the
 * member is a bitfield not on a byte boundary, -ELOOP if the anonymous members
 * to search hold more members than any real kernel (a hostile BTF).
 */
int ktbpf_btf_member_offset(const struct btf *btf, const char *type_name, const char *member,
			    uint32_t *ret_off, struct ktbpf_err *err);

/*
 * Names for a struct_ops program: the struct type with BTF id type_id (e.g.
 * "tcp_congestion_ops") and its member number member_idx ("cong_avoid").
 * Either output may be NULL. Returned strings are owned by btf.
 */
int ktbpf_btf_struct_member_name(const struct btf *btf, uint32_t type_id, uint32_t member_idx,
				 const char **ret_type, const char **ret_member,
				 struct ktbpf_err *err);

#endif
