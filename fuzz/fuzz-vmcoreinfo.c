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

static const char text_arm64[] = "OSRELEASE=6.12.0\n"
				 "PAGESIZE=16384\n"
				 "SYMBOL(swapper_pg_dir)=ffff800082a4c000\n"
				 "NUMBER(VA_BITS)=48\n"
				 "NUMBER(kimage_voffset)=0xffff7fff80000000\n"
				 "NUMBER(PHYS_OFFSET)=0x40000000\n"
				 "NUMBER(TCR_EL1_T1SZ)=16\n"
				 "KERNELOFFSET=0\n";

void fuzz_write_seeds(const char *dir)
{
	struct kit_image *im = kit_image_new(64 << 20);
	struct kit_kernel *kk = kit_kernel_new(im, NULL);
	const char *kt;
	uint8_t note[4096] = {0};
	uint32_t hdr[3] = {11, (uint32_t)strlen(kit_vmcoreinfo_debian61), 0};

	kit_kernel_finish(kk);
	kt = kit_kernel_vmcoreinfo_text(kk);
	fuzz_seed_write(dir, "kit-text", kt, strlen(kt));
	fuzz_seed_write(dir, "debian61-text", kit_vmcoreinfo_debian61,
			strlen(kit_vmcoreinfo_debian61));
	fuzz_seed_write(dir, "arm64-text", text_arm64, sizeof(text_arm64) - 1);
	/* A whole note as the raw image sees it. */
	memcpy(note, hdr, sizeof(hdr));
	memcpy(note + 12, "VMCOREINFO", 11);
	memcpy(note + 24, kit_vmcoreinfo_debian61, strlen(kit_vmcoreinfo_debian61));
	fuzz_seed_write(dir, "debian61-note", note, 24 + strlen(kit_vmcoreinfo_debian61));
	kit_kernel_free(kk);
	kit_image_free(im);
}
