/* SPDX-License-Identifier: MIT */
/*
 * kallsyms decoding over hostile tables: four kit kernels (one per address
 * encoding: base-relative with absolute per-CPU, base-relative, absolute,
 * place-relative as 7.0+ writes it, whose VMCOREINFO lists no
 * kallsyms_relative_base) are built once; for each input, byte 0 picks the kernel (and
 * whether VMCOREINFO lists _stext; with bit 6 set, bytes 1..9 move one of
 * the table addresses VMCOREINFO lists: byte 1 picks it, bytes 2..9 are XORed
 * in), and the rest of the input overwrites the
 * kernel's kallsyms tables in guest RAM from their start (offsets/addresses,
 * relative_base, num_syms, names, markers, token_table, token_index: the
 * .rodata order of scripts/kallsyms.c). ktbpf_kallsyms_load_stats() then
 * decodes through the page tables; the tables are restored afterwards. A
 * place-relative decode that succeeds must have been proven by VMCOREINFO.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "kit-kernel.h"
#include "ktbpf/kallsyms.h"

#define NR_KERNELS 4

struct kern {
	struct kit_image *im;
	struct kit_kernel *kk;
	struct ktbpf_vmcoreinfo vi;
	struct ktbpf_xlate *x;
	uint8_t *blob, *saved; /* tables in guest RAM, and their pristine copy */
	size_t blob_len;
};

static struct kern kerns[NR_KERNELS];

static uint64_t min_nz(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

static void build(struct kern *k, enum kit_kallsyms_enc enc)
{
	struct kit_kernel_opts o = {.slide = 0x6800000, .kallsyms_enc = enc};
	struct ktbpf_err err = {0};
	struct ktbpf_mmu mmu = {0};
	char long_name[160];
	uint64_t t, start, end, pa;

	k->im = kit_image_new(64 << 20);
	k->kk = kit_kernel_new(k->im, &o);
	kit_kernel_add_symbol(k->kk, "prog_idr", 24, 8, NULL, NULL);
	kit_kernel_add_symbol_type(k->kk, "init_per_cpu_offset_bpf_prog", 'b', 16, 8, NULL, NULL);
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	kit_kernel_add_symbol_type(k->kk, long_name, 't', 8, 8, NULL, NULL); /* ULEB length */
	kit_kernel_percpu_alloc(k->kk, 64, &t);
	kit_kernel_add_symbol_at(k->kk, "runqueues", 'D', t);
	kit_kernel_finish(k->kk);
	if (ktbpf_vmcoreinfo_find(kit_mem(k->im), 0, &k->vi, &err) < 0)
		fuzz_die("kit VMCOREINFO not found", err.msg);
	mmu.arch = KTBPF_ARCH_X86_64;
	mmu.pgd_pa = k->kk->pgd_pa;
	mmu.kimage_base = KTBPF_X86_START_KERNEL_MAP;
	mmu.kimage_size = KTBPF_X86_KERNEL_IMAGE_SIZE;
	mmu.phys_base = k->vi.phys_base;
	mmu.page_offset = k->kk->page_offset;
	k->x = ktbpf_xlate_new(kit_mem(k->im), &mmu);
	if (!k->x)
		fuzz_die("out of memory", NULL);
	/* The image is physically contiguous: one host range covers every table. */
	start = min_nz(min_nz(k->kk->kallsyms_offsets, k->kk->kallsyms_addresses),
		       k->kk->kallsyms_relative_base);
	start = min_nz(start, k->kk->kallsyms_num_syms);
	end = k->kk->kallsyms_token_index + 512;
	pa = kit_kernel_kva_pa(k->kk, start);
	k->blob_len = end - start;
	k->blob = kit_ptr(k->im, pa, k->blob_len);
	k->saved = malloc(k->blob_len);
	if (!k->saved)
		fuzz_die("out of memory", NULL);
	memcpy(k->saved, k->blob, k->blob_len);
}

void fuzz_setup(void)
{
	static const enum kit_kallsyms_enc encs[NR_KERNELS] = {
		KIT_KALLSYMS_ABS_PERCPU, KIT_KALLSYMS_RELATIVE, KIT_KALLSYMS_ABSOLUTE,
		KIT_KALLSYMS_PLACE_RELATIVE};

	for (int i = 0; i < NR_KERNELS; i++)
		build(&kerns[i], encs[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ktbpf_kallsyms_stats st;
	struct ktbpf_vmcoreinfo *vi;
	struct ktbpf_err err = {0};
	struct ktbpf_symtab *t;
	struct kern *k;
	size_t n;
	uint64_t a;
	int r;

	if (size < 1)
		return 0;
	k = &kerns[data[0] % NR_KERNELS];
	vi = &k->vi;
	if (data[0] & 0xc0) {
		static struct ktbpf_vmcoreinfo mod;

		mod = k->vi;
		if (data[0] & 0x80)
			mod.stext = 0;
		if ((data[0] & 0x40) && size >= 10) {
			uint64_t *f[] = {&mod.kallsyms_names,	    &mod.kallsyms_num_syms,
					 &mod.kallsyms_token_table, &mod.kallsyms_token_index,
					 &mod.kallsyms_offsets,	    &mod.kallsyms_relative_base,
					 &mod.kallsyms_addresses,   &mod.stext};

			*f[data[1] % (sizeof(f) / sizeof(f[0]))] ^= fuzz_le64(data + 2);
			data += 9;
			size -= 9;
		}
		vi = &mod;
	}
	n = size - 1 < k->blob_len ? size - 1 : k->blob_len;
	memcpy(k->blob, data + 1, n);
	t = ktbpf_symtab_new();
	if (!t)
		fuzz_die("out of memory", NULL);
	r = ktbpf_kallsyms_load_stats(k->x, vi, t, &st, &err);
	if (r >= 0 && ktbpf_symtab_finish(t) == 0)
		ktbpf_symtab_lookup(t, "prog_idr", &a);
	if (r >= 0 && (uint32_t)r != st.num_syms)
		fuzz_die("kallsyms returned a count other than num_syms", NULL);
	if (r >= 0 && st.enc == KTBPF_KALLSYMS_PLACE_RELATIVE && !st.verified &&
	    !st.vmcoreinfo_agreed)
		fuzz_die("place-relative addresses returned without a proof", NULL);
	ktbpf_symtab_free(t);
	memcpy(k->blob, k->saved, n);
	return 0;
}

void fuzz_write_seeds(const char *dir)
{
	static const char *const enc_names[NR_KERNELS] = {"abs-percpu", "relative", "absolute",
							  "place-relative"};
	char name[48];

	for (int i = 0; i < NR_KERNELS; i++) {
		uint8_t *s = malloc(kerns[i].blob_len + 1);

		if (!s)
			fuzz_die("out of memory", NULL);
		s[0] = (uint8_t)i;
		memcpy(s + 1, kerns[i].saved, kerns[i].blob_len);
		snprintf(name, sizeof(name), "kit-%s", enc_names[i]);
		fuzz_seed_write(dir, name, s, kerns[i].blob_len + 1);
		s[0] |= 0x80;
		snprintf(name, sizeof(name), "kit-%s-nostext", enc_names[i]);
		fuzz_seed_write(dir, name, s, kerns[i].blob_len + 1);
		free(s);
	}
}
