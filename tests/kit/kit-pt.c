/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "kit-pt.h"

/* x86_64: arch/x86/include/asm/pgtable_types.h (_KERNPG_TABLE = P|RW|A|D, _PAGE_PSE). */
#define X86_TABLE     0x63ull
#define X86_PS	      0x80ull
#define X86_ADDR_MASK 0x000ffffffffff000ull
/* aarch64: arch/arm64/include/asm/pgtable-hwdef.h (PMD_TYPE_TABLE, PTE_TYPE_PAGE, PTE_AF). */
#define A64_TABLE   0x3ull
#define A64_BLOCK   0x1ull
#define A64_AF	    (1ull << 10)
#define A64_OA_MASK 0x0000ffffffffffffull
#define A64_OA_50   0x0003ffffffffffffull /* LPA2: OA[51:50] in bits [9:8] */
#define A64_DS	    (1ull << 59)

struct kit_pt {
	struct kit_image *im;
	enum ktbpf_arch arch;
	bool l5;
	unsigned int levels;
	unsigned int shift;  /* page shift */
	unsigned int stride; /* index bits per level */
	unsigned int va;     /* aarch64 VA bits */
	bool ds;	     /* aarch64 LPA2 */
	uint64_t granule;
	uint64_t root;
	uint64_t tcr;
};

static __attribute__((noreturn)) void die(const char *what, uint64_t a)
{
	fprintf(stderr, "kit-pt: %s (0x%llx)\n", what, (unsigned long long)a);
	abort();
}

static struct kit_pt *pt_alloc(struct kit_image *im, enum ktbpf_arch arch)
{
	struct kit_pt *pt = calloc(1, sizeof(*pt));

	if (!pt)
		die("out of memory", 0);
	pt->im = im;
	pt->arch = arch;
	return pt;
}

struct kit_pt *kit_pt_new_x86(struct kit_image *im, bool l5)
{
	struct kit_pt *pt = pt_alloc(im, KTBPF_ARCH_X86_64);

	pt->l5 = l5;
	pt->levels = l5 ? 5 : 4;
	pt->shift = 12;
	pt->stride = 9;
	pt->granule = 4096;
	pt->root = kit_alloc(im, 4096, 4096);
	return pt;
}

struct kit_pt *kit_pt_new_arm64(struct kit_image *im, uint64_t granule, unsigned int t1sz)
{
	struct kit_pt *pt = pt_alloc(im, KTBPF_ARCH_AARCH64);
	uint64_t tg1 = 0;

	switch (granule) {
	case 4096:
		pt->shift = 12, tg1 = 2;
		break;
	case 16384:
		pt->shift = 14, tg1 = 1;
		break;
	case 65536:
		pt->shift = 16, tg1 = 3;
		break;
	default:
		die("granule must be 4K, 16K or 64K", granule);
	}
	pt->granule = granule;
	pt->stride = pt->shift - 3;
	pt->va = 64 - t1sz;
	if (t1sz > 48 || t1sz < 12 || pt->va <= pt->shift)
		die("unsupported T1SZ", t1sz);
	/* Above 48 bits: LPA2 (DS) with 4K/16K, as Linux runs it; 64K needs no DS (LVA). */
	pt->ds = pt->va > 48 && granule != 65536;
	pt->levels = (pt->va - pt->shift + pt->stride - 1) / pt->stride;
	pt->tcr = (tg1 << 30) | ((uint64_t)t1sz << 16) | (pt->ds ? A64_DS : 0);
	pt->root = kit_alloc(im, granule, granule);
	return pt;
}

void kit_pt_free(struct kit_pt *pt)
{
	free(pt);
}

/* Shift of the address bits indexed at depth (depth levels-1 indexes pages). */
static unsigned int depth_shift(const struct kit_pt *pt, unsigned int depth)
{
	return pt->shift + pt->stride * (pt->levels - 1 - depth);
}

static uint64_t index_of(const struct kit_pt *pt, uint64_t kva, unsigned int depth)
{
	unsigned int shift = depth_shift(pt, depth);
	unsigned int bits = pt->stride;

	if (pt->arch == KTBPF_ARCH_AARCH64 && depth == 0)
		bits = pt->va - shift;
	return (kva >> shift) & ((1ull << bits) - 1);
}

/* aarch64 output address field of pa: LPA2 moves OA[51:50] to [9:8], 64K OA[51:48] to [15:12]. */
static uint64_t a64_oa_bits(const struct kit_pt *pt, uint64_t pa)
{
	if (pt->ds)
		return (pa & A64_OA_50) | (pa >> 50 & 3) << 8;
	if (pt->granule == 65536)
		return (pa & A64_OA_MASK) | (pa >> 48 & 0xf) << 12;
	return pa;
}

static uint64_t a64_oa_of(const struct kit_pt *pt, uint64_t e)
{
	if (pt->ds)
		return ((e & A64_OA_50) | (e >> 8 & 3) << 50) & ~(pt->granule - 1);
	if (pt->granule == 65536)
		return ((e & A64_OA_MASK) | (e >> 12 & 0xf) << 48) & ~(pt->granule - 1);
	return e & A64_OA_MASK & ~(pt->granule - 1);
}

uint64_t kit_pt_table_entry(const struct kit_pt *pt, uint64_t table_pa)
{
	if (pt->arch == KTBPF_ARCH_X86_64)
		return table_pa | X86_TABLE;
	return a64_oa_bits(pt, table_pa) | A64_TABLE;
}

/* Whether a present entry at depth (not the last) is a leaf rather than a table. */
static bool is_leaf(const struct kit_pt *pt, uint64_t e)
{
	if (pt->arch == KTBPF_ARCH_X86_64)
		return e & X86_PS;
	return !(e & 2);
}

uint64_t kit_pt_entry_pa(struct kit_pt *pt, uint64_t kva, unsigned int depth)
{
	uint64_t table = pt->root;

	if (depth >= pt->levels)
		die("depth beyond the last level", depth);
	for (unsigned int d = 0; d < depth; d++) {
		uint64_t slot = table + index_of(pt, kva, d) * 8;
		uint64_t e = kit_r64(pt->im, slot);

		if (!(e & 1)) {
			uint64_t t = kit_alloc(pt->im, pt->granule, pt->granule);

			e = kit_pt_table_entry(pt, t);
			kit_w64(pt->im, slot, e);
		} else if (is_leaf(pt, e)) {
			die("a leaf is in the way of the table for kva", kva);
		}
		table = pt->arch == KTBPF_ARCH_X86_64 ? e & X86_ADDR_MASK : a64_oa_of(pt, e);
	}
	return table + index_of(pt, kva, depth) * 8;
}

uint64_t kit_pt_set_entry(struct kit_pt *pt, uint64_t kva, unsigned int depth, uint64_t raw)
{
	uint64_t slot = kit_pt_entry_pa(pt, kva, depth);

	kit_w64(pt->im, slot, raw);
	return slot;
}

unsigned int kit_pt_leaf_depth(const struct kit_pt *pt, uint64_t page_size)
{
	for (unsigned int d = pt->levels; d-- > 0;) {
		int hw_level = 4 - (int)pt->levels + (int)d; /* aarch64 level; x86 PTE = 3 */

		if ((1ull << depth_shift(pt, d)) != page_size)
			continue;
		if (d == pt->levels - 1)
			return d;
		if (pt->arch == KTBPF_ARCH_X86_64 && d + 3 >= pt->levels)
			return d; /* PMD (2M) or PUD (1G) */
		/* LPA2 adds 512 GiB blocks at level 0 (4K) and 64 GiB at level 1 (16K). */
		if (pt->arch == KTBPF_ARCH_AARCH64 &&
		    (hw_level == 2 || (hw_level == 1 && pt->shift == 12) ||
		     (pt->ds && hw_level == 0 && pt->shift == 12) ||
		     (pt->ds && hw_level == 1 && pt->shift == 14)))
			return d;
	}
	die("no leaf of this page size", page_size);
	return 0;
}

static uint64_t leaf_entry(const struct kit_pt *pt, uint64_t pa, unsigned int depth)
{
	bool last = depth == pt->levels - 1;

	if (pt->arch == KTBPF_ARCH_X86_64)
		return pa | X86_TABLE | (last ? 0 : X86_PS);
	return a64_oa_bits(pt, pa) | A64_AF | (last ? A64_TABLE : A64_BLOCK);
}

void kit_pt_map(struct kit_pt *pt, uint64_t kva, uint64_t pa, uint64_t size, uint64_t page_size)
{
	unsigned int depth = kit_pt_leaf_depth(pt, page_size);

	if ((kva | pa | size) & (page_size - 1))
		die("kva, pa and size must be multiples of the page size", page_size);
	for (uint64_t off = 0; off < size; off += page_size)
		kit_pt_set_entry(pt, kva + off, depth, leaf_entry(pt, pa + off, depth));
}

unsigned int kit_pt_levels(const struct kit_pt *pt)
{
	return pt->levels;
}

uint64_t kit_pt_root_pa(const struct kit_pt *pt)
{
	return pt->root;
}

uint64_t kit_pt_tcr(const struct kit_pt *pt)
{
	return pt->tcr;
}

void kit_pt_mmu(const struct kit_pt *pt, struct ktbpf_mmu *mmu)
{
	*mmu = (struct ktbpf_mmu){
		.arch = pt->arch,
		.pgd_pa = pt->root,
		.l5 = pt->l5,
		.tcr_el1 = pt->tcr,
	};
}

uint64_t kit_pt_lookup(const struct kit_pt *pt, uint64_t kva)
{
	uint64_t table = pt->root;

	for (unsigned int d = 0; d < pt->levels; d++) {
		uint64_t e = kit_r64(pt->im, table + index_of(pt, kva, d) * 8);
		uint64_t mask = (1ull << depth_shift(pt, d)) - 1;
		bool last = d == pt->levels - 1;

		if (!(e & 1))
			die("kva not mapped", kva);
		table = pt->arch == KTBPF_ARCH_X86_64 ? e & X86_ADDR_MASK : a64_oa_of(pt, e);
		if (last || is_leaf(pt, e))
			return (table & ~mask) | (kva & mask);
	}
	die("unreachable", kva);
	return 0;
}
