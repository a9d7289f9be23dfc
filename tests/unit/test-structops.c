/* SPDX-License-Identifier: MIT */
/*
 * The struct_ops instances and the active one as the kernel sees it
 * (lib/structops.c) against kit guests: which scheduler sched_ext really
 * runs (6.12's scx_ops and 6.16's scx_root), maps left INUSE after an
 * ejection, TCP congestion controls, a module's struct_ops, hostile map_idr
 * and instances, and a guest that changes during the snapshot.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "kit-guest.h"
#include "kit-wrap.h"
#include "ktbpf/progs.h"
#include "unit.h"

static const struct ktbpf_st_instance *inst(const struct ktbpf_snapshot *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nr_instances; i++)
		if (!strcmp(s->instances[i].name, name))
			return &s->instances[i];
	cr_assert_fail("no instance %s", name);
	return NULL;
}

/* s's instances and programs are g's truth (members by name and program id; counters). */
static void assert_truth(const struct ktbpf_snapshot *s, const struct kit_guest *g)
{
	cr_assert_eq(s->nr_instances, g->nr_insts);
	for (uint32_t i = 0; i < g->nr_insts; i++) {
		const struct ktbpf_st_instance *in = &s->instances[i];

		cr_assert_eq(in->map_id, g->insts[i].map_id);
		cr_assert_eq(in->nr_members, g->insts[i].nr_members);
		for (uint32_t m = 0; m < in->nr_members; m++) {
			cr_assert_str_eq(in->members[m].member, g->insts[i].member[m]);
			cr_assert_eq(in->members[m].prog_id, g->insts[i].prog_id[m]);
		}
	}
	cr_assert_eq(s->nr_progs, g->nr_struct_ops);
	for (size_t i = 0; i < s->nr_progs; i++) {
		const struct kit_guest_prog *t = kit_guest_prog(g, s->progs[i].id);

		cr_assert_not_null(t);
		cr_assert_str_eq(s->progs[i].member, t->member);
		cr_assert_eq(s->progs[i].cnt, t->cnt);
	}
}

/*
 * A snapshot keeps its walker (translator, ops struct layouts) between
 * walks: walking another kernel, even one discovered where a freed one was,
 * must use that kernel's layouts and memory, not the last one's.
 */
Test(structops, one_snapshot_walking_other_kernels_answers_from_each)
{
	struct kit_guest_opts oa = {.btf = KIT_BTF_V61}, ob = {.btf = KIT_BTF_V612_ANON};
	struct kit_guest *a = kit_guest_new(&oa), *b;
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};

	cr_assert_neq(a->lay.tcp_ops_id, 0);
	cr_assert_eq(ktbpf_progs_walk(kit_guest_kernel(a), s, &err), 0, "%s", err.msg);
	assert_truth(s, a);
	b = kit_guest_new(&ob);
	cr_assert_eq(ktbpf_progs_walk(kit_guest_kernel(b), s, &err), 0, "%s", err.msg);
	assert_truth(s, b);
	cr_assert_eq(ktbpf_progs_walk(kit_guest_kernel(a), s, &err), 0, "%s", err.msg);
	assert_truth(s, a);
	kit_guest_free(a);
	a = kit_guest_new(&oa); /* its kernel may land where b's or a's was */
	cr_assert_eq(ktbpf_progs_walk(kit_guest_kernel(a), s, &err), 0, "%s", err.msg);
	assert_truth(s, a);
	cr_assert_eq(ktbpf_progs_walk(kit_guest_kernel(b), s, &err), 0, "%s", err.msg);
	assert_truth(s, b);
	ktbpf_snapshot_free(s);
	kit_guest_free(a);
	kit_guest_free(b);
}

/* Two schedulers: "unused" loaded first (lower prog and map ids), only "used" attached. */
static const struct kit_prog_spec two_scheds[] = {
	{.id = 1, .iface = KIT_IFACE_SCX, .member = 0, .obj = "unused"},
	{.id = 2, .iface = KIT_IFACE_SCX, .member = 1, .obj = "unused"},
	{.id = 3, .iface = KIT_IFACE_SCX, .member = 0, .obj = "used"},
	{.id = 4, .iface = KIT_IFACE_SCX, .member = 3, .obj = "used"},
};
static const uint32_t unused_ids[] = {1, 2}, used_ids[] = {3, 4};
static const struct kit_st_spec two_insts[] = {
	{.name = "unused",
	 .iface = KIT_IFACE_SCX,
	 .state = KTBPF_ST_READY,
	 .prog_ids = unused_ids,
	 .nr_prog_ids = 2},
	{.name = "used",
	 .iface = KIT_IFACE_SCX,
	 .state = KTBPF_ST_READY,
	 .prog_ids = used_ids,
	 .nr_prog_ids = 2},
};

static void check_two_schedulers(enum kit_scx_layout layout, enum kit_btf_variant btf)
{
	struct kit_guest_opts o = {.progs = two_scheds,
				   .nr_progs = 4,
				   .instances = two_insts,
				   .nr_instances = 2,
				   .scx = layout,
				   .scx_attached = 2,
				   .btf = btf};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);
	const struct ktbpf_st_instance *used;

	unit_log_diags(s);
	cr_assert_eq(s->nr_diags, 0);
	cr_assert_eq(s->nr_instances, 2);
	used = inst(s, "used");
	cr_assert_lt(inst(s, "unused")->map_id, used->map_id, "the unused one has lower ids");
	cr_assert(s->active.attached);
	cr_assert_eq(s->active.source, KTBPF_ACTIVE_SCHED_EXT);
	cr_assert_eq(s->active.nr_instances, 1);
	cr_assert_eq(s->active.map_ids[0], used->map_id);
	cr_assert_eq(s->active.map_id, used->map_id);
	cr_assert_str_eq(s->active.obj_name, "used");
	cr_assert_str_eq(s->active.iface, "sched_ext_ops");
	cr_assert_str_eq(s->active.reason, "");
	cr_assert_eq(s->scx.layout, layout == KIT_SCX_ROOT ? KTBPF_SCX_ROOT : KTBPF_SCX_OPS);
	cr_assert_eq(s->scx.state, KTBPF_SCX_ENABLED);
	cr_assert_str_eq(s->scx.ops_name, "used");
	cr_assert_eq(s->scx.map_id, used->map_id);
	cr_assert_not(s->torn);
	cr_assert_eq(used->nr_members, 2);
	cr_assert_str_eq(used->members[0].member, "select_cpu");
	cr_assert_eq(used->members[0].prog_id, 3);
	cr_assert_str_eq(used->members[1].member, "dispatch");
	cr_assert_eq(used->members[1].prog_id, 4);
	cr_assert_eq(used->state, KTBPF_ST_READY);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(structops, attached_scheduler_is_active_not_the_lower_ids_scx_ops_layout)
{
	check_two_schedulers(KIT_SCX_OPS, KIT_BTF_V61);
}

Test(structops, attached_scheduler_is_active_not_the_lower_ids_scx_root_layout)
{
	check_two_schedulers(KIT_SCX_ROOT, KIT_BTF_V612_ANON);
}

/* The kernel ejected the scheduler: state DISABLED, its map still INUSE. */
Test(structops, scx_map_inuse_while_sched_ext_disabled_is_not_attached)
{
	static const uint32_t ids[] = {1, 2};
	static const struct kit_st_spec one[] = {
		{.name = "ejected",
		 .iface = KIT_IFACE_SCX,
		 .state = KTBPF_ST_INUSE,
		 .prog_ids = ids,
		 .nr_prog_ids = 2},
	};
	/* The copy still there (6.12 zeroes it late), and the copy gone. */
	uint32_t attached[] = {1, UINT32_MAX};
	size_t i;

	for (i = 0; i < 2; i++) {
		struct kit_guest_opts o = {.progs = two_scheds,
					   .nr_progs = 2,
					   .instances = one,
					   .nr_instances = 1,
					   .scx_attached = attached[i],
					   .scx_state_set = true,
					   .scx_state = 3};
		struct kit_guest *g = kit_guest_new(&o);
		struct ktbpf_snapshot *s = unit_walk(g);

		cr_assert_eq(s->nr_instances, 1);
		cr_assert_eq(s->instances[0].state, KTBPF_ST_INUSE);
		cr_assert_not(s->active.attached, "case %zu", i);
		cr_assert_eq(s->active.source, KTBPF_ACTIVE_NONE);
		cr_assert_eq(s->active.nr_instances, 0);
		cr_assert_str_eq(s->active.obj_name, "", "no loaded object is named");
		cr_assert(strstr(s->active.reason, "still inuse"), "%s", s->active.reason);
		cr_assert_eq(s->scx.state, KTBPF_SCX_DISABLED);
		cr_assert_eq(s->scx.map_id, 0);
		ktbpf_snapshot_free(s);
		kit_guest_free(g);
	}
}

/* A TCP congestion control registered (INUSE) and another only loaded (INIT). */
Test(structops, tcp_congestion_control_inuse_is_active)
{
	static const struct kit_prog_spec progs[] = {
		{.id = 1, .iface = KIT_IFACE_TCP, .member = 1, .obj = "idle"},
		{.id = 2, .iface = KIT_IFACE_TCP, .member = 0, .obj = "cc"},
		{.id = 3, .iface = KIT_IFACE_TCP, .member = 1, .obj = "cc"},
	};
	static const uint32_t idle_ids[] = {1}, cc_ids[] = {3, 2};
	static const struct kit_st_spec insts[] = {
		{.name = "idle",
		 .iface = KIT_IFACE_TCP,
		 .state = KTBPF_ST_INIT,
		 .prog_ids = idle_ids,
		 .nr_prog_ids = 1},
		{.name = "ktbpf_cc",
		 .iface = KIT_IFACE_TCP,
		 .state = KTBPF_ST_INUSE,
		 .prog_ids = cc_ids,
		 .nr_prog_ids = 2},
	};
	struct kit_guest_opts o = {.progs = progs,
				   .nr_progs = 3,
				   .instances = insts,
				   .nr_instances = 2,
				   .scx = KIT_SCX_NONE};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);
	const struct ktbpf_st_instance *cc;

	unit_log_diags(s);
	cr_assert_eq(s->nr_diags, 0);
	cr_assert_eq(s->scx.layout, KTBPF_SCX_NONE, "a kernel without sched_ext has no scx part");
	cc = inst(s, "ktbpf_cc");
	cr_assert(s->active.attached);
	cr_assert_eq(s->active.source, KTBPF_ACTIVE_INUSE);
	cr_assert_eq(s->active.nr_instances, 1);
	cr_assert_eq(s->active.map_ids[0], cc->map_id);
	cr_assert_str_eq(s->active.obj_name, "cc");
	cr_assert_str_eq(s->active.iface, "tcp_congestion_ops");
	cr_assert_str_eq(cc->members[0].member, "ssthresh", "member order, not id order");
	cr_assert_eq(cc->members[0].prog_id, 2);
	cr_assert_str_eq(cc->members[1].member, "cong_avoid");
	cr_assert_eq(inst(s, "idle")->state, KTBPF_ST_INIT);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(structops, nothing_loaded_says_so)
{
	struct kit_guest_opts o = {.no_instances = true};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);

	cr_assert_eq(s->nr_instances, 0);
	cr_assert_not(s->active.attached);
	cr_assert_str_eq(s->active.reason, "no struct_ops instance is loaded");
	cr_assert_eq(s->scx.state, KTBPF_SCX_DISABLED);
	cr_assert_str_eq(s->scx.ops_name, "");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* 6.16+: scx_root NULL while a scheduler is loaded but never attached. */
Test(structops, scx_root_null_means_no_scheduler)
{
	struct kit_guest_opts o = {.progs = two_scheds,
				   .nr_progs = 4,
				   .instances = two_insts,
				   .nr_instances = 2,
				   .scx = KIT_SCX_ROOT,
				   .scx_attached = UINT32_MAX,
				   .btf = KIT_BTF_V612_ANON};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);

	cr_assert_eq(s->scx.layout, KTBPF_SCX_ROOT);
	cr_assert_eq(s->scx.state, KTBPF_SCX_DISABLED);
	cr_assert_not(s->active.attached);
	cr_assert_eq(s->nr_instances, 2);
	cr_assert(strstr(s->active.reason, "none attached"), "%s", s->active.reason);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* Enabled, but the copy matches no map (its trampolines were changed): said, not guessed. */
Test(structops, scheduler_matching_no_map_is_reported)
{
	struct kit_guest_opts o = {.progs = two_scheds,
				   .nr_progs = 4,
				   .instances = two_insts,
				   .nr_instances = 2,
				   .scx_attached = 2};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s;

	kit_kernel_w64(g->kk, kit_guest_scx_copy_kva(g), 0xffffffffa0ffff00ull);
	s = unit_walk(g);
	cr_assert(s->active.attached);
	cr_assert_eq(s->active.nr_instances, 0);
	cr_assert_str_eq(s->active.obj_name, "");
	cr_assert(strstr(s->active.reason, "matches no struct_ops map"), "%s", s->active.reason);
	cr_assert(unit_has_diag(s, -ENOENT, 0, "matches no struct_ops map"));
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/*
 * A module's struct_ops interface (kit_mod_ops: 6.9+, not in vmlinux BTF) on
 * 6.12's BTF: programs 7, 8, ... of object modx at members[0], members[1],
 * ..., all held by the one INUSE instance mod_inst.
 */
static struct kit_guest *module_guest(const uint32_t *members, uint32_t n)
{
	struct kit_prog_spec progs[2] = {0};
	uint32_t ids[2];
	struct kit_st_spec inst = {.name = "mod_inst",
				   .iface = KIT_IFACE_MODULE,
				   .state = KTBPF_ST_INUSE,
				   .prog_ids = ids,
				   .nr_prog_ids = n};
	struct kit_guest_opts o = {.progs = progs,
				   .nr_progs = n,
				   .instances = &inst,
				   .nr_instances = 1,
				   .btf = KIT_BTF_V612_ANON};

	cr_assert_leq(n, 2);
	for (uint32_t i = 0; i < n; i++) {
		progs[i] = (struct kit_prog_spec){.id = 7 + i,
						  .iface = KIT_IFACE_MODULE,
						  .member = members[i],
						  .obj = "modx"};
		ids[i] = 7 + i;
	}
	return kit_guest_new(&o);
}

/* A module's struct_ops (6.9+): not in vmlinux BTF, still named. */
Test(structops, module_struct_ops_interface_and_members_named)
{
	struct kit_guest *g = module_guest((const uint32_t[]){2, 0}, 2);
	struct ktbpf_snapshot *s = unit_walk(g);
	const struct ktbpf_st_instance *in;

	unit_log_diags(s);
	cr_assert_eq(s->nr_diags, 0);
	cr_assert_eq(s->nr_progs, 2);
	cr_assert_str_eq(s->progs[0].iface, "kit_mod_ops", "from aux->st_ops");
	cr_assert_str_eq(s->progs[0].member, "handle");
	cr_assert_str_eq(s->progs[1].iface, "kit_mod_ops");
	cr_assert_str_eq(s->progs[1].member, "probe");
	in = inst(s, "mod_inst");
	cr_assert(in->module);
	cr_assert_str_eq(in->iface, "kit_mod_ops");
	cr_assert_eq(in->nr_members, 2);
	cr_assert_str_eq(in->members[0].member, "probe");
	cr_assert_eq(in->members[0].prog_id, 8);
	cr_assert_str_eq(in->members[1].member, "handle");
	cr_assert_eq(in->members[1].prog_id, 7);
	cr_assert_str_eq(in->obj_name, "modx");
	cr_assert(s->active.attached);
	cr_assert_eq(s->active.map_ids[0], in->map_id);
	cr_assert_str_eq(s->active.iface, "kit_mod_ops");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* Without aux->st_ops (6.9-6.12), a module's program is named by its instance. */
Test(structops, module_program_named_by_its_instance_without_aux_st_ops)
{
	struct kit_guest *g = module_guest((const uint32_t[]){1}, 1);
	struct ktbpf_snapshot *s;

	kit_kernel_w64(g->kk, g->progs[0].aux_kva + g->lay.off.st.aux_st_ops, 0);
	s = unit_walk(g);
	cr_assert_str_eq(s->progs[0].iface, "kit_mod_ops");
	cr_assert_str_eq(s->progs[0].member, "remove");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(structops, hostile_map_idr_node_pointing_at_itself_ends)
{
	struct kit_guest *g = kit_guest_new(NULL);
	uint64_t top = kit_xa_top(g->map_xa);
	struct ktbpf_snapshot *s;

	kit_xa_node_set(g->map_xa, top, 40, kit_xa_node_entry(top));
	s = unit_walk(g);
	cr_assert(s->nr_diags >= 1, "the loop is reported");
	cr_assert_eq(s->nr_instances, g->nr_insts, "the instances are all still found");
	cr_assert(s->active.attached);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(structops, hostile_wild_uvalue_and_slot_naming_no_program)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct kit_guest_inst *a = &g->insts[0], *b = &g->insts[1];
	const struct ktbpf_st_offsets *st = &g->lay.off.st;
	struct ktbpf_snapshot *s;

	kit_kernel_w64(g->kk, a->kva + st->stm_uvalue, 0xffffc90000000000ull + (1ull << 40));
	kit_kernel_w64(g->kk, b->uvalue_kva + st->val_data + 8, 999999);
	s = unit_walk(g);
	unit_log_diags(s);
	cr_assert_eq(s->nr_instances, g->nr_insts);
	cr_assert_eq(s->instances[0].nr_members, 0, "unreadable uvalue: no members, no guess");
	cr_assert(unit_has_diag(s, 0, 0, "uvalue unreadable"));
	cr_assert(unit_has_diag(s, -EUCLEAN, 0, "names prog 999999"));
	cr_assert_eq(s->instances[1].nr_members, b->nr_members - 1, "the bad slot is dropped");
	cr_assert(s->active.attached, "the scheduler is matched by its trampolines still");
	cr_assert_eq(s->active.map_ids[0], a->map_id);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(structops, hostile_absurd_funcs_cnt_and_state_capped)
{
	struct kit_guest *g = module_guest((const uint32_t[]){2}, 1);
	const struct ktbpf_st_offsets *st = &g->lay.off.st;
	struct ktbpf_snapshot *s;

	kit_kernel_w32(g->kk, g->insts[0].kva + st->stm_funcs_cnt, UINT32_MAX);
	kit_kernel_w32(g->kk, g->insts[0].kva + st->stm_kvalue + st->val_state, 77);
	s = unit_walk(g);
	cr_assert(unit_has_diag(s, -E2BIG, 0, "funcs_cnt"));
	cr_assert(unit_has_diag(s, -EUCLEAN, 0, "state 77"));
	cr_assert_leq(s->instances[0].nr_members, KTBPF_MAX_OPS_MEMBERS);
	cr_assert_eq(s->instances[0].state, KTBPF_ST_UNKNOWN);
	cr_assert_not(s->active.attached, "an unknown state is not INUSE");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* The guest runs while we read: the enable state flips on every read of it, or once. */
struct flip {
	struct kit_guest *g;
	uint64_t pa;
	int flips_left; /* -1: forever */
};

/* After each read through the wrapped table (kit-wrap.h): the guest moves on after the read. */
static void flip_trace(void *ctx, uint64_t pa, void *buf, size_t len)
{
	struct flip *f = ctx;
	uint32_t v;

	if (pa != f->pa || !f->flips_left)
		return;
	memcpy(&v, kit_ptr(f->g->im, pa, 4), 4);
	kit_w32(f->g->im, pa, v == 1 ? 3 : 1);
	if (f->flips_left > 0)
		f->flips_left--;
}

static struct ktbpf_snapshot *walk_flipping(struct kit_guest *g, int flips)
{
	struct flip f = {.g = g, .flips_left = flips};
	struct kit_wrap *w = kit_wrap_new(kit_mem(g->im), NULL, NULL);
	const struct ktbpf_kernel *k = kit_wrap_kernel(w);
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};

	f.pa = kit_kernel_kva_pa(g->kk, g->scx_state_kva);
	w->fn = flip_trace;
	w->ctx = &f;
	cr_assert_eq(ktbpf_progs_walk(k, s, &err), 0, "%s", err.msg);
	kit_wrap_free(w);
	return s;
}

Test(structops, torn_when_sched_ext_keeps_changing)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s = walk_flipping(g, -1);

	cr_assert(s->torn);
	cr_assert(unit_has_diag(s, -EAGAIN, 0, "torn"));
	/* What a program does about it: retry the walk (err.h: inconsistent). */
	for (size_t i = 0; i < s->nr_diags; i++)
		if (strstr(s->diags[i].msg, "torn"))
			cr_assert_eq(ktbpf_err_class(s->diags[i].code), KTBPF_ERR_INCONSISTENT);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(structops, one_change_during_the_walk_gives_a_consistent_answer)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s = walk_flipping(g, 1);

	/* Enabled -> disabled once: walked again, answered as disabled, not torn. */
	cr_assert_not(s->torn);
	cr_assert_eq(s->scx.state, KTBPF_SCX_DISABLED);
	cr_assert_eq(s->active.source, KTBPF_ACTIVE_INUSE, "the TCP instance, not the scheduler");
	cr_assert_str_eq(s->active.obj_name, "kitcc");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* An ops struct wider than the kernel allows (hostile BTF): capped, said, members still read. */
Test(structops, hostile_ops_struct_with_absurd_member_count_capped)
{
	struct kit_guest_opts o = {.btf = KIT_BTF_WIDE_OPS};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);
	const struct kit_guest_inst *cc = &g->insts[1];

	cr_assert_str_eq(cc->iface, "tcp_congestion_ops");
	cr_assert(unit_has_diag(s, -E2BIG, 0, "more than 64 members"));
	cr_assert_eq(s->instances[1].nr_members, cc->nr_members, "the members below the cap");
	cr_assert_leq(s->instances[1].nr_members, KTBPF_MAX_OPS_MEMBERS);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* An instance's state changes between its read and the check after the choice. */
struct flip_state {
	struct kit_guest *g;
	uint64_t pa;
	int reads;
};

/*
 * Reads covering the state: the walk's and the check's, which sees
 * TOBEFREE (the guest wrote it just before: in RAM and in the bytes read).
 */
static void flip_state_trace(void *ctx, uint64_t pa, void *buf, size_t len)
{
	struct flip_state *f = ctx;
	uint32_t v = KTBPF_ST_TOBEFREE;

	if (f->pa >= pa && f->pa + 4 <= pa + len && ++f->reads == 2) {
		kit_w32(f->g->im, f->pa, v);
		memcpy((uint8_t *)buf + (f->pa - pa), &v, 4);
	}
}

Test(structops, torn_when_the_active_instance_changes_state)
{
	struct kit_guest_opts o = {.scx = KIT_SCX_NONE};
	struct kit_guest *g = kit_guest_new(&o);
	const struct kit_guest_inst *cc = &g->insts[1];
	const struct ktbpf_st_offsets *st = &g->lay.off.st;
	struct flip_state f = {.g = g};
	struct kit_wrap *w = kit_wrap_new(kit_mem(g->im), NULL, NULL);
	const struct ktbpf_kernel *k = kit_wrap_kernel(w);
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};

	cr_assert_eq(cc->spec.state, KTBPF_ST_INUSE);
	f.pa = kit_kernel_kva_pa(g->kk, cc->kva + st->stm_kvalue + st->val_state);
	w->fn = flip_state_trace;
	w->ctx = &f;
	cr_assert_eq(ktbpf_progs_walk(k, s, &err), 0, "%s", err.msg);
	kit_wrap_free(w);
	unit_log_diags(s);
	cr_assert_eq(f.reads, 2, "read once in the walk, once to check");
	cr_assert(s->torn);
	cr_assert(unit_has_diag(s, -EAGAIN, 0, "state changed"));
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/*
 * SEC(".struct_ops.link") maps stay READY when attached: a struct_ops link
 * in link_idr is what attaches them. A linked sched_ext map still needs the
 * kernel's scheduler to be it.
 */
Test(structops, ready_instance_attached_by_a_link_is_active)
{
	static const struct kit_prog_spec progs[] = {
		{.id = 1, .iface = KIT_IFACE_TCP, .member = 1, .obj = "loose"},
		{.id = 2, .iface = KIT_IFACE_TCP, .member = 1, .obj = "linkcc"},
		{.id = 3, .iface = KIT_IFACE_SCX, .member = 0, .obj = "sch"},
	};
	static const uint32_t loose_ids[] = {1}, link_ids[] = {2}, sch_ids[] = {3};
	static const struct kit_st_spec insts[] = {
		{.name = "loose",
		 .iface = KIT_IFACE_TCP,
		 .state = KTBPF_ST_READY,
		 .prog_ids = loose_ids,
		 .nr_prog_ids = 1},
		{.name = "linkcc",
		 .iface = KIT_IFACE_TCP,
		 .state = KTBPF_ST_READY,
		 .prog_ids = link_ids,
		 .nr_prog_ids = 1,
		 .linked = true},
		{.name = "sch",
		 .iface = KIT_IFACE_SCX,
		 .state = KTBPF_ST_READY,
		 .prog_ids = sch_ids,
		 .nr_prog_ids = 1,
		 .linked = true},
	};
	struct kit_guest_opts o = {.progs = progs,
				   .nr_progs = 3,
				   .instances = insts,
				   .nr_instances = 3,
				   .scx_attached = UINT32_MAX,
				   .btf = KIT_BTF_V612_ANON};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);

	unit_log_diags(s);
	cr_assert_eq(s->nr_diags, 0);
	cr_assert_not(inst(s, "loose")->linked);
	cr_assert(inst(s, "linkcc")->linked);
	cr_assert(inst(s, "sch")->linked);
	cr_assert(s->active.attached);
	cr_assert_eq(s->active.source, KTBPF_ACTIVE_INUSE);
	cr_assert_eq(s->active.nr_instances, 1, "only the linked TCP cc; the scheduler is off");
	cr_assert_eq(s->active.map_id, inst(s, "linkcc")->map_id);
	cr_assert_str_eq(s->active.obj_name, "linkcc");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}
