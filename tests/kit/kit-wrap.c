/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "kit-wrap.h"

static int wrap_read(void *ctx, uint64_t pa, void *buf, size_t len, struct ktbpf_err *err)
{
	struct kit_wrap *w = ctx;
	int r = ktbpf_mem_read(w->inner, pa, buf, len, err);

	if (r == 0 && w->fn)
		w->fn(w->ctx, pa, buf, len);
	return r;
}

struct kit_wrap *kit_wrap_new(const struct ktbpf_mem *inner, kit_wrap_fn fn, void *ctx)
{
	struct kit_wrap *w = calloc(1, sizeof(*w));
	struct ktbpf_mem_region reg;
	struct ktbpf_err err = {0};

	if (!w || !(w->mem = ktbpf_mem_new())) {
		fprintf(stderr, "kit_wrap_new: out of memory\n");
		abort();
	}
	w->inner = inner;
	w->fn = fn;
	w->ctx = ctx;
	for (size_t i = 0; ktbpf_mem_region(inner, i, &reg) == 0; i++) {
		if (ktbpf_mem_add_reader(w->mem, reg.gpa, reg.size, wrap_read, w, &err) < 0) {
			fprintf(stderr, "kit_wrap_new: %s\n", err.msg);
			abort();
		}
	}
	return w;
}

struct kit_wrap *kit_wrap_free(struct kit_wrap *w)
{
	if (w) {
		ktbpf_kernel_free(w->k);
		ktbpf_mem_free(w->mem);
		free(w);
	}
	return NULL;
}

const struct ktbpf_kernel *kit_wrap_kernel(struct kit_wrap *w)
{
	struct ktbpf_err err = {0};

	if (!w->k && ktbpf_kernel_discover(w->mem, NULL, &w->k, &err) < 0) {
		fprintf(stderr, "kit_wrap_kernel: %s\n", err.msg);
		abort();
	}
	return w->k;
}
