/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_PERCPU_H
#define KTBPF_PERCPU_H

/*
 * The guest's possible CPUs and where each one's per-CPU area is, read once
 * at discovery: the possible mask is fixed before setup_per_cpu_areas()
 * (include/linux/cpumask.h: "cpu_possible_mask ... fixed at boot time"), and
 * __per_cpu_offset[] is written once, for every possible CPU, by
 * setup_per_cpu_areas() (arch/x86/kernel/setup_percpu.c, mm/percpu.c).
 *
 * CPU n's copy of a per-CPU object whose __percpu pointer is P is at
 * P + __per_cpu_offset[n] (include/asm-generic/percpu.h: per_cpu_ptr()).
 * Two layouts give that sum, told apart by __per_cpu_start:
 *  - zero-based (x86_64 before 6.15): __per_cpu_start = 0, static per-CPU
 *    symbols are offsets into a unit, __per_cpu_offset[n] is the address of
 *    CPU n's unit; entries of CPUs that are not possible keep the boot value
 *    __per_cpu_load (non-zero);
 *  - relative (x86_64 since 6.15, "x86/percpu/64: Use relative percpu
 *    offsets", and asm-generic architectures): __per_cpu_start is in the
 *    kernel image and __per_cpu_offset[n] = unit address - __per_cpu_start,
 *    an offset, not an address.
 * Any other __per_cpu_start is a scheme this library does not know: an
 * error naming it, never a sum over unknown memory. Each possible CPU is
 * checked: on x86_64 its this_cpu_off (which the kernel sets to
 * __per_cpu_offset[n], arch/x86/kernel/setup_percpu.c), read through the
 * offset, must hold the offset; without that symbol its area must be in
 * guest RAM. Two CPUs never share an area.
 *
 * Sums run over the possible CPUs below nr_cpu_ids, as
 * kernel/bpf/syscall.c: bpf_prog_get_stats() does with
 * for_each_possible_cpu(). A kernel built with CONFIG_FORCE_NR_CPUS has no
 * nr_cpu_ids symbol (it is the constant NR_CPUS): the bound is then the
 * size of struct cpumask in BTF.
 *
 * Thread safety: ktbpf_percpu_load() reads through the given translator (one
 * thread's at a time); the struct ktbpf_percpu it fills is read-only after.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/symbols.h"
#include "ktbpf/translate.h"

struct btf;

/* Most CPUs accepted from a guest (Linux's NR_CPUS maximum on x86_64, MAXSMP). */
#define KTBPF_MAX_CPUS 8192

enum ktbpf_percpu_scheme {
	KTBPF_PERCPU_NONE = 0,	 /* not discovered */
	KTBPF_PERCPU_ZERO_BASED, /* __per_cpu_start = 0 (x86_64 before 6.15) */
	KTBPF_PERCPU_RELATIVE,	 /* __per_cpu_start in the image (x86_64 6.15+, generic) */
};

/* "zero-based" or "relative"; "none" for KTBPF_PERCPU_NONE. */
const char *ktbpf_percpu_scheme_name(enum ktbpf_percpu_scheme s);

/* One possible CPU. */
struct ktbpf_cpu {
	uint32_t cpu;	 /* CPU number */
	uint64_t offset; /* __per_cpu_offset[cpu] */
};

struct ktbpf_percpu {
	enum ktbpf_percpu_scheme scheme;
	uint32_t nr_cpu_ids;	/* the bound: nr_cpu_ids, or NR_CPUS without that symbol */
	bool nr_cpu_ids_forced; /* no nr_cpu_ids symbol: bound from struct cpumask */
	uint32_t nr;		/* possible CPUs below the bound */
	struct ktbpf_cpu *cpus; /* nr entries, ascending CPU numbers */
	uint64_t offsets_kva;	/* __per_cpu_offset */
	uint64_t possible_kva;	/* __cpu_possible_mask */
	uint64_t per_cpu_start; /* __per_cpu_start */
};

/*
 * Read and check the possible CPUs and their offsets (symbols and btf
 * borrowed; x reads guest memory). On success *ret owns cpus (free with
 * ktbpf_percpu_deinit()). Errors: -ENOENT for a missing symbol (naming it
 * and the config the kernel needs), -EUCLEAN for implausible guest data
 * (nr_cpu_ids, an empty mask, two CPUs sharing an area, this_cpu_off not
 * holding its offset: "per-CPU scheme not understood"), -EOPNOTSUPP for an
 * unknown scheme, the translator's error (ktbpf_xlate_kva()) when a CPU's
 * area is not in guest RAM, prefixed with the CPU, -ENOMEM.
 */
int ktbpf_percpu_load(struct ktbpf_xlate *x, const struct ktbpf_symtab *syms, const struct btf *btf,
		      struct ktbpf_percpu *ret, struct ktbpf_err *err);

/*
 * The same with NR_CPUS given instead of the BTF it comes from
 * (ktbpf_percpu_cpumask_bits(): struct cpumask's bits; 0 when unknown), for a
 * kernel whose BTF facts are shared with another of its build.
 */
uint64_t ktbpf_percpu_cpumask_bits(const struct btf *btf);
int ktbpf_percpu_load_bits(struct ktbpf_xlate *x, const struct ktbpf_symtab *syms,
			   uint64_t cpumask_bits, struct ktbpf_percpu *ret, struct ktbpf_err *err);

/* Free what ktbpf_percpu_load() allocated; p may be zeroed or NULL. */
void ktbpf_percpu_deinit(struct ktbpf_percpu *p);

#endif
