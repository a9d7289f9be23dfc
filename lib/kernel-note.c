/* SPDX-License-Identifier: MIT */
/*
 * Which VMCOREINFO note is the running kernel's. After a reboot or a kexec,
 * guest RAM still holds the earlier kernel's note (and text copy) until
 * something overwrites those pages, above or below the live one: the
 * highest note is not necessarily the live one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel-internal.h"

#define X86_PTE_ADDR_MASK 0x000ffffffffff000ull
#define X86_UTS_LEN	  65		    /* include/uapi/linux/utsname.h: __NEW_UTS_LEN + 1 */
#define X86_UTS_RELEASE	  (2 * X86_UTS_LEN) /* new_utsname.release after sysname, nodename */

int kn_kimage_size(const struct ktbpf_vmcoreinfo *vi, uint64_t *ret, struct ktbpf_err *err)
{
	uint64_t v = vi ? vi->kernel_image_size : 0;

	/*
	 * arch/x86/include/asm/page_64_types.h: KERNEL_IMAGE_SIZE is 512 MiB,
	 * or 1 GiB under CONFIG_RANDOMIZE_BASE; the kernel map above
	 * __START_KERNEL_map is 2 GiB in all. Kernels before 4.x do not list it.
	 */
	if (!v) {
		*ret = KTBPF_X86_KERNEL_IMAGE_SIZE;
		return 0;
	}
	if (v % (2ull << 20) || v > (2ull << 30))
		return ktbpf_err_set(err, -EUCLEAN,
				     "VMCOREINFO NUMBER(KERNEL_IMAGE_SIZE)=%llu is not a multiple "
				     "of 2 MiB up to 2 GiB",
				     (unsigned long long)v);
	*ret = v;
	return 0;
}

/* TCR_EL1.TG1 for a granule (arch/arm64/include/asm/pgtable-hwdef.h: TCR_TG1_*), 0 when none. */
static uint64_t a64_tg1(uint32_t page_size)
{
	switch (page_size) {
	case 4096:
		return 2ull << 30;
	case 16384:
		return 1ull << 30;
	case 65536:
		return 3ull << 30;
	default:
		return 0;
	}
}

/* TCR_EL1 as the note says the kernel runs: TG1, T1SZ, DS. */
static int a64_note_tcr(const struct ktbpf_vmcoreinfo *vi, uint64_t *ret, struct ktbpf_err *err)
{
	uint64_t tg1 = a64_tg1(vi->page_size), t1sz = vi->tcr_el1_t1sz;

	if (!tg1)
		return ktbpf_err_set(
			err, -EUCLEAN,
			"VMCOREINFO PAGESIZE=%u is not an arm64 granule (4K, 16K, 64K)",
			vi->page_size);
	if (!t1sz)
		return ktbpf_err_need(err,
				      ktbpf_err_set(err, -ENOENT,
						    "VMCOREINFO lists no NUMBER(TCR_EL1_T1SZ): the "
						    "aarch64 VA size (TCR_EL1) is unknown"),
				      KTBPF_NEED_TCR_EL1);
	if (t1sz > 48)
		return ktbpf_err_set(
			err, -EUCLEAN,
			"VMCOREINFO NUMBER(TCR_EL1_T1SZ)=%llu is out of range (12..48)",
			(unsigned long long)t1sz);
	/*
	 * arch/arm64/mm/proc.S: __cpu_setup() sets DS when the kernel runs
	 * 52-bit with 4K/16K (LPA2); 64K reaches 52 bits without it (LVA).
	 */
	*ret = tg1 | t1sz << 16 | (t1sz < 16 && vi->page_size != 65536 ? 1ull << 59 : 0);
	return 0;
}

int kn_arm64_mmu(const struct ktbpf_vmcoreinfo *vi, const struct ktbpf_kernel_hints *h,
		 struct ktbpf_mmu *m, struct ktbpf_err *err)
{
	struct ktbpf_a64_geom g;
	uint64_t root, va_bits, page_end;
	int r;

	*m = (struct ktbpf_mmu){.arch = KTBPF_ARCH_AARCH64};
	if (h->has_tcr_el1) {
		m->tcr_el1 = h->tcr_el1;
		if ((r = ktbpf_a64_decode_tcr(m->tcr_el1, &g, err)) < 0) {
			ktbpf_err_prefix(err, -EINVAL, "TCR_EL1 hint 0x%llx is wrong: ",
					 (unsigned long long)h->tcr_el1);
			return ktbpf_err_need(err, -EINVAL, KTBPF_NEED_TCR_EL1);
		}
	} else if (!vi) {
		ktbpf_err_set(err, -EINVAL,
			      "aarch64 without VMCOREINFO needs the TTBR1_EL1 and TCR_EL1 hints");
		return ktbpf_err_need(err, -EINVAL, KTBPF_NEED_PGD | KTBPF_NEED_TCR_EL1);
	} else {
		if ((r = a64_note_tcr(vi, &m->tcr_el1, err)) < 0)
			return r;
		if ((r = ktbpf_a64_decode_tcr(m->tcr_el1, &g, err)) < 0)
			return ktbpf_err_prefix(err, -EUCLEAN, "VMCOREINFO NUMBER(TCR_EL1_T1SZ): ");
	}
	if (h->has_cr3) {
		m->pgd_pa = h->cr3;
	} else if (vi && vi->init_top_pgt && vi->kimage_voffset) {
		/* arch/arm64/include/asm/memory.h: __kimg_to_phys(); paging_init() loads it. */
		root = vi->init_top_pgt - vi->kimage_voffset;
		/*
		 * arch/arm64/include/asm/assembler.h: offset_ttbr1: a 52-bit
		 * kernel without LPA2 (64K) running 48-bit points TTBR1 past
		 * the PGD entries the shorter VA does not index; it runs 48-bit
		 * then (T1SZ = TCR_T1SZ(VA_BITS_MIN)), nothing else.
		 */
		if (g.shift == 16 && vi->va_bits == 52 && g.va == 48) {
			unsigned int pgdir_shift = 16 + 13 * 2;

			root += ((1ull << (52 - pgdir_shift)) - (1ull << (48 - pgdir_shift))) * 8;
		}
		/* TTBR_BADDR_MASK_52: with DS, BADDR[51:48] sits in bits [5:2]. */
		m->pgd_pa = g.ds ? (root & 0x0000ffffffffffc0ull) | (root >> 48 & 0xf) << 2 : root;
	} else {
		ktbpf_err_set(err, -ENOENT,
			      "VMCOREINFO lists no swapper_pg_dir or kimage_voffset: the "
			      "page-table root (TTBR1_EL1) is unknown");
		return ktbpf_err_need(err, -ENOENT, KTBPF_NEED_PGD);
	}
	if (vi && vi->kernel_pac_mask && vi->kernel_pac_mask != ~0ull << g.va)
		return ktbpf_err_set(err, -EUCLEAN,
				     "VMCOREINFO NUMBER(KERNELPACMASK)=0x%llx is not bits 63..%u "
				     "(ptrauth_kernel_pac_mask() of a %u-bit VA)",
				     (unsigned long long)vi->kernel_pac_mask, g.va, g.va);
	m->kernel_pac_mask = vi ? vi->kernel_pac_mask : 0;
	/*
	 * The linear map (arch/arm64/include/asm/memory.h): va = (pa -
	 * PHYS_OFFSET) | PAGE_OFFSET for va in [PAGE_OFFSET, PAGE_END), with
	 * the compile-time VA_BITS. PHYS_OFFSET is below RAM, even "negative",
	 * when the linear map is randomised or a 52-bit kernel runs 48-bit
	 * (arch/arm64/mm/init.c: arm64_memblock_init()): the shortcut starts
	 * at PA 0 then.
	 */
	va_bits = vi ? vi->va_bits : 0;
	if (vi && vi->has_phys_offset && va_bits >= 36 && va_bits <= 52) {
		uint64_t page_offset = (uint64_t)0 - (1ull << va_bits);

		page_end = (uint64_t)0 - (1ull << ((va_bits > 48 ? 48 : va_bits) - 1));
		if ((int64_t)vi->phys_offset >= 0) {
			m->dram_base = vi->phys_offset;
			m->page_offset = page_offset;
		} else if (page_offset - vi->phys_offset >= page_offset &&
			   page_offset - vi->phys_offset < page_end) {
			m->page_offset = page_offset - vi->phys_offset;
		}
	}
	return 0;
}

int kn_arm64_check_root(const struct ktbpf_mem *mem, const struct ktbpf_mmu *m,
			const struct ktbpf_vmcoreinfo *vi, uint64_t kva, const char *name,
			struct ktbpf_err *err)
{
	struct ktbpf_mmu walk = *m;
	struct ktbpf_xlate *x;
	struct ktbpf_err e = {0};
	uint64_t pa = 0;
	int r;

	walk.page_offset = walk.kimage_base = 0; /* walk, no shortcut */
	x = ktbpf_xlate_new(mem, &walk);
	if (!x)
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	r = ktbpf_xlate_walk(x, kva, &pa, &e);
	ktbpf_xlate_free(x);
	if (r < 0)
		return ktbpf_err_set(err, -ESTALE, "its page tables do not map its %s 0x%llx (%s)",
				     name, (unsigned long long)kva, e.msg);
	if (pa != kva - vi->kimage_voffset)
		return ktbpf_err_set(err, -ESTALE,
				     "its page tables put its %s at PA 0x%llx, kimage_voffset at "
				     "0x%llx",
				     name, (unsigned long long)pa,
				     (unsigned long long)(kva - vi->kimage_voffset));
	return 0;
}

struct live_ctx {
	const struct ktbpf_mem *mem;
	const struct ktbpf_kernel_hints *h;
};

/* The address of SYMBOL(name) in the note, 0 when it is not listed or not hex. */
static uint64_t note_sym(const struct ktbpf_vmcoreinfo *vi, const char *name)
{
	char key[64], buf[32], *end;
	uint64_t v;

	snprintf(key, sizeof(key), "SYMBOL(%s)", name);
	if (ktbpf_vmcoreinfo_get(vi, key, buf, sizeof(buf)) < 0)
		return 0;
	v = strtoull(buf, &end, 16);
	return *end ? 0 : v;
}

/*
 * The note's symbol at kva: its page tables (walked, no shortcut) must put it
 * where phys_base does, inside the image window.
 */
static int check_sym(struct ktbpf_xlate *x, const struct ktbpf_mmu *m, const char *name,
		     uint64_t kva, struct ktbpf_err *err)
{
	uint64_t pa, want = kva - KTBPF_X86_START_KERNEL_MAP + m->phys_base;
	struct ktbpf_err e = {0};

	if (kva < KTBPF_X86_START_KERNEL_MAP || kva - KTBPF_X86_START_KERNEL_MAP >= m->kimage_size)
		return ktbpf_err_set(err, -EUCLEAN, "its %s 0x%llx is outside the kernel image",
				     name, (unsigned long long)kva);
	if (ktbpf_xlate_walk(x, kva, &pa, &e) < 0)
		return ktbpf_err_set(
			err, -ESTALE, "its own page tables at 0x%llx do not map its %s 0x%llx (%s)",
			(unsigned long long)m->pgd_pa, name, (unsigned long long)kva, e.msg);
	if (pa != want)
		return ktbpf_err_set(
			err, -ESTALE,
			"its page tables put its %s at 0x%llx, its phys_base at 0x%llx", name,
			(unsigned long long)pa, (unsigned long long)want);
	return 0;
}

/*
 * With the caller's CR3 (what the vCPU runs on: the running kernel's, by
 * definition), the note's root must share its kernel half: every page
 * directory copies the kernel's top-level entries (arch/x86/mm/pgtable.c:
 * pgd_ctor()), so the entry mapping __START_KERNEL_map (the last one) is the
 * same. Under page-table isolation a user-mode CR3 points at the second page
 * of an 8 KiB pair (arch/x86/include/asm/pgtable_64.h: kernel_to_user_pgdp()),
 * whose kernel half is PTI's own: the first page is compared too. An earlier
 * boot's kernel, intact in RAM, passes every other check but this one.
 */
static int check_cr3(const struct ktbpf_mem *mem, uint64_t cr3, uint64_t pgd_pa,
		     struct ktbpf_err *err)
{
	uint64_t root = cr3 & X86_PTE_ADDR_MASK, mine, theirs;

	if (ktbpf_mem_read_nofault(mem, pgd_pa + 511 * 8, &mine, 8, NULL) < 0)
		return ktbpf_err_set(err, -ESTALE, "its page-table root 0x%llx is not in RAM",
				     (unsigned long long)pgd_pa);
	if (ktbpf_mem_read_nofault(mem, root + 511 * 8, &theirs, 8, NULL) == 0 && theirs == mine)
		return 0;
	if (ktbpf_mem_read_nofault(mem, (root & ~0x1000ull) + 511 * 8, &theirs, 8, NULL) == 0 &&
	    theirs == mine)
		return 0;
	return ktbpf_err_set(err, -ESTALE,
			     "its page-table root 0x%llx maps the kernel image unlike the running "
			     "CR3 0x%llx",
			     (unsigned long long)pgd_pa, (unsigned long long)cr3);
}

/*
 * x86_64: the note's page-table root (init_top_pgt through phys_base) must
 * map its own _stext and init_uts_ns where phys_base puts them, and
 * init_uts_ns.name.release there (kernel/vmcore_info.c writes OSRELEASE from
 * it) must be the note's OSRELEASE. A stale note's kernel was overwritten by
 * the one that booted after it (its image, its page tables) or its tables
 * map another KASLR slide. kallsyms, decoded later, are proven against the
 * same note's _stext and SYMBOL()s (kallsyms.c). An earlier boot's kernel
 * left whole in RAM passes all this; only the CR3 hint tells it apart.
 */
/* init_uts_ns.name.release (kernel/vmcore_info.c writes OSRELEASE from it) must be the note's. */
static int check_release(struct ktbpf_xlate *x, const struct ktbpf_vmcoreinfo *vi, uint64_t uts,
			 struct ktbpf_err *err)
{
	char rel[X86_UTS_LEN], off[32];
	struct ktbpf_err e = {0};
	uint64_t at;

	if (!uts || ktbpf_vmcoreinfo_get(vi, "OFFSET(uts_namespace.name)", off, sizeof(off)) < 0)
		return 0;
	at = uts + strtoull(off, NULL, 0) + X86_UTS_RELEASE;
	if (ktbpf_xlate_read_str(x, at, rel, sizeof(rel), &e) < 0)
		return ktbpf_err_set(err, -ESTALE, "its init_uts_ns is unreadable: %s", e.msg);
	if (strcmp(rel, vi->osrelease))
		return ktbpf_err_set(err, -ESTALE,
				     "its init_uts_ns says release '%s', the note '%s'", rel,
				     vi->osrelease);
	return 0;
}

/*
 * aarch64: the note's own TTBR1 root (swapper_pg_dir through kimage_voffset)
 * must map its _stext and init_uts_ns where kimage_voffset puts them, and
 * the release there must be the note's.
 */
static int note_is_live_arm64(const struct ktbpf_mem *mem, const struct ktbpf_vmcoreinfo *vi,
			      struct ktbpf_err *err)
{
	static const struct ktbpf_kernel_hints none;
	uint64_t uts = note_sym(vi, "init_uts_ns"), stext = note_sym(vi, "_stext");
	struct ktbpf_xlate *x;
	struct ktbpf_mmu m;
	int r;

	if (!vi->kimage_voffset || !vi->init_top_pgt || !vi->tcr_el1_t1sz)
		return 0; /* discovery says what is missing */
	if ((r = kn_arm64_mmu(vi, &none, &m, err)) < 0)
		return r;
	m.page_offset = 0; /* reads walk the note's own tables */
	/*
	 * A RAM file read as if it began at PA 0 when it begins higher (QEMU
	 * virt): no boot's kernel could have its page tables above the RAM it
	 * ran in, so this is the RAM as given, never staleness, and no retry
	 * mends it (vmcoreinfo.h: -EFAULT, an address outside RAM).
	 */
	if (vi->init_top_pgt - vi->kimage_voffset >= ktbpf_mem_end(mem))
		return ktbpf_err_set(err, -EFAULT,
				     "its swapper_pg_dir PA 0x%llx is above guest RAM: does RAM "
				     "start above PA 0 (QEMU virt: 0x40000000)? give its region",
				     (unsigned long long)(vi->init_top_pgt - vi->kimage_voffset));
	if (stext && (r = kn_arm64_check_root(mem, &m, vi, stext, "_stext", err)) < 0)
		return r;
	if (uts && (r = kn_arm64_check_root(mem, &m, vi, uts, "init_uts_ns", err)) < 0)
		return r;
	x = ktbpf_xlate_new(mem, &m);
	if (!x)
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	r = check_release(x, vi, uts, err);
	ktbpf_xlate_free(x);
	return r;
}

/*
 * x86_64: the note's page-table root (init_top_pgt through phys_base) must
 * map its own _stext and init_uts_ns where phys_base puts them, and
 * init_uts_ns.name.release there must be the note's OSRELEASE. A stale
 * note's kernel was overwritten by the one that booted after it (its image,
 * its page tables) or its tables map another KASLR slide. kallsyms, decoded
 * later, are proven against the same note's _stext and SYMBOL()s
 * (kallsyms.c). An earlier boot's kernel left whole in RAM passes all this;
 * only the CR3 hint tells it apart.
 */
static int note_is_live(void *ctx, const struct ktbpf_vmcoreinfo *vi, struct ktbpf_err *err)
{
	const struct live_ctx *c = ctx;
	const struct ktbpf_kernel_hints *h = c->h;
	uint64_t uts = note_sym(vi, "init_uts_ns"), stext = note_sym(vi, "_stext");
	struct ktbpf_mmu m = {.arch = KTBPF_ARCH_X86_64};
	struct ktbpf_xlate *x;
	int r;

	/* Only arm64 lists these (arch/arm64/kernel/vmcore_info.c). */
	if (vi->kimage_voffset || vi->tcr_el1_t1sz || h->arch == KTBPF_ARCH_AARCH64)
		return note_is_live_arm64(c->mem, vi, err);
	if (!vi->has_phys_base || !vi->init_top_pgt)
		return 0; /* discovery says what is missing */
	if ((r = kn_kimage_size(vi, &m.kimage_size, err)) < 0)
		return r;
	m.phys_base = vi->phys_base;
	m.l5 = vi->pgtable_l5 >= 0 ? vi->pgtable_l5 == 1 : (h->has_l5 && h->l5);
	m.pgd_pa = vi->init_top_pgt - KTBPF_X86_START_KERNEL_MAP + m.phys_base;
	x = ktbpf_xlate_new(c->mem, &m);
	if (!x)
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	r = h->has_cr3 ? check_cr3(c->mem, h->cr3, m.pgd_pa, err) : 0;
	if (r == 0 && uts)
		r = check_sym(x, &m, "init_uts_ns", uts, err);
	if (r == 0 && stext)
		r = check_sym(x, &m, "_stext", stext, err);
	/* m has no shortcuts: reads walk the note's own tables. */
	if (r == 0)
		r = check_release(x, vi, uts, err);
	ktbpf_xlate_free(x);
	return r;
}

int kn_find(const struct ktbpf_mem *mem, const struct ktbpf_kernel_hints *h,
	    struct ktbpf_vmcoreinfo *ret, struct ktbpf_err *err)
{
	struct live_ctx ctx = {.mem = mem, .h = h};

	if (h->vmcoreinfo_pa)
		return ktbpf_vmcoreinfo_find(mem, h->vmcoreinfo_pa, ret, err);
	return ktbpf_vmcoreinfo_scan(mem, h->vmcoreinfo_guess_pa, note_is_live, &ctx, ret, err);
}
