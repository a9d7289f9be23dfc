/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_BTF_H
#define KTBPF_KIT_BTF_H

/*
 * Kernel BTF written with libbpf's btf__add_*() describing the structs the
 * walkers read, with realistic x86_64 layouts (Linux 6.1 as the model:
 * include/linux/bpf.h, include/linux/xarray.h, include/linux/idr.h,
 * include/linux/jump_label.h, include/net/tcp.h, kernel/sched/ext.c).
 * The returned layout says where every member is, so fixture code writes
 * guest objects at the same places the library will read them.
 */

#include <stdbool.h>
#include <stdint.h>

#include "kit.h"
#include "ktbpf/offsets.h"

struct btf;

enum kit_btf_variant {
	KIT_BTF_V61,		   /* flat 6.1 layout */
	KIT_BTF_V612_ANON,	   /* bpf_prog.stats/.aux inside anonymous struct/union members
				    * (one behind a const modifier), other offsets shifted */
	KIT_BTF_NO_MISSES,	   /* bpf_prog_stats without misses (before 5.12) */
	KIT_BTF_NO_VERIFIED_INSNS, /* bpf_prog_aux without verified_insns (before 5.16) */
	KIT_BTF_SMALL_XA,	   /* CONFIG_BASE_SMALL: xa_node.slots[16] */
	KIT_BTF_WIDE_OPS,	   /* tcp_congestion_ops with 80 more function members than
				    * BPF_STRUCT_OPS_MAX_NR_MEMBERS allows (hostile) */
};

struct kit_btf_layout {
	/* Where each member is; KTBPF_OFFSET_NONE for members this variant lacks. */
	struct ktbpf_offsets off;
	/* sizeof each struct */
	uint32_t prog_size, aux_size, stats_size, map_size;
	uint32_t array_size; /* struct bpf_array up to value[] (off.vars.array_value) */
	uint32_t btf_size;   /* struct btf (kernel/bpf/btf.c) */
	uint32_t xa_node_size, xarray_size, idr_size, static_key_size;
	/* BTF type ids of the struct_ops types, and their member counts */
	uint32_t tcp_ops_id, scx_ops_id;
	uint32_t tcp_ops_nr_members, scx_ops_nr_members;
	uint32_t prog_type_struct_ops; /* BPF_PROG_TYPE_STRUCT_OPS (27) */
	/*
	 * struct_ops maps (in off.st): KIT_BTF_V61 has the 6.1 layout (bare
	 * state, st_ops), the others 6.12's (common.state, st_ops_desc,
	 * funcs_cnt, links) and bpf_prog_aux.st_ops as 7.x has it.
	 */
	uint32_t stmap_size, st_value_size;  /* struct bpf_struct_ops_map / _value (no data) */
	uint32_t st_ops_size, st_desc_size;  /* struct bpf_struct_ops / _desc */
	uint32_t link_size;		     /* struct bpf_link */
	uint32_t tcp_ops_size, scx_ops_size; /* the ops structs */
	uint32_t tcp_value_id, scx_value_id; /* bpf_struct_ops_<ops> */
	uint32_t scx_sched_size;	     /* struct scx_sched (ops at 0) */
	uint32_t scx_pcpu_size;		     /* struct scx_sched_pcpu */
	int scx_ei_ptr, scx_pcpu_ptr;	     /* BTF ids: struct scx_exit_info *, scx_sched_pcpu * */
	bool st_common;			     /* state in common (else bare) */
};

/* Member names of the struct_ops types, in BTF order. */
extern const char *const kit_btf_tcp_ops_members[];
extern const char *const kit_btf_scx_ops_members[];
#define KIT_BTF_SCX_NR_EVENTS 4
extern const char *const kit_btf_scx_events[KIT_BTF_SCX_NR_EVENTS];

/* New BTF for variant v (free with btf__free()); *ret_layout filled. Aborts on failure. */
struct btf *kit_btf_kernel_new(enum kit_btf_variant v, struct kit_btf_layout *ret_layout);

/* The same with struct cpumask of nr_cpus_max bits (NR_CPUS; a multiple of 64, 64 above). */
struct btf *kit_btf_kernel_new_cpus(enum kit_btf_variant v, uint32_t nr_cpus_max,
				    struct kit_btf_layout *ret_layout);

/* The raw .BTF blob (owned by btf), e.g. to place between __start_BTF and __stop_BTF. */
const void *kit_btf_raw(struct btf *btf, uint32_t *ret_size);

#endif
