/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kit-kernel.h"
#include "ktbpf/translate.h"

#define SZ_2M	       (2ull << 20)
#define SZ_1G	       (1ull << 30)
#define LINK_OFFSET    (KIT_LINK_TEXT - KTBPF_X86_START_KERNEL_MAP) /* 16 MiB */
#define VMALLOC_4L     0xffffc90000000000ull /* Documentation/arch/x86/x86_64/mm.rst */
#define VMALLOC_5L     0xffa0000000000000ull
#define PAGE_OFFSET_4L 0xffff888000000000ull
#define PAGE_OFFSET_5L 0xff11000000000000ull
#define KIT_UTS_OFF    0x100000 /* init_uts_ns, in the image's text (no other object there) */

static void die(const char *what, uint64_t a)
{
	fprintf(stderr, "kit-kernel: %s (0x%" PRIx64 ")\n", what, a);
	abort();
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Space in the image after the text: returns the image offset. */
static uint64_t img_alloc(struct kit_kernel *kk, uint64_t size, uint64_t align)
{
	uint64_t at = round_up(kk->image_next, align ? align : 1);

	if (at + size > kk->opts.image_size || at + size < at)
		die("kernel image full: raise opts.image_size", size);
	kk->image_next = at + size;
	return at;
}

static void add_sym(struct kit_kernel *kk, const char *name, char type, uint64_t kva)
{
	if (kk->nr_syms == kk->cap_syms) {
		kk->cap_syms = kk->cap_syms ? kk->cap_syms * 2 : 64;
		kk->syms = realloc(kk->syms, kk->cap_syms * sizeof(*kk->syms));
		if (!kk->syms)
			die("out of memory", 0);
	}
	kk->syms[kk->nr_syms].name = strdup(name);
	kk->syms[kk->nr_syms].type = type;
	kk->syms[kk->nr_syms].kva = kva;
	if (!kk->syms[kk->nr_syms].name)
		die("out of memory", 0);
	kk->nr_syms++;
}

static bool is_a64(const struct kit_kernel *kk)
{
	return kk->opts.arch == KTBPF_ARCH_AARCH64;
}

static void set_defaults(struct kit_kernel_opts *o, const struct kit_image *im)
{
	if (!o->image_pa)
		o->image_pa = im->gpa_base + (16ull << 20);
	if (o->arch == KTBPF_ARCH_AARCH64) {
		if (!o->a64_t1sz)
			o->a64_t1sz = 16;
		if (!o->a64_va_bits)
			o->a64_va_bits = 52;
		if (o->l5 || o->stale_notes || o->direct_map_1g)
			die("aarch64 kit kernel: l5, stale_notes, direct_map_1g are x86_64's", 0);
		o->relative_percpu = true; /* asm-generic setup_per_cpu_areas() */
		o->no_page_offset_base = true;
	}
	if (!o->image_size)
		o->image_size = 16ull << 20;
	if (!o->page_offset)
		o->page_offset = o->l5 ? PAGE_OFFSET_5L : PAGE_OFFSET_4L;
	if (!o->nr_cpus)
		o->nr_cpus = 4;
	if (!o->percpu_unit)
		o->percpu_unit = 64 << 10;
	if (!o->release)
		o->release = "6.1.0-kit";
	if ((o->slide | o->image_pa | o->image_size) & (SZ_2M - 1) || im->size & (SZ_2M - 1))
		die("slide, image_pa, image_size and RAM must be multiples of 2 MiB", o->slide);
	if (o->image_pa < im->gpa_base + im->next ||
	    o->image_pa + o->image_size > im->gpa_base + im->size)
		die("kernel image does not fit at image_pa (make the kernel first)", o->image_pa);
	if (o->nr_cpus > 8192)
		die("too many CPUs for the kit", o->nr_cpus);
	if (o->possible_holes & 1)
		die("CPU 0 (the boot CPU) is always possible", o->possible_holes);
	/*
	 * 6.15 dropped kallsyms' --absolute-percpu together with zero-based
	 * per-CPU symbols; place-relative kallsyms (7.0+) came after.
	 */
	if (o->relative_percpu && o->kallsyms_enc == KIT_KALLSYMS_ABS_PERCPU)
		o->kallsyms_enc = KIT_KALLSYMS_RELATIVE;
	if (o->kallsyms_enc == KIT_KALLSYMS_PLACE_RELATIVE)
		o->relative_percpu = true;
}

static void map_all(struct kit_kernel *kk)
{
	struct kit_image *im = kk->im;
	uint64_t dm_page = kk->opts.direct_map_1g ? SZ_1G : SZ_2M;

	kit_pt_map(kk->pt, kk->text_kva, kk->image_pa, kk->opts.image_size, SZ_2M);
	if (im->gpa_base % dm_page || im->size % dm_page)
		die("RAM not a multiple of the direct-map page size", im->size);
	kit_pt_map(kk->pt, kk->page_offset + im->gpa_base, im->gpa_base, im->size, dm_page);
}

bool kit_kernel_cpu_possible(const struct kit_kernel *kk, uint32_t cpu)
{
	return cpu < kk->opts.nr_cpus && !(cpu < 64 && (kk->opts.possible_holes >> cpu & 1));
}

/*
 * The boot value of __per_cpu_offset[] entries: __per_cpu_load before 6.15
 * (arch/x86/kernel/setup_percpu.c: BOOT_PERCPU_OFFSET), 0 since (the array
 * is plain BSS). Either way template + value lands in the load area.
 */
static uint64_t boot_offset(const struct kit_kernel *kk)
{
	return kk->opts.relative_percpu ? 0 : kk->percpu_load_kva;
}

/*
 * mm/percpu.c: pcpu_setup_first_chunk(); the first chunk lives in the direct
 * map, one unit per possible CPU. arch/x86/kernel/setup_percpu.c:
 * setup_per_cpu_areas() sets __per_cpu_offset[cpu] = unit - __per_cpu_start
 * and per_cpu(this_cpu_off, cpu) to it.
 */
static void percpu_units(struct kit_kernel *kk)
{
	uint32_t n = kk->opts.nr_cpus;
	uint64_t off = img_alloc(kk, kk->opts.percpu_unit, 4096), tco;

	kk->percpu_load_kva = kk->text_kva + off;
	kk->percpu_load_pa = kk->image_pa + off;
	kk->percpu_base = kk->opts.relative_percpu ? kk->percpu_load_kva : 0;
	kk->percpu_unit_pa = calloc(n, sizeof(uint64_t));
	kk->percpu_offset = calloc(n, sizeof(uint64_t));
	if (!kk->percpu_unit_pa || !kk->percpu_offset)
		die("out of memory", 0);
	kk->percpu_next = 0x1000; /* fixed_percpu_data sits at 0 (before 6.15) */
	kit_kernel_percpu_alloc(kk, 8, &tco);
	kk->percpu_next = 0x2000; /* dynamic objects from the next page, like the static area */
	kit_w64(kk->im, kk->percpu_load_pa + (tco - kk->percpu_base), boot_offset(kk));
	for (uint32_t c = 0; c < n; c++) {
		if (!kit_kernel_cpu_possible(kk, c)) {
			kk->percpu_unit_pa[c] = kk->percpu_load_pa;
			kk->percpu_offset[c] = boot_offset(kk);
			continue;
		}
		kk->percpu_unit_pa[c] = kit_alloc(kk->im, kk->opts.percpu_unit, 4096);
		kk->percpu_offset[c] = kk->page_offset + kk->percpu_unit_pa[c] - kk->percpu_base;
		kit_w64(kk->im, kit_kernel_percpu_pa(kk, tco, c), kk->percpu_offset[c]);
	}
	if (!is_a64(kk))
		add_sym(kk, "this_cpu_off", 'D', tco); /* arm64 keeps it in TPIDR_EL1 */
	if (kk->opts.relative_percpu) {
		add_sym(kk, "__per_cpu_start", 'D', kk->percpu_base);
	} else {
		add_sym(kk, "__per_cpu_start", 'A', 0);
		add_sym(kk, "fixed_percpu_data", 'D', 0);
		add_sym(kk, "__per_cpu_load", 'D', kk->percpu_load_kva);
	}
}

/* arm64 (see kit-kernel.h); like the x86_64 kernel below, swapper_pg_dir first in .data. */
static void a64_new(struct kit_kernel *kk)
{
	struct kit_image *im = kk->im;
	unsigned int va_bits = kk->opts.a64_va_bits;
	uint64_t page_offset = (uint64_t)0 - (1ull << va_bits);

	kk->kimage_voffset = kk->text_kva - kk->image_pa;
	kk->phys_offset = im->gpa_base - kk->opts.a64_phys_offset_below;
	kk->page_offset =
		page_offset - kk->phys_offset; /* VA of PA 0: pa - PHYS_OFFSET + PAGE_OFFSET */
	kk->pac_mask = kk->opts.a64_pac ? ~0ull << (64 - kk->opts.a64_t1sz) : 0;
	kk->vmalloc_next = KIT_A64_KIMAGE_VADDR + (1ull << 32); /* VMALLOC above the image */
	im->next = kk->image_pa + SZ_2M - im->gpa_base;
	kk->pt = kit_pt_new_arm64(im, 4096, kk->opts.a64_t1sz);
	kk->pgd_pa = kit_pt_root_pa(kk->pt);
	kk->image_next = im->next + im->gpa_base - kk->image_pa;
	im->next = kk->image_pa + kk->opts.image_size - im->gpa_base;
	map_all(kk);
	add_sym(kk, "_text", 'T', kk->text_kva);
	add_sym(kk, "_stext", 'T', kk->text_kva + 0x10000);
	add_sym(kk, "bpf_prog_run_kit", 'T', kk->text_kva + 0x12340);
	add_sym(kk, "swapper_pg_dir", 'D', kk->text_kva + (kk->pgd_pa - kk->image_pa));
	add_sym(kk, "_end", 'B', kk->text_kva + kk->opts.image_size);
	percpu_units(kk);
}

struct kit_kernel *kit_kernel_new(struct kit_image *im, const struct kit_kernel_opts *opts)
{
	struct kit_kernel *kk = calloc(1, sizeof(*kk));

	if (!kk)
		die("out of memory", 0);
	kk->im = im;
	if (opts)
		kk->opts = *opts;
	set_defaults(&kk->opts, im);
	kk->image_pa = kk->opts.image_pa;
	kk->link_text = is_a64(kk) ? KIT_A64_KIMAGE_VADDR : KIT_LINK_TEXT;
	kk->text_kva = kk->link_text + kk->opts.slide;
	kk->kerneloffset = kk->opts.slide;
	if (is_a64(kk)) {
		a64_new(kk);
		return kk;
	}
	/* arch/x86/kernel/head64.c: phys_base = load PA - (load VA - __START_KERNEL_map). */
	kk->phys_base = kk->image_pa - LINK_OFFSET - kk->opts.slide;
	kk->page_offset = kk->opts.page_offset;
	kk->vmalloc_next = kk->opts.l5 ? VMALLOC_5L : VMALLOC_4L;
	/* The root table is init_top_pgt in .data: let kit-pt allocate it inside the image. */
	im->next = kk->image_pa + SZ_2M - im->gpa_base;
	kk->pt = kit_pt_new_x86(im, kk->opts.l5);
	kk->pgd_pa = kit_pt_root_pa(kk->pt);
	kk->image_next = im->next + im->gpa_base - kk->image_pa;
	im->next = kk->image_pa + kk->opts.image_size - im->gpa_base;
	map_all(kk);
	add_sym(kk, "_text", 'T', kk->text_kva);
	add_sym(kk, "startup_64", 'T', kk->text_kva);
	add_sym(kk, "_stext", 'T', kk->text_kva + 0x1000);
	add_sym(kk, "bpf_prog_run_kit", 'T', kk->text_kva + 0x2340);
	add_sym(kk, "init_top_pgt", 'D', kk->text_kva + (kk->pgd_pa - kk->image_pa));
	percpu_units(kk);
	return kk;
}

void kit_kernel_free(struct kit_kernel *kk)
{
	if (!kk)
		return;
	for (size_t i = 0; i < kk->nr_syms; i++)
		free(kk->syms[i].name);
	free(kk->syms);
	free(kk->percpu_unit_pa);
	free(kk->percpu_offset);
	free(kk->vmcoreinfo_text);
	kit_pt_free(kk->pt);
	free(kk);
}

static const struct kit_ksym *find_sym(const struct kit_kernel *kk, const char *name)
{
	for (size_t i = 0; i < kk->nr_syms; i++)
		if (!strcmp(kk->syms[i].name, name))
			return &kk->syms[i];
	return NULL;
}

uint64_t kit_kernel_symbol(const struct kit_kernel *kk, const char *name)
{
	const struct kit_ksym *s = find_sym(kk, name);

	return s ? s->kva : 0;
}

void kit_kernel_add_symbol_type(struct kit_kernel *kk, const char *name, char type, uint64_t size,
				uint64_t align, uint64_t *ret_kva, uint64_t *ret_pa)
{
	const struct kit_ksym *s = find_sym(kk, name);
	uint64_t off;

	if (s) {
		off = s->kva - kk->text_kva;
		if (s->kva < kk->text_kva || off + size > kk->image_next)
			die("symbol exists and is too small or not in .data", s->kva);
	} else {
		off = img_alloc(kk, size, align);
		add_sym(kk, name, type, kk->text_kva + off);
	}
	if (ret_kva)
		*ret_kva = kk->text_kva + off;
	if (ret_pa)
		*ret_pa = kk->image_pa + off;
}

void kit_kernel_add_symbol(struct kit_kernel *kk, const char *name, uint64_t size, uint64_t align,
			   uint64_t *ret_kva, uint64_t *ret_pa)
{
	kit_kernel_add_symbol_type(kk, name, 'D', size, align, ret_kva, ret_pa);
}

void kit_kernel_add_symbol_at(struct kit_kernel *kk, const char *name, char type, uint64_t kva)
{
	add_sym(kk, name, type, kva);
}

void kit_kernel_kmalloc(struct kit_kernel *kk, uint64_t size, uint64_t *ret_kva, uint64_t *ret_pa)
{
	uint64_t pa = kit_alloc(kk->im, size ? size : 1, 64);

	if (ret_kva)
		*ret_kva = kk->page_offset + pa;
	if (ret_pa)
		*ret_pa = pa;
}

void kit_kernel_vmalloc(struct kit_kernel *kk, uint64_t size, uint64_t *ret_kva)
{
	uint64_t n = round_up(size ? size : 1, 4096) / 4096;
	uint64_t pa = kit_alloc_pages(kk->im, n), kva = kk->vmalloc_next;

	/* Pages mapped in reverse so no two neighbours are physically adjacent. */
	for (uint64_t i = 0; i < n; i++)
		kit_pt_map(kk->pt, kva + i * 4096, pa + (n - 1 - i) * 4096, 4096, 4096);
	kk->vmalloc_next = kva + (n + 1) * 4096; /* guard page, as mm/vmalloc.c leaves */
	*ret_kva = kva;
}

uint64_t kit_kernel_kva_pa(const struct kit_kernel *kk, uint64_t kva)
{
	return kit_pt_lookup(kk->pt, kva);
}

void kit_kernel_wkva(struct kit_kernel *kk, uint64_t kva, const void *src, uint64_t len)
{
	const uint8_t *p = src;

	while (len) {
		uint64_t n = 4096 - (kva & 4095);

		if (n > len)
			n = len;
		kit_wbytes(kk->im, kit_kernel_kva_pa(kk, kva), p, n);
		kva += n;
		p += n;
		len -= n;
	}
}

void kit_kernel_w64(struct kit_kernel *kk, uint64_t kva, uint64_t v)
{
	kit_kernel_wkva(kk, kva, &v, 8);
}

void kit_kernel_w32(struct kit_kernel *kk, uint64_t kva, uint32_t v)
{
	kit_kernel_wkva(kk, kva, &v, 4);
}

void kit_kernel_percpu_alloc(struct kit_kernel *kk, uint64_t size, uint64_t *ret_template)
{
	uint64_t at = round_up(kk->percpu_next, 64);

	if (at + size > kk->opts.percpu_unit)
		die("per-CPU unit full: raise opts.percpu_unit", size);
	kk->percpu_next = at + size;
	*ret_template = kk->percpu_base + at;
}

uint64_t kit_kernel_percpu_pa(const struct kit_kernel *kk, uint64_t template_kva, uint32_t cpu)
{
	uint64_t at = template_kva - kk->percpu_base;

	if (cpu >= kk->opts.nr_cpus || at >= kk->opts.percpu_unit)
		die("no such per-CPU copy", template_kva);
	return kk->percpu_unit_pa[cpu] + at;
}

void kit_kernel_set_btf(struct kit_kernel *kk, const void *raw, size_t size)
{
	kk->btf = raw;
	kk->btf_size = size;
}

/* ---- kit_kernel_finish(): the objects discovery reads ---- */

/* init/version.c: linux_banner, which the release in VMCOREINFO comes from too. */
static void write_banner(struct kit_kernel *kk)
{
	char banner[160];
	uint64_t pa;
	int n = snprintf(banner, sizeof(banner), "Linux version %s (kit@kit) #1 SMP\n",
			 kk->opts.release);

	kit_kernel_add_symbol_type(kk, "linux_banner", 'R', (uint64_t)n + 1, 1, NULL, &pa);
	kit_wbytes(kk->im, pa, banner, (uint64_t)n + 1);
}

/*
 * init_uts_ns (kernel/utsname.c), which VMCOREINFO lists: its name
 * (OFFSET(uts_namespace.name) = 0 here) holds sysname, nodename, release ...
 * of 65 bytes each (include/uapi/linux/utsname.h: struct new_utsname).
 */
static void write_uts(struct kit_kernel *kk)
{
	uint64_t pa = kk->image_pa + KIT_UTS_OFF;
	size_t n = strlen(kk->opts.release);

	kit_wbytes(kk->im, pa, "Linux", 6);
	kit_wbytes(kk->im, pa + 65, "kit", 4);
	kit_wbytes(kk->im, pa + 130, kk->opts.release, n + 1);
	add_sym(kk, "init_uts_ns", 'D', kk->text_kva + KIT_UTS_OFF);
}

static void write_objects(struct kit_kernel *kk)
{
	struct kit_image *im = kk->im;
	uint32_t nr = kk->opts.nr_cpu_ids_raw ? kk->opts.nr_cpu_ids_raw : kk->opts.nr_cpus;
	uint32_t max_cpus = kit_nr_cpus_max(kk->opts.nr_cpus);
	uint64_t kva, pa, possible;

	if (!kk->opts.no_nr_cpu_ids) {
		kit_kernel_add_symbol(kk, "nr_cpu_ids", 4, 4, NULL, &pa);
		kit_w32(im, pa, nr);
	}
	/*
	 * struct cpumask is NR_CPUS bits (kit-btf.c); at least 64 bytes, room
	 * after it for hostile tests.
	 */
	kit_kernel_add_symbol(kk, "__cpu_possible_mask", max_cpus / 8 < 64 ? 64 : max_cpus / 8, 64,
			      NULL, &pa);
	for (uint32_t w = 0; w < max_cpus / 64; w++) {
		possible = 0;
		for (uint32_t c = 0; c < 64; c++)
			possible |= (uint64_t)kit_kernel_cpu_possible(kk, w * 64 + c) << c;
		kit_w64(im, pa + 8ull * w, possible);
	}
	kit_kernel_add_symbol(kk, "__per_cpu_offset", 8ull * max_cpus, 64, &kva, &pa);
	kk->per_cpu_offset_sym = kva;
	for (uint32_t c = 0; c < max_cpus; c++)
		kit_w64(im, pa + 8 * c,
			c < kk->opts.nr_cpus ? kk->percpu_offset[c] : boot_offset(kk));
	if (!kk->opts.no_page_offset_base) {
		kit_kernel_add_symbol(kk, "page_offset_base", 8, 8, NULL, &pa);
		kit_w64(im, pa, kk->page_offset);
	}
	/* struct idr is 24 bytes on x86_64 (include/linux/idr.h); empty unless a test fills it. */
	if (!kk->opts.no_prog_idr)
		kit_kernel_add_symbol(kk, "prog_idr", 24, 8, &kk->prog_idr, NULL);
	kit_kernel_add_symbol(kk, "bpf_stats_enabled_key", 16, 8, &kk->bpf_stats_enabled_key, NULL);
	write_banner(kk);
	write_uts(kk);
	if (kk->btf && !kk->opts.no_btf) {
		uint64_t off = img_alloc(kk, kk->btf_size, 4);

		kit_wbytes(im, kk->image_pa + off, kk->btf, kk->btf_size);
		add_sym(kk, "__start_BTF", 'R', kk->text_kva + off);
		add_sym(kk, "__stop_BTF", 'R', kk->text_kva + off + kk->btf_size);
	}
}

static void kallsyms_encode(struct kit_kernel *kk); /* below */

static void emit(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void emit(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("vsnprintf", 0);
		if ((size_t)n < *cap - *len)
			break;
		*cap *= 2;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			die("out of memory", 0);
	}
	*len += (size_t)n;
}

/* The text a 6.1 x86_64 kernel writes (kernel/crash_core.c, arch/x86/kernel/machine_kexec_64.c). */
static void vmcoreinfo_text(struct kit_kernel *kk)
{
	size_t len = 0, cap = 1024;
	char *t = malloc(cap);
	uint64_t pgd = kit_kernel_symbol(kk, "init_top_pgt");

	if (!t)
		die("out of memory", 0);
	t[0] = '\0';
	if (is_a64(kk))
		pgd = kit_kernel_symbol(kk, "swapper_pg_dir");
	emit(&t, &len, &cap, "OSRELEASE=%s\nBUILD-ID=%s\nPAGESIZE=4096\n", kk->opts.release,
	     KIT_BUILD_ID);
	emit(&t, &len, &cap, "SYMBOL(init_uts_ns)=%" PRIx64 "\nOFFSET(uts_namespace.name)=0\n",
	     kk->text_kva + KIT_UTS_OFF);
	emit(&t, &len, &cap, "SYMBOL(swapper_pg_dir)=%" PRIx64 "\n", pgd);
	if (!kk->opts.no_stext_in_vmcoreinfo)
		emit(&t, &len, &cap, "SYMBOL(_stext)=%" PRIx64 "\n",
		     kit_kernel_symbol(kk, "_stext"));
	emit(&t, &len, &cap, "SIZE(page)=64\nOFFSET(page.flags)=0\nNUMBER(PG_lru)=4\n");
	if (kk->kallsyms_names) {
		emit(&t, &len, &cap,
		     "SYMBOL(kallsyms_names)=%" PRIx64 "\nSYMBOL(kallsyms_num_syms)=%" PRIx64
		     "\nSYMBOL(kallsyms_token_table)=%" PRIx64
		     "\nSYMBOL(kallsyms_token_index)=%" PRIx64 "\n",
		     kk->kallsyms_names, kk->kallsyms_num_syms, kk->kallsyms_token_table,
		     kk->kallsyms_token_index);
		if (kk->kallsyms_addresses)
			emit(&t, &len, &cap, "SYMBOL(kallsyms_addresses)=%" PRIx64 "\n",
			     kk->kallsyms_addresses);
		else
			emit(&t, &len, &cap, "SYMBOL(kallsyms_offsets)=%" PRIx64 "\n",
			     kk->kallsyms_offsets);
		/* 7.0+ lists no base (kernel/vmcore_info.c); it has none. */
		if (kk->kallsyms_relative_base)
			emit(&t, &len, &cap, "SYMBOL(kallsyms_relative_base)=%" PRIx64 "\n",
			     kk->kallsyms_relative_base);
	}
	if (is_a64(kk)) {
		/* arch/arm64/kernel/vmcore_info.c: arch_crash_save_vmcoreinfo() */
		emit(&t, &len, &cap,
		     "NUMBER(VA_BITS)=%u\nNUMBER(MODULES_VADDR)=0xffff800000000000\n"
		     "NUMBER(MODULES_END)=0x%" PRIx64 "\nNUMBER(kimage_voffset)=0x%" PRIx64
		     "\nNUMBER(PHYS_OFFSET)=0x%" PRIx64 "\nNUMBER(TCR_EL1_T1SZ)=0x%x\n"
		     "KERNELOFFSET=%" PRIx64 "\nNUMBER(KERNELPACMASK)=0x%" PRIx64 "\n",
		     kk->opts.a64_va_bits, (uint64_t)KIT_A64_KIMAGE_VADDR, kk->kimage_voffset,
		     kk->phys_offset, kk->opts.a64_t1sz, kk->kerneloffset, kk->pac_mask);
		kk->vmcoreinfo_text = t;
		return;
	}
	emit(&t, &len, &cap, "NUMBER(phys_base)=%" PRId64 "\nSYMBOL(init_top_pgt)=%" PRIx64 "\n",
	     (int64_t)kk->phys_base, pgd);
	emit(&t, &len, &cap, "NUMBER(pgtable_l5_enabled)=%d\nKERNELOFFSET=%" PRIx64 "\n",
	     kk->opts.l5 ? 1 : 0, kk->kerneloffset);
	emit(&t, &len, &cap, "NUMBER(KERNEL_IMAGE_SIZE)=1073741824\nNUMBER(sme_mask)=0\n");
	kk->vmcoreinfo_text = t;
}

void kit_vmcoreinfo_note(struct kit_image *im, uint64_t pa, const char *text, uint32_t descsz)
{
	kit_w32(im, pa, 11);
	kit_w32(im, pa + 4, descsz);
	kit_w32(im, pa + 8, 0);
	kit_wbytes(im, pa + 12, "VMCOREINFO", 11);
	kit_wbytes(im, pa + 24, text, strlen(text));
}
/*
 * A note of an earlier boot (kit_kernel_opts.stale_notes): the same text
 * with its KASLR slide moved by 64 MiB (at the same physical place, so
 * phys_base follows), or of an older release at the same place.
 */
static void stale_note(struct kit_kernel *kk, uint64_t pa, bool other_slide)
{
	uint64_t d = 64ull << 20, uts = kk->text_kva + KIT_UTS_OFF;
	uint64_t pgd = kit_kernel_symbol(kk, "init_top_pgt");
	uint64_t stext = kit_kernel_symbol(kk, "_stext");
	char t[1024];

	if (!other_slide)
		d = 0;
	snprintf(t, sizeof(t),
		 "OSRELEASE=%s\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=%" PRIx64
		 "\nOFFSET(uts_namespace.name)=0\nSYMBOL(_stext)=%" PRIx64
		 "\nNUMBER(phys_base)=%" PRId64 "\nSYMBOL(init_top_pgt)=%" PRIx64
		 "\nNUMBER(pgtable_l5_enabled)=%d\nKERNELOFFSET=%" PRIx64 "\n",
		 other_slide ? kk->opts.release : "6.0.0-old", uts + d, stext + d,
		 (int64_t)(kk->phys_base - d), pgd + d, kk->opts.l5 ? 1 : 0, kk->kerneloffset + d);
	kit_vmcoreinfo_note(kk->im, pa, t, (uint32_t)strlen(t));
}

/*
 * The note, page aligned (kernel/vmcore_info.c: alloc_pages_exact()): high in
 * RAM by default, as the buddy allocator tends to give, or where
 * opts.note_place says; with opts.stale_notes an earlier boot's notes just
 * below and above it.
 */
static void vmcoreinfo_note(struct kit_kernel *kk)
{
	struct kit_image *im = kk->im;
	uint64_t want = im->size - im->size / 8, pa;

	if (kk->opts.note_place == KIT_NOTE_MIDDLE)
		want = im->size / 2;
	else if (kk->opts.note_place == KIT_NOTE_LOW)
		want = im->next;
	if (im->next < want)
		im->next = round_up(want, 4096);
	if (kk->opts.stale_notes)
		stale_note(kk, kit_alloc(im, 8192, 4096), false);
	pa = kit_alloc(im, 8192, 4096);
	kit_vmcoreinfo_note(kk->im, pa, kk->vmcoreinfo_text, (uint32_t)strlen(kk->vmcoreinfo_text));
	if (kk->opts.stale_notes)
		stale_note(kk, kit_alloc(im, 8192, 4096), true);
	kk->vmcoreinfo_pa = pa;
}

void kit_kernel_finish(struct kit_kernel *kk)
{
	if (kk->finished)
		die("kit_kernel_finish twice", 0);
	kk->finished = true;
	write_objects(kk);
	if (!kk->im->data_end)
		kk->im->data_end = kk->im->next; /* all the kit allocated so far is the kernel's */
	if (!kk->opts.no_kallsyms)
		kallsyms_encode(kk);
	vmcoreinfo_text(kk);
	if (!kk->opts.no_vmcoreinfo)
		vmcoreinfo_note(kk);
}

const char *kit_kernel_vmcoreinfo_text(const struct kit_kernel *kk)
{
	return kk->vmcoreinfo_text;
}

/* ---- kallsyms encoder (the inverse of kernel/kallsyms.c: kallsyms_expand_symbol()) ---- */

/*
 * Multi-character tokens on byte values no name uses (scripts/kallsyms.c
 * learns these from pair frequencies; a fixed set is enough to exercise
 * expansion), one of them spanning the type character.
 */
static const char *const multi_tokens[] = {
	"Dkit_", "per_cpu", "_offset", "bpf_", "prog", "init_", "kallsyms_", "__",
};
#define NR_MULTI (sizeof(multi_tokens) / sizeof(multi_tokens[0]))

int kit_ksym_cmp(const void *a, const void *b)
{
	const struct kit_ksym *x = *(const struct kit_ksym *const *)a;
	const struct kit_ksym *y = *(const struct kit_ksym *const *)b;

	if (x->kva != y->kva)
		return x->kva < y->kva ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Encode "<type><name>" into out; returns the number of token bytes. */
static size_t encode_name(const struct kit_ksym *s, uint8_t *out)
{
	char full[1024];
	size_t n = 0, len;

	len = (size_t)snprintf(full, sizeof(full), "%c%s", s->type, s->name);
	for (size_t i = 0; i < len;) {
		size_t k, best = 0, best_len = 0;

		for (k = 0; k < NR_MULTI; k++) {
			size_t tl = strlen(multi_tokens[k]);

			if (tl > best_len && !strncmp(full + i, multi_tokens[k], tl)) {
				best = k + 1;
				best_len = tl;
			}
		}
		if (best) {
			out[n++] = (uint8_t)best; /* tokens live at bytes 1..NR_MULTI */
			i += best_len;
		} else {
			out[n++] = (uint8_t)full[i++];
		}
	}
	return n;
}

static uint64_t put(struct kit_kernel *kk, const void *src, uint64_t size, uint64_t align)
{
	uint64_t off = img_alloc(kk, size, align);

	kit_wbytes(kk->im, kk->image_pa + off, src, size);
	return kk->text_kva + off;
}

static void write_tokens(struct kit_kernel *kk)
{
	char table[4096];
	uint16_t index[256];
	size_t len = 0;

	for (int b = 0; b < 256; b++) {
		index[b] = (uint16_t)len;
		if (b >= 1 && b <= (int)NR_MULTI) {
			strcpy(table + len, multi_tokens[b - 1]);
			len += strlen(multi_tokens[b - 1]) + 1;
		} else {
			table[len++] = (char)b;
			if (b)
				table[len++] = '\0';
		}
	}
	kk->kallsyms_token_table = put(kk, table, len, 1);
	kk->kallsyms_token_index = put(kk, index, sizeof(index), 2);
}

bool kit_kallsyms_left_out(enum kit_kallsyms_enc enc, uint64_t kva)
{
	return (enc == KIT_KALLSYMS_RELATIVE || enc == KIT_KALLSYMS_PLACE_RELATIVE) &&
	       kva < KIT_PERCPU_SYM_MAX;
}

/* kernel/kallsyms.c: offset_to_ptr(&kallsyms_offsets[i]) gives v[i]->kva back. */
static void write_place_relative(struct kit_kernel *kk, struct kit_ksym **v, uint32_t n)
{
	uint64_t off = img_alloc(kk, 4ull * n, 8), kva = kk->text_kva + off;
	int32_t *tab = malloc(4ull * n);

	if (!tab)
		die("out of memory", 0);
	for (uint32_t i = 0; i < n; i++) {
		int64_t d = (int64_t)(v[i]->kva - (kva + 4ull * i));

		if (d < INT32_MIN || d > INT32_MAX)
			die("place-relative kallsyms: symbol too far from the table", 0);
		tab[i] = (int32_t)d;
	}
	kit_wbytes(kk->im, kk->image_pa + off, tab, 4ull * n);
	kk->kallsyms_offsets = kva;
	free(tab);
}

static void write_addresses(struct kit_kernel *kk, struct kit_ksym **v, uint32_t n)
{
	enum kit_kallsyms_enc enc = kk->opts.kallsyms_enc;
	uint64_t base = UINT64_MAX;
	void *tab;

	if (enc == KIT_KALLSYMS_ABSOLUTE) {
		uint64_t *a = malloc(8ull * n);

		for (uint32_t i = 0; i < n; i++)
			a[i] = v[i]->kva;
		kk->kallsyms_addresses = put(kk, a, 8ull * n, 8);
		free(a);
		return;
	}
	if (enc == KIT_KALLSYMS_PLACE_RELATIVE) {
		write_place_relative(kk, v, n);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		if (v[i]->kva >= KIT_PERCPU_SYM_MAX && v[i]->kva < base)
			base = v[i]->kva;
	tab = malloc(4ull * n);
	for (uint32_t i = 0; i < n; i++) {
		int32_t off;

		if (v[i]->kva < KIT_PERCPU_SYM_MAX)
			off = (int32_t)v[i]->kva; /* absolute */
		else if (enc == KIT_KALLSYMS_ABS_PERCPU)
			off = (int32_t)(base - 1 - v[i]->kva);
		else
			off = (int32_t)(uint32_t)(v[i]->kva - base);
		memcpy((uint8_t *)tab + 4ull * i, &off, 4);
	}
	kk->kallsyms_offsets = put(kk, tab, 4ull * n, 8);
	kk->kallsyms_relative_base = put(kk, &base, 8, 8);
	free(tab);
}

static void kallsyms_encode(struct kit_kernel *kk)
{
	struct kit_ksym **v = malloc(sizeof(*v) * kk->nr_syms);
	size_t cap = 4096;
	uint8_t *names = malloc(cap);
	uint32_t *markers = calloc(kk->nr_syms / 256 + 1, 4);
	uint32_t n = 0;
	size_t pos = 0;

	if (!v || !names || !markers)
		die("out of memory", 0);
	for (size_t i = 0; i < kk->nr_syms; i++)
		if (!kit_kallsyms_left_out(kk->opts.kallsyms_enc, kk->syms[i].kva))
			v[n++] = &kk->syms[i];
	qsort(v, n, sizeof(*v), kit_ksym_cmp);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t enc[1024];
		size_t len = encode_name(v[i], enc);

		if (i % 256 == 0)
			markers[i / 256] = (uint32_t)pos;
		while (pos + len + 2 > cap) {
			cap *= 2;
			names = realloc(names, cap);
			if (!names)
				die("out of memory", 0);
		}
		/* scripts/kallsyms.c: ULEB128 in two bytes for long names ("big symbols"). */
		if (len >= 0x80) {
			names[pos++] = (uint8_t)((len & 0x7f) | 0x80);
			names[pos++] = (uint8_t)(len >> 7);
		} else {
			names[pos++] = (uint8_t)len;
		}
		memcpy(names + pos, enc, len);
		pos += len;
	}
	/* .rodata order of scripts/kallsyms.c: write_src(). */
	write_addresses(kk, v, n);
	kk->kallsyms_num_syms = put(kk, &n, 4, 8);
	kk->kallsyms_names = put(kk, names, pos, 8);
	put(kk, markers, 4ull * (n / 256 + 1), 8);
	write_tokens(kk);
	kk->kallsyms_num = n;
	free(v);
	free(names);
	free(markers);
}

const char kit_vmcoreinfo_debian61[] = "OSRELEASE=6.1.0-18-amd64\n"
				       "BUILD-ID=4f1a3c0b7e2d9a8f6e5d4c3b2a1908f7e6d5c4b3\n"
				       "PAGESIZE=4096\n"
				       "SYMBOL(init_uts_ns)=ffffffff87613440\n"
				       "OFFSET(uts_namespace.name)=0\n"
				       "SYMBOL(node_online_map)=ffffffff8770d2c8\n"
				       "SYMBOL(swapper_pg_dir)=ffffffff8720a000\n"
				       "SYMBOL(_stext)=ffffffff86200000\n"
				       "SYMBOL(vmap_area_list)=ffffffff876c1a30\n"
				       "SYMBOL(mem_section)=ffff8ab7bffd1000\n"
				       "LENGTH(mem_section)=2048\n"
				       "SIZE(mem_section)=16\n"
				       "OFFSET(mem_section.section_mem_map)=0\n"
				       "NUMBER(SECTION_SIZE_BITS)=27\n"
				       "NUMBER(MAX_PHYSMEM_BITS)=46\n"
				       "SIZE(page)=64\n"
				       "SYMBOL(kallsyms_names)=ffffffff86f0a1c8\n"
				       "SYMBOL(kallsyms_num_syms)=ffffffff86f0a1c0\n"
				       "SYMBOL(kallsyms_token_table)=ffffffff8715bd68\n"
				       "SYMBOL(kallsyms_token_index)=ffffffff8715c0f0\n"
				       "SYMBOL(kallsyms_offsets)=ffffffff86e7c8e0\n"
				       "SYMBOL(kallsyms_relative_base)=ffffffff86f0a1b8\n"
				       "NUMBER(phys_base)=-109051904\n"
				       "SYMBOL(init_top_pgt)=ffffffff8720a000\n"
				       "NUMBER(pgtable_l5_enabled)=0\n"
				       "SYMBOL(node_data)=ffffffff87709000\n"
				       "LENGTH(node_data)=1024\n"
				       "KERNELOFFSET=5200000\n"
				       "NUMBER(KERNEL_IMAGE_SIZE)=1073741824\n"
				       "NUMBER(sme_mask)=0\n";
