/* SPDX-License-Identifier: MIT */
/*
 * xarray walks over hostile nodes. Input: [u8 flags][u64 xa_head][u64 index]
 * [node bytes...]. The node bytes are copied into a kit image at guest PA
 * 0x1000, where kit_xa allocates its first node, in the direct map at
 * PAGE_OFFSET (so the seeds, real trees built by kit_xa_store(), have their
 * node pointers right). flags & 3 picks nr_slots 64, 16, 4 or 48 (invalid).
 *
 * Oracles beyond "no crash, no hang": the iterator must end within its caps,
 * report strictly increasing indices, and every entry it reports must be what
 * ktbpf_xa_load() finds at that index (both follow the kernel's rules, so a
 * disagreement is a bug in one of them).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "kit-xa.h"
#include "ktbpf/xarray.h"

#define PAGE_OFFSET 0xffff888000000000ull
#define IMAGE_SIZE  (1ull << 20)
#define AREA_PA	    0x1000ull
#define AREA_MAX    (IMAGE_SIZE - AREA_PA)
#define HDR	    17
#define MAX_ENTRIES 4096
#define MAX_NODES   512

static struct kit_image *im;
static struct ktbpf_xlate *x;
static size_t dirty; /* bytes of the area the previous input wrote */

static const uint32_t slot_choice[4] = {64, 16, 4, 48};

static struct ktbpf_xa_layout layout(uint8_t flags)
{
	/* xa_node as on x86_64: shift at 0, slots at 40 (include/linux/xarray.h). */
	return (struct ktbpf_xa_layout){
		.node_shift = 0, .node_slots = 40, .nr_slots = slot_choice[flags & 3]};
}

void fuzz_setup(void)
{
	struct ktbpf_mmu mmu = {.arch = KTBPF_ARCH_X86_64, .page_offset = PAGE_OFFSET};

	im = kit_image_new(IMAGE_SIZE);
	x = ktbpf_xlate_new(kit_mem(im), &mmu);
	if (!x)
		fuzz_die("out of memory", NULL);
}

static void check_load(const struct ktbpf_xa_layout *l, uint64_t head, uint64_t index,
		       uint64_t entry)
{
	struct ktbpf_err err = {0};
	uint64_t e = 0;
	char msg[200];

	if (ktbpf_xa_load(x, l, head, index, &e, &err) < 0 || e != entry) {
		snprintf(msg, sizeof(msg),
			 "iterator gave index %" PRIu64 " entry 0x%" PRIx64 ", load gave 0x%" PRIx64
			 " (%s)",
			 index, entry, e, err.msg);
		fuzz_die("xa_iter and xa_load disagree", msg);
	}
}

static void walk(const struct ktbpf_xa_layout *l, uint64_t head)
{
	struct ktbpf_xa_iter it;
	struct ktbpf_err err = {0};
	uint64_t index, entry, prev = 0, calls = 0;
	/* Every call visits a slot or pushes a node; errors skip a subtree at a slot. */
	uint64_t bound = MAX_ENTRIES + (MAX_NODES + 1ull) * (KTBPF_XA_MAX_SLOTS + 1) + 16;
	bool any = false;
	int r;

	ktbpf_xa_iter_init(&it, x, l, head, MAX_ENTRIES, MAX_NODES);
	while ((r = ktbpf_xa_iter_next(&it, &index, &entry, &err)) != KTBPF_ITER_END) {
		if (++calls > bound)
			fuzz_die("xarray iterator does not end", NULL);
		if (r < 0)
			continue;
		if (any && index <= prev)
			fuzz_die("xarray iterator indices not increasing", NULL);
		any = true;
		prev = index;
		check_load(l, head, index, entry);
	}
	ktbpf_xa_iter_deinit(&it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ktbpf_xa_layout l;
	struct ktbpf_err err = {0};
	uint64_t head, index, e;
	size_t n;

	if (size < HDR)
		return 0;
	l = layout(data[0]);
	head = fuzz_le64(data + 1);
	index = fuzz_le64(data + 9);
	n = size - HDR < AREA_MAX ? size - HDR : AREA_MAX;
	memcpy(kit_ptr(im, AREA_PA, n), data + HDR, n);
	if (dirty > n)
		memset(kit_ptr(im, AREA_PA + n, dirty - n), 0, dirty - n);
	dirty = n;
	ktbpf_xa_load(x, &l, head, index, &e, &err);
	walk(&l, head);
	return 0;
}

/* One seed: a tree built by kit_xa_store() over the indices given, dumped with its header. */
static void seed_tree(const char *dir, const char *name, uint8_t flags, const uint64_t *idx,
		      size_t nr, uint64_t probe)
{
	struct kit_image *sim = kit_image_new(IMAGE_SIZE);
	struct ktbpf_xa_layout l = layout(flags);
	struct kit_xa *xa = kit_xa_new(sim, PAGE_OFFSET, &l);
	uint64_t head, used;
	uint8_t *buf;

	for (size_t i = 0; i < nr; i++)
		kit_xa_store(xa, idx[i], 0xffff888100000000ull + 16 * (i + 1));
	head = kit_xa_head(xa);
	used = sim->next > AREA_PA ? sim->next - AREA_PA : 0;
	buf = malloc(HDR + used);
	if (!buf)
		fuzz_die("out of memory", NULL);
	buf[0] = flags;
	memcpy(buf + 1, &head, 8);
	memcpy(buf + 9, &probe, 8);
	memcpy(buf + HDR, kit_ptr(sim, AREA_PA, used), used);
	fuzz_seed_write(dir, name, buf, HDR + used);
	free(buf);
	kit_xa_free(xa);
	kit_image_free(sim);
}

void fuzz_write_seeds(const char *dir)
{
	static const uint64_t small[] = {1, 2, 3, 5, 8, 13, 21, 34, 55};
	static const uint64_t sparse[] = {0, 63, 64, 4095, 4096, 262143, 1ull << 24};
	static const uint64_t one[] = {0};
	static const uint64_t huge[] = {7, ~0ull};

	seed_tree(dir, "small64", 0, small, 9, 13);
	seed_tree(dir, "small16", 1, small, 9, 21);
	seed_tree(dir, "sparse64", 0, sparse, 7, 4096);
	seed_tree(dir, "sparse4", 2, sparse, 5, 64);
	seed_tree(dir, "lone", 0, one, 1, 0);
	seed_tree(dir, "huge64", 0, huge, 2, ~0ull);
}
