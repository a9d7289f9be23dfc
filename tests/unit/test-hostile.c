/* SPDX-License-Identifier: MIT */
/*
 * Hostile guests: every corruption must end in a bounded walk that reports
 * what it skipped (a diagnostic naming the program and address) and still
 * answers for the programs that were not touched. Never a crash or a hang.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "kit-guest.h"
#include "ktbpf/progs.h"
#include "unit.h"

#define UNMAPPED_VMALLOC 0xffffc90fffff0000ull

/* A walk whose diagnostics are in the test's log, to explain a failure. */
static struct ktbpf_snapshot *walk(struct kit_guest *g)
{
	struct ktbpf_snapshot *s = unit_walk(g);

	unit_log_diags(s);
	return s;
}

static const struct ktbpf_prog *find(const struct ktbpf_snapshot *s, uint32_t id)
{
	size_t i;

	for (i = 0; i < s->nr_progs; i++)
		if (s->progs[i].id == id)
			return &s->progs[i];
	return NULL;
}

/* Every struct_ops program except `skip` is reported exactly as the truth says. */
static void assert_others(const struct kit_guest *g, const struct ktbpf_snapshot *s, uint32_t skip)
{
	uint32_t i;

	for (i = 0; i < g->nr_progs; i++) {
		const struct kit_guest_prog *t = &g->progs[i];
		const struct ktbpf_prog *p = find(s, t->id);

		if (!t->struct_ops || t->id == skip)
			continue;
		cr_assert_not_null(p, "untouched prog %u lost", t->id);
		cr_assert_str_eq(p->name, t->name);
		cr_assert_eq(p->verified_insns, t->verified_insns);
		cr_assert_str_eq(p->member, t->member);
		cr_assert_eq(p->cnt, t->cnt, "prog %u cnt", t->id);
		cr_assert_eq(p->nsecs, t->nsecs);
		cr_assert(p->stats_valid);
	}
}

/*
 * Nothing invented: every struct_ops program is either reported exactly as
 * the truth says or named by a diagnostic.
 */
static void assert_true_or_diagnosed(const struct kit_guest *g, const struct ktbpf_snapshot *s)
{
	uint32_t i;

	for (i = 0; i < g->nr_progs; i++) {
		const struct kit_guest_prog *t = &g->progs[i];
		const struct ktbpf_prog *p = find(s, t->id);

		if (!t->struct_ops)
			continue;
		if (!p) {
			cr_assert(unit_has_diag(s, 0, t->id, NULL), "prog %u vanished silently",
				  t->id);
			continue;
		}
		cr_assert_str_eq(p->name, t->name);
		cr_assert_eq(p->verified_insns, t->verified_insns);
		cr_assert(p->stats_valid || unit_has_diag(s, 0, t->id, NULL));
		if (p->stats_valid)
			cr_assert_eq(p->cnt, t->cnt, "prog %u cnt", t->id);
	}
}

Test(hostile, xarray_node_pointing_at_itself_ends)
{
	struct kit_guest *g = kit_guest_new(NULL);
	uint64_t top = kit_xa_top(g->xa);
	struct ktbpf_snapshot *s;

	kit_xa_node_set(g->xa, top, 40, kit_xa_node_entry(top));
	s = walk(g);
	assert_others(g, s, 0);
	cr_assert_eq(s->nr_progs, 4);
	cr_assert(s->nr_diags >= 1, "the loop is reported");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, xarray_leaf_pointing_at_root_ends)
{
	struct kit_prog_spec specs[] = {{.id = 5, .obj = "x"}, {.id = 4100}, {.id = 9000}};
	struct kit_guest_opts o = {.progs = specs, .nr_progs = 3};
	struct kit_guest *g = kit_guest_new(&o);
	uint64_t leaf = kit_xa_leaf_node(g->xa, 4100);
	struct ktbpf_snapshot *s;

	kit_xa_node_set(g->xa, leaf, 60, kit_xa_head(g->xa));
	s = walk(g);
	assert_others(g, s, 0);
	cr_assert(s->nr_diags >= 1);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, xarray_node_with_absurd_shift_skipped)
{
	struct kit_prog_spec specs[] = {{.id = 5, .obj = "x"}, {.id = 4100}, {.id = 9000}};
	struct kit_guest_opts o = {.progs = specs, .nr_progs = 3};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s;

	kit_xa_node_set_shift(g->xa, kit_xa_leaf_node(g->xa, 4100), 200);
	s = walk(g);
	cr_assert_not_null(find(s, 5));
	cr_assert_null(find(s, 4100), "a program under a corrupt node is not invented");
	cr_assert(s->nr_diags >= 1);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, page_table_loop_under_aux_is_bounded)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct kit_guest_prog *t = &g->progs[0];
	unsigned int depth = kit_pt_levels(g->kk->pt) - 2;
	struct ktbpf_snapshot *s;

	/* The PMD entry of aux points back at the top-level table. */
	kit_pt_set_entry(g->kk->pt, t->aux_kva, depth,
			 kit_pt_table_entry(g->kk->pt, kit_pt_root_pa(g->kk->pt)));
	s = walk(g);
	cr_assert_null(find(s, t->id));
	cr_assert(unit_has_diag(s, 0, t->id, NULL), "prog %u skipped with a diagnostic", t->id);
	assert_true_or_diagnosed(g, s);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, page_table_pointing_outside_ram)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct kit_guest_prog *t = &g->progs[1];
	unsigned int depth = kit_pt_levels(g->kk->pt) - 2;
	struct ktbpf_snapshot *s;
	size_t i;

	kit_pt_set_entry(g->kk->pt, t->kva, depth, kit_pt_table_entry(g->kk->pt, 1ull << 40));
	s = walk(g);
	cr_assert_null(find(s, t->id));
	cr_assert(unit_has_diag(s, -EFAULT, t->id, NULL));
	for (i = 0; i < s->nr_diags; i++)
		if (s->diags[i].prog_id == t->id)
			cr_assert_eq(s->diags[i].addr, 1ull << 40, "the table's PA is named");
	assert_true_or_diagnosed(g, s);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, idr_entry_outside_ram)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s;

	kit_xa_store(g->xa, 3, g->kk->page_offset + (64ull << 30));
	kit_xa_store(g->xa, 6, UNMAPPED_VMALLOC);
	s = walk(g);
	cr_assert(unit_has_diag(s, 0, 3, NULL));
	cr_assert(unit_has_diag(s, 0, 6, NULL));
	assert_others(g, s, 0);
	cr_assert_eq(s->nr_progs, 4);
	cr_assert_eq(s->nr_skipped, 2, "each unreadable entry may hide a program: counted");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, wild_aux_stats_and_used_maps_pointers)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct ktbpf_offsets *o = &g->lay.off;
	const struct kit_guest_prog *a = &g->progs[0], *b = &g->progs[2], *c = &g->progs[4];
	struct ktbpf_snapshot *s;
	const struct ktbpf_prog *p;

	kit_kernel_w64(g->kk, a->kva + o->prog_aux, UNMAPPED_VMALLOC);
	kit_kernel_w64(g->kk, b->kva + o->prog_stats, 0x7ff0000000000000ull);
	kit_kernel_w64(g->kk, c->aux_kva + o->aux_used_maps, UNMAPPED_VMALLOC);
	s = walk(g);
	cr_assert_null(find(s, a->id));
	cr_assert(unit_has_diag(s, 0, a->id, NULL));
	p = find(s, b->id);
	cr_assert_not_null(p);
	cr_assert_not(p->stats_valid, "unreadable stats are not reported as zeros");
	cr_assert_eq(p->cpus_read, 0);
	cr_assert(unit_has_diag(s, 0, b->id, NULL));
	cr_assert_not_null(find(s, c->id));
	cr_assert(unit_has_diag(s, 0, c->id, NULL));
	/* The scheduler stays attached; its programs a and c cannot name its object: no guess. */
	cr_assert(s->active.attached);
	cr_assert_eq(s->active.source, KTBPF_ACTIVE_SCHED_EXT);
	cr_assert_str_eq(s->active.obj_name, "");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, idr_next_absurd_is_reported_and_walk_completes)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s;

	kit_kernel_w32(g->kk, g->prog_idr + g->lay.off.idr_next, UINT32_MAX);
	s = walk(g);
	cr_assert(unit_has_diag(s, -EUCLEAN, 0, NULL));
	cr_assert_eq(s->nr_progs, 4);
	assert_others(g, s, 0);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, used_map_cnt_absurd_is_capped)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct kit_guest_prog *t = &g->progs[0];
	struct ktbpf_snapshot *s;

	kit_kernel_w32(g->kk, t->aux_kva + g->lay.off.aux_used_map_cnt, UINT32_MAX);
	s = walk(g);
	cr_assert_eq(find(s, t->id)->nr_maps, KTBPF_MAX_USED_MAPS);
	cr_assert(unit_has_diag(s, -E2BIG, t->id, NULL));
	cr_assert_leq(s->active.nr_instances, KTBPF_MAX_ACTIVE);
	assert_others(g, s, 0);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, name_without_nul_cut_at_16)
{
	struct kit_prog_spec specs[] = {{.id = 1, .name = "abcdefghijklmnop", .obj = "o"}};
	struct kit_guest_opts o = {.progs = specs, .nr_progs = 1};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = walk(g);

	cr_assert_eq(s->nr_progs, 1);
	cr_assert_str_eq(s->progs[0].name, "abcdefghijklmnop");
	cr_assert(s->progs[0].name_truncated);
	cr_assert(unit_has_diag(s, -EUCLEAN, 1, NULL));
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, map_name_without_nul_does_not_match_or_overrun)
{
	struct kit_prog_spec specs[] = {{.id = 1, .obj = "o"}};
	struct kit_guest_opts o = {.progs = specs, .nr_progs = 1};
	struct kit_guest *g = kit_guest_new(&o);
	const struct kit_guest_prog *t = &g->progs[0];
	struct ktbpf_snapshot *s;
	uint32_t i;

	for (i = 0; i < t->nr_maps; i++)
		kit_kernel_wkva(g->kk, t->map_kvas[i] + g->lay.off.map_name, "XXXXXXXXXXXX.bssZ",
				17);
	s = walk(g);
	cr_assert_str_eq(s->active.obj_name, "", "no object from junk names");
	cr_assert(unit_has_diag(s, -EUCLEAN, 1, NULL));
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, counters_at_u64_max_on_every_cpu)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 8}};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s;
	uint32_t cpu;

	for (cpu = 0; cpu < g->nr_cpus; cpu++)
		kit_guest_set_stats(g, 0, cpu, UINT64_MAX, UINT64_MAX, UINT64_MAX);
	s = walk(g);
	cr_assert_eq(s->progs[0].cnt, UINT64_MAX);
	cr_assert_eq(s->progs[0].nsecs, UINT64_MAX);
	cr_assert_eq(s->progs[0].misses, UINT64_MAX);
	cr_assert_eq(s->progs[0].cpus_read, 8);
	assert_others(g, s, 0);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, region_gap_under_aux_and_one_cpu_stats)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct kit_guest_prog *a = &g->progs[2], *b = &g->progs[4];
	uint64_t cpu1 = b->stats_template + g->kk->percpu_offset[1];
	const struct ktbpf_prog *p;
	struct ktbpf_snapshot *s;

	kit_guest_punch_hole(g, a->aux_kva, 8);
	kit_guest_punch_hole(g, cpu1, g->lay.stats_size);
	s = walk(g);
	cr_assert_null(find(s, a->id));
	cr_assert(unit_has_diag(s, -EFAULT, a->id, NULL));
	p = find(s, b->id);
	cr_assert_not_null(p);
	cr_assert_not(p->stats_valid);
	cr_assert_eq(p->cpus_read, g->nr_cpus - 1);
	cr_assert(unit_has_diag(s, -EFAULT, b->id, NULL));
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, aux_back_pointer_or_id_mismatch_skipped)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct kit_guest_prog *a = &g->progs[0], *b = &g->progs[2];
	struct ktbpf_snapshot *s;

	kit_kernel_w64(g->kk, a->aux_kva + g->lay.off.aux_prog, b->kva);
	kit_kernel_w32(g->kk, b->aux_kva + g->lay.off.aux_id, 999);
	s = walk(g);
	cr_assert_null(find(s, a->id));
	cr_assert_null(find(s, b->id));
	cr_assert(unit_has_diag(s, -EUCLEAN, a->id, NULL));
	cr_assert(unit_has_diag(s, -EUCLEAN, b->id, NULL));
	cr_assert_eq(s->nr_progs, 2);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, value_and_internal_entries_in_idr)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s;

	kit_xa_store(g->xa, 3, kit_xa_value(12345));
	s = walk(g);
	cr_assert(unit_has_diag(s, -EUCLEAN, 3, NULL));
	cr_assert_eq(s->nr_progs, 4);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, idr_head_outside_ram)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s;

	kit_kernel_w64(g->kk, g->prog_idr + g->lay.off.idr_xa_head,
		       kit_xa_node_entry(UNMAPPED_VMALLOC));
	s = walk(g);
	cr_assert_eq(s->nr_progs, 0);
	cr_assert(s->nr_diags >= 1);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, more_than_max_progs_is_capped, .timeout = 60)
{
	struct kit_prog_spec specs[] = {{.id = 1, .type = 2}};
	struct kit_guest_opts o = {.progs = specs, .nr_progs = 1, .ram_size = 256ull << 20};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s;
	uint64_t i;

	for (i = 2; i <= KTBPF_MAX_PROGS + 10ull; i++)
		kit_xa_store(g->xa, i, g->progs[0].kva);
	kit_kernel_w64(g->kk, g->prog_idr + g->lay.off.idr_xa_head, kit_xa_head(g->xa));
	s = walk(g);
	cr_assert(s->capped);
	cr_assert_eq(s->idr_entries, KTBPF_MAX_PROGS);
	cr_assert(unit_has_diag(s, -E2BIG, 0, NULL));
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, many_diagnostics_are_counted_not_overflowed)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s;
	uint64_t i;

	for (i = 0; i < 100; i++)
		kit_xa_store(g->xa, 200 + i, UNMAPPED_VMALLOC + i * 4096);
	kit_kernel_w64(g->kk, g->prog_idr + g->lay.off.idr_xa_head, kit_xa_head(g->xa));
	s = walk(g);
	cr_assert_eq(s->nr_diags, KTBPF_MAX_DIAGS);
	cr_assert_eq(s->diags_dropped, 100 - KTBPF_MAX_DIAGS);
	assert_others(g, s, 0);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/*
 * used_map_cnt says maps but used_maps is NULL (torn or corrupt aux): the
 * program cannot be the active object, and a diagnostic must say why
 * instead of the choice silently falling to a later program.
 */
Test(hostile, used_maps_null_with_count_is_diagnosed)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct kit_guest_prog *a = &g->progs[0];
	struct ktbpf_snapshot *s;

	cr_assert_gt(a->nr_maps, 0);
	kit_kernel_w64(g->kk, a->aux_kva + g->lay.off.aux_used_maps, 0);
	s = walk(g);
	cr_assert_not_null(find(s, a->id));
	cr_assert(unit_has_diag(s, -EUCLEAN, a->id, NULL),
		  "NULL used_maps with a count is not silent");
	cr_assert_str_eq(s->active.obj_name, "kitsched", "named by the instance's other program");
	assert_others(g, s, 0);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/*
 * The worst images for the caps' product: 65536 programs x 8192 CPUs whose
 * stats share one per-CPU pointer (no two neighbours, one read each): half a
 * billion reads without a budget. Either readable (the reads are cheap, the
 * read budget stops the walk) or unmapped (every read walks the page tables
 * and fails, the time budget stops it). The default budget ends the walk
 * within its time, capped, naming the budget.
 */
static struct kit_guest *worst_guest(uint64_t stats)
{
	struct kit_prog_spec specs[] = {{.id = 1, .obj = "w"}};
	struct kit_guest_opts o = {.progs = specs,
				   .nr_progs = 1,
				   .ram_size = 512ull << 20,
				   .kernel = {.nr_cpus = KTBPF_MAX_CPUS, .percpu_unit = 3 << 12}};
	struct kit_guest *g = kit_guest_new(&o);

	kit_guest_flood(g, KTBPF_MAX_PROGS - 1, stats);
	if (stats)
		kit_kernel_w64(g->kk, g->progs[0].kva + g->lay.off.prog_stats, stats);
	return g;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void assert_within_default_budget(uint64_t stats)
{
	struct kit_guest *g = worst_guest(stats);
	struct ktbpf_snapshot *s;
	uint64_t cpu;

	kit_guest_kernel(g);
	cpu = thread_cpu_ns();
	s = walk(g);
	cpu = thread_cpu_ns() - cpu;
	cr_log_info("worst image: %zu programs, %" PRIu64 " reads, %" PRIu64 " us (CPU %" PRIu64
		    " us)",
		    s->nr_progs, s->reads, s->walk_ns / 1000, cpu / 1000);
	cr_assert(s->capped);
	cr_assert(s->over_budget);
	cr_assert(unit_has_diag(s, -ETIME, 0, NULL));
	cr_assert_leq(s->reads, KTBPF_BUDGET_READS_DEFAULT);
	/* The clock is read every 256 reads: the walk ends soon after its CPU time is spent. */
	cr_assert_lt(cpu, KTBPF_BUDGET_NS_DEFAULT + 25ull * 1000 * 1000, "walk took %" PRIu64 " us",
		     cpu / 1000);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, worst_image_ends_within_the_default_budget, .timeout = 120)
{
	assert_within_default_budget(0);
}

Test(hostile, worst_image_with_unmapped_stats_ends_within_the_default_budget, .timeout = 120)
{
	assert_within_default_budget(UNMAPPED_VMALLOC);
}

Test(hostile, read_budget_stops_the_walk_and_says_so, .timeout = 120)
{
	struct kit_guest *g = worst_guest(0);
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};
	size_t i;

	cr_assert_not_null(s);
	s->budget.max_reads = 100000;
	s->budget.max_ns = 0;
	cr_assert_eq(ktbpf_progs_walk(kit_guest_kernel(g), s, &err), 0, "%s", err.msg);
	cr_assert(s->capped);
	cr_assert(s->over_budget);
	cr_assert(unit_has_diag(s, -ETIME, 0, NULL));
	cr_assert_leq(s->reads, 100000);
	cr_assert_gt(s->reads, 100000 - 64);
	/* Programs whose CPUs were not all read are not passed off as summed. */
	for (i = 0; i < s->nr_progs; i++)
		if (s->progs[i].cpus_read != KTBPF_MAX_CPUS)
			cr_assert_not(s->progs[i].stats_valid, "prog %u", s->progs[i].id);
	/* A budget kept across walks: the same walk again stops at the same place. */
	i = s->nr_progs;
	cr_assert_eq(ktbpf_progs_walk(kit_guest_kernel(g), s, &err), 0, "%s", err.msg);
	cr_assert(s->over_budget);
	cr_assert_eq(s->nr_progs, i);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(hostile, normal_guest_never_over_the_default_budget)
{
	struct kit_guest_opts o = {.nr_struct_ops = 64, .kernel = {.nr_cpus = 64}};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = walk(g);

	cr_assert_not(s->over_budget);
	cr_assert_not(s->capped);
	cr_assert_eq(s->nr_progs, 64);
	cr_assert_gt(s->reads, 0);
	cr_log_info("64 programs x 64 CPUs: %" PRIu64 " reads", s->reads);
	assert_others(g, s, 0);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}
