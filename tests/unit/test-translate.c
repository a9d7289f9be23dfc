/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "kit-pt.h"
#include "kit.h"
#include "ktbpf/translate.h"

#define VMALLOC_L4 0xffffc90000000000ull /* arch/x86: VMALLOC_START, 4-level */
#define VMALLOC_L5 0xffa0000000000000ull /* 5-level */
#define DIRECT_MAP 0xffff888000000000ull /* page_offset_base default, 4-level */

struct fx {
	struct kit_image *im;
	struct kit_pt *pt;
	struct ktbpf_mmu mmu;
	struct ktbpf_xlate *x;
};

static void fx_done(struct fx *f)
{
	ktbpf_xlate_free(f->x);
	kit_pt_free(f->pt);
	kit_image_free(f->im);
}

/* Image of size bytes at gpa_base with empty tables; the translator is made by fx_xlate(). */
static void fx_init(struct fx *f, uint64_t size, uint64_t gpa_base)
{
	memset(f, 0, sizeof(*f));
	f->im = kit_image_new(size);
	f->im->gpa_base = gpa_base;
}

static struct ktbpf_xlate *fx_xlate(struct fx *f)
{
	kit_pt_mmu(f->pt, &f->mmu);
	f->x = ktbpf_xlate_new(kit_mem(f->im), &f->mmu);
	cr_assert_not_null(f->x);
	return f->x;
}

static void fx_x86(struct fx *f, bool l5)
{
	fx_init(f, 8 << 20, 0);
	f->pt = kit_pt_new_x86(f->im, l5);
}

static void fx_arm(struct fx *f, uint64_t granule, unsigned int t1sz)
{
	fx_init(f, 16 << 20, 0x40000000);
	f->pt = kit_pt_new_arm64(f->im, granule, t1sz);
}

static uint64_t walk_ok(struct ktbpf_xlate *x, uint64_t kva)
{
	struct ktbpf_err err = {0};
	uint64_t pa = 0;
	int r = ktbpf_xlate_walk(x, kva, &pa, &err);

	cr_assert_eq(r, 0, "walk 0x%llx: %d %s", (unsigned long long)kva, r, err.msg);
	return pa;
}

/* 4K, 2M and 1G leaves: every offset bit below the leaf size survives. */
static void x86_leaves(bool l5)
{
	uint64_t base = l5 ? VMALLOC_L5 : VMALLOC_L4;
	struct fx f;
	uint64_t page;

	fx_x86(&f, l5);
	page = kit_alloc_pages(f.im, 1);
	kit_pt_map(f.pt, base + 0x5000, page, 4096, 4096);
	kit_pt_map(f.pt, base + 0x40000000, 0x80000000, 1ull << 30, 1ull << 30);
	kit_pt_map(f.pt, base + 0x200000, 0x600000, 2ull << 20, 2ull << 20);
	fx_xlate(&f);
	cr_assert_eq(kit_pt_levels(f.pt), l5 ? 5u : 4u);
	cr_assert_eq(walk_ok(f.x, base + 0x5abc), page + 0xabc);
	cr_assert_eq(walk_ok(f.x, base + 0x40000000 + 0x3fedcba8), 0x80000000 + 0x3fedcba8);
	cr_assert_eq(walk_ok(f.x, base + 0x200000 + 0x1ffff8), 0x600000 + 0x1ffff8);
	fx_done(&f);
}

Test(translate, x86_4level_leaves_keep_offsets)
{
	x86_leaves(false);
}

Test(translate, x86_5level_leaves_keep_offsets)
{
	x86_leaves(true);
}

/* A zeroed entry at each depth: -ENOENT naming the kva. */
static void x86_not_present(bool l5)
{
	uint64_t kva = (l5 ? VMALLOC_L5 : VMALLOC_L4) + 0x7000;

	for (unsigned int d = 0; d < (l5 ? 5u : 4u); d++) {
		struct ktbpf_err err = {0};
		uint64_t pa = 77;
		struct fx f;

		fx_x86(&f, l5);
		kit_pt_map(f.pt, kva, kit_alloc_pages(f.im, 1), 4096, 4096);
		kit_pt_set_entry(f.pt, kva, d, 0);
		fx_xlate(&f);
		cr_assert_eq(ktbpf_xlate_kva(f.x, kva, &pa, &err), -ENOENT, "depth %u", d);
		cr_assert_eq(err.addr, kva);
		cr_assert_eq(pa, 77, "result written on failure");
		cr_assert(strstr(err.msg, "not mapped"), "%s", err.msg);
		fx_done(&f);
	}
}

Test(translate, x86_not_present_each_level_enoent)
{
	x86_not_present(false);
	x86_not_present(true);
}

Test(translate, x86_table_outside_ram_efault_with_pa)
{
	uint64_t kva = VMALLOC_L4 + 0x3000, wild = 0x7000000000ull;
	struct ktbpf_err err = {0};
	uint64_t pa;
	struct fx f;

	fx_x86(&f, false);
	kit_pt_map(f.pt, kva, kit_alloc_pages(f.im, 1), 4096, 4096);
	kit_pt_set_entry(f.pt, kva, 2, kit_pt_table_entry(f.pt, wild)); /* PMD -> wild PTE table */
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva, &pa, &err), -EFAULT);
	cr_assert(err.has_addr);
	cr_assert_eq(err.addr, wild);
	cr_assert(strstr(err.msg, "PTE table"), "%s", err.msg);
	/* A CR3 outside RAM: the PGD itself. */
	f.mmu.pgd_pa = 0x7000001000ull;
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva, &pa, &err), -EFAULT);
	cr_assert_eq(err.addr, 0x7000001000ull);
	fx_done(&f);
}

Test(translate, direct_map_shortcut_bounded_by_ram)
{
	struct ktbpf_err err = {0};
	uint64_t pa = 0, end;
	struct fx f;

	fx_x86(&f, false);
	fx_xlate(&f);
	f.mmu.page_offset = DIRECT_MAP;
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	end = ktbpf_mem_end(kit_mem(f.im));
	cr_assert_eq(ktbpf_xlate_kva(f.x, DIRECT_MAP + 0x1234, &pa, &err), 0);
	cr_assert_eq(pa, 0x1234);
	cr_assert_eq(ktbpf_xlate_kva(f.x, DIRECT_MAP + end - 1, &pa, &err), 0);
	cr_assert_eq(pa, end - 1);
	/* Past RAM the shortcut does not apply: the (empty) tables decide. */
	cr_assert_eq(ktbpf_xlate_kva(f.x, DIRECT_MAP + end, &pa, &err), -ENOENT);
	cr_assert_eq(ktbpf_xlate_kva(f.x, DIRECT_MAP - 8, &pa, &err), -ENOENT);
	/* walk() skips the shortcut. */
	cr_assert_eq(ktbpf_xlate_walk(f.x, DIRECT_MAP + 0x1234, &pa, &err), -ENOENT);
	fx_done(&f);
}

Test(translate, kimage_shortcut_negative_phys_base)
{
	struct ktbpf_err err = {0};
	uint64_t pa = 0;
	struct fx f;

	fx_x86(&f, false);
	fx_xlate(&f);
	f.mmu.kimage_base = KTBPF_X86_START_KERNEL_MAP;
	f.mmu.kimage_size = KTBPF_X86_KERNEL_IMAGE_SIZE;
	f.mmu.phys_base = (uint64_t)-109051904; /* -0x6800000: KASLR moved the image down */
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, 0xffffffff87800010ull, &pa, &err), 0);
	cr_assert_eq(pa, 0x1000010);
	cr_assert_eq(ktbpf_xlate_kva(f.x, 0xffffffffbfffffffull, &pa, &err), 0);
	cr_assert_eq(pa, 0x3fffffffull - 0x6800000);
	cr_assert_eq(ktbpf_xlate_kva(f.x, 0xffffffffc0000000ull, &pa, &err), -ENOENT);
	/* A range ending at 2^64 (base + size wraps to 0) must still hold its last byte. */
	f.mmu.kimage_size = 2ull << 30;
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, UINT64_MAX, &pa, &err), 0);
	cr_assert_eq(pa, 0x7fffffffull - 0x6800000);
	cr_assert_eq(ktbpf_xlate_kva(f.x, KTBPF_X86_START_KERNEL_MAP - 1, &pa, &err), -ENOENT);
	fx_done(&f);
}

Test(translate, x86_non_canonical_einval)
{
	struct ktbpf_err err = {0};
	uint64_t pa;
	struct fx f;

	fx_x86(&f, false);
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_kva(f.x, 0x0000800000000000ull, &pa, &err), -EINVAL);
	cr_assert_eq(err.addr, 0x0000800000000000ull);
	cr_assert_eq(ktbpf_xlate_kva(f.x, VMALLOC_L5, &pa, &err), -EINVAL);
	f.mmu.l5 = true; /* the same kva is canonical with 57 bits (and unmapped) */
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, VMALLOC_L5, &pa, &err), -ENOENT);
	cr_assert_eq(ktbpf_xlate_kva(f.x, 0xfe00000000000000ull, &pa, &err), -EINVAL);
	fx_done(&f);
}

Test(translate, cache_hit_then_flush_sees_new_tables)
{
	uint64_t kva = VMALLOC_L4 + 0x9000, p1, p2, pa = 0;
	struct fx f;

	fx_x86(&f, false);
	p1 = kit_alloc_pages(f.im, 1);
	p2 = kit_alloc_pages(f.im, 1);
	kit_pt_map(f.pt, kva, p1, 4096, 4096);
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva + 8, &pa, NULL), 0);
	cr_assert_eq(pa, p1 + 8);
	kit_pt_map(f.pt, kva, p2, 4096, 4096); /* the guest remaps */
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva + 0x10, &pa, NULL), 0);
	cr_assert_eq(pa, p1 + 0x10, "a hit must not walk");
	cr_assert_eq(walk_ok(f.x, kva + 0x10), p2 + 0x10);
	ktbpf_xlate_flush(f.x);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva + 0x10, &pa, NULL), 0);
	cr_assert_eq(pa, p2 + 0x10);
	/* A failed walk is not cached: mapping the page later works without a flush. */
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva + 4096, &pa, NULL), -ENOENT);
	kit_pt_map(f.pt, kva + 4096, p1, 4096, 4096);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva + 4096, &pa, NULL), 0);
	cr_assert_eq(pa, p1);
	fx_done(&f);
}

Test(translate, read_across_pages_non_contiguous)
{
	uint64_t kva = VMALLOC_L4 + 0x10000, hi, lo, v = 0;
	uint32_t v32 = 0;
	char buf[16];
	struct ktbpf_err err = {0};
	struct fx f;

	fx_x86(&f, false);
	lo = kit_alloc_pages(f.im, 1);
	kit_alloc_pages(f.im, 3);
	hi = kit_alloc_pages(f.im, 1);
	/* Virtually adjacent, physically reversed. */
	kit_pt_map(f.pt, kva, hi, 4096, 4096);
	kit_pt_map(f.pt, kva + 4096, lo, 4096, 4096);
	kit_wbytes(f.im, hi + 4096 - 8, "ABCDEFGH", 8);
	kit_wbytes(f.im, lo, "IJKLMNOP", 8);
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_read(f.x, kva + 4096 - 8, buf, 16, &err), 0, "%s", err.msg);
	cr_assert_eq(memcmp(buf, "ABCDEFGHIJKLMNOP", 16), 0);
	cr_assert_eq(ktbpf_xlate_read_u64(f.x, kva + 4096 - 4, &v, &err), 0);
	cr_assert_eq(v, 0x4c4b4a4948474645ull); /* "EFGHIJKL" little-endian */
	cr_assert_eq(ktbpf_xlate_read_u32(f.x, kva + 4096 - 2, &v32, &err), 0);
	cr_assert_eq(v32, 0x4a494847u); /* "GHIJ": a u32 split by the page boundary */
	cr_assert_eq(ktbpf_xlate_read_u32(f.x, kva + 4096 - 8, &v32, &err), 0);
	cr_assert_eq(v32, 0x44434241u); /* "ABCD": within one page */
	/* The second page unmapped: the whole read fails at that page. */
	kit_pt_set_entry(f.pt, kva + 4096, 3, 0);
	ktbpf_xlate_flush(f.x);
	cr_assert_eq(ktbpf_xlate_read(f.x, kva + 4096 - 8, buf, 16, &err), -ENOENT);
	cr_assert_eq(err.addr, kva + 4096);
	/* Wrapping past 2^64. */
	cr_assert_eq(ktbpf_xlate_read(f.x, UINT64_MAX - 3, buf, 8, &err), -EINVAL);
	fx_done(&f);
}

Test(translate, read_direct_map_multi_page)
{
	struct fx f;
	uint64_t pa;
	uint8_t out[3 * 4096];

	fx_x86(&f, false);
	pa = kit_alloc_pages(f.im, 3);
	for (unsigned int i = 0; i < sizeof(out); i++)
		kit_w8(f.im, pa + i, (uint8_t)(i * 13));
	fx_xlate(&f);
	f.mmu.page_offset = DIRECT_MAP;
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_read(f.x, DIRECT_MAP + pa + 5, out, sizeof(out) - 5, NULL), 0);
	cr_assert_eq(memcmp(out, kit_ptr(f.im, pa + 5, sizeof(out) - 5), sizeof(out) - 5), 0);
	fx_done(&f);
}

Test(translate, read_str_truncates_and_stops_at_nul)
{
	uint64_t kva = VMALLOC_L4 + 0x20000, page;
	static char buf[8192];
	struct ktbpf_err err = {0};
	struct fx f;

	fx_x86(&f, false);
	page = kit_alloc_pages(f.im, 1);
	kit_pt_map(f.pt, kva, page, 4096, 4096); /* kva + 4096 stays unmapped */
	kit_wbytes(f.im, page, "hello", 6);
	kit_wbytes(f.im, page + 4096 - 4, "xyz", 4); /* ends right before the hole */
	page = kit_alloc_pages(f.im, 1);
	kit_pt_map(f.pt, kva + 0x2000, page, 4096, 4096); /* no NUL before the hole at +0x3000 */
	memset(kit_ptr(f.im, page, 4096), 'q', 4096);
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_read_str(f.x, kva, buf, 64, &err), 0);
	cr_assert_str_eq(buf, "hello");
	cr_assert_eq(ktbpf_xlate_read_str(f.x, kva, buf, 4, &err), 1);
	cr_assert_str_eq(buf, "hel");
	cr_assert_eq(ktbpf_xlate_read_str(f.x, kva + 4096 - 4, buf, 64, &err), 0);
	cr_assert_str_eq(buf, "xyz");
	cr_assert_eq(ktbpf_xlate_read_str(f.x, kva + 0x2000 + 100, buf, 64, &err), 1);
	cr_assert_eq(strlen(buf), 63);
	cr_assert_eq(ktbpf_xlate_read_str(f.x, kva + 0x2000 + 100, buf, sizeof(buf), &err),
		     -ENOENT);
	cr_assert_eq(err.addr, kva + 0x3000);
	cr_assert_eq(ktbpf_xlate_read_str(f.x, kva, buf, 0, &err), -EINVAL);
	fx_done(&f);
}

Test(translate, self_referencing_tables_terminate)
{
	uint64_t kva = 0xfffffffffffff000ull; /* index 511 at every level */
	uint64_t root, pa = 0;
	struct ktbpf_err err = {0};
	struct fx f;

	fx_x86(&f, false);
	root = kit_pt_root_pa(f.pt);
	kit_w64(f.im, root + 511 * 8, kit_pt_table_entry(f.pt, root));
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva + 0x18, &pa, &err), 0, "%s", err.msg);
	cr_assert_eq(pa, root + 0x18);
	fx_done(&f);

	fx_arm(&f, 4096, 16);
	root = kit_pt_root_pa(f.pt);
	kit_w64(f.im, root + 511 * 8, kit_pt_table_entry(f.pt, root));
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva + 0x18, &pa, &err), 0, "%s", err.msg);
	cr_assert_eq(pa, root + 0x18);
	fx_done(&f);
}

/* aarch64: a page and each legal block size, offsets preserved. */
static void arm_leaves(uint64_t granule, unsigned int t1sz, unsigned int levels,
		       const uint64_t *blocks, unsigned int nr_blocks)
{
	uint64_t base = ~0ull << (64 - t1sz), page;
	struct fx f;

	fx_arm(&f, granule, t1sz);
	cr_assert_eq(kit_pt_levels(f.pt), levels, "granule %llu t1sz %u",
		     (unsigned long long)granule, t1sz);
	page = kit_alloc(f.im, granule, granule);
	kit_pt_map(f.pt, base + granule, page, granule, granule);
	for (unsigned int i = 0; i < nr_blocks; i++)
		kit_pt_map(f.pt, base + blocks[i] * (i + 1), 0x100000000ull * (i + 1), blocks[i],
			   blocks[i]);
	fx_xlate(&f);
	cr_assert_eq(walk_ok(f.x, base + granule + granule - 8), page + granule - 8);
	for (unsigned int i = 0; i < nr_blocks; i++)
		cr_assert_eq(walk_ok(f.x, base + blocks[i] * (i + 1) + blocks[i] - 8),
			     0x100000000ull * (i + 1) + blocks[i] - 8);
	fx_done(&f);
}

Test(translate, arm64_4k_4level_and_3level)
{
	const uint64_t blocks[] = {2ull << 20, 1ull << 30};

	arm_leaves(4096, 16, 4, blocks, 2);
	arm_leaves(4096, 25, 3, blocks, 2); /* 39-bit: the 1G block sits at the start level */
}

Test(translate, arm64_16k_3level)
{
	const uint64_t blocks[] = {32ull << 20};

	arm_leaves(16384, 17, 3, blocks, 1);
}

Test(translate, arm64_64k_2level_and_3level)
{
	const uint64_t blocks[] = {512ull << 20};

	arm_leaves(65536, 22, 2, blocks, 1);
	arm_leaves(65536, 16, 3, blocks, 1);
}

/* A block descriptor at a level that allows none: rejected, not followed. */
static void arm_illegal_block(uint64_t granule, unsigned int t1sz, unsigned int depth)
{
	uint64_t kva = ~0ull << (64 - t1sz), pa;
	struct ktbpf_err err = {0};
	struct fx f;

	fx_arm(&f, granule, t1sz);
	kit_pt_set_entry(f.pt, kva, depth, 0x40000000ull | 1);
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva, &pa, &err), -ENOENT);
	cr_assert(strstr(err.msg, "block"), "%s", err.msg);
	fx_done(&f);
}

Test(translate, arm64_illegal_block_rejected)
{
	arm_illegal_block(4096, 16, 0);	 /* level 0 */
	arm_illegal_block(16384, 17, 0); /* level 1 */
	arm_illegal_block(65536, 16, 0); /* level 1 */
}

Test(translate, arm64_level3_reserved_descriptor_rejected)
{
	uint64_t kva = ~0ull << 48, pa;
	struct ktbpf_err err = {0};
	struct fx f;

	fx_arm(&f, 4096, 16);
	kit_pt_set_entry(f.pt, kva, 3, 0x40000000ull | 1);
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva, &pa, &err), -ENOENT);
	fx_done(&f);
}

Test(translate, arm64_bad_tcr_eopnotsupp)
{
	uint64_t pa;
	struct ktbpf_err err = {0};
	struct fx f;

	fx_arm(&f, 4096, 16);
	fx_xlate(&f);
	f.mmu.tcr_el1 = (3ull << 30) | (16ull << 16) | (1ull << 59); /* DS with 64K */
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, ~0ull << 48, &pa, &err), -EOPNOTSUPP);
	cr_assert(strstr(err.msg, "DS"), "%s", err.msg);
	f.mmu.tcr_el1 = (2ull << 30) | (10ull << 16) | (1ull << 59); /* 54-bit VA */
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, ~0ull << 54, &pa, &err), -EOPNOTSUPP);
	cr_assert(strstr(err.msg, "T1SZ 10"), "%s", err.msg);
	f.mmu.tcr_el1 = kit_pt_tcr(f.pt) & ~(3ull << 30); /* TG1 0b00 */
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, ~0ull << 48, &pa, &err), -EOPNOTSUPP);
	f.mmu.tcr_el1 = (2ull << 30) | (12ull << 16); /* 52-bit VA with 4K needs LPA2 */
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, ~0ull << 52, &pa, &err), -EOPNOTSUPP);
	fx_done(&f);
}

Test(translate, arm64_asid_and_cnp_stripped)
{
	uint64_t kva = (~0ull << 48) + 0x123000, page, pa = 0;
	struct ktbpf_err err = {0};
	struct fx f;

	fx_arm(&f, 4096, 16);
	page = kit_alloc_pages(f.im, 1);
	kit_pt_map(f.pt, kva, page, 4096, 4096);
	fx_xlate(&f);
	f.mmu.pgd_pa |= (0xabcdull << 48) | 1;
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva + 0x42, &pa, &err), 0, "%s", err.msg);
	cr_assert_eq(pa, page + 0x42);
	/* Outside the TTBR1 range. */
	cr_assert_eq(ktbpf_xlate_kva(f.x, 0x0000ffff00000000ull, &pa, &err), -EINVAL);
	fx_done(&f);
}

Test(translate, arm64_direct_map_uses_dram_base)
{
	uint64_t po = 0xffff000000000000ull, size, pa = 0;
	struct fx f;

	fx_arm(&f, 4096, 16);
	fx_xlate(&f);
	size = f.im->size;
	f.mmu.page_offset = po;
	f.mmu.dram_base = 0x40000000;
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, po + 0x10, &pa, NULL), 0);
	cr_assert_eq(pa, 0x40000010);
	cr_assert_eq(ktbpf_xlate_kva(f.x, po + size - 1, &pa, NULL), 0);
	cr_assert_eq(pa, 0x40000000 + size - 1);
	cr_assert_eq(ktbpf_xlate_kva(f.x, po + size, &pa, NULL), -ENOENT);
	fx_done(&f);
}

Test(translate, arch_names_roundtrip)
{
	cr_assert_eq(ktbpf_arch_from_name("x86_64"), KTBPF_ARCH_X86_64);
	cr_assert_eq(ktbpf_arch_from_name("amd64"), KTBPF_ARCH_X86_64);
	cr_assert_eq(ktbpf_arch_from_name("arm64"), KTBPF_ARCH_AARCH64);
	cr_assert_eq(ktbpf_arch_from_name("riscv64"), KTBPF_ARCH_UNKNOWN);
	cr_assert_eq(ktbpf_arch_from_name(NULL), KTBPF_ARCH_UNKNOWN);
	cr_assert_str_eq(ktbpf_arch_name(KTBPF_ARCH_AARCH64), "aarch64");
	cr_assert_str_eq(ktbpf_arch_name(KTBPF_ARCH_UNKNOWN), "unknown");
}

Test(translate, unknown_arch_walk_eopnotsupp)
{
	struct ktbpf_mmu mmu = {0};
	struct kit_image *im = kit_image_new(1 << 16);
	struct ktbpf_xlate *x = ktbpf_xlate_new(kit_mem(im), &mmu);
	uint64_t pa;

	cr_assert_eq(ktbpf_xlate_kva(x, 0xffffffff81000000ull, &pa, NULL), -EOPNOTSUPP);
	cr_assert_eq(ktbpf_xlate_mem_of(x), kit_mem(im));
	cr_assert_eq(ktbpf_xlate_mmu(x)->arch, KTBPF_ARCH_UNKNOWN);
	ktbpf_xlate_free(x);
	kit_image_free(im);
}

Test(translate, arm64_table_outside_ram_efault_with_pa)
{
	uint64_t kva = (~0ull << 39) + 0x5000, wild = 0x10000000ull; /* below DRAM at 1 GiB */
	struct ktbpf_err err = {0};
	uint64_t pa;
	struct fx f;

	fx_arm(&f, 4096, 25);
	kit_pt_set_entry(f.pt, kva, 1, kit_pt_table_entry(f.pt, wild));
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva, &pa, &err), -EFAULT);
	cr_assert_eq(err.addr, wild);
	cr_assert(strstr(err.msg, "level 3"), "%s", err.msg);
	fx_done(&f);
}

/* 52-bit VA: LPA2 with 4K (5 levels from level -1) and 16K (4 levels), LVA with 64K (3 levels). */
Test(translate, arm64_52bit_lpa2_4k_5level_16k_4level_64k_3level)
{
	const uint64_t b4k[] = {2ull << 20, 1ull << 30}, b16k[] = {32ull << 20},
		       b64k[] = {512ull << 20};

	arm_leaves(4096, 12, 5, b4k, 2);
	arm_leaves(16384, 12, 4, b16k, 1);
	arm_leaves(65536, 12, 3, b64k, 1);
}

/* LPA2 allows a block one level higher: 512 GiB at level 0 (4K), 64 GiB at level 1 (16K). */
Test(translate, arm64_lpa2_blocks_one_level_higher)
{
	struct {
		uint64_t granule, block;
	} c[] = {{4096, 512ull << 30}, {16384, 64ull << 30}};

	for (int i = 0; i < 2; i++) {
		uint64_t kva = (~0ull << 52) + 3 * c[i].block;
		struct fx f;

		fx_arm(&f, c[i].granule, 12);
		kit_pt_map(f.pt, kva, 2 * c[i].block, c[i].block, c[i].block);
		fx_xlate(&f);
		cr_assert_eq(walk_ok(f.x, kva + c[i].block - 8), 3 * c[i].block - 8);
		fx_done(&f);
	}
	/* Without LPA2 a level-0 block is illegal (arm64_illegal_block_rejected). */
}

/*
 * Output address bits above 48: with DS, OA[51:50] come from descriptor
 * bits [9:8] (which are the shareability field without it: never part of
 * the address then); with 64K, OA[51:48] from bits [15:12].
 */
Test(translate, arm64_output_address_high_bits)
{
	uint64_t pa, kva, page;
	struct fx f;

	fx_arm(&f, 4096, 12);
	kva = (~0ull << 52) + 0x7000;
	kit_pt_map(f.pt, kva, (3ull << 50) | 0x5000, 4096, 4096);
	fx_xlate(&f);
	pa = walk_ok(f.x, kva + 0x123);
	cr_assert_eq(pa, (3ull << 50) | 0x5123, "pa 0x%llx", (unsigned long long)pa);
	fx_done(&f);

	fx_arm(&f, 4096, 16);
	kva = (~0ull << 48) + 0x7000;
	page = kit_alloc_pages(f.im, 1);
	/* AF, inner shareable (SH = 0b11), page. */
	kit_pt_set_entry(f.pt, kva, 3, page | (1ull << 10) | (3ull << 8) | 3);
	fx_xlate(&f);
	cr_assert_eq(walk_ok(f.x, kva + 8), page + 8);
	fx_done(&f);

	fx_arm(&f, 65536, 12);
	kva = (~0ull << 52) + 0x70000;
	kit_pt_map(f.pt, kva, (5ull << 48) | 0x50000, 65536, 65536);
	fx_xlate(&f);
	cr_assert_eq(walk_ok(f.x, kva + 0x1238), (5ull << 48) | 0x51238);
	fx_done(&f);
}

/*
 * Hostile LPA2 tables: a table descriptor whose bits [9:8] move it above
 * RAM, or a TTBR1 whose BADDR[51:48] (bits [5:2]) do, is never followed:
 * -EFAULT with the PA it named.
 */
Test(translate, arm64_lpa2_table_outside_ram_never_followed)
{
	uint64_t kva = (~0ull << 52) + 0x5000, table, pa;
	struct ktbpf_err err = {0};
	struct fx f;

	fx_arm(&f, 4096, 12);
	kit_pt_map(f.pt, kva, 0x40100000, 4096, 4096);
	table = kit_r64(f.im, kit_pt_entry_pa(f.pt, kva, 2)) & ~0xfffull & ((1ull << 50) - 1);
	kit_pt_set_entry(f.pt, kva, 2, table | (1ull << 8) | 3);
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva, &pa, &err), -EFAULT);
	cr_assert_eq(err.addr, (1ull << 50) | table, "addr 0x%llx", (unsigned long long)err.addr);
	cr_assert(strstr(err.msg, "level 2"), "%s", err.msg);
	fx_done(&f);

	fx_arm(&f, 4096, 12);
	kit_pt_map(f.pt, kva, 0x40100000, 4096, 4096);
	fx_xlate(&f);
	cr_assert_eq(walk_ok(f.x, kva), 0x40100000);
	f.mmu.pgd_pa |= 0x4; /* BADDR[48] */
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, kva, &pa, &err), -EFAULT);
	cr_assert_eq(err.addr, kit_pt_root_pa(f.pt) | (1ull << 48));
	cr_assert(strstr(err.msg, "level -1"), "%s", err.msg);
	fx_done(&f);
}

/*
 * What the kernel strips from its own addresses: the PAC field
 * (KERNELPACMASK, bits 63..VA) of a signed return address, and with TBI1
 * (KASAN tags) the tag byte. Without them such an address is outside TTBR1.
 */
Test(translate, arm64_pac_and_tag_bits_stripped)
{
	uint64_t kva = (~0ull << 48) + 0x123000, page, pa = 0;
	uint64_t signed_kva = (kva & ((1ull << 48) - 1)) | 0x12b5000000000000ull;
	uint64_t tagged_kva = (kva & ~(0xffull << 56)) | (0x3cull << 56);
	struct ktbpf_err err = {0};
	struct fx f;

	fx_arm(&f, 4096, 16);
	page = kit_alloc_pages(f.im, 1);
	kit_pt_map(f.pt, kva, page, 4096, 4096);
	fx_xlate(&f);
	cr_assert_eq(ktbpf_xlate_kva(f.x, signed_kva + 8, &pa, &err), -EINVAL);
	cr_assert_eq(ktbpf_xlate_kva(f.x, tagged_kva + 8, &pa, &err), -EINVAL);
	f.mmu.kernel_pac_mask = ~0ull << 48;
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, signed_kva + 8, &pa, &err), 0, "%s", err.msg);
	cr_assert_eq(pa, page + 8);
	cr_assert_eq(ktbpf_a64_untag(&f.mmu, signed_kva), kva);
	f.mmu.kernel_pac_mask = 0;
	f.mmu.tcr_el1 |= 1ull << 38; /* TBI1 */
	ktbpf_xlate_set_mmu(f.x, &f.mmu);
	cr_assert_eq(ktbpf_xlate_kva(f.x, tagged_kva + 8, &pa, &err), 0, "%s", err.msg);
	cr_assert_eq(pa, page + 8);
	cr_assert_eq(ktbpf_xlate_kva(f.x, signed_kva + 8, &pa, &err), -EINVAL);
	/* A user (TTBR0) address is never made a kernel one. */
	cr_assert_eq(ktbpf_a64_untag(&f.mmu, 0x0000800000123000ull), 0x0000800000123000ull);
	fx_done(&f);
}
