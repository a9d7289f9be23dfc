/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kit.h"

static void die(const char *what, uint64_t a, uint64_t b)
{
	fprintf(stderr, "kit: %s (0x%llx, 0x%llx)\n", what, (unsigned long long)a,
		(unsigned long long)b);
	abort();
}

struct kit_image *kit_image_new(uint64_t size)
{
	struct kit_image *im = calloc(1, sizeof(*im));

	if (!im)
		die("out of memory", size, 0);
	im->buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (im->buf == MAP_FAILED)
		die("mmap", size, (uint64_t)errno);
	im->size = size;
	im->next = 4096;
	return im;
}

void kit_image_free(struct kit_image *im)
{
	if (!im)
		return;
	ktbpf_mem_free(im->mem);
	munmap(im->buf, im->size);
	free(im);
}

uint64_t kit_alloc(struct kit_image *im, uint64_t size, uint64_t align)
{
	uint64_t at;

	if (!align || (align & (align - 1)))
		die("alignment not a power of two", align, 0);
	at = (im->next + align - 1) & ~(align - 1);
	if (at + size > im->size || at + size < at)
		die("image full", at, size);
	im->next = at + size;
	return im->gpa_base + at;
}

uint64_t kit_alloc_pages(struct kit_image *im, uint64_t nr_pages)
{
	return kit_alloc(im, nr_pages * 4096, 4096);
}

void *kit_ptr(struct kit_image *im, uint64_t pa, uint64_t len)
{
	uint64_t off = pa - im->gpa_base;

	if (pa < im->gpa_base || off > im->size || len > im->size - off)
		die("access outside the image", pa, len);
	return im->buf + off;
}

void kit_wbytes(struct kit_image *im, uint64_t pa, const void *src, uint64_t len)
{
	memcpy(kit_ptr(im, pa, len), src, len);
}

void kit_w8(struct kit_image *im, uint64_t pa, uint8_t v)
{
	kit_wbytes(im, pa, &v, 1);
}

void kit_w16(struct kit_image *im, uint64_t pa, uint16_t v)
{
	kit_wbytes(im, pa, &v, 2);
}

void kit_w32(struct kit_image *im, uint64_t pa, uint32_t v)
{
	kit_wbytes(im, pa, &v, 4);
}

void kit_w64(struct kit_image *im, uint64_t pa, uint64_t v)
{
	kit_wbytes(im, pa, &v, 8);
}

uint64_t kit_r64(struct kit_image *im, uint64_t pa)
{
	uint64_t v;

	memcpy(&v, kit_ptr(im, pa, 8), 8);
	return v;
}

struct ktbpf_mem *kit_mem(struct kit_image *im)
{
	struct ktbpf_err err;

	if (im->mem)
		return im->mem;
	im->mem = ktbpf_mem_new();
	if (!im->mem)
		die("ktbpf_mem_new", 0, 0);
	if (ktbpf_mem_add_buffer(im->mem, im->gpa_base, im->size, im->buf, &err) < 0) {
		fprintf(stderr, "kit: %s\n", err.msg);
		abort();
	}
	return im->mem;
}

static void write_all(int fd, const uint8_t *p, uint64_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len > (1u << 30) ? (1u << 30) : len);

		if (n <= 0)
			die("write", len, (uint64_t)errno);
		p += n;
		len -= (uint64_t)n;
	}
}

int kit_image_memfd(struct kit_image *im)
{
	int fd = memfd_create("kit-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		die("memfd_create", 0, (uint64_t)errno);
	write_all(fd, im->buf, im->size);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		die("F_ADD_SEALS", 0, (uint64_t)errno);
	return fd;
}

void kit_image_save(struct kit_image *im, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		die("open", 0, (uint64_t)errno);
	write_all(fd, im->buf, im->size);
	close(fd);
}

/* Page i of im is all zeros (untouched pages are never read: mincore() says so first). */
static bool page_zero(const struct kit_image *im, uint64_t i, const unsigned char *vec)
{
	static const uint64_t zero[512];

	return !(vec[i] & 1) || !memcmp(im->buf + i * 4096, zero, 4096);
}

void kit_image_write_sparse(struct kit_image *im, int fd)
{
	uint64_t pages = im->size / 4096, i = 0, data_pages = im->data_end / 4096;
	unsigned char *vec = malloc(pages ? pages : 1);

	if (!vec || mincore(im->buf, im->size, vec) < 0)
		die("mincore", im->size, (uint64_t)errno);
	if (ftruncate(fd, (off_t)im->size) < 0)
		die("ftruncate", im->size, (uint64_t)errno);
	while (i < pages) {
		uint64_t j = i;

		while (j < pages && (j < data_pages || !page_zero(im, j, vec)))
			j++;
		for (uint64_t k = i; k < j;) {
			ssize_t n =
				pwrite(fd, im->buf + k * 4096,
				       (j - k) * 4096 > (1u << 30) ? (1u << 30) : (j - k) * 4096,
				       (off_t)(k * 4096));

			if (n <= 0 || n % 4096)
				die("pwrite", k * 4096, (uint64_t)errno);
			k += (uint64_t)n / 4096;
		}
		i = j == i ? j + 1 : j;
	}
	free(vec);
}

int kit_image_memfd_sparse(struct kit_image *im)
{
	int fd = memfd_create("kit-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		die("memfd_create", 0, (uint64_t)errno);
	kit_image_write_sparse(im, fd);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		die("F_ADD_SEALS", 0, (uint64_t)errno);
	return fd;
}
