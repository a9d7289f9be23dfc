/* SPDX-License-Identifier: MIT */
/*
 * sched_ext's state beyond its ops (lib/scx.c) against kit guests: 6.12's
 * statics and 6.16+'s struct scx_sched behind scx_root, the per-CPU
 * SCX_EV_* counters, the kernel's exit record present, freed and hostile,
 * and the scheduler's own copy (uei) once the kernel's is gone.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <bpf/btf.h>

#include "kit-guest.h"
#include "kit-vars.h"
#include "kit-wrap.h"
#include "ktbpf/kernel.h"
#include "ktbpf/progs.h"
#include "ktbpf/vars.h"
#include "unit.h"

static void assert_state(const struct ktbpf_snapshot *s)
{
	const struct ktbpf_scx *x = &s->scx;

	cr_assert_eq(x->state, KTBPF_SCX_ENABLED);
	cr_assert(x->have & KTBPF_SCX_HAVE_FLAGS);
	cr_assert_eq(x->ops_flags, KIT_SCX_FLAGS);
	cr_assert(x->have & KTBPF_SCX_HAVE_WATCHDOG_TIMEOUT);
	cr_assert_eq(x->watchdog_timeout, KIT_SCX_TIMEOUT);
	cr_assert(x->have & KTBPF_SCX_HAVE_WATCHDOG_AGE);
	cr_assert_eq(x->watchdog_age, KIT_SCX_AGE);
	cr_assert(x->have & KTBPF_SCX_HAVE_BYPASS);
	cr_assert_eq(x->bypass_depth, KIT_SCX_BYPASS);
	cr_assert(x->have & KTBPF_SCX_HAVE_SWITCHED_ALL);
	cr_assert(x->switched_all);
	cr_assert(x->have & KTBPF_SCX_HAVE_NR_REJECTED);
	cr_assert_eq(x->nr_rejected, KIT_SCX_NR_REJECTED);
	cr_assert(x->have & KTBPF_SCX_HAVE_ENABLE_SEQ);
	cr_assert_eq(x->enable_seq, KIT_SCX_ENABLE_SEQ);
	cr_assert(x->have & KTBPF_SCX_HAVE_HOTPLUG_SEQ);
	cr_assert_eq(x->hotplug_seq, KIT_SCX_HOTPLUG_SEQ);
	cr_assert(x->have & KTBPF_SCX_HAVE_SWITCHING_ALL);
	cr_assert(x->switching_all);
	cr_assert(x->have & KTBPF_SCX_HAVE_EXIT_KIND);
	cr_assert_eq(x->exit_kind, KIT_SCX_EXIT_KIND);
}

static void assert_exit(const struct ktbpf_snapshot *s, const struct kit_guest *g)
{
	const struct ktbpf_scx_exit *e = &s->scx.exit;
	uint32_t i;

	cr_assert_eq(e->source, KTBPF_SCX_EXIT_KERNEL);
	cr_assert_str_eq(ktbpf_scx_exit_source_name(e->source), "kernel");
	cr_assert_eq(e->kind, KIT_SCX_EXIT_KIND);
	cr_assert_str_eq(e->kind_name, "SCX_EXIT_ERROR_BPF");
	cr_assert_eq(e->exit_code, KIT_SCX_EXIT_CODE);
	cr_assert_str_eq(e->reason, KIT_SCX_EXIT_REASON);
	cr_assert_str_eq(e->msg, KIT_SCX_EXIT_MSG);
	cr_assert_eq(e->bt_len, KIT_SCX_EXIT_BT_LEN);
	for (i = 0; i < KIT_SCX_EXIT_BT_LEN; i++)
		cr_assert_eq(e->bt[i], g->scx_bt[i]);
	cr_assert_not_null(e->dump);
	cr_assert_str_eq(e->dump, KIT_SCX_EXIT_DUMP);
	cr_assert_eq(e->dump_len, strlen(KIT_SCX_EXIT_DUMP));
}

Test(scx, statics_layout_state_and_exit_record_read)
{
	struct kit_guest_opts o = {.scx = KIT_SCX_OPS};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);

	unit_log_diags(s);
	cr_assert_eq(s->nr_diags, 0);
	cr_assert_eq(s->scx.layout, KTBPF_SCX_OPS);
	assert_state(s);
	assert_exit(s, g);
	cr_assert_not(s->scx.have & KTBPF_SCX_HAVE_EVENTS, "6.12 keeps no event counters");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(scx, statics_layout_of_6_12_btf_read)
{
	struct kit_guest_opts o = {.scx = KIT_SCX_OPS, .btf = KIT_BTF_V61};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);

	unit_log_diags(s);
	cr_assert_eq(s->nr_diags, 0);
	assert_state(s);
	assert_exit(s, g);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(scx, scx_root_layout_state_events_and_exit_record_read)
{
	struct kit_guest_opts o = {.scx = KIT_SCX_ROOT};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);
	const struct ktbpf_scx_offsets *so = &ktbpf_kernel_offsets(kit_guest_kernel(g))->st.scx;
	uint32_t i, r;

	unit_log_diags(s);
	cr_assert_eq(s->nr_diags, 0);
	cr_assert_eq(s->scx.layout, KTBPF_SCX_ROOT);
	assert_state(s);
	assert_exit(s, g);
	cr_assert(s->scx.have & KTBPF_SCX_HAVE_EVENTS);
	cr_assert_eq(s->scx.nr_events, KIT_BTF_SCX_NR_EVENTS);
	cr_assert_gt(s->scx.nr_event_cpus, 0);
	for (i = 0; i < KIT_BTF_SCX_NR_EVENTS; i++) {
		int64_t sum = 0;

		cr_assert_str_eq(so->events[i].name, kit_btf_scx_events[i]);
		cr_assert_str_eq(s->scx.events[i].name, kit_btf_scx_events[i]);
		for (r = 0; r < s->scx.nr_event_cpus; r++) {
			uint32_t c = s->scx.event_cpu_ids[r];

			cr_assert(kit_kernel_cpu_possible(g->kk, c));
			cr_assert_eq(s->scx.events_cpu[r * s->scx.nr_events + i],
				     KIT_SCX_EVENT(i, c));
			sum += KIT_SCX_EVENT(i, c);
		}
		cr_assert_eq(s->scx.events[i].total, sum, "event %u summed over the possible CPUs",
			     i);
	}
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* 6.15: the counters in the static per-CPU event_stats_cpu (kernel/sched/ext.c). */
Test(scx, statics_layout_events_from_the_per_cpu_static)
{
	int k;

	for (k = 0; k < 2; k++) {
		struct kit_guest_opts o = {.scx = KIT_SCX_OPS, .scx_static_events = true};
		struct kit_guest *g;
		struct ktbpf_snapshot *s;
		uint32_t i, r;

		o.kernel.relative_percpu = k;
		g = kit_guest_new(&o);
		s = unit_walk(g);
		unit_log_diags(s);
		cr_assert_eq(s->nr_diags, 0);
		cr_assert(s->scx.have & KTBPF_SCX_HAVE_EVENTS);
		cr_assert_gt(s->scx.nr_event_cpus, 0);
		for (i = 0; i < KIT_BTF_SCX_NR_EVENTS; i++) {
			int64_t sum = 0;

			for (r = 0; r < s->scx.nr_event_cpus; r++)
				sum += KIT_SCX_EVENT(i, s->scx.event_cpu_ids[r]);
			cr_assert_eq(s->scx.events[i].total, sum, "event %u (%s per-CPU)", i,
				     k ? "relative" : "zero-based");
		}
		ktbpf_snapshot_free(s);
		kit_guest_free(g);
	}
}

Test(scx, offsets_resolved_from_btf_as_the_kit_laid_them_out)
{
	struct kit_guest_opts o = {.scx = KIT_SCX_ROOT};
	struct kit_guest *g = kit_guest_new(&o);
	const struct ktbpf_scx_offsets *got = &ktbpf_kernel_offsets(kit_guest_kernel(g))->st.scx;
	const struct ktbpf_scx_offsets *want = &g->lay.off.st.scx;
	uint32_t i;

	cr_assert_eq(got->ops_flags, want->ops_flags);
	cr_assert_eq(got->sch_exit_kind, want->sch_exit_kind);
	cr_assert_eq(got->sch_exit_info, want->sch_exit_info);
	cr_assert_eq(got->sch_bypass_depth, want->sch_bypass_depth);
	cr_assert_eq(got->sch_watchdog_timeout, want->sch_watchdog_timeout);
	cr_assert_eq(got->sch_pcpu, want->sch_pcpu);
	cr_assert_eq(got->sch_event_stats_cpu, KTBPF_OFFSET_NONE);
	cr_assert_eq(got->pcpu_event_stats, want->pcpu_event_stats);
	cr_assert(got->has_exit_info);
	cr_assert_eq(got->ei_msg, want->ei_msg);
	cr_assert_eq(got->ei_dump, want->ei_dump);
	cr_assert_eq(got->nr_exit_kinds, want->nr_exit_kinds);
	for (i = 0; i < got->nr_exit_kinds; i++) {
		cr_assert_eq(got->exit_kinds[i].value, want->exit_kinds[i].value);
		cr_assert_str_eq(got->exit_kinds[i].name, want->exit_kinds[i].name);
	}
	cr_assert_eq(got->nr_events, want->nr_events);
	kit_guest_free(g);
}

/* After the disable work freed the record: no source, no diagnostic, the state still read. */
Test(scx, exit_record_freed_reads_no_source)
{
	enum kit_scx_layout lay[2] = {KIT_SCX_OPS, KIT_SCX_ROOT};
	int i;

	for (i = 0; i < 2; i++) {
		struct kit_guest_opts o = {.scx = lay[i], .scx_no_exit_info = true};
		struct kit_guest *g = kit_guest_new(&o);
		struct ktbpf_snapshot *s = unit_walk(g);

		unit_log_diags(s);
		cr_assert_eq(s->nr_diags, 0);
		cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_NONE);
		cr_assert_str_eq(s->scx.exit.msg, "");
		cr_assert_null(s->scx.exit.dump);
		assert_state(s);
		ktbpf_snapshot_free(s);
		kit_guest_free(g);
	}
}

/* 6.16+: scx_root NULL once the scheduler is gone: nothing of scx_sched is read. */
Test(scx, scx_root_null_reads_only_the_statics)
{
	struct kit_guest_opts o = {.scx = KIT_SCX_ROOT, .scx_attached = UINT32_MAX};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);

	unit_log_diags(s);
	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_NONE);
	cr_assert_not(s->scx.have & (KTBPF_SCX_HAVE_EXIT_KIND | KTBPF_SCX_HAVE_BYPASS |
				     KTBPF_SCX_HAVE_EVENTS | KTBPF_SCX_HAVE_WATCHDOG_TIMEOUT));
	cr_assert(s->scx.have & KTBPF_SCX_HAVE_NR_REJECTED);
	cr_assert_eq(s->scx.nr_rejected, KIT_SCX_NR_REJECTED);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

#define WILD 0xffffc90000000000ull + (1ull << 40)

Test(scx, hostile_exit_record_pointers_are_diagnostics)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct ktbpf_scx_offsets *o = &g->lay.off.st.scx;
	uint64_t ei = g->scx_exit_info_kva;
	struct ktbpf_snapshot *s;

	kit_kernel_w64(g->kk, ei + o->ei_msg, WILD);
	kit_kernel_w64(g->kk, ei + o->ei_reason, WILD);
	kit_kernel_w64(g->kk, ei + o->ei_dump, WILD);
	kit_kernel_w32(g->kk, ei + o->ei_bt_len, 1u << 30);
	s = unit_walk(g);
	unit_log_diags(s);
	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_KERNEL, "kind and code still read");
	cr_assert_eq(s->scx.exit.kind, KIT_SCX_EXIT_KIND);
	cr_assert_str_eq(s->scx.exit.msg, "");
	cr_assert_str_eq(s->scx.exit.reason, "");
	cr_assert_null(s->scx.exit.dump);
	cr_assert(unit_has_diag(s, 0, 0, "exit message unreadable"));
	cr_assert(unit_has_diag(s, 0, 0, "exit reason unreadable"));
	cr_assert(unit_has_diag(s, 0, 0, "exit dump unreadable"));
	cr_assert(unit_has_diag(s, -E2BIG, 0, "1073741824 entries"));
	cr_assert_eq(s->scx.exit.bt_len, KTBPF_SCX_BT_LEN, "cut to the kernel's own bound");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(scx, hostile_exit_info_pointer_unreadable_is_a_diagnostic)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s;

	kit_kernel_w64(g->kk, g->scx_exit_ptr_kva, WILD);
	s = unit_walk(g);
	unit_log_diags(s);
	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_NONE);
	cr_assert(unit_has_diag(s, 0, 0, "struct scx_exit_info unreadable"));
	cr_assert_eq(s->active.map_id, g->insts[0].map_id, "the rest of the walk goes on");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* A message and a dump with no NUL: cut at their bounds, never read past. */
Test(scx, hostile_unterminated_strings_cut_at_their_bounds)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct ktbpf_scx_offsets *o = &g->lay.off.st.scx;
	uint64_t ei = g->scx_exit_info_kva, big, pa;
	size_t len = KTBPF_SCX_DUMP_MAX + 8192;
	char *junk = malloc(len);
	struct ktbpf_snapshot *s;

	cr_assert_not_null(junk);
	memset(junk, 'A', len);
	kit_kernel_kmalloc(g->kk, len, &big, &pa);
	kit_kernel_wkva(g->kk, big, junk, len);
	kit_kernel_w64(g->kk, ei + o->ei_msg, big);
	kit_kernel_w64(g->kk, ei + o->ei_dump, big);
	s = unit_walk(g);
	unit_log_diags(s);
	cr_assert_eq(strlen(s->scx.exit.msg), KTBPF_SCX_MSG_LEN - 1);
	cr_assert_not_null(s->scx.exit.dump);
	cr_assert_eq(s->scx.exit.dump_len, KTBPF_SCX_DUMP_MAX);
	ktbpf_snapshot_free(s);
	free(junk);
	kit_guest_free(g);
}

Test(scx, watchdog_timestamp_after_jiffies_is_a_diagnostic)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s;

	kit_kernel_w64(g->kk, kit_kernel_symbol(g->kk, "scx_watchdog_timestamp"),
		       KIT_SCX_JIFFIES + 5);
	s = unit_walk(g);
	cr_assert_not(s->scx.have & KTBPF_SCX_HAVE_WATCHDOG_AGE);
	cr_assert(unit_has_diag(s, -ERANGE, 0, "is after jiffies"));
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* scx_sched's per-CPU pointer wild: no events, a diagnostic, the exit record still read. */
Test(scx, hostile_scx_sched_pcpu_pointer_wild_leaves_no_events)
{
	struct kit_guest_opts opts = {.scx = KIT_SCX_ROOT};
	struct kit_guest *g = kit_guest_new(&opts);
	const struct ktbpf_scx_offsets *o = &g->lay.off.st.scx;
	struct ktbpf_snapshot *s;

	kit_kernel_w64(g->kk, g->scx_sched_kva + o->sch_pcpu, WILD);
	s = unit_walk(g);
	unit_log_diags(s);
	cr_assert_not(s->scx.have & KTBPF_SCX_HAVE_EVENTS, "events claimed from a wild pointer");
	cr_assert_eq(s->scx.nr_event_cpus, 0, "rows of counters from a wild pointer");
	cr_assert(unit_has_diag(s, 0, 0, "sched_ext event counters unreadable"));
	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_KERNEL);
	cr_assert_str_eq(s->scx.exit.msg, KIT_SCX_EXIT_MSG);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* Event counts whose sum overflows (fuzz-scx found it): saturated, with a diagnostic. */
Test(scx, hostile_event_counts_overflowing_saturate)
{
	struct kit_guest_opts opts = {.scx = KIT_SCX_ROOT, .kernel.nr_cpus = 3};
	struct kit_guest *g = kit_guest_new(&opts);
	const struct ktbpf_scx_offsets *o = &g->lay.off.st.scx;
	struct ktbpf_snapshot *s;
	uint32_t c;

	for (c = 0; c < 3; c++) {
		uint64_t pa = kit_kernel_percpu_pa(g->kk, g->scx_pcpu, c) + o->pcpu_event_stats;

		kit_w64(g->im, pa + o->events[0].off, (uint64_t)(INT64_MAX - 1));
		kit_w64(g->im, pa + o->events[1].off, (uint64_t)INT64_MIN);
	}
	s = unit_walk(g);
	unit_log_diags(s);
	cr_assert(s->scx.have & KTBPF_SCX_HAVE_EVENTS);
	cr_assert_eq(s->scx.events[0].total, INT64_MAX);
	cr_assert_eq(s->scx.events[1].total, INT64_MIN);
	cr_assert_eq(s->scx.events[2].total,
		     KIT_SCX_EVENT(2, 0) + KIT_SCX_EVENT(2, 1) + KIT_SCX_EVENT(2, 2),
		     "the other events are summed as ever");
	cr_assert(unit_has_diag(s, -ERANGE, 0, "overflows, saturated"));
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* An exit kind the kernel's enum does not have keeps its number, with no name made up. */
Test(scx, hostile_exit_kind_unknown_keeps_the_number_without_a_name)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct ktbpf_scx_offsets *o = &g->lay.off.st.scx;
	struct ktbpf_snapshot *s;

	kit_kernel_w32(g->kk, g->scx_exit_info_kva + o->ei_kind, 4242);
	s = unit_walk(g);
	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_KERNEL);
	cr_assert_eq(s->scx.exit.kind, 4242);
	cr_assert_str_eq(s->scx.exit.kind_name, "");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* scx_root pointing nowhere: the scheduler's state is a diagnostic, the walk goes on. */
Test(scx, hostile_scx_root_unreadable_is_a_diagnostic)
{
	struct kit_guest_opts opts = {.scx = KIT_SCX_ROOT};
	struct kit_guest *g = kit_guest_new(&opts);
	struct ktbpf_snapshot *s;

	kit_kernel_w64(g->kk, g->scx_root_kva, WILD);
	s = unit_walk(g);
	unit_log_diags(s);
	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_NONE, "an exit read through a wild root");
	cr_assert_gt(s->nr_diags, 0, "no diagnostic for an unreadable scx_root");
	cr_assert_eq(s->nr_progs, g->nr_struct_ops, "the rest of the walk goes on");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* Walking twice into one snapshot frees the first walk's dump and events (ASan checks). */
Test(scx, snapshot_reused_frees_the_previous_exit_dump)
{
	struct kit_guest_opts o = {.scx = KIT_SCX_ROOT};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_progs_walk(kit_guest_kernel(g), s, &err), 0);
	assert_exit(s, g);
	cr_assert(s->scx.have & KTBPF_SCX_HAVE_EVENTS);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* ---- the scheduler's own copy (the scx convention's uei in .data) ---- */

#define UEI_SIZE KIT_UEI_SIZE

/* A guest whose scheduler kitsched ran, exited and had its kernel record freed (uei = value). */
static struct kit_guest *uei_guest(const uint8_t *value, bool kind_as_chars)
{
	struct kit_guest_opts o = {.scx = KIT_SCX_ROOT, .scx_no_exit_info = true};
	struct kit_guest *g = kit_guest_new(&o);

	kit_vars_uei_map(g, "kitsched", value, kind_as_chars);
	return g;
}

static struct ktbpf_snapshot *walk_uei(struct kit_guest *g, int want_r)
{
	struct ktbpf_snapshot *s = unit_walk(g);
	struct ktbpf_err err = {0};
	int r = ktbpf_scx_uei_read(kit_guest_kernel(g), s, &err);

	cr_assert_eq(r, want_r, "uei read: %d %s", r, err.msg);
	unit_log_diags(s);
	return s;
}

Test(scx, uei_names_the_exit_once_the_kernel_freed_its_record)
{
	static uint8_t v[UEI_SIZE];
	struct kit_guest *g;
	struct ktbpf_snapshot *s;

	kit_vars_uei_value(v, KIT_SCX_EXIT_KIND, KIT_SCX_EXIT_CODE, KIT_SCX_EXIT_REASON,
			   KIT_SCX_EXIT_MSG);
	g = uei_guest(v, false);
	s = walk_uei(g, 0);
	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_UEI);
	cr_assert_str_eq(ktbpf_scx_exit_source_name(s->scx.exit.source), "uei");
	cr_assert_eq(s->scx.exit.kind, KIT_SCX_EXIT_KIND);
	cr_assert_str_eq(s->scx.exit.kind_name, "SCX_EXIT_ERROR_BPF",
			 "named from the kernel's BTF");
	cr_assert_eq(s->scx.exit.exit_code, KIT_SCX_EXIT_CODE);
	cr_assert_str_eq(s->scx.exit.reason, KIT_SCX_EXIT_REASON);
	cr_assert_str_eq(s->scx.exit.msg, KIT_SCX_EXIT_MSG);
	cr_assert_eq(s->scx.exit.bt_len, 0);
	cr_assert_null(s->scx.exit.dump);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

Test(scx, uei_of_a_scheduler_that_has_not_exited_says_nothing)
{
	static uint8_t v[UEI_SIZE];
	struct kit_guest *g;
	struct ktbpf_snapshot *s;

	kit_vars_uei_value(v, 0, 0, "", "");
	g = uei_guest(v, false);
	s = walk_uei(g, 0);
	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_NONE);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* The kernel's record comes first: uei is not read while the kernel has one. */
Test(scx, kernel_record_is_preferred_to_uei)
{
	struct kit_guest_opts o = {.scx = KIT_SCX_ROOT};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = walk_uei(g, 0);

	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_KERNEL);
	assert_exit(s, g);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* A message filling its array with no NUL is cut to the record's bound, never read past. */
Test(scx, hostile_uei_unterminated_message_is_cut)
{
	static uint8_t v[UEI_SIZE];
	struct kit_guest *g;
	struct ktbpf_snapshot *s;

	kit_vars_uei_value(v, 1026, 0, "runnable task stall", "");
	memset(v + 16 + 128, 'A', 1024);
	memset(v + 16, 'R', 128);
	g = uei_guest(v, false);
	s = walk_uei(g, 0);
	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_UEI);
	cr_assert_eq(strlen(s->scx.exit.msg), KTBPF_SCX_MSG_LEN - 1);
	cr_assert_eq(strlen(s->scx.exit.reason), KTBPF_SCX_REASON_LEN - 1);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/*
 * The object's only map no longer an array (fuzz-scx found it: an object left
 * with no global-section map sorted a NULL map list): no uei, no crash.
 */
Test(scx, hostile_uei_map_of_another_type_leaves_no_maps)
{
	struct kit_guest_opts o = {.scx = KIT_SCX_ROOT, .scx_no_exit_info = true};
	static uint8_t v[UEI_SIZE];
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s;
	uint64_t map;

	kit_vars_uei_value(v, 1025, 0, "scx_bpf_error", "boom");
	map = kit_vars_uei_map(g, "kitsched", v, false);
	kit_kernel_w32(g->kk, map + g->lay.off.st.map_type, 1); /* BPF_MAP_TYPE_HASH */
	s = unit_walk(g);
	ktbpf_scx_uei_read(kit_guest_kernel(g), s, &(struct ktbpf_err){0});
	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_NONE);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* A uei whose members have the wrong types is not the convention: no exit claimed. */
Test(scx, hostile_uei_of_the_wrong_shape_is_not_taken)
{
	static uint8_t v[UEI_SIZE];
	struct kit_guest *g;
	struct ktbpf_snapshot *s;

	kit_vars_uei_value(v, 1025, 0, "scx_bpf_error", "boom");
	g = uei_guest(v, true);
	s = walk_uei(g, 0);
	cr_assert_eq(s->scx.exit.source, KTBPF_SCX_EXIT_NONE);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* With the guest's symbols kept, the backtrace is named "func+0xoff". */
Test(scx, exit_backtrace_named_with_the_guests_symbols)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_kernel_hints h = {.keep_symbols = true};
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};
	char want[64];
	uint32_t i;

	kit_guest_kernel(g); /* finishes the image */
	cr_assert_eq(ktbpf_kernel_discover(g->mem, &h, &k, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_progs_walk(k, s, &err), 0, "%s", err.msg);
	ktbpf_scx_exit_symbolize(k, s);
	cr_assert_eq(s->scx.exit.bt_len, KIT_SCX_EXIT_BT_LEN);
	for (i = 0; i < KIT_SCX_EXIT_BT_LEN; i++) {
		snprintf(want, sizeof(want), "%s+0x%x", KIT_SCX_EXIT_BT_FUNC, 0x10 * i);
		cr_assert_str_eq(s->scx.exit.bt_sym[i], want);
	}
	ktbpf_snapshot_free(s);
	ktbpf_kernel_free(k);
	kit_guest_free(g);
}

/* Without them (the default: freed after discovery) nothing is named, nothing fails. */
Test(scx, exit_backtrace_without_symbols_stays_addresses)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct ktbpf_snapshot *s = unit_walk(g);

	ktbpf_scx_exit_symbolize(kit_guest_kernel(g), s);
	cr_assert_eq(s->scx.exit.bt_len, KIT_SCX_EXIT_BT_LEN);
	cr_assert_str_eq(s->scx.exit.bt_sym[0], "");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

/* An address in a program's JIT image is named after the program, symbols kept or not. */
Test(scx, exit_backtrace_in_a_jit_image_names_the_program)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct ktbpf_scx_offsets *o = &ktbpf_kernel_offsets(kit_guest_kernel(g))->st.scx;
	const struct kit_guest_prog *p = &g->progs[0];
	struct ktbpf_snapshot *s;
	char want[64];

	cr_assert_neq(o->prog_bpf_func, KTBPF_OFFSET_NONE);
	kit_kernel_w64(g->kk, p->kva + o->prog_bpf_func, 0xffffffffa0001000ull);
	kit_kernel_w32(g->kk, p->kva + o->prog_jited_len, 0x200);
	kit_kernel_w64(g->kk, g->scx_bt_kva + 8, 0xffffffffa0001040ull);
	kit_kernel_w64(g->kk, g->scx_bt_kva + 16, 0xffffffffa0001200ull); /* just past it */
	s = unit_walk(g);
	ktbpf_scx_exit_symbolize(kit_guest_kernel(g), s);
	snprintf(want, sizeof(want), "bpf:%s+0x40", p->name);
	cr_assert_str_eq(s->scx.exit.bt_sym[1], want);
	cr_assert_str_eq(s->scx.exit.bt_sym[2], "", "past the image: no program, no symbols kept");
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}
