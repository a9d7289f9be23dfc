/* SPDX-License-Identifier: MIT */
/*
 * The whole pipeline over hostile guest memory. A kit guest (kernel, page
 * tables, VMCOREINFO, kallsyms, BTF, prog_idr, struct_ops programs) is built
 * once; a clean discovery and walk record every guest byte ktbpf reads (a
 * wrapping region table's tracer). Each input is a list of 12-byte patches
 * {u32 sel, u64 value}: sel's low 30 bits, modulo the bytes read, pick a byte
 * that the clean run read, sel's top 2 bits a width of 1, 2, 4 or 8 bytes,
 * and value's low bytes are written there. Then ktbpf_kernel_discover() (no
 * hints) and two ktbpf_progs_walk() (the second reuses the walker: translator and ops-struct
 * layouts) run over the patched RAM, and the patches are undone. When the input's length is not a
 * multiple of 12, its last byte picks hints (right or wrong ones: CR3, 5-level, KASLR offset, the
 * note's address or text, aarch64) and the first patch's value doubles as the hinted number.
 *
 * Oracles: no crash, no leak, no hang (libFuzzer -timeout), and a snapshot
 * that stays within its documented caps with NUL-terminated strings.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "kit-guest.h"
#include "kit-wrap.h"
#include "ktbpf/progs.h"

#define PATCH_SIZE  12
#define MAX_PATCHES 64

struct range {
	uint64_t pa, len, cum; /* cum: bytes in the ranges before this one */
};

#define SCAN_READ_MIN (64u << 10) /* lib/vmcoreinfo.c reads RAM in chunks of at least this */

static struct kit_guest *g;
static struct ktbpf_mem *mem;
static struct range *ranges;
static size_t nr_ranges, cap_ranges;
static uint64_t total; /* bytes in all ranges */

/*
 * Every read of the clean run, through a wrapped region table (kit-wrap.h),
 * but the VMCOREINFO scan's big chunks: a patch anywhere in RAM is not what
 * this target is for (fuzz-vmcoreinfo is); the note's page is added below.
 */
static void trace(void *ctx, uint64_t pa, void *buf, size_t len)
{
	if (len >= SCAN_READ_MIN)
		return;
	if (nr_ranges == cap_ranges) {
		cap_ranges = cap_ranges ? 2 * cap_ranges : 4096;
		ranges = realloc(ranges, cap_ranges * sizeof(*ranges));
		if (!ranges)
			fuzz_die("out of memory", NULL);
	}
	ranges[nr_ranges++] = (struct range){.pa = pa, .len = len};
}

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->pa < y->pa ? -1 : x->pa > y->pa;
}

/* Sort and merge the traced reads into disjoint ranges with running totals. */
static void merge_ranges(void)
{
	size_t n = 0;

	qsort(ranges, nr_ranges, sizeof(*ranges), range_cmp);
	for (size_t i = 0; i < nr_ranges; i++) {
		struct range *last = n ? &ranges[n - 1] : NULL;

		if (last && ranges[i].pa <= last->pa + last->len) {
			uint64_t end = ranges[i].pa + ranges[i].len;

			if (end > last->pa + last->len)
				last->len = end - last->pa;
		} else {
			ranges[n++] = ranges[i];
		}
	}
	nr_ranges = n;
	total = 0;
	for (size_t i = 0; i < n; i++) {
		ranges[i].cum = total;
		total += ranges[i].len;
	}
}

static uint64_t pick_pa(uint64_t off)
{
	size_t lo = 0, hi = nr_ranges;

	off %= total;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (ranges[mid].cum <= off)
			lo = mid;
		else
			hi = mid;
	}
	return ranges[lo].pa + (off - ranges[lo].cum);
}

static void check_snapshot(const struct ktbpf_snapshot *s)
{
	if (s->nr_progs > KTBPF_MAX_PROGS || s->nr_progs > s->cap_progs ||
	    s->nr_diags > KTBPF_MAX_DIAGS)
		fuzz_die("snapshot past its caps", NULL);
	for (size_t i = 0; i < s->nr_progs; i++) {
		const struct ktbpf_prog *p = &s->progs[i];

		if (!memchr(p->name, 0, sizeof(p->name)) ||
		    !memchr(p->iface, 0, sizeof(p->iface)) ||
		    !memchr(p->member, 0, sizeof(p->member)) || p->nr_maps > KTBPF_MAX_USED_MAPS)
			fuzz_die("program record malformed", p->name);
		if (i && p->id <= s->progs[i - 1].id)
			fuzz_die("programs not in id order", NULL);
	}
	if (!memchr(s->active.obj_name, 0, sizeof(s->active.obj_name)) ||
	    !memchr(s->active.reason, 0, sizeof(s->active.reason)) ||
	    s->active.nr_instances > KTBPF_MAX_ACTIVE)
		fuzz_die("active object malformed", NULL);
	if (s->nr_instances > KTBPF_MAX_INSTANCES || s->nr_instances > s->cap_instances ||
	    !memchr(s->scx.ops_name, 0, sizeof(s->scx.ops_name)))
		fuzz_die("instances past their caps", NULL);
	for (size_t i = 0; i < s->nr_instances; i++) {
		const struct ktbpf_st_instance *in = &s->instances[i];

		if (in->nr_members > KTBPF_MAX_OPS_MEMBERS ||
		    !memchr(in->name, 0, sizeof(in->name)) ||
		    !memchr(in->iface, 0, sizeof(in->iface)) ||
		    !memchr(in->obj_name, 0, sizeof(in->obj_name)))
			fuzz_die("instance record malformed", in->name);
		if (i && in->map_id <= s->instances[i - 1].map_id)
			fuzz_die("instances not in map id order", NULL);
	}
	for (size_t i = 0; i < s->nr_diags; i++)
		if (!memchr(s->diags[i].msg, 0, sizeof(s->diags[i].msg)))
			fuzz_die("diagnostic not terminated", NULL);
}

/* Hints from flag bits; v (a fuzz value) replaces the right number when bit 7 is set. */
static void make_hints(struct ktbpf_kernel_hints *h, uint8_t flags, uint64_t v)
{
	bool wrong = flags & 0x80;

	memset(h, 0, sizeof(*h));
	if (flags & 1) {
		h->has_cr3 = true;
		h->cr3 = wrong ? v : g->kk->pgd_pa;
	}
	if (flags & 2) {
		h->has_l5 = true;
		h->l5 = wrong;
	}
	if (flags & 4) {
		h->has_kaslr_offset = true;
		h->kaslr_offset = wrong ? v : g->kk->kerneloffset;
	}
	if (flags & 8)
		h->vmcoreinfo_pa = wrong ? v : g->kk->vmcoreinfo_pa;
	if (flags & 16) {
		h->vmcoreinfo_text = kit_kernel_vmcoreinfo_text(g->kk);
		h->vmcoreinfo_len = strlen(h->vmcoreinfo_text);
	}
	if (flags & 32) {
		h->arch = KTBPF_ARCH_AARCH64;
		h->has_tcr_el1 = true;
		h->tcr_el1 = v;
	}
}

/* Discover and walk twice; returns the number of programs of the first walk, -errno. */
static int run(const struct ktbpf_kernel_hints *h)
{
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_snapshot *s;
	struct ktbpf_err err = {0};
	int r;

	r = ktbpf_kernel_discover(mem, h, &k, &err);
	if (r < 0)
		return r;
	s = ktbpf_snapshot_new();
	if (!s)
		fuzz_die("out of memory", NULL);
	r = ktbpf_progs_walk(k, s, &err);
	if (r == 0) {
		check_snapshot(s);
		r = (int)s->nr_progs;
		if (ktbpf_progs_walk(k, s, &err) == 0)
			check_snapshot(s);
	}
	ktbpf_snapshot_free(s);
	ktbpf_kernel_free(k);
	return r;
}

void fuzz_setup(void)
{
	struct kit_guest_opts o = {.ram_size = 64ull << 20};
	struct kit_wrap *w;
	int r;

	g = kit_guest_new(&o);
	w = kit_wrap_new(kit_mem(g->im), trace, NULL);
	mem = w->mem;
	r = run(NULL);
	mem = kit_mem(g->im);
	kit_wrap_free(w);
	if (r != (int)g->nr_struct_ops)
		fuzz_die("the clean guest does not walk to its truth", NULL);
	trace(NULL, g->kk->vmcoreinfo_pa, NULL, 4096);
	merge_ranges();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t saved_pa[MAX_PATCHES], saved[MAX_PATCHES];
	unsigned int width[MAX_PATCHES];
	size_t n = size / PATCH_SIZE;

	if (n > MAX_PATCHES)
		n = MAX_PATCHES;
	for (size_t i = 0; i < n; i++) {
		uint32_t sel = fuzz_le32(data + PATCH_SIZE * i);
		uint64_t v = fuzz_le64(data + PATCH_SIZE * i + 4);
		uint64_t pa = pick_pa(sel & 0x3fffffff);

		width[i] = 1u << (sel >> 30);
		if (pa + width[i] > g->im->size)
			width[i] = (unsigned int)(g->im->size - pa);
		saved_pa[i] = pa;
		saved[i] = 0;
		memcpy(&saved[i], g->im->buf + pa, width[i]);
		memcpy(g->im->buf + pa, &v, width[i]);
	}
	if (size % PATCH_SIZE) {
		struct ktbpf_kernel_hints h;

		make_hints(&h, data[size - 1], size >= PATCH_SIZE ? fuzz_le64(data + 4) : 0);
		run(&h);
	} else {
		run(NULL);
	}
	for (size_t i = n; i-- > 0;)
		memcpy(g->im->buf + saved_pa[i], &saved[i], width[i]);
	return 0;
}

/* ---- seeds: a few patches of the values a corrupt guest tends to hold ---- */

static void put_patch(uint8_t *p, uint32_t sel, uint64_t v)
{
	memcpy(p, &sel, 4);
	memcpy(p + 4, &v, 8);
}

void fuzz_write_seeds(const char *dir)
{
	const uint64_t vals[] = {0,
				 ~0ull,
				 1,
				 0x80000000ull,
				 g->prog_idr,
				 g->progs[0].kva,
				 g->progs[0].aux_kva,
				 g->progs[g->nr_progs - 1].kva | 2,
				 0xffffc90fffff0000ull,
				 0xffff888000000000ull};
	uint8_t buf[PATCH_SIZE * 4];
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	char name[32];

	fuzz_seed_write(dir, "clean", "", 0);
	for (int f = 0; f < 64; f += 7) {
		uint8_t flags = (uint8_t)(f | (f & 8 ? 0x80 : 0));

		snprintf(name, sizeof(name), "hints%02x", flags);
		fuzz_seed_write(dir, name, &flags, 1);
	}
	for (int s = 0; s < 24; s++) {
		int np = 1 + s % 4;

		for (int i = 0; i < np; i++) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			put_patch(buf + PATCH_SIZE * i, (uint32_t)rng,
				  vals[(rng >> 40) % (sizeof(vals) / sizeof(vals[0]))]);
		}
		snprintf(name, sizeof(name), "patch%02d", s);
		fuzz_seed_write(dir, name, buf, (size_t)PATCH_SIZE * np);
	}
}
