/* SPDX-License-Identifier: MIT */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ktbpf/translate.h"

/*
 * The cache maps 4 KiB virtual pages to 4 KiB physical pages. 4 KiB is safe
 * for every leaf size (larger leaves are physically contiguous), so one entry
 * format serves all architectures and granules.
 */
#define TLB_SIZE 64
#define PAGE_4K	 4096ull

/* x86_64: arch/x86/include/asm/pgtable_types.h (_PAGE_PRESENT, _PAGE_PSE, PTE_PFN_MASK). */
#define X86_PRESENT   (1ull << 0)
#define X86_PS	      (1ull << 7)
#define X86_ADDR_MASK 0x000ffffffffff000ull
#define X86_1G_MASK   0x000fffffc0000000ull
#define X86_2M_MASK   0x000fffffffe00000ull

/*
 * aarch64: arch/arm64/include/asm/pgtable-hwdef.h (TCR_T1SZ, TCR_TG1, TCR_DS,
 * TTBR_ASID_MASK, TTBR_BADDR_MASK_52, PTE_ADDR_LOW/PTE_ADDR_HIGH).
 */
#define A64_TCR_DS	 (1ull << 59)
#define A64_TTBR_BADDR	 0x0000fffffffffffeull /* drops ASID [63:48] and CnP [0] */
#define A64_TTBR_BADDR52 0x0000ffffffffffc0ull /* with DS: BADDR[47:6], BADDR[51:48] in [5:2] */
#define A64_OA_48	 0x0000ffffffffffffull
#define A64_OA_50	 0x0003ffffffffffffull /* with DS: OA[49:shift]; OA[51:50] in bits [9:8] */
#define A64_OA_HI_64K	 0xf000ull /* 64K granule: OA[51:48] in bits [15:12] (FEAT_LPA) */
#define A64_TOP_BYTE	 0xff00000000000000ull
#define A64_TCR_TBI1	 (1ull << 38)

struct tlb_entry {
	uint64_t tag; /* (kva & ~0xfff) | 1, 0 = empty */
	uint64_t pa;  /* 4 KiB physical page */
};

struct ktbpf_xlate {
	const struct ktbpf_mem *mem;
	struct ktbpf_mmu mmu;
	struct tlb_entry tlb[TLB_SIZE];
};

/* aarch64 walk geometry from TCR_EL1 (ARM DDI 0487, D8.2 "Translation table walk"). */
struct a64 {
	unsigned int shift;  /* page shift: 12, 14, 16 */
	unsigned int stride; /* index bits per level: shift - 3 */
	unsigned int va;     /* VA bits: 64 - T1SZ */
	int start;	     /* first level: -1 (4K, 52-bit VA with LPA2) .. 3 */
	bool ds;	     /* TCR_EL1.DS: LPA2, 52-bit OA in descriptor bits [9:8] */
};

const char *ktbpf_arch_name(enum ktbpf_arch arch)
{
	switch (arch) {
	case KTBPF_ARCH_X86_64:
		return "x86_64";
	case KTBPF_ARCH_AARCH64:
		return "aarch64";
	default:
		return "unknown";
	}
}

enum ktbpf_arch ktbpf_arch_from_name(const char *name)
{
	if (!name)
		return KTBPF_ARCH_UNKNOWN;
	if (!strcasecmp(name, "x86_64") || !strcasecmp(name, "amd64"))
		return KTBPF_ARCH_X86_64;
	if (!strcasecmp(name, "aarch64") || !strcasecmp(name, "arm64"))
		return KTBPF_ARCH_AARCH64;
	return KTBPF_ARCH_UNKNOWN;
}

struct ktbpf_xlate *ktbpf_xlate_new(const struct ktbpf_mem *mem, const struct ktbpf_mmu *mmu)
{
	struct ktbpf_xlate *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->mem = mem;
	x->mmu = *mmu;
	return x;
}

struct ktbpf_xlate *ktbpf_xlate_free(struct ktbpf_xlate *x)
{
	free(x);
	return NULL;
}

void ktbpf_xlate_set_mmu(struct ktbpf_xlate *x, const struct ktbpf_mmu *mmu)
{
	x->mmu = *mmu;
	ktbpf_xlate_flush(x);
}

const struct ktbpf_mmu *ktbpf_xlate_mmu(const struct ktbpf_xlate *x)
{
	return &x->mmu;
}

const struct ktbpf_mem *ktbpf_xlate_mem_of(const struct ktbpf_xlate *x)
{
	return x->mem;
}

void ktbpf_xlate_flush(struct ktbpf_xlate *x)
{
	memset(x->tlb, 0, sizeof(x->tlb));
}

static int not_mapped(struct ktbpf_err *err, uint64_t kva, const char *what, int level, uint64_t e)
{
	return ktbpf_err_set_addr(err, -ENOENT, kva,
				  "kva 0x%llx is not mapped: %s (level %d entry 0x%llx)",
				  (unsigned long long)kva, what, level, (unsigned long long)e);
}

static int table_fault(struct ktbpf_err *err, uint64_t kva, const char *name, int level,
		       uint64_t table)
{
	return ktbpf_err_set_addr(err, -EFAULT, table,
				  "translating kva 0x%llx: %s table (level %d) at PA 0x%llx is "
				  "outside guest RAM",
				  (unsigned long long)kva, name, level, (unsigned long long)table);
}

/*
 * x86_64 walk, arch/x86/include/asm/pgtable_64_types.h: level 0 = PTE up to
 * 3 = PGD (4 = PML5 with LA57); PS is a leaf at PUD (1G) and PMD (2M) only.
 */
static int walk_x86(struct ktbpf_xlate *x, uint64_t kva, uint64_t *ret_pa, struct ktbpf_err *err)
{
	static const char *const names[] = {"PTE", "PMD", "PUD", "PGD", "PML5"};
	unsigned int levels = x->mmu.l5 ? 5 : 4;
	int64_t top = (int64_t)kva >> (levels * 9 + 12 - 1);
	uint64_t table = x->mmu.pgd_pa & X86_ADDR_MASK;

	if (top != 0 && top != -1)
		return ktbpf_err_set_addr(err, -EINVAL, kva,
					  "kva 0x%llx is not canonical for %u-level paging",
					  (unsigned long long)kva, levels);
	for (unsigned int lvl = levels; lvl-- > 0;) {
		unsigned int shift = 12 + 9 * lvl;
		uint64_t e;

		if (ktbpf_mem_read_u64(x->mem, table + ((kva >> shift) & 511) * 8, &e, NULL) < 0)
			return table_fault(err, kva, names[lvl], lvl, table);
		if (!(e & X86_PRESENT))
			return not_mapped(err, kva, "entry not present", lvl, e);
		if (lvl == 2 && (e & X86_PS)) {
			*ret_pa = (e & X86_1G_MASK) | (kva & ((1ull << 30) - 1));
			return 0;
		}
		if (lvl == 1 && (e & X86_PS)) {
			*ret_pa = (e & X86_2M_MASK) | (kva & ((1ull << 21) - 1));
			return 0;
		}
		if (lvl >= 3 && (e & X86_PS))
			return not_mapped(err, kva, "reserved PS bit set", lvl, e);
		table = e & X86_ADDR_MASK;
	}
	/* The loop ended on a PTE: table holds its page frame. */
	*ret_pa = table | (kva & 0xfff);
	return 0;
}

int ktbpf_a64_decode_tcr(uint64_t tcr, struct ktbpf_a64_geom *g, struct ktbpf_err *err)
{
	/* TG1: 0b01 16K, 0b10 4K, 0b11 64K, 0b00 reserved. */
	static const unsigned int shifts[4] = {0, 14, 12, 16};
	unsigned int shift = shifts[(tcr >> 30) & 3], t1sz = (unsigned int)((tcr >> 16) & 63);
	unsigned int va = 64 - t1sz, stride = shift - 3, max_va;
	bool ds = tcr & A64_TCR_DS;

	if (!shift)
		return ktbpf_err_set(err, -EOPNOTSUPP,
				     "TCR_EL1 0x%llx has a reserved TG1 granule (0b00)",
				     (unsigned long long)tcr);
	if (ds && shift == 16)
		return ktbpf_err_set(err, -EOPNOTSUPP,
				     "TCR_EL1 0x%llx sets DS (LPA2) with a 64 KiB granule",
				     (unsigned long long)tcr);
	/*
	 * 52-bit VA: LPA2 (DS) with 4K/16K, FEAT_LVA with 64K. The smallest
	 * VA is 16 bits (T1SZ 48, with FEAT_TTST), and must exceed a page.
	 */
	max_va = ds || shift == 16 ? 52 : 48;
	if (va > max_va || t1sz > 48 || va <= shift)
		return ktbpf_err_set(err, -EOPNOTSUPP,
				     "TCR_EL1.T1SZ %u (%u-bit VA) is out of range with a %u KiB "
				     "granule%s (T1SZ %u..48)",
				     t1sz, va, 1u << (shift - 10), ds ? " and LPA2" : "",
				     64 - max_va);
	g->shift = shift;
	g->va = va;
	g->ds = ds;
	g->levels = (va - shift + stride - 1) / stride;
	return 0;
}

static int a64_decode(uint64_t tcr, struct a64 *p, struct ktbpf_err *err)
{
	struct ktbpf_a64_geom g;
	int r = ktbpf_a64_decode_tcr(tcr, &g, err);

	if (r < 0)
		return r;
	p->shift = g.shift;
	p->stride = g.shift - 3;
	p->va = g.va;
	p->ds = g.ds;
	p->start = 4 - (int)g.levels;
	return 0;
}

/*
 * Blocks exist at level 1 and 2 with 4K, level 2 only with 16K and 64K; with
 * LPA2 one level higher too (4K: 512 GiB at level 0; 16K: 64 GiB at level 1).
 */
static bool a64_block_ok(const struct a64 *p, int level)
{
	if (level == 2)
		return true;
	if (p->shift == 12)
		return level == 1 || (level == 0 && p->ds);
	return p->shift == 14 && level == 1 && p->ds;
}

/* The output address in descriptor e (table or leaf), aligned to 1 << align. */
static uint64_t a64_oa(const struct a64 *p, uint64_t e, unsigned int align)
{
	uint64_t oa;

	if (p->ds)
		oa = (e & A64_OA_50) | ((e >> 8) & 3) << 50;
	else if (p->shift == 16)
		oa = (e & A64_OA_48) | (e & A64_OA_HI_64K) << 36;
	else
		oa = e & A64_OA_48;
	return oa & ~((1ull << align) - 1);
}

/* The root table's PA in TTBR1_EL1: BADDR without ASID and CnP (with DS, BADDR[51:48] too). */
static uint64_t a64_root(const struct a64 *p, uint64_t ttbr)
{
	if (p->ds)
		return (ttbr & A64_TTBR_BADDR52) | ((ttbr >> 2) & 0xf) << 48;
	return ttbr & A64_TTBR_BADDR & ~7ull;
}

uint64_t ktbpf_a64_untag(const struct ktbpf_mmu *mmu, uint64_t kva)
{
	/*
	 * arch/arm64/include/asm/memory.h: __untagged_addr() sign-extends
	 * bit 55; pointer_auth.h: ptrauth_kernel_pac_mask() is GENMASK(63,
	 * vabits_actual). Only kernel (TTBR1, bit 55 set) addresses.
	 */
	if (mmu->arch != KTBPF_ARCH_AARCH64 || !(kva >> 55 & 1))
		return kva;
	return kva | mmu->kernel_pac_mask | (mmu->tcr_el1 & A64_TCR_TBI1 ? A64_TOP_BYTE : 0);
}

static int walk_a64(struct ktbpf_xlate *x, uint64_t kva, uint64_t *ret_pa, struct ktbpf_err *err)
{
	struct a64 p = {0};
	uint64_t table;
	int r = a64_decode(x->mmu.tcr_el1, &p, err);

	if (r < 0)
		return r;
	kva = ktbpf_a64_untag(&x->mmu, kva);
	if ((kva >> p.va) != (~0ull >> p.va))
		return ktbpf_err_set_addr(err, -EINVAL, kva,
					  "kva 0x%llx is outside the TTBR1 range of a %u-bit VA",
					  (unsigned long long)kva, p.va);
	table = a64_root(&p, x->mmu.pgd_pa);
	for (int lvl = p.start; lvl <= 3; lvl++) {
		unsigned int shift = p.shift + p.stride * (unsigned int)(3 - lvl);
		unsigned int bits = lvl == p.start ? p.va - shift : p.stride;
		uint64_t idx = (kva >> shift) & ((1ull << bits) - 1), e;

		if (ktbpf_mem_read_u64(x->mem, table + idx * 8, &e, NULL) < 0)
			return table_fault(err, kva, "translation", lvl, table);
		if (!(e & 1))
			return not_mapped(err, kva, "invalid descriptor", lvl, e);
		if (lvl == 3 && !(e & 2))
			return not_mapped(err, kva, "reserved level-3 descriptor", lvl, e);
		if (lvl < 3 && (e & 2)) {
			table = a64_oa(&p, e, p.shift);
			continue;
		}
		if (lvl < 3 && !a64_block_ok(&p, lvl))
			return not_mapped(err, kva, "block descriptor not allowed at this level",
					  lvl, e);
		*ret_pa = a64_oa(&p, e, shift) | (kva & ((1ull << shift) - 1));
		return 0;
	}
	return -EIO; /* unreachable: level 3 always returns */
}

int ktbpf_xlate_walk(struct ktbpf_xlate *x, uint64_t kva, uint64_t *ret_pa, struct ktbpf_err *err)
{
	switch (x->mmu.arch) {
	case KTBPF_ARCH_X86_64:
		return walk_x86(x, kva, ret_pa, err);
	case KTBPF_ARCH_AARCH64:
		return walk_a64(x, kva, ret_pa, err);
	default:
		return ktbpf_err_set_addr(err, -EOPNOTSUPP, kva,
					  "cannot walk page tables: unknown architecture");
	}
}

/*
 * The direct-map and kernel-image shortcuts: the PA of kva and how many bytes
 * from it are physically contiguous, or 0 when neither applies.
 */
static uint64_t shortcut(const struct ktbpf_xlate *x, uint64_t kva, uint64_t *ret_pa)
{
	const struct ktbpf_mmu *m = &x->mmu;

	if (m->page_offset && kva >= m->page_offset) {
		uint64_t end = ktbpf_mem_end(x->mem), d = kva - m->page_offset;
		uint64_t span = end > m->dram_base ? end - m->dram_base : 0;

		if (d < span) {
			*ret_pa = d + m->dram_base;
			return span - d;
		}
	}
	if (m->kimage_base && kva >= m->kimage_base && kva - m->kimage_base < m->kimage_size) {
		*ret_pa = kva - m->kimage_base + m->phys_base;
		return m->kimage_size - (kva - m->kimage_base);
	}
	return 0;
}

int ktbpf_xlate_kva(struct ktbpf_xlate *x, uint64_t kva, uint64_t *ret_pa, struct ktbpf_err *err)
{
	struct tlb_entry *e;
	uint64_t tag, pa;
	int r;

	kva = ktbpf_a64_untag(&x->mmu, kva);
	e = &x->tlb[(kva >> 12) % TLB_SIZE];
	tag = (kva & ~(PAGE_4K - 1)) | 1;
	if (shortcut(x, kva, ret_pa))
		return 0;
	if (e->tag == tag) {
		*ret_pa = e->pa | (kva & (PAGE_4K - 1));
		return 0;
	}
	r = ktbpf_xlate_walk(x, kva, &pa, err);
	if (r < 0)
		return r;
	e->tag = tag;
	e->pa = pa & ~(PAGE_4K - 1);
	*ret_pa = pa;
	return 0;
}

/* PA of kva and how many bytes from it are contiguous: to its 4 KiB page end, more via a shortcut.
 */
static int chunk(struct ktbpf_xlate *x, uint64_t kva, uint64_t *ret_pa, uint64_t *ret_n,
		 struct ktbpf_err *err)
{
	int r;

	*ret_n = shortcut(x, kva, ret_pa);
	if (*ret_n)
		return 0;
	r = ktbpf_xlate_kva(x, kva, ret_pa, err);
	*ret_n = PAGE_4K - (kva & (PAGE_4K - 1));
	return r;
}

int ktbpf_xlate_read(struct ktbpf_xlate *x, uint64_t kva, void *buf, size_t len,
		     struct ktbpf_err *err)
{
	uint8_t *out = buf;

	if (len && len - 1 > UINT64_MAX - kva)
		return ktbpf_err_set_addr(err, -EINVAL, kva,
					  "read of %zu bytes at kva 0x%llx wraps the address space",
					  len, (unsigned long long)kva);
	while (len) {
		uint64_t pa, n;
		int r = chunk(x, kva, &pa, &n, err);

		if (r < 0)
			return r;
		if (n > len)
			n = len;
		r = ktbpf_mem_read(x->mem, pa, out, (size_t)n, err);
		if (r < 0)
			return r;
		out += n;
		len -= (size_t)n;
		kva += n;
	}
	return 0;
}

/* Scalars that do not cross a page need one translation and one scalar memory read. */
/*
 * One little-endian scalar of len 4 or 8 bytes: a single memory read when it
 * lies within one page or shortcut, else ktbpf_xlate_read() across the page
 * boundary. Always inlined with a constant len, like mem.c's read_le().
 */
static inline __attribute__((always_inline)) int
read_le(struct ktbpf_xlate *x, uint64_t kva, size_t len, uint64_t *ret, struct ktbpf_err *err)
{
	uint64_t pa, n, v = 0;
	uint32_t v32;
	int r = chunk(x, kva, &pa, &n, err);

	if (r < 0)
		return r;
	if (n >= len && len == 8)
		return ktbpf_mem_read_u64(x->mem, pa, ret, err);
	if (n >= len) {
		r = ktbpf_mem_read_u32(x->mem, pa, &v32, err);
		if (r == 0)
			*ret = v32;
		return r;
	}
	/* The low len bytes of a zeroed u64 read as little-endian give the value. */
	r = ktbpf_xlate_read(x, kva, &v, len, err);
	if (r == 0)
		*ret = le64toh(v);
	return r;
}

int ktbpf_xlate_read_u32(struct ktbpf_xlate *x, uint64_t kva, uint32_t *ret, struct ktbpf_err *err)
{
	uint64_t v;
	int r = read_le(x, kva, 4, &v, err);

	if (r == 0)
		*ret = (uint32_t)v;
	return r;
}

int ktbpf_xlate_read_u64(struct ktbpf_xlate *x, uint64_t kva, uint64_t *ret, struct ktbpf_err *err)
{
	return read_le(x, kva, 8, ret, err);
}

int ktbpf_xlate_read_str(struct ktbpf_xlate *x, uint64_t kva, char *buf, size_t max,
			 struct ktbpf_err *err)
{
	size_t done = 0;

	if (!max)
		return ktbpf_err_set(err, -EINVAL, "string buffer of size 0");
	/* Page by page, so bytes after the NUL are never needed. */
	while (done < max - 1) {
		uint64_t pa, n;
		int r;

		if (done && kva == 0)
			return ktbpf_err_set_addr(err, -EINVAL, kva,
						  "string runs past the end of the address space");
		r = chunk(x, kva, &pa, &n, err);
		if (r < 0)
			return r;
		if (n > PAGE_4K - (kva & (PAGE_4K - 1)))
			n = PAGE_4K - (kva & (PAGE_4K - 1));
		if (n > max - 1 - done)
			n = max - 1 - done;
		r = ktbpf_mem_read(x->mem, pa, buf + done, (size_t)n, err);
		if (r < 0)
			return r;
		if (memchr(buf + done, 0, (size_t)n))
			return 0;
		done += (size_t)n;
		kva += n;
	}
	buf[max - 1] = 0;
	return 1;
}
