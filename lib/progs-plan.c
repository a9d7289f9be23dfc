/* SPDX-License-Identifier: MIT */
/*
 * Read plans for the prog_idr walkers (progs.c): from the BTF offsets, once
 * per kernel at discovery, the members we need of one object are grouped into
 * spans so that each span is one ktbpf_xlate_read() and no span touches a
 * 64-byte line that holds none of our members (see plan_build()). A program
 * then costs one read of its bpf_prog header and one or two of its
 * bpf_prog_aux, and one CPU's bpf_prog_stats usually one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "progs-internal.h"

/* A member to read: byte offset in its object and size. */
struct field {
	uint64_t off, size;
};

/*
 * Group fields into spans read with one call each. Objects are at least
 * 64-byte aligned in practice (bpf_prog is vmalloc'ed, bpf_prog_aux and
 * bpf_map come from kmalloc caches of 64 bytes and more), so line numbers
 * follow from offsets: a field joins the current span when it starts no more
 * than one line after the span's last line, which merges reads without
 * touching a line that holds none of our fields. -EINVAL for a layout whose
 * spans do not fit the read buffer (a hostile or unusual BTF).
 */
static int plan_build(struct plan *p, const struct field *f, size_t n)
{
	size_t order[PLAN_MAX_FIELDS];
	size_t i, j, m = 0;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < n; i++) {
		p->pos[i] = UINT32_MAX;
		if (f[i].off == KTBPF_OFFSET_NONE)
			continue; /* an optional member this kernel lacks */
		for (j = m++; j > 0 && f[order[j - 1]].off > f[i].off; j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	for (i = 0; i < m; i++) {
		const struct field *c = &f[order[i]];
		uint64_t end = c->off + c->size;
		size_t k = p->nr_spans;

		if (c->off > UINT32_MAX || c->size > PLAN_LINE)
			return -EINVAL;
		if (k && c->off / PLAN_LINE <=
				 (p->span[k - 1].lo + p->span[k - 1].len - 1) / PLAN_LINE + 1) {
			uint64_t lo = p->span[k - 1].lo;

			if (end > lo + p->span[k - 1].len)
				p->span[k - 1].len = (uint32_t)(end - lo);
		} else {
			p->span[k].lo = c->off;
			p->span[k].len = (uint32_t)c->size;
			p->nr_spans++;
		}
	}
	for (i = 0; i < p->nr_spans; i++) {
		p->span[i].pos = p->len;
		if (p->len + (uint64_t)p->span[i].len > PLAN_BUF)
			return -EINVAL;
		p->len += p->span[i].len;
	}
	for (i = 0; i < m; i++) {
		const struct field *c = &f[order[i]];

		for (j = 0; j < p->nr_spans; j++) {
			if (c->off >= p->span[j].lo &&
			    c->off + c->size <= p->span[j].lo + p->span[j].len)
				break;
		}
		p->pos[order[i]] = p->span[j].pos + (uint32_t)(c->off - p->span[j].lo);
	}
	return 0;
}

/* Move the span holding field i to the front: it is read first. */
static void plan_read_first(struct plan *p, size_t i)
{
	size_t j;

	for (j = 1; plan_has(p, i) && j < p->nr_spans; j++) {
		if (p->pos[i] >= p->span[j].pos && p->pos[i] < p->span[j].pos + p->span[j].len) {
			__typeof__(p->span[0]) t = p->span[0];

			p->span[0] = p->span[j];
			p->span[j] = t;
			return;
		}
	}
}

int plans_build(struct walk_plans *w, const struct ktbpf_offsets *o, struct ktbpf_err *err)
{
	struct field hdr[HDR_NR] = {
		[HDR_TYPE] = {o->prog_type, 4},
		[HDR_EAT] = {o->prog_expected_attach_type, 4},
		[HDR_AUX] = {o->prog_aux, 8},
		[HDR_STATS] = {o->prog_stats, 8},
	};
	struct field aux[AUX_NR] = {
		[AUX_MAPS] = {o->aux_used_maps, 8},
		[AUX_MAP_CNT] = {o->aux_used_map_cnt, 4},
		[AUX_ID] = {o->aux_id, 4},
		[AUX_VI] = {o->aux_verified_insns, 4},
		[AUX_NAME] = {o->aux_name, KTBPF_OBJ_NAME_LEN},
		[AUX_BTF_ID] = {o->aux_attach_btf_id, 4},
		[AUX_FUNC_NAME] = {o->aux_attach_func_name, 8},
		[AUX_PROG] = {o->aux_prog, 8},
	};
	struct field st[ST_NR] = {
		[ST_CNT] = {o->stats_cnt, 8},
		[ST_NSECS] = {o->stats_nsecs, 8},
		[ST_MISSES] = {o->has_misses ? o->stats_misses : KTBPF_OFFSET_NONE, 8},
	};
	struct field idr[IDR_NR] = {
		[IDR_HEAD] = {o->idr_xa_head, 8},
		[IDR_NEXT] = {o->idr_next, 4},
	};
	size_t i;

	if (plan_build(&w->hdr, hdr, HDR_NR) < 0 || plan_build(&w->aux, aux, AUX_NR) < 0 ||
	    plan_build(&w->stats, st, ST_NR) < 0 || plan_build(&w->idr, idr, IDR_NR) < 0)
		return ktbpf_err_set(err, -EINVAL,
				     "bpf_prog/bpf_prog_aux/bpf_prog_stats/idr members are spread "
				     "too far apart in the guest's BTF to read in bounded spans");
	/*
	 * Pairs with kernel/bpf/syscall.c: bpf_prog_bind_map(), which raises
	 * used_map_cnt and then stores the new used_maps array under
	 * used_maps_mutex (that we cannot take): the pointer is read first.
	 * In one span both come from one copy; a frozen guest is consistent,
	 * a live one may show a count one past an old array, which the
	 * cap and the per-map checks keep bounded.
	 */
	plan_read_first(&w->aux, AUX_MAPS);
	/* Only attach_func_name, aux->prog and misses are optional (offsets.h). */
	for (i = 0; i < HDR_NR; i++)
		if (!plan_has(&w->hdr, i))
			return ktbpf_err_set(err, -ENOENT, "a bpf_prog member is missing in BTF");
	for (i = 0; i < AUX_NR; i++)
		if (!plan_has(&w->aux, i) && i != AUX_FUNC_NAME && i != AUX_PROG)
			return ktbpf_err_set(err, -ENOENT,
					     "a bpf_prog_aux member is missing in BTF");
	if (!plan_has(&w->stats, ST_CNT) || !plan_has(&w->stats, ST_NSECS))
		return ktbpf_err_set(err, -ENOENT, "bpf_prog_stats.cnt/nsecs missing in BTF");
	return 0;
}
