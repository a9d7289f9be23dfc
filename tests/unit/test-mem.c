/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kit.h"
#include "ktbpf/mem.h"

/* A buffer whose byte i is (i * 7 + seed) & 0xff, so any misplaced copy shows. */
static uint8_t *pattern(size_t n, unsigned int seed)
{
	uint8_t *p = malloc(n);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed);
	return p;
}

/* A memfd holding buf; sealed against shrinking when seal. */
static int memfd_of(const void *buf, size_t n, bool seal)
{
	int fd = memfd_create("test-mem", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, n), (ssize_t)n);
	if (seal)
		cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	return fd;
}

Test(mem, read_last_byte_ok_one_past_faults)
{
	uint8_t *b = pattern(4096, 1), v = 0;
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x10000, 4096, b, &err), 0);
	cr_assert_eq(ktbpf_mem_read_u8(m, 0x10fff, &v, &err), 0);
	cr_assert_eq(v, b[4095]);
	cr_assert_eq(ktbpf_mem_read_u8(m, 0x11000, &v, &err), -EFAULT);
	cr_assert(err.has_addr);
	cr_assert_eq(err.addr, 0x11000);
	cr_assert_eq(ktbpf_mem_read_u8(m, 0xffff, &v, &err), -EFAULT);
	cr_assert_eq(err.addr, 0xffff);
	cr_assert_eq(ktbpf_mem_end(m), 0x11000);
	ktbpf_mem_free(m);
	free(b);
}

Test(mem, scalars_little_endian)
{
	uint8_t b[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	struct ktbpf_mem *m = ktbpf_mem_new();
	uint32_t v32 = 0;
	uint64_t v64 = 0;

	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x1000, sizeof(b), b, NULL), 0);
	cr_assert_eq(ktbpf_mem_read_u32(m, 0x1001, &v32, NULL), 0);
	cr_assert_eq(v32, 0x05040302);
	cr_assert_eq(ktbpf_mem_read_u64(m, 0x1004, &v64, NULL), 0);
	cr_assert_eq(v64, 0x0c0b0a0908070605ull);
	/* Straddling the end: the result pointer stays untouched. */
	v64 = 42;
	cr_assert_eq(ktbpf_mem_read_u64(m, 0x1009, &v64, NULL), -EFAULT);
	cr_assert_eq(v64, 42);
	ktbpf_mem_free(m);
}

/* Little-endian value of len bytes of pattern(…, seed) at offset off. */
static uint64_t pattern_le(size_t off, size_t len, unsigned int seed)
{
	uint64_t v = 0;

	for (size_t i = len; i--;)
		v = v << 8 | (uint8_t)((off + i) * 7 + seed);
	return v;
}

/*
 * Every scalar width reads the same on each path: the host fast path, a read
 * straddling two adjacent buffer regions and a pread-backed region; a failed
 * read leaves the result alone and names the first missing byte.
 */
Test(mem, scalars_every_width_every_path)
{
	uint8_t *lo = pattern(4096, 3), *hi = pattern(4096, 3 + 4096 * 7), *pr = pattern(8192, 5);
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	int fd = memfd_of(pr, 8192, false);
	const struct {
		uint64_t pa;
		size_t off;
		unsigned int seed;
	} at[] = {
		{0x10010, 0x10, 3},  /* inside one buffer */
		{0x10ffd, 0xffd, 3}, /* straddles the two adjacent buffers */
		{0x30ffe, 0xffe, 5}, /* pread, across its page boundary */
	};

	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x10000, 4096, lo, NULL), 0);
	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x11000, 4096, hi, NULL), 0);
	cr_assert_eq(ktbpf_mem_add_fd(m, 0x30000, 8192, fd, 0, 0, NULL), 0);
	close(fd);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		uint8_t v8 = 0;
		uint32_t v32 = 0;
		uint64_t v64 = 0;

		cr_assert_eq(ktbpf_mem_read_u8(m, at[i].pa, &v8, NULL), 0);
		cr_assert_eq(v8, pattern_le(at[i].off, 1, at[i].seed), "case %zu", i);
		cr_assert_eq(ktbpf_mem_read_u32(m, at[i].pa, &v32, NULL), 0);
		cr_assert_eq(v32, pattern_le(at[i].off, 4, at[i].seed), "case %zu", i);
		cr_assert_eq(ktbpf_mem_read_u64(m, at[i].pa, &v64, NULL), 0);
		cr_assert_eq(v64, pattern_le(at[i].off, 8, at[i].seed), "case %zu", i);
	}
	for (int w = 0; w < 3; w++) {
		uint8_t v8 = 0x5a;
		uint32_t v32 = 0x5a5a5a5a;
		uint64_t v64 = 42;
		uint64_t pa = 0x12000 - (w == 0 ? 0 : 2); /* u8 at the end, wider ones across it */
		int r = w == 0	 ? ktbpf_mem_read_u8(m, pa, &v8, &err)
			: w == 1 ? ktbpf_mem_read_u32(m, pa, &v32, &err)
				 : ktbpf_mem_read_u64(m, pa, &v64, &err);

		cr_assert_eq(r, -EFAULT, "width %d", w);
		cr_assert_eq(err.addr, 0x12000, "width %d", w);
		cr_assert(v8 == 0x5a && v32 == 0x5a5a5a5a && v64 == 42, "width %d wrote", w);
	}
	ktbpf_mem_free(m);
	free(lo);
	free(hi);
	free(pr);
}

Test(mem, overflow_at_u64_max_faults)
{
	uint8_t *b = pattern(4096, 2), buf[16];
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	uint64_t top = UINT64_MAX - 4095; /* region ends at UINT64_MAX (exclusive) */

	cr_assert_eq(ktbpf_mem_add_buffer(m, top, 4095, b, &err), 0);
	cr_assert_eq(ktbpf_mem_read(m, UINT64_MAX - 8, buf, 8, &err), 0);
	cr_assert_eq(memcmp(buf, b + 4095 - 8, 8), 0);
	cr_assert_eq(ktbpf_mem_read(m, UINT64_MAX - 7, buf, 16, &err), -EFAULT);
	cr_assert_eq(err.addr, UINT64_MAX);
	cr_assert_eq(ktbpf_mem_read(m, UINT64_MAX, buf, 1, &err), -EFAULT);
	/* A region reaching 2^64 is rejected. */
	cr_assert_eq(ktbpf_mem_add_buffer(m, UINT64_MAX - 10, 11, b, &err), -EINVAL);
	cr_assert_eq(ktbpf_mem_nr_regions(m), 1);
	ktbpf_mem_free(m);
	free(b);
}

Test(mem, gap_between_regions_faults_at_gap)
{
	uint8_t *a = pattern(4096, 3), *c = pattern(4096, 4), buf[64];
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	struct ktbpf_mem_region r;

	/* Added out of order: the table sorts them. */
	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x3000, 4096, c, &err), 0);
	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x1000, 4096, a, &err), 0);
	cr_assert_eq(ktbpf_mem_nr_regions(m), 2);
	cr_assert_eq(ktbpf_mem_region(m, 0, &r), 0);
	cr_assert_eq(r.gpa, 0x1000);
	cr_assert_eq(ktbpf_mem_region(m, 1, &r), 0);
	cr_assert_eq(r.gpa, 0x3000);
	cr_assert_eq(r.size, 4096);
	cr_assert_eq(ktbpf_mem_region(m, 2, &r), -ENOENT);
	cr_assert_eq(ktbpf_mem_read(m, 0x2800, buf, 8, &err), -EFAULT);
	cr_assert_eq(err.addr, 0x2800);
	/* Straddling from the first region into the gap: the gap's first byte. */
	cr_assert_eq(ktbpf_mem_read(m, 0x1ff0, buf, 32, &err), -EFAULT);
	cr_assert_eq(err.addr, 0x2000);
	cr_assert_eq(ktbpf_mem_read(m, 0x3010, buf, 64, &err), 0);
	cr_assert_eq(memcmp(buf, c + 0x10, 64), 0);
	ktbpf_mem_free(m);
	free(a);
	free(c);
}

Test(mem, adjacent_regions_read_as_one)
{
	uint8_t *a = pattern(4096, 5), *c = pattern(4096, 6), buf[64];
	struct ktbpf_mem *m = ktbpf_mem_new();

	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x1000, 4096, a, NULL), 0);
	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x2000, 4096, c, NULL), 0);
	cr_assert_eq(ktbpf_mem_read(m, 0x1fe0, buf, 64, NULL), 0);
	cr_assert_eq(memcmp(buf, a + 4096 - 32, 32), 0);
	cr_assert_eq(memcmp(buf + 32, c, 32), 0);
	cr_assert_null(ktbpf_mem_ptr(m, 0x1fe0, 64)); /* not one region */
	cr_assert_eq(ktbpf_mem_ptr(m, 0x2000, 64), c);
	ktbpf_mem_free(m);
	free(a);
	free(c);
}

Test(mem, overlap_and_bad_regions_rejected)
{
	uint8_t b[8192];
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x2000, 0x1000, b, &err), 0);
	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x1800, 0x1000, b, &err), -EINVAL);
	cr_assert(strstr(err.msg, "overlaps"), "%s", err.msg);
	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x2fff, 0x10, b, &err), -EINVAL);
	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x1000, 0x3000, b, &err), -EINVAL);
	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x5000, 0, b, &err), -EINVAL);
	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x1000, 0x1000, b, &err), 0); /* touching is fine */
	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x3000, 0x1000, b, &err), 0);
	cr_assert_eq(ktbpf_mem_nr_regions(m), 3);
	ktbpf_mem_free(m);
}

Test(mem, max_regions_enforced)
{
	static uint8_t b[16];
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};

	for (uint64_t i = 0; i < KTBPF_MEM_MAX_REGIONS; i++)
		cr_assert_eq(ktbpf_mem_add_buffer(m, i * 0x100, sizeof(b), b, &err), 0);
	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x100000, sizeof(b), b, &err), -E2BIG);
	cr_assert_eq(ktbpf_mem_nr_regions(m), KTBPF_MEM_MAX_REGIONS);
	/* Binary search over the full table finds the last and a middle region. */
	cr_assert_not_null(ktbpf_mem_ptr(m, 63 * 0x100 + 15, 1));
	cr_assert_not_null(ktbpf_mem_ptr(m, 31 * 0x100, 16));
	cr_assert_null(ktbpf_mem_ptr(m, 31 * 0x100 + 16, 1));
	ktbpf_mem_free(m);
}

Test(mem, sealed_fd_is_mapped)
{
	struct ktbpf_mem_region reg;
	uint8_t *b = pattern(3 * 4096, 7), buf[100];
	int fd = memfd_of(b, 3 * 4096, true);
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_mem_add_fd(m, 0x100000, 2 * 4096, fd, 4096, 0, &err), 0, "%s", err.msg);
	close(fd); /* the mapping outlives the caller's fd */
	cr_assert_not_null(ktbpf_mem_ptr(m, 0x100000, 4096));
	cr_assert_eq(ktbpf_mem_region(m, 0, &reg), 0);
	cr_assert(reg.file && reg.mapped);
	cr_assert_eq(ktbpf_mem_read(m, 0x100ff0, buf, 100, &err), 0);
	cr_assert_eq(memcmp(buf, b + 4096 + 0xff0, 100), 0);
	ktbpf_mem_free(m);
	free(b);
}

Test(mem, unsealed_fd_uses_pread)
{
	struct ktbpf_mem_region reg;
	uint8_t *b = pattern(2 * 4096, 8), buf[100];
	int fd = memfd_of(b, 2 * 4096, false);
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_mem_add_fd(m, 0x5000, 2 * 4096, fd, 0, 0, &err), 0, "%s", err.msg);
	cr_assert_null(ktbpf_mem_ptr(m, 0x5000, 8)); /* pread-backed: no pointer */
	cr_assert_eq(ktbpf_mem_region(m, 0, &reg), 0);
	cr_assert(reg.file && !reg.mapped);
	cr_assert_eq(ktbpf_mem_read(m, 0x5f9c, buf, 100, &err), 0);
	cr_assert_eq(memcmp(buf, b + 0xf9c, 100), 0);
	/* The file shrinks under us: a short pread is -EIO, not SIGBUS. */
	cr_assert_eq(ftruncate(fd, 4096), 0);
	close(fd); /* our private dup keeps reading */
	cr_assert_eq(ktbpf_mem_read(m, 0x5000, buf, 100, &err), 0);
	cr_assert_eq(ktbpf_mem_read(m, 0x5ff0, buf, 32, &err), -EIO);
	cr_assert_eq(err.addr, 0x6000);
	/* The message tells the file offset apart from the guest address. */
	cr_assert(strstr(err.msg, "0x6000") && strstr(err.msg, "offset 0x1000"), "%s", err.msg);
	ktbpf_mem_free(m);
	free(b);
}

Test(mem, assume_stable_maps_unsealed_fd)
{
	uint8_t *b = pattern(4096, 9);
	int fd = memfd_of(b, 4096, false);
	struct ktbpf_mem *m = ktbpf_mem_new();

	cr_assert_eq(ktbpf_mem_add_fd(m, 0, 4096, fd, 0, KTBPF_MEM_ASSUME_STABLE, NULL), 0);
	cr_assert_not_null(ktbpf_mem_ptr(m, 0, 4096));
	cr_assert_eq(memcmp(ktbpf_mem_ptr(m, 0, 4096), b, 4096), 0);
	ktbpf_mem_free(m);
	close(fd);
	free(b);
}

Test(mem, short_file_is_erange)
{
	uint8_t *b = pattern(4096, 10);
	int fd = memfd_of(b, 4096, true);
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_mem_add_fd(m, 0, 4096, fd, 1, 0, &err), -ERANGE);
	cr_assert(strstr(err.msg, "shorter"), "%s", err.msg);
	cr_assert_eq(ktbpf_mem_add_fd(m, 0, 8192, fd, 0, 0, &err), -ERANGE);
	cr_assert_eq(ktbpf_mem_add_fd(m, 0, 16, fd, UINT64_MAX - 8, 0, &err), -EINVAL);
	cr_assert_eq(ktbpf_mem_nr_regions(m), 0);
	ktbpf_mem_free(m);
	close(fd);
	free(b);
}

/*
 * A device has no st_size to check: the region must still keep every byte's
 * file offset within off_t, or its reads would pread() at a negative offset.
 */
Test(mem, device_offset_past_off_t_rejected)
{
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	uint8_t byte = 1;

	cr_assert_geq(fd, 0);
	cr_assert_eq(ktbpf_mem_add_fd(m, 0, 8192, fd, (uint64_t)INT64_MAX - 4095, 0, &err), -EINVAL,
		     "%s", err.msg);
	cr_assert(strstr(err.msg, "largest file offset"), "%s", err.msg);
	cr_assert_eq(ktbpf_mem_add_fd(m, 0, (uint64_t)INT64_MAX + 1, fd, 0, 0, &err), -EINVAL);
	cr_assert_eq(ktbpf_mem_nr_regions(m), 0);
	/* The last byte at the largest offset is fine. */
	cr_assert_eq(ktbpf_mem_add_fd(m, 0, 8192, fd, (uint64_t)INT64_MAX - 8192, 0, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(ktbpf_mem_read_u8(m, 8191, &byte, &err), 0, "%s", err.msg);
	cr_assert_eq(byte, 0);
	ktbpf_mem_free(m);
	close(fd);
}

Test(mem, mmap_unaligned_offset)
{
	uint8_t *b = pattern(3 * 4096, 11), buf[64];
	int fd = memfd_of(b, 3 * 4096, true);
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	const uint8_t *p;

	cr_assert_eq(ktbpf_mem_add_fd(m, 0x40000, 0x1800, fd, 0x123, 0, &err), 0, "%s", err.msg);
	p = ktbpf_mem_ptr(m, 0x40000, 0x1800);
	cr_assert_not_null(p);
	cr_assert_eq(memcmp(p, b + 0x123, 0x1800), 0);
	cr_assert_eq(ktbpf_mem_read(m, 0x417c0, buf, 64, &err), 0);
	cr_assert_eq(memcmp(buf, b + 0x123 + 0x17c0, 64), 0);
	cr_assert_eq(ktbpf_mem_read(m, 0x417c1, buf, 64, &err), -EFAULT);
	cr_assert_eq(err.addr, 0x41800);
	ktbpf_mem_free(m);
	close(fd);
	free(b);
}

/* A reader region's source: bytes of a host buffer at gpa base, or a failure. */
struct source {
	const uint8_t *bytes;
	uint64_t base;
	unsigned int calls;
	int fail;	    /* negative errno to return */
	bool fail_with_msg; /* and fill err */
};

static int source_read(void *ctx, uint64_t pa, void *buf, size_t len, struct ktbpf_err *err)
{
	struct source *src = ctx;

	src->calls++;
	if (src->fail && src->fail_with_msg)
		return ktbpf_err_set_addr(err, src->fail, pa, "the VMM says no at 0x%llx",
					  (unsigned long long)pa);
	if (src->fail)
		return src->fail;
	memcpy(buf, src->bytes + (pa - src->base), len);
	return 0;
}

Test(mem, reader_region_reads_through_the_callers_function)
{
	uint8_t *a = pattern(4096, 3), *b = pattern(4096, 12), buf[64];
	struct source src = {.bytes = b, .base = 0x2000};
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};
	uint64_t v;

	cr_assert_eq(ktbpf_mem_add_buffer(m, 0x1000, 4096, a, NULL), 0);
	cr_assert_eq(ktbpf_mem_add_reader(m, 0x2000, 4096, source_read, &src, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(ktbpf_mem_read(m, 0x2100, buf, 32, NULL), 0);
	cr_assert_eq(memcmp(buf, b + 0x100, 32), 0);
	cr_assert_eq(ktbpf_mem_read_u64(m, 0x2200, &v, NULL), 0);
	cr_assert_eq(memcmp(&v, b + 0x200, 8), 0);
	cr_assert_null(ktbpf_mem_ptr(m, 0x2000, 8), "no host bytes to point at");
	/* A read across the buffer region into the reader region is one read. */
	cr_assert_eq(ktbpf_mem_read(m, 0x1fe0, buf, 64, NULL), 0);
	cr_assert_eq(memcmp(buf, a + 0xfe0, 32), 0);
	cr_assert_eq(memcmp(buf + 32, b, 32), 0);
	cr_assert_eq(src.calls, 3);
	cr_assert_eq(ktbpf_mem_read_u64(m, 0x3000, &v, NULL), -EFAULT, "outside it: not asked");
	cr_assert_eq(src.calls, 3);
	ktbpf_mem_free(m);
	free(a);
	free(b);
}

Test(mem, reader_region_failure_names_the_address)
{
	uint8_t *b = pattern(4096, 5), buf[16];
	struct source src = {.bytes = b, .base = 0x1000, .fail = -EIO};
	struct ktbpf_mem *m = ktbpf_mem_new();
	struct ktbpf_err err = {0};

	cr_assert_eq(ktbpf_mem_add_reader(m, 0x1000, 4096, NULL, NULL, &err), -EINVAL);
	cr_assert_eq(ktbpf_mem_add_reader(m, 0x1000, 4096, source_read, &src, NULL), 0);
	cr_assert_eq(ktbpf_mem_read(m, 0x1234, buf, 16, &err), -EIO);
	cr_assert(err.has_addr);
	cr_assert_eq(err.addr, 0x1234);
	cr_assert_not_null(strstr(err.msg, "0x1234"), "%s", err.msg);
	src.fail_with_msg = true;
	cr_assert_eq(ktbpf_mem_read(m, 0x1300, buf, 16, &err), -EIO);
	cr_assert_not_null(strstr(err.msg, "the VMM says no at 0x1300"), "%s", err.msg);
	ktbpf_mem_free(m);
	free(b);
}

Test(mem, kit_image_memfd_roundtrip)
{
	struct kit_image *im = kit_image_new(64 * 4096);
	uint64_t pa = kit_alloc(im, 8, 8), v = 0;
	int fd;
	struct ktbpf_mem *m = ktbpf_mem_new();

	kit_w64(im, pa, 0x1122334455667788ull);
	fd = kit_image_memfd(im);
	cr_assert_eq(ktbpf_mem_add_fd(m, 0, im->size, fd, 0, 0, NULL), 0);
	close(fd);
	cr_assert_eq(ktbpf_mem_read_u64(m, pa, &v, NULL), 0);
	cr_assert_eq(v, 0x1122334455667788ull);
	cr_assert_eq(ktbpf_mem_free(m), NULL);
	cr_assert_eq(ktbpf_mem_free(NULL), NULL);
	kit_image_free(im);
}
