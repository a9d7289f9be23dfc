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
 * Oracles: no crash, no leak, no hang (libFuzzer -timeout), a snapshot
 * that stays within its documented caps with NUL-terminated strings, and its
 * JSON text (rpc/codec.c, what ktbpfd answers) always written and valid JSON
 * whatever bytes the guest's names hold.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "fuzz-guest.h"
#include "kit-guest.h"
#include "kit-wrap.h"
#include "ktbpf/codec.h"
#include "ktbpf/progs.h"

#define SCAN_READ_MIN (64u << 10) /* lib/vmcoreinfo.c reads RAM in chunks of at least this */

static struct kit_guest *g;
static struct ktbpf_mem *mem;

/*
 * Every read of the clean run, but the VMCOREINFO scan's big chunks: a patch
 * anywhere in RAM is not what this target is for (fuzz-vmcoreinfo is); the
 * note's page is added below.
 */
static bool keep(uint64_t pa, size_t len)
{
	return len < SCAN_READ_MIN;
}

static struct fuzz_ranges ranges = {.keep = keep};

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

/* The snapshot as ktbpfd answers it: written, and read back by the strict parser. */
static void check_codec(const struct ktbpf_snapshot *s, const struct ktbpf_kernel *k)
{
	struct ktbpf_json_writer w = {0};
	json_error_t je;
	size_t len;
	char *text;
	json_t *v;

	ktbpf_codec_snapshot_write(&w, s, ktbpf_kernel_info(k));
	ktbpf_json_w_end_object(&w);
	text = ktbpf_json_w_finish(&w, &len);
	if (!text)
		fuzz_die("the snapshot's JSON text could not be written", NULL);
	v = ktbpf_json_decode(text, len, &je);
	if (!v)
		fuzz_die("the snapshot's JSON text does not parse", je.text);
	json_decref(v);
	free(text);
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
		fuzz_check_snapshot(s);
		check_codec(s, k);
		r = (int)s->nr_progs;
		if (ktbpf_progs_walk(k, s, &err) == 0)
			fuzz_check_snapshot(s);
	}
	ktbpf_snapshot_free(s);
	ktbpf_kernel_free(k);
	return r;
}

void fuzz_setup(void)
{
#ifdef FUZZ_WALK_ARM64
	/* fuzz-walk-arm64.c: 52-bit LPA2 (5 levels from level -1), a PAC mask, RAM from 1 GiB */
	struct kit_guest_opts o = {
		.ram_size = 64ull << 20,
		.kernel = {.arch = KTBPF_ARCH_AARCH64, .a64_t1sz = 12, .a64_pac = true}};
#else
	struct kit_guest_opts o = {.ram_size = 64ull << 20};
#endif
	struct kit_wrap *w;
	int r;

	g = kit_guest_new(&o);
	w = kit_wrap_new(kit_mem(g->im), fuzz_ranges_trace, &ranges);
	mem = w->mem;
	r = run(NULL);
	mem = kit_mem(g->im);
	kit_wrap_free(w);
	if (r != (int)g->nr_struct_ops)
		fuzz_die("the clean guest does not walk to its truth", NULL);
	fuzz_ranges_add(&ranges, g->kk->vmcoreinfo_pa, 4096);
	fuzz_ranges_finish(&ranges);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_patches p;

	fuzz_patches_apply(&p, &ranges, g->im, data, size);
	if (size % FUZZ_PATCH_SIZE) {
		struct ktbpf_kernel_hints h;

		make_hints(&h, data[size - 1], size >= FUZZ_PATCH_SIZE ? fuzz_le64(data + 4) : 0);
		run(&h);
	} else {
		run(NULL);
	}
	fuzz_patches_undo(&p, g->im);
	return 0;
}

/* ---- seeds: a few patches of the values a corrupt guest tends to hold ---- */

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
	uint8_t buf[FUZZ_PATCH_SIZE * 4];
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
			fuzz_patch_put(buf + FUZZ_PATCH_SIZE * i, (uint32_t)rng,
				       vals[(rng >> 40) % (sizeof(vals) / sizeof(vals[0]))]);
		}
		snprintf(name, sizeof(name), "patch%02d", s);
		fuzz_seed_write(dir, name, buf, (size_t)FUZZ_PATCH_SIZE * np);
	}
}
