/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kit.h"
#include "kit-kernel.h"
#include "ktbpf/vmcoreinfo.h"

static struct ktbpf_vmcoreinfo *vi_new(void)
{
	struct ktbpf_vmcoreinfo *vi = calloc(1, sizeof(*vi));

	cr_assert_not_null(vi);
	return vi;
}

Test(vmcoreinfo, parse_real_61_text_all_fields)
{
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_err err = {0};
	char buf[64];

	cr_assert_eq(ktbpf_vmcoreinfo_parse(kit_vmcoreinfo_debian61,
					    strlen(kit_vmcoreinfo_debian61), vi, &err),
		     0, "%s", err.msg);
	cr_assert_str_eq(vi->osrelease, "6.1.0-18-amd64");
	cr_assert_str_eq(vi->build_id, "4f1a3c0b7e2d9a8f6e5d4c3b2a1908f7e6d5c4b3");
	cr_assert_eq(vi->page_size, 4096);
	cr_assert(vi->has_phys_base);
	cr_assert_eq(vi->phys_base, (uint64_t)-109051904);
	cr_assert(vi->has_kerneloffset);
	cr_assert_eq(vi->kerneloffset, 0x5200000);
	cr_assert_eq(vi->pgtable_l5, 0);
	cr_assert_eq(vi->init_top_pgt, 0xffffffff8720a000ull);
	cr_assert_eq(vi->stext, 0xffffffff86200000ull);
	cr_assert_eq(vi->kallsyms_names, 0xffffffff86f0a1c8ull);
	cr_assert_eq(vi->kallsyms_num_syms, 0xffffffff86f0a1c0ull);
	cr_assert_eq(vi->kallsyms_token_table, 0xffffffff8715bd68ull);
	cr_assert_eq(vi->kallsyms_token_index, 0xffffffff8715c0f0ull);
	cr_assert_eq(vi->kallsyms_offsets, 0xffffffff86e7c8e0ull);
	cr_assert_eq(vi->kallsyms_relative_base, 0xffffffff86f0a1b8ull);
	cr_assert_eq(vi->kallsyms_addresses, 0);
	cr_assert_eq(vi->note_pa, 0);
	cr_assert_eq(vi->text_len, strlen(kit_vmcoreinfo_debian61));
	cr_assert_eq(ktbpf_vmcoreinfo_get(vi, "SYMBOL(node_data)", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "ffffffff87709000");
	cr_assert_eq(ktbpf_vmcoreinfo_get(vi, "SYMBOL(prog_idr)", buf, sizeof(buf)), -ENOENT);
	cr_assert_eq(ktbpf_vmcoreinfo_get(vi, "OSRELEASE", buf, 4), -ERANGE);
	free(vi);
}

Test(vmcoreinfo, parse_swapper_pg_dir_when_no_init_top_pgt)
{
	static const char t[] = "OSRELEASE=6.12.0\nSYMBOL(swapper_pg_dir)=ffff800082a4c000\n"
				"NUMBER(VA_BITS)=48\nNUMBER(kimage_voffset)=0xffff7fffc0000000\n"
				"NUMBER(TCR_EL1_T1SZ)=0x10\nKERNELOFFSET=0\n";
	struct ktbpf_vmcoreinfo *vi = vi_new();

	cr_assert_eq(ktbpf_vmcoreinfo_parse(t, sizeof(t) - 1, vi, NULL), 0);
	cr_assert_eq(vi->init_top_pgt, 0xffff800082a4c000ull);
	cr_assert_eq(vi->va_bits, 48);
	cr_assert_eq(vi->kimage_voffset, 0xffff7fffc0000000ull);
	cr_assert_eq(vi->tcr_el1_t1sz, 16);
	cr_assert_eq(vi->pgtable_l5, -1, "absent stays -1");
	cr_assert(!vi->has_phys_base);
	free(vi);
}

Test(vmcoreinfo, parse_stops_at_nul_padding)
{
	char t[256] = "OSRELEASE=6.1.0\nPAGESIZE=4096\n";
	struct ktbpf_vmcoreinfo *vi = vi_new();

	memcpy(t + 40, "garbage without equals\n", 23); /* after the NUL: ignored */
	cr_assert_eq(ktbpf_vmcoreinfo_parse(t, sizeof(t), vi, NULL), 0);
	cr_assert_eq(vi->text_len, strlen(t));
	free(vi);
}

Test(vmcoreinfo, parse_malformed_line_named)
{
	static const char t[] = "OSRELEASE=6.1.0\nPAGESIZE=4096\nthis line has no equals\n";
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_vmcoreinfo_parse(t, sizeof(t) - 1, vi, &err), -EINVAL);
	cr_assert_not_null(strstr(err.msg, "line 3"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "no equals"), "%s", err.msg);
	free(vi);
}

Test(vmcoreinfo, parse_bad_numbers_rejected)
{
	static const char *const bad[] = {
		"OSRELEASE=6.1\nKERNELOFFSET=zz\n",
		"OSRELEASE=6.1\nNUMBER(phys_base)=12a\n",
		"OSRELEASE=6.1\nNUMBER(phys_base)=-\n",
		"OSRELEASE=6.1\nSYMBOL(init_top_pgt)=1ffffffffffffffff\n", /* overflows u64 */
		"OSRELEASE=6.1\nNUMBER(pgtable_l5_enabled)=7\n",
		"OSRELEASE=6.1\nPAGESIZE=0\n",
	};
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(ktbpf_vmcoreinfo_parse(bad[i], strlen(bad[i]), vi, &err), -EINVAL,
			     "case %zu", i);
	free(vi);
}

Test(vmcoreinfo, parse_without_osrelease_is_enoent)
{
	static const char t[] = "PAGESIZE=4096\nKERNELOFFSET=0\n";
	struct ktbpf_vmcoreinfo *vi = vi_new();

	cr_assert_eq(ktbpf_vmcoreinfo_parse(t, sizeof(t) - 1, vi, NULL), -ENOENT);
	free(vi);
}

Test(vmcoreinfo, parse_too_long_rejected)
{
	size_t n = KTBPF_VMCOREINFO_MAX + 100;
	char *t = malloc(n);
	struct ktbpf_vmcoreinfo *vi = vi_new();

	memset(t, 'A', n);
	memcpy(t, "OSRELEASE=x\nX=", 14);
	cr_assert_eq(ktbpf_vmcoreinfo_parse(t, n, vi, NULL), -EINVAL);
	free(t);
	free(vi);
}

Test(vmcoreinfo, find_at_hint_note_and_bare_text)
{
	struct kit_image *im = kit_image_new(4 << 20);
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_err err = {0};

	kit_vmcoreinfo_note(im, 0x200000, kit_vmcoreinfo_debian61, strlen(kit_vmcoreinfo_debian61));
	kit_wbytes(im, 0x300000, kit_vmcoreinfo_debian61, strlen(kit_vmcoreinfo_debian61));
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0x200000, vi, &err), 0, "%s", err.msg);
	cr_assert_eq(vi->note_pa, 0x200000);
	cr_assert_eq(vi->phys_base, (uint64_t)-109051904);
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0x300000, vi, &err), 0, "%s", err.msg);
	cr_assert_eq(vi->kerneloffset, 0x5200000);
	/* A hint at nothing says so, with the address. */
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0x100000, vi, &err), -ENOENT);
	cr_assert(err.has_addr);
	cr_assert_eq(err.addr, 0x100000);
	/* A hint outside RAM faults. */
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 1ull << 40, vi, &err), -EFAULT);
	free(vi);
	kit_image_free(im);
}

/*
 * The daemon's per-snapshot check: the note found is still there byte for
 * byte; another text, a garbage header or a hole is -ESTALE, RAM that went
 * away -EFAULT, never a read past the note.
 */
Test(vmcoreinfo, unchanged_until_the_note_is_rewritten_or_gone)
{
	struct kit_image *im = kit_image_new(4 << 20);
	struct ktbpf_vmcoreinfo *vi = vi_new(), *from_text = vi_new();
	const char *t = kit_vmcoreinfo_debian61;
	struct ktbpf_err err = {0};
	char *other = strdup(t);

	kit_vmcoreinfo_note(im, 0x200000, t, (uint32_t)strlen(t));
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0x200000, vi, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_vmcoreinfo_unchanged(kit_mem(im), vi, &err), 0, "%s", err.msg);
	/* The same text with NUL padding after it (descsz larger) is still the note. */
	kit_vmcoreinfo_note(im, 0x200000, t, (uint32_t)strlen(t) + 8);
	cr_assert_eq(ktbpf_vmcoreinfo_unchanged(kit_mem(im), vi, &err), 0, "%s", err.msg);
	/* Another kernel's note in its place: one byte of KERNELOFFSET differs. */
	other[strstr(other, "KERNELOFFSET=") - other + 13] ^= 1;
	kit_vmcoreinfo_note(im, 0x200000, other, (uint32_t)strlen(other));
	cr_assert_eq(ktbpf_vmcoreinfo_unchanged(kit_mem(im), vi, &err), -ESTALE);
	cr_assert(strstr(err.msg, "changed"), "%s", err.msg);
	/* CRASHTIME appended (a longer text): changed too. */
	kit_vmcoreinfo_note(im, 0x200000, t, (uint32_t)strlen(t));
	kit_wbytes(im, 0x200000 + 24 + strlen(t), "CRASHTIME=1\n", 12);
	kit_w32(im, 0x200000 + 4, (uint32_t)strlen(t) + 12);
	cr_assert_eq(ktbpf_vmcoreinfo_unchanged(kit_mem(im), vi, &err), -ESTALE);
	/* A garbage text size (past 4 KiB) is not read: the note is gone. */
	kit_w32(im, 0x200000 + 4, 0x7fffffff);
	cr_assert_eq(ktbpf_vmcoreinfo_unchanged(kit_mem(im), vi, &err), -ESTALE);
	cr_assert(strstr(err.msg, "gone"), "%s", err.msg);
	/* Zeros where it was. */
	kit_wbytes(im, 0x200000, (const char[64]){0}, 64);
	cr_assert_eq(ktbpf_vmcoreinfo_unchanged(kit_mem(im), vi, &err), -ESTALE);
	/* Bare text at a hint (QEMU's device may point there): the text itself is compared. */
	kit_wbytes(im, 0x300000, t, strlen(t));
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0x300000, vi, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_vmcoreinfo_unchanged(kit_mem(im), vi, &err), 0, "%s", err.msg);
	kit_wbytes(im, 0x300000 + 20, "x", 1);
	cr_assert_eq(ktbpf_vmcoreinfo_unchanged(kit_mem(im), vi, &err), -ESTALE);
	/* Outside RAM: a fault, with the address. */
	vi->note_pa = 1ull << 40;
	cr_assert_eq(ktbpf_vmcoreinfo_unchanged(kit_mem(im), vi, &err), -EFAULT);
	/* Parsed from text: nothing in RAM to compare. */
	cr_assert_eq(ktbpf_vmcoreinfo_parse(t, strlen(t), from_text, &err), 0);
	cr_assert_eq(ktbpf_vmcoreinfo_unchanged(kit_mem(im), from_text, &err), -EINVAL);
	free(other);
	free(from_text);
	free(vi);
	kit_image_free(im);
}

/* A note header with a garbage text size at the hint is named as such, not "no note". */
Test(vmcoreinfo, find_at_hint_garbage_descsz_named)
{
	struct kit_image *im = kit_image_new(4 << 20);
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_err err = {0};

	kit_vmcoreinfo_note(im, 0x200000, kit_vmcoreinfo_debian61, 0xfffffff0u);
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0x200000, vi, &err), -EUCLEAN, "%s",
		     err.msg);
	cr_assert(err.has_addr);
	cr_assert_eq(err.addr, 0x200000);
	cr_assert_not_null(strstr(err.msg, "size of 4294967280 bytes"), "%s", err.msg);
	free(vi);
	kit_image_free(im);
}

/* Bare text ending at the end of RAM: all of it is read, not a power-of-two prefix. */
Test(vmcoreinfo, find_at_hint_bare_text_at_end_of_ram_whole)
{
	static const char tiny[] = "OSRELEASE=6.1\nKERNELOFFSET=1234567\n";
	struct kit_image *im = kit_image_new(4 << 20);
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_err err = {0};
	uint64_t pa = (4 << 20) - (strlen(kit_vmcoreinfo_debian61));
	char v[32];

	kit_wbytes(im, pa, kit_vmcoreinfo_debian61, strlen(kit_vmcoreinfo_debian61));
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), pa, vi, &err), 0, "%s", err.msg);
	cr_assert_eq(vi->text_len, strlen(kit_vmcoreinfo_debian61));
	cr_assert_eq(vi->kerneloffset, 0x5200000);
	cr_assert_eq(ktbpf_vmcoreinfo_get(vi, "NUMBER(sme_mask)", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "0");
	/* Shorter than any power-of-two read above the header: still read in full. */
	pa = (4 << 20) - (sizeof(tiny) - 1);
	kit_wbytes(im, pa, tiny, sizeof(tiny) - 1);
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), pa, vi, &err), 0, "%s", err.msg);
	cr_assert_str_eq(vi->osrelease, "6.1");
	cr_assert_eq(vi->kerneloffset, 0x1234567);
	cr_assert_eq(vi->text_len, sizeof(tiny) - 1);
	free(vi);
	kit_image_free(im);
}

Test(vmcoreinfo, scan_finds_note_near_top_of_256m)
{
	uint64_t size = 256ull << 20, pa = size - 3 * 4096;
	struct kit_image *im = kit_image_new(size);
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_err err = {0};

	/* Decoys: a note off a page boundary, and the bare text page (no header). */
	kit_vmcoreinfo_note(im, 0x100010, kit_vmcoreinfo_debian61, strlen(kit_vmcoreinfo_debian61));
	kit_wbytes(im, 0x400000, kit_vmcoreinfo_debian61, strlen(kit_vmcoreinfo_debian61));
	kit_vmcoreinfo_note(im, pa, kit_vmcoreinfo_debian61, strlen(kit_vmcoreinfo_debian61));
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0, vi, &err), 0, "%s", err.msg);
	cr_assert_eq(vi->note_pa, pa);
	cr_assert_str_eq(vi->osrelease, "6.1.0-18-amd64");
	free(vi);
	kit_image_free(im);
}

Test(vmcoreinfo, scan_through_pread_region)
{
	uint64_t size = 8ull << 20, pa = 0x5ff000;
	struct kit_image *im = kit_image_new(size);
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	int fd;

	kit_vmcoreinfo_note(im, pa, kit_vmcoreinfo_debian61, strlen(kit_vmcoreinfo_debian61));
	fd = memfd_create("unsealed", MFD_CLOEXEC);
	cr_assert_eq(write(fd, im->buf, size), (ssize_t)size);
	/* Unsealed and not assumed stable: no direct pointer, the scan copies chunks. */
	cr_assert_eq(ktbpf_mem_add_fd(m, 0x100000000ull, size, fd, 0, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_vmcoreinfo_find(m, 0, vi, &err), 0, "%s", err.msg);
	cr_assert_eq(vi->note_pa, 0x100000000ull + pa);
	ktbpf_mem_free(m);
	close(fd);
	free(vi);
	kit_image_free(im);
}

Test(vmcoreinfo, scan_absent_says_what_to_do)
{
	struct kit_image *im = kit_image_new(16 << 20);
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0, vi, &err), -EINPROGRESS);
	cr_assert_eq(ktbpf_err_class(err.code), KTBPF_ERR_NOT_READY);
	cr_assert_not_null(strstr(err.msg, "16 MiB"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "booted far enough"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "CONFIG_VMCORE_INFO"), "%s", err.msg);
	cr_assert_null(strstr(err.msg, "--"), "names no command-line option: %s", err.msg);
	cr_assert_eq(err.need, KTBPF_NEED_VMCOREINFO | KTBPF_NEED_SYMBOLS | KTBPF_NEED_PGD);
	free(vi);
	kit_image_free(im);
}

/* The RAM size in the message is one a person reads: never "0 MiB". */
Test(vmcoreinfo, scan_absent_names_small_sizes)
{
	static const struct {
		size_t size;
		const char *want;
	} cases[] = {
		{1000000, "in 976.5 KiB of"},
		{12 << 10, "in 12 KiB of"},
		{3 << 19, "in 1.5 MiB of"},
		{(1 << 20) - 1, "in 1023.9 KiB of"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ktbpf_vmcoreinfo *vi = vi_new();
		struct ktbpf_err err = {0};
		struct ktbpf_mem *mem = ktbpf_mem_new();
		void *buf = calloc(1, cases[i].size);

		cr_assert_not_null(buf);
		cr_assert_eq(ktbpf_mem_add_buffer(mem, 0x100000, cases[i].size, buf, &err), 0);
		cr_assert_eq(ktbpf_vmcoreinfo_find(mem, 0, vi, &err), -EINPROGRESS);
		cr_assert_not_null(strstr(err.msg, cases[i].want), "case %zu: %s", i, err.msg);
		ktbpf_mem_free(mem);
		free(buf);
		free(vi);
	}
}

Test(vmcoreinfo, scan_skips_garbage_descsz)
{
	struct kit_image *im = kit_image_new(16 << 20);
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_err err = {0};

	/* descsz past a page, and one running off the end of RAM: neither is read. */
	kit_vmcoreinfo_note(im, 0x200000, kit_vmcoreinfo_debian61, 0xfffffff0u);
	kit_vmcoreinfo_note(im, (16 << 20) - 4096, "OSRELEASE=x\n", 4096);
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0, vi, &err), -EINPROGRESS, "%s", err.msg);
	/* The one that looked right is named, with why it failed. */
	cr_assert(err.has_addr);
	cr_assert_eq(err.addr, (16 << 20) - 4096, "%s", err.msg);
	/* A good one later still wins. */
	kit_vmcoreinfo_note(im, 0x900000, kit_vmcoreinfo_debian61, strlen(kit_vmcoreinfo_debian61));
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0, vi, &err), 0, "%s", err.msg);
	cr_assert_eq(vi->note_pa, 0x900000);
	free(vi);
	kit_image_free(im);
}

/* Finds a note on the last page of 1 GiB; the time is logged, bench/ measures it. */
Test(vmcoreinfo, scan_1g_finds_last_page)
{
	uint64_t size = 1ull << 30;
	struct kit_image *im = kit_image_new(size);
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct timespec a, b;
	double ms;

	/* Touch every page so the scan reads real memory, not the shared zero page. */
	for (uint64_t pa = 0; pa < size; pa += 4096)
		im->buf[pa + 100] = 1;
	kit_vmcoreinfo_note(im, size - 4096, kit_vmcoreinfo_debian61,
			    strlen(kit_vmcoreinfo_debian61));
	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0, vi, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	cr_assert_eq(vi->note_pa, size - 4096);
	cr_log_info("1 GiB scan took %.1f ms", ms);
	free(vi);
	kit_image_free(im);
}

Test(vmcoreinfo, scan_malformed_note_reported)
{
	struct kit_image *im = kit_image_new(8 << 20);
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_err err = {0};
	static const char t[] = "OSRELEASE=6.1.0\nKERNELOFFSET=nothex\n";

	kit_vmcoreinfo_note(im, 0x300000, t, sizeof(t) - 1);
	cr_assert_eq(ktbpf_vmcoreinfo_find(kit_mem(im), 0, vi, &err), -EINPROGRESS);
	cr_assert_eq(err.addr, 0x300000);
	cr_assert_not_null(strstr(err.msg, "line 2 is malformed"), "%s", err.msg);
	free(vi);
	kit_image_free(im);
}

/*
 * A memory file that shrank under a pread region: the chunks past its end
 * cannot be read. The scan must not claim it looked at all of RAM.
 */
Test(vmcoreinfo, scan_unreadable_ram_is_reported)
{
	uint64_t size = 8ull << 20;
	struct ktbpf_vmcoreinfo *vi = vi_new();
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	int fd = memfd_create("shrinks", MFD_CLOEXEC);
	const char *msg;

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	cr_assert_eq(ktbpf_mem_add_fd(m, 0x100000, size, fd, 0, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(ftruncate(fd, 1 << 20), 0);
	/* The host's problem, not the guest's: the read's own code (I/O). */
	cr_assert_eq(ktbpf_vmcoreinfo_find(m, 0, vi, &err), -EIO);
	cr_assert_eq(ktbpf_err_class(err.code), KTBPF_ERR_IO);
	msg = strstr(err.msg, "(7 MiB of 8 MiB unreadable: ");
	cr_assert_not_null(msg, "%s", err.msg);
	/* Then the memory layer's own words on what went wrong with the file. */
	cr_assert_gt(strlen(msg), strlen("(7 MiB of 8 MiB unreadable: ") + 10, "%s", err.msg);
	ktbpf_mem_free(m);
	close(fd);
	free(vi);
}
