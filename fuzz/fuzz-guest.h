/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_FUZZ_GUEST_H
#define KTBPF_FUZZ_GUEST_H

/*
 * Patches of a kit guest's RAM where ktbpf reads it, for the targets that
 * fuzz a walk over hostile guest memory (fuzz-walk, fuzz-scx). A clean run
 * through a wrapped region table (kit-wrap.h, fuzz_ranges_trace() as its
 * tracer) records the bytes read, those keep() accepts; the input is then a
 * list of 12-byte patches {u32 sel, u64 value}: sel's low 30 bits, modulo
 * the bytes recorded, pick a byte, sel's top 2 bits a width of 1, 2, 4 or 8
 * bytes, and value's low bytes are written there; fuzz_patches_undo()
 * restores the image. And the oracle of a walk's result.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kit.h"
#include "ktbpf/progs.h"

#define FUZZ_PATCH_SIZE	 12
#define FUZZ_MAX_PATCHES 64

struct fuzz_range {
	uint64_t pa, len, cum; /* cum: bytes in the ranges before this one */
};

struct fuzz_ranges {
	bool (*keep)(uint64_t pa, size_t len); /* NULL: every read */
	struct fuzz_range *v;
	size_t n, cap;
	uint64_t total; /* bytes in all ranges, after fuzz_ranges_finish() */
};

/* A kit_wrap tracer: ctx is the struct fuzz_ranges. */
void fuzz_ranges_trace(void *ctx, uint64_t pa, void *buf, size_t len);
/* Add [pa, pa + len) unfiltered. */
void fuzz_ranges_add(struct fuzz_ranges *r, uint64_t pa, uint64_t len);
/* Sort and merge into disjoint ranges; aborts when nothing was recorded. */
void fuzz_ranges_finish(struct fuzz_ranges *r);

struct fuzz_patches {
	size_t n;
	uint64_t pa[FUZZ_MAX_PATCHES], saved[FUZZ_MAX_PATCHES]; /* pa: offset in the image */
	unsigned int width[FUZZ_MAX_PATCHES];
};

/* Apply the whole patches of data (at most FUZZ_MAX_PATCHES) to im. */
void fuzz_patches_apply(struct fuzz_patches *p, const struct fuzz_ranges *r, struct kit_image *im,
			const uint8_t *data, size_t size);
void fuzz_patches_undo(struct fuzz_patches *p, struct kit_image *im);

/* Write patch {sel, v} at p (seeds). */
void fuzz_patch_put(uint8_t *p, uint32_t sel, uint64_t v);

/*
 * Abort unless s stays within its documented caps with NUL-terminated
 * strings, programs and instances in id order, and sched_ext's exit record
 * and events bounded and terminated.
 */
void fuzz_check_snapshot(const struct ktbpf_snapshot *s);

#endif
