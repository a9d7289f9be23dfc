/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kit-kernel.h"
#include "ktbpf/kallsyms.h"

/* A kit kernel with a KASLR slide past its load address ("negative" phys_base). */
struct fix {
	struct kit_image *im;
	struct kit_kernel *kk;
	struct ktbpf_vmcoreinfo *vi;
	struct ktbpf_xlate *x;
	struct ktbpf_symtab *t;
	char long_name[201];
};

static void fix_build(struct fix *f, enum kit_kallsyms_enc enc, uint32_t extra)
{
	struct kit_kernel_opts o = {.slide = 0x6800000, .kallsyms_enc = enc};
	struct ktbpf_mmu mmu = {0};
	struct ktbpf_err err = {0};
	char name[64];
	uint64_t t;

	memset(f, 0, sizeof(*f));
	f->im = kit_image_new(64 << 20);
	f->kk = kit_kernel_new(f->im, &o);
	/* Data objects whose names use the multi-character tokens, and one past 128 tokens. */
	kit_kernel_add_symbol(f->kk, "prog_idr", 24, 8, NULL, NULL);
	kit_kernel_add_symbol(f->kk, "kit_counter", 8, 8, NULL, NULL);
	kit_kernel_add_symbol_type(f->kk, "init_per_cpu_offset_bpf_prog", 'b', 16, 8, NULL, NULL);
	kit_kernel_add_symbol(f->kk, "mem_section", 8, 8, NULL, NULL);
	memcpy(f->long_name, "kit_long_", 9);
	memset(f->long_name + 9, 'x', sizeof(f->long_name) - 10);
	kit_kernel_add_symbol_type(f->kk, f->long_name, 't', 8, 8, NULL, NULL);
	kit_kernel_percpu_alloc(f->kk, 64, &t);
	kit_kernel_add_symbol_at(f->kk, "runqueues", 'D', t);
	for (uint32_t i = 0; i < extra; i++) {
		snprintf(name, sizeof(name), "%s_%u", i % 3 ? "kit_fn" : "bpf_prog_helper", i);
		kit_kernel_add_symbol_at(f->kk, name, 'T', f->kk->text_kva + 0x10000 + 16ull * i);
	}
	kit_kernel_finish(f->kk);
	f->vi = calloc(1, sizeof(*f->vi));
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(f->im), 0, f->vi, &err), 0, "%s", err.msg);
	mmu.arch = KTBPF_ARCH_X86_64;
	mmu.pgd_pa = f->kk->pgd_pa;
	mmu.kimage_base = KTBPF_X86_START_KERNEL_MAP;
	mmu.kimage_size = KTBPF_X86_KERNEL_IMAGE_SIZE;
	mmu.phys_base = f->vi->phys_base;
	mmu.page_offset = f->kk->page_offset;
	f->x = ktbpf_xlate_new(kit_mem(f->im), &mmu);
	f->t = ktbpf_symtab_new();
	cr_assert(f->x && f->t);
}

static void fix_free(struct fix *f)
{
	ktbpf_symtab_free(f->t);
	ktbpf_xlate_free(f->x);
	free(f->vi);
	kit_kernel_free(f->kk);
	kit_image_free(f->im);
}

static int load(struct fix *f, struct ktbpf_kallsyms_stats *st, struct ktbpf_err *err)
{
	return ktbpf_kallsyms_load_stats(f->x, f->vi, f->t, st, err);
}

/* Every symbol the kit encoded is found at its address (first of duplicates). */
static void assert_all_match(struct fix *f)
{
	cr_assert_eq(ktbpf_symtab_finish(f->t), 0);
	for (size_t i = 0; i < f->kk->nr_syms; i++) {
		const struct kit_ksym *s = &f->kk->syms[i];
		uint64_t a = 0;

		if (kit_kallsyms_left_out(f->kk->opts.kallsyms_enc, s->kva)) {
			cr_assert_eq(ktbpf_symtab_lookup(f->t, s->name, &a), -ENOENT, "%s",
				     s->name);
			continue; /* not encodable, left out by the kit */
		}
		cr_assert_eq(ktbpf_symtab_lookup(f->t, s->name, &a), 0, "%s missing", s->name);
		cr_assert_eq(a, s->kva, "%s: 0x%llx != 0x%llx", s->name, (unsigned long long)a,
			     (unsigned long long)s->kva);
	}
}

Test(kallsyms, roundtrip_abs_percpu_every_symbol)
{
	struct ktbpf_kallsyms_stats st = {0};
	struct ktbpf_err err = {0};
	struct fix f;
	uint64_t a;

	fix_build(&f, KIT_KALLSYMS_ABS_PERCPU, 1000);
	cr_assert_eq(load(&f, &st, &err), (int)f.kk->kallsyms_num, "%s", err.msg);
	cr_assert_eq(st.enc, KTBPF_KALLSYMS_ABS_PERCPU);
	cr_assert(st.verified, "checked against VMCOREINFO _stext");
	cr_assert_eq(st.num_syms, f.kk->kallsyms_num);
	assert_all_match(&f);
	/* Zero-based per-CPU symbols decode to their absolute (small) values. */
	cr_assert_eq(ktbpf_symtab_lookup(f.t, "fixed_percpu_data", &a), 0);
	cr_assert_eq(a, 0);
	fix_free(&f);
}

Test(kallsyms, roundtrip_relative_and_absolute_cross_checked)
{
	enum kit_kallsyms_enc encs[] = {KIT_KALLSYMS_RELATIVE, KIT_KALLSYMS_ABSOLUTE};
	enum ktbpf_kallsyms_enc want[] = {KTBPF_KALLSYMS_RELATIVE, KTBPF_KALLSYMS_ABSOLUTE};

	for (int i = 0; i < 2; i++) {
		struct ktbpf_kallsyms_stats st = {0};
		struct ktbpf_err err = {0};
		struct fix f;

		fix_build(&f, encs[i], 300);
		cr_assert_eq(load(&f, &st, &err), (int)f.kk->kallsyms_num, "%s", err.msg);
		cr_assert_eq(st.enc, want[i], "%s", ktbpf_kallsyms_enc_name(st.enc));
		cr_assert(st.verified);
		cr_assert_geq(st.vmcoreinfo_agreed, 2, "_stext and init_top_pgt");
		assert_all_match(&f);
		fix_free(&f);
	}
}

Test(kallsyms, uleb_long_name_decodes)
{
	struct ktbpf_err err = {0};
	struct fix f;
	uint64_t a = 0;

	fix_build(&f, KIT_KALLSYMS_ABS_PERCPU, 0);
	cr_assert_gt(load(&f, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_symtab_finish(f.t), 0);
	cr_assert_eq(strlen(f.long_name), 200);
	cr_assert_eq(ktbpf_symtab_lookup(f.t, f.long_name, &a), 0);
	cr_assert_eq(a, kit_kernel_symbol(f.kk, f.long_name));
	/* Names after the long one are still in step. */
	cr_assert_eq(ktbpf_symtab_lookup(f.t, "nr_cpu_ids", &a), 0);
	cr_assert_eq(a, kit_kernel_symbol(f.kk, "nr_cpu_ids"));
	fix_free(&f);
}

Test(kallsyms, heuristic_without_stext_in_vmcoreinfo)
{
	struct ktbpf_kallsyms_stats st = {0};
	struct ktbpf_err err = {0};
	struct fix f;

	fix_build(&f, KIT_KALLSYMS_ABS_PERCPU, 10);
	f.vi->stext = 0;
	cr_assert_gt(load(&f, &st, &err), 0, "%s", err.msg);
	cr_assert_eq(st.enc, KTBPF_KALLSYMS_ABS_PERCPU, "negative offsets mean absolute per-CPU");
	cr_assert(!st.verified);
	assert_all_match(&f);
	fix_free(&f);
}

Test(kallsyms, stext_mismatch_is_euclean)
{
	struct ktbpf_err err = {0};
	struct fix f;

	fix_build(&f, KIT_KALLSYMS_ABS_PERCPU, 10);
	f.vi->stext += 0x200000;
	cr_assert_eq(load(&f, NULL, &err), -EUCLEAN);
	cr_assert_not_null(strstr(err.msg, "_stext"), "%s", err.msg);
	fix_free(&f);
}

Test(kallsyms, garbage_token_index_named)
{
	struct ktbpf_err err = {0};
	char run[2048];
	struct fix f;

	fix_build(&f, KIT_KALLSYMS_ABS_PERCPU, 10);
	/* Token 7 points 64 KiB in, at a run of bytes with no NUL. */
	memset(run, 'A', sizeof(run));
	kit_kernel_wkva(f.kk, f.kk->kallsyms_token_table + 0xfff0, run, sizeof(run));
	kit_kernel_wkva(f.kk, f.kk->kallsyms_token_index + 2 * 7, &(uint16_t){0xfff0}, 2);
	cr_assert_eq(load(&f, NULL, &err), -EUCLEAN);
	cr_assert_not_null(strstr(err.msg, "kallsyms_token_index[7]"), "%s", err.msg);
	fix_free(&f);
}

Test(kallsyms, absurd_num_syms_rejected)
{
	uint32_t bad[] = {0, 0xffffffffu, KTBPF_SYMTAB_MAX + 1};

	for (int i = 0; i < 3; i++) {
		struct ktbpf_err err = {0};
		struct fix f;

		fix_build(&f, KIT_KALLSYMS_ABS_PERCPU, 0);
		kit_kernel_w32(f.kk, f.kk->kallsyms_num_syms, bad[i]);
		cr_assert_eq(load(&f, NULL, &err), -EUCLEAN);
		cr_assert_not_null(strstr(err.msg, "kallsyms_num_syms"), "%s", err.msg);
		fix_free(&f);
	}
}

Test(kallsyms, num_syms_past_names_is_euclean_with_index)
{
	struct ktbpf_err err = {0};
	struct fix f;
	char want[32];

	fix_build(&f, KIT_KALLSYMS_ABS_PERCPU, 0);
	/* Decoding runs through markers and tokens into zeros: a zero length stops it. */
	kit_kernel_w32(f.kk, f.kk->kallsyms_num_syms, f.kk->kallsyms_num + 100000);
	cr_assert_eq(load(&f, NULL, &err), -EUCLEAN, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "symbol"), "%s", err.msg);
	snprintf(want, sizeof(want), "symbol %u", 0u);
	cr_assert_null(strstr(err.msg, want), "must not break at the first symbol: %s", err.msg);
	fix_free(&f);
}

Test(kallsyms, zero_length_first_symbol)
{
	struct ktbpf_err err = {0};
	struct fix f;

	fix_build(&f, KIT_KALLSYMS_ABS_PERCPU, 0);
	kit_kernel_wkva(f.kk, f.kk->kallsyms_names, &(uint8_t){0}, 1);
	cr_assert_eq(load(&f, NULL, &err), -EUCLEAN);
	cr_assert_not_null(strstr(err.msg, "symbol 0 has length 0"), "%s", err.msg);
	fix_free(&f);
}

Test(kallsyms, names_running_off_ram_fault)
{
	struct fix f;

	fix_build(&f, KIT_KALLSYMS_ABS_PERCPU, 0);
	/* Through the direct map: a 127-token name starting 3 bytes before the end of RAM. */
	{
		struct ktbpf_err err = {0};
		uint64_t pa = f.im->size - 3;
		int r;

		kit_w8(f.im, pa, 0x7f);
		f.vi->kallsyms_names = f.kk->page_offset + pa;
		r = load(&f, NULL, &err);
		cr_assert(r == -EFAULT || r == -ENOENT, "r=%d %s", r, err.msg);
		cr_assert_not_null(strstr(err.msg, "kallsyms_names"), "%s", err.msg);
	}
	/* Through the kernel-image window: translates to a PA beyond RAM. */
	{
		struct ktbpf_err err = {0};

		f.vi->kallsyms_names = KTBPF_X86_START_KERNEL_MAP + (1ull << 30) - 64;
		cr_assert_eq(load(&f, NULL, &err), -EFAULT, "%s", err.msg);
		cr_assert(err.has_addr);
	}
	fix_free(&f);
}

Test(kallsyms, missing_tables_enoent)
{
	struct ktbpf_err err = {0};
	struct fix f;

	fix_build(&f, KIT_KALLSYMS_ABS_PERCPU, 0);
	f.vi->kallsyms_names = 0;
	cr_assert_eq(load(&f, NULL, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "CONFIG_KALLSYMS"), "%s", err.msg);
	cr_assert_eq(ktbpf_symtab_count(f.t), 0, "nothing added on failure");
	fix_free(&f);
}

/* Set the value of "SYMBOL(name)=" in the parsed VMCOREINFO text (the line must exist). */
static void set_vmcoreinfo_symbol(struct ktbpf_vmcoreinfo *vi, const char *name, uint64_t v)
{
	char key[64], *p, *nl, rest[KTBPF_VMCOREINFO_MAX + 1];

	snprintf(key, sizeof(key), "SYMBOL(%s)=", name);
	p = strstr(vi->text, key);
	cr_assert_not_null(p, "%s not in VMCOREINFO", key);
	p += strlen(key);
	nl = strchr(p, '\n');
	snprintf(rest, sizeof(rest), "%s", nl ? nl : "");
	snprintf(p, sizeof(vi->text) - (size_t)(p - vi->text), "%llx%s", (unsigned long long)v,
		 rest);
	vi->text_len = strlen(vi->text);
}

static void append_vmcoreinfo(struct ktbpf_vmcoreinfo *vi, const char *line)
{
	size_t n = strlen(vi->text);

	snprintf(vi->text + n, sizeof(vi->text) - n, "%s", line);
	vi->text_len = strlen(vi->text);
}

Test(kallsyms, place_relative_roundtrip_proven_by_vmcoreinfo)
{
	struct ktbpf_kallsyms_stats st = {0};
	struct ktbpf_err err = {0};
	struct fix f;
	uint64_t a;

	fix_build(&f, KIT_KALLSYMS_PLACE_RELATIVE, 1000);
	cr_assert_eq(f.vi->kallsyms_relative_base, 0, "7.0+ VMCOREINFO lists no base");
	cr_assert_null(strstr(f.vi->text, "kallsyms_relative_base"));
	cr_assert_eq(load(&f, &st, &err), (int)f.kk->kallsyms_num, "%s", err.msg);
	cr_assert_eq(st.enc, KTBPF_KALLSYMS_PLACE_RELATIVE, "%s", ktbpf_kallsyms_enc_name(st.enc));
	cr_assert_str_eq(ktbpf_kallsyms_enc_name(st.enc), "place-relative");
	cr_assert(st.verified, "checked against VMCOREINFO _stext");
	/* _stext and init_top_pgt are both in kallsyms and VMCOREINFO. */
	cr_assert_geq(st.vmcoreinfo_agreed, 2);
	assert_all_match(&f);
	cr_assert_eq(ktbpf_symtab_lookup(f.t, "_stext", &a), 0);
	cr_assert_eq(a, f.vi->stext);
	fix_free(&f);
}

/* Without _stext in VMCOREINFO another listed symbol proves the decode. */
Test(kallsyms, place_relative_without_stext_proven_by_init_top_pgt)
{
	struct ktbpf_kallsyms_stats st = {0};
	struct ktbpf_err err = {0};
	struct fix f;

	fix_build(&f, KIT_KALLSYMS_PLACE_RELATIVE, 10);
	f.vi->stext = 0;
	memcpy(strstr(f.vi->text, "SYMBOL(_stext)"), "SYMBOX", 6);
	cr_assert_gt(load(&f, &st, &err), 0, "%s", err.msg);
	cr_assert_eq(st.enc, KTBPF_KALLSYMS_PLACE_RELATIVE);
	cr_assert(!st.verified);
	cr_assert_geq(st.vmcoreinfo_agreed, 1);
	assert_all_match(&f);
	fix_free(&f);
}

/* Nothing VMCOREINFO lists is in kallsyms: a place-relative decode cannot be proven. */
Test(kallsyms, place_relative_unprovable_is_eopnotsupp)
{
	struct ktbpf_err err = {0};
	struct fix f;
	char *p;

	fix_build(&f, KIT_KALLSYMS_PLACE_RELATIVE, 10);
	f.vi->stext = 0;
	while ((p = strstr(f.vi->text, "SYMBOL(")))
		memcpy(p, "SYMBOX", 6);
	cr_assert_eq(load(&f, NULL, &err), -EOPNOTSUPP, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "kallsyms_offsets without kallsyms_relative_base"), "%s",
			   err.msg);
	cr_assert_null(strchr(err.msg, '\n'), "one line");
	cr_assert_eq(ktbpf_symtab_count(f.t), 0, "no addresses on failure");
	fix_free(&f);
}

Test(kallsyms, place_relative_wrong_stext_is_unknown_layout)
{
	struct ktbpf_err err = {0};
	struct fix f;

	fix_build(&f, KIT_KALLSYMS_PLACE_RELATIVE, 10);
	f.vi->stext += 0x200000;
	cr_assert_eq(load(&f, NULL, &err), -EOPNOTSUPP, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "_stext"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "layout ktbpf does not know"), "%s", err.msg);
	cr_assert_eq(ktbpf_symtab_count(f.t), 0);
	fix_free(&f);
}

/*
 * Base-relative tables whose base VMCOREINFO does not list read as
 * place-relative and fail its proof (descending, or _stext elsewhere):
 * a layout ktbpf does not know, named, never wrong addresses.
 */
Test(kallsyms, offsets_without_base_not_place_relative_is_unknown_layout)
{
	enum kit_kallsyms_enc encs[] = {KIT_KALLSYMS_ABS_PERCPU, KIT_KALLSYMS_RELATIVE};

	for (int i = 0; i < 2; i++) {
		struct ktbpf_err err = {0};
		struct fix f;

		fix_build(&f, encs[i], 10);
		f.vi->kallsyms_relative_base = 0;
		cr_assert_eq(load(&f, NULL, &err), -EOPNOTSUPP, "enc %d: %s", i, err.msg);
		cr_assert_not_null(
			strstr(err.msg, "kallsyms_offsets without kallsyms_relative_base"), "%s",
			err.msg);
		cr_assert_not_null(strstr(err.msg, "layout ktbpf does not know"), "%s", err.msg);
		cr_assert_eq(ktbpf_symtab_count(f.t), 0);
		fix_free(&f);
	}
}

Test(kallsyms, place_relative_absurd_num_syms_rejected)
{
	uint32_t bad[] = {0, 0xffffffffu, KTBPF_SYMTAB_MAX + 1};

	for (int i = 0; i < 3; i++) {
		struct ktbpf_err err = {0};
		struct fix f;

		fix_build(&f, KIT_KALLSYMS_PLACE_RELATIVE, 0);
		kit_kernel_w32(f.kk, f.kk->kallsyms_num_syms, bad[i]);
		cr_assert_eq(load(&f, NULL, &err), -EUCLEAN);
		cr_assert_not_null(strstr(err.msg, "kallsyms_num_syms"), "%s", err.msg);
		fix_free(&f);
	}
}

Test(kallsyms, place_relative_table_outside_ram_faults)
{
	struct fix f;

	fix_build(&f, KIT_KALLSYMS_PLACE_RELATIVE, 0);
	/* In the kernel-image window, but past the end of RAM. */
	{
		struct ktbpf_err err = {0};

		f.vi->kallsyms_offsets = KTBPF_X86_START_KERNEL_MAP + (1ull << 30) - 64;
		cr_assert_eq(load(&f, NULL, &err), -EFAULT, "%s", err.msg);
		cr_assert(err.has_addr);
		cr_assert_not_null(strstr(err.msg, "kallsyms_offsets"), "%s", err.msg);
	}
	/* Entries that would wrap the address space. */
	{
		struct ktbpf_err err = {0};

		f.vi->kallsyms_offsets = UINT64_MAX - 8;
		cr_assert_eq(load(&f, NULL, &err), -EUCLEAN, "%s", err.msg);
		cr_assert_not_null(strstr(err.msg, "kallsyms_offsets"), "%s", err.msg);
	}
	cr_assert_eq(ktbpf_symtab_count(f.t), 0);
	fix_free(&f);
}

/* One entry sent 1 GiB away (out of RAM and out of order) is caught, not returned. */
Test(kallsyms, place_relative_entry_pointing_outside_ram_rejected)
{
	struct ktbpf_err err = {0};
	uint64_t kva;
	int32_t off;
	struct fix f;

	fix_build(&f, KIT_KALLSYMS_PLACE_RELATIVE, 10);
	kva = f.kk->kallsyms_offsets + 4ull * 3;
	memcpy(&off, kit_ptr(f.im, kit_kernel_kva_pa(f.kk, kva), 4), 4);
	off += 1 << 30;
	kit_kernel_wkva(f.kk, kva, &off, 4);
	cr_assert_eq(load(&f, NULL, &err), -EOPNOTSUPP, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "symbol 4 decodes"), "%s", err.msg);
	fix_free(&f);
}

/* Every SYMBOL() address VMCOREINFO lists must agree, in every layout. */
Test(kallsyms, vmcoreinfo_symbol_disagreeing_is_named)
{
	enum kit_kallsyms_enc encs[] = {KIT_KALLSYMS_ABS_PERCPU, KIT_KALLSYMS_RELATIVE,
					KIT_KALLSYMS_ABSOLUTE, KIT_KALLSYMS_PLACE_RELATIVE};

	for (int i = 0; i < 4; i++) {
		struct ktbpf_err err = {0};
		struct fix f;

		fix_build(&f, encs[i], 10);
		set_vmcoreinfo_symbol(f.vi, "init_top_pgt",
				      kit_kernel_symbol(f.kk, "init_top_pgt") + 0x1000);
		cr_assert_eq(load(&f, NULL, &err), -EUCLEAN, "enc %d: %s", i, err.msg);
		cr_assert_not_null(strstr(err.msg, "init_top_pgt"), "%s", err.msg);
		cr_assert_eq(ktbpf_symtab_count(f.t), 0);
		fix_free(&f);
	}
}

/* VMCOREINFO_SYMBOL_ARRAY(mem_section) is the pointer's value, not the symbol's address. */
Test(kallsyms, vmcoreinfo_pointer_values_not_compared)
{
	struct ktbpf_kallsyms_stats st = {0};
	struct ktbpf_err err = {0};
	struct fix f;
	char line[64];

	fix_build(&f, KIT_KALLSYMS_PLACE_RELATIVE, 10);
	cr_assert_neq(kit_kernel_symbol(f.kk, "mem_section"), 0);
	snprintf(line, sizeof(line), "SYMBOL(mem_section)=%llx\n",
		 (unsigned long long)f.kk->page_offset + 0x123000);
	append_vmcoreinfo(f.vi, line);
	cr_assert_gt(load(&f, &st, &err), 0, "%s", err.msg);
	fix_free(&f);
}

/* Size, not speed: timings live in bench/, never in asserts. */
Test(kallsyms, decodes_150k_symbols)
{
	struct ktbpf_err err = {0};
	struct timespec a, b;
	struct fix f;
	double ms;
	int r;

	fix_build(&f, KIT_KALLSYMS_ABS_PERCPU, 150000);
	clock_gettime(CLOCK_MONOTONIC, &a);
	r = load(&f, NULL, &err);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_eq(r, (int)f.kk->kallsyms_num, "%s", err.msg);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	cr_log_info("150k symbols decoded in %.1f ms", ms);
	assert_all_match(&f);
	fix_free(&f);
}
