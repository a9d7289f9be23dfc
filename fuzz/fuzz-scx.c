/* SPDX-License-Identifier: MIT */
/*
 * sched_ext's state and exit record over hostile guest memory
 * (lib/scx.c, lib/structops-scx.c): the enable state, watchdog, counters and
 * per-CPU SCX_EV_* events of struct scx_sched (the 6.16+ scx_root layout),
 * the kernel's struct scx_exit_info (kind, code, reason, message, backtrace,
 * debug dump) and, once the kernel freed it, the scheduler's own uei copy
 * read through its .data map and BTF; then the backtrace named with the
 * guest's symbols. Two kit guests are built once: one whose scheduler
 * errored with the kernel's record in place, one whose record is freed and
 * whose scheduler keeps uei.
 *
 * Input: [u8 guest (bit 0: the uei guest)][12-byte patches] (fuzz-guest.h),
 * the patches placed only on bytes that the clean run read from the pages of
 * sched_ext's objects (its statics, struct scx_sched, its per-CPU areas,
 * the exit record and the buffers it points to, the ops copy, the uei map):
 * fuzz-walk covers the rest of the walk.
 *
 * Oracles: no crash, no leak, no hang, and fuzz_check_snapshot(): exit
 * strings terminated within their bounds, the backtrace and events within
 * their caps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "fuzz-guest.h"
#include "kit-guest.h"
#include "kit-vars.h"
#include "kit-wrap.h"
#include "ktbpf/progs.h"
#include "ktbpf/vars.h"

#define MAX_PAGES 256

struct target {
	struct kit_guest *g;
	struct ktbpf_kernel *k;
	struct fuzz_ranges ranges;
	uint64_t pages[MAX_PAGES]; /* PA >> 12 of sched_ext's objects */
	size_t nr_pages;
};

static struct target t[2];
static struct target *cur; /* whose pages keep() checks */

static void add_page(struct target *x, uint64_t pa)
{
	for (size_t i = 0; i < x->nr_pages; i++)
		if (x->pages[i] == pa >> 12)
			return;
	if (x->nr_pages == MAX_PAGES)
		fuzz_die("too many sched_ext pages", NULL);
	x->pages[x->nr_pages++] = pa >> 12;
}

/* The pages of [kva, kva + len). */
static void add_kva(struct target *x, uint64_t kva, uint64_t len)
{
	for (uint64_t off = 0; kva && off < len; off += 4096)
		add_page(x, kit_kernel_kva_pa(x->g->kk, kva + off));
	if (kva && len)
		add_page(x, kit_kernel_kva_pa(x->g->kk, kva + len - 1));
}

static bool on_page(uint64_t pa)
{
	for (size_t i = 0; i < cur->nr_pages; i++)
		if (cur->pages[i] == pa >> 12)
			return true;
	return false;
}

static bool keep(uint64_t pa, size_t len)
{
	return len && (on_page(pa) || on_page(pa + len - 1));
}

static uint64_t r64(struct target *x, uint64_t kva)
{
	return kit_r64(x->g->im, kit_kernel_kva_pa(x->g->kk, kva));
}

/* sched_ext's objects in guest g (kit-guest.c: make_scx(), make_scx_state()). */
static void scx_pages(struct target *x, uint64_t uei_map)
{
	static const char *const statics[] = {
		"jiffies_64",	      "scx_watchdog_timestamp", "scx_nr_rejected", "scx_enable_seq",
		"__scx_switched_all", "scx_switching_all",	"scx_hotplug_seq"};
	const struct kit_guest *g = x->g;
	const struct ktbpf_scx_offsets *o = &g->lay.off.st.scx;
	uint64_t ei = g->scx_exit_info_kva;

	for (size_t i = 0; i < sizeof(statics) / sizeof(statics[0]); i++)
		add_kva(x, kit_kernel_symbol(g->kk, statics[i]), 16);
	add_kva(x, g->scx_state_kva, 8);
	add_kva(x, g->scx_root_kva, 8);
	add_kva(x, g->scx_sched_kva, g->lay.scx_sched_size);
	add_kva(x, kit_guest_scx_copy_kva(g), g->lay.scx_ops_size);
	for (uint32_t c = 0; g->scx_pcpu && c < g->nr_cpus; c++)
		if (kit_kernel_cpu_possible(g->kk, c))
			add_page(x, kit_kernel_percpu_pa(g->kk, g->scx_pcpu, c));
	if (ei) {
		add_kva(x, ei, 64);
		add_kva(x, r64(x, ei + o->ei_reason), KTBPF_SCX_REASON_LEN);
		add_kva(x, r64(x, ei + o->ei_msg), KTBPF_SCX_MSG_LEN);
		add_kva(x, r64(x, ei + o->ei_dump), 4096);
		add_kva(x, g->scx_bt_kva, 8 * KTBPF_SCX_BT_LEN);
	}
	if (uei_map)
		add_kva(x, uei_map, g->lay.off.vars.array_value + KIT_UEI_SIZE);
}

/* Walk, read uei, name the backtrace; the snapshot's exit source, or -errno. */
static int run(struct target *x)
{
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};
	int r;

	if (!s)
		fuzz_die("out of memory", NULL);
	r = ktbpf_progs_walk(x->k, s, &err);
	if (r == 0) {
		ktbpf_scx_uei_read(x->k, s, &err);
		ktbpf_scx_exit_symbolize(x->k, s);
		fuzz_check_snapshot(s);
		r = (int)s->scx.exit.source;
	}
	ktbpf_snapshot_free(s);
	return r;
}

static void target_new(struct target *x, bool uei)
{
	struct kit_guest_opts o = {.ram_size = 64ull << 20,
				   .scx = KIT_SCX_ROOT,
				   .scx_no_exit_info = uei,
				   .kernel = {.nr_cpus = 4}};
	struct ktbpf_kernel_hints h = {.keep_symbols = true};
	struct ktbpf_err err = {0};
	static uint8_t v[KIT_UEI_SIZE];
	struct kit_wrap *w;
	uint64_t map = 0;

	x->g = kit_guest_new(&o);
	if (uei) {
		kit_vars_uei_value(v, KIT_SCX_EXIT_KIND, KIT_SCX_EXIT_CODE, KIT_SCX_EXIT_REASON,
				   KIT_SCX_EXIT_MSG);
		map = kit_vars_uei_map(x->g, "kitsched", v, false);
	}
	if (ktbpf_kernel_discover(kit_mem(x->g->im), &h, &x->k, &err) < 0)
		fuzz_die("the clean guest is not discovered", err.msg);
	scx_pages(x, map);
	x->ranges.keep = keep;
	cur = x;
	/* The clean run, traced: the kernel reads through the wrapped table. */
	w = kit_wrap_new(kit_mem(x->g->im), fuzz_ranges_trace, &x->ranges);
	ktbpf_kernel_free(x->k);
	if (ktbpf_kernel_discover(w->mem, &h, &x->k, &err) < 0)
		fuzz_die("the wrapped guest is not discovered", err.msg);
	x->ranges.n = 0; /* discovery's reads are not this target's */
	if (run(x) != (uei ? KTBPF_SCX_EXIT_UEI : KTBPF_SCX_EXIT_KERNEL))
		fuzz_die("the clean guest's exit is not read from its source", NULL);
	ktbpf_kernel_free(x->k);
	kit_wrap_free(w);
	if (ktbpf_kernel_discover(kit_mem(x->g->im), &h, &x->k, &err) < 0)
		fuzz_die("the clean guest is not discovered again", err.msg);
	fuzz_ranges_finish(&x->ranges);
}

void fuzz_setup(void)
{
	target_new(&t[0], false);
	target_new(&t[1], true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_patches p;
	struct target *x = &t[size ? data[0] & 1 : 0];

	if (size)
		fuzz_patches_apply(&p, &x->ranges, x->g->im, data + 1, size - 1);
	else
		p.n = 0;
	run(x);
	fuzz_patches_undo(&p, x->g->im);
	return 0;
}

/* ---- seeds: each guest clean, and patches of the values a corrupt guest tends to hold ---- */

void fuzz_write_seeds(const char *dir)
{
	const uint64_t vals[] = {0,
				 ~0ull,
				 1,
				 0x7fffffff,
				 0x80000000ull,
				 1024,
				 65,
				 t[0].g->scx_exit_info_kva,
				 t[0].g->scx_bt_kva,
				 0xffffc90fffff0000ull,
				 0x4141414141414141ull};
	uint8_t buf[1 + FUZZ_PATCH_SIZE * 4];
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	char name[32];

	for (uint8_t k = 0; k < 2; k++) {
		snprintf(name, sizeof(name), "clean%u", k);
		fuzz_seed_write(dir, name, &k, 1);
	}
	for (int s = 0; s < 32; s++) {
		int np = 1 + s % 4;

		buf[0] = (uint8_t)s;
		for (int i = 0; i < np; i++) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			fuzz_patch_put(buf + 1 + FUZZ_PATCH_SIZE * i, (uint32_t)rng,
				       vals[(rng >> 40) % (sizeof(vals) / sizeof(vals[0]))]);
		}
		snprintf(name, sizeof(name), "patch%02d", s);
		fuzz_seed_write(dir, name, buf, 1 + (size_t)FUZZ_PATCH_SIZE * np);
	}
}
