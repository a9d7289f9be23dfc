/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "btf-internal.h"
#include "fileio-internal.h"
#include "kernel-internal.h"
#include "progs-internal.h"
#include "siphash-internal.h"
#include "ktbpf/kallsyms.h"
#include "ktbpf/kernel.h"

/* Defaults when page_offset_base is absent (arch/x86/include/asm/page_64_types.h). */
#define X86_PAGE_OFFSET_L4 0xffff888000000000ull
#define X86_PAGE_OFFSET_L5 0xff11000000000000ull
#define X86_PTE_ADDR_MASK  0x000ffffffffff000ull

/*
 * What a kernel's BTF says that walks need (struct offsets, the struct_ops
 * interfaces, NR_CPUS), shared by the kernels whose BTF bytes are the same
 * (VMs of one kernel build: hints->like). Immutable; refcounted, as kernels
 * are freed from any thread.
 */
struct ktbpf_kernel_facts {
	_Atomic unsigned int refs;
	uint64_t btf_hash;
	uint32_t btf_size;
	uint64_t cpumask_bits;
	struct ktbpf_offsets off;
	struct ops_table *ops;
};

static struct ktbpf_kernel_facts *facts_ref(const struct ktbpf_kernel_facts *f)
{
	struct ktbpf_kernel_facts *m = (struct ktbpf_kernel_facts *)f; /* the count only */

	if (m)
		m->refs++;
	return m;
}

struct ktbpf_kernel {
	struct ktbpf_kernel_info info;
	const struct ktbpf_mem *mem;
	struct ktbpf_mmu mmu;
	struct ktbpf_xlate *x; /* discovery's own; freed when discovery ends */
	/* Discovery's own, freed when it ends (symbols kept on request): walks need neither. */
	struct ktbpf_symtab *syms;
	struct btf *btf;
	struct ops_table *ops; /* the struct_ops interfaces, from btf, until facts hold them */
	struct ktbpf_offsets off;
	struct ktbpf_kernel_facts *facts; /* shared (hints->like) or made when discovery ends */
	const struct ktbpf_kernel_facts *like;
	uint64_t btf_hash, cpumask_bits;
	struct ktbpf_vmcoreinfo *vi; /* NULL when none was found */
	struct ktbpf_percpu percpu;
	bool l5_guessed;     /* neither VMCOREINFO nor a hint said: 4-level assumed */
	bool vmlinux_proven; /* the vmlinux's build ID or release matched the guest's */
	uint64_t serial;     /* unique per discovery (progs-internal.h: struct ktbpf_walker) */
	/* The walkers' read plans, or why the layout has none (returned by every walk). */
	struct walk_plans plans;
	bool plans_ok;
	struct ktbpf_err plans_err;
};

/* The only mutable global: serials of discovered kernels. */
static _Atomic uint64_t last_serial;

static const struct ktbpf_kernel_hints no_hints;

const char *ktbpf_source_name(enum ktbpf_source s)
{
	switch (s) {
	case KTBPF_SRC_NONE:
		return "none";
	case KTBPF_SRC_HINT:
		return "hint";
	case KTBPF_SRC_VMCOREINFO:
		return "vmcoreinfo";
	case KTBPF_SRC_VMLINUX:
		return "vmlinux";
	case KTBPF_SRC_SYSTEM_MAP:
		return "system-map";
	case KTBPF_SRC_BTF_FILE:
		return "btf-file";
	case KTBPF_SRC_GUEST_RAM:
		return "guest-ram";
	case KTBPF_SRC_DEFAULT:
		return "default";
	}
	return "unknown";
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int sym(const struct ktbpf_kernel *k, const char *name, uint64_t *ret)
{
	return ktbpf_symtab_lookup(k->syms, name, ret);
}

/* Symbols of the struct_ops walk (structops.c); each may be absent. */
static void resolve_optional(struct ktbpf_kernel *k)
{
	if (sym(k, "map_idr", &k->info.map_idr) < 0)
		k->info.map_idr = 0;
	if (sym(k, "link_idr", &k->info.link_idr) < 0)
		k->info.link_idr = 0;
	if (sym(k, "scx_root", &k->info.scx_root) < 0)
		k->info.scx_root = 0;
	if (sym(k, "scx_ops", &k->info.scx_ops) < 0)
		k->info.scx_ops = 0;
	if (sym(k, "scx_enable_state_var", &k->info.scx_enable_state) < 0 &&
	    sym(k, "scx_ops_enable_state_var", &k->info.scx_enable_state) < 0)
		k->info.scx_enable_state = 0;
	if (sym(k, "scx_exit_kind", &k->info.scx_exit_kind) < 0)
		k->info.scx_exit_kind = 0;
	if (sym(k, "scx_exit_info", &k->info.scx_exit_info) < 0)
		k->info.scx_exit_info = 0;
	if (sym(k, "scx_bypass_depth", &k->info.scx_bypass_depth) < 0 &&
	    sym(k, "scx_ops_bypass_depth", &k->info.scx_bypass_depth) < 0)
		k->info.scx_bypass_depth = 0;
	if (sym(k, "scx_nr_rejected", &k->info.scx_nr_rejected) < 0)
		k->info.scx_nr_rejected = 0;
	if (sym(k, "scx_enable_seq", &k->info.scx_enable_seq) < 0)
		k->info.scx_enable_seq = 0;
	if (sym(k, "scx_watchdog_timeout", &k->info.scx_watchdog_timeout) < 0)
		k->info.scx_watchdog_timeout = 0;
	if (sym(k, "scx_watchdog_timestamp", &k->info.scx_watchdog_timestamp) < 0)
		k->info.scx_watchdog_timestamp = 0;
	if (sym(k, "__scx_switched_all", &k->info.scx_switched_all) < 0)
		k->info.scx_switched_all = 0;
	if (sym(k, "scx_switching_all", &k->info.scx_switching_all) < 0)
		k->info.scx_switching_all = 0;
	if (sym(k, "scx_hotplug_seq", &k->info.scx_hotplug_seq) < 0)
		k->info.scx_hotplug_seq = 0;
	if (sym(k, "jiffies_64", &k->info.jiffies) < 0 && sym(k, "jiffies", &k->info.jiffies) < 0)
		k->info.jiffies = 0;
	if (sym(k, "event_stats_cpu", &k->info.scx_event_stats) < 0)
		k->info.scx_event_stats = 0;
}

/* VMCOREINFO from the caller's text, the hinted address, or a scan of guest RAM. */
static int find_vmcoreinfo(struct ktbpf_kernel *k, const struct ktbpf_kernel_hints *h,
			   struct ktbpf_err *err)
{
	int r;

	k->vi = malloc(sizeof(*k->vi));
	if (!k->vi)
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	if (h->vmcoreinfo_text)
		r = ktbpf_vmcoreinfo_parse(h->vmcoreinfo_text, h->vmcoreinfo_len, k->vi, err);
	else
		r = kn_find(k->mem, h, k->vi, err);
	if (r < 0) {
		free(k->vi);
		k->vi = NULL;
		/* With a CR3 hint and symbol files, the page tables alone can do. */
		if (h->has_cr3 && (h->vmlinux || h->system_map))
			return 0;
		return r;
	}
	snprintf(k->info.release, sizeof(k->info.release), "%s", k->vi->osrelease);
	snprintf(k->info.build_id, sizeof(k->info.build_id), "%s", k->vi->build_id);
	k->info.vmcoreinfo_pa = k->vi->note_pa;
	return 0;
}

/*
 * x86_64: the kernel image maps through __START_KERNEL_map + phys_base for
 * the whole KERNEL_IMAGE_SIZE window (arch/x86/include/asm/page_64.h:
 * __phys_addr_nodebug()), so init_top_pgt's PA follows from VMCOREINFO.
 */
static int mmu_x86(struct ktbpf_kernel *k, const struct ktbpf_kernel_hints *h,
		   struct ktbpf_err *err)
{
	const struct ktbpf_vmcoreinfo *vi = k->vi;
	struct ktbpf_mmu *m = &k->mmu;

	m->arch = KTBPF_ARCH_X86_64;
	/* The kernel's own word first; kernels before 4.14 omit it and are 4-level. */
	if (vi && vi->pgtable_l5 >= 0)
		m->l5 = vi->pgtable_l5 == 1;
	else if (h->has_l5)
		m->l5 = h->l5;
	else
		k->l5_guessed = !vi;
	if (vi && vi->has_phys_base) {
		int r = kn_kimage_size(vi, &m->kimage_size, err);

		if (r < 0)
			return r;
		m->phys_base = vi->phys_base;
		m->kimage_base = KTBPF_X86_START_KERNEL_MAP;
	}
	k->info.layout_source = KTBPF_SRC_VMCOREINFO;
	if (h->has_cr3) {
		m->pgd_pa = h->cr3 & X86_PTE_ADDR_MASK;
		k->info.layout_source = KTBPF_SRC_HINT;
	} else if (!vi || !vi->init_top_pgt) {
		return ktbpf_err_need(
			err,
			ktbpf_err_set(err, -ENOENT,
				      "VMCOREINFO lists neither init_top_pgt nor "
				      "swapper_pg_dir: the page-table root is unknown"),
			KTBPF_NEED_PGD);
	} else if (!m->kimage_base || vi->init_top_pgt < KTBPF_X86_START_KERNEL_MAP ||
		   vi->init_top_pgt - KTBPF_X86_START_KERNEL_MAP >= m->kimage_size) {
		ktbpf_err_set(err, -EINVAL,
			      "VMCOREINFO init_top_pgt 0x%llx is outside the kernel image "
			      "(or phys_base is missing): the page-table root is unknown",
			      (unsigned long long)vi->init_top_pgt);
		return ktbpf_err_need(err, -EINVAL, KTBPF_NEED_PGD);
	} else {
		m->pgd_pa = vi->init_top_pgt - KTBPF_X86_START_KERNEL_MAP + m->phys_base;
	}
	k->info.phys_base = m->phys_base;
	k->info.l5 = m->l5;
	k->info.pgtable_levels = m->l5 ? 5 : 4;
	k->info.pgd_pa = m->pgd_pa;
	return 0;
}

/*
 * aarch64: everything from VMCOREINFO (kn_arm64_mmu()), the TTBR1_EL1 and
 * TCR_EL1 hints overriding it. The root must be a table that maps the
 * kernel's _stext (or swapper_pg_dir) at kimage_voffset, else a one-line
 * error names the hint, or the note, that gave it.
 */
static int mmu_arm64(struct ktbpf_kernel *k, const struct ktbpf_kernel_hints *h,
		     struct ktbpf_err *err)
{
	const struct ktbpf_vmcoreinfo *vi = k->vi;
	struct ktbpf_mmu *m = &k->mmu;
	struct ktbpf_err e = {0};
	uint64_t kva = vi ? (vi->stext ? vi->stext : vi->init_top_pgt) : 0;
	const char *what = vi && vi->stext ? "_stext" : "swapper_pg_dir";
	struct ktbpf_a64_geom g;
	int r;

	if ((r = kn_arm64_mmu(vi, h, m, err)) < 0)
		return r;
	if (kva && vi->kimage_voffset && kn_arm64_check_root(k->mem, m, vi, kva, what, &e) < 0) {
		if (h->has_cr3) {
			ktbpf_err_set(err, -EINVAL,
				      "TTBR1_EL1 hint 0x%llx is not the kernel's page table: %s",
				      (unsigned long long)h->cr3, e.msg);
			return ktbpf_err_need(err, -EINVAL, KTBPF_NEED_PGD);
		}
		if (h->has_tcr_el1) {
			ktbpf_err_set(err, -EINVAL,
				      "with the TCR_EL1 hint 0x%llx, the kernel's page table at "
				      "0x%llx does not read: %s",
				      (unsigned long long)h->tcr_el1, (unsigned long long)m->pgd_pa,
				      e.msg);
			return ktbpf_err_need(err, -EINVAL, KTBPF_NEED_TCR_EL1);
		}
		return ktbpf_err_set(err, -EUCLEAN,
				     "VMCOREINFO's swapper_pg_dir (PA 0x%llx) is not the kernel's "
				     "page table: %s",
				     (unsigned long long)m->pgd_pa, e.msg);
	}
	k->info.layout_source =
		h->has_cr3 || h->has_tcr_el1 ? KTBPF_SRC_HINT : KTBPF_SRC_VMCOREINFO;
	k->info.pgd_pa = m->pgd_pa;
	k->info.page_offset = m->page_offset;
	k->info.pgtable_levels = ktbpf_a64_decode_tcr(m->tcr_el1, &g, NULL) == 0 ? g.levels : 0;
	k->info.l5 = k->info.pgtable_levels == 5;
	return 0;
}

/*
 * aarch64: the kernel image is physically contiguous at kva -
 * kimage_voffset (arch/arm64/include/asm/memory.h: __kimg_to_phys()), from
 * _text to _end; taken as a shortcut once its first and last pages walk
 * there.
 */
static void image_arm64(struct ktbpf_kernel *k)
{
	const struct ktbpf_vmcoreinfo *vi = k->vi;
	uint64_t text, end;
	struct ktbpf_mmu m = k->mmu;

	if (!vi || !vi->kimage_voffset || sym(k, "_text", &text) < 0 || sym(k, "_end", &end) < 0 ||
	    end <= text || end - text > (1ull << 30))
		return;
	if (kn_arm64_check_root(k->mem, &m, vi, text, "_text", NULL) < 0 ||
	    kn_arm64_check_root(k->mem, &m, vi, (end - 1) & ~4095ull, "_end", NULL) < 0)
		return;
	k->mmu.kimage_base = text;
	k->mmu.kimage_size = end - text;
	k->mmu.phys_base = text - vi->kimage_voffset;
	k->info.phys_base = k->mmu.phys_base;
	ktbpf_xlate_set_mmu(k->x, &k->mmu);
}

/* A failed read through the page tables may be a 5-level guest walked as 4-level. */
static int hint_l5(const struct ktbpf_kernel *k, int r, struct ktbpf_err *err)
{
	if (k->l5_guessed) {
		ktbpf_err_prefix(err, r,
				 "assuming 4-level paging (nothing says; a 5-level guest needs "
				 "the l5 hint): ");
		ktbpf_err_need(err, r, KTBPF_NEED_L5);
	}
	return r;
}

/*
 * Symbols VMCOREINFO lists as plain addresses (kernel/vmcore_info.c,
 * arch/x86/kernel/machine_kexec_64.c). Others, like mem_section, are pointer
 * values, not the symbol's address.
 */
static const char *const vmcoreinfo_addr_syms[] = {
	"_stext",
	"init_uts_ns",
	"init_top_pgt",
	"swapper_pg_dir",
	"node_online_map",
	"vmap_area_list",
	"kallsyms_names",
	"kallsyms_num_syms",
	"kallsyms_token_table",
	"kallsyms_token_index",
	"kallsyms_offsets",
	"kallsyms_relative_base",
};

/* What the symbols were read from, for messages naming the file. */
static const char *symbols_kind(const struct ktbpf_kernel *k)
{
	return k->info.symbols_source == KTBPF_SRC_VMLINUX ? "vmlinux" : "System.map";
}

/*
 * A file from another build can agree on the one symbol the bias came from;
 * every other address both sides list must agree too.
 */
static int cross_check(const struct ktbpf_kernel *k, uint64_t bias, const char *file,
		       struct ktbpf_err *err)
{
	char key[64], buf[32];
	uint64_t v, want;
	size_t i;

	for (i = 0; i < sizeof(vmcoreinfo_addr_syms) / sizeof(vmcoreinfo_addr_syms[0]); i++) {
		const char *name = vmcoreinfo_addr_syms[i];

		snprintf(key, sizeof(key), "SYMBOL(%s)", name);
		if (ktbpf_vmcoreinfo_get(k->vi, key, buf, sizeof(buf)) < 0 || sym(k, name, &v) < 0)
			continue;
		want = strtoull(buf, NULL, 16);
		if (v + bias != want)
			return ktbpf_err_set(err, -EXDEV,
					     "%s %s does not match the guest kernel: %s is at "
					     "0x%llx after relocation but VMCOREINFO says 0x%llx",
					     symbols_kind(k), file, name,
					     (unsigned long long)(v + bias),
					     (unsigned long long)want);
	}
	return 0;
}

/*
 * Link-time addresses to runtime: the bias is a symbol VMCOREINFO lists minus
 * the file's value for it. A file from /proc/kallsyms is already runtime and
 * gives 0; a vmlinux gives the KASLR slide, which must equal KERNELOFFSET.
 */
static int relocate(struct ktbpf_kernel *k, const struct ktbpf_kernel_hints *h, const char *file,
		    struct ktbpf_err *err)
{
	const struct ktbpf_vmcoreinfo *vi = k->vi;
	uint64_t v, bias = 0;
	bool have = false;

	if (vi && vi->init_top_pgt &&
	    (sym(k, "init_top_pgt", &v) == 0 || sym(k, "swapper_pg_dir", &v) == 0)) {
		bias = vi->init_top_pgt - v;
		have = true;
	} else if (vi && vi->stext && sym(k, "_stext", &v) == 0) {
		bias = vi->stext - v;
		have = true;
	}
	if (have && bias && vi->has_kerneloffset && bias != vi->kerneloffset)
		return ktbpf_err_set(err, -EXDEV,
				     "%s %s does not match the guest kernel: it is off by 0x%llx "
				     "but KERNELOFFSET is 0x%llx",
				     symbols_kind(k), file, (unsigned long long)bias,
				     (unsigned long long)vi->kerneloffset);
	if (have) {
		int r = cross_check(k, bias, file, err);

		if (r < 0)
			return r;
	}
	if (!have && h->has_kaslr_offset)
		bias = h->kaslr_offset;
	else if (!have && vi && vi->has_kerneloffset)
		bias = vi->kerneloffset;
	if (bias)
		ktbpf_symtab_rebase(k->syms, bias);
	if (h->has_kaslr_offset)
		k->info.kaslr_offset = h->kaslr_offset;
	else if (vi && vi->has_kerneloffset)
		k->info.kaslr_offset = vi->kerneloffset;
	else
		k->info.kaslr_offset = bias;
	return 0;
}

/* What files are checked against (kernel-files.c): the guest's own word. */
static struct kf_guest guest_view(const struct ktbpf_kernel *k)
{
	return (struct kf_guest){.x = k->x,
				 .syms = k->syms,
				 .release = k->info.release,
				 .build_id = k->info.build_id};
}

/*
 * Relocated symbols from a file, checked in guest RAM: linux_banner must
 * say the guest's release (unless paging is only guessed, when an
 * unreadable banner would blame the file for the guess).
 */
static int check_symbol_file(const struct ktbpf_kernel *k, const char *file, struct ktbpf_err *err)
{
	struct kf_guest g = guest_view(k);

	if (k->l5_guessed)
		return 0;
	return kf_check_symbols(
		file, k->info.symbols_source == KTBPF_SRC_VMLINUX ? "vmlinux" : "System.map", &g,
		err);
}

static int load_symbol_files(struct ktbpf_kernel *k, const struct ktbpf_kernel_hints *h,
			     struct ktbpf_err *err)
{
	const char *file = h->vmlinux ? h->vmlinux->name : NULL;
	struct kf_guest g = guest_view(k);
	int r = -ENOENT;

	if (h->vmlinux &&
	    (r = kf_check_elf(h->vmlinux->fd, file, "vmlinux", &g, &k->vmlinux_proven, err)) < 0)
		return r;
	r = -ENOENT;
	if (h->vmlinux) {
		r = ktbpf_symtab_load_elf(k->syms, h->vmlinux->fd, file, err);
		k->info.symbols_source = KTBPF_SRC_VMLINUX;
		if (r < 0 && (r != -ENOENT || !h->system_map))
			return r;
	}
	if (r < 0) {
		/* A stripped vmlinux: the System.map has the symbols. */
		ktbpf_symtab_free(k->syms);
		k->syms = ktbpf_symtab_new();
		if (!k->syms)
			return ktbpf_err_set(err, -ENOMEM, "out of memory");
		file = h->system_map->name;
		r = ktbpf_symtab_load_system_map(k->syms, h->system_map->fd, file, err);
		k->info.symbols_source = KTBPF_SRC_SYSTEM_MAP;
		if (r < 0)
			return r;
	}
	if ((r = ktbpf_symtab_finish(k->syms)) < 0)
		return ktbpf_err_set(err, r, "cannot index the symbols of %s", file);
	if ((r = relocate(k, h, file, err)) < 0)
		return r;
	return check_symbol_file(k, file, err);
}

static int load_symbols(struct ktbpf_kernel *k, const struct ktbpf_kernel_hints *h,
			struct ktbpf_err *err)
{
	int r;

	k->syms = ktbpf_symtab_new();
	if (!k->syms)
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	if (h->vmlinux || h->system_map)
		return load_symbol_files(k, h, err);
	r = ktbpf_kallsyms_load(k->x, k->vi, k->syms, err);
	if (r < 0)
		return ktbpf_err_prefix(err, r, "reading kallsyms from guest RAM: ");
	k->info.symbols_source = KTBPF_SRC_GUEST_RAM;
	k->info.kaslr_offset = h->has_kaslr_offset ? h->kaslr_offset : k->vi->kerneloffset;
	if ((r = ktbpf_symtab_finish(k->syms)) < 0)
		return ktbpf_err_set(err, r, "cannot index the kallsyms symbols");
	return 0;
}

/*
 * The direct map base: page_offset_base under CONFIG_RANDOMIZE_MEMORY
 * (arch/x86/mm/kaslr.c), else the fixed default. Accept only a kernel address
 * that is page aligned: early in boot the variable still holds the default
 * or garbage from decompression.
 */
static int page_offset_x86(struct ktbpf_kernel *k, struct ktbpf_err *err)
{
	uint64_t kva, v = 0;
	int r;

	k->mmu.page_offset = k->mmu.l5 ? X86_PAGE_OFFSET_L5 : X86_PAGE_OFFSET_L4;
	if (sym(k, "page_offset_base", &kva) == 0) {
		r = ktbpf_xlate_read_u64(k->x, kva, &v, err);
		if (r < 0) {
			ktbpf_err_prefix(err, r, "reading page_offset_base: ");
			return hint_l5(k, r, err);
		}
		if ((v >> 63) && !(v & 0xfff))
			k->mmu.page_offset = v;
	}
	k->info.page_offset = k->mmu.page_offset;
	ktbpf_xlate_set_mmu(k->x, &k->mmu);
	return 0;
}

/*
 * Which BTF facts came from: keyed (SipHash-2-4 under a per-process random
 * key), so that a guest cannot forge BTF bytes of another build's size and
 * hash and have its facts (offsets of its choosing) taken for a guest that
 * runs that build. An unkeyed mix of words can be undone word by word.
 */
static uint64_t btf_hash(const void *p, size_t n)
{
	return ktbpf_siphash_process(p, n);
}

/*
 * The caller's like has facts from BTF of exactly these bytes (size and
 * hash): take them instead of parsing the BTF again. A guest cannot choose
 * what another's facts say, only whether its own BTF hashes the same: the
 * caller decides whose kernels may be alike (ktbpfd: one uid's).
 */
static bool share_facts(struct ktbpf_kernel *k, uint32_t size)
{
	const struct ktbpf_kernel_facts *f = k->like;

	if (!f || f->btf_size != size || f->btf_hash != k->btf_hash)
		return false;
	k->facts = facts_ref(f);
	k->off = f->off;
	k->cpumask_bits = f->cpumask_bits;
	k->info.btf_shared = true;
	return true;
}

/* BTF bytes __start_BTF..__stop_BTF (include/asm-generic/vmlinux.lds.h: .BTF) from RAM. */
static int btf_from_ram(struct ktbpf_kernel *k, struct ktbpf_err *err)
{
	uint64_t start, stop;
	void *buf;
	int r;

	if ((sym(k, "__start_BTF", &start) < 0 || sym(k, "__stop_BTF", &stop) < 0) &&
	    k->info.symbols_source == KTBPF_SRC_GUEST_RAM && sym(k, "prog_idr", &start) < 0) {
		/* Debian 12's arm64 6.1: BTF is there, kallsyms lack every data symbol. */
		ktbpf_err_set(
			err, -ENOENT,
			"symbols 'prog_idr' and '__start_BTF' not found in the guest's kallsyms: "
			"the guest kernel needs CONFIG_KALLSYMS_ALL, or symbols from a file "
			"(System.map or vmlinux)");
		return ktbpf_err_need(err, -ENOENT, KTBPF_NEED_SYMBOLS | KTBPF_NEED_BTF);
	}
	if (sym(k, "__start_BTF", &start) < 0 || sym(k, "__stop_BTF", &stop) < 0) {
		ktbpf_err_set(err, -ENOENT,
			      "guest kernel has no BTF (__start_BTF missing): it needs "
			      "CONFIG_DEBUG_INFO_BTF, or BTF from a file (vmlinux or BTF)");
		return ktbpf_err_need(err, -ENOENT, KTBPF_NEED_BTF);
	}
	if (stop <= start || stop - start > KF_BTF_MAX)
		return ktbpf_err_set(
			err, -EUCLEAN,
			"guest BTF size %lld (__stop_BTF - __start_BTF) is implausible",
			(long long)(stop - start));
	buf = malloc(stop - start);
	if (!buf)
		return ktbpf_err_set(err, -ENOMEM, "out of memory for %llu bytes of BTF",
				     (unsigned long long)(stop - start));
	r = ktbpf_xlate_read(k->x, start, buf, stop - start, err);
	if (r == 0) {
		k->btf_hash = btf_hash(buf, stop - start);
		if (share_facts(k, (uint32_t)(stop - start))) {
			free(buf);
			k->info.btf_source = KTBPF_SRC_GUEST_RAM;
			k->info.btf_size = stop - start;
			return 0;
		}
		r = btf_new_checked(buf, (size_t)(stop - start), &k->btf);
		if (r < 0)
			r = ktbpf_err_set(err, r, "guest BTF at 0x%llx does not parse: %s",
					  (unsigned long long)start, strerror(-r));
	} else {
		ktbpf_err_prefix(err, r, "reading guest BTF: ");
		hint_l5(k, r, err);
	}
	free(buf);
	k->info.btf_source = KTBPF_SRC_GUEST_RAM;
	return r;
}

/*
 * BTF from a file, before any offset is taken from it: an ELF's build ID
 * (or release) against the guest's, else the bytes against the guest's own
 * BTF in RAM (kernel-files.c).
 */
static int check_btf_file(const struct ktbpf_kernel *k, const struct ktbpf_file *f, bool is_vmlinux,
			  struct ktbpf_err *err)
{
	struct kf_guest g = guest_view(k);
	bool proven = is_vmlinux && k->vmlinux_proven;
	int r;

	if (!is_vmlinux && (r = kf_check_elf(f->fd, f->name, "BTF file", &g, &proven, err)) < 0)
		return r;
	return proven ? 0 : kf_check_btf(k->btf, f->name, &g, err);
}

static int load_btf(struct ktbpf_kernel *k, const struct ktbpf_kernel_hints *h,
		    struct ktbpf_err *err)
{
	const struct ktbpf_file *file = h->btf ? h->btf : h->vmlinux;
	uint32_t size = 0;
	int r = 0;

	if (h->btf) {
		r = kf_btf_from_file(h->btf->fd, h->btf->name, false, &k->btf, err);
		if (r < 0)
			return r;
		k->info.btf_source = KTBPF_SRC_BTF_FILE;
	} else if (h->vmlinux) {
		/* A vmlinux without (readable) .BTF falls back to the guest's own copy. */
		r = kf_btf_from_file(h->vmlinux->fd, h->vmlinux->name, true, &k->btf, NULL);
		k->info.btf_source = KTBPF_SRC_VMLINUX;
	}
	if (!k->btf) {
		int vmlinux_r = r;

		r = btf_from_ram(k, err);
		/* Name both places looked in, not only the guest. */
		if (r == -ENOENT && h->vmlinux) {
			ktbpf_err_set(err, r,
				      "%s has %s and the guest kernel has no BTF "
				      "(__start_BTF missing): it needs a BTF file, or a kernel "
				      "built with CONFIG_DEBUG_INFO_BTF",
				      h->vmlinux->name,
				      vmlinux_r == -ENOENT ? "no .BTF" : "no readable .BTF");
			return ktbpf_err_need(err, r, KTBPF_NEED_BTF);
		}
		if (r < 0 || k->facts)
			return r;
	} else {
		const void *raw;

		r = check_btf_file(k, file, file == h->vmlinux, err);
		if (r < 0)
			return r;
		raw = btf__raw_data(k->btf, &size);
		k->btf_hash = raw ? btf_hash(raw, size) : 0;
	}
	btf__raw_data(k->btf, &size);
	k->info.btf_size = size;
	k->cpumask_bits = ktbpf_percpu_cpumask_bits(k->btf);
	return ktbpf_offsets_from_btf(k->btf, &k->off, err);
}

/* The possible CPUs and their per-CPU offsets, read once (percpu.h). */
static int load_percpu(struct ktbpf_kernel *k, struct ktbpf_err *err)
{
	int r = ktbpf_percpu_load_bits(k->x, k->syms, k->cpumask_bits, &k->percpu, err);

	if (r == -EFAULT)
		return hint_l5(k, r, err);
	if (r < 0)
		return r;
	k->info.nr_cpu_ids = k->percpu.nr_cpu_ids;
	k->info.nr_possible_cpus = k->percpu.nr;
	k->info.percpu_scheme = k->percpu.scheme;
	k->info.per_cpu_offset = k->percpu.offsets_kva;
	return 0;
}

static int resolve_walker_symbols(struct ktbpf_kernel *k, struct ktbpf_err *err)
{
	if (sym(k, "prog_idr", &k->info.prog_idr) < 0) {
		ktbpf_err_set(err, -ENOENT,
			      "symbol 'prog_idr' not found: the guest kernel needs "
			      "CONFIG_KALLSYMS_ALL, or symbols from a file (System.map or "
			      "vmlinux)");
		return ktbpf_err_need(err, -ENOENT, KTBPF_NEED_SYMBOLS);
	}
	if (sym(k, "bpf_stats_enabled_key", &k->info.bpf_stats_enabled_key) < 0)
		k->info.bpf_stats_enabled_key = 0;
	resolve_optional(k);
	k->info.nr_symbols = ktbpf_symtab_count(k->syms);
	return 0;
}

static enum ktbpf_arch pick_arch(const struct ktbpf_kernel *k, const struct ktbpf_kernel_hints *h)
{
	if (h->arch != KTBPF_ARCH_UNKNOWN)
		return h->arch;
	/* Only arm64 lists these (arch/arm64/kernel/vmcore_info.c). */
	if (k->vi && (k->vi->kimage_voffset || k->vi->tcr_el1_t1sz))
		return KTBPF_ARCH_AARCH64;
	return KTBPF_ARCH_X86_64;
}

static int discover(struct ktbpf_kernel *k, const struct ktbpf_kernel_hints *h,
		    struct ktbpf_err *err)
{
	int r;

	if ((r = find_vmcoreinfo(k, h, err)) < 0)
		return r;
	k->info.arch = pick_arch(k, h);
	r = k->info.arch == KTBPF_ARCH_AARCH64 ? mmu_arm64(k, h, err) : mmu_x86(k, h, err);
	if (r < 0)
		return r;
	k->x = ktbpf_xlate_new(k->mem, &k->mmu);
	if (!k->x)
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	if (!k->vi && !h->vmlinux && !h->system_map)
		return ktbpf_err_need(err,
				      ktbpf_err_set(err, -ENOENT,
						    "no symbols: no VMCOREINFO to find kallsyms "
						    "with, and no vmlinux or System.map"),
				      KTBPF_NEED_SYMBOLS);
	if ((r = load_symbols(k, h, err)) < 0)
		return r;
	if (k->info.arch == KTBPF_ARCH_X86_64 && (r = page_offset_x86(k, err)) < 0)
		return r;
	if (k->info.arch == KTBPF_ARCH_AARCH64)
		image_arm64(k);
	if ((r = load_btf(k, h, err)) < 0 || (r = load_percpu(k, err)) < 0)
		return r;
	return resolve_walker_symbols(k, err);
}

/* The caller's hints with a name for every file: "fd N" where it gave none. */
struct named_hints {
	struct ktbpf_kernel_hints h;
	struct ktbpf_file files[3];
	char names[3][32];
};

static const struct ktbpf_kernel_hints *name_files(const struct ktbpf_kernel_hints *in,
						   struct named_hints *nh)
{
	const struct ktbpf_file **slot[3] = {&nh->h.vmlinux, &nh->h.system_map, &nh->h.btf};

	nh->h = *in;
	for (size_t i = 0; i < 3; i++) {
		if (!*slot[i])
			continue;
		nh->files[i] = **slot[i];
		nh->files[i].name = fio_name(nh->files[i].fd, nh->files[i].name, nh->names[i],
					     sizeof(nh->names[i]));
		*slot[i] = &nh->files[i];
	}
	return &nh->h;
}

/*
 * The few KiB a kernel keeps that were allocated among discovery's
 * megabytes of temporaries (symbols, BTF) move to memory allocated after
 * those are freed: left where they were, they pin the freed heap around
 * them, and a process that discovers many kernels grows by hundreds of KiB
 * per kernel (glibc), not by what it holds.
 */
static void settle(struct ktbpf_kernel *k)
{
	struct ktbpf_cpu *cpus;

	if (k->ops)
		k->ops = ops_table_move(k->ops);
	if (!k->percpu.nr)
		return;
	cpus = malloc(k->percpu.nr * sizeof(*cpus));
	if (!cpus)
		return;
	memcpy(cpus, k->percpu.cpus, k->percpu.nr * sizeof(*cpus));
	free(k->percpu.cpus);
	k->percpu.cpus = cpus;
}

/* This kernel's facts, for others of its build; without memory for them it keeps its own. */
static void make_facts(struct ktbpf_kernel *k)
{
	struct ktbpf_kernel_facts *f = calloc(1, sizeof(*f));

	if (!f)
		return;
	f->refs = 1;
	f->btf_hash = k->btf_hash;
	f->btf_size = (uint32_t)k->info.btf_size;
	f->cpumask_bits = k->cpumask_bits;
	f->off = k->off;
	f->ops = k->ops;
	k->ops = NULL;
	k->facts = f;
}

struct ktbpf_kernel_facts *ktbpf_kernel_facts_ref(const struct ktbpf_kernel *k)
{
	return facts_ref(k->facts);
}

struct ktbpf_kernel_facts *ktbpf_kernel_facts_unref(struct ktbpf_kernel_facts *f)
{
	if (f && --f->refs == 0) {
		ops_table_free(f->ops);
		free(f);
	}
	return NULL;
}

int ktbpf_kernel_discover(const struct ktbpf_mem *mem, const struct ktbpf_kernel_hints *hints,
			  struct ktbpf_kernel **ret, struct ktbpf_err *err)
{
	struct named_hints named;
	uint64_t t0 = now_ns();
	struct ktbpf_kernel *k;
	int r;

	k = calloc(1, sizeof(*k));
	if (!k)
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	k->mem = mem;
	k->like = hints ? hints->like : NULL;
	r = discover(k, name_files(hints ? hints : &no_hints, &named), err);
	if (r < 0) {
		ktbpf_kernel_free(k);
		return r;
	}
	/*
	 * From here on the kernel is immutable: walks bring their own
	 * translator (its cache is the only state a read changes). What
	 * they need of the BTF is in k->off and k->ops; of the symbols, in
	 * k->info: both go (megabytes each on a real kernel).
	 */
	k->x = ktbpf_xlate_free(k->x);
	r = k->facts ? 0 : ops_table_build(k->btf, &k->ops, err);
	if (r < 0) {
		ktbpf_kernel_free(k);
		return r;
	}
	btf__free(k->btf);
	k->btf = NULL;
	if (!hints || !hints->keep_symbols)
		k->syms = ktbpf_symtab_free(k->syms);
	settle(k);
	if (!k->facts)
		make_facts(k);
	k->plans_ok = plans_build(&k->plans, &k->off, &k->plans_err) == 0;
	k->serial = ++last_serial;
	k->info.discover_ns = now_ns() - t0;
	*ret = k;
	return 0;
}

struct ktbpf_kernel *ktbpf_kernel_free(struct ktbpf_kernel *k)
{
	if (!k)
		return NULL;
	ktbpf_xlate_free(k->x);
	ktbpf_symtab_free(k->syms);
	btf__free(k->btf);
	ops_table_free(k->ops);
	ktbpf_kernel_facts_unref(k->facts);
	free(k->vi);
	ktbpf_percpu_deinit(&k->percpu);
	free(k);
	return NULL;
}

const struct ktbpf_kernel_info *ktbpf_kernel_info(const struct ktbpf_kernel *k)
{
	return &k->info;
}

const struct ktbpf_offsets *ktbpf_kernel_offsets(const struct ktbpf_kernel *k)
{
	return &k->off;
}

const struct ops_table *kernel_ops(const struct ktbpf_kernel *k)
{
	return k->facts ? k->facts->ops : k->ops;
}

const struct ktbpf_vmcoreinfo *ktbpf_kernel_vmcoreinfo(const struct ktbpf_kernel *k)
{
	return k->vi;
}

const struct ktbpf_mem *ktbpf_kernel_mem(const struct ktbpf_kernel *k)
{
	return k->mem;
}

const struct ktbpf_mmu *ktbpf_kernel_mmu(const struct ktbpf_kernel *k)
{
	return &k->mmu;
}

struct ktbpf_xlate *ktbpf_kernel_xlate_new(const struct ktbpf_kernel *k)
{
	return ktbpf_xlate_new(k->mem, &k->mmu);
}

int kernel_plans(const struct ktbpf_kernel *k, const struct walk_plans **ret, struct ktbpf_err *err)
{
	if (!k->plans_ok) {
		if (err)
			*err = k->plans_err;
		return k->plans_err.code;
	}
	*ret = &k->plans;
	return 0;
}

uint64_t kernel_serial(const struct ktbpf_kernel *k)
{
	return k->serial;
}

int ktbpf_kernel_symbol(const struct ktbpf_kernel *k, const char *name, uint64_t *ret_kva)
{
	return k->syms ? sym(k, name, ret_kva) : -ENOENT;
}

int ktbpf_kernel_symbolize(const struct ktbpf_kernel *k, uint64_t addr, char *buf, size_t size)
{
	const char *name;
	uint64_t off;

	if (!k->syms || ktbpf_symtab_nearest(k->syms, addr, 1u << 20, &name, &off) < 0)
		return -ENOENT;
	snprintf(buf, size, "%s+0x%llx", name, (unsigned long long)off);
	return 0;
}

const struct ktbpf_cpu *ktbpf_kernel_cpus(const struct ktbpf_kernel *k, uint32_t *ret_nr)
{
	if (ret_nr)
		*ret_nr = k->percpu.nr;
	return k->percpu.cpus;
}
