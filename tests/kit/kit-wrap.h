/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_WRAP_H
#define KTBPF_KIT_WRAP_H

/*
 * A region table that reads through another one and then calls the test's
 * function with the bytes read: read tracing (bench, fuzz, tests that change
 * the guest after the n-th read) and fault injection (the truth test's
 * CPU-0-only inspector), from outside the library, through its reader
 * regions (ktbpf_mem_add_reader()). A kernel discovered over w->mem reads
 * everything through fn.
 *
 * Test-only code: misuse aborts with a message.
 */

#include <stddef.h>
#include <stdint.h>

#include "ktbpf/kernel.h"
#include "ktbpf/mem.h"

/* After each successful read of [pa, pa+len) into buf; it may change buf. */
typedef void (*kit_wrap_fn)(void *ctx, uint64_t pa, void *buf, size_t len);

struct kit_wrap {
	const struct ktbpf_mem *inner;
	kit_wrap_fn fn; /* NULL: reads pass through */
	void *ctx;
	struct ktbpf_mem *mem;	/* inner's regions, each a reader region */
	struct ktbpf_kernel *k; /* made by kit_wrap_kernel() */
};

/* Wrap inner (borrowed; must outlive the result). fn may be NULL and set later. */
struct kit_wrap *kit_wrap_new(const struct ktbpf_mem *inner, kit_wrap_fn fn, void *ctx);
struct kit_wrap *kit_wrap_free(struct kit_wrap *w);

/*
 * The kernel discovered over w->mem with no hints, on first use (reads pass
 * through fn); owned by w. Aborts on failure.
 */
const struct ktbpf_kernel *kit_wrap_kernel(struct kit_wrap *w);

#endif
