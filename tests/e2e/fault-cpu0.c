/* SPDX-License-Identifier: MIT */
/*
 * The truth test's negative control, from outside the library: ktbpfctl
 * linked with --wrap=ktbpf_kernel_discover,ktbpf_progs_walk,ktbpf_kernel_free
 * and these wrappers is "ktbpfctl-fault", an inspector whose reads of
 * runtime stats of every possible CPU but the first answer zeros, as a
 * walker that summed CPU 0 alone would. The truth test must catch it with
 * counter mismatches (and nothing else) on guests with more than one CPU,
 * proving that it sees per-CPU summing bugs.
 *
 * --wrap redirects every call in the link, kit's included. The kernel is
 * discovered over a wrapping region table (tests/kit/
 * kit-wrap.h) that reads through ktbpfctl's own; each walk is done twice:
 * once clean, to learn where the programs' per-CPU counters are, then with
 * the reads of those counters on the other CPUs zeroed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kit-wrap.h"
#include "ktbpf/progs.h"

int __real_ktbpf_kernel_discover(const struct ktbpf_mem *mem,
				 const struct ktbpf_kernel_hints *hints, struct ktbpf_kernel **ret,
				 struct ktbpf_err *err);
int __real_ktbpf_progs_walk(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s,
			    struct ktbpf_err *err);
struct ktbpf_kernel *__real_ktbpf_kernel_free(struct ktbpf_kernel *k);
int __wrap_ktbpf_kernel_discover(const struct ktbpf_mem *mem,
				 const struct ktbpf_kernel_hints *hints, struct ktbpf_kernel **ret,
				 struct ktbpf_err *err);
int __wrap_ktbpf_progs_walk(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s,
			    struct ktbpf_err *err);
struct ktbpf_kernel *__wrap_ktbpf_kernel_free(struct ktbpf_kernel *k);

/* The guest PAs of counters to read as zero while armed. */
struct fault {
	bool armed;
	uint64_t *pa;
	size_t n, cap;
};

static struct kit_wrap *wrap;
static struct fault fault;

/* Zero the bytes of every listed 8-byte counter that the read covers. */
static void zero_counters(void *ctx, uint64_t pa, void *buf, size_t len)
{
	struct fault *f = ctx;

	if (!f->armed)
		return;
	for (size_t i = 0; i < f->n; i++) {
		uint64_t lo = f->pa[i] > pa ? f->pa[i] : pa;
		uint64_t hi = f->pa[i] + 8 < pa + len ? f->pa[i] + 8 : pa + len;

		if (lo < hi)
			memset((uint8_t *)buf + (lo - pa), 0, hi - lo);
	}
}

static int add_counter(struct ktbpf_xlate *x, uint64_t kva)
{
	uint64_t pa;

	if (ktbpf_xlate_kva(x, kva, &pa, NULL) < 0)
		return 0; /* the walk reports it unreadable anyway */
	if (fault.n == fault.cap) {
		size_t cap = fault.cap ? 2 * fault.cap : 256;
		uint64_t *n = realloc(fault.pa, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		fault.pa = n;
		fault.cap = cap;
	}
	fault.pa[fault.n++] = pa;
	return 0;
}

/* Every program's counters on every possible CPU but the first, from a clean walk. */
static int find_counters(const struct ktbpf_kernel *k, const struct ktbpf_snapshot *s)
{
	const struct ktbpf_offsets *o = ktbpf_kernel_offsets(k);
	struct ktbpf_xlate *x = ktbpf_kernel_xlate_new(k);
	const struct ktbpf_cpu *cpus;
	uint32_t nr, c;
	int r = 0;

	if (!x)
		return -ENOMEM;
	cpus = ktbpf_kernel_cpus(k, &nr);
	fault.n = 0;
	for (size_t i = 0; i < s->nr_progs && r == 0; i++) {
		uint64_t st = s->progs[i].stats_kva;

		for (c = 1; st && c < nr && r == 0; c++) {
			r = add_counter(x, st + cpus[c].offset + o->stats_cnt);
			if (r == 0)
				r = add_counter(x, st + cpus[c].offset + o->stats_nsecs);
			if (r == 0 && o->has_misses)
				r = add_counter(x, st + cpus[c].offset + o->stats_misses);
		}
	}
	ktbpf_xlate_free(x);
	return r;
}

int __wrap_ktbpf_kernel_discover(const struct ktbpf_mem *mem,
				 const struct ktbpf_kernel_hints *hints, struct ktbpf_kernel **ret,
				 struct ktbpf_err *err)
{
	int r;

	struct kit_wrap *w = kit_wrap_new(mem, zero_counters, &fault);

	r = __real_ktbpf_kernel_discover(w->mem, hints, ret, err);
	if (r < 0)
		kit_wrap_free(w);
	else
		wrap = w;
	return r;
}

int __wrap_ktbpf_progs_walk(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s,
			    struct ktbpf_err *err)
{
	int r = __real_ktbpf_progs_walk(k, s, err);

	if (r < 0)
		return r;
	r = find_counters(k, s);
	if (r < 0)
		return ktbpf_err_set(err, r, "fault injection: out of memory");
	fault.armed = true;
	r = __real_ktbpf_progs_walk(k, s, err);
	fault.armed = false;
	return r;
}

/*
 * kit_wrap_free() calls ktbpf_kernel_free() too (wrapped as well, the
 * whole link is): the table is taken first so that call frees nothing more.
 */
struct ktbpf_kernel *__wrap_ktbpf_kernel_free(struct ktbpf_kernel *k)
{
	struct kit_wrap *w = wrap;

	wrap = NULL;
	__real_ktbpf_kernel_free(k);
	if (w) {
		kit_wrap_free(w);
		free(fault.pa);
		fault = (struct fault){0};
	}
	return NULL;
}
