/* SPDX-License-Identifier: MIT */
/*
 * Private to the prog_idr walkers: the read plans (progs-plan.c) that
 * progs.c follows to read a bpf_prog, its bpf_prog_aux, its per-CPU
 * bpf_prog_stats and prog_idr itself in as few ktbpf_xlate_read() calls
 * as the BTF layout allows. Internal names start with plan_.
 */
#ifndef KTBPF_PROGS_INTERNAL_H
#define KTBPF_PROGS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpf/progs.h"

#define PLAN_LINE	64u /* the cache line that spans are grouped by */
#define PLAN_MAX_FIELDS 8
#define PLAN_BUF	1024 /* packed bytes of one object's spans (see plan_build()) */

/* Spans [lo, lo+len) of one object, packed at pos in a read buffer. */
struct plan {
	size_t nr_spans;
	struct {
		uint64_t lo;
		uint32_t len, pos;
	} span[PLAN_MAX_FIELDS];
	uint32_t pos[PLAN_MAX_FIELDS]; /* where field i lands in the buffer */
	uint32_t len;		       /* total packed bytes */
};

/* The fields of each plan: indices into struct plan's pos[]. */
enum { HDR_TYPE, HDR_EAT, HDR_AUX, HDR_STATS, HDR_NR };
enum {
	AUX_MAPS, /* its span is read first, see plans_build() */
	AUX_MAP_CNT,
	AUX_ID,
	AUX_VI,
	AUX_NAME,
	AUX_BTF_ID,
	AUX_FUNC_NAME,
	AUX_PROG,
	AUX_NR
};
enum { ST_CNT, ST_NSECS, ST_MISSES, ST_NR };
enum { IDR_HEAD, IDR_NEXT, IDR_NR };

/*
 * The read plans of one kernel's layout, kept in the snapshot between walks
 * (planning costs as much as reading a few programs); rebuilt when the
 * snapshot is used with another kernel's offsets.
 */
struct ktbpf_walk_plans {
	bool valid;
	struct ktbpf_offsets o;
	struct plan hdr, aux, stats, idr;
};

/* Does this kernel have field i (optional members may be absent)? */
static inline bool plan_has(const struct plan *p, size_t i)
{
	return p->pos[i] != UINT32_MAX;
}

/*
 * Read every span of object kva into buf (p->len bytes). All or nothing.
 * Inline: it runs for every program and CPU, and the walker in progs.c is
 * the only caller.
 */
static inline int plan_read(struct ktbpf_xlate *x, const struct plan *p, uint64_t kva, uint8_t *buf,
			    struct ktbpf_err *err)
{
	size_t i;
	int r;

	for (i = 0; i < p->nr_spans; i++) {
		r = ktbpf_xlate_read(x, kva + p->span[i].lo, buf + p->span[i].pos, p->span[i].len,
				     err);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Point *ret_plans at s's read plans for offsets o, built on first use and
 * rebuilt when o differs from the offsets they were built for (the only
 * allocation: s->plans, freed by ktbpf_snapshot_free()). -ENOMEM, or
 * -EINVAL/-ENOENT with a message when o's layout cannot be planned.
 */
int plan_get(struct ktbpf_snapshot *s, const struct ktbpf_offsets *o,
	     const struct ktbpf_walk_plans **ret_plans, struct ktbpf_err *err);

#endif
