/* SPDX-License-Identifier: MIT */
/*
 * sched_ext's side of the struct_ops walk (structops.c): its enable state
 * and the kernel's copy of the running scheduler's ops struct, read at one
 * moment (up to 6.15 the static scx_ops and scx_(ops_)enable_state_var, from
 * 6.16 scx_root -> struct scx_sched.ops: kernel/sched/ext.c); the copy is
 * matched to its instance by trampoline addresses (unique per map), never
 * by name; then the active instance: that scheduler, else the instances in
 * state INUSE, else a reason.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "structops-internal.h"

const char *ktbpf_scx_state_name(enum ktbpf_scx_state st)
{
	switch (st) {
	case KTBPF_SCX_ENABLING:
		return "enabling";
	case KTBPF_SCX_ENABLED:
		return "enabled";
	case KTBPF_SCX_DISABLING:
		return "disabling";
	case KTBPF_SCX_DISABLED:
		return "disabled";
	default:
		return "unknown";
	}
}

void st_scx_read(struct stwalk *w, enum ktbpf_scx_layout layout, struct scx_view *v)
{
	const struct ktbpf_st_offsets *st = w->st;
	uint32_t raw, len = st->scx_ops_size;
	struct ktbpf_err e;
	uint64_t ops = w->info->scx_ops;

	err_reset(&e);
	v->state_ok = false;
	v->root = 0;
	v->ops_len = 0;
	if (w->info->scx_enable_state && st->has_scx_enum) {
		/* atomic_t: its int counter at offset 0 (include/linux/types.h). */
		if (ktbpf_xlate_read_u32(w->x, w->info->scx_enable_state, &raw, &e) < 0)
			snap_diag_err(w->s, 0, &e, "sched_ext enable state unreadable");
		else {
			v->state_ok = true;
			v->state_raw = (int32_t)raw;
		}
	}
	if (len > OPS_READ_MAX) {
		snap_diag(w->s, -E2BIG, 0, 0,
			  "struct sched_ext_ops is %" PRIu32 " bytes (more than %u): not read", len,
			  OPS_READ_MAX);
		return;
	}
	if (layout == KTBPF_SCX_ROOT) {
		err_reset(&e);
		if (ktbpf_xlate_read_u64(w->x, w->info->scx_root, &v->root, &e) < 0) {
			snap_diag_err(w->s, 0, &e, "scx_root unreadable");
			return;
		}
		if (!v->root)
			return;
		ops = v->root + st->scx_sched_ops;
	}
	err_reset(&e);
	if (ktbpf_xlate_read(w->x, ops, v->ops, len, &e) < 0) {
		snap_diag_err(w->s, 0, &e, "the kernel's sched_ext_ops copy unreadable");
		return;
	}
	v->ops_len = len;
}

bool st_scx_same(const struct scx_view *a, const struct scx_view *b)
{
	return a->state_ok == b->state_ok && (!a->state_ok || a->state_raw == b->state_raw) &&
	       a->root == b->root && a->ops_len == b->ops_len &&
	       !memcmp(a->ops, b->ops, a->ops_len);
}

enum ktbpf_scx_state st_scx_state_of(const struct ktbpf_st_offsets *st, const struct scx_view *v)
{
	int k;

	for (k = 0; v->state_ok && k < 4; k++)
		if (st->scx_enum[k] == v->state_raw)
			return (enum ktbpf_scx_state)k;
	return KTBPF_SCX_UNKNOWN;
}

/*
 * Does instance in hold the ops the kernel copied? Every function-pointer
 * slot of its kvalue.data equals the copy's, and at least one is set.
 */
static bool scx_matches(struct stwalk *w, const struct ktbpf_st_instance *in,
			const struct scx_view *v)
{
	const struct st_layout *l;
	const struct st_fn_member *fm;
	uint8_t buf[OPS_READ_MAX];
	struct ktbpf_err e;
	uint32_t i, len = v->ops_len, set = 0;

	err_reset(&e);
	if (!in->ops_type_id || !st_is_scx_iface(in->iface) || !len)
		return false;
	if (ktbpf_xlate_read(w->x, in->kdata_kva, buf, len, &e) < 0) {
		snap_diag_err(w->s, 0, &e, "struct_ops kvalue unreadable");
		return false;
	}
	l = st_ops_layout(w, in->ops_type_id);
	fm = l->m;
	for (i = 0; i < l->n; i++) {
		uint64_t a, b;

		if (fm[i].off + 8ull > len)
			return false;
		memcpy(&a, buf + fm[i].off, 8);
		memcpy(&b, v->ops + fm[i].off, 8);
		if (a != b)
			return false;
		set += a != 0;
	}
	return set > 0;
}

/*
 * sched_ext's part: its state and scheduler name, and the instance the
 * kernel runs (NULL when none or unmatched). Only ENABLED counts as running:
 * during ENABLING the scheduler is not yet in charge, during DISABLING it is
 * being ejected (a paused guest is rarely caught there; the reason says so).
 */
static const struct ktbpf_st_instance *choose_scx(struct stwalk *w, const struct scx_view *v)
{
	struct ktbpf_snapshot *s = w->s;
	struct ktbpf_active *a = &s->active;
	const struct ktbpf_st_offsets *st = w->st;
	size_t i;

	s->scx.state = st_scx_state_of(st, v);
	if (v->ops_len && st->scx_ops_name != KTBPF_OFFSET_NONE && st->scx_ops_name < v->ops_len) {
		size_t max = v->ops_len - st->scx_ops_name;

		if (max > KTBPF_SCX_NAME_LEN)
			max = KTBPF_SCX_NAME_LEN;
		memcpy(s->scx.ops_name, v->ops + st->scx_ops_name, max);
		s->scx.ops_name[max] = '\0';
	}
	if (s->scx.state == KTBPF_SCX_UNKNOWN || s->scx.state == KTBPF_SCX_DISABLED || !v->ops_len)
		return NULL;
	for (i = 0; i < s->nr_instances; i++) {
		if (scx_matches(w, &s->instances[i], v)) {
			s->scx.map_id = s->instances[i].map_id;
			break;
		}
	}
	if (s->scx.state != KTBPF_SCX_ENABLED) {
		snprintf(a->reason, sizeof(a->reason),
			 "sched_ext is %s: scheduler '%.64s' is not in charge",
			 ktbpf_scx_state_name(s->scx.state), s->scx.ops_name);
		return NULL;
	}
	if (i < s->nr_instances)
		return &s->instances[i];
	/* Running, but from no map we saw: say so rather than guess. */
	a->attached = true;
	a->source = KTBPF_ACTIVE_SCHED_EXT;
	st_copy_str(a->iface, sizeof(a->iface), "sched_ext_ops");
	snprintf(a->reason, sizeof(a->reason),
		 "the kernel's sched_ext scheduler '%.64s' matches no struct_ops map",
		 s->scx.ops_name);
	snap_diag(s, -ENOENT, 0, 0, "%s", a->reason);
	return NULL;
}

/* Why nothing is attached, in one line. */
static void explain_none(struct stwalk *w)
{
	struct ktbpf_snapshot *s = w->s;
	size_t i;

	for (i = 0; i < s->nr_instances; i++) {
		const struct ktbpf_st_instance *in = &s->instances[i];

		if (st_is_scx_iface(in->iface) && in->state == KTBPF_ST_INUSE) {
			snprintf(s->active.reason, sizeof(s->active.reason),
				 "sched_ext is %s: map %" PRIu32 " '%s' is still inuse but is not "
				 "the kernel's scheduler",
				 ktbpf_scx_state_name(s->scx.state), in->map_id, in->name);
			return;
		}
	}
	if (!s->nr_instances)
		snprintf(s->active.reason, sizeof(s->active.reason),
			 "no struct_ops instance is loaded");
	else
		snprintf(s->active.reason, sizeof(s->active.reason),
			 "%zu struct_ops instance(s) loaded, none attached%s", s->nr_instances,
			 s->scx.layout ? " (sched_ext has no scheduler)" : "");
}

/*
 * The active instances, in map id order: sched_ext's current scheduler and
 * every other instance in use: state INUSE (registered by update_elem), or
 * READY with a struct_ops link (a TCP congestion control either way). The first
 * named (map_id, obj_name, iface) is the scheduler when there is one.
 */
void st_choose_active(struct stwalk *w, const struct scx_view *v)
{
	struct ktbpf_snapshot *s = w->s;
	struct ktbpf_active *a = &s->active;
	const struct ktbpf_st_instance *scx = NULL, *primary = NULL;
	size_t i;

	if (s->scx.layout != KTBPF_SCX_NONE)
		scx = choose_scx(w, v);
	for (i = 0; i < s->nr_instances; i++) {
		const struct ktbpf_st_instance *in = &s->instances[i];

		if (in != scx &&
		    (st_is_scx_iface(in->iface) ||
		     !(in->state == KTBPF_ST_INUSE || (in->state == KTBPF_ST_READY && in->linked))))
			continue;
		if (a->nr_instances < KTBPF_MAX_ACTIVE)
			a->map_ids[a->nr_instances++] = in->map_id;
		if (!primary || in == scx)
			primary = in;
	}
	if (a->attached) /* a running scheduler from no map we saw: choose_scx() said so */
		return;
	if (!primary) {
		if (!a->reason[0])
			explain_none(w);
		return;
	}
	a->attached = true;
	a->source = scx ? KTBPF_ACTIVE_SCHED_EXT : KTBPF_ACTIVE_INUSE;
	a->map_id = primary->map_id;
	st_copy_str(a->obj_name, sizeof(a->obj_name), primary->obj_name);
	st_copy_str(a->iface, sizeof(a->iface), primary->iface);
	a->reason[0] = '\0';
}

/* The chosen instances' state once more: a change means the guest moved under us. */
void st_recheck_active(struct stwalk *w)
{
	struct ktbpf_snapshot *s = w->s;
	uint32_t i;
	size_t j;

	for (i = 0; i < s->active.nr_instances; i++) {
		for (j = 0; j < s->nr_instances; j++) {
			const struct ktbpf_st_instance *in = &s->instances[j];
			struct ktbpf_err e;
			uint32_t now;

			if (in->map_id != s->active.map_ids[i])
				continue;
			err_reset(&e);
			if (ktbpf_xlate_read_u32(w->x,
						 in->kva + w->st->stm_kvalue + w->st->val_state,
						 &now, &e) == 0 &&
			    now != in->raw_state) {
				s->torn = true;
				snap_diag(s, -EAGAIN, 0, in->kva,
					  "map %" PRIu32 ": state changed from %" PRIu32
					  " to %" PRIu32 " during the snapshot (torn)",
					  in->map_id, in->raw_state, now);
			}
		}
	}
}

enum ktbpf_scx_layout st_scx_layout(const struct stwalk *w)
{
	if (!w->st->scx_ops_size)
		return KTBPF_SCX_NONE;
	if (w->info->scx_root && w->st->scx_sched_ops != KTBPF_OFFSET_NONE)
		return KTBPF_SCX_ROOT;
	if (w->info->scx_ops)
		return KTBPF_SCX_OPS;
	return KTBPF_SCX_NONE;
}
