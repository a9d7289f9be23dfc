/* SPDX-License-Identifier: MIT */
/*
 * The prog_idr walkers against kit guests whose truth the kit records:
 * every field of every struct_ops program, the active object rule, the
 * stats-enabled state, saturation and the possible CPUs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "kit-guest.h"
#include "ktbpf/progs.h"
#include "unit.h"

/* The active instance the kit's rule expects, and every instance field by field. */
static void assert_active(const struct kit_guest *g, const struct ktbpf_snapshot *s)
{
	uint32_t i, m;

	cr_assert_eq(s->nr_instances, g->nr_insts, "%zu instances, %u expected", s->nr_instances,
		     g->nr_insts);
	for (i = 0; i < g->nr_insts; i++) {
		const struct kit_guest_inst *t = &g->insts[i];
		const struct ktbpf_st_instance *in = &s->instances[i];

		cr_assert_eq(in->map_id, t->map_id);
		cr_assert_str_eq(in->name, t->spec.name);
		cr_assert_str_eq(in->iface, t->iface);
		cr_assert_eq(in->raw_state, t->spec.state);
		cr_assert_str_eq(in->obj_name, t->obj, "map %u object", t->map_id);
		cr_assert_eq(in->nr_members, t->nr_members, "map %u members", t->map_id);
		for (m = 0; m < t->nr_members; m++) {
			cr_assert_str_eq(in->members[m].member, t->member[m]);
			cr_assert_eq(in->members[m].prog_id, t->prog_id[m]);
		}
	}
	cr_assert_eq(s->active.attached, g->active_found);
	if (!g->active_found) {
		cr_assert_neq(s->active.reason[0], '\0', "nothing attached says why");
		return;
	}
	cr_assert_eq(s->active.map_id, g->active_map_id);
	cr_assert_eq(s->active.nr_instances, g->nr_active);
	for (i = 0; i < g->nr_active; i++)
		cr_assert_eq(s->active.map_ids[i], g->active_ids[i]);
	cr_assert_str_eq(s->active.obj_name, g->active_obj);
	cr_assert_str_eq(s->active.iface, g->active_iface);
}

Test(progs, default_guest_every_field_matches_truth)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s = unit_walk(g);

	unit_log_diags(s);
	cr_assert_eq(s->nr_progs, 4);
	unit_assert_progs(g, s);
	assert_active(g, s);
	cr_assert_eq(s->nr_diags, 0, "unexpected diagnostics");
	cr_assert_not(s->capped);
	cr_assert_eq(s->idr_entries, g->nr_progs, "idr entries (all types)");
	cr_assert_eq(s->stats, KTBPF_STATS_ENABLED);
	cr_assert_gt(s->walk_ns, 0);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* g's kernel discovered with hints->like = like; owned by the caller. */
static struct ktbpf_kernel *discover_like(struct kit_guest *g,
					  const struct ktbpf_kernel_facts *like)
{
	struct ktbpf_kernel_hints h = {.like = like};
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_kernel_discover(kit_mem(g->im), &h, &k, &err), 0, "%s", err.msg);
	return k;
}

/*
 * Two VMs of one kernel build (the same BTF bytes, another KASLR offset and
 * CPU count): the second takes the first's BTF facts instead of parsing its
 * BTF, even after the first kernel is gone, and walks to the same truth. A
 * guest with other BTF bytes parses its own.
 */
Test(progs, same_btf_shares_facts_and_walks_to_the_same_truth)
{
	struct kit_guest_opts bo = {
		.kernel = {.slide = 0x8000000, .image_pa = 64ull << 20, .nr_cpus = 8}};
	struct kit_guest_opts co = {.btf = KIT_BTF_V612_ANON};
	struct kit_guest *a = kit_guest_new(NULL), *b = kit_guest_new(&bo), *c = kit_guest_new(&co);
	struct ktbpf_kernel *ka = discover_like(a, NULL), *kb, *kc;
	struct ktbpf_kernel_facts *facts = ktbpf_kernel_facts_ref(ka);
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};

	cr_assert_not_null(facts);
	cr_assert_not(ktbpf_kernel_info(ka)->btf_shared);
	ktbpf_kernel_free(ka); /* the facts outlive it */
	kb = discover_like(b, facts);
	kc = discover_like(c, facts);
	cr_assert(ktbpf_kernel_info(kb)->btf_shared);
	cr_assert_not(ktbpf_kernel_info(kc)->btf_shared, "other BTF bytes: parsed, not shared");
	cr_assert_eq(ktbpf_kernel_info(kb)->kaslr_offset, 0x8000000);
	cr_assert_eq(ktbpf_kernel_info(kb)->nr_possible_cpus, 8);
	cr_assert_eq(ktbpf_kernel_info(kb)->btf_size,
		     ktbpf_kernel_info(kit_guest_kernel(b))->btf_size);
	cr_assert_eq(memcmp(ktbpf_kernel_offsets(kb), ktbpf_kernel_offsets(kit_guest_kernel(b)),
			    sizeof(struct ktbpf_offsets)),
		     0);
	ktbpf_kernel_facts_unref(facts);
	cr_assert_eq(ktbpf_progs_walk(kb, s, &err), 0, "%s", err.msg);
	unit_assert_progs(b, s);
	assert_active(b, s);
	cr_assert_eq(s->nr_diags, 0);
	cr_assert_eq(ktbpf_progs_walk(kc, s, &err), 0, "%s", err.msg);
	unit_assert_progs(c, s);
	ktbpf_snapshot_free(s);
	ktbpf_kernel_free(kb);
	ktbpf_kernel_free(kc);
	kit_guest_free(a);
	kit_guest_free(b);
	kit_guest_free(c);
}

/*
 * The forger's model: the unkeyed word mix facts were first matched by
 * (64-bit words multiplied and xor-shifted into the state), which a guest can
 * undo word by word.
 */
static uint64_t mixw(uint64_t w)
{
	w *= 0xff51afd7ed558ccdull;
	return w ^ (w >> 33);
}

static uint64_t unmixw(uint64_t m)
{
	uint64_t inv = 0xff51afd7ed558ccdull; /* its inverse mod 2^64, by Newton's method */

	for (int i = 0; i < 6; i++)
		inv *= 2 - 0xff51afd7ed558ccdull * inv;
	return (m ^ (m >> 33)) * inv;
}

static uint64_t unkeyed_step(uint64_t h, uint64_t w)
{
	h = (h ^ mixw(w)) * 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 29);
}

/*
 * A hostile guest of the same owner puts BTF bytes of another build's size
 * in its RAM, two words changed so that an unkeyed hash stays the same: its
 * facts (whatever offsets it likes) must not be taken for the honest guest,
 * and the honest guest's own facts not for it.
 */
Test(progs, forged_btf_with_an_unkeyed_hash_collision_shares_nothing)
{
	struct kit_guest *honest = kit_guest_new(NULL), *forged = kit_guest_new(NULL);
	uint64_t start = kit_kernel_symbol(forged->kk, "__start_BTF"),
		 stop = kit_kernel_symbol(forged->kk, "__stop_BTF");
	uint64_t pa = kit_kernel_kva_pa(forged->kk, start),
		 h = 0x9e3779b97f4a7c15ull ^ (stop - start);
	uint64_t j = ((stop - start) / 8) / 2, w0, w1, h1, h1f, w0f, w1f;
	struct ktbpf_kernel *kh = discover_like(honest, NULL), *kf;
	struct ktbpf_kernel_facts *facts = ktbpf_kernel_facts_ref(kh);

	cr_assert_gt(stop - start, 64);
	for (uint64_t i = 0; i < j; i++)
		h = unkeyed_step(h, kit_r64(forged->im, pa + i * 8));
	w0 = kit_r64(forged->im, pa + j * 8);
	w1 = kit_r64(forged->im, pa + j * 8 + 8);
	h1 = unkeyed_step(h, w0);
	w0f = w0 ^ 0x5a5a;
	h1f = unkeyed_step(h, w0f);
	w1f = unmixw(h1f ^ h1 ^ mixw(w1));
	cr_assert_eq(unkeyed_step(h1f, w1f), unkeyed_step(h1, w1), "the forgery collides");
	kit_w64(forged->im, pa + j * 8, w0f);
	kit_w64(forged->im, pa + j * 8 + 8, w1f);
	kf = discover_like(forged, facts);
	cr_assert_not(ktbpf_kernel_info(kf)->btf_shared,
		      "forged BTF bytes took another guest's facts");
	ktbpf_kernel_facts_unref(facts);
	ktbpf_kernel_free(kh);
	ktbpf_kernel_free(kf);
	kit_guest_free(honest);
	kit_guest_free(forged);
}

Test(progs, non_struct_ops_programs_skipped)
{
	struct kit_prog_spec specs[] = {
		{.id = 1, .type = 2},
		{.id = 2, .iface = KIT_IFACE_TCP, .member = 1, .obj = "cc"},
		{.id = 3, .type = 5},
		{.id = 4, .type = 26},
	};
	struct kit_guest_opts o = {.progs = specs, .nr_progs = 4};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);

	cr_assert_eq(s->nr_progs, 1);
	cr_assert_eq(s->progs[0].id, 2);
	cr_assert_str_eq(s->progs[0].member, "cong_avoid");
	cr_assert_eq(s->idr_entries, 4);
	unit_assert_progs(g, s);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(progs, ids_with_holes_across_xarray_levels_in_order)
{
	/* 63/64 straddle a leaf, 4100 and 300000 need two and four levels. */
	struct kit_prog_spec specs[] = {
		{.id = 63, .obj = "a"},
		{.id = 64, .iface = KIT_IFACE_TCP, .member = 3},
		{.id = 4100, .member = 5, .obj = "b"},
		{.id = 300000, .iface = KIT_IFACE_TCP, .member = 16, .obj = "c"},
	};
	struct kit_guest_opts o = {.progs = specs, .nr_progs = 4};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);

	unit_log_diags(s);
	cr_assert_eq(s->nr_progs, 4);
	unit_assert_progs(g, s);
	cr_assert_str_eq(s->progs[3].member, "init");
	assert_active(g, s);
	cr_assert_eq(s->active.source, KTBPF_ACTIVE_SCHED_EXT);
	cr_assert_str_eq(s->active.obj_name, "a");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(progs, counters_saturate_at_u64_max)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s;

	kit_guest_set_stats(g, 0, 0, UINT64_MAX - 5, UINT64_MAX, 7);
	kit_guest_set_stats(g, 0, 1, 10, 1, UINT64_MAX);
	s = unit_walk(g);
	cr_assert_eq(s->progs[0].cnt, UINT64_MAX);
	cr_assert_eq(s->progs[0].nsecs, UINT64_MAX);
	cr_assert_eq(s->progs[0].misses, UINT64_MAX);
	unit_assert_progs(g, s);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

static enum ktbpf_stats_state stats_state(enum kit_stats_key key, size_t *ret_diags)
{
	struct kit_guest_opts o = {.stats_key = key};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);
	enum ktbpf_stats_state r = s->stats;

	unit_assert_progs(g, s);
	*ret_diags = s->nr_diags;
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
	return r;
}

Test(progs, stats_enabled_disabled_unknown)
{
	size_t d;

	cr_assert_eq(stats_state(KIT_STATS_ENABLED, &d), KTBPF_STATS_ENABLED);
	cr_assert_eq(d, 0);
	cr_assert_eq(stats_state(KIT_STATS_DISABLED, &d), KTBPF_STATS_DISABLED);
	cr_assert_eq(d, 0);
	cr_assert_eq(stats_state(KIT_STATS_UNREADABLE, &d), KTBPF_STATS_UNKNOWN);
	cr_assert_eq(d, 1, "an unreadable key is reported");
}

Test(progs, snapshot_reused_without_reallocation)
{
	struct kit_guest_opts o = {.nr_struct_ops = 70};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);
	struct ktbpf_prog *first = s->progs;
	struct ktbpf_err err = {0};

	cr_assert_eq(s->nr_progs, 70);
	cr_assert_eq(ktbpf_progs_walk(kit_guest_kernel(g), s, &err), 0);
	cr_assert_eq(s->progs, first, "the program array is reused");
	cr_assert_eq(s->nr_progs, 70, "reset, not appended");
	unit_assert_progs(g, s);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(progs, walk_sees_counters_change_between_snapshots)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s = unit_walk(g);
	struct ktbpf_err err = {0};

	kit_guest_set_stats(g, 0, 3, 1ull << 40, 5, 0);
	cr_assert_eq(ktbpf_progs_walk(kit_guest_kernel(g), s, &err), 0);
	unit_assert_progs(g, s);
	cr_assert_geq(s->progs[0].cnt, 1ull << 40);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(progs, member_from_attach_func_name_when_btf_type_unknown)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct kit_guest_prog *t = &g->progs[0];
	struct ktbpf_snapshot *s;

	kit_kernel_w32(g->kk, t->aux_kva + g->lay.off.aux_attach_btf_id, 0x7ffff);
	s = unit_walk(g);
	/* The interface then comes from the instance that uses the program. */
	cr_assert_str_eq(s->progs[0].iface, t->iface);
	cr_assert_str_eq(s->progs[0].member, t->member);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(progs, layout_variants_l5_anon_members_no_misses_kmalloc_aux)
{
	struct kit_guest_opts o[] = {
		{.btf = KIT_BTF_V612_ANON, .kernel = {.l5 = true, .nr_cpus = 8}},
		{.btf = KIT_BTF_NO_MISSES, .aux_kmalloc = true},
		{.btf = KIT_BTF_SMALL_XA, .nr_struct_ops = 20},
		{.kernel = {.slide = 0x3e000000}, .nr_struct_ops = 9},
	};
	size_t i;

	for (i = 0; i < sizeof(o) / sizeof(o[0]); i++) {
		struct kit_guest *g = kit_guest_new(&o[i]);
		struct ktbpf_snapshot *s = unit_walk(g);

		cr_log_info("variant %zu", i);
		unit_log_diags(s);
		unit_assert_progs(g, s);
		assert_active(g, s);
		cr_assert_eq(s->nr_diags, 0, "variant %zu: diagnostics", i);
		if (o[i].btf == KIT_BTF_NO_MISSES)
			cr_assert_eq(s->progs[0].misses, 0);
		ktbpf_snapshot_free(s);
		kit_guest_free(g);
	}
}

Test(progs, walk_rejects_null_arguments)
{
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_progs_walk(NULL, NULL, &err), -EINVAL);
	cr_assert_null(ktbpf_snapshot_free(NULL));
}

/*
 * arm64 kit guests, found with no hints from VMCOREINFO alone, walk exactly
 * like x86_64 ones: Debian's 52-bit kernel running 48-bit (4 levels, PHYS_OFFSET
 * "negative") and running LPA2 (5 levels, a PAC mask), with a randomised
 * linear map, 1 and 4 CPUs, base- and place-relative kallsyms.
 */
Test(progs, aarch64_guests_48bit_and_lpa2_every_field_matches_truth)
{
	static const struct {
		unsigned int t1sz;
		uint64_t below;
		bool pac;
		uint32_t cpus;
		enum kit_kallsyms_enc enc;
		unsigned int levels;
	} cases[] = {
		{16, 0xf000000000000ull + (0x6c60ull << 32), false, 1, KIT_KALLSYMS_RELATIVE, 4},
		{12, 0, true, 4, KIT_KALLSYMS_RELATIVE, 5},
		{12, 0, true, 1, KIT_KALLSYMS_PLACE_RELATIVE, 5},
		{16, 0x40000000ull, false, 4, KIT_KALLSYMS_PLACE_RELATIVE, 4},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kit_guest_opts o = {.kernel = {.arch = KTBPF_ARCH_AARCH64,
						      .a64_t1sz = cases[i].t1sz,
						      .a64_phys_offset_below = cases[i].below,
						      .a64_pac = cases[i].pac,
						      .nr_cpus = cases[i].cpus,
						      .kallsyms_enc = cases[i].enc,
						      .slide = 0x1d10c400000ull}};
		struct kit_guest *g = kit_guest_new(&o);
		struct ktbpf_snapshot *s = unit_walk(g);
		const struct ktbpf_kernel_info *in = ktbpf_kernel_info(kit_guest_kernel(g));

		unit_log_diags(s);
		cr_assert_eq(in->arch, KTBPF_ARCH_AARCH64, "case %zu", i);
		cr_assert_eq(in->pgtable_levels, cases[i].levels, "case %zu", i);
		cr_assert_eq(in->layout_source, KTBPF_SRC_VMCOREINFO);
		cr_assert_eq(in->pgd_pa, g->kk->pgd_pa, "case %zu", i);
		cr_assert_eq(in->page_offset,
			     (int64_t)g->kk->phys_offset < 0 ? g->kk->page_offset
							     : (uint64_t)0 - (1ull << 52),
			     "case %zu: page_offset 0x%llx", i,
			     (unsigned long long)in->page_offset);
		cr_assert_eq(in->phys_base, g->kk->image_pa, "case %zu: the image shortcut", i);
		cr_assert_eq(in->nr_possible_cpus, cases[i].cpus);
		unit_assert_progs(g, s);
		assert_active(g, s);
		cr_assert_eq(s->nr_diags, 0, "case %zu: unexpected diagnostics", i);
		ktbpf_snapshot_free(s);
		kit_guest_free(g);
	}
}
