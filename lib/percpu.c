/* SPDX-License-Identifier: MIT */
/*
 * The possible CPUs and their per-CPU offsets (see percpu.h): read once,
 * bounded by nr_cpu_ids (or struct cpumask's size), checked CPU by CPU.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "ktbpf/percpu.h"

const char *ktbpf_percpu_scheme_name(enum ktbpf_percpu_scheme s)
{
	switch (s) {
	case KTBPF_PERCPU_NONE:
		return "none";
	case KTBPF_PERCPU_ZERO_BASED:
		return "zero-based";
	case KTBPF_PERCPU_RELATIVE:
		return "relative";
	}
	return "unknown";
}

/* NR_CPUS as the kernel's BTF says it: struct cpumask { unsigned long bits[...]; }. 0: unknown. */
uint64_t ktbpf_percpu_cpumask_bits(const struct btf *btf)
{
	int id = btf ? btf__find_by_name_kind(btf, "cpumask", BTF_KIND_STRUCT) : -1;
	__s64 size = id > 0 ? btf__resolve_size(btf, (uint32_t)id) : 0;

	return size > 0 ? (uint64_t)size * 8 : 0;
}

/*
 * The bound of every CPU loop: nr_cpu_ids (include/linux/cpumask.h:
 * for_each_possible_cpu() stops there), never above NR_CPUS. Under
 * CONFIG_FORCE_NR_CPUS nr_cpu_ids is a macro for NR_CPUS, so the bound is
 * the cpumask's size.
 */
static int bound(struct ktbpf_xlate *x, const struct ktbpf_symtab *syms, uint64_t mask_bits,
		 struct ktbpf_percpu *p, struct ktbpf_err *err)
{
	uint64_t kva;
	uint32_t nr;
	int r;

	if (ktbpf_symtab_lookup(syms, "nr_cpu_ids", &kva) == 0) {
		if ((r = ktbpf_xlate_read_u32(x, kva, &nr, err)) < 0)
			return ktbpf_err_prefix(err, r, "reading nr_cpu_ids: ");
		if (nr < 1 || nr > KTBPF_MAX_CPUS || (mask_bits && nr > mask_bits))
			return ktbpf_err_set_addr(
				err, -EUCLEAN, kva,
				"nr_cpu_ids = %u is implausible (1..%llu): "
				"kernel not booted yet, or wrong symbols?",
				nr,
				(unsigned long long)(mask_bits && mask_bits < KTBPF_MAX_CPUS
							     ? mask_bits
							     : KTBPF_MAX_CPUS));
		p->nr_cpu_ids = nr;
		return 0;
	}
	if (!mask_bits)
		return ktbpf_err_set(err, -ENOENT,
				     "symbol 'nr_cpu_ids' not found and the BTF has no struct "
				     "cpumask: the number of CPUs is unknown");
	if (mask_bits > KTBPF_MAX_CPUS)
		return ktbpf_err_set(err, -EUCLEAN,
				     "no nr_cpu_ids symbol and struct cpumask holds %llu CPUs "
				     "(more than %d): implausible BTF",
				     (unsigned long long)mask_bits, KTBPF_MAX_CPUS);
	p->nr_cpu_ids = (uint32_t)mask_bits;
	p->nr_cpu_ids_forced = true;
	return 0;
}

/*
 * The possible CPUs below the bound, with their __per_cpu_offset entries.
 * Bits at or past the bound are never read (a hostile mask may set them
 * all); entries of CPUs that are not possible are never used (they hold a
 * boot value, __per_cpu_load before 6.15).
 */
static int read_cpus(struct ktbpf_xlate *x, struct ktbpf_percpu *p, struct ktbpf_err *err)
{
	uint32_t words = (p->nr_cpu_ids + 63) / 64, cpu, last = 0, n = 0;
	uint64_t *mask = calloc(words, 8), *off = NULL;
	int r;

	if (!mask)
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	r = ktbpf_xlate_read(x, p->possible_kva, mask, 8ull * words, err);
	if (r < 0) {
		ktbpf_err_prefix(err, r, "reading __cpu_possible_mask: ");
		goto out;
	}
	for (cpu = 0; cpu < p->nr_cpu_ids; cpu++)
		if (mask[cpu / 64] >> (cpu % 64) & 1) {
			last = cpu;
			n++;
		}
	if (!n) {
		r = ktbpf_err_set_addr(err, -EUCLEAN, p->possible_kva,
				       "__cpu_possible_mask has no CPU below nr_cpu_ids %u: kernel "
				       "not booted yet, or wrong symbols?",
				       p->nr_cpu_ids);
		goto out;
	}
	off = calloc(last + 1, 8);
	p->cpus = calloc(n, sizeof(*p->cpus));
	if (!off || !p->cpus) {
		r = ktbpf_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	r = ktbpf_xlate_read(x, p->offsets_kva, off, 8ull * (last + 1), err);
	if (r < 0) {
		ktbpf_err_prefix(err, r, "reading __per_cpu_offset[%u]: ", last + 1);
		goto out;
	}
	for (cpu = 0; cpu <= last; cpu++)
		if (mask[cpu / 64] >> (cpu % 64) & 1)
			p->cpus[p->nr++] = (struct ktbpf_cpu){.cpu = cpu, .offset = off[cpu]};
out:
	free(mask);
	free(off);
	return r;
}

/* Which scheme __per_cpu_start says (see percpu.h); anything else is named and refused. */
static int scheme(const struct ktbpf_symtab *syms, struct ktbpf_percpu *p, struct ktbpf_err *err)
{
	if (ktbpf_symtab_lookup(syms, "__per_cpu_start", &p->per_cpu_start) < 0)
		return ktbpf_err_set(err, -ENOENT,
				     "symbol '__per_cpu_start' not found: the per-CPU scheme is "
				     "unknown (the guest kernel needs CONFIG_KALLSYMS_ALL)");
	if (p->per_cpu_start == 0)
		p->scheme = KTBPF_PERCPU_ZERO_BASED;
	else if (p->per_cpu_start >> 63)
		p->scheme = KTBPF_PERCPU_RELATIVE;
	else
		return ktbpf_err_set(err, -EOPNOTSUPP,
				     "unknown per-CPU scheme: __per_cpu_start is 0x%llx, neither 0 "
				     "(zero-based, x86_64 before 6.15) nor a kernel address "
				     "(relative, 6.15+)",
				     (unsigned long long)p->per_cpu_start);
	return 0;
}

/*
 * Each CPU's area must be where the scheme says: __per_cpu_start +
 * __per_cpu_offset[n] is the start of CPU n's unit in either scheme, so it
 * must be in guest RAM. x86_64's this_cpu_off holds the CPU's own offset,
 * so reading it through that offset proves the sum P + __per_cpu_offset[n]
 * the walkers rely on.
 */
static int check_areas(struct ktbpf_xlate *x, const struct ktbpf_symtab *syms,
		       const struct ktbpf_percpu *p, struct ktbpf_err *err)
{
	const char *name = ktbpf_percpu_scheme_name(p->scheme);
	uint64_t tco, kva, v;
	bool self;
	uint32_t i;
	int r;

	self = ktbpf_symtab_lookup(syms, "this_cpu_off", &tco) == 0;
	for (i = 0; i < p->nr; i++) {
		const struct ktbpf_cpu *c = &p->cpus[i];

		kva = p->per_cpu_start + c->offset;
		if ((r = ktbpf_xlate_read_u64(x, kva, &v, err)) < 0)
			return ktbpf_err_prefix(
				err, r,
				"CPU %u's per-CPU area (%s scheme, "
				"__per_cpu_offset[%u] = 0x%llx) is not in guest RAM: ",
				c->cpu, name, c->cpu, (unsigned long long)c->offset);
		if (!self)
			continue;
		kva = tco + c->offset;
		if ((r = ktbpf_xlate_read_u64(x, kva, &v, err)) < 0)
			return ktbpf_err_prefix(
				err, r, "CPU %u's this_cpu_off (%s scheme): ", c->cpu, name);
		if (v != c->offset)
			return ktbpf_err_set_addr(
				err, -EUCLEAN, kva,
				"per-CPU scheme not understood (%s): CPU %u's this_cpu_off at "
				"0x%llx holds 0x%llx, not its __per_cpu_offset 0x%llx",
				name, c->cpu, (unsigned long long)kva, (unsigned long long)v,
				(unsigned long long)c->offset);
	}
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const struct ktbpf_cpu *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The kernel gives each CPU its own unit: a shared one is an area not set up (or junk). */
static int check_distinct(const struct ktbpf_percpu *p, struct ktbpf_err *err)
{
	struct ktbpf_cpu *v;
	uint32_t i;
	int r = 0;

	if (p->nr < 2)
		return 0;
	v = malloc(p->nr * sizeof(*v));
	if (!v)
		return ktbpf_err_set(err, -ENOMEM, "out of memory");
	memcpy(v, p->cpus, p->nr * sizeof(*v));
	qsort(v, p->nr, sizeof(*v), by_offset);
	for (i = 1; i < p->nr && !r; i++)
		if (v[i].offset == v[i - 1].offset)
			r = ktbpf_err_set(err, -EUCLEAN,
					  "CPUs %u and %u have the same __per_cpu_offset 0x%llx: "
					  "per-CPU areas not set up yet, or corrupt",
					  v[i - 1].cpu < v[i].cpu ? v[i - 1].cpu : v[i].cpu,
					  v[i - 1].cpu < v[i].cpu ? v[i].cpu : v[i - 1].cpu,
					  (unsigned long long)v[i].offset);
	free(v);
	return r;
}

int ktbpf_percpu_load(struct ktbpf_xlate *x, const struct ktbpf_symtab *syms, const struct btf *btf,
		      struct ktbpf_percpu *ret, struct ktbpf_err *err)
{
	return ktbpf_percpu_load_bits(x, syms, ktbpf_percpu_cpumask_bits(btf), ret, err);
}

int ktbpf_percpu_load_bits(struct ktbpf_xlate *x, const struct ktbpf_symtab *syms,
			   uint64_t cpumask_bits, struct ktbpf_percpu *ret, struct ktbpf_err *err)
{
	struct ktbpf_percpu p = {0};
	int r;

	if (ktbpf_symtab_lookup(syms, "__per_cpu_offset", &p.offsets_kva) < 0 ||
	    ktbpf_symtab_lookup(syms, "__cpu_possible_mask", &p.possible_kva) < 0)
		return ktbpf_err_set(
			err, -ENOENT,
			"symbol '__per_cpu_offset' or '__cpu_possible_mask' not found: "
			"the guest kernel needs CONFIG_SMP and CONFIG_KALLSYMS_ALL");
	if ((r = scheme(syms, &p, err)) < 0 || (r = bound(x, syms, cpumask_bits, &p, err)) < 0 ||
	    (r = read_cpus(x, &p, err)) < 0 || (r = check_distinct(&p, err)) < 0 ||
	    (r = check_areas(x, syms, &p, err)) < 0) {
		ktbpf_percpu_deinit(&p);
		return r;
	}
	*ret = p;
	return 0;
}

void ktbpf_percpu_deinit(struct ktbpf_percpu *p)
{
	if (!p)
		return;
	free(p->cpus);
	p->cpus = NULL;
	p->nr = 0;
}
