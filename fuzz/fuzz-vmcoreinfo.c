/* SPDX-License-Identifier: MIT */
/*
 * VMCOREINFO over arbitrary bytes: ktbpf_vmcoreinfo_parse() of the input as
 * text, and ktbpf_vmcoreinfo_find() of the input as a small RAM image, both
 * raw (the input supplies the note header, its descsz and what follows) and
 * wrapped in a well-formed page-aligned note so the text reaches the parser
 * through the scan. Buffers are exactly the input's size so ASan sees any
 * read past them.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "kit-kernel.h"
#include "ktbpf/vmcoreinfo.h"

static struct ktbpf_vmcoreinfo vi;

static void get_keys(void)
{
	static const char *const keys[] = {"OSRELEASE", "SYMBOL(prog_idr)", "NUMBER(phys_base)", "",
					   "=",		"SYMBOL("};
	char small[4], big[128];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		ktbpf_vmcoreinfo_get(&vi, keys[i], small, sizeof(small));
		ktbpf_vmcoreinfo_get(&vi, keys[i], big, sizeof(big));
	}
}

/* The input as RAM at guest physical 0 (and, when it fits, one page up). */
static void find_raw(const uint8_t *data, size_t size)
{
	struct ktbpf_err err = {0};
	struct ktbpf_mem *mem = ktbpf_mem_new();
	uint8_t *buf = malloc(size);

	if (!mem || !buf)
		fuzz_die("out of memory", NULL);
	memcpy(buf, data, size);
	if (ktbpf_mem_add_buffer(mem, 0, size, buf, &err) == 0) {
		if (ktbpf_vmcoreinfo_find(mem, 0, &vi, &err) == 0)
			get_keys();
		/* A hint taken from the input: anywhere, page aligned or not. */
		if (size >= 8)
			ktbpf_vmcoreinfo_find(mem, fuzz_le64(data) % (size + 64), &vi, &err);
	}
	ktbpf_mem_free(mem);
	free(buf);
}

/* A valid note header (kernel/vmcore_info.c) + the input as text, at PA 4096. */
static void find_wrapped(const uint8_t *data, size_t size)
{
	struct ktbpf_err err = {0};
	struct ktbpf_mem *mem = ktbpf_mem_new();
	size_t n = size > KTBPF_VMCOREINFO_MAX ? KTBPF_VMCOREINFO_MAX : size;
	uint8_t *buf = malloc(24 + n);
	uint32_t hdr[3] = {11, (uint32_t)n, 0};

	if (!mem || !buf)
		fuzz_die("out of memory", NULL);
	memcpy(buf, hdr, sizeof(hdr));
	memcpy(buf + 12, "VMCOREINFO\0", 12);
	memcpy(buf + 24, data, n);
	if (ktbpf_mem_add_buffer(mem, 4096, 24 + n, buf, &err) == 0) {
		if (ktbpf_vmcoreinfo_find(mem, 0, &vi, &err) == 0)
			get_keys();
		ktbpf_vmcoreinfo_find(mem, 4096, &vi, &err);
	}
	ktbpf_mem_free(mem);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ktbpf_err err = {0};
	char *text = malloc(size ? size : 1);

	if (!text)
		fuzz_die("out of memory", NULL);
	memcpy(text, data, size);
	if (ktbpf_vmcoreinfo_parse(text, size, &vi, &err) == 0)
		get_keys();
	free(text);
	if (size)
		find_raw(data, size);
	find_wrapped(data, size);
	return 0;
}

static const char text61[] = "OSRELEASE=6.1.0-18-amd64\n"
			     "BUILD-ID=4f1a3c0b7e2d9a8f6e5d4c3b2a1908f7e6d5c4b3\n"
			     "PAGESIZE=4096\n"
			     "SYMBOL(init_uts_ns)=ffffffff87613440\n"
			     "OFFSET(uts_namespace.name)=0\n"
			     "SYMBOL(swapper_pg_dir)=ffffffff8720a000\n"
			     "SYMBOL(_stext)=ffffffff86200000\n"
			     "SYMBOL(kallsyms_names)=ffffffff86f0a1c8\n"
			     "SYMBOL(kallsyms_num_syms)=ffffffff86f0a1c0\n"
			     "SYMBOL(kallsyms_token_table)=ffffffff8715bd68\n"
			     "SYMBOL(kallsyms_token_index)=ffffffff8715c0f0\n"
			     "SYMBOL(kallsyms_offsets)=ffffffff86e7c8e0\n"
			     "SYMBOL(kallsyms_relative_base)=ffffffff86f0a1b8\n"
			     "NUMBER(phys_base)=-109051904\n"
			     "SYMBOL(init_top_pgt)=ffffffff8720a000\n"
			     "NUMBER(pgtable_l5_enabled)=0\n"
			     "KERNELOFFSET=5200000\n"
			     "NUMBER(KERNEL_IMAGE_SIZE)=1073741824\n";

static const char text_arm64[] = "OSRELEASE=6.12.0\n"
				 "PAGESIZE=16384\n"
				 "SYMBOL(swapper_pg_dir)=ffff800082a4c000\n"
				 "NUMBER(VA_BITS)=48\n"
				 "NUMBER(kimage_voffset)=0xffff7fff80000000\n"
				 "NUMBER(PHYS_OFFSET)=0x40000000\n"
				 "NUMBER(TCR_EL1_T1SZ)=16\n"
				 "KERNELOFFSET=0\n";

static void write_seeds(const char *dir)
{
	struct kit_image *im = kit_image_new(64 << 20);
	struct kit_kernel *kk = kit_kernel_new(im, NULL);
	const char *kt;
	uint8_t note[4096] = {0};
	uint32_t hdr[3] = {11, sizeof(text61) - 1, 0};

	kit_kernel_finish(kk);
	kt = kit_kernel_vmcoreinfo_text(kk);
	fuzz_seed_write(dir, "kit-text", kt, strlen(kt));
	fuzz_seed_write(dir, "debian61-text", text61, sizeof(text61) - 1);
	fuzz_seed_write(dir, "arm64-text", text_arm64, sizeof(text_arm64) - 1);
	/* A whole note as the raw image sees it. */
	memcpy(note, hdr, sizeof(hdr));
	memcpy(note + 12, "VMCOREINFO", 11);
	memcpy(note + 24, text61, sizeof(text61) - 1);
	fuzz_seed_write(dir, "debian61-note", note, 24 + sizeof(text61) - 1);
	kit_kernel_free(kk);
	kit_image_free(im);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = fuzz_seed_dir();

	if (dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}
