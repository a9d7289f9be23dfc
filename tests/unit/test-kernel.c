/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "kit-btf.h"
#include "kit-guest.h"
#include "siphash-internal.h"
#include "kit-kernel.h"
#include "ktbpf/kernel.h"
#include "ktbpf/progs.h"
#include "unit.h"

struct fix {
	struct kit_image *im;
	struct kit_kernel *kk;
	struct btf *btf;
	struct kit_btf_layout lay;
	uint32_t btf_size;
	uint64_t stats_tmpl; /* a per-CPU object, CPU n holds 0x1000 + n */
};

static void fix_build(struct fix *f, const struct kit_kernel_opts *o, uint64_t ram)
{
	const void *raw;

	memset(f, 0, sizeof(*f));
	f->im = kit_image_new(ram);
	if (o && o->arch == KTBPF_ARCH_AARCH64)
		f->im->gpa_base = KIT_A64_RAM_BASE;
	f->kk = kit_kernel_new(f->im, o);
	f->btf = kit_btf_kernel_new(KIT_BTF_V61, &f->lay);
	raw = kit_btf_raw(f->btf, &f->btf_size);
	kit_kernel_set_btf(f->kk, raw, f->btf_size);
	kit_kernel_percpu_alloc(f->kk, 16, &f->stats_tmpl);
	for (uint32_t c = 0; c < f->kk->opts.nr_cpus; c++)
		kit_w64(f->im, kit_kernel_percpu_pa(f->kk, f->stats_tmpl, c), 0x1000 + c);
	/* A zero-based per-CPU symbol: KASLR must not move it on any route. */
	kit_kernel_add_symbol_at(f->kk, "kit_percpu_stats", 'D', f->stats_tmpl);
	kit_kernel_finish(f->kk);
}

static void fix_free(struct fix *f)
{
	kit_kernel_free(f->kk);
	btf__free(f->btf);
	kit_image_free(f->im);
}

/* Discovery keeping its symbol table, so that tests can check any symbol. */
static struct ktbpf_kernel *discover_ok(struct fix *f, const struct ktbpf_kernel_hints *h)
{
	struct ktbpf_kernel_hints keep = h ? *h : (struct ktbpf_kernel_hints){0};
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};

	keep.keep_symbols = true;
	cr_assert_eq(ktbpf_kernel_discover(kit_mem(f->im), &keep, &k, &err), 0, "%s", err.msg);
	cr_assert_not_null(k);
	return k;
}

/* Everything discovery reports equals what the kit built. */
static void assert_matches_kit(struct fix *f, struct ktbpf_kernel *k)
{
	const struct ktbpf_kernel_info *in = ktbpf_kernel_info(k);
	const struct ktbpf_offsets *off = ktbpf_kernel_offsets(k);
	struct kit_kernel *kk = f->kk;
	const struct ktbpf_cpu *cpus;
	uint32_t nr = 0, c, i = 0;
	uint64_t a;

	cr_assert_eq(in->arch, KTBPF_ARCH_X86_64);
	cr_assert_str_eq(in->release, kk->opts.release);
	cr_assert_eq(in->kaslr_offset, kk->opts.slide);
	cr_assert_eq(in->phys_base, kk->phys_base);
	cr_assert_eq(in->page_offset, kk->page_offset);
	cr_assert_eq(in->pgd_pa, kk->pgd_pa);
	cr_assert_eq(in->l5, kk->opts.l5);
	cr_assert_eq(in->nr_cpu_ids, kk->opts.nr_cpus);
	cr_assert_eq(in->btf_size, f->btf_size);
	cr_assert_eq(in->prog_idr, kk->prog_idr);
	cr_assert_eq(in->bpf_stats_enabled_key, kk->bpf_stats_enabled_key);
	cr_assert_eq(in->per_cpu_offset, kk->per_cpu_offset_sym);
	cr_assert_geq(in->nr_symbols, 10);
	cr_assert_gt(in->discover_ns, 0);
	cr_assert_eq(off->prog_aux, f->lay.off.prog_aux);
	cr_assert_eq(off->aux_name, f->lay.off.aux_name);
	cr_assert_eq(off->idr_xa_head, f->lay.off.idr_xa_head);
	cr_assert_eq(in->percpu_scheme,
		     kk->opts.relative_percpu ? KTBPF_PERCPU_RELATIVE : KTBPF_PERCPU_ZERO_BASED);
	cpus = ktbpf_kernel_cpus(k, &nr);
	cr_assert_eq(in->nr_possible_cpus, nr);
	for (c = 0; c < kk->opts.nr_cpus; c++) {
		if (!kit_kernel_cpu_possible(kk, c))
			continue;
		cr_assert_lt(i, nr, "possible CPU %u missing", c);
		cr_assert_eq(cpus[i].cpu, c);
		cr_assert_eq(cpus[i].offset, kk->percpu_offset[c], "cpu %u", c);
		i++;
	}
	cr_assert_eq(nr, i, "%u possible CPUs reported, %u expected", nr, i);
	cr_assert_eq(ktbpf_kernel_symbol(k, "init_top_pgt", &a), 0);
	cr_assert_eq(a, kit_kernel_symbol(kk, "init_top_pgt"));
	cr_assert_eq(ktbpf_kernel_symbol(k, "no_such_symbol", &a), -ENOENT);
	if (kit_kallsyms_left_out(kk->opts.kallsyms_enc, f->stats_tmpl) &&
	    in->symbols_source == KTBPF_SRC_GUEST_RAM) {
		cr_assert_eq(ktbpf_kernel_symbol(k, "kit_percpu_stats", &a), -ENOENT);
	} else {
		cr_assert_eq(ktbpf_kernel_symbol(k, "kit_percpu_stats", &a), 0);
		cr_assert_eq(a, f->stats_tmpl, "per-CPU symbol moved to 0x%llx",
			     (unsigned long long)a);
	}
}

/* Each CPU's copy of the per-CPU object reads back through the translator. */
static void assert_percpu_reads(struct fix *f, struct ktbpf_kernel *k)
{
	struct ktbpf_xlate *x = ktbpf_kernel_xlate_new(k);
	const struct ktbpf_cpu *cpus;
	uint32_t nr;

	cpus = ktbpf_kernel_cpus(k, &nr);
	cr_assert_gt(nr, 0);
	for (uint32_t i = 0; i < nr; i++) {
		struct ktbpf_err err = {0};
		uint64_t v = 0;

		cr_assert_eq(ktbpf_xlate_read_u64(x, f->stats_tmpl + cpus[i].offset, &v, &err), 0,
			     "%s", err.msg);
		cr_assert_eq(v, 0x1000 + cpus[i].cpu, "cpu %u", cpus[i].cpu);
	}
	ktbpf_xlate_free(x);
}

Test(kernel, zero_config_4level_kaslr_negative_phys_base)
{
	struct kit_kernel_opts o = {
		.slide = 0x6800000, /* phys_base = 16 MiB - 16 MiB - 104 MiB = -109051904 */
		.page_offset = 0xffff9a4c40000000ull,
		.nr_cpus = 6,
	};
	struct ktbpf_kernel *k;
	struct fix f;

	fix_build(&f, &o, 256 << 20);
	cr_assert_eq(f.kk->phys_base, (uint64_t)-109051904);
	k = discover_ok(&f, NULL);
	assert_matches_kit(&f, k);
	assert_percpu_reads(&f, k);
	cr_assert_eq(ktbpf_kernel_info(k)->vmcoreinfo_pa, f.kk->vmcoreinfo_pa);
	cr_assert_eq(ktbpf_kernel_info(k)->symbols_source, KTBPF_SRC_GUEST_RAM);
	cr_assert_eq(ktbpf_kernel_info(k)->btf_source, KTBPF_SRC_GUEST_RAM);
	cr_assert_eq(ktbpf_kernel_info(k)->layout_source, KTBPF_SRC_VMCOREINFO);
	cr_assert_eq(ktbpf_kernel_info(k)->nr_symbols, f.kk->kallsyms_num);
	cr_assert_not_null(ktbpf_kernel_vmcoreinfo(k));
	ktbpf_kernel_free(k);
	fix_free(&f);
}

Test(kernel, zero_config_5level_kaslr)
{
	struct kit_kernel_opts o = {
		.l5 = true,
		.slide = 0x2a000000,
		.image_pa = 32 << 20,
		.page_offset = 0xff3a800000000000ull,
		.nr_cpus = 3,
		.release = "6.12.9-kit",
	};
	struct ktbpf_kernel *k;
	struct fix f;

	fix_build(&f, &o, 128 << 20);
	k = discover_ok(&f, NULL);
	assert_matches_kit(&f, k);
	assert_percpu_reads(&f, k);
	cr_assert(ktbpf_kernel_info(k)->l5);
	ktbpf_kernel_free(k);
	fix_free(&f);
}

Test(kernel, zero_config_1g_direct_map_no_page_offset_base)
{
	struct kit_kernel_opts o = {
		.slide = 0x1000000, .direct_map_1g = true, .no_page_offset_base = true};
	struct ktbpf_kernel *k;
	struct fix f;

	/* Without RANDOMIZE_MEMORY the default 4-level base applies. */
	fix_build(&f, &o, 1ull << 30);
	k = discover_ok(&f, NULL);
	cr_assert_eq(ktbpf_kernel_info(k)->page_offset, 0xffff888000000000ull);
	assert_percpu_reads(&f, k);
	ktbpf_kernel_free(k);
	fix_free(&f);
}

/* Linux 7.0+: VMCOREINFO lists kallsyms_offsets and no kallsyms_relative_base. */
Test(kernel, zero_config_place_relative_kallsyms)
{
	struct kit_kernel_opts o = {
		.slide = 0x6800000,
		.page_offset = 0xffff9a4c40000000ull,
		.nr_cpus = 4,
		.release = "7.2.13+deb14-cloud-amd64",
		.kallsyms_enc = KIT_KALLSYMS_PLACE_RELATIVE,
	};
	struct ktbpf_kernel *k;
	struct fix f;

	fix_build(&f, &o, 256 << 20);
	cr_assert_null(strstr(kit_kernel_vmcoreinfo_text(f.kk), "kallsyms_relative_base"));
	k = discover_ok(&f, NULL);
	assert_matches_kit(&f, k);
	assert_percpu_reads(&f, k);
	cr_assert_eq(ktbpf_kernel_info(k)->symbols_source, KTBPF_SRC_GUEST_RAM);
	cr_assert_eq(ktbpf_kernel_info(k)->nr_symbols, f.kk->kallsyms_num);
	ktbpf_kernel_free(k);
	fix_free(&f);
}

/* The same guest read with no files, place-relative kallsyms: every program as the kit built it.
 */
Test(kernel, place_relative_guest_progs_walk_matches_truth)
{
	struct kit_guest_opts o = {
		.kernel = {.slide = 0x2a000000,
			   .l5 = true,
			   .image_pa = 32 << 20,
			   .kallsyms_enc = KIT_KALLSYMS_PLACE_RELATIVE},
	};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = unit_walk(g);

	cr_assert_eq(ktbpf_kernel_info(g->k)->symbols_source, KTBPF_SRC_GUEST_RAM);
	unit_assert_progs(g, s);
	cr_assert_eq(s->nr_progs, g->nr_struct_ops);
	cr_assert_eq(s->nr_diags, 0);
	cr_assert_eq(s->stats, KTBPF_STATS_ENABLED);
	ktbpf_snapshot_free(s);
	kit_guest_free(g);
}

static void write_map(struct fix *f, char *path, bool link_time)
{
	int fd;

	strcpy(path, "/tmp/ktbpf-test-sysmap-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	kit_kernel_write_system_map(f->kk, path, link_time);
}

Test(kernel, files_route_system_map_link_time_and_runtime)
{
	struct kit_kernel_opts o = {.slide = 0x3c00000, .no_kallsyms = true, .nr_cpus = 2};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_err err = {0};
	char path[64];
	struct fix f;

	fix_build(&f, &o, 128 << 20);
	/* No kallsyms tables in RAM: zero-config says to pass a map. */
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), NULL, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "System.map"), "%s", err.msg);
	cr_assert(err.need & KTBPF_NEED_SYMBOLS, "%s", err.msg);
	for (int runtime = 0; runtime < 2; runtime++) {
		struct ktbpf_kernel *k;

		write_map(&f, path, !runtime);
		h.system_map = kit_file(path);
		k = discover_ok(&f, &h);
		assert_matches_kit(&f, k);
		assert_percpu_reads(&f, k);
		cr_assert_eq(ktbpf_kernel_info(k)->symbols_source, KTBPF_SRC_SYSTEM_MAP);
		ktbpf_kernel_free(k);
		unlink(path);
	}
	fix_free(&f);
}

Test(kernel, files_route_map_from_another_build_rejected)
{
	struct kit_kernel_opts o = {.slide = 0x3c00000};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_err err = {0};
	char path[64];
	FILE *fp;
	struct fix f;

	fix_build(&f, &o, 128 << 20);
	write_map(&f, path, true);
	/* Rewrite it with init_top_pgt 1 MiB away: the slide no longer matches KERNELOFFSET. */
	fp = fopen(path, "w");
	fprintf(fp, "%016llx D init_top_pgt\n%016llx D prog_idr\n",
		(unsigned long long)(kit_kernel_symbol(f.kk, "init_top_pgt") - o.slide + 0x100000),
		(unsigned long long)(f.kk->prog_idr - o.slide));
	fclose(fp);
	h.system_map = kit_file(path);
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -EXDEV);
	cr_assert_not_null(strstr(err.msg, "does not match the guest kernel"), "%s", err.msg);
	unlink(path);
	fix_free(&f);
}

Test(kernel, btf_file_route)
{
	struct kit_kernel_opts o = {.no_btf = true};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_kernel *k;
	const void *raw;
	char path[64];
	uint32_t n;
	FILE *fp;
	struct fix f;
	int fd;

	fix_build(&f, &o, 128 << 20);
	strcpy(path, "/tmp/ktbpf-test-btf-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	raw = kit_btf_raw(f.btf, &n);
	fp = fopen(path, "w");
	cr_assert_eq(fwrite(raw, 1, n, fp), n);
	fclose(fp);
	h.btf = kit_file(path);
	k = discover_ok(&f, &h);
	assert_matches_kit(&f, k);
	cr_assert_eq(ktbpf_kernel_info(k)->btf_source, KTBPF_SRC_BTF_FILE);
	ktbpf_kernel_free(k);
	unlink(path);
	fix_free(&f);
}

Test(kernel, vmcoreinfo_text_hint_without_note)
{
	struct kit_kernel_opts o = {.slide = 0x800000 * 4, .no_vmcoreinfo = true};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_kernel *k;
	struct ktbpf_err err = {0};
	struct fix f;

	fix_build(&f, &o, 128 << 20);
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), NULL, &err), -EINPROGRESS);
	cr_assert_not_null(strstr(err.msg, "no VMCOREINFO note in 128 MiB"), "%s", err.msg);
	h.vmcoreinfo_text = kit_kernel_vmcoreinfo_text(f.kk);
	h.vmcoreinfo_len = strlen(h.vmcoreinfo_text);
	k = discover_ok(&f, &h);
	assert_matches_kit(&f, k);
	cr_assert_eq(ktbpf_kernel_info(k)->vmcoreinfo_pa, 0);
	ktbpf_kernel_free(k);
	fix_free(&f);
}

Test(kernel, missing_prog_idr_says_kallsyms_all)
{
	struct kit_kernel_opts o = {.no_prog_idr = true};
	struct ktbpf_err err = {0};
	struct fix f;

	fix_build(&f, &o, 64 << 20);
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), NULL, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "'prog_idr' not found"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "CONFIG_KALLSYMS_ALL"), "%s", err.msg);
	fix_free(&f);
}

Test(kernel, missing_btf_says_debug_info_btf)
{
	struct kit_kernel_opts o = {.no_btf = true};
	struct ktbpf_err err = {0};
	struct fix f;

	fix_build(&f, &o, 64 << 20);
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), NULL, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "__start_BTF"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "CONFIG_DEBUG_INFO_BTF"), "%s", err.msg);
	fix_free(&f);
}

Test(kernel, garbage_nr_cpu_ids_rejected)
{
	uint32_t bad[] = {0, KTBPF_MAX_CPUS + 1, 0xffffffffu};

	for (int i = 0; i < 3; i++) {
		struct kit_kernel_opts o = {.nr_cpu_ids_raw = bad[i]};
		struct ktbpf_err err = {0};
		struct fix f;

		/* nr_cpu_ids_raw = 0 means "use nr_cpus": write the 0 by hand. */
		fix_build(&f, &o, 64 << 20);
		if (!bad[i])
			kit_kernel_w32(f.kk, kit_kernel_symbol(f.kk, "nr_cpu_ids"), 0);
		cr_assert_eq(unit_discover_fails(kit_mem(f.im), NULL, &err), -EUCLEAN,
			     "case %d: %s", i, err.msg);
		cr_assert_not_null(strstr(err.msg, "nr_cpu_ids"), "%s", err.msg);
		fix_free(&f);
	}
}

Test(kernel, aarch64_without_hints_says_what_to_pass)
{
	struct kit_kernel_opts o = {0};
	struct ktbpf_kernel_hints h = {.arch = KTBPF_ARCH_AARCH64};
	struct ktbpf_err err = {0};
	struct fix f;

	/* An x86_64 note read as aarch64: no T1SZ, no kimage_voffset. */
	fix_build(&f, &o, 64 << 20);
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -ENOENT, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "TCR_EL1"), "%s", err.msg);
	cr_assert(err.need & KTBPF_NEED_TCR_EL1, "%s", err.msg);
	fix_free(&f);
}

/*
 * What a program can do about a failed discovery, pinned on kit images: no
 * note yet is worth retrying; a wrong hint or a kernel without BTF is not.
 * The messages say what is missing, never a client's option.
 */
Test(kernel, error_classes_on_kit_images)
{
	struct kit_kernel_opts booting = {.no_vmcoreinfo = true}, plain = {0},
			       no_btf = {.no_btf = true};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_err err = {0};
	struct fix f;

	fix_build(&f, &booting, 64 << 20);
	cr_assert_eq(ktbpf_err_class(unit_discover_fails(kit_mem(f.im), NULL, &err)),
		     KTBPF_ERR_NOT_READY, "%s", err.msg);
	cr_assert(err.need & KTBPF_NEED_VMCOREINFO, "%s", err.msg);
	cr_assert_null(strstr(err.msg, "--"), "%s", err.msg);
	fix_free(&f);

	fix_build(&f, &plain, 64 << 20);
	h.vmcoreinfo_pa = 0x1000; /* a wrong hint: no note there */
	cr_assert_eq(ktbpf_err_class(unit_discover_fails(kit_mem(f.im), &h, &err)), KTBPF_ERR_INPUT,
		     "%s", err.msg);
	cr_assert_null(strstr(err.msg, "--"), "%s", err.msg);
	fix_free(&f);

	fix_build(&f, &no_btf, 64 << 20);
	cr_assert_eq(ktbpf_err_class(unit_discover_fails(kit_mem(f.im), NULL, &err)),
		     KTBPF_ERR_INPUT, "%s", err.msg);
	cr_assert_eq(err.need, KTBPF_NEED_BTF, "%s", err.msg);
	cr_assert_null(strstr(err.msg, "--"), "%s", err.msg);
	fix_free(&f);
}

Test(kernel, source_names)
{
	cr_assert_str_eq(ktbpf_source_name(KTBPF_SRC_GUEST_RAM), "guest-ram");
	cr_assert_str_eq(ktbpf_source_name(KTBPF_SRC_SYSTEM_MAP), "system-map");
	cr_assert_null(ktbpf_kernel_free(NULL));
}

/*
 * aarch64: TTBR1 (with an ASID) and TCR_EL1 from hints, the linear map from
 * VMCOREINFO's VA_BITS and PHYS_OFFSET, symbols from a System.map, BTF read
 * from RAM through a TTBR1 walk of the kernel image.
 */
Test(kernel, aarch64_ttbr1_tcr_hints_and_system_map)
{
	const uint64_t dram = 0x40000000, kimg = 0xffff800080000000ull;
	const uint64_t page_offset = 0xffff000000000000ull, img_pa = dram + 0x400000;
	struct ktbpf_kernel_hints h = {
		.arch = KTBPF_ARCH_AARCH64, .has_cr3 = true, .has_tcr_el1 = true};
	struct ktbpf_xlate *x;
	struct kit_btf_layout lay;
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	struct kit_image *im = kit_image_new(64 << 20);
	struct kit_pt *pt;
	struct btf *btf;
	const void *raw;
	char text[512], path[64];
	uint64_t unit[2];
	const struct ktbpf_cpu *cpus;
	uint32_t n, nr;
	FILE *fp;
	int fd;

	im->gpa_base = dram;
	pt = kit_pt_new_arm64(im, 4096, 16);
	im->next = 0x600000; /* the image occupies [0x400000, 0x600000) */
	kit_pt_map(pt, kimg, img_pa, 2 << 20, 2 << 20);
	kit_pt_map(pt, page_offset, dram, 64 << 20, 2 << 20);
	btf = kit_btf_kernel_new(KIT_BTF_V61, &lay);
	raw = kit_btf_raw(btf, &n);
	kit_wbytes(im, img_pa + 0x10000, raw, n);
	/*
	 * asm-generic per-CPU layout: __per_cpu_start in the image (kimg +
	 * 0x8000), templates above it, __per_cpu_offset[n] = unit - start.
	 */
	kit_w32(im, img_pa + 0x2000, 2);
	kit_w64(im, img_pa + 0x4000, 3); /* __cpu_possible_mask: CPUs 0 and 1 */
	for (int c = 0; c < 2; c++) {
		unit[c] = kit_alloc(im, 0x10000, 4096);
		kit_w64(im, unit[c] + 0x100, 0xa0 + (uint64_t)c);
		kit_w64(im, img_pa + 0x3000 + 8 * (uint64_t)c,
			page_offset + unit[c] - dram - (kimg + 0x8000));
	}
	strcpy(path, "/tmp/ktbpf-test-arm64map-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	fp = fdopen(fd, "w");
	fprintf(fp,
		"%016llx D prog_idr\n%016llx D nr_cpu_ids\n%016llx D __per_cpu_offset\n"
		"%016llx D __cpu_possible_mask\n%016llx D __per_cpu_start\n"
		"%016llx R __start_BTF\n%016llx R __stop_BTF\n",
		(unsigned long long)kimg + 0x1000, (unsigned long long)kimg + 0x2000,
		(unsigned long long)kimg + 0x3000, (unsigned long long)kimg + 0x4000,
		(unsigned long long)kimg + 0x8000, (unsigned long long)kimg + 0x10000,
		(unsigned long long)kimg + 0x10000 + n);
	fclose(fp);
	snprintf(text, sizeof(text),
		 "OSRELEASE=6.12.0-arm\nPAGESIZE=4096\nNUMBER(VA_BITS)=48\n"
		 "NUMBER(kimage_voffset)=0x%llx\nNUMBER(PHYS_OFFSET)=0x%llx\n"
		 "NUMBER(TCR_EL1_T1SZ)=0x10\nKERNELOFFSET=0\n",
		 (unsigned long long)(kimg - img_pa), (unsigned long long)dram);
	h.cr3 = kit_pt_root_pa(pt) | (5ull << 48); /* ASID bits are stripped */
	h.tcr_el1 = kit_pt_tcr(pt);
	h.vmcoreinfo_text = text;
	h.vmcoreinfo_len = strlen(text);
	h.system_map = kit_file(path);
	cr_assert_eq(ktbpf_kernel_discover(kit_mem(im), &h, &k, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_kernel_info(k)->arch, KTBPF_ARCH_AARCH64);
	cr_assert_eq(ktbpf_kernel_info(k)->page_offset, page_offset);
	cr_assert_eq(ktbpf_kernel_info(k)->prog_idr, kimg + 0x1000);
	cr_assert_eq(ktbpf_kernel_info(k)->btf_size, n);
	cr_assert_eq(ktbpf_kernel_info(k)->layout_source, KTBPF_SRC_HINT);
	cr_assert_eq(ktbpf_kernel_info(k)->percpu_scheme, KTBPF_PERCPU_RELATIVE);
	cpus = ktbpf_kernel_cpus(k, &nr);
	cr_assert_eq(nr, 2);
	x = ktbpf_kernel_xlate_new(k);
	for (uint32_t c = 0; c < nr; c++) {
		uint64_t v = 0;

		cr_assert_eq(cpus[c].cpu, c);
		cr_assert_eq(
			ktbpf_xlate_read_u64(x, kimg + 0x8000 + 0x100 + cpus[c].offset, &v, &err),
			0, "%s", err.msg);
		cr_assert_eq(v, 0xa0 + c);
	}
	ktbpf_xlate_free(x);
	ktbpf_kernel_free(k);
	unlink(path);
	btf__free(btf);
	kit_pt_free(pt);
	kit_image_free(im);
}

static void write_vmlinux(struct fix *f, char *path, unsigned int flags)
{
	int fd;

	strcpy(path, "/tmp/ktbpf-test-vmlinux-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	kit_kernel_write_vmlinux(f->kk, path, flags);
}

/* The vmlinux route reports exactly what zero-config does, from the file. */
Test(kernel, vmlinux_route_equals_zero_config)
{
	struct kit_kernel_opts o = {.slide = 0x5e00000, .page_offset = 0xffff9d0a80000000ull};
	struct ktbpf_kernel_hints h = {0};
	const struct ktbpf_kernel_info *a, *b;
	struct ktbpf_kernel *k0, *k1;
	char path[64];
	struct fix f;

	fix_build(&f, &o, 128 << 20);
	write_vmlinux(&f, path, KIT_VMLINUX_SYMTAB | KIT_VMLINUX_BTF);
	h.vmlinux = kit_file(path);
	k0 = discover_ok(&f, NULL);
	k1 = discover_ok(&f, &h);
	a = ktbpf_kernel_info(k0);
	b = ktbpf_kernel_info(k1);
	cr_assert_eq(b->symbols_source, KTBPF_SRC_VMLINUX);
	cr_assert_eq(b->btf_source, KTBPF_SRC_VMLINUX);
	cr_assert_eq(b->arch, a->arch);
	cr_assert_str_eq(b->release, a->release);
	cr_assert_str_eq(b->build_id, a->build_id);
	cr_assert_eq(b->kaslr_offset, a->kaslr_offset);
	cr_assert_eq(b->phys_base, a->phys_base);
	cr_assert_eq(b->page_offset, a->page_offset);
	cr_assert_eq(b->pgd_pa, a->pgd_pa);
	cr_assert_eq(b->l5, a->l5);
	cr_assert_eq(b->nr_cpu_ids, a->nr_cpu_ids);
	cr_assert_eq(b->vmcoreinfo_pa, a->vmcoreinfo_pa);
	cr_assert_eq(b->nr_symbols, a->nr_symbols);
	cr_assert_eq(b->btf_size, a->btf_size);
	cr_assert_eq(b->layout_source, a->layout_source);
	cr_assert_eq(b->prog_idr, a->prog_idr);
	cr_assert_eq(b->bpf_stats_enabled_key, a->bpf_stats_enabled_key);
	cr_assert_eq(b->per_cpu_offset, a->per_cpu_offset);
	assert_matches_kit(&f, k1);
	assert_percpu_reads(&f, k1);
	ktbpf_kernel_free(k0);
	ktbpf_kernel_free(k1);
	unlink(path);
	fix_free(&f);
}

/* No BTF in guest RAM: the vmlinux's .BTF is what makes discovery work. */
Test(kernel, vmlinux_btf_when_guest_has_none)
{
	struct kit_kernel_opts o = {.slide = 0x2200000, .no_btf = true, .nr_cpus = 5};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_kernel *k;
	char path[64];
	struct fix f;

	fix_build(&f, &o, 128 << 20);
	write_vmlinux(&f, path, KIT_VMLINUX_SYMTAB | KIT_VMLINUX_BTF);
	h.vmlinux = kit_file(path);
	k = discover_ok(&f, &h);
	assert_matches_kit(&f, k);
	assert_percpu_reads(&f, k);
	cr_assert_eq(ktbpf_kernel_info(k)->symbols_source, KTBPF_SRC_VMLINUX);
	cr_assert_eq(ktbpf_kernel_info(k)->btf_source, KTBPF_SRC_VMLINUX);
	ktbpf_kernel_free(k);
	unlink(path);
	fix_free(&f);
}

/* Debian's stripped image: .BTF but no .symtab; the System.map has the symbols. */
Test(kernel, stripped_vmlinux_with_system_map)
{
	struct kit_kernel_opts o = {.slide = 0x7000000, .no_btf = true, .no_kallsyms = true};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_err err = {0};
	struct ktbpf_kernel *k;
	char vmlinux[64], map[64];
	struct fix f;

	fix_build(&f, &o, 128 << 20);
	write_vmlinux(&f, vmlinux, KIT_VMLINUX_BTF);
	write_map(&f, map, true);
	h.vmlinux = kit_file(vmlinux);
	/* Alone, the stripped image says what it lacks. */
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "has no .symtab"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, vmlinux), "%s", err.msg);
	h.system_map = kit_file(map);
	k = discover_ok(&f, &h);
	assert_matches_kit(&f, k);
	assert_percpu_reads(&f, k);
	cr_assert_eq(ktbpf_kernel_info(k)->symbols_source, KTBPF_SRC_SYSTEM_MAP);
	cr_assert_eq(ktbpf_kernel_info(k)->btf_source, KTBPF_SRC_VMLINUX);
	ktbpf_kernel_free(k);
	unlink(vmlinux);
	unlink(map);
	fix_free(&f);
}

/* Neither the file nor the guest has BTF: the error names both and what to pass. */
Test(kernel, vmlinux_without_btf_and_none_in_ram)
{
	struct kit_kernel_opts o = {.slide = 0x2200000, .no_btf = true};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_err err = {0};
	char path[64];
	struct fix f;

	fix_build(&f, &o, 64 << 20);
	write_vmlinux(&f, path, KIT_VMLINUX_SYMTAB);
	h.vmlinux = kit_file(path);
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -ENOENT, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "no .BTF"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "__start_BTF"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "BTF file"), "%s", err.msg);
	cr_assert_eq(err.need, KTBPF_NEED_BTF, "%s", err.msg);
	unlink(path);
	fix_free(&f);
}

/*
 * A vmlinux from another build whose page-table root happens to sit at the
 * same link address: the other symbols VMCOREINFO lists (_stext) disagree.
 */
Test(kernel, vmlinux_from_another_build_rejected)
{
	struct kit_kernel_opts o = {.slide = 0x3c00000};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_err err = {0};
	char path[64];
	struct fix f;

	fix_build(&f, &o, 64 << 20);
	write_vmlinux(&f, path, KIT_VMLINUX_SYMTAB | KIT_VMLINUX_BTF | KIT_VMLINUX_OTHER_BUILD);
	h.vmlinux = kit_file(path);
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -EXDEV, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "does not match the guest kernel"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "_stext"), "%s", err.msg);
	unlink(path);
	fix_free(&f);
}

/*
 * No VMCOREINFO at all (a kernel without CONFIG_VMCORE_INFO): CR3, the slide
 * and 5-level paging come from hints, symbols and BTF from the vmlinux.
 */
Test(kernel, no_vmcoreinfo_cr3_l5_and_slide_hints)
{
	struct kit_kernel_opts o = {
		.l5 = true,
		.slide = 0x1c000000,
		.page_offset = 0xff5b000000000000ull,
		.no_vmcoreinfo = true,
		.no_kallsyms = true,
		.nr_cpus = 3,
	};
	struct ktbpf_kernel_hints h = {.has_cr3 = true, .has_kaslr_offset = true};
	const struct ktbpf_kernel_info *in;
	struct ktbpf_err err = {0};
	struct ktbpf_kernel *k;
	char path[64];
	uint64_t a;
	struct fix f;

	fix_build(&f, &o, 128 << 20);
	write_vmlinux(&f, path, KIT_VMLINUX_SYMTAB | KIT_VMLINUX_BTF);
	h.vmlinux = kit_file(path);
	h.cr3 = f.kk->pgd_pa | 0x5; /* PCID bits are stripped */
	h.kaslr_offset = o.slide;
	/* Nothing says the paging is 5-level: the error says which hint to pass. */
	cr_assert_lt(unit_discover_fails(kit_mem(f.im), &h, &err), 0);
	cr_assert_not_null(strstr(err.msg, "l5"), "%s", err.msg);
	h.has_l5 = true;
	h.l5 = true;
	k = discover_ok(&f, &h);
	in = ktbpf_kernel_info(k);
	cr_assert(in->l5);
	cr_assert_eq(in->layout_source, KTBPF_SRC_HINT);
	cr_assert_eq(in->pgd_pa, f.kk->pgd_pa);
	cr_assert_eq(in->kaslr_offset, o.slide);
	cr_assert_eq(in->page_offset, f.kk->page_offset);
	cr_assert_eq(in->vmcoreinfo_pa, 0);
	cr_assert_null(ktbpf_kernel_vmcoreinfo(k));
	cr_assert_eq(in->prog_idr, f.kk->prog_idr);
	cr_assert_eq(in->nr_cpu_ids, 3);
	cr_assert_eq(in->btf_size, f.btf_size);
	cr_assert_eq(ktbpf_kernel_symbol(k, "kit_percpu_stats", &a), 0);
	cr_assert_eq(a, f.stats_tmpl);
	assert_percpu_reads(&f, k);
	ktbpf_kernel_free(k);
	unlink(path);
	fix_free(&f);
}

/* The l5 hint fills a gap only: a VMCOREINFO that says 4-level wins over it. */
Test(kernel, l5_hint_loses_to_vmcoreinfo)
{
	struct kit_kernel_opts o = {.slide = 0x1000000};
	struct ktbpf_kernel_hints h = {.has_l5 = true, .l5 = true};
	struct ktbpf_kernel *k;
	struct fix f;

	fix_build(&f, &o, 64 << 20);
	k = discover_ok(&f, &h);
	cr_assert_not(ktbpf_kernel_info(k)->l5);
	assert_matches_kit(&f, k);
	ktbpf_kernel_free(k);
	fix_free(&f);
}

/*
 * init_top_pgt above the 1 GiB kernel-image window (__START_KERNEL_map +
 * KERNEL_IMAGE_SIZE) has no PA by the image shortcut: it must be refused
 * by name, not turned into a page-table root past the image.
 */
Test(kernel, init_top_pgt_above_image_window_rejected)
{
	struct kit_kernel_opts o = {.no_vmcoreinfo = true};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_err err = {0};
	struct fix f;
	char *text;

	fix_build(&f, &o, 64 << 20);
	cr_assert_geq(asprintf(&text, "%sSYMBOL(init_top_pgt)=%llx\n",
			       kit_kernel_vmcoreinfo_text(f.kk),
			       (unsigned long long)(KTBPF_X86_START_KERNEL_MAP +
						    KTBPF_X86_KERNEL_IMAGE_SIZE + 0x1000)),
		      0);
	h.vmcoreinfo_text = text;
	h.vmcoreinfo_len = strlen(text);
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -EINVAL, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "outside the kernel image"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "page-table root"), "%s", err.msg);
	cr_assert_eq(err.need, KTBPF_NEED_PGD, "%s", err.msg);
	free(text);
	fix_free(&f);
}

/* ---- files from another kernel are named as such (kernel-files.c) ---- */

static char *slurp_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	cr_assert_not_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = calloc(1, (size_t)n + 1);
	cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

/* raw BTF into a new temp file; path must hold 64 bytes. */
static void write_btf(char *path, const void *raw, uint32_t n)
{
	FILE *fp;
	int fd;

	strcpy(path, "/tmp/ktbpf-test-btf-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	fp = fdopen(fd, "w");
	cr_assert_eq(fwrite(raw, 1, n, fp), n);
	fclose(fp);
}

/* One -EXDEV line naming the file (path) and saying why (what). */
static void assert_mismatch(struct fix *f, const struct ktbpf_kernel_hints *h, const char *path,
			    const char *what)
{
	struct ktbpf_err err = {0};

	cr_assert_eq(unit_discover_fails(kit_mem(f->im), h, &err), -EXDEV, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, path), "file not named: %s", err.msg);
	cr_assert_not_null(strstr(err.msg, "does not match the guest kernel"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, what), "'%s' not in: %s", what, err.msg);
	cr_assert_null(strchr(err.msg, '\n'), "one line: %s", err.msg);
}

/* The case: another kernel's BTF for a guest with BTF of its own. */
Test(kernel, btf_file_of_another_kernel_named)
{
	struct kit_btf_layout lay;
	struct btf *other = kit_btf_kernel_new(KIT_BTF_V612_ANON, &lay);
	struct ktbpf_kernel_hints h = {0};
	const void *raw;
	char path[64];
	uint32_t n;
	struct fix f;

	fix_build(&f, NULL, 64 << 20);
	raw = kit_btf_raw(other, &n);
	cr_assert_neq(n, f.btf_size);
	write_btf(path, raw, n);
	h.btf = kit_file(path);
	assert_mismatch(&f, &h, path, "the guest's own (__start_BTF..__stop_BTF)");
	unlink(path);
	btf__free(other);
	fix_free(&f);
}

/* Same size, one type name changed: the first differing byte is named. */
Test(kernel, btf_file_differing_in_one_byte_named)
{
	struct ktbpf_kernel_hints h = {0};
	const void *src;
	uint8_t *raw;
	char path[64], want[64];
	uint32_t n;
	uint8_t *at;
	struct fix f;

	fix_build(&f, NULL, 64 << 20);
	src = kit_btf_raw(f.btf, &n);
	raw = malloc(n);
	memcpy(raw, src, n);
	at = memmem(raw, n, "tcp_congestion_ops", 18);
	cr_assert_not_null(at);
	at[0] = 'T';
	write_btf(path, raw, n);
	h.btf = kit_file(path);
	snprintf(want, sizeof(want), "from byte %ld of %u", (long)(at - raw), n);
	assert_mismatch(&f, &h, path, want);
	unlink(path);
	free(raw);
	fix_free(&f);
}

Test(kernel, btf_file_equal_to_the_guests_accepted)
{
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_kernel *k;
	char path[64];
	uint32_t n;
	struct fix f;

	const void *raw;

	fix_build(&f, NULL, 64 << 20);
	raw = kit_btf_raw(f.btf, &n);
	write_btf(path, raw, n);
	h.btf = kit_file(path);
	k = discover_ok(&f, &h);
	cr_assert_eq(ktbpf_kernel_info(k)->btf_source, KTBPF_SRC_BTF_FILE);
	assert_matches_kit(&f, k);
	ktbpf_kernel_free(k);
	unlink(path);
	fix_free(&f);
}

Test(kernel, vmlinux_build_id_of_another_kernel_named)
{
	struct kit_kernel_opts o = {.slide = 0x3c00000};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_kernel *k;
	char path[64];
	struct fix f;

	fix_build(&f, &o, 64 << 20);
	write_vmlinux(&f, path, KIT_VMLINUX_SYMTAB | KIT_VMLINUX_BTF | KIT_VMLINUX_BUILD_ID);
	h.vmlinux = kit_file(path);
	k = discover_ok(&f, &h);
	assert_matches_kit(&f, k);
	ktbpf_kernel_free(k);
	unlink(path);
	write_vmlinux(&f, path,
		      KIT_VMLINUX_SYMTAB | KIT_VMLINUX_BTF | KIT_VMLINUX_BUILD_ID |
			      KIT_VMLINUX_OTHER_BUILD);
	h.vmlinux = kit_file(path); /* a new file at the same path */
	assert_mismatch(&f, &h, path, "the guest's (VMCOREINFO BUILD-ID) 6b1d0e6c8e0f4a4c...");
	unlink(path);
	fix_free(&f);
}

/* Without a build ID, the release in the file's linux_banner against OSRELEASE. */
Test(kernel, vmlinux_release_of_another_kernel_named)
{
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_kernel *k;
	char path[64];
	struct fix f;

	fix_build(&f, NULL, 64 << 20);
	write_vmlinux(&f, path, KIT_VMLINUX_SYMTAB | KIT_VMLINUX_BANNER);
	h.vmlinux = kit_file(path);
	k = discover_ok(&f, &h);
	ktbpf_kernel_free(k);
	unlink(path);
	write_vmlinux(&f, path, KIT_VMLINUX_SYMTAB | KIT_VMLINUX_BANNER | KIT_VMLINUX_OTHER_BUILD);
	h.vmlinux = kit_file(path); /* a new file at the same path */
	assert_mismatch(&f, &h, path, "it is Linux 6.12.0-other, the guest runs 6.1.0-kit");
	unlink(path);
	fix_free(&f);
}

/* A vmlinux given as the BTF file: its build ID is checked too. */
Test(kernel, btf_from_vmlinux_of_another_kernel_named)
{
	struct ktbpf_kernel_hints h = {0};
	char path[64];
	struct fix f;

	fix_build(&f, NULL, 64 << 20);
	write_vmlinux(&f, path, KIT_VMLINUX_BTF | KIT_VMLINUX_BUILD_ID | KIT_VMLINUX_OTHER_BUILD);
	h.btf = kit_file(path);
	assert_mismatch(&f, &h, path, "BTF file");
	unlink(path);
	fix_free(&f);
}

/*
 * A System.map whose linux_banner is elsewhere than the guest's: the
 * symbols VMCOREINFO lists may agree, the banner in RAM does not.
 */
Test(kernel, system_map_banner_not_the_guests_named)
{
	struct kit_kernel_opts o = {.slide = 0x3c00000, .release = "6.1.0-kit"};
	struct ktbpf_kernel_hints h = {0};
	char path[64], line[64], *map, *at;
	uint64_t banner;
	FILE *fp;
	struct fix f;

	fix_build(&f, &o, 64 << 20);
	banner = kit_kernel_symbol(f.kk, "linux_banner");
	cr_assert_neq(banner, 0);
	write_map(&f, path, true);
	/* linux_banner moved 16 bytes on: it reads "1.0-kit (kit@kit) ...". */
	map = slurp_file(path);
	snprintf(line, sizeof(line), "%016llx R linux_banner\n",
		 (unsigned long long)(banner - o.slide));
	at = strstr(map, line);
	cr_assert_not_null(at, "%s", map);
	snprintf(line, sizeof(line), "%016llx", (unsigned long long)(banner - o.slide + 16));
	memcpy(at, line, 16);
	fp = fopen(path, "w");
	fputs(map, fp);
	fclose(fp);
	free(map);
	h.system_map = kit_file(path);
	assert_mismatch(&f, &h, path, "linux_banner at");
	unlink(path);
	fix_free(&f);
}

/* Bytes malloc has handed out and not had back (0 under sanitizers, which replace malloc). */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/*
 * A discovered kernel keeps what walks need, not its symbol table or its
 * BTF: a kit kernel the size of a real 6.1 one (4 MiB of BTF, 100000
 * symbols) holds under 64 KiB, and its walks still name every interface
 * and member (taken from the BTF at discovery). Its symbols are there only
 * on request.
 */
Test(kernel, discovered_kernel_keeps_no_symbol_table_or_btf, .timeout = 60)
{
	struct kit_guest_opts o = {.pad_btf_types = 60000, .pad_symbols = 100000};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_kernel_hints keep = {.keep_symbols = true};
	struct ktbpf_kernel *k = NULL, *kept = NULL;
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_err err = {0};
	size_t before, held;
	uint64_t a;
	uint32_t i;

	kit_guest_kernel(g); /* g->mem */
	before = heap_in_use();
	cr_assert_eq(ktbpf_kernel_discover(g->mem, NULL, &k, &err), 0, "%s", err.msg);
	held = heap_in_use() - before;
	cr_log_info("a discovered kernel holds %zu bytes (%zu KiB of BTF, %zu symbols)", held,
		    ktbpf_kernel_info(k)->btf_size / 1024, ktbpf_kernel_info(k)->nr_symbols);
	cr_assert_gt(ktbpf_kernel_info(k)->btf_size, 4u << 20);
	cr_assert_gt(ktbpf_kernel_info(k)->nr_symbols, 100000);
	cr_assert_lt(held, 64u << 10, "%zu bytes held", held);
	cr_assert_eq(ktbpf_kernel_symbol(k, "init_top_pgt", &a), -ENOENT);
	cr_assert_eq(ktbpf_kernel_info(k)->prog_idr, g->prog_idr);
	cr_assert_eq(ktbpf_progs_walk(k, s, &err), 0, "%s", err.msg);
	cr_assert_eq(s->nr_progs, g->nr_struct_ops);
	for (i = 0; i < s->nr_progs; i++) {
		const struct kit_guest_prog *t = kit_guest_prog(g, s->progs[i].id);

		cr_assert_str_eq(s->progs[i].iface, t->iface);
		cr_assert_str_eq(s->progs[i].member, t->member);
	}
	cr_assert_eq(ktbpf_kernel_discover(g->mem, &keep, &kept, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_kernel_symbol(kept, "init_top_pgt", &a), 0);
	cr_assert_eq(a, kit_kernel_symbol(g->kk, "init_top_pgt"));
	ktbpf_snapshot_free(s);
	ktbpf_kernel_free(kept);
	ktbpf_kernel_free(k);
	kit_guest_free(g);
}

/* The kit's note with one line replaced (key=value, the key must be there). */
static char *text_with(const char *t, const char *key, const char *line)
{
	const char *at = strstr(t, key), *end;
	char *out;

	cr_assert_not_null(at, "%s not in the note", key);
	end = strchr(at, '\n');
	cr_assert(asprintf(&out, "%.*s%s%s", (int)(at - t), t, line, end) > 0);
	return out;
}

static char *note_with(const struct fix *f, const char *key, const char *line)
{
	return text_with(kit_kernel_vmcoreinfo_text(f->kk), key, line);
}

/*
 * aarch64 with no hints at all: TTBR1 = swapper_pg_dir - kimage_voffset,
 * TCR_EL1 from PAGESIZE and TCR_EL1_T1SZ (DS for 52 bits), the linear map
 * from VA_BITS and PHYS_OFFSET; every possible CPU's per-CPU copy reads.
 */
Test(kernel, aarch64_zero_config_from_vmcoreinfo)
{
	const unsigned int t1sz[] = {16, 12};

	for (int i = 0; i < 2; i++) {
		struct kit_kernel_opts o = {.arch = KTBPF_ARCH_AARCH64,
					    .a64_t1sz = t1sz[i],
					    .a64_pac = i == 1,
					    .a64_phys_offset_below =
						    i == 0 ? 0xf100000000000ull : 0,
					    .slide = 0x21aa04c00000ull};
		const struct ktbpf_kernel_info *in;
		struct ktbpf_kernel *k;
		struct fix f;
		uint64_t a;

		fix_build(&f, &o, 64 << 20);
		k = discover_ok(&f, NULL);
		in = ktbpf_kernel_info(k);
		cr_assert_eq(in->arch, KTBPF_ARCH_AARCH64);
		cr_assert_eq(in->pgd_pa, f.kk->pgd_pa);
		cr_assert_eq(in->pgtable_levels, i == 0 ? 4u : 5u);
		cr_assert_eq(in->l5, i == 1);
		cr_assert_eq(in->layout_source, KTBPF_SRC_VMCOREINFO);
		cr_assert_eq(in->symbols_source, KTBPF_SRC_GUEST_RAM);
		cr_assert_eq(in->kaslr_offset, o.slide);
		cr_assert_eq(in->prog_idr, f.kk->prog_idr);
		cr_assert_eq(in->percpu_scheme, KTBPF_PERCPU_RELATIVE);
		cr_assert_eq(ktbpf_kernel_mmu(k)->kernel_pac_mask, i == 1 ? ~0ull << 52 : 0);
		cr_assert_eq(ktbpf_kernel_symbol(k, "swapper_pg_dir", &a), 0);
		cr_assert_eq(a, kit_kernel_symbol(f.kk, "swapper_pg_dir"));
		assert_percpu_reads(&f, k);
		ktbpf_kernel_free(k);
		fix_free(&f);
	}
}

/* Hints override the note: TTBR1 with an ASID, the same TCR_EL1. */
Test(kernel, aarch64_hints_override_vmcoreinfo)
{
	struct kit_kernel_opts o = {.arch = KTBPF_ARCH_AARCH64, .a64_t1sz = 12};
	struct ktbpf_kernel_hints h = {.has_cr3 = true, .has_tcr_el1 = true};
	struct ktbpf_kernel *k;
	struct fix f;

	fix_build(&f, &o, 64 << 20);
	h.cr3 = f.kk->pgd_pa | (7ull << 48);
	h.tcr_el1 = kit_pt_tcr(f.kk->pt);
	k = discover_ok(&f, &h);
	cr_assert_eq(ktbpf_kernel_info(k)->layout_source, KTBPF_SRC_HINT);
	cr_assert_eq(ktbpf_kernel_info(k)->pgtable_levels, 5);
	assert_percpu_reads(&f, k);
	ktbpf_kernel_free(k);
	fix_free(&f);
}

static void assert_one_line(const struct ktbpf_err *err, const char *names)
{
	cr_assert_not_null(strstr(err->msg, names), "%s", err->msg);
	cr_assert_null(strchr(err->msg, '\n'), "%s", err->msg);
	cr_assert_null(strstr(err->msg, "--"), "%s", err->msg);
}

/*
 * A wrong hint is one line naming it: a TTBR1 that is no table of the
 * kernel (a zero page, outside RAM), a T1SZ out of range, a T1SZ that
 * does not read the kernel's tables.
 */
Test(kernel, aarch64_wrong_hint_is_one_line_naming_it)
{
	struct kit_kernel_opts o = {.arch = KTBPF_ARCH_AARCH64};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_err err = {0};
	struct fix f;
	uint64_t zero;

	fix_build(&f, &o, 64 << 20);
	zero = kit_alloc_pages(f.im, 1);
	h.has_cr3 = true;
	h.cr3 = zero;
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -EINVAL, "%s", err.msg);
	assert_one_line(&err, "TTBR1_EL1 hint 0x");
	cr_assert(err.need & KTBPF_NEED_PGD);
	h.cr3 = 0x1000; /* below RAM */
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -EINVAL, "%s", err.msg);
	assert_one_line(&err, "TTBR1_EL1 hint 0x1000");
	h = (struct ktbpf_kernel_hints){.has_tcr_el1 = true};
	h.tcr_el1 = (2ull << 30) | (60ull << 16);
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -EINVAL, "%s", err.msg);
	assert_one_line(&err, "TCR_EL1 hint 0x");
	cr_assert_not_null(strstr(err.msg, "T1SZ 60"), "%s", err.msg);
	cr_assert(err.need & KTBPF_NEED_TCR_EL1);
	h.tcr_el1 = (2ull << 30) | (25ull << 16); /* a 39-bit VA: the tables do not read */
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -EINVAL, "%s", err.msg);
	assert_one_line(&err, "TCR_EL1 hint 0x");
	fix_free(&f);
}

/*
 * A note with numbers out of range (T1SZ, KERNELPACMASK, PAGESIZE), or whose
 * swapper_pg_dir does not map its _stext through kimage_voffset, is
 * refused with one line naming the number.
 */
Test(kernel, aarch64_note_out_of_range_refused)
{
	static const struct {
		const char *key, *line, *names;
	} bad[] = {
		{"NUMBER(TCR_EL1_T1SZ)=", "NUMBER(TCR_EL1_T1SZ)=0x3c", "TCR_EL1_T1SZ"},
		{"NUMBER(TCR_EL1_T1SZ)=", "NUMBER(TCR_EL1_T1SZ)=0x8", "TCR_EL1_T1SZ"},
		{"NUMBER(KERNELPACMASK)=", "NUMBER(KERNELPACMASK)=0xff00ff0000000000",
		 "KERNELPACMASK"},
		{"PAGESIZE=", "PAGESIZE=8192", "PAGESIZE"},
		/* 64K with VA_BITS 52 running 48-bit: TTBR1 offset past unused PGD entries */
		{"PAGESIZE=", "PAGESIZE=65536", "swapper_pg_dir"},
		{"NUMBER(TCR_EL1_T1SZ)=", "NUMBER(TCR_EL1_T1SZ)=0x19", "swapper_pg_dir"},
		{"NUMBER(kimage_voffset)=", "NUMBER(kimage_voffset)=0xffff7fff40000000",
		 "swapper_pg_dir"},
	};
	struct kit_kernel_opts o = {.arch = KTBPF_ARCH_AARCH64};
	struct fix f;

	fix_build(&f, &o, 64 << 20);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ktbpf_kernel_hints h = {0};
		struct ktbpf_err err = {0};
		char *t = note_with(&f, bad[i].key, bad[i].line);

		h.vmcoreinfo_text = t;
		h.vmcoreinfo_len = strlen(t);
		cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -EUCLEAN, "case %zu: %s",
			     i, err.msg);
		assert_one_line(&err, bad[i].names);
		free(t);
	}
	/* 64K granule, VA_BITS 52, a 39-bit T1SZ: no TTBR1 offset (fuzz: a negative shift) */
	{
		struct ktbpf_kernel_hints h = {0};
		struct ktbpf_err err = {0};
		char *t1 = note_with(&f, "PAGESIZE=", "PAGESIZE=65536");
		char *t = text_with(t1, "NUMBER(TCR_EL1_T1SZ)=", "NUMBER(TCR_EL1_T1SZ)=0x19");

		h.vmcoreinfo_text = t;
		h.vmcoreinfo_len = strlen(t);
		cr_assert_eq(unit_discover_fails(kit_mem(f.im), &h, &err), -EUCLEAN, "%s", err.msg);
		assert_one_line(&err, "swapper_pg_dir");
		free(t);
		free(t1);
	}
	fix_free(&f);
}

/*
 * kallsyms without data symbols (no CONFIG_KALLSYMS_ALL: Debian 12's arm64
 * 6.1) lack __start_BTF too: the error names that, not a missing BTF.
 */
Test(kernel, kallsyms_without_data_symbols_names_kallsyms_all)
{
	struct kit_kernel_opts o = {
		.arch = KTBPF_ARCH_AARCH64, .no_prog_idr = true, .no_btf = true};
	struct ktbpf_err err = {0};
	struct fix f;

	fix_build(&f, &o, 64 << 20);
	cr_assert_eq(unit_discover_fails(kit_mem(f.im), NULL, &err), -ENOENT, "%s", err.msg);
	assert_one_line(&err, "CONFIG_KALLSYMS_ALL");
	cr_assert_not_null(strstr(err.msg, "'prog_idr'"), "%s", err.msg);
	cr_assert_eq(err.need, KTBPF_NEED_SYMBOLS | KTBPF_NEED_BTF);
	fix_free(&f);
}

/* lib/siphash.c against the reference vectors (key 00..0f, message 00..n-1). */
Test(kernel, siphash24_gives_the_reference_vectors)
{
	uint8_t key[16], msg[15];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	cr_assert_eq(ktbpf_siphash24(key, msg, 0), 0x726fdb47dd0e0e31ull);
	cr_assert_eq(ktbpf_siphash24(key, msg, 8), 0x93f5f5799a932462ull);
	cr_assert_eq(ktbpf_siphash24(key, msg, 15), 0xa129ca6149be45e5ull);
	/* the process key is not the zero key, nor the reference one */
	cr_assert_neq(ktbpf_siphash_process(msg, 15), 0xa129ca6149be45e5ull);
	cr_assert_eq(ktbpf_siphash_process(msg, 15), ktbpf_siphash_process(msg, 15));
}
