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
static int note_is_live(void *ctx, const struct ktbpf_vmcoreinfo *vi, struct ktbpf_err *err)
{
	const struct live_ctx *c = ctx;
	const struct ktbpf_kernel_hints *h = c->h;
	uint64_t uts = note_sym(vi, "init_uts_ns"), stext = note_sym(vi, "_stext");
	struct ktbpf_mmu m = {.arch = KTBPF_ARCH_X86_64};
	struct ktbpf_xlate *x;
	char rel[X86_UTS_LEN], off[32];
	struct ktbpf_err e = {0};
	bool has_off;
	int r;

	/* Only arm64 lists these; its table root comes from the caller, nothing to check. */
	if (vi->kimage_voffset || vi->tcr_el1_t1sz || h->arch == KTBPF_ARCH_AARCH64)
		return 0;
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
	has_off = ktbpf_vmcoreinfo_get(vi, "OFFSET(uts_namespace.name)", off, sizeof(off)) == 0;
	r = h->has_cr3 ? check_cr3(c->mem, h->cr3, m.pgd_pa, err) : 0;
	if (r == 0 && uts)
		r = check_sym(x, &m, "init_uts_ns", uts, err);
	if (r == 0 && stext)
		r = check_sym(x, &m, "_stext", stext, err);
	if (r == 0 && uts && has_off) {
		/* m has no shortcuts: reads walk the note's own tables. */
		uint64_t at = uts + strtoull(off, NULL, 0) + X86_UTS_RELEASE;

		if (ktbpf_xlate_read_str(x, at, rel, sizeof(rel), &e) < 0)
			r = ktbpf_err_set(err, -ESTALE, "its init_uts_ns is unreadable: %s", e.msg);
		else if (strcmp(rel, vi->osrelease))
			r = ktbpf_err_set(err, -ESTALE,
					  "its init_uts_ns says release '%s', the note '%s'", rel,
					  vi->osrelease);
	}
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
