/* SPDX-License-Identifier: MIT */
/*
 * Discovery over guest RAM as a monitor meets it: a RAM file that is mostly
 * holes (it must stay so), the note anywhere in RAM, a guess of where it was
 * last time, and an earlier boot's notes still in RAM around the live one.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kit-btf.h"
#include "kit-guest.h"
#include "kit-kernel.h"
#include "kit-wrap.h"
#include "ktbpf/kernel.h"
#include "ktbpf/progs.h"

static uint64_t blocks(int fd)
{
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks;
}

/* A RAM file in /dev/shm (tmpfs, as QEMU's mem-path), unlinked at once; -1 without /dev/shm. */
static int shm_file(void)
{
	char path[] = "/dev/shm/ktbpf-test-ram-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	if (fd >= 0)
		unlink(path);
	return fd;
}

static struct ktbpf_mem *mem_flags(int fd, uint64_t size, unsigned int flags)
{
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};

	cr_assert_not_null(m);
	cr_assert_eq(ktbpf_mem_add_fd(m, 0, size, fd, 0, flags, &err), 0, "%s", err.msg);
	return m;
}

/* Mapped, as ktbpfctl maps RAM files: the case where a careless read allocates. */
static struct ktbpf_mem *mem_of(int fd, uint64_t size)
{
	return mem_flags(fd, size, KTBPF_MEM_ASSUME_STABLE);
}

/* A 2 GiB RAM file that is one big hole: no note, nothing read, nothing allocated. */
static void all_hole(int fd)
{
	uint64_t size = 2ull << 30;
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	struct ktbpf_mem *m;

	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	m = mem_of(fd, size);
	cr_assert_eq(ktbpf_kernel_discover(m, NULL, &k, &err), -EINPROGRESS, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "no VMCOREINFO note in 2 GiB of guest RAM (0 bytes of "
					   "it ever written)"),
			   "%s", err.msg);
	cr_assert_eq(blocks(fd), 0, "the hole was allocated: %llu blocks",
		     (unsigned long long)blocks(fd));
	ktbpf_mem_free(m);
	close(fd);
}

Test(discovery, all_hole_memfd_stays_unallocated)
{
	all_hole(memfd_create("ram", MFD_CLOEXEC));
}

Test(discovery, all_hole_shm_file_stays_unallocated)
{
	int fd = shm_file();

	if (fd < 0)
		cr_skip_test("no /dev/shm");
	all_hole(fd);
}

/* Discovery and a walk of a kit guest in a sparse file: found, right, and not one page more. */
static void sparse_guest(int fd, unsigned int flags)
{
	struct kit_guest_opts o = {.ram_size = 512ull << 20};
	struct kit_guest *g = kit_guest_new(&o);
	struct ktbpf_snapshot *s = ktbpf_snapshot_new();
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	struct ktbpf_mem *m;
	uint64_t before;

	kit_image_write_sparse(g->im, fd);
	before = blocks(fd);
	cr_assert_lt(before * 512, 128ull << 20, "the kit file is sparse: %llu blocks",
		     (unsigned long long)before);
	m = mem_flags(fd, g->im->size, flags);
	cr_assert_eq(ktbpf_kernel_discover(m, NULL, &k, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_kernel_info(k)->vmcoreinfo_pa, g->kk->vmcoreinfo_pa);
	cr_assert_eq(ktbpf_progs_walk(k, s, &err), 0, "%s", err.msg);
	cr_assert_eq(s->nr_progs, g->nr_struct_ops);
	cr_assert_eq(s->nr_diags, 0);
	cr_assert_eq(blocks(fd), before, "discovery or the walk allocated %lld blocks",
		     (long long)(blocks(fd) - before));
	ktbpf_snapshot_free(s);
	ktbpf_kernel_free(k);
	ktbpf_mem_free(m);
	kit_guest_free(g);
	close(fd);
}

Test(discovery, sparse_memfd_guest_stays_sparse)
{
	sparse_guest(memfd_create("ram", MFD_CLOEXEC), KTBPF_MEM_ASSUME_STABLE);
}

/* Not mapped (an unsealed file without KTBPF_MEM_ASSUME_STABLE): pread()s only. */
Test(discovery, sparse_pread_guest_stays_sparse)
{
	sparse_guest(memfd_create("ram", MFD_CLOEXEC), 0);
}

Test(discovery, sparse_shm_guest_stays_sparse)
{
	int fd = shm_file();

	if (fd < 0)
		cr_skip_test("no /dev/shm");
	sparse_guest(fd, KTBPF_MEM_ASSUME_STABLE);
}

/* The kit's 6.1 BTF in the kernel (one copy for the whole test: the kit keeps a pointer). */
static void with_btf(struct kit_kernel *kk)
{
	static struct btf *btf;
	static struct kit_btf_layout lay;
	const void *raw;
	uint32_t size;

	if (!btf)
		btf = kit_btf_kernel_new(KIT_BTF_V61, &lay);
	raw = kit_btf_raw(btf, &size);
	kit_kernel_set_btf(kk, raw, size);
}

/* A kit kernel with the note where place says, in a sparse memfd; returns the fd. */
static int kernel_file(struct kit_image **im, struct kit_kernel **kk,
		       const struct kit_kernel_opts *o, uint64_t ram)
{
	int fd = memfd_create("ram", MFD_CLOEXEC);

	*im = kit_image_new(ram);
	*kk = kit_kernel_new(*im, o);
	with_btf(*kk);
	kit_kernel_finish(*kk);
	kit_image_write_sparse(*im, fd);
	return fd;
}

static uint64_t discover_note(struct ktbpf_mem *m, const struct ktbpf_kernel_hints *h)
{
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	uint64_t pa;

	cr_assert_eq(ktbpf_kernel_discover(m, h, &k, &err), 0, "%s", err.msg);
	pa = ktbpf_kernel_info(k)->vmcoreinfo_pa;
	ktbpf_kernel_free(k);
	return pa;
}

Test(discovery, note_found_low_middle_and_high)
{
	static const enum kit_note_place place[] = {KIT_NOTE_LOW, KIT_NOTE_MIDDLE, KIT_NOTE_HIGH};

	for (size_t i = 0; i < 3; i++) {
		struct kit_kernel_opts o = {.note_place = place[i]};
		struct kit_image *im;
		struct kit_kernel *kk;
		int fd = kernel_file(&im, &kk, &o, 256ull << 20);
		struct ktbpf_mem *m = mem_of(fd, im->size);

		cr_assert_eq(discover_note(m, NULL), kk->vmcoreinfo_pa, "place %zu", i);
		ktbpf_mem_free(m);
		kit_kernel_free(kk);
		kit_image_free(im);
		close(fd);
	}
}

/*
 * An earlier boot's notes just below (another release) and just above
 * (another KASLR slide) the live one: the scan, which meets the one above
 * first, and a guess pointing at either stale one must end at the live one.
 */
Test(discovery, stale_notes_above_and_below_skipped)
{
	struct kit_kernel_opts o = {.stale_notes = true};
	struct ktbpf_kernel_hints h = {0};
	struct kit_image *im;
	struct kit_kernel *kk;
	int fd = kernel_file(&im, &kk, &o, 128ull << 20);
	struct ktbpf_mem *m = mem_of(fd, im->size);
	uint64_t live = kk->vmcoreinfo_pa;

	cr_assert_eq(discover_note(m, NULL), live);
	h.vmcoreinfo_guess_pa = live + 8192; /* the stale one above */
	cr_assert_eq(discover_note(m, &h), live);
	h.vmcoreinfo_guess_pa = live - 8192; /* the stale one below */
	cr_assert_eq(discover_note(m, &h), live);
	ktbpf_mem_free(m);
	kit_kernel_free(kk);
	kit_image_free(im);
	close(fd);
}

/* Only stale notes (the new kernel has not written its own yet): not ready, and why. */
Test(discovery, only_stale_notes_not_taken)
{
	struct kit_kernel_opts o = {.stale_notes = true};
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	struct kit_image *im;
	struct kit_kernel *kk;
	struct ktbpf_mem *m;
	int fd;

	im = kit_image_new(128ull << 20);
	kk = kit_kernel_new(im, &o);
	with_btf(kk);
	kit_kernel_finish(kk);
	memset(kit_ptr(im, kk->vmcoreinfo_pa, 64), 0, 64); /* the live note not written yet */
	fd = memfd_create("ram", MFD_CLOEXEC);
	kit_image_write_sparse(im, fd);
	m = mem_of(fd, im->size);
	cr_assert_eq(ktbpf_kernel_discover(m, NULL, &k, &err), -EINPROGRESS, "%s", err.msg);
	cr_assert_eq(err.addr, kk->vmcoreinfo_pa + 8192, "the first one met, above");
	cr_assert_not_null(strstr(err.msg, "of the running kernel"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "do not map its"), "%s", err.msg);
	ktbpf_mem_free(m);
	kit_kernel_free(kk);
	kit_image_free(im);
	close(fd);
}

/*
 * An arm64 QEMU virt guest's RAM file (RAM from GPA 1 GiB) given as if RAM
 * began at 0: its note points above that RAM, which no retry mends, so it is
 * an input error (-EFAULT, no other input named) and never "not ready". The
 * same note given the right base but with its own page tables gone (what an
 * earlier boot's note looks like) stays "not ready".
 */
Test(discovery, arm64_ram_given_at_the_wrong_base_is_bad_input_not_not_ready)
{
	struct kit_kernel_opts o = {.arch = KTBPF_ARCH_AARCH64};
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	struct kit_image *im;
	struct kit_kernel *kk;
	struct ktbpf_mem *m;
	int fd, r;

	im = kit_image_new(128ull << 20);
	im->gpa_base = KIT_A64_RAM_BASE;
	kk = kit_kernel_new(im, &o);
	with_btf(kk);
	kit_kernel_finish(kk);
	fd = memfd_create("ram", MFD_CLOEXEC);
	kit_image_write_sparse(im, fd);

	m = mem_of(fd, im->size); /* at GPA 0 */
	r = ktbpf_kernel_discover(m, NULL, &k, &err);
	cr_assert_eq(r, -EFAULT, "%d: %s", r, err.msg);
	cr_assert_eq(ktbpf_err_class(r), KTBPF_ERR_INPUT);
	cr_assert_not_null(strstr(err.msg, "QEMU virt: 0x40000000"), "%s", err.msg);
	cr_assert_eq(err.addr, kk->vmcoreinfo_pa - KIT_A64_RAM_BASE, "the note, as given");
	cr_assert_eq(err.need, 0, "no hint stands in for the right RAM layout");
	ktbpf_mem_free(m);

	m = ktbpf_mem_new();
	cr_assert_eq(ktbpf_mem_add_fd(m, KIT_A64_RAM_BASE, im->size, fd, 0, KTBPF_MEM_ASSUME_STABLE,
				      &err),
		     0, "%s", err.msg);
	cr_assert_eq(ktbpf_kernel_discover(m, NULL, &k, &err), 0, "%s", err.msg);
	k = ktbpf_kernel_free(k);
	ktbpf_mem_free(m);

	memset(kit_ptr(im, kk->pgd_pa, 4096), 0, 4096);
	cr_assert_eq(ftruncate(fd, 0), 0);
	kit_image_write_sparse(im, fd);
	m = ktbpf_mem_new();
	cr_assert_eq(ktbpf_mem_add_fd(m, KIT_A64_RAM_BASE, im->size, fd, 0, KTBPF_MEM_ASSUME_STABLE,
				      &err),
		     0, "%s", err.msg);
	r = ktbpf_kernel_discover(m, NULL, &k, &err);
	cr_assert_eq(r, -EINPROGRESS, "%d: %s", r, err.msg);
	cr_assert_not_null(strstr(err.msg, "do not map its"), "%s", err.msg);
	ktbpf_mem_free(m);
	kit_kernel_free(kk);
	kit_image_free(im);
	close(fd);
}

/* A good guess is taken without a scan: the trace sees no read outside the note's page. */
struct span {
	uint64_t lo, hi;
	unsigned long outside;
};

static void trace(void *ctx, uint64_t pa, void *buf, size_t len)
{
	struct span *s = ctx;

	(void)buf;
	if (pa < s->lo || pa + len > s->hi)
		s->outside++;
}

Test(discovery, guess_of_the_live_note_reads_only_it)
{
	struct kit_kernel_opts o = {.note_place = KIT_NOTE_LOW};
	struct ktbpf_vmcoreinfo *vi = malloc(sizeof(*vi));
	struct ktbpf_err err = {0};
	struct kit_image *im;
	struct kit_kernel *kk;
	int fd = kernel_file(&im, &kk, &o, 256ull << 20);
	struct ktbpf_mem *m = mem_of(fd, im->size);
	struct span sp = {.lo = kk->vmcoreinfo_pa, .hi = kk->vmcoreinfo_pa + 4096};

	struct kit_wrap *w = kit_wrap_new(m, trace, &sp);

	cr_assert_eq(ktbpf_vmcoreinfo_scan(w->mem, kk->vmcoreinfo_pa, NULL, NULL, vi, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(vi->note_pa, kk->vmcoreinfo_pa);
	cr_assert_eq(sp.outside, 0, "%lu reads outside the note's page", sp.outside);
	kit_wrap_free(w);
	ktbpf_mem_free(m);
	kit_kernel_free(kk);
	kit_image_free(im);
	close(fd);
	free(vi);
}

/*
 * NUMBER(KERNEL_IMAGE_SIZE) sets the kernel-image window: a 512 MiB kernel
 * (no CONFIG_RANDOMIZE_BASE) with init_top_pgt at 768 MiB into the map is
 * refused, which the default 1 GiB window would have taken; garbage is named.
 */
Test(discovery, kernel_image_size_from_vmcoreinfo)
{
	struct kit_kernel_opts o = {.no_vmcoreinfo = true};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	struct kit_image *im = kit_image_new(64ull << 20);
	struct kit_kernel *kk = kit_kernel_new(im, &o);
	char *text;

	kit_kernel_finish(kk);
	cr_assert_geq(asprintf(&text,
			       "%sNUMBER(KERNEL_IMAGE_SIZE)=536870912\nSYMBOL(init_top_pgt)=%llx\n",
			       kit_kernel_vmcoreinfo_text(kk),
			       (unsigned long long)(KTBPF_X86_START_KERNEL_MAP + (768ull << 20))),
		      0);
	h.vmcoreinfo_text = text;
	h.vmcoreinfo_len = strlen(text);
	cr_assert_eq(ktbpf_kernel_discover(kit_mem(im), &h, &k, &err), -EINVAL, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "outside the kernel image"), "%s", err.msg);
	free(text);
	cr_assert_geq(asprintf(&text, "%sNUMBER(KERNEL_IMAGE_SIZE)=12345\n",
			       kit_kernel_vmcoreinfo_text(kk)),
		      0);
	h.vmcoreinfo_text = text;
	h.vmcoreinfo_len = strlen(text);
	cr_assert_eq(ktbpf_kernel_discover(kit_mem(im), &h, &k, &err), -EUCLEAN, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "KERNEL_IMAGE_SIZE"), "%s", err.msg);
	free(text);
	kit_kernel_free(kk);
	kit_image_free(im);
}

/*
 * An earlier boot's kernel left whole in RAM (image, page tables, note above
 * the live one): its note passes every check of its own. The vCPU's CR3 is
 * the running kernel's, so with it the earlier note is skipped.
 */
Test(discovery, intact_earlier_kernel_told_apart_by_cr3)
{
	struct kit_kernel_opts old_o = {.slide = 0x2000000, .release = "6.0.0-old"};
	struct kit_kernel_opts live_o = {.slide = 0x8000000, .image_pa = 64ull << 20};
	struct ktbpf_kernel_hints h = {0};
	struct ktbpf_kernel *k = NULL;
	struct ktbpf_err err = {0};
	struct kit_image *im = kit_image_new(256ull << 20);
	struct kit_kernel *old = kit_kernel_new(im, &old_o), *live = kit_kernel_new(im, &live_o);
	int fd = memfd_create("ram", MFD_CLOEXEC);
	struct ktbpf_mem *m;

	with_btf(old);
	with_btf(live);
	kit_kernel_finish(live);
	kit_kernel_finish(old); /* its note above the live one */
	cr_assert_gt(old->vmcoreinfo_pa, live->vmcoreinfo_pa);
	kit_image_write_sparse(im, fd);
	m = mem_of(fd, im->size);
	h.has_cr3 = true;
	h.cr3 = live->pgd_pa | 0x18; /* PCD/PWT bits are not the address */
	cr_assert_eq(ktbpf_kernel_discover(m, &h, &k, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_kernel_info(k)->vmcoreinfo_pa, live->vmcoreinfo_pa);
	cr_assert_str_eq(ktbpf_kernel_info(k)->release, "6.1.0-kit");
	cr_assert_eq(ktbpf_kernel_info(k)->kaslr_offset, 0x8000000);
	ktbpf_kernel_free(k);
	h.cr3 = old->pgd_pa;
	cr_assert_eq(ktbpf_kernel_discover(m, &h, &k, &err), 0, "%s", err.msg);
	cr_assert_eq(ktbpf_kernel_info(k)->vmcoreinfo_pa, old->vmcoreinfo_pa);
	ktbpf_kernel_free(k);
	ktbpf_mem_free(m);
	kit_kernel_free(old);
	kit_kernel_free(live);
	kit_image_free(im);
	close(fd);
}

/* ---- hostile RAM: caps on what a scan does ---- */

/* A page head that looks like a note on 100 pages: the scan gives up after 64, naming why. */
Test(discovery, ram_full_of_fake_notes_capped)
{
	struct kit_image *im = kit_image_new(8ull << 20);
	struct ktbpf_vmcoreinfo *vi = malloc(sizeof(*vi));
	struct ktbpf_err err = {0};
	const char *text = "OSRELEASE=6.1\nKERNELOFFSET=nothex\n";

	for (uint64_t i = 0; i < 100; i++)
		kit_vmcoreinfo_note(im, (1ull << 20) + i * 4096, text, (uint32_t)strlen(text));
	cr_assert_eq(ktbpf_vmcoreinfo_scan(kit_mem(im), 0, NULL, NULL, vi, &err), -E2BIG, "%s",
		     err.msg);
	cr_assert_not_null(strstr(err.msg, "more than 64 VMCOREINFO notes"), "%s", err.msg);
	free(vi);
	kit_image_free(im);
}

/*
 * More data stretches than the scan keeps (every other page written, 80000
 * stretches): the rest is read whole with pread, the note at the bottom is
 * still found, and the holes in between stay holes.
 */
Test(discovery, too_many_data_stretches_still_sparse)
{
	uint64_t pages = 160000, size = pages * 4096;
	struct ktbpf_vmcoreinfo *vi = malloc(sizeof(*vi));
	int fd = memfd_create("ram", MFD_CLOEXEC);
	struct ktbpf_err err = {0};
	static char page[4096];
	struct ktbpf_mem *m;
	uint64_t before;

	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	memset(page, 0x5a, sizeof(page));
	for (uint64_t i = 1; i < pages; i += 2)
		cr_assert_eq(pwrite(fd, page, 4096, (off_t)(i * 4096)), 4096);
	/* The note on page 1 (the first written), text as a kernel writes it. */
	memset(page, 0, sizeof(page));
	memcpy(page, (uint32_t[]){11, 15, 0}, 12);
	memcpy(page + 12, "VMCOREINFO", 11);
	memcpy(page + 24, "OSRELEASE=6.1\n", 15);
	cr_assert_eq(pwrite(fd, page, 4096, 4096), 4096);
	before = blocks(fd);
	m = mem_of(fd, size);
	cr_assert_eq(ktbpf_vmcoreinfo_scan(m, 0, NULL, NULL, vi, &err), 0, "%s", err.msg);
	cr_assert_eq(vi->note_pa, 4096);
	cr_assert_eq(blocks(fd), before, "the scan allocated %lld blocks",
		     (long long)(blocks(fd) - before));
	ktbpf_mem_free(m);
	close(fd);
	free(vi);
}
