/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_OFFSETS_H
#define KTBPF_OFFSETS_H

/*
 * Struct member offsets resolved from the guest kernel's BTF with libbpf, so no
 * layout is hard-coded and no version string is consulted. Members inside
 * anonymous structs/unions are found (their offsets are added up). A missing
 * required member is an error naming struct and member.
 *
 * Thread safety: struct ktbpf_offsets is plain data, filled once from BTF
 * (which is only read) and shared read-only afterwards.
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

#define KTBPF_SCX_MAX_EVENTS	 48 /* SCX_EV_* counters kept (7.2 has 15) */
#define KTBPF_SCX_EVENT_NAME_LEN 48
#define KTBPF_SCX_MAX_EXIT_KINDS 16 /* enum scx_exit_kind (7.2 has 10) */
#define KTBPF_SCX_EXIT_KIND_LEN	 32

/*
 * sched_ext's state beyond its ops (scx.c), each member optional
 * (KTBPF_OFFSET_NONE). Up to 6.15 the state is in statics of
 * kernel/sched/ext.c (symbols in ktbpf_kernel_info); from 6.16 most of it
 * is in struct scx_sched behind scx_root (kernel/sched/ext_internal.h,
 * 7.2: kernel/sched/ext/internal.h), read there when the member exists.
 */
struct ktbpf_scx_offsets {
	uint32_t ops_flags; /* sched_ext_ops.flags (u64) */
	/* struct bpf_prog: a program's JIT image, to name backtrace addresses in it */
	uint32_t prog_bpf_func;	 /* bpf_func (the image's entry) */
	uint32_t prog_jited_len; /* u32 */
	/* struct scx_sched (6.16+) */
	uint32_t sch_exit_kind;	       /* atomic_t */
	uint32_t sch_exit_info;	       /* struct scx_exit_info * */
	uint32_t sch_bypass_depth;     /* s32 (later than 6.16) */
	uint32_t sch_watchdog_timeout; /* unsigned long, jiffies (later than 6.16) */
	uint32_t sch_event_stats_cpu;  /* struct scx_event_stats __percpu * (6.16) */
	uint32_t sch_pcpu;	       /* struct scx_sched_pcpu __percpu * (later) */
	uint32_t pcpu_event_stats;     /* scx_sched_pcpu.event_stats (embedded) */
	/* struct scx_exit_info */
	bool has_exit_info; /* kind, exit_code, reason, bt, bt_len, msg, dump all known */
	uint32_t ei_kind, ei_exit_code, ei_reason, ei_bt, ei_bt_len, ei_msg, ei_dump;
	/* enum scx_exit_kind: values and names */
	uint32_t nr_exit_kinds;
	struct {
		int64_t value;
		char name[KTBPF_SCX_EXIT_KIND_LEN]; /* "SCX_EXIT_ERROR_BPF" */
	} exit_kinds[KTBPF_SCX_MAX_EXIT_KINDS];
	/* struct scx_event_stats (6.15+): its s64 members, in BTF order */
	uint32_t event_stats_size;
	uint32_t nr_events;
	struct {
		uint32_t off;
		char name[KTBPF_SCX_EVENT_NAME_LEN]; /* "SCX_EV_SELECT_CPU_FALLBACK" */
	} events[KTBPF_SCX_MAX_EVENTS];
};

/*
 * struct_ops instances and sched_ext (structops.c). Every member is optional:
 * a kernel without struct_ops maps or without sched_ext simply lacks them
 * (KTBPF_OFFSET_NONE). Which exist picks the layout, never a version string.
 */
struct ktbpf_st_offsets {
	bool maps; /* struct_ops maps are readable: map_*, stm_* (desc or ops), val_* all known */
	/* struct bpf_map (include/linux/bpf.h) */
	uint32_t map_type;   /* enum bpf_map_type */
	uint32_t map_id;     /* u32, its map_idr index */
	uint32_t map_vvt_id; /* btf_vmlinux_value_type_id: bpf_struct_ops_<name> */
	/* struct bpf_struct_ops_map (kernel/bpf/bpf_struct_ops.c) */
	uint32_t stm_desc;	/* st_ops_desc (6.9+, struct_ops in modules) */
	uint32_t stm_ops;	/* st_ops (before 6.9) */
	uint32_t stm_links;	/* struct bpf_link ** */
	uint32_t stm_funcs_cnt; /* u32, links[] entries (6.9+) */
	uint32_t stm_uvalue;	/* struct bpf_struct_ops_value *: program ids in the slots */
	uint32_t stm_kvalue;	/* struct bpf_struct_ops_value, embedded */
	/* struct bpf_struct_ops_value: common.state (6.7+) or state (before) */
	uint32_t val_state;
	uint32_t val_data;    /* char data[], cache-line aligned */
	uint32_t desc_st_ops; /* bpf_struct_ops_desc.st_ops */
	uint32_t ops_name;    /* bpf_struct_ops.name (const char *) */
	uint32_t aux_st_ops;  /* bpf_prog_aux.st_ops (newer kernels) */
	uint32_t link_prog;   /* bpf_link.prog */
	uint32_t link_id;     /* bpf_link.id, its link_idr index */
	uint32_t link_type;   /* bpf_link.type (enum bpf_link_type) */
	uint32_t stlink_map;  /* bpf_struct_ops_link.map (6.4+: struct_ops attached by a link) */
	bool has_link_type_st_ops;
	int64_t link_type_st_ops; /* BPF_LINK_TYPE_STRUCT_OPS, from BTF */
	/* sched_ext (kernel/sched/ext.c) */
	uint32_t scx_sched_ops; /* scx_sched.ops (6.16+, behind scx_root) */
	uint32_t scx_ops_name;	/* sched_ext_ops.name, char[] */
	uint32_t scx_ops_size;	/* sizeof(struct sched_ext_ops); 0: no sched_ext in BTF */
	/* enum scx_enable_state (6.15+) / scx_ops_enable_state: ENABLING, ENABLED, DISABLING,
	 * DISABLED */
	bool has_scx_enum;
	int64_t scx_enum[4];
	struct ktbpf_scx_offsets scx; /* the rest of sched_ext's state (scx.c) */
};

/*
 * BPF globals (vars.c): a map's BTF and value type, struct bpf_array's
 * values, and the object's struct btf in kernel memory. Every member is
 * optional (KTBPF_OFFSET_NONE); `ok` says all that vars.c needs is known.
 */
struct ktbpf_vars_offsets {
	bool ok;
	/* struct bpf_map (include/linux/bpf.h) */
	uint32_t map_value_size;	/* u32 */
	uint32_t map_max_entries;	/* u32 */
	uint32_t map_btf;		/* struct btf * */
	uint32_t map_btf_value_type_id; /* u32: the DATASEC of a global-section map */
	/* struct bpf_array: elem_size, and value[] / pptrs[] (one union) */
	uint32_t array_elem_size;
	uint32_t array_value;
	/* struct btf (kernel/bpf/btf.c): the raw BTF blob as loaded (header, types, strings) */
	uint32_t btf_data;	/* void * */
	uint32_t btf_data_size; /* u32 */
	uint32_t btf_base_btf;	/* struct btf *, split BTF (optional) */
};

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
	struct ktbpf_st_offsets st;
	struct ktbpf_vars_offsets vars;
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
