/* SPDX-License-Identifier: MIT */
/*
 * The struct_ops instances and what the kernel has attached (DESIGN §3
 * "progs"), after the prog_idr walk of progs.c:
 *
 *  - map_idr (kernel/bpf/syscall.c: DEFINE_IDR(map_idr)) in order; each map
 *    of type BPF_MAP_TYPE_STRUCT_OPS is a struct bpf_struct_ops_map
 *    (kernel/bpf/bpf_struct_ops.c) whose kvalue holds the state and the ops
 *    struct the kernel registers, and whose uvalue holds, in each implemented
 *    member's slot, the program id (bpf_struct_ops_map_update_elem():
 *    `*(unsigned long *)(udata + moff) = prog->aux->id`, on every kernel
 *    since 5.6). The member table is read from uvalue with the ops struct's
 *    layout, from the kernel's interfaces that discovery took from BTF
 *    (opstab.c: map->btf_vmlinux_value_type_id names bpf_struct_ops_<ops>,
 *    whose `data` member is the ops struct): it is
 *    what bpf_map_lookup_elem() shows the guest, on 5.16 as on 7.2. A
 *    module's ops struct (6.9+) is in the module's split BTF, which we do
 *    not read: its members come from st_map->links[] -> link->prog instead
 *    (funcs_cnt entries, one per implemented member, 6.9+).
 *  - sched_ext's current scheduler (structops-scx.c): up to 6.15 the static scx_ops (a copy of
 *    the ops struct, zeroed on disable) and scx_(ops_)enable_state_var; from
 *    6.16 scx_root (NULL when none) -> struct scx_sched, whose `ops` is the
 *    copy. The copy's function pointers are the registering map's
 *    trampolines, unique per map, so they name the instance; names never do.
 *    The state is read before and after the map walk: if it changed, the
 *    maps are walked once more, and a second change is reported as torn.
 *
 * Guest data is hostile: map_idr and links[] are capped, member counts are
 * capped at the kernel's BPF_STRUCT_OPS_MAX_NR_MEMBERS, the ops struct read
 * is bounded, a program id in a slot must be one the prog_idr walk found.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scx-internal.h"
#include "structops-internal.h"

const char *ktbpf_st_state_name(enum ktbpf_st_state st)
{
	switch (st) {
	case KTBPF_ST_INIT:
		return "init";
	case KTBPF_ST_INUSE:
		return "inuse";
	case KTBPF_ST_TOBEFREE:
		return "tobefree";
	case KTBPF_ST_READY:
		return "ready";
	default:
		return "unknown";
	}
}

void st_copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

/* The kernel's interface with ops struct type_id (opstab.c), or NULL. */
const struct st_layout *st_ops_layout(struct stwalk *w, uint32_t type_id)
{
	return ops_by_type(w->ops, type_id);
}

/* By binary search (progs are in id order). */
const struct ktbpf_prog *snap_prog_by_id(const struct ktbpf_snapshot *s, uint32_t id)
{
	size_t lo = 0, hi = s->nr_progs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->progs[mid].id == id)
			return &s->progs[mid];
		if (s->progs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The instance's interface: st_ops_desc->st_ops->name (6.9+) or st_ops->name. */
static int read_st_ops_name(struct stwalk *w, uint64_t map, char *buf, size_t size,
			    struct ktbpf_err *e)
{
	const struct ktbpf_st_offsets *st = w->st;
	uint64_t ops, name;
	int r;

	if (st->ops_name == KTBPF_OFFSET_NONE)
		return -ENOENT;
	if (st->stm_desc != KTBPF_OFFSET_NONE) {
		uint64_t desc;

		if (st->desc_st_ops == KTBPF_OFFSET_NONE)
			return -ENOENT;
		r = ktbpf_xlate_read_u64(w->x, map + st->stm_desc, &desc, e);
		if (r < 0)
			return r;
		r = ktbpf_xlate_read_u64(w->x, desc + st->desc_st_ops, &ops, e);
	} else {
		r = ktbpf_xlate_read_u64(w->x, map + st->stm_ops, &ops, e);
	}
	if (r < 0)
		return r;
	r = ktbpf_xlate_read_u64(w->x, ops + st->ops_name, &name, e);
	if (r < 0)
		return r;
	return ktbpf_xlate_read_str(w->x, name, buf, size, e);
}

/* Members from uvalue's slots: one read of the ops struct, program ids in it. */
static void members_from_uvalue(struct stwalk *w, struct ktbpf_st_instance *in,
				const struct st_layout *l)
{
	const struct st_fn_member *fm = l->m;
	uint8_t buf[OPS_READ_MAX];
	struct ktbpf_err e;
	uint64_t uvalue = in->uvalue_kva;
	uint32_t i, n = l->n;

	err_reset(&e);
	if (l->capped)
		snap_diag(w->s, -E2BIG, 0, in->kva,
			  "map %" PRIu32 ": struct %s has more than %d members "
			  "(BPF_STRUCT_OPS_MAX_NR_MEMBERS): the rest not read",
			  in->map_id, in->iface, KTBPF_MAX_OPS_MEMBERS);
	if (l->size > OPS_READ_MAX) {
		snap_diag(w->s, -E2BIG, 0, in->kva,
			  "map %" PRIu32 ": struct %s is %" PRIu32 " bytes (more than %u): "
			  "members not read",
			  in->map_id, in->iface, l->size, OPS_READ_MAX);
		return;
	}
	if (ktbpf_xlate_read(w->x, uvalue + w->st->val_data, buf, l->size, &e) < 0) {
		char what[64];

		snprintf(what, sizeof(what), "map %" PRIu32 ": uvalue unreadable", in->map_id);
		snap_diag_err(w->s, 0, &e, what);
		return;
	}
	for (i = 0; i < n; i++) {
		uint64_t id;

		if (fm[i].off + 8ull > l->size)
			continue;
		memcpy(&id, buf + fm[i].off, 8);
		if (!id)
			continue;
		if (id > INT_MAX_ID || !snap_prog_by_id(w->s, (uint32_t)id)) {
			snap_diag(w->s, -EUCLEAN, 0, uvalue,
				  "map %" PRIu32 ": member %s names prog %" PRIu64
				  ", not a struct_ops program of this walk (torn or corrupt?)",
				  in->map_id, fm[i].name ? fm[i].name : "?", id);
			continue;
		}
		st_copy_str(in->members[in->nr_members].member, KTBPF_IFACE_LEN, fm[i].name);
		in->members[in->nr_members].index = fm[i].index;
		in->members[in->nr_members].prog_id = (uint32_t)id;
		in->nr_members++;
	}
}

/* Members of a module's instance from links[]: each link's program names its member. */
static void members_from_links(struct stwalk *w, struct ktbpf_st_instance *in)
{
	const struct ktbpf_st_offsets *st = w->st;
	uint64_t links, ptrs[KTBPF_MAX_OPS_MEMBERS];
	struct ktbpf_err e;
	uint32_t cnt, i, j, k;

	err_reset(&e);
	if (st->stm_links == KTBPF_OFFSET_NONE || st->stm_funcs_cnt == KTBPF_OFFSET_NONE ||
	    st->link_prog == KTBPF_OFFSET_NONE) {
		snap_diag(w->s, -ENOENT, 0, in->kva,
			  "map %" PRIu32 ": a module's struct_ops, and the BTF lacks "
			  "bpf_struct_ops_map.links/funcs_cnt: members not read",
			  in->map_id);
		return;
	}
	if (ktbpf_xlate_read_u32(w->x, in->kva + st->stm_funcs_cnt, &cnt, &e) < 0 ||
	    ktbpf_xlate_read_u64(w->x, in->kva + st->stm_links, &links, &e) < 0)
		goto bad;
	if (cnt > KTBPF_MAX_OPS_MEMBERS) {
		snap_diag(w->s, -E2BIG, 0, in->kva,
			  "map %" PRIu32 ": funcs_cnt %" PRIu32 " is absurd, only %d links read",
			  in->map_id, cnt, KTBPF_MAX_OPS_MEMBERS);
		cnt = KTBPF_MAX_OPS_MEMBERS;
	}
	if (cnt && ktbpf_xlate_read(w->x, links, ptrs, 8ull * cnt, &e) < 0)
		goto bad;
	for (i = 0; i < cnt; i++) {
		const struct ktbpf_prog *p = NULL;
		uint64_t prog;

		if (!ptrs[i])
			continue;
		if (budget_take(w->s, 1 + w->s->nr_progs / 64, "struct_ops links[]"))
			return;
		err_reset(&e);
		if (ktbpf_xlate_read_u64(w->x, ptrs[i] + st->link_prog, &prog, &e) < 0)
			goto bad;
		for (j = 0; j < w->s->nr_progs && !p; j++)
			if (w->s->progs[j].kva == prog)
				p = &w->s->progs[j];
		if (!p) {
			snap_diag(w->s, -EUCLEAN, 0, ptrs[i],
				  "map %" PRIu32 ": link %" PRIu32 " points at 0x%" PRIx64
				  ", not a struct_ops program of this walk (torn or corrupt?)",
				  in->map_id, i, prog);
			continue;
		}
		/* Insert in member order. */
		for (k = in->nr_members; k > 0 && in->members[k - 1].index > p->member_index; k--)
			in->members[k] = in->members[k - 1];
		st_copy_str(in->members[k].member, KTBPF_IFACE_LEN, p->member);
		in->members[k].index = p->member_index;
		in->members[k].prog_id = p->id;
		in->nr_members++;
	}
	return;
bad:
	snap_diag_err(w->s, 0, &e, "struct_ops links[] unreadable");
}

/* Make room for one more instance; false (and capped) at the cap or out of memory. */
static bool instances_grow(struct stwalk *w)
{
	struct ktbpf_snapshot *s = w->s;
	struct ktbpf_st_instance *n;
	size_t cap;

	if (s->nr_instances < s->cap_instances)
		return true;
	if (s->nr_instances >= KTBPF_MAX_INSTANCES) {
		if (!w->instances_capped)
			snap_diag(s, -E2BIG, 0, 0,
				  "more than %d struct_ops instances: list incomplete",
				  KTBPF_MAX_INSTANCES);
		w->instances_capped = s->capped = true;
		return false;
	}
	cap = s->cap_instances ? s->cap_instances * 2 : 8;
	n = realloc(s->instances, cap * sizeof(*n));
	if (!n) {
		s->capped = true;
		snap_diag(s, -ENOMEM, 0, 0, "out of memory for %zu struct_ops instances", cap);
		return false;
	}
	s->instances = n;
	s->cap_instances = cap;
	return true;
}

/*
 * bpf_map's id, name and btf_vmlinux_value_type_id: neighbours in every
 * kernel (include/linux/bpf.h), so one read when they span at most 128
 * bytes, else three.
 */
static int read_map_head(struct stwalk *w, uint64_t kva, uint32_t *id, char *name, uint32_t *vvt,
			 struct ktbpf_err *e)
{
	const struct ktbpf_st_offsets *st = w->st;
	uint32_t o_id = st->map_id, o_name = w->o->map_name, o_vvt = st->map_vvt_id;
	uint32_t lo = o_id < o_name ? o_id : o_name, hi;
	uint8_t buf[128];
	int r;

	lo = lo < o_vvt ? lo : o_vvt;
	hi = o_id + 4;
	hi = hi > o_name + KTBPF_OBJ_NAME_LEN ? hi : o_name + KTBPF_OBJ_NAME_LEN;
	hi = hi > o_vvt + 4 ? hi : o_vvt + 4;
	if (hi - lo > sizeof(buf)) {
		if ((r = ktbpf_xlate_read_u32(w->x, kva + o_id, id, e)) < 0 ||
		    (r = ktbpf_xlate_read(w->x, kva + o_name, name, KTBPF_OBJ_NAME_LEN, e)) < 0)
			return r;
		return ktbpf_xlate_read_u32(w->x, kva + o_vvt, vvt, e);
	}
	r = ktbpf_xlate_read(w->x, kva + lo, buf, hi - lo, e);
	if (r < 0)
		return r;
	memcpy(id, buf + (o_id - lo), 4);
	memcpy(name, buf + (o_name - lo), KTBPF_OBJ_NAME_LEN);
	memcpy(vvt, buf + (o_vvt - lo), 4);
	return 0;
}

/*
 * kvalue's state and the uvalue pointer: one read when they are close (they
 * are neighbours in every kernel: uvalue is the member before kvalue).
 */
static int read_state(struct stwalk *w, uint64_t kva, uint32_t *state, uint64_t *uvalue,
		      struct ktbpf_err *e)
{
	const struct ktbpf_st_offsets *st = w->st;
	uint64_t lo = st->stm_uvalue, s_off = (uint64_t)st->stm_kvalue + st->val_state;
	uint8_t buf[128];
	int r;

	if (s_off > lo && s_off + 4 - lo <= sizeof(buf)) {
		r = ktbpf_xlate_read(w->x, kva + lo, buf, s_off + 4 - lo, e);
		if (r < 0)
			return r;
		memcpy(uvalue, buf, 8);
		memcpy(state, buf + (s_off - lo), 4);
		return 0;
	}
	r = ktbpf_xlate_read_u32(w->x, kva + s_off, state, e);
	return r < 0 ? r : ktbpf_xlate_read_u64(w->x, kva + lo, uvalue, e);
}

/* One struct_ops map: header, state, interface and members. */
static void visit_map(struct stwalk *w, uint64_t index, uint64_t kva)
{
	const struct ktbpf_st_offsets *st = w->st;
	char name[KTBPF_OBJ_NAME_LEN], opsname[KTBPF_IFACE_LEN];
	struct ktbpf_st_instance *in;
	uint32_t id, vvt, state;
	uint64_t uvalue;
	struct ktbpf_err e;
	const struct st_layout *l;

	err_reset(&e);
	if (read_map_head(w, kva, &id, name, &vvt, &e) < 0 ||
	    read_state(w, kva, &state, &uvalue, &e) < 0) {
		snap_diag_err(w->s, 0, &e, "struct_ops map unreadable, skipped");
		w->s->nr_skipped++;
		return;
	}
	if (id != index) {
		snap_diag(w->s, -EUCLEAN, 0, kva,
			  "map_idr entry %" PRIu64 " holds map id %" PRIu32 " (freed or torn?), "
			  "skipped",
			  index, id);
		w->s->nr_skipped++;
		return;
	}
	if (!instances_grow(w))
		return;
	in = &w->s->instances[w->s->nr_instances++];
	/* The members array (4 KiB) is written only up to nr_members. */
	memset(in, 0, offsetof(struct ktbpf_st_instance, members));
	in->kdata_kva = 0;
	in->ops_type_id = 0;
	in->uvalue_kva = uvalue;
	in->map_id = id;
	in->kva = kva;
	memcpy(in->name, name, KTBPF_OBJ_NAME_LEN);
	in->name[KTBPF_OBJ_NAME_LEN] = '\0';
	in->raw_state = state;
	in->state = state <= KTBPF_ST_READY ? (enum ktbpf_st_state)state : KTBPF_ST_UNKNOWN;
	if (in->state == KTBPF_ST_UNKNOWN)
		snap_diag(w->s, -EUCLEAN, 0, kva,
			  "map %" PRIu32 ": struct_ops state %" PRIu32 " is not one the kernel "
			  "writes",
			  id, state);
	in->kdata_kva = kva + st->stm_kvalue + st->val_data;
	l = ops_by_value(w->ops, vvt);
	if (l) {
		in->ops_type_id = l->type_id;
		st_copy_str(in->iface, sizeof(in->iface), l->name);
		members_from_uvalue(w, in, l);
		return;
	}
	/* Not a vmlinux type: a module's ops struct (its name from the kernel's descriptor). */
	in->module = true;
	err_reset(&e);
	opsname[0] = '\0';
	if (read_st_ops_name(w, kva, opsname, sizeof(opsname), &e) < 0)
		snap_diag(w->s, e.code ? e.code : -ENOENT, 0, e.has_addr ? e.addr : kva,
			  "map %" PRIu32 ": value type %" PRIu32 " is not in the kernel's BTF and "
			  "st_ops->name is unreadable: interface unknown%s%s",
			  id, vvt, e.msg[0] ? ": " : "", e.msg);
	st_copy_str(in->iface, sizeof(in->iface), opsname);
	members_from_links(w, in);
}

/* map_idr in order, struct_ops maps only (kernel/bpf/syscall.c: bpf_map_alloc_id()). */
static void walk_maps(struct stwalk *w)
{
	struct snap_idr it;
	uint64_t index, entry, head;
	struct ktbpf_err e;

	err_reset(&e);
	w->s->nr_instances = 0;
	w->instances_capped = false;
	if (ktbpf_xlate_read_u64(w->x, w->info->map_idr + w->o->idr_xa_head, &head, &e) < 0) {
		snap_diag_err(w->s, 0, &e, "map_idr unreadable, no struct_ops instances");
		return;
	}
	snap_idr_init(&it, w->s, w->x, &w->o->xa, head, KTBPF_MAX_MAPS, "map_idr", "maps",
		      "instances incomplete");
	while (snap_idr_next(&it, 2, &index, &entry)) {
		uint32_t type;

		err_reset(&e);
		if (ktbpf_xa_is_internal(entry) || ktbpf_xa_is_value(entry) || index > INT_MAX_ID) {
			snap_diag(w->s, -EUCLEAN, 0, entry,
				  "map_idr entry %" PRIu64 " is not a map pointer (0x%" PRIx64 ")",
				  index, entry);
			w->s->nr_skipped++;
			continue;
		}
		if (ktbpf_xlate_read_u32(w->x, entry + w->st->map_type, &type, &e) < 0) {
			snap_diag_err(w->s, 0, &e, "bpf_map unreadable, skipped");
			w->s->nr_skipped++;
			continue;
		}
		if (type == KTBPF_BPF_MAP_TYPE_STRUCT_OPS && !budget_take(w->s, 4, "map_idr"))
			visit_map(w, index, entry);
	}
	snap_idr_deinit(&it);
}

/* The instance at kva, or NULL. */
static struct ktbpf_st_instance *inst_by_kva(struct ktbpf_snapshot *s, uint64_t kva)
{
	size_t i;

	for (i = 0; i < s->nr_instances; i++)
		if (s->instances[i].kva == kva)
			return &s->instances[i];
	return NULL;
}

/*
 * link_idr (kernel/bpf/syscall.c: DEFINE_IDR(link_idr)): a map created with
 * BPF_F_LINK (6.4+, libbpf's SEC(".struct_ops.link")) stays READY when
 * attached; what attaches it is a struct bpf_struct_ops_link whose map is
 * set (kernel/bpf/bpf_struct_ops.c: bpf_struct_ops_link_create(); detach
 * clears it). The per-member links of update_elem() are never in link_idr.
 */
static void walk_links(struct stwalk *w)
{
	const struct ktbpf_st_offsets *st = w->st;
	struct snap_idr it;
	uint64_t index, entry, head;
	struct ktbpf_err e;

	err_reset(&e);
	if (!w->info->link_idr || st->stlink_map == KTBPF_OFFSET_NONE ||
	    st->link_type == KTBPF_OFFSET_NONE || st->link_id == KTBPF_OFFSET_NONE ||
	    !st->has_link_type_st_ops)
		return;
	if (ktbpf_xlate_read_u64(w->x, w->info->link_idr + w->o->idr_xa_head, &head, &e) < 0) {
		snap_diag_err(w->s, 0, &e, "link_idr unreadable: struct_ops links not known");
		return;
	}
	snap_idr_init(&it, w->s, w->x, &w->o->xa, head, KTBPF_MAX_MAPS, "link_idr", "links",
		      "links incomplete");
	while (snap_idr_next(&it, 4 + w->s->nr_instances / 64, &index, &entry)) {
		struct ktbpf_st_instance *in;
		uint32_t type, id;
		uint64_t map;

		err_reset(&e);
		if (ktbpf_xa_is_internal(entry) || ktbpf_xa_is_value(entry))
			continue;
		if (ktbpf_xlate_read_u32(w->x, entry + st->link_type, &type, &e) < 0 ||
		    ktbpf_xlate_read_u32(w->x, entry + st->link_id, &id, &e) < 0) {
			snap_diag_err(w->s, 0, &e, "bpf_link unreadable, skipped");
			w->s->nr_skipped++;
			continue;
		}
		if (type != (uint64_t)st->link_type_st_ops)
			continue;
		if (id != index ||
		    ktbpf_xlate_read_u64(w->x, entry + st->stlink_map, &map, &e) < 0) {
			snap_diag(w->s, -EUCLEAN, 0, entry,
				  "link_idr entry %" PRIu64
				  ": struct_ops link unreadable or id %" PRIu32
				  " (freed or torn?), skipped",
				  index, id);
			w->s->nr_skipped++;
			continue;
		}
		if (!map)
			continue; /* detached */
		in = inst_by_kva(w->s, map);
		if (!in) {
			snap_diag(w->s, -EUCLEAN, 0, entry,
				  "struct_ops link %" PRIu64 " points at 0x%" PRIx64
				  ", no struct_ops map of this walk (torn or corrupt?)",
				  index, map);
			continue;
		}
		in->linked = true;
	}
	snap_idr_deinit(&it);
}

/* <obj> of a map named <obj>.bss/.data/.rodata (tools/lib/bpf/libbpf.c: internal_map_name()). */
static bool obj_of_map_name(const char *name, char *obj)
{
	static const char *const sfx[] = {".bss", ".data", ".rodata"};
	size_t n = strlen(name), i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t l = strlen(sfx[i]);

		if (n > l && !strcmp(name + n - l, sfx[i])) {
			memcpy(obj, name, n - l);
			obj[n - l] = '\0';
			return true;
		}
	}
	return false;
}

/* The object of program p: the first of its used_maps named <obj>.bss/.data/.rodata. */
static bool obj_of_prog(struct stwalk *w, const struct ktbpf_prog *p, char *obj)
{
	uint64_t maps[KTBPF_MAX_USED_MAPS];
	struct ktbpf_err e;
	uint32_t i;

	err_reset(&e);
	if (!p->nr_maps || !p->used_maps_kva || budget_take(w->s, 1, "the instances' objects"))
		return false;
	if (ktbpf_xlate_read(w->x, p->used_maps_kva, maps, p->nr_maps * 8ull, &e) < 0) {
		snap_diag_err(w->s, p->id, &e, "used_maps array unreadable");
		return false;
	}
	for (i = 0; i < p->nr_maps; i++) {
		char name[KTBPF_OBJ_NAME_LEN];

		if (!maps[i])
			continue;
		if (budget_take(w->s, 1, "the instances' objects"))
			return false;
		err_reset(&e);
		if (ktbpf_xlate_read(w->x, maps[i] + w->o->map_name, name, sizeof(name), &e) < 0) {
			snap_diag_err(w->s, p->id, &e, "bpf_map.name unreadable");
			continue;
		}
		/* The kernel always terminates it (bpf_obj_name_cpy()): without a NUL it is junk.
		 */
		if (!memchr(name, '\0', sizeof(name))) {
			snap_diag(w->s, -EUCLEAN, p->id, maps[i],
				  "prog %" PRIu32 ": map name has no NUL, not matched", p->id);
			continue;
		}
		if (obj_of_map_name(name, obj))
			return true;
	}
	return false;
}

/*
 * Each instance's object, from its members' programs; and the interface of
 * programs that could not name it themselves (a module's, before aux->st_ops).
 */
static void resolve_objects(struct stwalk *w)
{
	size_t i;
	uint32_t m;

	for (i = 0; i < w->s->nr_instances; i++) {
		struct ktbpf_st_instance *in = &w->s->instances[i];

		for (m = 0; m < in->nr_members; m++) {
			struct ktbpf_prog *p =
				(struct ktbpf_prog *)snap_prog_by_id(w->s, in->members[m].prog_id);

			if (!p)
				continue;
			if (!p->iface[0])
				st_copy_str(p->iface, sizeof(p->iface), in->iface);
			if (!in->obj_name[0])
				obj_of_prog(w, p, in->obj_name);
		}
	}
}

/* sched_ext's state now: enable state, and the kernel's copy of the current ops. */
void structops_walk(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s)
{
	struct scx_view before, after;
	struct stwalk w = {
		.x = s->walker->x,
		.o = ktbpf_kernel_offsets(k),
		.ops = kernel_ops(k),
		.info = ktbpf_kernel_info(k),
		.s = s,
	};

	w.st = &w.o->st;
	s->scx.layout = st_scx_layout(&w);
	if (s->scx.layout != KTBPF_SCX_NONE) {
		if (!w.info->scx_enable_state || !w.st->has_scx_enum)
			snap_diag(s, -ENOENT, 0, 0,
				  "sched_ext's enable state is unknown (no scx_enable_state_var "
				  "symbol or enum in BTF)");
		st_scx_read(&w, s->scx.layout, &before);
	}
	if (!w.info->map_idr || !w.st->maps) {
		snprintf(s->active.reason, sizeof(s->active.reason),
			 "struct_ops instances cannot be read: %s",
			 !w.info->map_idr ? "no map_idr symbol"
					  : "the BTF lacks struct bpf_struct_ops_map's layout");
		snap_diag(s, -ENOENT, 0, 0, "%s", s->active.reason);
		if (s->scx.layout != KTBPF_SCX_NONE)
			s->scx.state = st_scx_state_of(w.st, &before);
		return;
	}
	walk_maps(&w);
	if (s->scx.layout != KTBPF_SCX_NONE) {
		st_scx_read(&w, s->scx.layout, &after);
		if (!st_scx_same(&before, &after)) {
			walk_maps(&w);
			st_scx_read(&w, s->scx.layout, &before);
			if (!st_scx_same(&before, &after)) {
				s->torn = true;
				snap_diag(s, -EAGAIN, 0, 0,
					  "sched_ext's state changed twice during the snapshot "
					  "(torn): the active scheduler may be stale");
			}
		}
	}
	walk_links(&w);
	resolve_objects(&w);
	st_choose_active(&w, &before);
	scx_state_walk(&w, k, &before);
	st_recheck_active(&w);
}
