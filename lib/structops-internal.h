/* SPDX-License-Identifier: MIT */
/*
 * Private to the struct_ops walk: structops.c (map_idr, instances, objects)
 * and structops-scx.c (sched_ext's state, the active instance). Internal
 * names start with st_.
 */
#ifndef KTBPF_STRUCTOPS_INTERNAL_H
#define KTBPF_STRUCTOPS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "progs-internal.h"

#define OPS_READ_MAX 4096u /* bytes of an ops struct we read (sched_ext_ops: ~1 KiB) */

struct stwalk {
	struct ktbpf_xlate *x;
	const struct ktbpf_offsets *o;
	const struct ktbpf_st_offsets *st;
	const struct ops_table *ops;
	const struct ktbpf_kernel_info *info;
	struct ktbpf_snapshot *s;
	bool instances_capped;
};

/* sched_ext's state as read at one moment. */
struct scx_view {
	bool state_ok;
	int64_t state_raw;
	uint64_t root;	  /* scx_root's value (KTBPF_SCX_ROOT) */
	uint32_t ops_len; /* bytes of ops; 0: no copy (scx_root NULL, unreadable) */
	uint8_t ops[OPS_READ_MAX];
};

/* Bounded copy, always terminated. */
void st_copy_str(char *dst, size_t size, const char *src);

static inline bool st_is_scx_iface(const char *iface)
{
	return !strncmp(iface, "sched_ext_ops", 13);
}

/* The kernel's interface with ops struct type_id (opstab.c), or NULL. */
const struct st_layout *st_ops_layout(struct stwalk *w, uint32_t type_id);

/* Which sched_ext layout the kernel has (KTBPF_SCX_NONE: no sched_ext). */
enum ktbpf_scx_layout st_scx_layout(const struct stwalk *w);
/* sched_ext's state now into v; problems become diagnostics. */
void st_scx_read(struct stwalk *w, enum ktbpf_scx_layout layout, struct scx_view *v);
bool st_scx_same(const struct scx_view *a, const struct scx_view *b);
enum ktbpf_scx_state st_scx_state_of(const struct ktbpf_st_offsets *st, const struct scx_view *v);
/* Fill s->active (and s->scx's state, name, map id) from the instances and v. */
void st_choose_active(struct stwalk *w, const struct scx_view *v);
/* Re-read the active instances' state: a change marks the snapshot torn. */
void st_recheck_active(struct stwalk *w);

#endif
