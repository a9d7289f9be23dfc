/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <bpf/btf.h>

#include "ktbpf/offsets.h"
#include "offsets-internal.h"
#include "scx-internal.h"

/* Anonymous-member nesting is shallow in real kernels; this bounds hostile BTF. */
#define MAX_ANON_DEPTH 8
/*
 * Members looked at in one search, anonymous ones included: the depth cap
 * alone still allows vlen^depth visits when an anonymous struct holds many
 * anonymous members (itself, say). Real kernels need a few hundred.
 */
#define MAX_VISITS 65536

struct member {
	uint32_t off;	  /* bytes from the start of the outer struct */
	uint32_t type_id; /* the member's own type id */
};

const struct btf_type *offsets_skip_mods(const struct btf *btf, uint32_t id, uint32_t *ret_id)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	int hops;

	for (hops = 0; t && hops < OFFSETS_MAX_MOD_HOPS; hops++) {
		if (!btf_is_mod(t) && !btf_is_typedef(t) && !btf_is_type_tag(t)) {
			if (ret_id)
				*ret_id = id;
			return t;
		}
		id = t->type;
		t = btf__type_by_id(btf, id);
	}
	return NULL;
}

static const struct btf_type *find_composite(const struct btf *btf, const char *name)
{
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);

	if (id < 0)
		id = btf__find_by_name_kind(btf, name, BTF_KIND_UNION);
	return id < 0 ? NULL : btf__type_by_id(btf, (uint32_t)id);
}

/*
 * Find member in composite t (searching anonymous struct/union members,
 * adding their offsets to base). 0 found, -ENOENT absent, -EINVAL for a
 * matching bitfield not on a byte boundary, -ELOOP when *budget member
 * visits ran out first.
 */
static int find_member(const struct btf *btf, const struct btf_type *t, const char *member,
		       uint64_t base, int depth, uint32_t *budget, struct member *ret)
{
	const struct btf_member *m = btf_members(t);
	uint32_t i, bits;
	uint64_t off;
	const char *name;
	int r;

	for (i = 0; i < btf_vlen(t); i++, m++) {
		if (*budget == 0)
			return -ELOOP;
		(*budget)--;
		bits = btf_member_bit_offset(t, i);
		off = base + bits / 8;
		name = btf__name_by_offset(btf, m->name_off);
		if (name && name[0]) {
			if (strcmp(name, member) != 0)
				continue;
			if (bits % 8 || off > UINT32_MAX)
				return -EINVAL;
			ret->off = (uint32_t)off;
			ret->type_id = m->type;
			return 0;
		}
		/* An anonymous struct/union: its members are the outer struct's members. */
		const struct btf_type *inner = offsets_skip_mods(btf, m->type, NULL);

		if (!inner || !btf_is_composite(inner) || bits % 8 || depth >= MAX_ANON_DEPTH)
			continue;
		r = find_member(btf, inner, member, off, depth + 1, budget, ret);
		if (r != -ENOENT)
			return r;
	}
	return -ENOENT;
}

static int lookup(const struct btf *btf, const char *type_name, const char *member,
		  struct member *ret, struct ktbpf_err *err)
{
	const struct btf_type *t = find_composite(btf, type_name);
	uint32_t budget = MAX_VISITS;
	int r;

	if (!t)
		return ktbpf_err_set(err, -ENOENT, "the guest kernel's BTF has no struct %s",
				     type_name);
	r = find_member(btf, t, member, 0, 0, &budget, ret);
	if (r == -ELOOP)
		return ktbpf_err_need(err,
				      ktbpf_err_set(err, r,
						    "looking for %s.%s: the anonymous members of "
						    "struct %s hold more than %d members in all "
						    "(corrupt or hostile BTF?)",
						    type_name, member, type_name, MAX_VISITS),
				      KTBPF_NEED_BTF);
	if (r == -ENOENT)
		return ktbpf_err_set(err, r, "the guest kernel's BTF lacks %s.%s", type_name,
				     member);
	if (r == -EINVAL)
		return ktbpf_err_set(err, r, "%s.%s is a bitfield not on a byte boundary",
				     type_name, member);
	return r;
}

int ktbpf_btf_member_offset(const struct btf *btf, const char *type_name, const char *member,
			    uint32_t *ret_off, struct ktbpf_err *err)
{
	struct member m;
	int r = lookup(btf, type_name, member, &m, err);

	if (r < 0)
		return r;
	*ret_off = m.off;
	return 0;
}

/*
 * What the walkers read. `since` names the first kernel with the member, so a
 * failure tells the user which guest kernels work. Optional members get
 * KTBPF_OFFSET_NONE when missing.
 */
struct want {
	const char *type, *member, *since;
	size_t field; /* offsetof(struct ktbpf_offsets, ...) */
	bool optional;
};

#define W(t, m, f, since, opt)                                                                     \
	{                                                                                          \
#t, #m, since, offsetof(struct ktbpf_offsets, f), opt                              \
	}

static const struct want wants[] = {
	W(bpf_prog, type, prog_type, "Linux 4.1+", false),
	W(bpf_prog, expected_attach_type, prog_expected_attach_type, "Linux 4.17+", false),
	W(bpf_prog, aux, prog_aux, "Linux 4.1+", false),
	W(bpf_prog, stats, prog_stats, "Linux 5.1+", false),
	W(bpf_prog_aux, id, aux_id, "Linux 4.13+", false),
	W(bpf_prog_aux, verified_insns, aux_verified_insns, "Linux 5.16+", false),
	W(bpf_prog_aux, name, aux_name, "Linux 4.15+", false),
	W(bpf_prog_aux, used_maps, aux_used_maps, "Linux 4.1+", false),
	W(bpf_prog_aux, used_map_cnt, aux_used_map_cnt, "Linux 4.1+", false),
	/* struct_ops programs (5.6+) name their ops type through attach_btf_id. */
	W(bpf_prog_aux, attach_btf_id, aux_attach_btf_id, "Linux 5.5+", false),
	W(bpf_prog_aux, attach_func_name, aux_attach_func_name, "Linux 5.5+", true),
	W(bpf_prog_aux, prog, aux_prog, "Linux 4.x", true),
	W(bpf_prog_stats, cnt, stats_cnt, "Linux 5.1+", false),
	W(bpf_prog_stats, nsecs, stats_nsecs, "Linux 5.1+", false),
	W(bpf_prog_stats, misses, stats_misses, "Linux 5.12+", true),
	W(bpf_map, name, map_name, "Linux 4.15+", false),
	W(idr, idr_next, idr_next, "Linux 4.11+", false),
	W(static_key, enabled, static_key_enabled, "any Linux", false),
};

#undef W

static int resolve(const struct btf *btf, const struct want *w, struct ktbpf_offsets *o,
		   struct ktbpf_err *err)
{
	uint32_t *field = (uint32_t *)((char *)o + w->field);
	struct member m;
	int r = lookup(btf, w->type, w->member, &m, err);

	if (r == -ENOENT && w->optional) {
		*field = KTBPF_OFFSET_NONE;
		return 0;
	}
	if (r == -ENOENT)
		return ktbpf_err_set(
			err, r,
			"the guest kernel's BTF lacks %s.%s, which ktbpf needs to read "
			"BPF programs (needs %s)",
			w->type, w->member, w->since);
	if (r < 0)
		return r;
	*field = m.off;
	return 0;
}

/* xa_node.{shift,slots} and XA_CHUNK_SIZE from the slots array (include/linux/xarray.h). */
static int resolve_xa(const struct btf *btf, struct ktbpf_xa_layout *xa, struct ktbpf_err *err)
{
	const struct btf_type *t;
	struct member m;
	uint32_t n;
	int r;

	r = lookup(btf, "xa_node", "shift", &m, err);
	if (r < 0)
		return r;
	xa->node_shift = m.off;
	r = lookup(btf, "xa_node", "slots", &m, err);
	if (r < 0)
		return r;
	xa->node_slots = m.off;
	t = offsets_skip_mods(btf, m.type_id, NULL);
	if (!t || !btf_is_array(t))
		return ktbpf_err_set(err, -EINVAL,
				     "xa_node.slots in the guest kernel's BTF is not "
				     "an array");
	n = btf_array(t)->nelems;
	if (n < 4 || n > KTBPF_XA_MAX_SLOTS || (n & (n - 1)))
		return ktbpf_err_set(err, -EINVAL,
				     "xa_node.slots has %u entries; expected a power of two "
				     "from 4 to %d",
				     n, KTBPF_XA_MAX_SLOTS);
	xa->nr_slots = n;
	return 0;
}

/* struct idr { struct xarray idr_rt; ... }: the IDR's xa_head (include/linux/idr.h). */
static int resolve_idr_head(const struct btf *btf, uint32_t *ret, struct ktbpf_err *err)
{
	struct member rt, head;
	int r;

	r = lookup(btf, "idr", "idr_rt", &rt, err);
	if (r < 0)
		return r;
	r = lookup(btf, "xarray", "xa_head", &head, err);
	if (r < 0)
		return r;
	if ((uint64_t)rt.off + head.off > UINT32_MAX)
		return ktbpf_err_set(err, -EINVAL, "idr.idr_rt.xa_head offset overflows");
	*ret = rt.off + head.off;
	return 0;
}

/* Offset of an optional member, KTBPF_OFFSET_NONE when absent (or unusable: a bitfield, -ELOOP). */
static uint32_t opt(const struct btf *btf, const char *type, const char *member)
{
	struct ktbpf_err e = {0};
	struct member m;

	return lookup(btf, type, member, &m, &e) < 0 ? KTBPF_OFFSET_NONE : m.off;
}

static uint32_t opt_sum(uint32_t a, uint32_t b)
{
	return a == KTBPF_OFFSET_NONE || b == KTBPF_OFFSET_NONE || (uint64_t)a + b >= UINT32_MAX
		       ? KTBPF_OFFSET_NONE
		       : a + b;
}

/* The value of enumerator name of enum type (include/uapi/linux/bpf.h enums). */
static bool enum_value(const struct btf *btf, const char *type, const char *name, int64_t *ret)
{
	int id = btf__find_by_name_kind(btf, type, BTF_KIND_ENUM);
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, (uint32_t)id);
	uint32_t i;

	for (i = 0; t && btf_is_enum(t) && i < btf_vlen(t) && i < 1024; i++) {
		const char *n = btf__name_by_offset(btf, btf_enum(t)[i].name_off);

		if (n && !strcmp(n, name)) {
			*ret = btf_enum(t)[i].val;
			return true;
		}
	}
	return false;
}

/*
 * enum scx_enable_state (6.15+) or scx_ops_enable_state (6.12-6.14),
 * kernel/sched/ext.c: the values of its ENABLING, ENABLED, DISABLING and
 * DISABLED enumerators, found by name suffix.
 */
static void resolve_scx_enum(const struct btf *btf, struct ktbpf_st_offsets *st)
{
	static const char *const sfx[4] = {"_ENABLING", "_ENABLED", "_DISABLING", "_DISABLED"};
	const struct btf_type *t;
	int id = btf__find_by_name_kind(btf, "scx_enable_state", BTF_KIND_ENUM);
	uint32_t i, k, found = 0;

	if (id < 0)
		id = btf__find_by_name_kind(btf, "scx_ops_enable_state", BTF_KIND_ENUM);
	t = id < 0 ? NULL : btf__type_by_id(btf, (uint32_t)id);
	if (!t || !btf_is_enum(t))
		return;
	for (i = 0; i < btf_vlen(t) && i < 64; i++) {
		const char *n = btf__name_by_offset(btf, btf_enum(t)[i].name_off);
		size_t nl = n ? strlen(n) : 0;

		for (k = 0; k < 4; k++) {
			size_t l = strlen(sfx[k]);

			if (nl >= l && !strcmp(n + nl - l, sfx[k]) && !(found & (1u << k))) {
				st->scx_enum[k] = btf_enum(t)[i].val;
				found |= 1u << k;
			}
		}
	}
	st->has_scx_enum = found == 0xf;
}

/*
 * The struct_ops map layout (kernel/bpf/bpf_struct_ops.c) and sched_ext's
 * (kernel/sched/ext.c), all optional. bpf_struct_ops_value holds the
 * state in `common` (struct bpf_struct_ops_common_value, 6.7+) or bare
 * (BPF_STRUCT_OPS_COMMON_VALUE before); struct bpf_struct_ops_map has
 * st_ops_desc (6.9+) or st_ops.
 */
static void resolve_st(const struct btf *btf, struct ktbpf_st_offsets *st)
{
	const struct btf_type *t;
	uint32_t common;
	int id;

	st->map_type = opt(btf, "bpf_map", "map_type");
	st->map_id = opt(btf, "bpf_map", "id");
	st->map_vvt_id = opt(btf, "bpf_map", "btf_vmlinux_value_type_id");
	st->stm_desc = opt(btf, "bpf_struct_ops_map", "st_ops_desc");
	st->stm_ops = opt(btf, "bpf_struct_ops_map", "st_ops");
	st->stm_links = opt(btf, "bpf_struct_ops_map", "links");
	st->stm_funcs_cnt = opt(btf, "bpf_struct_ops_map", "funcs_cnt");
	st->stm_uvalue = opt(btf, "bpf_struct_ops_map", "uvalue");
	st->stm_kvalue = opt(btf, "bpf_struct_ops_map", "kvalue");
	common = opt(btf, "bpf_struct_ops_value", "common");
	st->val_state = common != KTBPF_OFFSET_NONE
				? opt_sum(common, opt(btf, "bpf_struct_ops_common_value", "state"))
				: opt(btf, "bpf_struct_ops_value", "state");
	st->val_data = opt(btf, "bpf_struct_ops_value", "data");
	st->desc_st_ops = opt(btf, "bpf_struct_ops_desc", "st_ops");
	st->ops_name = opt(btf, "bpf_struct_ops", "name");
	st->aux_st_ops = opt(btf, "bpf_prog_aux", "st_ops");
	st->link_prog = opt(btf, "bpf_link", "prog");
	st->link_id = opt(btf, "bpf_link", "id");
	st->link_type = opt(btf, "bpf_link", "type");
	st->stlink_map = opt(btf, "bpf_struct_ops_link", "map");
	st->has_link_type_st_ops =
		enum_value(btf, "bpf_link_type", "BPF_LINK_TYPE_STRUCT_OPS", &st->link_type_st_ops);
	st->maps = st->map_type != KTBPF_OFFSET_NONE && st->map_id != KTBPF_OFFSET_NONE &&
		   st->map_vvt_id != KTBPF_OFFSET_NONE && st->stm_uvalue != KTBPF_OFFSET_NONE &&
		   st->stm_kvalue != KTBPF_OFFSET_NONE && st->val_state != KTBPF_OFFSET_NONE &&
		   st->val_data != KTBPF_OFFSET_NONE &&
		   (st->stm_desc != KTBPF_OFFSET_NONE || st->stm_ops != KTBPF_OFFSET_NONE);
	st->scx_sched_ops = opt(btf, "scx_sched", "ops");
	st->scx_ops_name = opt(btf, "sched_ext_ops", "name");
	id = btf__find_by_name_kind(btf, "sched_ext_ops", BTF_KIND_STRUCT);
	t = id < 0 ? NULL : btf__type_by_id(btf, (uint32_t)id);
	st->scx_ops_size = t ? t->size : 0;
	resolve_scx_enum(btf, st);
	scx_offsets_resolve(btf, &st->scx);
}

/*
 * Global-section maps (vars.c): include/linux/bpf.h struct bpf_map and
 * struct bpf_array (value[] and pptrs[] share a union), kernel/bpf/btf.c
 * struct btf (data: the blob BPF_BTF_LOAD copied in, data_size bytes).
 */
static void resolve_vars(const struct btf *btf, struct ktbpf_vars_offsets *v)
{
	v->map_value_size = opt(btf, "bpf_map", "value_size");
	v->map_max_entries = opt(btf, "bpf_map", "max_entries");
	v->map_btf = opt(btf, "bpf_map", "btf");
	v->map_btf_value_type_id = opt(btf, "bpf_map", "btf_value_type_id");
	v->array_elem_size = opt(btf, "bpf_array", "elem_size");
	v->array_value = opt(btf, "bpf_array", "value");
	v->btf_data = opt(btf, "btf", "data");
	v->btf_data_size = opt(btf, "btf", "data_size");
	v->btf_base_btf = opt(btf, "btf", "base_btf");
	v->ok = v->map_value_size != KTBPF_OFFSET_NONE && v->map_max_entries != KTBPF_OFFSET_NONE &&
		v->map_btf != KTBPF_OFFSET_NONE && v->map_btf_value_type_id != KTBPF_OFFSET_NONE &&
		v->array_elem_size != KTBPF_OFFSET_NONE && v->array_value != KTBPF_OFFSET_NONE &&
		v->btf_data != KTBPF_OFFSET_NONE && v->btf_data_size != KTBPF_OFFSET_NONE;
}

int ktbpf_offsets_from_btf(const struct btf *btf, struct ktbpf_offsets *ret, struct ktbpf_err *err)
{
	struct ktbpf_offsets o = {0};
	size_t i;
	int r;

	for (i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		r = resolve(btf, &wants[i], &o, err);
		if (r < 0)
			return r;
	}
	o.has_misses = o.stats_misses != KTBPF_OFFSET_NONE;
	r = resolve_idr_head(btf, &o.idr_xa_head, err);
	if (r < 0)
		return r;
	r = resolve_xa(btf, &o.xa, err);
	if (r < 0)
		return r;
	resolve_st(btf, &o.st);
	resolve_vars(btf, &o.vars);
	*ret = o;
	return 0;
}

int ktbpf_btf_struct_member_name(const struct btf *btf, uint32_t type_id, uint32_t member_idx,
				 const char **ret_type, const char **ret_member,
				 struct ktbpf_err *err)
{
	const struct btf_type *t;
	const char *tname, *mname;

	if (type_id == 0 || type_id >= btf__type_cnt(btf))
		return ktbpf_err_set(err, -ENOENT, "BTF type id %u does not exist (the BTF has %u)",
				     type_id, btf__type_cnt(btf));
	t = btf__type_by_id(btf, type_id);
	if (!t || !btf_is_composite(t))
		return ktbpf_err_set(err, -ENOENT, "BTF type id %u is not a struct", type_id);
	tname = btf__name_by_offset(btf, t->name_off);
	if (member_idx >= btf_vlen(t))
		return ktbpf_err_set(err, -ENOENT, "struct %s has %u members, not %u",
				     tname ? tname : "?", btf_vlen(t), member_idx + 1);
	mname = btf__name_by_offset(btf, btf_members(t)[member_idx].name_off);
	if (ret_type)
		*ret_type = tname ? tname : "";
	if (ret_member)
		*ret_member = mname ? mname : "";
	return 0;
}
