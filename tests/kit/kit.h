/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_H
#define KTBPF_KIT_H

/*
 * The test kit: synthetic guest images built in code.
 *
 * A kit_image is a zeroed, page-aligned host buffer standing for guest RAM at
 * guest physical address `gpa_base` (0 unless a test says otherwise), with a
 * bump allocator for placing objects. Everything the kit writes is
 * little-endian, like the guests we read. Test-only code: on misuse (out of
 * space, write outside the image) it aborts with a message, so a broken
 * fixture fails loudly instead of producing a subtly wrong image.
 *
 * Parts: kit-pt.h (page tables), kit-xa.h (xarrays), kit-btf.h (BTF written
 * with libbpf), kit-kernel.h (VMCOREINFO note, kallsyms tables), kit-guest.h
 * (a whole fake guest with struct_ops programs).
 */

#include <stddef.h>
#include <stdint.h>

#include "ktbpf/mem.h"

struct kit_image {
	uint8_t *buf;
	uint64_t size;
	uint64_t gpa_base;
	uint64_t next;	   /* bump allocator cursor, an offset into buf */
	uint64_t data_end; /* offset below which a sparse copy keeps every page (the kernel's) */
	struct ktbpf_mem *mem; /* lazily made by kit_mem() */
};

/* size bytes of zeroed RAM at guest physical 0; aborts on OOM. */
struct kit_image *kit_image_new(uint64_t size);
void kit_image_free(struct kit_image *im);

/*
 * Allocate size bytes aligned to align (a power of two) and return its guest
 * physical address. The first page is reserved so PA 0 is never handed out.
 */
uint64_t kit_alloc(struct kit_image *im, uint64_t size, uint64_t align);
/* Allocate whole 4 KiB pages. */
uint64_t kit_alloc_pages(struct kit_image *im, uint64_t nr_pages);

/* Host pointer for [pa, pa+len) (aborts when outside). */
void *kit_ptr(struct kit_image *im, uint64_t pa, uint64_t len);

void kit_w8(struct kit_image *im, uint64_t pa, uint8_t v);
void kit_w16(struct kit_image *im, uint64_t pa, uint16_t v);
void kit_w32(struct kit_image *im, uint64_t pa, uint32_t v);
void kit_w64(struct kit_image *im, uint64_t pa, uint64_t v);
void kit_wbytes(struct kit_image *im, uint64_t pa, const void *src, uint64_t len);
uint64_t kit_r64(struct kit_image *im, uint64_t pa);

/* A ktbpf_mem with the whole image as one buffer region (owned by im). */
struct ktbpf_mem *kit_mem(struct kit_image *im);

/* Write the image to a new memfd (sealed against shrinking) and return the fd; aborts on failure.
 */
int kit_image_memfd(struct kit_image *im);
/*
 * Sparse copies, as a guest's RAM file is: [0, data_end) in full (the pages a
 * kernel has written, zeros included) and other pages only where they are
 * not zero; the rest stays holes (never allocated). fd: a new, empty file
 * (truncated to the image size here). The memfd one is sealed like
 * kit_image_memfd()'s.
 */
void kit_image_write_sparse(struct kit_image *im, int fd);
int kit_image_memfd_sparse(struct kit_image *im);

/* Write the image to path (raw RAM file); aborts on failure. */
void kit_image_save(struct kit_image *im, const char *path);

#endif
